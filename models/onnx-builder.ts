import onnxProto from 'onnx-proto';

// onnx-proto is CommonJS: its `onnx` namespace comes through the default export.
const { onnx } = onnxProto;

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

function valueInfo(v: ValueInfo): onnxProto.onnx.IValueInfoProto {
  const dim = v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  const tensor: onnxProto.onnx.ITypeProto = { tensorType: { elemType: v.type, shape: { dim } } };
  return { name: v.name, type: v.kind === 'sequence' ? { sequenceType: { elemType: tensor } } : tensor };
}

function attribute(name: string, value: AttributeValue, isFloat: boolean): onnxProto.onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'string') return { name, s: new TextEncoder().encode(value), type: AttributeType.STRING };
  if (Array.isArray(value)) return { name, ints: value, type: AttributeType.INTS };
  if (isFloat) return { name, f: value, type: AttributeType.FLOAT };
  return { name, i: value, type: AttributeType.INT };
}

/**
 * Builds an ONNX graph node by node and serialises it to a ModelProto,
 * through onnx-proto's generated message types (named fields, not field
 * numbers). Initializers are stored as raw little-endian bytes.
 */
export class OnnxGraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
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
    this.initializers.push({ name, dims, dataType: type, rawData: raw });
    return name;
  }

  /**
   * Adds a node and returns the name of its (first) output. `outputs` names
   * every output of an operator that has several; `floatAttrs` names the
   * attributes to encode as FLOAT rather than INT.
   */
  node(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttributeValue> = {},
    opts: { output?: string; outputs?: string[]; floatAttrs?: string[] } = {},
  ): string {
    const outs = opts.outputs ?? [opts.output ?? `${opType.toLowerCase()}_${this.counter++}`];
    const attribute_ = Object.entries(attrs).map(([k, v]) => attribute(k, v, opts.floatAttrs?.includes(k) ?? false));
    this.nodes.push({ input: inputs, output: outs, name: `${opType}_${this.counter++}`, opType, attribute: attribute_ });
    return outs[0];
  }

  /** Serialises the model (IR version 8, default-domain opset 13). */
  toBytes(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'ferry-serve',
      producerVersion: '0.1.0',
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
