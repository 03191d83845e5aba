import createError from '@fastify/error';

/*
 * Ferry's error registry. Every error a user can see has a stable code,
 * `FERRY_ERR_<AREA>_<WHAT>`, that is never renamed or reused; docs/api.md
 * lists them and a test keeps the two in step. Messages take `%s` arguments.
 */

/** The config file failed validation; the message lists every problem. */
export const ConfigInvalidError = createError('FERRY_ERR_CONFIG_INVALID', 'invalid Ferry config %s:\n%s', 400);
/** The config file could not be read or imported. */
export const ConfigLoadError = createError('FERRY_ERR_CONFIG_LOAD', 'cannot load Ferry config %s: %s', 500);
/** A config update (`PUT /-/config`, a watched file, a repository load) failed validation; the config serving before goes on. */
export const ConfigUpdateInvalidError = createError('FERRY_ERR_CONFIG_INVALID', 'config update refused, the config serving before goes on: %s', 400);
/** A config update changes what is fixed while Ferry serves (the listener, keys, a deployment's routes); the config serving before goes on. */
export const ConfigRefusedError = createError('FERRY_ERR_CONFIG_REFUSED', 'config update refused, the config serving before goes on: %s', 409);
/** A deployment asked for an execution provider this machine does not have. */
export const DeviceUnavailableError = createError('FERRY_ERR_DEVICE_UNAVAILABLE', '%s', 500);
/** A replica could not load its model. */
export const ReplicaStartError = createError('FERRY_ERR_REPLICA_START', 'replica of %s failed to start: %s', 503);

/** No deployment has that name. */
export const ModelNotFoundError = createError('FERRY_ERR_MODEL_NOT_FOUND', "model '%s' is not served here", 404);
/** The model exists but not in that version. */
export const ModelVersionNotFoundError = createError('FERRY_ERR_MODEL_VERSION_NOT_FOUND', "model '%s' has no version '%s'", 404);
/** No route matches the method and URL. */
export const RouteNotFoundError = createError('FERRY_ERR_ROUTE_NOT_FOUND', 'no route for %s %s', 404);

/** The HTTP request itself is malformed (a bad URL, an overlong path segment, broken framing); the status says how. */
export const BadRequestError = createError('FERRY_ERR_BAD_REQUEST', 'malformed request: %s', 400);
/** The request body is not valid JSON, or not the JSON an endpoint takes. */
export const BodyInvalidError = createError('FERRY_ERR_BODY_INVALID', '%s', 400);
/** The request body is larger than the configured limit. */
export const BodyTooLargeError = createError('FERRY_ERR_BODY_TOO_LARGE', 'request body is larger than %s bytes', 413);
/** The request's Content-Type header is not a well-formed media type. */
export const ContentTypeError = createError('FERRY_ERR_CONTENT_TYPE', 'unsupported content type %s: %s', 415);
/** The request body's Content-Encoding is not one Ferry decodes. */
export const ContentEncodingError = createError('FERRY_ERR_CONTENT_ENCODING', 'unsupported Content-Encoding %s: Ferry decodes request bodies in %s', 415);
/** An input is missing, unknown or repeated. */
export const InputNameError = createError('FERRY_ERR_INPUT_NAME', '%s', 400);
/** An input's shape does not fit the model. */
export const InputShapeError = createError('FERRY_ERR_INPUT_SHAPE', '%s', 400);
/** An input's datatype is not the model's. */
export const InputDatatypeError = createError('FERRY_ERR_INPUT_DATATYPE', '%s', 400);
/** An input's data does not match its shape or datatype. */
export const InputDataError = createError('FERRY_ERR_INPUT_DATA', '%s', 400);

