/** Builds a binary-tensor request body: JSON header, then each tensor's bytes. */
export function binaryBody(header: unknown, tensors: Buffer[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, ...tensors]), headerLength: json.length };
}

/** POSTs a binary-tensor request and splits the answer into JSON and binary parts. */
export async function postBinary(
  url: string,
  header: unknown,
  tensors: Buffer[],
  headerLength?: number,
): Promise<{ status: number; json: any; binary: Buffer; headers: Headers }> {
  const built = binaryBody(header, tensors);
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(headerLength ?? built.headerLength),
    },
    body: new Uint8Array(built.body),
  });
  const all = Buffer.from(await res.arrayBuffer());
  const length = res.headers.get('inference-header-content-length');
  const split = length === null ? all.length : Number(length);
  return { status: res.status, json: JSON.parse(all.toString('utf8', 0, split)), binary: all.subarray(split), headers: res.headers };
}

/** Little-endian bytes of a typed array. */
export function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** BYTES elements as the binary extension frames them: 4-byte length, then UTF-8. */
export function bytesElements(strings: string[]): Buffer {
  return Buffer.concat(
    strings.flatMap((s) => {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return [len, b];
    }),
  );
}
