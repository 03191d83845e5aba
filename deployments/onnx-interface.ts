import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';

// onnx-proto is CommonJS: its `onnx` namespace comes through the default export.
const { onnx } = onnxProto;

type ValueInfo = { name?: string | null; type?: { tensorType?: { elemType?: number | null; shape?: { dim?: { dimValue?: unknown; dimParam?: string | null }[] | null } | null } | null } | null };

function describe(v: ValueInfo): string {
  const t = v.type?.tensorType;
  if (!t) return `${v.name} (not a tensor)`;
  // A named or unknown dimension is dynamic whatever its name: `batch` and `N` are the same interface.
  const dims = (t.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && String(d.dimValue) !== '0' ? String(d.dimValue) : '?'));
  return `${v.name} type ${t.elemType} [${dims.join(', ')}]`;
}

/**
 * An ONNX file's interface as declared in its graph: its inputs (those not
 * given by an initializer) and outputs, with element types and dimensions
 * (dynamic ones as `?`), as one comparable line. Read from the protobuf,
 * without onnxruntime. Throws when the file is not an ONNX model.
 */
export function onnxInterface(path: string): string {
  const model = onnx.ModelProto.decode(readFileSync(path));
  const graph = model.graph;
  if (!graph) throw new Error('it has no graph');
  const given = new Set((graph.initializer ?? []).map((i) => i.name));
  const inputs = (graph.input ?? []).filter((i) => !given.has(i.name ?? '')).map(describe);
  const outputs = (graph.output ?? []).map(describe);
  return `inputs ${inputs.join('; ') || 'none'}; outputs ${outputs.join('; ') || 'none'}`;
}
