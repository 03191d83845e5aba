import WebSocket from 'ws';

/**
 * WebSocket load: `sockets` sockets, each keeping `inFlight` messages
 * outstanding, for `seconds`. Returns answered messages per second.
 */
export async function wsLoad(url: string, message: string | Buffer, sockets: number, inFlight: number, seconds: number): Promise<{ mps: number; errors: number }> {
  const until = performance.now() + seconds * 1000;
  let answered = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: sockets }, async () => {
      const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      await new Promise<void>((resolve) => {
        let outstanding = 0;
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          outstanding--;
          answered++;
          if (!isBinary && data.includes('"error"')) errors++;
          if (performance.now() < until) {
            ws.send(message);
            outstanding++;
          } else if (outstanding === 0) resolve();
        });
        for (; outstanding < inFlight; outstanding++) ws.send(message);
      });
      ws.close();
    }),
  );
  return { mps: answered / ((performance.now() - started) / 1000), errors };
}
