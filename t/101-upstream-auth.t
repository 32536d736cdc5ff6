# ws_auth_request and ws_auth_pass_header with a real authentication
# service (t/backends/app.js /auth, by the Authorization header: alice and
# carol get 200, bob 204, expired and no token 401 with WWW-Authenticate,
# banned 403, teapot 418, broken 500), and the headers it passes on to the
# events the application receives (--- app_log, see Test::NgxWs::App).

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Channels ();
use Test::NgxWs::Client ();

Test::NgxWs::App::start();

repeat_each(1);

plan tests => repeat_each() * Test::NgxWs::App::count_tests(blocks());

no_shuffle();
no_long_string();

# refusals were info lines: the tests keep that level (t/130 checks the
# default, error)
config_preamble('ws_security_log_level info;');

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'EOF_CONFIG') unless $block->config;
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_auth_pass_header x-role;
        ws_auth_pass_header X-Group;
        ws_on_connect /app/connect;
        ws_pass /app/message;
        ws_on_disconnect /app/disconnect;
    }

    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/auth;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
EOF_CONFIG
});

run_tests();


# TEST 19: a room the auth service refuses is neither joined nor replayed.
# Two checks.
sub refused_room {
    for my $room ('secret', 'lobby') {
        Test::NgxWs::Channels::http('POST', "/pub?channel=room:$room",
                                    body => "news of $room",
                                    type => 'text/plain');
    }

    my $c = Test::NgxWs::Client->new(
        path => '/ws?room=secret&last_id=0', check => 0, timeout => 3,
        headers => ['Authorization' => 'Bearer alice']);
    Test::More::is($c->status // 0, 403, 'the refused room gets 403');
    $c->close;

    my $r = Test::NgxWs::Channels::http('GET', '/pub?channel=room:secret');
    Test::More::like($r->{body}, qr/"subscribers":0\b/,
                     'nobody joined the refused room');
}

__DATA__

=== TEST 1: 200 from the auth service: upgraded, and the named headers reach every event
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer alice'])
. WsFrame::ws_text('hi') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_headers: authorization x-user x-role x-secret
--- app_log
GET /auth authorization="Bearer alice" x-user=- x-role=- x-secret=-
/app/connect connect #1 authorization="Bearer alice" x-user="alice" x-role="admin" x-secret=-
/app/message message #1 seq=1 text "hi" authorization="Bearer alice" x-user="alice" x-role="admin" x-secret=-
/app/disconnect disconnect #1 code=1000 by=client authorization="Bearer alice" x-user="alice" x-role="admin" x-secret=-
--- no_error_log
[error]
[alert]



=== TEST 2: 204 accepts too; a header the auth response lacks is not added
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer bob'])
. WsFrame::ws_text('hi') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_headers: x-user x-role
--- app_log
GET /auth x-user=- x-role=-
/app/connect connect #1 x-user="bob" x-role=-
/app/message message #1 seq=1 text "hi" x-user="bob" x-role=-
/app/disconnect disconnect #1 code=1000 by=client x-user="bob" x-role=-
--- no_error_log
[error]
[alert]



=== TEST 3: a header the auth service sends twice is passed twice
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer carol'])
. WsFrame::ws_text('hi') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_headers: x-user x-group
--- app_log
GET /auth x-user=- x-group=-
/app/connect connect #1 x-user="carol" x-group="admins" x-group="staff"
/app/message message #1 seq=1 text "hi" x-user="carol" x-group="admins" x-group="staff"
/app/disconnect disconnect #1 code=1000 by=client x-user="carol" x-group="admins" x-group="staff"
--- no_error_log
[error]
[alert]



=== TEST 4: a client cannot pose as another user: its own copy of a passed header is not forwarded
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer bob',
                                         'X-User: alice', 'X-Role: admin'])
. WsFrame::ws_text('hi') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_headers: x-user x-role
--- app_log
GET /auth x-user="alice" x-role="admin"
/app/connect connect #1 x-user="bob" x-role=-
/app/message message #1 seq=1 text "hi" x-user="bob" x-role=-
/app/disconnect disconnect #1 code=1000 by=client x-user="bob" x-role=-
--- no_error_log
[error]
[alert]



=== TEST 5: no credentials: 401 with the service's WWW-Authenticate, no upgrade, no event
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('hi')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="chat"
Connection: close
!Upgrade
--- response_body_like: 401 Authorization Required
--- app_headers: authorization
--- app_log
GET /auth authorization=-
--- no_error_log
[error]
[alert]



=== TEST 6: a rejected token: 401 with the service's own WWW-Authenticate
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer expired'])
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
Connection: close
--- app_log
GET /auth
--- no_error_log
[error]
[alert]



=== TEST 7: 403 from the auth service is returned
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer banned'])
--- error_code: 403
--- response_headers
!WWW-Authenticate
Connection: close
--- response_body_like: 403 Forbidden
--- app_log
GET /auth
--- no_error_log
[error]
[alert]



=== TEST 8: any other status from the auth service is a 500
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer teapot'])
--- error_code: 500
--- response_headers
Connection: close
--- app_log
GET /auth
--- error_log
ws auth request unexpected status: 418
--- no_error_log
[alert]



=== TEST 9: a 500 from the auth service is a 500
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer broken'])
--- error_code: 500
--- response_headers
Connection: close
--- app_log
GET /auth
--- error_log
ws auth request unexpected status: 500
--- no_error_log
[alert]



