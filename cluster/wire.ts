import { deserialize, serialize } from 'node:v8';
import type { Answer, FromActor, ToActor, WireCall } from '../replicas/protocol.js';
import type { TensorMap, TypedArray } from '../replicas/index.js';

/** Largest frame taken from a peer (bytes): past it the connection is closed as broken. */
export const MAX_FRAME_BYTES = 1 << 30;

/**
 * A tensor map whose data own exactly their bytes in ordinary memory: a
 * view of a pooled request body (a SharedArrayBuffer, which V8's serializer
 * refuses) or of a larger buffer (which it would send whole) is copied.
 */
export function ownTensors(map: TensorMap): TensorMap {
  let copy: TensorMap | null = null;
  for (const [name, t] of Object.entries(map)) {
    if (Array.isArray(t.data)) continue;
    const d = t.data as TypedArray;
    if (!(d.buffer instanceof SharedArrayBuffer) && d.byteOffset === 0 && d.byteLength === d.buffer.byteLength) continue;
    copy ??= { ...map };
    copy[name] = { ...t, data: d.slice() as TypedArray };
  }
  return copy ?? map;
}

/** What an ingress sends a replica, with every call's inputs owning their bytes. */
export function ownedToActor(msg: ToActor): ToActor {
  if (msg.type !== 'calls') return msg;
  return { type: 'calls', calls: msg.calls.map((c): WireCall => ({ ...c, inputs: ownTensors(c.inputs) })) };
}

/** What a replica answers, with every output owning its bytes. */
export function ownedFromActor(msg: FromActor): FromActor {
  return { ...msg, answers: msg.answers.map((a): Answer => ('outputs' in a ? { id: a.id, outputs: ownTensors(a.outputs) } : a)) };
}

/**
 * One message as a frame: its length (4 bytes, little-endian), then the
 * message in V8's serialization, which carries typed arrays as their bytes
 * (never as lists of numbers) and keeps their types.
 */
export function frame(msg: unknown): Buffer {
  const body = serialize(msg);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(body.length);
  return Buffer.concat([head, body]);
}

/** Cuts a byte stream back into the messages {@link frame} made. Throws on a frame past MAX_FRAME_BYTES. */
export class FrameReader {
  private pending: Buffer[] = [];
  private size = 0;

  /** Takes what arrived; returns the messages it completed, in order. */
  push(chunk: Buffer): unknown[] {
    this.pending.push(chunk);
    this.size += chunk.length;
    const out: unknown[] = [];
    for (;;) {
      if (this.size < 4) break;
      if (this.pending[0].length < 4) this.pending = [Buffer.concat(this.pending)];
      const length = this.pending[0].readUInt32LE(0);
      if (length > MAX_FRAME_BYTES) throw new Error(`a frame of ${length} bytes is past the ${MAX_FRAME_BYTES} bytes taken`);
      if (this.size < 4 + length) break;
      const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
      out.push(deserialize(all.subarray(4, 4 + length)));
      const rest = all.subarray(4 + length);
      this.pending = rest.length > 0 ? [rest] : [];
      this.size = rest.length;
    }
    return out;
  }
}
