# ws_subprotocols and ws_subprotocol_required: the server's order of
# preference wins, offers may be spread over repeated headers and comma lists
# with spaces, tokens match exactly (case-sensitively), no match means no
# Sec-WebSocket-Protocol header, or a 400 when a subprotocol is required.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;

repeat_each(1);

plan tests => repeat_each() * (blocks() * 4);

no_shuffle();
no_long_string();

# refusals were info lines: the tests keep that level (t/130 checks the
# default, error)
config_preamble('ws_security_log_level info;');
run_tests();

__DATA__

=== TEST 1: the server order wins over the client order
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'chat.v1, chat.v2')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat.v2
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 2: the only offered known subprotocol is selected
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'chat.v1')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat.v1
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 3: unknown subprotocols before a known one are skipped
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'foo, chat.v1')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat.v1
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 4: repeated headers: a match in the second header
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws',
    headers => [ 'Sec-WebSocket-Protocol: foo', 'Sec-WebSocket-Protocol: chat.v1' ])
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat.v1
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 5: repeated headers: the server order across headers
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws',
    headers => [ 'Sec-WebSocket-Protocol: chat.v1', 'Sec-WebSocket-Protocol: chat.v2' ])
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat.v2
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 6: a comma list with spaces around the tokens
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => '  foo ,chat.v1 ,  bar ')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat.v1
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 7: a comma list with a tab and no spaces
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => "foo,\tchat.v2,bar")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat.v2
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 8: empty list elements are skipped
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'foo,,chat.v1,')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat.v1
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 9: no match: no Sec-WebSocket-Protocol header
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'foo, bar')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
!Sec-WebSocket-Protocol
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 10: no offer: no Sec-WebSocket-Protocol header
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
!Sec-WebSocket-Protocol
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 11: tokens match case-sensitively
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'Chat.V2, CHAT.V1')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
!Sec-WebSocket-Protocol
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 12: prefixes and extensions of a token do not match
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'chat.v, chat.v22, chat, xchat.v1')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
!Sec-WebSocket-Protocol
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 13: messages are echoed after a subprotocol is selected
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'chat.v1')
. WsFrame::ws_text("after") . WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat.v1
--- response_body eval
WsFrame::srv_text("after") . WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 14: required: no match is refused with 400
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
        ws_subprotocol_required on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'foo, bar')
--- error_code: 400
--- response_headers
!Sec-WebSocket-Protocol
--- error_log
client sent no acceptable subprotocol
--- no_error_log
[error]



=== TEST 15: required: no offer is refused with 400
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
        ws_subprotocol_required on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
--- error_code: 400
--- response_headers
!Sec-WebSocket-Protocol
--- error_log
client sent no acceptable subprotocol
--- no_error_log
[error]



=== TEST 16: required: a match in another case is refused
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
        ws_subprotocol_required on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'CHAT.V1')
--- error_code: 400
--- response_headers
!Sec-WebSocket-Protocol
--- error_log
client sent no acceptable subprotocol
--- no_error_log
[error]



=== TEST 17: required: a match is accepted
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
        ws_subprotocol_required on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws',
    headers => [ 'Sec-WebSocket-Protocol: foo', 'Sec-WebSocket-Protocol: chat.v1' ])
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat.v1
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 18: required off: no match is accepted
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
        ws_subprotocol_required off;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'foo')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
!Sec-WebSocket-Protocol
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 19: without ws_subprotocols nothing is selected
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'chat')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
!Sec-WebSocket-Protocol
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 20: ws_subprotocols at server level applies to the location
--- config
    ws_subprotocols chat.v2 chat.v1;

    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'chat.v1')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat.v1
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 21: ws_subprotocol_required at server level applies to the location
--- config
    ws_subprotocol_required on;

    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'chat.v2')
--- error_code: 400
--- response_headers
!Sec-WebSocket-Protocol
--- error_log
client sent no acceptable subprotocol
--- no_error_log
[error]



=== TEST 22: a location list replaces the server list
--- config
    ws_subprotocols chat.v2;

    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', protocol => 'chat.v2, chat.v1')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat.v1
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
