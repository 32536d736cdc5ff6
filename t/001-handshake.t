# The opening handshake, RFC 6455 section 4.2.1: every client requirement
# with the exact status, headers and info line of a refusal, the exact
# Sec-WebSocket-Accept, the 101 header set, pipelined and split handshakes,
# and the access phase running before the upgrade.
#
# Refusals are sent with "Connection: Upgrade" (raw requests) and still end
# at once: the module disables keep-alive on every refusal, so a block that
# waited for the client timeout would fail with "client socket timed out".

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Client ();
use Test::Nginx::Socket;

# checks made by the --- init section of TEST 37 (once per block, not per
# repetition); its request is an ordinary six-check exchange
use constant KEEPALIVE_TESTS => 5;

repeat_each(1);

# six checks per block; TEST 31 (the 101 header set) has ten
plan tests => repeat_each() * (blocks() * 6 + 4) + KEEPALIVE_TESTS;

no_shuffle();
no_long_string();

# refusals were info lines: the tests keep that level (t/130 checks the
# default, error)
config_preamble('ws_security_log_level info;');

# A handshake as the second request of a keep-alive connection.
sub handshake_after_keepalive {
    my $ws = Test::NgxWs::Client->new(port => $ENV{TEST_NGINX_SERVER_PORT},
                                      path => '/ws', timeout => 2,
                                      handshake => 0);

    $ws->raw_write("GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n");
    $ws->read_handshake;
    Test::More::is($ws->status, 200, 'keep-alive: first response 200');
    Test::More::is($ws->body, "plain\n", 'keep-alive: first response body');

    $ws->handshake(check => 0);
    Test::More::is($ws->error, undef, 'keep-alive: then a valid 101');

    $ws->send_text('again');
    Test::More::is($ws->read_frame->{payload}, 'again',
                   'keep-alive: then an echo');

    $ws->send_close(1000);
    Test::More::is_deeply([ $ws->wait_close ], [ 1000, '' ],
                          'keep-alive: then the close handshake');
}

run_tests();

__DATA__

=== TEST 1: POST is refused with 405 and Allow: GET
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', method => 'POST')
--- error_code: 405
--- response_headers
Allow: GET
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent WebSocket handshake with method other than GET
--- no_error_log
[error]



=== TEST 2: HEAD is refused with 405
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', method => 'HEAD')
--- error_code: 405
--- response_headers
Allow: GET
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent WebSocket handshake with method other than GET
--- no_error_log
[error]



=== TEST 3: OPTIONS is refused with 405
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', method => 'OPTIONS')
--- error_code: 405
--- response_headers
Allow: GET
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent WebSocket handshake with method other than GET
--- no_error_log
[error]



=== TEST 4: a plain GET gets 426 with Upgrade: websocket
--- config
    location /ws { websocket; ws_echo on; }
--- request
GET /ws
--- error_code: 426
--- response_headers
Upgrade: websocket
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent request without WebSocket upgrade
--- no_error_log
[error]



=== TEST 5: a plain keep-alive GET gets 426 and the connection is closed
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
"GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n"
--- error_code: 426
--- response_headers
Upgrade: websocket
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent request without WebSocket upgrade
--- no_error_log
[error]



=== TEST 6: Connection: Upgrade without an Upgrade header, sent with --- request
--- config
    location /ws { websocket; ws_echo on; }
--- request
GET /ws
--- more_headers
Connection: Upgrade
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 426
--- response_headers
Upgrade: websocket
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent request without WebSocket upgrade
--- no_error_log
[error]



=== TEST 7: a handshake over HTTP/1.0 gets 426
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', http => 'HTTP/1.0')
--- error_code: 426
--- response_headers
Upgrade: websocket
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent WebSocket handshake over HTTP/1.0
--- no_error_log
[error]



=== TEST 8: no Upgrade header
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', no_upgrade => 1)
--- error_code: 426
--- response_headers
Upgrade: websocket
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent request without WebSocket upgrade
--- no_error_log
[error]



=== TEST 9: Upgrade to another protocol
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', upgrade => 'h2c')
--- error_code: 426
--- response_headers
Upgrade: websocket
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent request without WebSocket upgrade
--- no_error_log
[error]



