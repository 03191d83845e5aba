export { buildGateway, type GatewayMetrics, type GatewayOptions } from './build-gateway.js';
export { DTYPE_OF, OIP_DATATYPE } from './datatypes.js';
export { fromHalf, toHalf } from './float16.js';
export { decodeInferRequest, encodeInferResponse, type DecodedRequest, type EncodedResponse, type InferHeader } from './infer-codec.js';
export type { InferenceTarget } from './inference-target.js';
export type { ShutdownState } from './shutdown-state.js';
export { DEFAULT_MAX_TENSOR_ELEMENTS, type RequestInput } from './input-checks.js';
export { toRegistryError } from './http-errors.js';
