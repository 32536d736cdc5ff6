// A conformance run with Node's "ws" client (Debian node-ws) against an echo
// location: usage  node node-client.js ws://127.0.0.1:PORT/path [DEFLATE_URL]
// (DEFLATE_URL: an echo location with ws_deflate on, run the same way)
// Prints one line per check: "ok <name>" or "not ok <name>: <why>", then
// "done"; exits 0 when every check passed.
'use strict';

const WebSocket = require('ws');
const url = process.argv[2];
const results = [];
const check = (name, cond, why) => {
  results.push(cond ? `ok ${name}` : `not ok ${name}: ${why}`);
};

function finish() {
  results.forEach((l) => console.log(l));
  console.log('done');
  process.exit(results.every((l) => l.startsWith('ok ')) ? 0 : 1);
}

setTimeout(() => { check('finished in time', false, 'timeout'); finish(); },
           10000);

// a session: with deflateUrl, the location has ws_deflate on and the
// extension must be negotiated (ws offers it by default)
function session(target, deflate, done) {
  const tag = deflate ? 'deflate: ' : '';
  const ws = new WebSocket(target, ['chat.v2', 'chat.v1'],
                           { perMessageDeflate: true });
  const text = 'h\u00e9llo \u{1f600} ' + 'x'.repeat(70000);
  const binary = Buffer.alloc(200000, 7);
  const got = [];

  ws.on('upgrade', (res) => {
    check(`${tag}101 with the accept key`, res.statusCode === 101,
          res.statusCode);
  });

  ws.on('open', () => {
    check(`${tag}subprotocol chat.v2 selected`, ws.protocol === 'chat.v2',
          ws.protocol);
    if (deflate) {
      check(`${tag}permessage-deflate negotiated`,
            ws.extensions.startsWith('permessage-deflate'), ws.extensions);
    } else {
      check('no extension negotiated', ws.extensions === '', ws.extensions);
    }
    ws.send('hello');
    ws.send(text);
    ws.send(binary);
    ws.ping(Buffer.from('are you there'));
  });

  ws.on('pong', (data) => {
    check(`${tag}pong carries the ping payload`,
          data.toString() === 'are you there', data.toString());
  });

  ws.on('message', (data, isBinary) => {
    got.push({ data, isBinary });
    if (got.length === 3) {
      check(`${tag}text echoed`,
            !got[0].isBinary && got[0].data.toString() === 'hello',
            got[0].data.toString().slice(0, 20));
      check(`${tag}70 KB UTF-8 text echoed`,
            !got[1].isBinary && got[1].data.toString() === text, 'different');
      check(`${tag}200 KB binary echoed`,
            got[2].isBinary && Buffer.compare(got[2].data, binary) === 0,
            'different');
      ws.close(4000, 'bye');
    }
  });

  ws.on('close', (code) => {
    check(`${tag}close code echoed`, code === 4000, code);
    done();
  });

  ws.on('error', (err) => { check(`${tag}no error`, false, err.message); finish(); });
}

const deflateUrl = process.argv[3];

session(url, false, () => {
  if (deflateUrl) {
    session(deflateUrl, true, finish);
  } else {
    finish();
  }
});
