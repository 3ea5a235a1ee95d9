// SPDX-License-Identifier: Apache-2.0
// A --plugin-process in Node for tests/e2e/test_plugins.py, written from
// docs/plugins.md alone (no library): length-prefixed JSON on fd 3. It
// logs what it sees to $LOG, tags every exec with NODE_SAW_PYGUARD set to
// what the plugin before it left in the env, denies connections to
// port 7007, and on HTTP answers blocks card numbers and tags those to
// GET /tag with a header.
'use strict';
const fs = require('fs');
const net = require('net');

const LOG = process.env.LOG;
const sock = new net.Socket({ fd: Number(process.env.MSB_PLUGIN_FD || 3), readable: true, writable: true });
let buf = Buffer.alloc(0);

function send(msg) {
  const b = Buffer.from(JSON.stringify(msg));
  const h = Buffer.alloc(4);
  h.writeUInt32BE(b.length);
  sock.write(Buffer.concat([h, b]));
}

function log(m) {
  const o = Object.assign({}, m);
  delete o.type; delete o.id; delete o.body_b64;
  if (m.hook === 'http_response') o.body = Buffer.from(m.body_b64 || '', 'base64').toString();
  fs.appendFileSync(LOG, JSON.stringify(o) + '\n');
}

function handle(m) {
  if (m.type === 'hello') {
    send({ type: 'hello', name: 'monitor-js', hooks: ['exec_before', 'connect', 'lifecycle', 'http_request', 'http_response'] });
    return;
  }
  log(m);
  if (m.type !== 'call') return;
  const r = { type: 'reply', id: m.id, verdict: 'allow' };
  if (m.hook === 'exec_before') {
    const saw = m.env.includes('PYGUARD=1') ? '1' : '0';
    r.env = m.env.concat(['NODE_SAW_PYGUARD=' + saw]);
  } else if (m.hook === 'connect' && m.port === 7007) {
    r.verdict = 'deny';
    r.reason = 'node says no';
  } else if (m.hook === 'http_request') {
    const body = Buffer.from(m.body_b64 || '', 'base64').toString();
    if (body.includes('123-45-6789')) {
      r.verdict = 'deny';
      r.reason = 'DLP: PII';
    }
  } else if (m.hook === 'http_response') {
    const body = Buffer.from(m.body_b64 || '', 'base64').toString();
    if (body.includes('4111 1111 1111 1111')) {
      r.verdict = 'deny';
      r.reason = 'DLP: card number';
    } else if (m.request.startsWith('GET /tag ')) {
      r.verdict = 'modify';
      r.head = m.head.replace(/\r\n\r\n$/, '\r\nX-Seen-By: monitor-js\r\n\r\n');
    }
  }
  send(r);
}

sock.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 4) {
    const n = buf.readUInt32BE(0);
    if (buf.length < 4 + n) break;
    const m = JSON.parse(buf.subarray(4, 4 + n).toString());
    buf = buf.subarray(4 + n);
    handle(m);
  }
});
sock.on('end', () => process.exit(0));
sock.on('error', () => process.exit(0));
