// Loads tsx for the test processes with the original TypeScript inside its
// source maps. tsx leaves that text out unless NODE_V8_COVERAGE is set where
// it transforms (this thread for require, the module-hooks thread for import),
// and tap collects coverage through the inspector instead, so without it every
// .ts file maps to an empty source and reports as fully covered.
// The variable is set only after each thread has started: a thread or process
// that starts with it set writes V8 coverage files of its own on exit.
import { register } from 'node:module';

// Starts the module-hooks thread (if tap has not) before the variable is set
// here, and sets it there, at run time, before tsx's hooks load in it.
register('./tsx-sources-content.mjs', import.meta.url);
const previous = process.env.NODE_V8_COVERAGE;
process.env.NODE_V8_COVERAGE = 'tsx-sources-content';
try {
  await import('tsx');
} finally {
  if (previous === undefined) delete process.env.NODE_V8_COVERAGE;
  else process.env.NODE_V8_COVERAGE = previous;
}

// Processes a test starts (ferry serve, process replicas) are not measured:
// tap merges coverage by file URL, and their transform of a file differs from
// the test processes' (tap's loaders are not in them), which corrupts the merge.
process.env._TAPJS_PROCESSINFO_COVERAGE_ = '0';
