// A minimal service: answers on $PORT, reports its health and its revision.
const http = require('node:http');

const version = process.env.APP_VERSION || 'v1';
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.url === '/health') {
    res.end(JSON.stringify({ status: 'ok', services: { self: true } }));
    return;
  }
  res.end(JSON.stringify({ message: `hello from ${version}`, revision: process.env.K_REVISION || null }));
});
server.listen(Number(process.env.PORT || 8080), () => console.log(`hello ${version} listening on ${process.env.PORT}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
