export { ensureModels, modelPath, MODELS_DIR } from './generate.js';
export { buildMixedInputs, buildMlp, buildMnistCnn, MODEL_BUILDERS, MODEL_SEED } from './model-zoo.js';
export { OnnxGraphBuilder, OnnxType } from './onnx-builder.js';
