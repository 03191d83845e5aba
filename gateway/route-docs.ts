/*
 * What each route says of itself in the OpenAPI document (`/docs`): its
 * tag, summary and description, kept in the route's schema where
 * @fastify/swagger reads them. None of these validates anything.
 */

const doc = (tags: string, summary: string, description?: string) => ({ tags: [tags], summary, ...(description ? { description } : {}) });

const ADMIN = 'Administration (admin key)';
const MODELS = 'Models (Open Inference Protocol)';
const HEALTH = 'Health';

export const ROUTE_DOCS = {
  live: doc(HEALTH, 'Server live', 'Answers 200 while the process runs (Kubernetes liveness probe).'),
  ready: doc(HEALTH, 'Server ready', 'Answers 200 when every deployment can take requests, 503 otherwise (readiness probe).'),
  server: doc(MODELS, 'Server metadata', 'Name, version and the protocol extensions served.'),
  metadata: doc(MODELS, 'Model metadata', "The model's inputs and outputs: names, datatypes and shapes (-1 a dynamic dimension)."),
  modelReady: doc(MODELS, 'Model ready', 'Answers 200 with `ready: true` when the deployment can take requests, 503 otherwise.'),
  infer: doc(
    MODELS,
    'Inference',
    'Runs the model on the request\'s inputs (JSON, or binary tensor data with `Inference-Header-Content-Length`). Each example is one deployment\'s request: pick the same deployment as the path\'s `name`.',
  ),
  stream: doc(MODELS, 'Inference over a WebSocket', 'Upgrade to a WebSocket: each message an inference request, each answer carries its `id`.'),
  /** The same route for one model of a multiplexed deployment (`multiplex` in its config), named `deployment/modelId`. */
  ofMultiplexed: <T extends { summary: string; description?: string }>(d: T): T => ({
    ...d,
    summary: `${d.summary} (one model of a multiplexed deployment)`,
    description: `Only for a deployment with \`multiplex\` in its config: \`modelId\` is one of its models. ${d.description ?? ''}`.trim(),
  }),
  prefixMetadata: (name: string) => doc(MODELS, `Model metadata of ${name} (its route prefix)`),
  prefixReady: (name: string) => doc(MODELS, `Model ready of ${name} (its route prefix)`),
  prefixInfer: (name: string) => doc(MODELS, `Inference on ${name} (its route prefix)`),
  prefixStream: (name: string) => doc(MODELS, `Inference on ${name} over a WebSocket (its route prefix)`),
  handlerRoute: (name: string, method: string) => doc('Deployment routes', `${name}: its handler's ${method}`),
  handlerSocket: (name: string) => doc('Deployment routes', `${name}: its handler's WebSocket`),
  job: doc('Asynchronous inference', 'Job state', 'A job submitted with `Prefer: respond-async`: queued, running, succeeded, failed or cancelled.'),
  jobResult: doc('Asynchronous inference', 'Job result', "The finished job's inference response, as a synchronous call would have answered; 409 before it finishes."),
  jobCancel: doc('Asynchronous inference', 'Cancel a job', 'Cancels a queued job; 409 once it runs.'),
  metrics: doc(ADMIN, 'Prometheus metrics', 'The exposition text (may be left public with `auth.public: ["metrics"]`).'),
  status: doc(ADMIN, 'Status', 'Deployments, replicas, queues, autoscaler decisions, config updates and nodes, as `ferry status` shows them.'),
  config: doc(ADMIN, 'Config serving now'),
  applyConfig: doc(ADMIN, 'Apply a config', 'Applies a new config (JSON) without dropping a request; answers once traffic has moved.'),
  repositoryIndex: doc(ADMIN, 'Repository index', "Every deployment and its state; `{\"ready\": true}` lists only the ready ones."),
  load: doc(ADMIN, 'Load a model', "Starts (or restarts) a deployment; `parameters.config` may give its config as JSON text."),
  unload: doc(ADMIN, 'Unload a model', 'Stops a deployment once its calls are answered.'),
} as const;
