// The shop's front end (Node.js, no OpenTelemetry code): GET / lists the catalog with stock levels.
// It calls the catalog (Python) for items and prices, and the inventory (Go) for stock, then answers.
'use strict';
const http = require('http');

const port = Number(process.env.PORT || 8080);
const catalog = process.env.CATALOG_URL || 'http://catalog:8080';
const inventory = process.env.INVENTORY_URL || 'http://inventory:8080';

function getJSON(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (reply) => {
        let body = '';
        reply.on('data', (chunk) => (body += chunk));
        reply.on('end', () => {
          if (reply.statusCode !== 200) return reject(new Error(`${url}: ${reply.statusCode}`));
          try {
            resolve(JSON.parse(body));
          } catch (err) {
            reject(err);
          }
        });
      })
      .on('error', reject);
  });
}

const server = http.createServer(async (req, res) => {
  const started = Date.now();
  if (req.url === '/healthz') {
    res.end('ok\n');
    return;
  }
  try {
    const items = await getJSON(`${catalog}/items`);
    const stock = await getJSON(`${inventory}/stock?items=${items.map((i) => i.id).join(',')}`);
    const page = items.map((i) => ({ ...i, inStock: stock[i.id] || 0 }));
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(page));
    console.log(`frontend GET ${req.url} 200 ${page.length} items in ${Date.now() - started} ms`);
  } catch (err) {
    res.statusCode = 502;
    res.end(String(err));
    console.log(`frontend GET ${req.url} 502 ${err}`);
  }
});

server.listen(port, '0.0.0.0', () => console.log(`frontend listening on ${port}`));
