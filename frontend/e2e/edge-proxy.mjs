// A stand-in for the nginx edge when only the services run (e.g. on private ports): serves dist/
// and routes /v1/* like deploy/nginx (api-v1 §1), WebSocket upgrades included. Dev/test tool only.
// Usage: CHAT_UPSTREAMS=auth=18301,gateway=18302,message=18303,presence=18304 \
//        CHAT_EDGE_ORIGIN=http://localhost:8080 node e2e/edge-proxy.mjs 18510
import { createServer, request } from 'node:http';
import { connect } from 'node:net';
import { serveDist } from './static-server.mjs';

const ports = Object.fromEntries((process.env.CHAT_UPSTREAMS ?? 'auth=8001,gateway=8002,message=8003,presence=8004').split(',').map((kv) => kv.split('=')));
// The services allow only configured origins; present the one they know.
const origin = process.env.CHAT_EDGE_ORIGIN ?? 'http://localhost:8080';

function upstream(path) {
  if (path.startsWith('/v1/auth/') || path.startsWith('/v1/users')) return ports.auth;
  if (path.startsWith('/v1/rooms') || path.startsWith('/v1/dms') || path.startsWith('/v1/search')) return ports.message;
  if (path.startsWith('/v1/presence')) return ports.presence;
  if (path.startsWith('/v1/ws')) return ports.gateway;
  return null;
}

export async function startEdge(listenPort = 0) {
  const dist = await serveDist();
  const distPort = new URL(dist.url).port;
  const server = createServer((req, res) => {
    const port = upstream(req.url ?? '/') ?? distPort;
    const headers = { ...req.headers, 'x-real-ip': '127.0.0.1' };
    if (headers.origin) headers.origin = origin;
    const up = request({ host: '127.0.0.1', port, path: req.url, method: req.method, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => {
      res.writeHead(502, { 'Content-Type': 'application/problem+json' });
      res.end(JSON.stringify({ status: 502, code: 'bad_gateway', detail: 'The service is not reachable.' }));
    });
    req.pipe(up);
  });
  server.on('upgrade', (req, socket, head) => {
    const port = upstream(req.url ?? '');
    if (!port) return socket.destroy();
    const up = connect(Number(port), '127.0.0.1', () => {
      const headers = { ...req.headers, 'x-real-ip': '127.0.0.1' };
      if (headers.origin) headers.origin = origin;
      const lines = [`${req.method} ${req.url} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''];
      up.write(lines.join('\r\n'));
      if (head?.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise((r) => server.listen(listenPort, '127.0.0.1', r));
  return {
    url: `http://localhost:${server.address().port}`,
    close: async () => {
      await new Promise((r) => server.close(r));
      await dist.close();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const edge = await startEdge(Number(process.argv[2] ?? 18510));
  console.log(`edge on ${edge.url}`);
}
