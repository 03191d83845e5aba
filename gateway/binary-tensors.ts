import { isUtf8 } from 'node:buffer';
import { InputDataError } from '../errors.js';
import { BYTES_LIMITATION } from './json-tensors.js';
import { bytesPerElement, TYPED_ARRAYS, type TensorData, type TensorDtype, type WireTensor } from '../replicas/index.js';

/**
 * Reads a tensor from its binary section (little-endian, row-major; BYTES as
 * 4-byte length + bytes per element, each valid UTF-8 without NUL bytes). Numeric data is a view on the request
 * buffer: a typed array of the dtype when aligned, else the raw bytes, which
 * the batcher copies as bytes anyway (one copy, not two).
 */
export function binaryToTensorData(at: string, dtype: TensorDtype, bytes: Buffer, count: number): TensorData {
  if (dtype === 'string') {
    const out: string[] = [];
    let offset = 0;
    while (offset < bytes.length) {
      if (offset + 4 > bytes.length) throw new InputDataError(`${at}: BYTES element ${out.length} has a truncated length prefix`);
      const len = bytes.readUInt32LE(offset);
      offset += 4;
      if (offset + len > bytes.length) throw new InputDataError(`${at}: BYTES element ${out.length} runs past its binary_data_size`);
      const element = bytes.subarray(offset, offset + len);
      const nul = element.indexOf(0);
      // Refused rather than altered: onnxruntime would cut the element at a NUL, and decoding would replace invalid UTF-8.
      if (nul >= 0) throw new InputDataError(`${at}: BYTES element ${out.length} has a NUL byte at offset ${nul}; ${BYTES_LIMITATION}, so it would be altered`);
      if (!isUtf8(element)) throw new InputDataError(`${at}: BYTES element ${out.length} is not valid UTF-8; ${BYTES_LIMITATION}, so it would be altered`);
      out.push(element.toString('utf8'));
      offset += len;
    }
    if (out.length !== count) throw new InputDataError(`${at}: binary data holds ${out.length} BYTES elements but its shape declares ${count}`);
    return out;
  }
  const size = bytesPerElement(dtype);
  if (bytes.length !== count * size) {
    throw new InputDataError(`${at}: binary_data_size is ${bytes.length} bytes but shape and datatype need ${count * size}`);
  }
  if (bytes.byteOffset % size === 0) return new TYPED_ARRAYS[dtype](bytes.buffer, bytes.byteOffset, count);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** A tensor's binary section, as a view on its data where possible. */
export function tensorToBinary(t: WireTensor): Buffer {
  if (t.dtype !== 'string') {
    const d = t.data as Exclude<TensorData, string[]>;
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  }
  const parts = (t.data as string[]).map((s) => Buffer.from(s, 'utf8'));
  const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.writeUInt32LE(p.length, offset);
    p.copy(out, offset + 4);
    offset += 4 + p.length;
  }
  return out;
}
