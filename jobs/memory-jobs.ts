import { randomUUID } from 'node:crypto';
import { JobQueueFullError } from '../errors.js';
import type { CancelResult, JobRequest, JobResponse, JobState, JobStore, JobView } from './job-types.js';

interface MemoryJob {
  view: JobView;
  request: JobRequest | null;
}

/** How often finished jobs past their TTL are let go. */
const SWEEP_MS = 1000;

/**
 * Jobs in this process's memory (the embedded default, no Redis): they
 * last as long as the process, run in the order they came, and their
 * results are kept `resultTtlMs` after they finish.
 */
export class MemoryJobStore implements JobStore {
  private readonly jobs = new Map<string, MemoryJob>();
  private readonly waiting: string[] = [];
  private running = 0;
  private run: ((request: JobRequest) => Promise<JobResponse>) | null = null;
  private concurrency = 0;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly opts: { resultTtlMs: number; maxQueuedJobs: number; onFinished?: (deployment: string, state: JobState) => void },
  ) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  async submit(request: JobRequest): Promise<string> {
    if (this.waiting.length >= this.opts.maxQueuedJobs) throw new JobQueueFullError(this.waiting.length, this.opts.maxQueuedJobs);
    const id = randomUUID();
    this.jobs.set(id, { view: { id, deployment: request.deployment, state: 'queued', createdAt: Date.now() }, request });
    this.waiting.push(id);
    this.next();
    return id;
  }

  async get(id: string): Promise<JobView | null> {
    return this.jobs.get(id)?.view ?? null;
  }

  async cancel(id: string): Promise<CancelResult> {
    const job = this.jobs.get(id);
    if (!job) return null;
    if (job.view.state !== 'queued') return { view: job.view, cancelled: false };
    this.waiting.splice(this.waiting.indexOf(id), 1);
    this.finish(job, 'cancelled');
    return { view: job.view, cancelled: true };
  }

  async counts(): Promise<{ queued: number; running: number }> {
    return { queued: this.waiting.length, running: this.running };
  }

  work(run: (request: JobRequest) => Promise<JobResponse>, concurrency: number): void {
    this.run = run;
    this.concurrency = concurrency;
    this.next();
  }

  private next(): void {
    while (this.run && !this.closed && this.running < this.concurrency && this.waiting.length > 0) {
      const job = this.jobs.get(this.waiting.shift()!)!;
      const request = job.request!;
      job.view.state = 'running';
      job.view.startedAt = Date.now();
      this.running++;
      this.run(request).then(
        (response) => {
          job.view.response = response;
          this.finish(job, response.status === 200 ? 'succeeded' : 'failed');
        },
        (err: Error) => {
          const body = Buffer.from(JSON.stringify({ error: err.message, code: 'FERRY_ERR_INTERNAL' })).toString('base64');
          job.view.response = { status: 500, contentType: 'application/json; charset=utf-8', body };
          this.finish(job, 'failed');
        },
      ).finally(() => {
        this.running--;
        this.next();
      });
    }
  }

  private finish(job: MemoryJob, state: JobState): void {
    job.view.state = state;
    job.view.finishedAt = Date.now();
    // The inputs are not needed once the job is done.
    job.request = null;
    this.opts.onFinished?.(job.view.deployment, state);
  }

  private sweep(): void {
    const before = Date.now() - this.opts.resultTtlMs;
    for (const [id, job] of this.jobs) if (job.view.finishedAt !== undefined && job.view.finishedAt < before) this.jobs.delete(id);
  }

  async close(graceMs = 0): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const deadline = performance.now() + graceMs;
    while (this.running > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}
