import t from 'tap';
import { reportingGauges } from '../replicas/batch-report.js';
import type { FromReplica } from '../replicas/protocol.js';

t.test("a process replica reports each batch's end, window and call times in one message, its start at once", async (t) => {
  const sent: FromReplica[] = [];
  const gauges = reportingGauges((msg) => sent.push(msg));
  gauges.started(1000);
  t.same(sent, [{ type: 'batch-started', at: 1000 }], 'the start leaves at once: the watchdog times the batch from it');
  gauges.finished(8, 2.5, 2);
  gauges.adapted!(3, 1, 0.2);
  gauges.answered!([4, 5]);
  gauges.answered!([6]);
  t.equal(sent.length, 1, 'nothing more until the turn ends');
  await Promise.resolve();
  t.same(sent[1], { type: 'batch-report', finished: { rows: 8, ms: 2.5, sources: 2 }, adapted: { windowMs: 3, fixedMs: 1, perRowMs: 0.2 }, latenciesMs: [4, 5, 6] });
  gauges.answered!([7]);
  await Promise.resolve();
  t.same(sent[2], { type: 'batch-report', latenciesMs: [7] }, 'calls answered alone (a cancelled handler call) report alone');
  t.equal(sent.length, 3);
});