=== TEST 10: the auth service cannot be reached: 500, nginx's and the module's error lines
--- config
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_on_connect /app/connect;
    }

    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DOWN_PORT/auth;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer alice'])
--- error_code: 500
--- response_headers
Connection: close
--- app_log
--- app_wait: 0.3
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
ws auth request unexpected status: 502
--- no_error_log
[alert]



=== TEST 11: the auth service is too slow: proxy_read_timeout, 500
--- config
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_on_connect /app/connect;
    }

    location = /auth {
        internal;
        proxy_read_timeout 200ms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/auth-slow?delay=1000;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer alice'])
--- error_code: 500
--- response_headers
Connection: close
--- app_log
GET /auth-slow
--- error_log
upstream timed out (110: Connection timed out) while reading response header from upstream
ws auth request unexpected status: 504
--- no_error_log
[alert]



=== TEST 12: authentication comes before the handshake checks: a bad handshake without credentials gets 401
--- raw_request eval
WsFrame::ws_handshake('/ws', no_key => 1)
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="chat"
--- app_log
GET /auth
--- no_error_log
client sent no Sec-WebSocket-Key header
[error]



=== TEST 13: ... and a bad handshake with good credentials gets the handshake's answer
--- raw_request eval
WsFrame::ws_handshake('/ws', no_key => 1, headers => ['Authorization: Bearer alice'])
--- error_code: 400
--- app_log
GET /auth
--- error_log
client sent no Sec-WebSocket-Key header
--- no_error_log
[error]
[alert]



=== TEST 14: a plain HTTP request to the endpoint is authenticated too, then refused with 426
--- request
GET /ws
--- more_headers
Authorization: Bearer alice
--- error_code: 426
--- response_headers
Upgrade: websocket
--- app_log
GET /auth
--- error_log
client sent request without WebSocket upgrade
--- no_error_log
[error]
[alert]



=== TEST 15: ws_auth_request off in a location turns off an inherited one
--- config
    ws_auth_request /auth;

    location /ws {
        websocket;
        ws_auth_request off;
        ws_on_connect /app/connect;
    }

    location /private {
        websocket;
        ws_on_connect /app/connect;
    }

    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/auth;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
--- no_error_log
[error]
[alert]



=== TEST 16: ... and the inherited one applies where it is not turned off
--- config
    ws_auth_request /auth;

    location /ws {
        websocket;
        ws_auth_request off;
        ws_on_connect /app/connect;
    }

    location /private {
        websocket;
        ws_on_connect /app/connect;
    }

    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/auth;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/private') . WsFrame::ws_close(1000)
--- error_code: 401
--- app_log
GET /auth
--- no_error_log
[error]
[alert]



=== TEST 17: ws_auth_request does nothing in a location that is not a WebSocket endpoint
--- config
    ws_auth_request /auth;

    location = /t {
        return 200 "plain\n";
    }

    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/auth;
    }
--- request
GET /t
--- response_body
plain
--- app_log
--- app_wait: 0.3
--- no_error_log
[error]
[alert]



=== TEST 18: the auth service sees the channels to be joined and published to, percent-encoded, never the client's own
--- http_config
    ws_zone chat 1m;
--- config
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_subscribe chat room:$arg_room news;
        ws_publish chat room:$arg_room;
    }

    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/auth;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws?room=a%2Cb', headers => ['Authorization: Bearer alice',
                                                    'X-WS-Subscribe: secret',
                                                    'x-ws-publish: secret'])
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_headers: x-ws-subscribe x-ws-publish
--- app_log
GET /auth x-ws-subscribe="room:a%252Cb,news" x-ws-publish="room:a%252Cb"
--- no_error_log
[error]
[alert]



=== TEST 19: a channel the auth service refuses: 403, nothing joined, no history; an allowed one is joined with its history
--- http_config
    ws_zone chat 1m;
--- config
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_subscribe chat room:$arg_room;
    }

    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/auth?allow=room:lobby;
    }

    location = /pub {
        allow 127.0.0.1;
        deny all;
        ws_publisher chat;
    }
--- init
main::refused_room();
--- init_tests: 2
--- raw_request eval
WsFrame::ws_handshake('/ws?room=lobby&last_id=0',
                      headers => ['Authorization: Bearer alice'])
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('news of lobby') . WsFrame::srv_close(1000)
--- app_headers: x-ws-subscribe
--- app_log
GET /auth x-ws-subscribe="room:secret"
GET /auth x-ws-subscribe="room:lobby"
--- no_error_log
[error]
[alert]



=== TEST 20: with underscores_in_headers, "X_User" and "X_WS_*" headers of the client reach no event
--- http_config
    underscores_in_headers on;
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer bob',
                                         'X_User: alice', 'x_role: admin',
                                         'X_WS_Connection_Id: forged',
                                         'X_WS_Event: disconnect'])
. WsFrame::ws_text('hi') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_headers: x-user x_user x_role x_ws_connection_id x_ws_event
--- app_log
GET /auth x-user=- x_user="alice" x_role="admin" x_ws_connection_id=- x_ws_event=-
/app/connect connect #1 x-user="bob" x_user=- x_role=- x_ws_connection_id=- x_ws_event=-
/app/message message #1 seq=1 text "hi" x-user="bob" x_user=- x_role=- x_ws_connection_id=- x_ws_event=-
/app/disconnect disconnect #1 code=1000 by=client x-user="bob" x_user=- x_role=- x_ws_connection_id=- x_ws_event=-
--- no_error_log
[error]
[alert]
