import { ProtobufWriter } from './protobuf-writer.js';

/** ONNX TensorProto.DataType codes for the element types Ferry's models use. */
export const OnnxType = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7,
  STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13,
} as const;
export type OnnxTypeCode = (typeof OnnxType)[keyof typeof OnnxType];

/** A dimension: a fixed size, or a name for a dynamic one (e.g. 'batch'). */
export type Dim = number | string;

/**
 * What a graph input or output holds: a tensor, or a sequence of tensors of
 * that type and shape (ONNX `sequence_type`, as `SequenceConstruct` makes).
 * Enough to stand in for the non-tensor outputs of real models (skl2onnx's
 * ZipMap writes a sequence of maps, which this builder does not).
 */
export type ValueKind = 'tensor' | 'sequence';

/** A node attribute value; arrays of integers become INTS. */
export type AttributeValue = number | number[] | string;

interface ValueInfo {
  name: string;
  type: OnnxTypeCode;
  shape: Dim[];
  kind: ValueKind;
}

const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

function valueInfo(v: ValueInfo): ProtobufWriter {
  const shape = new ProtobufWriter();
  for (const d of v.shape) {
    const dim = new ProtobufWriter();
    if (typeof d === 'number') dim.int(1, d);
    else dim.bytes(2, d);
    shape.bytes(1, dim);
  }
  const tensorType = new ProtobufWriter().int(1, v.type).bytes(2, shape);
  // TypeProto: field 1 is tensor_type; field 4, sequence_type, wraps an element TypeProto.
  let type = new ProtobufWriter().bytes(1, tensorType);
  if (v.kind === 'sequence') type = new ProtobufWriter().bytes(4, new ProtobufWriter().bytes(1, type));
  return new ProtobufWriter().bytes(1, v.name).bytes(2, type);
}

function attribute(name: string, value: AttributeValue, isFloat: boolean): ProtobufWriter {
  const a = new ProtobufWriter().bytes(1, name);
  if (typeof value === 'string') return a.bytes(4, value).int(20, ATTR_STRING);
  if (Array.isArray(value)) return a.packedInts(8, value).int(20, ATTR_INTS);
  if (isFloat) return a.float(2, value).int(20, ATTR_FLOAT);
  return a.int(3, value).int(20, ATTR_INT);
}

/**
 * Builds an ONNX graph node by node and serialises it to a ModelProto.
 * Initializers are stored as raw little-endian bytes.
 */
export class OnnxGraphBuilder {
  private readonly nodes: ProtobufWriter[] = [];
  private readonly initializers: ProtobufWriter[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private counter = 0;

  constructor(private readonly name: string) {}

  /** Declares a graph input; `kind` 'sequence' makes it a sequence of such tensors. */
  input(name: string, type: OnnxTypeCode, shape: Dim[], kind: ValueKind = 'tensor'): string {
    this.inputs.push({ name, type, shape, kind });
    return name;
  }

  /** Declares a graph output produced by an earlier node; `kind` 'sequence' makes it a sequence of such tensors. */
  output(name: string, type: OnnxTypeCode, shape: Dim[], kind: ValueKind = 'tensor'): void {
    this.outputs.push({ name, type, shape, kind });
  }

  /** Adds a float32 constant (weights). */
  floats(name: string, dims: number[], data: Float32Array): string {
    return this.initializer(name, dims, OnnxType.FLOAT, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /** Adds an int64 constant (shapes, indices). */
  int64s(name: string, dims: number[], data: number[]): string {
    const arr = BigInt64Array.from(data.map((v) => BigInt(v)));
    return this.initializer(name, dims, OnnxType.INT64, new Uint8Array(arr.buffer));
  }

  private initializer(name: string, dims: number[], type: OnnxTypeCode, raw: Uint8Array): string {
    this.initializers.push(new ProtobufWriter().packedInts(1, dims).int(2, type).bytes(8, name).bytes(9, raw));
    return name;
  }

  /**
   * Adds a node and returns the name of its (first) output.
   * `floatAttrs` names the attributes to encode as FLOAT rather than INT.
   */
  node(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttributeValue> = {},
    opts: { output?: string; floatAttrs?: string[] } = {},
  ): string {
    const out = opts.output ?? `${opType.toLowerCase()}_${this.counter++}`;
    const n = new ProtobufWriter();
    for (const i of inputs) n.bytes(1, i);
    n.bytes(2, out).bytes(3, `${opType}_${this.counter++}`).bytes(4, opType);
    for (const [k, v] of Object.entries(attrs)) n.bytes(5, attribute(k, v, opts.floatAttrs?.includes(k) ?? false));
    this.nodes.push(n);
    return out;
  }

  /** Serialises the model (IR version 8, default-domain opset 13). */
  toBytes(): Uint8Array {
    const graph = new ProtobufWriter();
    for (const n of this.nodes) graph.bytes(1, n);
    graph.bytes(2, this.name);
    for (const i of this.initializers) graph.bytes(5, i);
    for (const i of this.inputs) graph.bytes(11, valueInfo(i));
    for (const o of this.outputs) graph.bytes(12, valueInfo(o));
    return new ProtobufWriter()
      .int(1, 8)
      .bytes(2, 'ferry-serve')
      .bytes(3, '0.1.0')
      .bytes(7, graph)
      .bytes(8, new ProtobufWriter().bytes(1, '').int(2, 13))
      .finish();
  }
}
