// Loads tsx for the test processes with the original TypeScript inside its
// source maps. tsx leaves that text out unless NODE_V8_COVERAGE is set where
// it transforms (this thread for require, the module-hooks thread for import),
// and tap collects coverage through the inspector instead, so without it every
// .ts file maps to an empty source and reports as fully covered. The variable
// is set only while tsx loads: left in this process's environment it would make
// every process a test starts write V8 coverage files of its own.
import { register } from 'node:module';

const previous = process.env.NODE_V8_COVERAGE;
process.env.NODE_V8_COVERAGE = 'tsx-sources-content';
try {
  register('./tsx-sources-content.mjs', import.meta.url);
  await import('tsx');
} finally {
  if (previous === undefined) delete process.env.NODE_V8_COVERAGE;
  else process.env.NODE_V8_COVERAGE = previous;
}
