// The agent runtime: serves a bare agent config over HTTP. The local target runs it as a revision,
// and on Google Cloud it is packed as the service's source (GcsSourcePreparer.packAgentRuntime).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const config = JSON.parse(readFileSync(new URL('./agent-config.json', import.meta.url), 'utf8'));
const started = new Date().toISOString();
// Cloud Run sends requests to PORT on all interfaces; the local target sets BATON_LISTEN_HOST to loopback.
const host = process.env.BATON_LISTEN_HOST || '0.0.0.0';
const port = Number(process.env.PORT || 8080);

const server = createServer((req, res) => {
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.url === '/health') return send(200, { status: 'ok', services: {} });
  if (req.method === 'GET' && req.url === '/') return send(200, { agent: config, revision: process.env.K_REVISION ?? null, started });
  if (req.method === 'POST' && req.url === '/invoke') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => send(200, { agent: config.name ?? null, input: Buffer.concat(chunks).toString('utf8') }));
    return;
  }
  send(404, { error: 'not found' });
});
server.listen(port, host, () => console.log(`agent runtime listening on ${host}:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
