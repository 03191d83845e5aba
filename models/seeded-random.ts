/**
 * mulberry32: a tiny deterministic PRNG, so a model's weights are the same
 * bytes on every machine for the same seed.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** He-uniform weights: U(-√(6/fanIn), √(6/fanIn)), keeping ReLU activations in range. */
export function heUniform(rand: () => number, count: number, fanIn: number): Float32Array {
  const limit = Math.sqrt(6 / fanIn);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (rand() * 2 - 1) * limit;
  return out;
}
