import { Writable } from 'node:stream';
import t from 'tap';
import { startProgress } from '../cli/start-progress.js';

/* What `ferry serve` shows while replicas start: plain lines where output is not a terminal, one spinner line where it is. */

function sink(tty: boolean, columns = 120) {
  let text = '';
  const stream = Object.assign(
    new Writable({
      write(chunk, _enc, done) {
        text += chunk;
        done();
      },
    }),
    { isTTY: tty, columns, cursorTo() {}, clearLine() {}, moveCursor() {} },
  );
  return { stream, text: () => text };
}

t.test('not on a terminal: a line per step, none once the start is over', async (t) => {
  const out = sink(false);
  const view = startProgress(out.stream);
  view.step({ deployment: 'mlp', replica: 'mlp#1', phase: 'starting' });
  view.step({ deployment: 'mlp', replica: 'mlp#1', phase: 'ready', ms: 42 });
  view.done(true);
  view.step({ deployment: 'mlp', replica: 'mlp#2', phase: 'starting' });
  t.equal(out.text(), 'ferry: mlp: starting replica mlp#1\nferry: mlp: replica mlp#1 ready in 42 ms\n');
});

t.test('a terminal of no width (a pseudo-terminal never sized) gets the plain lines, not a spinner that cannot be drawn', async (t) => {
  const out = sink(true, 0);
  const view = startProgress(out.stream);
  view.step({ deployment: 'mlp', replica: 'mlp#1', phase: 'starting' });
  view.done(true);
  t.equal(out.text(), 'ferry: mlp: starting replica mlp#1\n');
});

t.test('on a terminal: one spinner line for every deployment, ending in what is ready, or the failure', async (t) => {
  const ok = sink(true);
  const view = startProgress(ok.stream);
  view.step({ deployment: 'mlp', replica: 'mlp#1', phase: 'starting' });
  view.step({ deployment: 'cnn', replica: 'cnn#1', phase: 'starting' });
  view.step({ deployment: 'mlp', replica: 'mlp#1', phase: 'ready', ms: 5 });
  view.done(true);
  t.match(ok.text(), /replicas ready: mlp 1\/1, cnn 0\/1/);
  const short = sink(true);
  const room = startProgress(short.stream);
  room.step({ deployment: 'mlp', replica: 'mlp#1', phase: 'starting' });
  room.step({ deployment: 'mlp', replica: 'mlp#1', phase: 'ready', ms: 5 });
  room.done(true, { mlp: 1, cnn: 2 });
  t.match(short.text(), /replicas ready: mlp 1\/2 \(1 pending: no room\), cnn 0\/2 \(2 pending: no room\)/, 'replicas no node has room for are said so');
  const failed = sink(true);
  const other = startProgress(failed.stream);
  other.step({ deployment: 'mlp', replica: 'mlp#1', phase: 'starting' });
  other.done(false);
  t.match(failed.text(), /start failed: mlp 0\/1 ready/);
  const quiet = sink(true);
  startProgress(quiet.stream).done(true);
  t.equal(quiet.text(), '', 'nothing started, nothing shown');
});

t.test('log lines during the spinner: above it on the same terminal, straight to the log elsewhere and once the start is over', async (t) => {
  const screen = sink(true);
  const view = startProgress(screen.stream);
  const file = sink(false);
  const log = view.logTo(file.stream, true);
  view.step({ deployment: 'mlp', replica: 'mlp#1', phase: 'starting' });
  log.write('{"msg":"Server listening"}\n');
  t.match(screen.text(), /\{"msg":"Server listening"\}\n/, 'written on the terminal between the spinner\'s frames');
  t.equal(file.text(), '', 'not also to the log');
  const redirected = view.logTo(file.stream, false);
  redirected.write('to the file\n');
  t.equal(file.text(), 'to the file\n', 'a log that goes elsewhere gets its lines at once');
  view.done(true);
  log.write('after\n');
  t.match(file.text(), /after\n$/, 'once the start is over, straight through');
  const plain = sink(false);
  const lines = sink(false);
  startProgress(plain.stream).logTo(lines.stream, true).write('x\n');
  t.equal(lines.text(), 'x\n', 'without a spinner, straight through');
});
