// Test app: a plain `http` server (instrumented by the injected agent; this file never loads it).
// GET /hello answers; GET /chain calls /hello with http.get, so one trace spans server, client, server.
'use strict';
const http = require('http');

const port = Number(process.env.PORT);

const server = http.createServer((req, res) => {
  if (req.url === '/chain') {
    http
      .get({ host: '127.0.0.1', port, path: '/hello' }, (reply) => {
        let body = '';
        reply.on('data', (chunk) => (body += chunk));
        reply.on('end', () => res.end(body));
      })
      .on('error', (err) => {
        res.statusCode = 502;
        res.end(String(err));
      });
    return;
  }
  res.end('hello from nodejs\n');
});

server.listen(port, '127.0.0.1');
