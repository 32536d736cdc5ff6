# ws_pass, ws_on_connect, ws_on_disconnect against a real application
# (t/backends/app.js, started by this file, see Test::NgxWs::App): the
# event requests and their headers as the app receives them, and what the
# app's answers do to the client: text or binary messages, nothing, a
# close.  Client messages that start with "?" tell the app how to answer
# (status, body, Content-Type, X-WS-Message-Type, X-WS-Close ...).
#
# Blocks that must see the app's replies send their Close in a second
# packet, after --- raw_request_middle_delay; once the close handshake has
# begun, replies are not sent any more.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();

Test::NgxWs::App::start();

repeat_each(1);

plan tests => repeat_each() * Test::NgxWs::App::count_tests(blocks());

no_shuffle();
no_long_string();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'EOF_CONFIG') unless $block->config;
    location /ws {
        websocket;
        ws_on_connect /app/connect;
        ws_pass /app/message;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
EOF_CONFIG
});

run_tests();


# "[Name: value]" for each pair, as the app log's ALL mode prints headers
sub hdrs {
    my (@kv) = @_;
    my @out;
    push @out, "[$kv[$_]: $kv[$_ + 1]]" for grep { $_ % 2 == 0 } 0 .. $#kv;
    return join ' ', @out;
}

__DATA__

=== TEST 1: events carry the handshake's headers (minus the hop-by-hop and WebSocket ones) and their own
--- config
    location /ws {
        websocket;
        ws_subprotocols chat.v2 chat.v1;
        ws_on_connect /app/connect;
        ws_pass /app/message;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://app.example',
    protocol => 'chat.v1', extensions => 'permessage-deflate',
    headers => ['Cookie: session=abc; theme=dark',
                'Authorization: Bearer t0ken',
                'User-Agent: test-client/1.0',
                'X-Forwarded-For: 192.0.2.7',
                'Accept-Language: en',
                'Content-Type: text/html',
                'Keep-Alive: timeout=5',
                'X-Custom: one',
                'X-Custom: two'])
. WsFrame::ws_text("hello") . WsFrame::ws_binary("\x00\xff") . WsFrame::ws_close(1000, "bye")
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat.v1
--- response_body eval
WsFrame::srv_close(1000)
--- app_headers: ALL
--- app_log eval
my $app = "127.0.0.1:$ENV{TEST_NGINX_APP_PORT}";
my @hs = ('Origin', 'https://app.example', 'Sec-WebSocket-Protocol', 'chat.v1',
          'Cookie', 'session=abc; theme=dark', 'Authorization', 'Bearer t0ken',
          'User-Agent', 'test-client/1.0', 'X-Forwarded-For', '192.0.2.7',
          'Accept-Language', 'en', 'X-Custom', 'one', 'X-Custom', 'two');
my @id = ('X-WS-Connection-Id', '#1', 'X-WS-URI', '/ws',
          'X-WS-Subprotocol', 'chat.v1');
CORE::join "\n",
"/app/connect connect #1 proto=chat.v1 "
    . main::hdrs(Host => $app, Connection => 'close', 'Content-Length' => 0,
                 @hs, 'X-WS-Event' => 'connect', @id),
"/app/message message #1 seq=1 text \"hello\" proto=chat.v1 "
    . main::hdrs(Host => $app, Connection => 'close', 'Content-Length' => 5,
                 @hs, 'X-WS-Event' => 'message', @id, 'X-WS-Seq' => 1,
                 'X-WS-Message-Type' => 'text',
                 'Content-Type' => 'text/plain; charset=utf-8'),
"/app/message message #1 seq=2 binary \"\\x00\\xff\" proto=chat.v1 "
    . main::hdrs(Host => $app, Connection => 'close', 'Content-Length' => 2,
                 @hs, 'X-WS-Event' => 'message', @id, 'X-WS-Seq' => 2,
                 'X-WS-Message-Type' => 'binary',
                 'Content-Type' => 'application/octet-stream'),
