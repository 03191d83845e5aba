// The classic actor from Ray's documentation: a counter whose state lives in
// its replica. Served by examples/counter.config.ts.
import { HandleCallError, type RouteRequest } from 'ferry-serve';

// Route methods only: `implements FerryHandler` adds nothing (all its members are optional).
export default class Counter {
  private value = 0;

  /** POST /counter/increment  {"by": 2} (the body is optional) → {"value": 2} */
  increment(req: RouteRequest<{ by?: number } | undefined>): { value: number } {
    const by = req.body?.by ?? 1;
    // The client's mistake: a 400 with Ferry's code (a plain throw would answer 500 FERRY_ERR_HANDLER_FAILED).
    if (!Number.isInteger(by)) throw new HandleCallError(`by must be an integer (got ${JSON.stringify(by)})`, 'FERRY_ERR_BODY_INVALID', 400);
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
