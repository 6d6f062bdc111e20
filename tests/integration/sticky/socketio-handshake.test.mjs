// --sticky=socketio at the HTTP level, against in-process backends that play Engine.IO servers:
// the open packet of a polling handshake gets the route of the backend that answered, whether
// the body has a Content-Length or is chunked, in EIO 4 and EIO 3 framing; later requests with
// the routed sid reach that backend and it reads its own sid; a forged route is taken off and
// the request placed like any other; other responses pass untouched.

import test from 'node:test';
import assert from 'node:assert/strict';
import { scope, backendsFlag } from '../lib/scope.mjs';
import { request } from '../lib/backends.mjs';
import { stickyCounts } from './lib/sticky.mjs';

// Backends named a..d: a handshake (EIO=, transport=polling, no sid) answers an open packet
// naming the backend in its sid, chunked when ?chunked=1; any other request answers JSON with
// what it got.
async function engineBackends(s) {
  const out = [];
  for (const name of ['a', 'b', 'c', 'd']) {
    out.push(
      await s.httpBackend({
        name,
        handler: (req, res) => {
          const url = new URL(req.url, 'http://x');
          const q = url.searchParams;
          if (q.has('EIO') && q.get('transport') === 'polling' && !q.has('sid')) {
            const packet = `0{"sid":"sid-${name}-${q.get('n')}","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`;
            const body = q.get('EIO') === '3' ? `${packet.length}:${packet}2:40` : packet;
            if (q.get('chunked') === '1') {
              res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' });
              res.write(body.slice(0, 10));
              res.end(body.slice(10));
            } else {
              res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': Buffer.byteLength(body) });
              res.end(body);
            }
            return;
          }
          const body = JSON.stringify({ backend: name, url: req.url });
          res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
          res.end(body);
        },
      }),
    );
  }
  return out;
}

test('the handshake sid carries the route (Content-Length and chunked, EIO 4 and 3); the sid finds its backend', async (t) => {
  const s = scope(t);
  const sc = await s.sidecar([backendsFlag(...(await engineBackends(s))), '--sticky=socketio', '--member-id=pod-a']);
  let n = 0;
  for (const eio of ['4', '3']) {
    for (const chunked of ['0', '1']) {
      for (let k = 0; k < 4; k++) {
        const r = await request(sc.port, { path: `/socket.io/?EIO=${eio}&transport=polling&t=x&chunked=${chunked}&n=${n++}` });
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-length'], String(r.body.length), 'framed by a Content-Length that fits');
        assert.equal(r.headers['transfer-encoding'], undefined);
        let packet = r.text;
        if (eio === '3') {
          const m = /^(\d+):/.exec(packet);
          assert.ok(m, packet);
          assert.equal(packet.slice(m[0].length + Number(m[1])), '2:40', `EIO 3 length covers the packet: ${packet}`);
          packet = packet.slice(m[0].length, m[0].length + Number(m[1]));
        }
        const open = JSON.parse(packet.slice(1));
        const m = /^([A-Za-z0-9_-]{19}(?:\.[A-Za-z0-9_-]{14})?)~(sid-([a-d])-\d+)$/.exec(open.sid);
        assert.ok(m, `routed sid: ${open.sid}`);
        const [, , appSid, backend] = m;
        for (const transport of ['polling', 'websocket']) {
          const f = await request(sc.port, { path: `/socket.io/?EIO=${eio}&transport=${transport}&sid=${encodeURIComponent(open.sid).replace(/%7E/g, '~')}` });
          const got = JSON.parse(f.text);
          assert.equal(got.backend, backend, `${open.sid}: back to ${backend}`);
          assert.equal(got.url, `/socket.io/?EIO=${eio}&transport=${transport}&sid=${appSid}`, 'the app reads its own sid');
        }
      }
    }
  }
  // A forged route (without a secret, one naming a member that does not exist) is taken off;
  // the request is placed like a new one.
  const before = await stickyCounts(sc.adminPort);
  const forged = await request(sc.port, { path: '/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAA~sid-x' });
  assert.equal(JSON.parse(forged.text).url, '/socket.io/?EIO=4&transport=polling&sid=sid-x');
  const after = await stickyCounts(sc.adminPort);
  assert.equal(after.invalid + after.remapped - before.invalid - before.remapped, 1, JSON.stringify(after));
  // Not a handshake: passed untouched.
  const plain = await request(sc.port, { path: '/other?EIO=4' });
  assert.equal(JSON.parse(plain.text).url, '/other?EIO=4');
});