"/app/disconnect disconnect #1 code=1000 by=client proto=chat.v1 "
    . main::hdrs(Host => $app, Connection => 'close', 'Content-Length' => 0,
                 @hs, 'X-WS-Event' => 'disconnect', @id,
                 'X-WS-Close-Code' => 1000, 'X-WS-Closed-By' => 'client'),
""
--- no_error_log
[error]
[alert]



=== TEST 2: a client cannot forge the event headers: its own X-WS-* headers are not forwarded
--- raw_request eval
WsFrame::ws_handshake('/ws',
    headers => ['X-WS-Event: disconnect', 'X-WS-Connection-Id: 0.1.2',
                'X-WS-Seq: 99', 'X-WS-Message-Type: binary',
                'X-WS-Subprotocol: admin', 'X-WS-Close-Code: 1000',
                'X-WS-Closed-By: server', 'X-Other: kept'])
. WsFrame::ws_text("hi") . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_headers: x-other
--- app_log
/app/connect connect #1 x-other="kept"
/app/message message #1 seq=1 text "hi" x-other="kept"
/app/disconnect disconnect #1 code=1000 by=client x-other="kept"
--- no_error_log
[error]
[alert]



=== TEST 3: no X-WS-Subprotocol when none was selected
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'chat.v1') . WsFrame::ws_text("hi") . WsFrame::ws_close(1001)
--- error_code: 101
--- response_headers
!Sec-WebSocket-Protocol
--- response_body eval
WsFrame::srv_close(1001)
--- app_headers: sec-websocket-protocol x-ws-subprotocol
--- app_log
/app/connect connect #1 sec-websocket-protocol="chat.v1" x-ws-subprotocol=-
/app/message message #1 seq=1 text "hi" sec-websocket-protocol="chat.v1" x-ws-subprotocol=-
/app/disconnect disconnect #1 code=1001 by=client sec-websocket-protocol="chat.v1" x-ws-subprotocol=-
--- no_error_log
[error]
[alert]



