import t from 'tap';
import { batchingPlanOf, type ModelMetadata, type TensorSpec } from '../replicas/index.js';

/** A float32 spec from a shape written as ONNX declares it: numbers fixed, strings named, '?' dynamic and unnamed. */
function spec(name: string, dims: (number | string)[]): TensorSpec {
  return {
    name,
    dtype: 'float32',
    shape: dims.map((d) => (typeof d === 'number' ? d : -1)),
    dimParams: dims.map((d) => (typeof d === 'string' && d !== '?' ? d : null)),
  };
}

const model = (inputs: Record<string, (number | string)[]>, outputs: Record<string, (number | string)[]>): ModelMetadata => ({
  inputs: Object.entries(inputs).map(([n, d]) => spec(n, d)),
  outputs: Object.entries(outputs).map(([n, d]) => spec(n, d)),
});

const cases: { what: string; meta: ModelMetadata; batchable: boolean; reason: RegExp }[] = [
  {
    what: 'one batch symbol on every tensor',
    meta: model({ x: ['batch', 784] }, { y: ['batch', 10] }),
    batchable: true,
    reason: /^every input and output has a dynamic dimension 0 \('batch'\)$/,
  },
  {
    what: 'dynamic, unnamed dimension 0 everywhere',
    meta: model({ x: ['?', 4] }, { y: ['?', 4] }),
    batchable: true,
    reason: /^every input and output has a dynamic dimension 0$/,
  },
  {
    what: 'other dynamic dimensions with their own names',
    meta: model({ image: ['batch', 3, 'height', 'width'] }, { mask: ['batch', 1, 'height', 'width'] }),
    batchable: true,
    reason: /\('batch'\)/,
  },
  {
    what: 'a rank-0 input',
    meta: model({ x: ['batch', 4], sr: [] }, { y: ['batch', 1] }),
    batchable: false,
    reason: /^input 'sr' is a scalar \(rank 0\)$/,
  },
  {
    what: 'a fixed batch of 1',
    meta: model({ x: [1, 25, 96] }, { score: [1, 1] }),
    batchable: false,
    reason: /^input 'x' has a fixed dimension 0 of 1$/,
  },
  {
    what: 'an output that reduces over the batch',
    meta: model({ x: ['batch', 4] }, { total: [1, 4] }),
    batchable: false,
    reason: /^output 'total' has a fixed dimension 0 of 1$/,
  },
  {
    what: 'a state batched on axis 1 whose dimension 0 is a named layer count',
    meta: model({ input: ['batch', 'samples'], state: ['layers', 'batch', 128] }, { output: ['batch', 1] }),
    batchable: false,
    reason: /^input 'state' names dimension 0 'layers' where input 'input' names it 'batch'$/,
  },
  {
    what: 'the batch symbol naming a second dimension of an input',
    meta: model({ x: ['batch', 'batch'] }, { y: ['batch', 'batch'] }),
    batchable: false,
    reason: /^input 'x' names dimension 1 'batch' too, the batch symbol of dimension 0: concatenating calls along dimension 0 would break that equality$/,
  },
  {
    what: 'the batch symbol naming a later dimension of an output only',
    meta: model({ x: ['n', 4] }, { gram: ['n', 4, 'n'] }),
    batchable: false,
    reason: /^output 'gram' names dimension 2 'n' too/,
  },
  {
    what: 'the batch symbol on a later dimension of a tensor whose dimension 0 is unnamed',
    meta: model({ x: ['batch', 4], pairs: ['?', 'batch'] }, { y: ['batch', 4] }),
    batchable: false,
    reason: /^input 'pairs' names dimension 1 'batch' too/,
  },
];

for (const c of cases) {
  t.test(c.what, async (t) => {
    const plan = batchingPlanOf(c.meta);
    t.equal(plan.batchable, c.batchable);
    t.match(plan.reason, c.reason);
  });
}