=== TEST 10: no Connection header
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', no_connection => 1)
--- error_code: 426
--- response_headers
Upgrade: websocket
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent request without WebSocket upgrade
--- no_error_log
[error]



=== TEST 11: Connection without the upgrade token
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', connection => 'keep-alive')
--- error_code: 426
--- response_headers
Upgrade: websocket
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent request without WebSocket upgrade
--- no_error_log
[error]



=== TEST 12: a Connection token that only contains "upgrade" is not the token
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', connection => 'keep-alive, upgraded')
--- error_code: 426
--- response_headers
Upgrade: websocket
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent request without WebSocket upgrade
--- no_error_log
[error]



=== TEST 13: an Upgrade token that only contains "websocket" is not the token
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', upgrade => 'websocketx')
--- error_code: 426
--- response_headers
Upgrade: websocket
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent request without WebSocket upgrade
--- no_error_log
[error]



=== TEST 14: Connection: keep-alive, Upgrade is accepted
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', connection => 'keep-alive, Upgrade')
. WsFrame::ws_text("t14") . WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
!Content-Length
--- response_body eval
WsFrame::srv_text("t14") . WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 15: header names and tokens in any case
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', no_upgrade => 1, no_connection => 1,
    headers => [ 'upgrade: WebSocket', 'CONNECTION: UPGRADE' ])
. WsFrame::ws_text("t15") . WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
!Content-Length
--- response_body eval
WsFrame::srv_text("t15") . WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 16: the upgrade token in the second of two Connection headers
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', no_connection => 1,
    headers => [ 'Connection: keep-alive', 'Connection: Upgrade' ])
. WsFrame::ws_text("t16") . WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
!Content-Length
--- response_body eval
WsFrame::srv_text("t16") . WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 17: the websocket token in the second of two Upgrade headers
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', no_upgrade => 1,
    headers => [ 'Upgrade: h2c', 'Upgrade: websocket' ])
. WsFrame::ws_text("t17") . WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
!Content-Length
--- response_body eval
WsFrame::srv_text("t17") . WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 18: the websocket token in an Upgrade list
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', upgrade => 'h2c,  WebSocket ')
. WsFrame::ws_text("t18") . WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
!Content-Length
--- response_body eval
WsFrame::srv_text("t18") . WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 19: no Sec-WebSocket-Key
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', no_key => 1)
--- error_code: 400
--- response_headers
Connection: close
!Sec-WebSocket-Accept
!Upgrade
--- error_log
client sent no Sec-WebSocket-Key header
--- no_error_log
[error]



=== TEST 20: a Sec-WebSocket-Key that is not base64
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', key => '!!!!!!!!!!!!!!!!!!!!!!==')
--- error_code: 400
--- response_headers
Connection: close
!Sec-WebSocket-Accept
!Upgrade
--- error_log
client sent invalid Sec-WebSocket-Key header
--- no_error_log
[error]



=== TEST 21: a Sec-WebSocket-Key of 15 bytes
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', key => 'QUFBQUFBQUFBQUFBQUFB')
--- error_code: 400
--- response_headers
Connection: close
!Sec-WebSocket-Accept
!Upgrade
--- error_log
client sent invalid Sec-WebSocket-Key header
--- no_error_log
[error]



=== TEST 22: a Sec-WebSocket-Key of 17 bytes
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', key => 'QUFBQUFBQUFBQUFBQUFBQUE=')
--- error_code: 400
--- response_headers
Connection: close
!Sec-WebSocket-Accept
!Upgrade
--- error_log
client sent invalid Sec-WebSocket-Key header
--- no_error_log
[error]



=== TEST 23: two Sec-WebSocket-Key headers, both valid
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws',
    headers => [ 'Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==' ])
--- error_code: 400
--- response_headers
Connection: close
!Sec-WebSocket-Accept
!Upgrade
--- error_log
client sent duplicate Sec-WebSocket-Key header
--- no_error_log
[error]



=== TEST 24: no Sec-WebSocket-Version
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', no_version => 1)
--- error_code: 426
--- response_headers
Sec-WebSocket-Version: 13
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent no Sec-WebSocket-Version header
--- no_error_log
[error]



