// A stateful recurrent model behind sticky sessions: each replica keeps every
// session's RNN state, so a sequence can be fed chunk by chunk — over HTTP
// with `ferry-session-id`, or over one WebSocket connection — and answers as
// if it had been fed whole. Served by examples/stream-rnn.config.ts.
import { HandleCallError, type CallSession, type ReplicaContext, type RouteRequest } from 'ferry-serve';

const FEATURES = 4;
const HIDDEN = 8;
/** Sessions one replica keeps; past it, the one unused longest is forgotten. */
const MAX_SESSIONS = 10_000;

interface Chunk {
  /** Steps × 4 features. */
  x: number[][];
}

interface Fed {
  /** The state after each step: steps × 8. */
  y: number[][];
  /** Steps this session has been fed so far, on this replica. */
  steps: number;
  replica: string;
  /** Set when the session's replica died or was scaled away: its state was lost and this chunk started from zero. */
  movedFrom?: string;
}

export default class StreamRnn {
  /** Each session's state (h after its last step) and step count; a Map keeps insertion order, oldest first. */
  private readonly sessions = new Map<string, { h: Float32Array; steps: number }>();
  /** Each session's chunk being fed: the next waits for it, so chunks sent without waiting for answers still run in order. */
  private readonly feeding = new Map<string, Promise<unknown>>();

  constructor(private readonly ctx: ReplicaContext) {}

  /** POST /rnn/feed {"x": [[f0, f1, f2, f3], ...]} with ferry-session-id; WebSocket /rnn/chunks, one chunk per message. */
  feed(req: RouteRequest<Chunk>): Promise<Fed> {
    const x = req.body?.x;
    if (!Array.isArray(x) || x.length === 0 || !x.every((s) => Array.isArray(s) && s.length === FEATURES && s.every(Number.isFinite))) {
      throw new HandleCallError(`the body must be {"x": [[${FEATURES} numbers], ...]}, one row per step`, 'FERRY_ERR_BODY_INVALID', 400);
    }
    const key = req.session?.id;
    if (key === undefined) return this.run(req, x);
    // Calls of one session may arrive together (a WebSocket client need not wait): each chunk starts from the last one's state.
    const before = this.feeding.get(key) ?? Promise.resolve();
    const fed = before.then(() => this.run(req, x));
    const settled = fed.catch(() => undefined);
    this.feeding.set(key, settled);
    // `settled` cannot reject (its failure was caught above): the last chunk of a session clears its entry.
    void settled.then(() => this.feeding.get(key) === settled && this.feeding.delete(key));
    return fed;
  }

  private async run(req: RouteRequest<Chunk>, x: number[][]): Promise<Fed> {
    const state = this.stateOf(req.session);
    const out = await this.ctx.model!.run({
      x: { dtype: 'float32', dims: [x.length, 1, FEATURES], data: Float32Array.from(x.flat()) },
      h0: { dtype: 'float32', dims: [1, 1, HIDDEN], data: state.h },
    });
    state.h = out.h.data as Float32Array;
    state.steps += x.length;
    const y = out.y.data as Float32Array;
    const fed: Fed = { y: x.map((_, t) => Array.from(y.subarray(t * HIDDEN, (t + 1) * HIDDEN))), steps: state.steps, replica: this.ctx.replicaId };
    if (req.session?.movedFrom) fed.movedFrom = req.session.movedFrom;
    return fed;
  }

  /** POST /rnn/reset with ferry-session-id: forgets the session's state. */
  reset(req: RouteRequest): { forgotten: boolean } {
    return { forgotten: req.session !== null && this.sessions.delete(req.session.id) };
  }

  private stateOf(session: CallSession | null): { h: Float32Array; steps: number } {
    // Without a session every call starts from zero: nothing to keep.
    if (!session) return { h: new Float32Array(HIDDEN), steps: 0 };
    let state = this.sessions.get(session.id);
    // A session that moved here lost its state with its old replica: it starts again from zero.
    if (!state || session.movedFrom) state = { h: new Float32Array(HIDDEN), steps: 0 };
    this.sessions.delete(session.id);
    this.sessions.set(session.id, state);
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    return state;
  }
}
