import type { FastifyInstance } from 'fastify';

/**
 * What the gateway needs to know of a shutdown in progress. The server that
 * owns the gateway sets it when it starts closing; the gateway reads it on
 * every request.
 */
export interface ShutdownState {
  /** True from the moment shutdown begins: readiness turns 503 and new requests are refused with `FERRY_ERR_SHUTTING_DOWN`. */
  active: boolean;
  /**
   * How long open keep-alive connections are kept after shutdown begins, so a
   * request already on the wire is answered 503 (with `Connection: close`)
   * rather than reset. @default 500
   */
  lingerMs: number;
}

/** How long answers written at the end of the grace get before the sockets still open are cut. */
const ANSWER_FLUSH_MS = 200;

/**
 * Ends a gateway's close once its grace is over. The calls still held have
 * just been answered (503); they get {@link ANSWER_FLUSH_MS} to be written. Whatever
 * connection is still open then is cut: a body that stopped arriving, a
 * request head never finished, a WebSocket peer that does not answer the
 * close handshake. Otherwise `closed` (Fastify's close, which waits for every
 * socket) would wait on Node's header and request timeouts (a minute and
 * more) or on ws's 30 s close handshake.
 */
export async function cutWhatIsLeft(app: FastifyInstance, closed: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ANSWER_FLUSH_MS, false)))]);
  clearTimeout(timer);
  if (!done) {
    app.server.closeAllConnections();
    for (const client of app.websocketServer?.clients ?? []) client.terminate();
  }
  await closed;
}
