/** Where an asynchronous inference job is: waiting its turn, running, or done one way or another. */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** An inference request accepted with `Prefer: respond-async`, kept to be run later exactly as sent. */
export interface JobRequest {
  deployment: string;
  /** The request's JSON (the OIP header), as the client wrote it. */
  json: string;
  /** The binary tensor data after the JSON (the binary extension), base64; null for a JSON-only request. */
  binary: string | null;
  /** `ferry-model-id` and `ferry-session-id`, when the request carried them. */
  modelId?: string;
  sessionId?: string;
}

/** What running a job answered: the HTTP response a synchronous request would have had. */
export interface JobResponse {
  status: number;
  contentType: string;
  /** Set for a binary-extension response: the length of its JSON part. */
  inferenceHeaderContentLength?: number;
  /** The body, base64 (it may hold binary tensors). */
  body: string;
}

/** A job as `GET /v2/jobs/{id}` shows it. */
export interface JobView {
  id: string;
  deployment: string;
  state: JobState;
  /** Epoch ms. */
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** Once done: the response, as a synchronous request would have had it. */
  response?: JobResponse;
}

/** What a job store answers a cancel: the job as it is now (cancelled if it had not started), or null when unknown. */
export type CancelResult = { view: JobView; cancelled: boolean } | null;

/**
 * Where jobs wait and their results are kept for `resultTtlMs`: in memory
 * (one process) or in Redis through BullMQ (a cluster: they survive a
 * gateway's restart and, with AOF, Redis's). Any gateway may take a job;
 * the store's workers run each once.
 */
export interface JobStore {
  /** Accepts a job; resolves with its id. Rejects with JobQueueFullError (503 FERRY_ERR_QUEUE_FULL) past maxQueuedJobs. */
  submit(request: JobRequest): Promise<string>;
  get(id: string): Promise<JobView | null>;
  /** Cancels a job that has not started. */
  cancel(id: string): Promise<CancelResult>;
  /** Jobs now queued and running, and outcomes so far, for metrics. */
  counts(): Promise<{ queued: number; running: number }>;
  /** Starts taking jobs and running them with `run`, at most `concurrency` at once. */
  work(run: (request: JobRequest) => Promise<JobResponse>, concurrency: number): void;
  /**
   * Stops taking jobs and waits up to `graceMs` for those running here to
   * finish. With Redis, one still running then is let go unfinished: its
   * lock lapses and another gateway runs it (never marked failed for the
   * shutdown). @default 0
   */
  close(graceMs?: number): Promise<void>;
}
