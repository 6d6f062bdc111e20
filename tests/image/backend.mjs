// The backend behind the sidecar that runs inside the image (tests/image/image_test.sh): a
// tiny HTTP server on 127.0.0.1, port chosen by the kernel and printed on stdout, that answers
// with what it received so the test can tell the request came through the proxy. It stops on
// SIGTERM, or by itself after 5 minutes.
import http from 'node:http';

const server = http.createServer((req, res) => {
  const body = JSON.stringify({
    backend: 'image-test',
    method: req.method,
    path: req.url,
    xForwardedFor: req.headers['x-forwarded-for'] ?? null,
  });
  res.writeHead(200, {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)});
  res.end(body);
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(0), 5 * 60 * 1000).unref();
