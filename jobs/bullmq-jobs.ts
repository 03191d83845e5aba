import { randomUUID } from 'node:crypto';
import { Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { BackendUnavailableError, JobQueueFullError } from '../errors.js';
import type { CancelResult, JobRequest, JobResponse, JobState, JobStore, JobView } from './job-types.js';

/** BullMQ's queue of Ferry's asynchronous inference jobs. */
const QUEUE = 'ferry-async-inference';


const QUEUED_STATES = ['waiting', 'delayed', 'prioritized', 'waiting-children'] as const;

/** How long closing waits for BullMQ's worker to let go of its connections, in ms. */
const CLOSE_WAIT_MS = 1000;

/** Options for {@link BullJobStore}. */
export interface BullJobStoreOptions {
  redisUrl: string;
  /** Key prefix for BullMQ's keys and Ferry's own. @default 'ferry' */
  prefix?: string;
  resultTtlMs: number;
  maxQueuedJobs: number;
  onFinished?: (deployment: string, state: JobState) => void;
  /**
   * How long a worker holds a job without renewing it, in ms: a gateway that
   * dies mid-job loses its jobs then, and BullMQ's stalled check (every half
   * of it) gives them to another gateway. @default 10000
   */
  lockMs?: number;
}

/**
 * Jobs in Redis through BullMQ (a cluster's gateways share them): accepted
 * jobs are in Redis before the 202, so they outlive the gateway that took
 * them and, with Redis's AOF, Redis's own restart. Every gateway runs a
 * BullMQ worker; a job whose worker dies is taken up by another once its
 * lock lapses. Results are BullMQ's return values, removed `resultTtlMs`
 * after the job ends; a cancelled job is removed and remembered as
 * cancelled for as long.
 */
export class BullJobStore implements JobStore {
  private readonly producer: Redis;
  private made: Queue | null = null;
  private readonly firstReady: Promise<void>;
  private worker: Worker | null = null;
  private workerConnection: Redis | null = null;
  private readonly prefix: string;
  /** Jobs this gateway's worker took and has not yet recorded as completed or failed in Redis. */
  private active = 0;

  constructor(private readonly opts: BullJobStoreOptions) {
    this.prefix = opts.prefix ?? 'ferry';
    // Accepting a job fails at once while Redis is away (no offline queue): the client hears 503, not a hang.
    this.producer = new Redis(opts.redisUrl, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: (n) => Math.min(50 * 2 ** Math.min(n, 5), 1000) });
    this.producer.on('error', () => {});
    this.firstReady = new Promise((resolve) => this.producer.once('ready', () => resolve()));
  }

  /** Resolves once the connection is first up, or after `ms`: a job sent as the gateway starts waits for it rather than failing. */
  private async connected(ms = 2000): Promise<void> {
    if (this.made || this.producer.status === 'ready') return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.firstReady, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  /**
   * BullMQ's queue, made once the connection is up: one made before then
   * fails its first command, and with it every later one.
   */
  private get queue(): Queue {
    if (this.made) return this.made;
    if (this.producer.status !== 'ready') throw new BackendUnavailableError(`Redis at ${this.opts.redisUrl} is not connected`);
    this.made = new Queue(QUEUE, { connection: this.producer, prefix: this.prefix, skipWaitingForReady: true });
    this.made.on('error', () => {});
    return this.made;
  }

  private cancelledKey(id: string): string {
    return `${this.prefix}:async-cancelled:${id}`;
  }

  async submit(request: JobRequest): Promise<string> {
    await this.connected();
    try {
      const waiting = await this.queue.getJobCountByTypes(...QUEUED_STATES);
      if (waiting >= this.opts.maxQueuedJobs) throw new JobQueueFullError(waiting, this.opts.maxQueuedJobs);
      const ttlS = Math.ceil(this.opts.resultTtlMs / 1000);
      const id = randomUUID();
      await this.queue.add('infer', request, { jobId: id, removeOnComplete: { age: ttlS }, removeOnFail: { age: ttlS } });
      return id;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'FERRY_ERR_QUEUE_FULL' || code === 'FERRY_ERR_BACKEND_UNAVAILABLE') throw err;
      throw new BackendUnavailableError(`the job could not be kept in Redis at ${this.opts.redisUrl}: ${redisProblem(err)}`);
    }
  }

  private async view(job: Job<JobRequest, JobResponse>): Promise<JobView> {
    const state = await job.getState();
    const view: JobView = { id: job.id!, deployment: job.data.deployment, state: 'queued', createdAt: job.timestamp };
    if (job.processedOn) view.startedAt = job.processedOn;
    if (state === 'active') view.state = 'running';
    else if (state === 'completed') {
      view.state = job.returnvalue?.status === 200 ? 'succeeded' : 'failed';
      view.response = job.returnvalue;
      if (job.finishedOn) view.finishedAt = job.finishedOn;
    } else if (state === 'failed') {
      view.state = 'failed';
      view.response = failure(job.failedReason);
      if (job.finishedOn) view.finishedAt = job.finishedOn;
    }
    return view;
  }

  /** Runs a read or a cancel against Redis; unreachable, it is 503 FERRY_ERR_BACKEND_UNAVAILABLE. */
  private async reach<T>(what: () => Promise<T>): Promise<T> {
    await this.connected();
    try {
      return await what();
    } catch (err) {
      if ((err as { code?: string }).code === 'FERRY_ERR_BACKEND_UNAVAILABLE') throw err;
      throw new BackendUnavailableError(`Redis at ${this.opts.redisUrl} does not answer, so the job cannot be read: ${redisProblem(err)}`);
    }
  }

  get(id: string): Promise<JobView | null> {
    return this.reach(() => this.read(id));
  }

  private async read(id: string): Promise<JobView | null> {
    const job = (await Job.fromId(this.queue, id)) as Job<JobRequest, JobResponse> | undefined;
    // BullMQ removes finished jobs past their age when later ones finish: one past its TTL is gone already.
    if (job?.finishedOn && Date.now() - job.finishedOn > this.opts.resultTtlMs) return null;
    if (job) return this.view(job);
    const cancelled = await this.producer.get(this.cancelledKey(id));
    return cancelled === null ? null : (JSON.parse(cancelled) as JobView);
  }

  cancel(id: string): Promise<CancelResult> {
    return this.reach(() => this.cancelNow(id));
  }

  private async cancelNow(id: string): Promise<CancelResult> {
    const job = (await Job.fromId(this.queue, id)) as Job<JobRequest, JobResponse> | undefined;
    if (!job) {
      const view = await this.read(id);
      return view ? { view, cancelled: false } : null;
    }
    const view = await this.view(job);
    if (view.state !== 'queued') return { view, cancelled: false };
    try {
      await job.remove();
    } catch {
      // A worker took it in between: it runs.
      return { view: await this.view(job), cancelled: false };
    }
    const done: JobView = { ...view, state: 'cancelled', finishedAt: Date.now() };
    await this.producer.set(this.cancelledKey(id), JSON.stringify(done), 'PX', this.opts.resultTtlMs);
    this.opts.onFinished?.(view.deployment, 'cancelled');
    return { view: done, cancelled: true };
  }

  async counts(): Promise<{ queued: number; running: number }> {
    const c = await this.queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active');
    return { queued: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0), running: c.active ?? 0 };
  }

  work(run: (request: JobRequest) => Promise<JobResponse>, concurrency: number): void {
    const connection = new Redis(this.opts.redisUrl, { maxRetriesPerRequest: null });
    connection.on('error', () => {});
    this.workerConnection = connection;
    const processor = (job: Job<JobRequest, JobResponse>) => {
      this.active++;
      return run(job.data);
    };
    this.worker = new Worker<JobRequest, JobResponse>(QUEUE, processor, {
      connection,
      prefix: this.prefix,
      concurrency,
      lockDuration: this.opts.lockMs ?? 10_000,
      stalledInterval: Math.max(500, Math.floor((this.opts.lockMs ?? 10_000) / 2)),
      maxStalledCount: 3,
    });
    this.worker.on('error', () => {});
    // BullMQ says these once the job's end is in Redis.
    this.worker.on('completed', (job, response) => {
      this.active--;
      this.opts.onFinished?.(job.data.deployment, response.status === 200 ? 'succeeded' : 'failed');
    });
    this.worker.on('failed', (job) => {
      if (!job) return;
      this.active--;
      this.opts.onFinished?.(job.data.deployment, 'failed');
    });
  }

  /**
   * Stops taking jobs and lets those running here finish, for up to
   * `graceMs`. One still running then is let go: the worker's connection
   * closes first, so the job is neither completed nor failed here (its
   * request is cut after), and another gateway runs it once its lock lapses.
   */
  async close(graceMs = 0): Promise<void> {
    if (this.worker) {
      // BullMQ's own graceful close can wait for ever on a Redis that came back; Ferry waits for its own jobs, bounded.
      await this.worker.pause(true).catch(() => {});
      const deadline = performance.now() + graceMs;
      while (this.active > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (this.active > 0) this.workerConnection?.disconnect();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.worker.close(true).catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
      clearTimeout(timer);
    }
    // BullMQ leaves connections it was given open.
    this.workerConnection?.disconnect();
    await this.made?.close().catch(() => {});
    this.producer.disconnect();
  }
}

/**
 * What went wrong with Redis, in the client's terms: ioredis says a closed
 * connection in its own words ("Stream isn't writeable and
 * enableOfflineQueue options is false"), which name its options, not the
 * problem.
 */
export function redisProblem(err: unknown): string {
  const { code, message } = err as { code?: string; message?: string };
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return `${code} (${message ?? 'no message'})`;
  if (/writeable|Connection is closed|offline queue|enableOfflineQueue|max retries per request/i.test(message ?? '')) return 'not connected (it reconnects by itself)';
  return message ?? String(err);
}

/** A failed job's answer: Ferry's error form, with BullMQ's reason. */
function failure(reason: string | undefined): JobResponse {
  return {
    status: 500,
    contentType: 'application/json; charset=utf-8',
    body: Buffer.from(JSON.stringify({ error: `the job failed: ${reason ?? 'no reason given'}`, code: 'FERRY_ERR_INTERNAL' })).toString('base64'),
  };
}
