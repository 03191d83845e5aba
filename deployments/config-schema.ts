import { Type } from '@sinclair/typebox';
import { MAX_TIMER_MS } from '../constants.js';

const positiveInt = Type.Integer({ minimum: 1 });
const nonNegativeInt = Type.Integer({ minimum: 0 });
const ms = Type.Integer({ minimum: 0, maximum: MAX_TIMER_MS });
const factor = Type.Number({ exclusiveMinimum: 0 });
const strict = { additionalProperties: false } as const;
/** A route path under a prefix: `/segment`, with `:param` segments allowed. */
const ROUTE_PATH = '^(/:?[A-Za-z0-9_.~-]+)+$';
/** A handler method's name. */
const METHOD_NAME = '^[A-Za-z_$][A-Za-z0-9_$]*$';

/** JSON Schema of a Ferry config; unknown keys are errors. */
export const ferryConfigSchema = Type.Object(
  {
    http: Type.Optional(
      Type.Object(
        {
          host: Type.Optional(Type.String({ minLength: 1 })),
          port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          bodyLimitBytes: Type.Optional(Type.Integer({ minimum: 1024 })),
          maxTensorElements: Type.Optional(positiveInt),
          receiveTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: MAX_TIMER_MS })),
          ingressThreads: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
          requestLog: Type.Optional(Type.Boolean()),
        },
        strict,
      ),
    ),
    node: Type.Optional(
      Type.Object({ cpus: Type.Optional(Type.Number({ minimum: 0 })), gpus: Type.Optional(Type.Number({ minimum: 0 })) }, strict),
    ),
    shutdownGraceMs: Type.Optional(ms),
    modelRepository: Type.Optional(Type.String({ minLength: 1 })),
    admin: Type.Optional(
      Type.Object({ host: Type.Optional(Type.String({ minLength: 1 })), port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })) }, strict),
    ),
    tracing: Type.Optional(
      Type.Object({ otlpEndpoint: Type.String({ pattern: '^https?://' }), serviceName: Type.Optional(Type.String({ minLength: 1 })) }, strict),
    ),
    auth: Type.Optional(
      Type.Object(
        {
          apiKeys: Type.Array(
            Type.Object(
              {
                name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', maxLength: 64 }),
                sha256: Type.Optional(Type.String()),
                fromEnv: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' })),
                scopes: Type.Array(Type.String(), { minItems: 1 }),
                rateLimit: Type.Optional(
                  Type.Object({ max: Type.Integer({ minimum: 1 }), timeWindowMs: Type.Integer({ minimum: 100, maximum: MAX_TIMER_MS }) }, strict),
                ),
              },
              strict,
            ),
            { minItems: 1 },
          ),
          public: Type.Optional(Type.Array(Type.Union([Type.Literal('health'), Type.Literal('metrics')]))),
        },
        strict,
      ),
    ),
    asyncInference: Type.Optional(
      Type.Object(
        {
          resultTtlMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: MAX_TIMER_MS })),
          maxQueuedJobs: Type.Optional(Type.Integer({ minimum: 1 })),
          concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
        },
        strict,
      ),
    ),
    deployments: Type.Array(
      Type.Object(
        {
          name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', maxLength: 128 }),
          model: Type.Optional(Type.String({ minLength: 1 })),
          models: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_$][A-Za-z0-9_$]*$' }), Type.String({ minLength: 1 }))),
          handler: Type.Optional(Type.String({ pattern: '^[^#]+(#[A-Za-z_$][A-Za-z0-9_$]*)?$' })),
          userConfig: Type.Optional(Type.Unknown()),
          healthCheckPeriodMs: Type.Optional(Type.Integer({ minimum: 10, maximum: MAX_TIMER_MS })),
          healthCheckTimeoutMs: Type.Optional(Type.Integer({ minimum: 10, maximum: MAX_TIMER_MS })),
          routes: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  method: Type.Optional(Type.Union(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => Type.Literal(m)))),
                  path: Type.String({ pattern: ROUTE_PATH }),
                  call: Type.String({ pattern: METHOD_NAME }),
                  body: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('bytes')])),
                  response: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('bytes')])),
                  contentType: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+' })),
                },
                strict,
              ),
            ),
          ),
          websockets: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  path: Type.String({ pattern: ROUTE_PATH }),
                  call: Type.String({ pattern: METHOD_NAME }),
                  messages: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('bytes')])),
                },
                strict,
              ),
            ),
          ),
          routePrefix: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9_.~/-]*[A-Za-z0-9_.~-]$' })),
          // What is neither a built-in name nor a module path is named as such among the semantic problems.
          requestRouter: Type.Optional(Type.String({ pattern: '^[^#]+(#[A-Za-z_$][A-Za-z0-9_$]*)?$' })),
          multiplex: Type.Optional(
            Type.Object({ directory: Type.String({ minLength: 1 }), maxModelsPerReplica: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })) }, strict),
          ),
          sessionAffinity: Type.Optional(
            Type.Object(
              {
                loadBound: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100 })),
                idleTimeoutMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: MAX_TIMER_MS })),
                maxSessions: Type.Optional(Type.Integer({ minimum: 32, maximum: 16_777_216 })),
              },
              strict,
            ),
          ),
          version: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', maxLength: 64 })),
          requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TIMER_MS })),
          batchTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TIMER_MS })),
          device: Type.Optional(Type.Union([Type.Literal('cpu'), Type.Literal('cuda')])),
          replicaHost: Type.Optional(Type.Union([Type.Literal('thread'), Type.Literal('process')])),
          host: Type.Optional(Type.Union([Type.Literal('thread'), Type.Literal('process')])),
          numReplicas: Type.Optional(positiveInt),
          autoscaling: Type.Optional(
            Type.Object(
              {
                minReplicas: Type.Optional(nonNegativeInt),
                maxReplicas: Type.Optional(positiveInt),
                initialReplicas: Type.Optional(nonNegativeInt),
                targetOngoingRequests: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
                metricsIntervalMs: Type.Optional(Type.Integer({ minimum: 10, maximum: MAX_TIMER_MS })),
                lookBackPeriodMs: Type.Optional(Type.Integer({ minimum: 10, maximum: MAX_TIMER_MS })),
                upscaleDelayMs: Type.Optional(ms),
                downscaleDelayMs: Type.Optional(ms),
                downscaleToZeroDelayMs: Type.Optional(ms),
                upscalingFactor: Type.Optional(factor),
                downscalingFactor: Type.Optional(factor),
              },
              strict,
            ),
          ),
          resources: Type.Optional(
            Type.Object({ cpus: Type.Optional(Type.Number({ minimum: 0 })), gpus: Type.Optional(Type.Number({ minimum: 0 })) }, strict),
          ),
          intraOpThreads: Type.Optional(positiveInt),
          batching: Type.Optional(
            Type.Union([
              Type.Boolean(),
              Type.Object(
                {
                  maxBatchSize: Type.Optional(positiveInt),
                  batchWaitTimeoutMs: Type.Optional(Type.Number({ minimum: 0, maximum: 60_000 })),
                  targetLatencyMs: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 60_000 })),
                },
                strict,
              ),
            ]),
          ),
          maxOngoingRequests: Type.Optional(positiveInt),
          maxQueuedRequests: Type.Optional(Type.Integer({ minimum: 0 })),
        },
        strict,
      ),
      { minItems: 1 },
    ),
  },
  strict,
);
