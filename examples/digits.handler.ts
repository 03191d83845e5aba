// A pipeline: image bytes (a PNG, or 784 raw grayscale bytes) → this
// preprocessing code → the `mnist` deployment (the CNN, batched on its own
// replicas) through a handle → the top-k labels as JSON.
import { PNG } from 'pngjs';
import { HandleCallError, type ReplicaContext, type RouteRequest } from 'ferry-serve';

const SIDE = 28;
/** Largest PNG side decoded: a small file can declare a huge image (a decompression bomb). */
const MAX_PNG_SIDE = 4096;

/** A refusal that is the client's fault: 400 with Ferry's code for a body it cannot read. */
const badInput = (message: string) => new HandleCallError(message, 'FERRY_ERR_BODY_INVALID', 400);

/** Grayscale 0–255, SIDE×SIDE, from a PNG of any size (nearest neighbour) or from SIDE×SIDE raw bytes. */
export function toPixels(bytes: Uint8Array): Uint8Array {
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  if (!isPng) {
    if (bytes.length !== SIDE * SIDE) throw badInput(`expected a PNG or ${SIDE * SIDE} raw grayscale bytes, got ${bytes.length} bytes`);
    return bytes;
  }
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The IHDR chunk, first after the signature, gives the size before anything is decoded.
  if (data.length < 24) throw badInput('the PNG ends before its header');
  const [width, height] = [data.readUInt32BE(16), data.readUInt32BE(20)];
  if (width > MAX_PNG_SIDE || height > MAX_PNG_SIDE) throw badInput(`the PNG is ${width}×${height}; at most ${MAX_PNG_SIDE}×${MAX_PNG_SIDE} is decoded`);
  // pngjs inflates an interlaced image with no bound on its output: a small file could expand to gigabytes.
  if (data[28] !== 0) throw badInput('interlaced PNGs are not read; send a non-interlaced one');
  let png: PNG;
  try {
    png = PNG.sync.read(data);
  } catch (err) {
    throw badInput(`the PNG does not decode: ${(err as Error).message}`);
  }
  const pixels = new Uint8Array(SIDE * SIDE);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const sx = Math.min(png.width - 1, Math.floor(((x + 0.5) * png.width) / SIDE));
      const sy = Math.min(png.height - 1, Math.floor(((y + 0.5) * png.height) / SIDE));
      const i = (sy * png.width + sx) * 4;
      // ITU-R BT.601 luma, over black where the pixel is transparent.
      const luma = 0.299 * png.data[i] + 0.587 * png.data[i + 1] + 0.114 * png.data[i + 2];
      pixels[y * SIDE + x] = Math.round((luma * png.data[i + 3]) / 255);
    }
  }
  return pixels;
}

/** Probabilities from logits (a numerically stable softmax). */
export function softmax(logits: Float32Array): Float32Array {
  const max = Math.max(...logits);
  const exp = logits.map((v) => Math.exp(v - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((v) => v / sum);
}

export default class Digits {
  constructor(private readonly ctx: ReplicaContext<{ model: string }>) {}

  /** POST /digits/classify?k=3 with the image as the body → {"top": [{"label": "7", "probability": 0.91}, ...]} */
  async classify(req: RouteRequest<Uint8Array>) {
    const k = Number(req.query.k ?? 3);
    if (!Number.isInteger(k) || k < 1 || k > 10) throw badInput(`k must be an integer from 1 to 10 (got ${req.query.k})`);
    const pixels = toPixels(req.body);
    const image = Float32Array.from(pixels, (p) => p / 255);
    const out = await this.ctx.handle(this.ctx.userConfig.model).infer({ image: { dtype: 'float32', dims: [1, 1, SIDE, SIDE], data: image } });
    const probabilities = softmax(out.logits.data as Float32Array);
    const top = [...probabilities].map((probability, label) => ({ label: String(label), probability })).sort((a, b) => b.probability - a.probability);
    return { top: top.slice(0, k) };
  }
}
