export { ensureModels, modelPath, MODELS_DIR } from './generate.js';
export { buildIdentity, buildIdentityAll, buildMixedInputs, buildMlp, buildMnistCnn, IDENTITY_TYPES, MODEL_BUILDERS, MODEL_SEED } from './model-zoo.js';
export { OnnxGraphBuilder, OnnxType, type ValueKind } from './onnx-builder.js';
export { buildBatchReduce, buildDynamicImage, buildFixedBatch, buildRecurrentState } from './quirk-models.js';
