export { buildGateway, type GatewayOptions } from './build-gateway.js';
export { DTYPE_OF, OIP_DATATYPE } from './datatypes.js';
export type { InferenceTarget } from './inference-target.js';
export { parseJsonInputs, toJsonOutputs, MAX_ELEMENTS, type JsonInput, type JsonOutput } from './json-tensors.js';
export { toRegistryError } from './http-errors.js';
