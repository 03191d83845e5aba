/** One row of the MLP's input: 784 deterministic floats. */
const ROW = Float32Array.from({ length: 784 }, (_, i) => Math.abs(Math.sin(i)));

/** A JSON inference request of `rows` rows. */
export function jsonRequest(rows: number): string {
  const data = Array.from({ length: rows * 784 }, (_, i) => ROW[i % 784]);
  return JSON.stringify({ inputs: [{ name: 'input', shape: [rows, 784], datatype: 'FP32', data }] });
}

/** A binary-tensor request of `rows` rows: the JSON header, its length, and the whole body. */
export function binaryRequest(rows: number, binaryOutput: boolean): { header: Buffer; body: Buffer } {
  const data = new Float32Array(rows * 784);
  for (let r = 0; r < rows; r++) data.set(ROW, r * 784);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', shape: [rows, 784], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }],
      parameters: { binary_data_output: binaryOutput },
    }),
  );
  return { header, body: Buffer.concat([header, Buffer.from(data.buffer)]) };
}

/** HTTP headers of a binary-tensor request. */
export function binaryHeaders(headerLength: number): Record<string, string> {
  return { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) };
}

/** The same binary request framed as a WebSocket message: 4-byte header length first. */
export function binaryMessage(rows: number): Buffer {
  const { header, body } = binaryRequest(rows, true);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  return Buffer.concat([length, body]);
}
