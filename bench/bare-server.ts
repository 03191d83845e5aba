/*
 * The HTTP limit: bare Fastify receiving the same bytes as Ferry's infer
 * routes and answering with a response of the same size, running no model.
 */
import Fastify from 'fastify';

// The same JSON parser settings as Ferry's gateway, so ratios measure Ferry's own work.
const app = Fastify({ bodyLimit: 64 * 1024 * 1024, onProtoPoisoning: 'ignore', onConstructorPoisoning: 'ignore' });
const logits = Array.from({ length: 10 }, (_, i) => Math.sin(i));
app.post('/infer', async (req) => {
  const body = req.body as { inputs: { data: number[] }[] };
  return { model_name: 'bare', outputs: [{ name: 'logits', datatype: 'FP32', shape: [1, 10], data: logits, n: body.inputs[0].data.length }] };
});

app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
const binaryAnswer = (() => {
  const header = Buffer.from(JSON.stringify({ model_name: 'bare', outputs: [{ name: 'logits', datatype: 'FP32', shape: [1, 10], parameters: { binary_data_size: 40 } }] }));
  return { header, body: Buffer.concat([header, Buffer.from(new Float32Array(logits).buffer)]) };
})();
app.post('/binary', async (req, reply) => {
  const body = req.body as Buffer;
  // Read the JSON header as Ferry does; the tensor bytes stay where they are.
  JSON.parse(body.toString('utf8', 0, Number(req.headers['inference-header-content-length'])));
  reply.header('inference-header-content-length', String(binaryAnswer.header.length)).type('application/octet-stream');
  return binaryAnswer.body;
});

const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.send?.({ url });
process.on('disconnect', () => void app.close().then(() => process.exit(0)));
