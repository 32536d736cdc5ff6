# The application subscribes and unsubscribes a connection: X-WS-Subscribe
# and X-WS-Unsubscribe in an event's reply act on channels of the
# location's zone.  The location publishes every client message to the
# channel "news" (ws_publish), so a client hears its own messages exactly
# while it is subscribed to "news".
# With ws_presence, such an unsubscription is a presence leave.

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

    $block->set_value('http_config', <<'EOF_CONFIG')
    ws_zone chat 1m;
EOF_CONFIG
        unless $block->http_config;
});

run_tests();

__DATA__

=== TEST 1: the connect event's reply subscribes the connection
--- config
    location /ws {
        websocket;
        ws_publish chat news;
        ws_on_connect /app/connect;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }

    location = /app/connect {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/app/connect?status=204&hdr=X-WS-Subscribe:news;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws'),
 WsFrame::ws_text('hello'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hello') . WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
/app/disconnect disconnect #1 code=1000 by=client
--- no_error_log
[error]
[alert]



=== TEST 2: without the header, nothing is heard
--- config
    location /ws {
        websocket;
        ws_publish chat news;
        ws_on_connect /app/connect;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }

    location = /app/connect {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/app/connect?status=204;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws'),
 WsFrame::ws_text('hello'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
/app/disconnect disconnect #1 code=1000 by=client
--- no_error_log
[error]
[alert]



=== TEST 3: a message event's reply unsubscribes it: later messages are not heard
--- config
    location /ws {
        websocket;
        ws_subscribe chat news;
        ws_publish chat news;
        ws_pass /app/message;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?status=204&hdr=X-WS-Unsubscribe:news'),
 WsFrame::ws_text('after'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('?status=204&hdr=X-WS-Unsubscribe:news')
. WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?status=204&hdr=X-WS-Unsubscribe:news"
/app/message message #1 seq=2 text "after"
--- no_error_log
[error]
[alert]



=== TEST 4: without a zone in the location, a subscription is refused with a log line
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
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?body=ok&ct=text/plain&hdr=X-WS-Subscribe:news'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?body=ok&ct=text/plain&hdr=X-WS-Subscribe:news"
--- error_log
upstream asked to subscribe to "news", but the location has no ws_zone
--- no_error_log
[alert]



=== TEST 5: an unsubscription by the application is a presence leave, reason "leave"
--- http_config
    ws_zone chat 1m presence_events=companion:.presence;
--- config
    location /ws {
        websocket;
        ws_presence $arg_user;
        ws_subscribe chat news.presence;
        ws_subscribe chat news;
        ws_pass /app/message;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws?user=alice'),
 WsFrame::ws_text('?status=204&hdr=X-WS-Unsubscribe:news'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('{"event":"join","channel":"news","member":"alice"}')
. WsFrame::srv_text('{"event":"leave","channel":"news","member":"alice","reason":"leave"}')
. WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?status=204&hdr=X-WS-Unsubscribe:news"
--- no_error_log
[error]
[alert]