=== TEST 25: Sec-WebSocket-Version 8
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', version => 8)
--- error_code: 426
--- response_headers
Sec-WebSocket-Version: 13
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent unsupported Sec-WebSocket-Version "8"
--- no_error_log
[error]



=== TEST 26: Sec-WebSocket-Version "13, 8" is not version 13
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', version => '13, 8')
--- error_code: 426
--- response_headers
Sec-WebSocket-Version: 13
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent unsupported Sec-WebSocket-Version "13, 8"
--- no_error_log
[error]




=== TEST 27: two Sec-WebSocket-Version headers are refused
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Sec-WebSocket-Version: 8'])
--- error_code: 426
--- response_headers
Sec-WebSocket-Version: 13
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent duplicate Sec-WebSocket-Version header
--- no_error_log
[error]



=== TEST 28: a handshake with a Content-Length body gets 400
--- config
    location /ws { websocket; ws_echo on; }
--- request
GET /ws
hello
--- more_headers
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 400
--- response_headers
Connection: close
!Sec-WebSocket-Accept
!Upgrade
--- error_log
client sent WebSocket handshake with a body
--- no_error_log
[error]



=== TEST 29: a handshake with a chunked body gets 400
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => [ 'Transfer-Encoding: chunked' ])
. "5\r\nhello\r\n0\r\n\r\n"
--- error_code: 400
--- response_headers
Connection: close
!Sec-WebSocket-Accept
!Upgrade
--- error_log
client sent WebSocket handshake with a body
--- no_error_log
[error]



=== TEST 30: Sec-WebSocket-Accept for the RFC 6455 sample key
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', key => 'dGhlIHNhbXBsZSBub25jZQ==')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
!Content-Length
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 31: Sec-WebSocket-Accept for another key
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', key => 'x3JJHMbDL1EzLkh9GBhXDw==')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=
!Content-Length
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 32: the 101 header set: no length, no subprotocol or extension not negotiated
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'chat',
    extensions => 'permessage-deflate; client_max_window_bits')
. WsFrame::ws_close(1000)
--- error_code: 101
--- raw_response_headers_like chomp
^HTTP/1\.1 101 Switching Protocols\r\n
--- response_headers
Upgrade: websocket
Connection: upgrade
!Content-Length
!Transfer-Encoding
!Sec-WebSocket-Protocol
!Sec-WebSocket-Extensions
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 33: frames in the same packet as the handshake are processed
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_ping("p") . WsFrame::ws_text("t32")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
!Content-Length
--- response_body eval
WsFrame::srv_pong("p") . WsFrame::srv_text("t32") . WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 34: the handshake split into several packets, a frame split after it
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
my $hs = WsFrame::ws_handshake('/ws');
my $fr = WsFrame::ws_text("t33") . WsFrame::ws_close(1000);
[ substr($hs, 0, 20), substr($hs, 20, 40), substr($hs, 60, length($hs) - 62),
  substr($hs, -2) . substr($fr, 0, 3), substr($fr, 3) ]
--- raw_request_middle_delay: 0.05
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
!Content-Length
--- response_body eval
WsFrame::srv_text("t33") . WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 35: deny all refuses with 403 before the upgrade
--- config
    location /ws { deny all; websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', connection => 'Upgrade, close')
--- error_code: 403
--- response_headers
Connection: close
!Upgrade
!Sec-WebSocket-Accept
--- error_log
access forbidden by rule
--- no_error_log
client sent



=== TEST 36: allow lets the handshake through to the upgrade
--- config
    location /ws { allow 127.0.0.1; deny all; websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("t35") . WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
!Content-Length
--- response_body eval
WsFrame::srv_text("t35") . WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 37: Content-Length: 0 is not a body
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => [ 'Content-Length: 0' ])
. WsFrame::ws_text("t36") . WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
!Content-Length
--- response_body eval
WsFrame::srv_text("t36") . WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 38: a handshake after a plain request on a keep-alive connection
--- config
    location /ws { websocket; ws_echo on; }
    location = /plain { return 200 "plain\n"; }
--- init
main::handshake_after_keepalive();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("t37") . WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
!Content-Length
--- response_body eval
WsFrame::srv_text("t37") . WsFrame::srv_close(1000)
--- no_error_log
[error]