/** The request took longer than the deployment's requestTimeoutMs. */
export const RequestTimeoutError = createError('FERRY_ERR_REQUEST_TIMEOUT', "request to model '%s' timed out after %s ms", 408);
/** The client went away before its answer; the call was dropped. */
export const ClientClosedError = createError('FERRY_ERR_CLIENT_CLOSED', 'the client closed the connection before the answer', 499);
/** A WebSocket message could not be read. */
export const MessageInvalidError = createError('FERRY_ERR_MESSAGE_INVALID', '%s', 400);
/** The deployment's queue is full; the client should retry later. */
export const QueueFullError = createError('FERRY_ERR_QUEUE_FULL', "model '%s' is overloaded: %s requests queued (limit %s)", 503);
/** The same refusal for asynchronous jobs: the job queue, not a model's, is full. */
export const JobQueueFullError = createError('FERRY_ERR_QUEUE_FULL', 'the asynchronous job queue is full: %s jobs waiting (asyncInference.maxQueuedJobs is %s); try again later', 503);
/** The route needs an API key, and none (or no valid one) came in `Authorization: Bearer <key>`. */
export const UnauthorizedError = createError('FERRY_ERR_UNAUTHORIZED', '%s', 401);
/** The API key is valid but its scopes do not cover this route. */
export const ForbiddenError = createError('FERRY_ERR_FORBIDDEN', '%s', 403);
/** The API key sent more requests than its rate limit allows; `Retry-After` says when to try again. */
export const RateLimitedError = createError('FERRY_ERR_RATE_LIMITED', '%s', 429);
/** The server is shutting down and takes no new requests. */
export const ShuttingDownError = createError('FERRY_ERR_SHUTTING_DOWN', 'Ferry is shutting down', 503);
/** A cluster gateway cannot reach Redis, so it cannot know which nodes live: it refuses at once rather than guess. */
export const BackendUnavailableError = createError('FERRY_ERR_BACKEND_UNAVAILABLE', '%s', 503);
/** No asynchronous job has that id (never made, or its result's TTL passed). */
export const JobNotFoundError = createError('FERRY_ERR_JOB_NOT_FOUND', "no job '%s' (unknown, or its result has expired)", 404);
/** The job is not in a state that allows this (cancelling one that started, reading a result not ready). */
export const JobConflictError = createError('FERRY_ERR_JOB_CONFLICT', '%s', 409);
/** A replica died twice while holding the same request. */
export const ReplicaLostError = createError('FERRY_ERR_REPLICA_CRASHED', 'replica of %s crashed while running the request: %s', 500);
/** onnxruntime rejected the batch. */
export const InferenceFailedError = createError('FERRY_ERR_INFERENCE_FAILED', 'inference failed in %s: %s', 500);
/** User code in a handler threw (or returned outputs that are not tensors); the replica goes on serving. */
export const HandlerFailedError = createError('FERRY_ERR_HANDLER_FAILED', 'handler of %s failed: %s', 500);
/** The deployment exists but does not serve what was asked (a code deployment without infer). */
export const NotServedError = createError('FERRY_ERR_NOT_SERVED', '%s', 404);
/** Anything unexpected. */
export const InternalError = createError('FERRY_ERR_INTERNAL', 'internal error: %s', 500);

/** Every registered code, for documentation checks. */
export const ERROR_CODES: readonly string[] = Object.freeze([
  ConfigInvalidError, ConfigRefusedError, ConfigLoadError, DeviceUnavailableError, ReplicaStartError,
  ModelNotFoundError, ModelVersionNotFoundError, RouteNotFoundError,
  BadRequestError, BodyInvalidError, BodyTooLargeError, ContentTypeError, ContentEncodingError,
  InputNameError, InputShapeError, InputDatatypeError, InputDataError,
  RequestTimeoutError, ClientClosedError, MessageInvalidError,
  UnauthorizedError, ForbiddenError, RateLimitedError, QueueFullError, ShuttingDownError, BackendUnavailableError, JobNotFoundError, JobConflictError, ReplicaLostError, InferenceFailedError, HandlerFailedError, NotServedError, InternalError,
].map((E) => new E().code));
