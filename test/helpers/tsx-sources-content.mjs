// Evaluated in Node's module-hooks thread before tsx's hooks load there (see
// tsx-coverage.mjs); that thread's environment is its own copy, so this does
// not reach the processes a test starts.
process.env.NODE_V8_COVERAGE ??= 'tsx-sources-content';
