"""A conformance run with Python's "websockets" client (Debian
python3-websockets) against an echo location:
    python3 python-client.py ws://127.0.0.1:PORT/path [DEFLATE_URL]
(DEFLATE_URL: an echo location with ws_deflate on)
Prints "ok <name>" / "not ok <name>: <why>" lines, then "done"; exits 0 when
every check passed."""

import asyncio
import sys

import websockets

results = []


def check(name, cond, why=''):
    results.append('ok %s' % name if cond else 'not ok %s: %s' % (name, why))


async def main(url):
    # websockets offers permessage-deflate by default; the server must decline
    async with websockets.connect(url, subprotocols=['chat.v1'],
                                  max_size=2 ** 24) as ws:
        check('subprotocol chat.v1 selected', ws.subprotocol == 'chat.v1',
              ws.subprotocol)
        check('no extension negotiated',
              'Sec-WebSocket-Extensions' not in ws.response_headers,
              ws.response_headers.get('Sec-WebSocket-Extensions'))

        await ws.send('hello \u00fc\u00f1\u00ee\u00e7\u00f8d\u00e9')
        got = await ws.recv()
        check('text echoed', got == 'hello \u00fc\u00f1\u00ee\u00e7\u00f8d\u00e9',
              repr(got))

        big = bytes(range(256)) * 4096            # 1 MiB
        await ws.send(big)
        got = await ws.recv()
        check('1 MiB binary echoed', got == big, len(got))

        # a fragmented message from an iterable
        await ws.send(['frag', 'mented ', 'text'])
        got = await ws.recv()
        check('fragmented text echoed as one message',
              got == 'fragmented text', repr(got))

        pong = await ws.ping(b'ping payload')
        await asyncio.wait_for(pong, 5)
        check('ping answered', True)

        await ws.close(code=1000, reason='done')
        check('close code echoed', ws.close_code == 1000, ws.close_code)


async def deflate(url):
    # websockets offers permessage-deflate by default: here it is accepted
    async with websockets.connect(url, max_size=2 ** 24) as ws:
        ext = ws.response_headers.get('Sec-WebSocket-Extensions', '')
        check('deflate: permessage-deflate negotiated',
              ext.startswith('permessage-deflate'), ext)

        for msg in ['hello \u00fc\u00f1\u00ee\u00e7\u00f8d\u00e9' * 50,
                    bytes(range(256)) * 4096, '', 'short']:
            await ws.send(msg)
            got = await ws.recv()
            check('deflate: %s of %d echoed' % (type(msg).__name__, len(msg)),
                  got == msg, len(got))

        # fragments of one compressed message
        await ws.send(['frag', 'mented ' * 20, 'text'])
        got = await ws.recv()
        check('deflate: fragmented text echoed as one message',
              got == 'frag' + 'mented ' * 20 + 'text', len(got))

        await ws.close(code=1000, reason='done')
        check('deflate: close code echoed', ws.close_code == 1000,
              ws.close_code)


try:
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), 10))
    if len(sys.argv) > 2:
        asyncio.run(asyncio.wait_for(deflate(sys.argv[2]), 10))
except Exception as e:                          # noqa: BLE001
    check('no error', False, repr(e))

for line in results:
    print(line)
print('done')
sys.exit(0 if all(r.startswith('ok ') for r in results) else 1)
