/*
 * The HTTP limit: bare Fastify parsing the same JSON body as Ferry's infer
 * route and answering with a response of the same size, running no model.
 */
import Fastify from 'fastify';

// The same JSON parser settings as Ferry's gateway, so the ratio measures Ferry's own work.
const app = Fastify({ bodyLimit: 8 * 1024 * 1024, onProtoPoisoning: 'ignore', onConstructorPoisoning: 'ignore' });
const logits = Array.from({ length: 10 }, (_, i) => Math.sin(i));
app.post('/infer', async (req) => {
  const body = req.body as { id?: string; inputs: { data: number[] }[] };
  return { model_name: 'bare', outputs: [{ name: 'logits', datatype: 'FP32', shape: [1, 10], data: logits, rows: body.inputs[0].data.length }] };
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.send?.({ url });
process.on('disconnect', () => void app.close().then(() => process.exit(0)));