=== TEST 4: the reply's Content-Type or X-WS-Message-Type makes it a text or a binary message
--- raw_request eval
[WsFrame::ws_handshake('/ws')
 . WsFrame::ws_text('?body=plain&ct=text/plain')
 . WsFrame::ws_text('?body={"a":1}&ct=application/json')
 . WsFrame::ws_text('?body=vnd&ct=application/vnd.api%2Bjson; charset=utf-8')
 . WsFrame::ws_text('?body=html&ct=TEXT/HTML')
 . WsFrame::ws_text('?body=%00%01bin&ct=application/octet-stream')
 . WsFrame::ws_text('?body=png&ct=image/png')
 . WsFrame::ws_text('?body=untyped')
 . WsFrame::ws_text('?body=forced text&ct=application/octet-stream&mt=text')
 . WsFrame::ws_text('?body=%FF%FE&ct=text/plain&mt=binary')
 . WsFrame::ws_binary("?body=caf%C3%A9&mt=TEXT"),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('plain')
. WsFrame::srv_text('{"a":1}')
. WsFrame::srv_text('vnd')
. WsFrame::srv_text('html')
. WsFrame::srv_binary("\x00\x01bin")
. WsFrame::srv_binary('png')
. WsFrame::srv_binary('untyped')
. WsFrame::srv_text('forced text')
. WsFrame::srv_binary("\xff\xfe")
. WsFrame::srv_text("caf\xc3\xa9")
. WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "?body=plain&ct=text/plain"
/app/message message #1 seq=2 text "?body={\x22a\x22:1}&ct=application/json"
/app/message message #1 seq=3 text "?body=vnd&ct=application/vnd.api%2Bjson; charset=utf-8"
/app/message message #1 seq=4 text "?body=html&ct=TEXT/HTML"
/app/message message #1 seq=5 text "?body=%00%01bin&ct=application/octet-stream"
/app/message message #1 seq=6 text "?body=png&ct=image/png"
/app/message message #1 seq=7 text "?body=untyped"
/app/message message #1 seq=8 text "?body=forced text&ct=application/octet-stream&mt=text"
/app/message message #1 seq=9 text "?body=%FF%FE&ct=text/plain&mt=binary"
/app/message message #1 seq=10 binary "?body=caf%C3%A9&mt=TEXT"
/app/disconnect disconnect #1 code=1000 by=client
--- no_error_log
[error]
[alert]



=== TEST 5: 204 and an empty 200 send nothing; other 2xx with a body are sent
--- raw_request eval
[WsFrame::ws_handshake('/ws')
 . WsFrame::ws_text('?status=204&body=ignored')
 . WsFrame::ws_text('?status=200')
 . WsFrame::ws_text('?status=201&body=created&ct=text/plain')
 . WsFrame::ws_text('?status=202&body=accepted&ct=text/plain')
 . WsFrame::ws_text('?status=299&body=odd&ct=text/plain'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('created')
. WsFrame::srv_text('accepted')
. WsFrame::srv_text('odd')
. WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "?status=204&body=ignored"
/app/message message #1 seq=2 text "?status=200"
/app/message message #1 seq=3 text "?status=201&body=created&ct=text/plain"
/app/message message #1 seq=4 text "?status=202&body=accepted&ct=text/plain"
/app/message message #1 seq=5 text "?status=299&body=odd&ct=text/plain"
/app/disconnect disconnect #1 code=1000 by=client
--- no_error_log
[error]
[alert]



=== TEST 6: the connect event's reply is the first message, before any message reply
--- config
    location /ws {
        websocket;
        ws_on_connect /app/connect;
        ws_pass /app/message;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }

    location = /app/connect {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/app/connect?delay=100&body=welcome&ct=text/plain;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?echo=1&ct=text/plain'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.4
--- error_code: 101
--- response_body eval
WsFrame::srv_text('welcome')
. WsFrame::srv_text('?echo=1&ct=text/plain')
. WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "?echo=1&ct=text/plain"
/app/disconnect disconnect #1 code=1000 by=client
--- no_error_log
[error]
[alert]



=== TEST 7: X-WS-Close closes with that code and reason after the reply; queued events still reach the app
--- raw_request eval
[WsFrame::ws_handshake('/ws')
 . WsFrame::ws_text('?body=last words&ct=text/plain&close=4000 bye now')
 . WsFrame::ws_text('?body=too late&ct=text/plain'),
 WsFrame::ws_close(4000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('last words')
. WsFrame::srv_close(4000, 'bye now')
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "?body=last words&ct=text/plain&close=4000 bye now"
/app/message message #1 seq=2 text "?body=too late&ct=text/plain"
/app/disconnect disconnect #1 code=4000 by=server
--- error_log
upstream asked to close, closing with 4000
--- no_error_log
[error]
[alert]



=== TEST 8: X-WS-Close without a reason; data sent after it is not passed on
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?close=1000'),
 WsFrame::ws_text('discarded') . WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "?close=1000"
/app/disconnect disconnect #1 code=1000 by=server
--- error_log
upstream asked to close, closing with 1000
--- no_error_log
[error]
[alert]



=== TEST 9: an X-WS-Close reason is cut to the 123 bytes a Close frame can carry
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?close=4999 ' . ('r' x 200)),
 WsFrame::ws_close(4999)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_close(4999, 'r' x 123)
--- app_log eval
"/app/connect connect #1
/app/message message #1 seq=1 text len=212 md5=" . Digest::MD5::md5_hex('?close=4999 ' . ('r' x 200)) . "
/app/disconnect disconnect #1 code=4999 by=server"
--- error_log
upstream asked to close, closing with 4999
--- no_error_log
[error]
[alert]



=== TEST 10: a cut reason stays UTF-8: a character is not split
--- raw_request eval
[WsFrame::ws_handshake('/ws')
 . WsFrame::ws_text('?close=4001 ' . ('r' x 120) . '%E2%82%AC' . 'tail'),
 WsFrame::ws_close(4001)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_close(4001, ('r' x 120) . "\xe2\x82\xac")
--- app_log eval
my $m = '?close=4001 ' . ('r' x 120) . '%E2%82%AC' . 'tail';
"/app/connect connect #1
/app/message message #1 seq=1 text len=" . length($m) . " md5=" . Digest::MD5::md5_hex($m) . "
/app/disconnect disconnect #1 code=4001 by=server"
--- error_log
upstream asked to close, closing with 4001
--- no_error_log
[error]
[alert]



=== TEST 11: a cut reason stays UTF-8: the character that does not fit is left out
--- raw_request eval
[WsFrame::ws_handshake('/ws')
 . WsFrame::ws_text('?close=4002 ' . ('r' x 122) . '%C3%A9'),
 WsFrame::ws_close(4002)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_close(4002, 'r' x 122)
--- app_log eval
my $m = '?close=4002 ' . ('r' x 122) . '%C3%A9';
"/app/connect connect #1
/app/message message #1 seq=1 text len=" . length($m) . " md5=" . Digest::MD5::md5_hex($m) . "
/app/disconnect disconnect #1 code=4002 by=server"
--- error_log
upstream asked to close, closing with 4002
--- no_error_log
[error]
[alert]



=== TEST 12: an invalid X-WS-Close is logged and ignored; the reply is still sent
--- raw_request eval
[WsFrame::ws_handshake('/ws')
 . WsFrame::ws_text('?close=999&body=one&ct=text/plain')
 . WsFrame::ws_text('?close=5000 too big&body=two&ct=text/plain')
 . WsFrame::ws_text('?close=goodbye&body=three&ct=text/plain'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('one') . WsFrame::srv_text('two') . WsFrame::srv_text('three')
. WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "?close=999&body=one&ct=text/plain"
/app/message message #1 seq=2 text "?close=5000 too big&body=two&ct=text/plain"
/app/message message #1 seq=3 text "?close=goodbye&body=three&ct=text/plain"
/app/disconnect disconnect #1 code=1000 by=client
--- error_log
upstream sent invalid "X-WS-Close" header "999"
upstream sent invalid "X-WS-Close" header "5000 too big"
upstream sent invalid "X-WS-Close" header "goodbye"
--- no_error_log
upstream asked to close
[alert]



=== TEST 13: a text reply that is not UTF-8 is dropped with an error; the connection goes on
--- raw_request eval
[WsFrame::ws_handshake('/ws')
 . WsFrame::ws_text('?body=%C3%28&ct=text/plain')
 . WsFrame::ws_text('?body=%ED%A0%80&mt=text')
 . WsFrame::ws_text('?body=fine&ct=text/plain'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('fine') . WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "?body=%C3%28&ct=text/plain"
/app/message message #1 seq=2 text "?body=%ED%A0%80&mt=text"
/app/message message #1 seq=3 text "?body=fine&ct=text/plain"
/app/disconnect disconnect #1 code=1000 by=client
--- error_log
upstream sent a text reply to message event 1 that is not UTF-8, dropped
upstream sent a text reply to message event 2 that is not UTF-8, dropped
--- no_error_log
[alert]



=== TEST 14: binary replies are sent byte for byte
--- raw_request eval
[WsFrame::ws_handshake('/ws')
 . WsFrame::ws_binary('?ct=application/octet-stream&body='
                      . CORE::join('', map { sprintf '%%%02X', $_ } 0 .. 255)),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_binary(CORE::join '', map { chr } 0 .. 255) . WsFrame::srv_close(1000)
--- app_log eval
my $m = '?ct=application/octet-stream&body='
        . CORE::join('', map { sprintf '%%%02X', $_ } 0 .. 255);
"/app/connect connect #1
/app/message message #1 seq=1 binary len=" . length($m) . " md5="
. Digest::MD5::md5_hex($m) . "
/app/disconnect disconnect #1 code=1000 by=client"
--- no_error_log
[error]
[alert]



=== TEST 15: an empty Close gives X-WS-Close-Code 1005
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("x") . WsFrame::ws_close()
--- error_code: 101
--- response_body eval
WsFrame::srv_close()
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "x"
/app/disconnect disconnect #1 code=1005 by=client
--- no_error_log
[error]
[alert]



=== TEST 16: no Close frame at all gives X-WS-Close-Code 1006
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("x")
--- shutdown
--- error_code: 101
--- response_body eval
""
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "x"
/app/disconnect disconnect #1 code=1006 by=client
--- error_log
client closed connection without a close frame
--- no_error_log
[error]
[alert]



=== TEST 17: a protocol error: the server's code, closed by the server
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("x") . WsFrame::ws_text("unmasked", masked => 0)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1002)
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "x"
/app/disconnect disconnect #1 code=1002 by=server
--- error_log
client sent unmasked frame, closing with 1002
--- no_error_log
[error]
[alert]



=== TEST 18: an idle timeout the client does not answer: the server's code, closed by the server
--- config
    location /ws {
        websocket;
        ws_idle_timeout 100ms;
        ws_close_timeout 100ms;
        ws_on_connect /app/connect;
        ws_pass /app/message;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("x")
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000, 'idle timeout')
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "x"
/app/disconnect disconnect #1 code=1000 by=server
--- error_log
idle timeout, closing with 1000
client did not answer close in time
--- no_error_log
[error]
[alert]



=== TEST 19: a heartbeat Ping without answer: 1001, closed by the server
--- config
    location /ws {
        websocket;
        ws_ping_interval 100ms;
        ws_pong_timeout 100ms;
        ws_on_connect /app/connect;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
--- error_code: 101
--- response_body eval
WsFrame::srv_ping('') . WsFrame::srv_close(1001)
--- app_log
/app/connect connect #1
/app/disconnect disconnect #1 code=1001 by=server
--- error_log
client did not answer ping
--- no_error_log
[error]
[alert]



=== TEST 20: the disconnect event follows every earlier message, even when the app is slow
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('?delay=60') . WsFrame::ws_binary('?delay=60')
. WsFrame::ws_text('?delay=60') . WsFrame::ws_close(3000, 'done')
--- error_code: 101
--- response_body eval
WsFrame::srv_close(3000)
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "?delay=60"
/app/message message #1 seq=2 binary "?delay=60"
/app/message message #1 seq=3 text "?delay=60"
/app/disconnect disconnect #1 code=3000 by=client
--- no_error_log
[error]
[alert]



=== TEST 21: fragmented, empty and large messages are one event each; control frames are none
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_fragments(1, 'fragmented message', 5)
. WsFrame::ws_ping('p') . WsFrame::ws_pong('q')
. WsFrame::ws_text('')
. WsFrame::ws_binary('')
. WsFrame::ws_binary(WsFrame::repeat_to("\x00\x01\x02\xfe\xff", 100000))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_pong('p') . WsFrame::srv_close(1000)
--- app_log eval
"/app/connect connect #1
/app/message message #1 seq=1 text \"fragmented message\"
/app/message message #1 seq=2 text \"\"
/app/message message #1 seq=3 binary \"\"
/app/message message #1 seq=4 binary len=100000 md5="
. Digest::MD5::md5_hex(WsFrame::repeat_to("\x00\x01\x02\xfe\xff", 100000)) . "
/app/disconnect disconnect #1 code=1000 by=client"
--- no_error_log
[error]
[alert]



=== TEST 22: ws_pass alone: message events only
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?body=reply&ct=text/plain'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('reply') . WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?body=reply&ct=text/plain"
--- no_error_log
[error]
[alert]



=== TEST 23: ws_on_connect and ws_on_disconnect alone, with ws_echo: no message events
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_on_connect /app/connect;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('echo me') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('echo me') . WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
/app/disconnect disconnect #1 code=1000 by=client
--- no_error_log
[error]
[alert]



=== TEST 24: ws_echo with ws_pass: the client gets its echo at once, the app a copy, then the app's reply
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_pass /app/message;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?delay=50&body=from app&ct=text/plain')
 . WsFrame::ws_binary("\x01\x02"),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.4
--- error_code: 101
--- response_body eval
WsFrame::srv_text('?delay=50&body=from app&ct=text/plain')
. WsFrame::srv_binary("\x01\x02")
. WsFrame::srv_text('from app')
. WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?delay=50&body=from app&ct=text/plain"
/app/message message #1 seq=2 binary "\x01\x02"
--- no_error_log
[error]
[alert]



=== TEST 25: events reach different locations for connect, message and disconnect
--- config
    location /ws {
        websocket;
        ws_on_connect /hooks/open;
        ws_pass /hooks/data;
        ws_on_disconnect /hooks/gone;
    }

    location /hooks/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/v1/;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('a') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_log
/v1/open connect #1
/v1/data message #1 seq=1 text "a"
/v1/gone disconnect #1 code=1000 by=client
--- no_error_log
[error]
[alert]



=== TEST 26: the handshake's headers and address are nginx variables in the event location
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
    }

    location /app/ {
        internal;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-UA $http_user_agent;
        proxy_set_header X-Cookie $http_cookie;
        proxy_set_header X-Auth $http_authorization;
        proxy_set_header X-Custom-Var $http_x_custom;
        proxy_set_header X-Server "$host:$server_port";
        proxy_set_header X-Method $request_method;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['User-Agent: ua/1', 'Cookie: a=1; b=2',
    'Authorization: Basic dTpw', 'X-Forwarded-For: 192.0.2.7', 'X-Custom: c'])
. WsFrame::ws_text('hi') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_headers: x-forwarded-for x-real-ip x-ua x-cookie x-auth x-custom-var x-server x-method
--- app_log eval
"/app/message message #1 seq=1 text \"hi\" x-forwarded-for=\"192.0.2.7, 127.0.0.1\""
. " x-real-ip=\"127.0.0.1\" x-ua=\"ua/1\" x-cookie=\"a=1; b=2\" x-auth=\"Basic dTpw\""
. " x-custom-var=\"c\" x-server=\"localhost:" . Test::NgxWs::App::server_port()
. "\" x-method=\"POST\"\n"
--- no_error_log
[error]
[alert]



=== TEST 27: ws_pass needs websocket in the same location
--- config
    location /ws {
        ws_pass /app/message;
    }
--- must_die
--- error_log
[emerg]
"ws_pass", "ws_on_connect" and "ws_on_disconnect" need "websocket" in the same location



=== TEST 28: X-WS-Close codes a server must not send (1004-1006, 1015, 1016-2999) are logged and ignored; 1012-1014 close
--- raw_request eval
[WsFrame::ws_handshake('/ws')
 . CORE::join('', map { WsFrame::ws_text("?close=$_ no&body=$_&ct=text/plain") }
            1004, 1005, 1006, 1015, 1016, 2999)
 . WsFrame::ws_text('?close=1013 try again later'),
 WsFrame::ws_close(1013)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_text($_) } 1004, 1005, 1006, 1015, 1016, 2999)
. WsFrame::srv_close(1013, 'try again later')
--- app_log eval
CORE::join "\n", '/app/connect connect #1',
(map { "/app/message message #1 seq=" . ($_ + 1) . " text \"?close="
       . (1004, 1005, 1006, 1015, 1016, 2999)[$_] . " no&body="
       . (1004, 1005, 1006, 1015, 1016, 2999)[$_] . "&ct=text/plain\"" } 0 .. 5),
'/app/message message #1 seq=7 text "?close=1013 try again later"',
'/app/disconnect disconnect #1 code=1013 by=server', ''
--- error_log
upstream sent invalid "X-WS-Close" header "1004 no"
upstream sent invalid "X-WS-Close" header "1005 no"
upstream sent invalid "X-WS-Close" header "1006 no"
upstream sent invalid "X-WS-Close" header "1015 no"
upstream sent invalid "X-WS-Close" header "1016 no"
upstream sent invalid "X-WS-Close" header "2999 no"
upstream asked to close, closing with 1013
--- no_error_log
[alert]
