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
