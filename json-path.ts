/**
 * A JSON Pointer as a user reads a path: `/deployments/0/batching/maxBatchSize`
 * → `deployments[0].batching.maxBatchSize`. The root is ''.
 */
export function dottedPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const p = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  }
  return out;
}
