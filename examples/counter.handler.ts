// The classic actor from Ray's documentation: a counter whose state lives in
// its replica. Served by examples/counter.config.ts.
import type { RouteRequest } from 'ferry-serve';

// Route methods only: `implements FerryHandler` adds nothing (all its members are optional).
export default class Counter {
  private value = 0;

  /** POST /counter/increment  {"by": 2} (the body is optional) → {"value": 2} */
  increment(req: RouteRequest<{ by?: number } | undefined>): { value: number } {
    const by = req.body?.by ?? 1;
    if (!Number.isInteger(by)) throw new Error(`by must be an integer (got ${JSON.stringify(by)})`);
    this.value += by;
    return { value: this.value };
  }

  /** GET /counter/value → {"value": 2} */
  get(): { value: number } {
    return { value: this.value };
  }

  /** WebSocket /counter/ws: each message {"by": n} increments; the answer is the new value. */
  onMessage(req: RouteRequest<{ by?: number }>): { value: number } {
    return this.increment(req);
  }
}
