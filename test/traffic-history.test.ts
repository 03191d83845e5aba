import t from 'tap';
import { histogramQuantile, TrafficHistory } from '../dashboard/index.js';
import { FerryMetrics } from '../metrics/index.js';

/* What the status page charts, from Ferry's own prom-client registry: rates, ratios and quantiles between two samples. */

const deployment = (name: string, states: string[], queueDepth = 0, ongoing = 0, pending = 0) => ({
  deployment: name,
  queueDepth,
  ongoing,
  pending,
  replicas: states.map((state) => ({ state })),
});

t.test('histogramQuantile interpolates inside the bucket holding the rank, as Prometheus does', async (t) => {
  const buckets = [
    { le: 0.1, count: 10 },
    { le: 0.2, count: 30 },
    { le: 0.4, count: 40 },
    { le: Infinity, count: 40 },
  ];
  const near = (got: number | null, want: number, why: string) => t.ok(got !== null && Math.abs(got - want) < 1e-12, `${why} (${got})`);
  near(histogramQuantile(0.5, buckets), 0.15, 'rank 20 is halfway through (0.1, 0.2]');
  near(histogramQuantile(0.25, buckets), 0.1, 'rank 10 ends the first bucket');
  near(histogramQuantile(0.1, buckets), 0.04, 'the first bucket starts at 0');
  t.equal(histogramQuantile(0.99, [{ le: 1, count: 1 }, { le: Infinity, count: 100 }]), 1, 'a rank in +Inf answers the highest finite bound');
  t.equal(histogramQuantile(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }]), null, 'nothing counted: no quantile');
  t.equal(histogramQuantile(0.5, []), null);
});

t.test('samples turn counters into rates, 5xx ratios, latency quantiles and mean batch rows', async (t) => {
  const metrics = new FerryMetrics({ processWide: false });
  const history = new TrafficHistory(3);
  history.record(1000, [deployment('mlp', ['ready', 'starting'])], await metrics.traffic());
  for (let i = 0; i < 18; i++) metrics.observeRequest('mlp', 200, 0.004);
  metrics.observeRequest('mlp', 503, 0.2);
  metrics.observeRequest('mlp', 400, 0.002);
  metrics.answered('mlp', { rows: 4, inferenceMs: 1 }, []);
  metrics.answered('mlp', { rows: 8, inferenceMs: 1 }, []);
  history.record(3000, [deployment('mlp', ['ready', 'ready', 'stopping'], 5, 7, 1), deployment('cnn', ['ready'])], await metrics.traffic());

  const { seq, series } = history.since(0);
  t.equal(seq, 2);
  t.same(series.mlp!.t, [1000, 3000]);
  t.same(series.mlp!.rate, [null, 10], '20 answers over 2 s; the first sample has nothing before it');
  t.same(series.mlp!.errorRatio, [null, 0.05], 'one 5xx in 20: a 4xx is the client\'s');
  t.ok(series.mlp!.p50Ms[1]! > 2.5 && series.mlp!.p50Ms[1]! <= 5, `p50 inside the 2.5–5 ms bucket (${series.mlp!.p50Ms[1]})`);
  t.ok(series.mlp!.p99Ms[1]! > 100 && series.mlp!.p99Ms[1]! <= 250, `p99 inside the 100–250 ms bucket (${series.mlp!.p99Ms[1]})`);
  t.same(series.mlp!.batchRows, [null, 6]);
  t.same([series.mlp!.ready, series.mlp!.starting, series.mlp!.draining, series.mlp!.pending], [[1, 2], [1, 0], [0, 1], [0, 1]], 'replicas by state; stopping ones are draining');
  t.same([series.mlp!.queue[1], series.mlp!.ongoing[1]], [5, 7]);
  t.same(series.cnn!.rate, [0], 'a deployment new since the sample before has answered nothing');
  t.same(series.cnn!.p50Ms, [null], 'and has no latency to show');
  t.same(Object.keys(history.since(2).series), [], 'nothing after the latest sample');

  // A deployment replaced under the same name counts from zero, as Prometheus's rate does.
  const fresh = new FerryMetrics({ processWide: false });
  for (let i = 0; i < 4; i++) fresh.observeRequest('mlp', 200, 0.004);
  history.record(5000, [deployment('mlp', ['ready'])], await fresh.traffic());
  t.same(history.since(2).series.mlp!.rate, [2], 'a counter that went down was reset');
  history.record(7000, [deployment('mlp', ['ready'])], await fresh.traffic());
  t.same(history.since(0).series.mlp!.t, [3000, 5000, 7000], 'only the last `capacity` samples are kept');
});

t.test('traffic() merges ingress threads\' snapshots with the control plane\'s own figures', async (t) => {
  const control = new FerryMetrics({ processWide: false });
  const thread = new FerryMetrics({ processWide: false });
  control.observeRequest('mlp', 200, 0.01);
  thread.observeRequest('mlp', 200, 0.01);
  thread.observeRequest('mlp', 200, 0.01);
  const merged = await control.traffic([await thread.snapshot()]);
  const requests = merged.find((m) => m.name === 'ferry_requests_total')!;
  t.same(requests.values.map((v) => v.value), [3], 'the counts summed');
  t.same(
    merged.map((m) => m.name).sort(),
    ['ferry_batch_size', 'ferry_request_duration_seconds', 'ferry_requests_total'],
    'only what the page charts',
  );
});
