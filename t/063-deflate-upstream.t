# permessage-deflate with ws_pass: the app gets the messages inflated (it
# never sees DEFLATE), its replies go out compressed, and the answer always
# has server_no_context_takeover (an upstream can subscribe the connection
# to channels, whose frames are compressed without context).

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();

Test::NgxWs::App::start();

repeat_each(1);

plan tests => repeat_each() * Test::NgxWs::App::count_tests(blocks());

no_shuffle();
no_long_string();

our $LONG;
BEGIN { $LONG = 'the app replies with these words ' x 8 }

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'EOF_CONFIG') unless $block->config;
    location /ws {
        websocket;
        ws_deflate on;
        ws_pass /app/message;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
EOF_CONFIG
});

# limits were warn lines (refusals info): the tests keep warn (t/130
# checks the default, error)
config_preamble('ws_security_log_level warn;');

run_tests();

__DATA__

=== TEST 1: compressed messages reach the app inflated, replies are compressed
--- raw_request eval
[WsFrame::ws_handshake('/ws', extensions => 'permessage-deflate')
 . WsFrame::ws_text_z("?body=$main::LONG&ct=text/plain")
 . WsFrame::ws_text("?body=short&ct=text/plain")
 . WsFrame::ws_binary_z("?body=%00%01&ct=application/octet-stream"),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_headers
Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover
--- response_body_filters eval
\&WsFrame::describe_inflated
--- response_body eval
WsFrame::describe(WsFrame::srv_text($main::LONG, rsv => 4)
. WsFrame::srv_text('short')
. WsFrame::srv_binary("\x00\x01")
. WsFrame::srv_close(1000))
--- app_log eval
CORE::join "\n",
"/app/message message #1 seq=1 text len=284 md5="
    . Digest::MD5::md5_hex("?body=$main::LONG&ct=text/plain"),
"/app/message message #1 seq=2 text \"?body=short&ct=text/plain\"",
"/app/message message #1 seq=3 binary \"?body=%00%01&ct=application/octet-stream\"",
""
--- no_error_log
[error]
[alert]



=== TEST 2: a bomb is stopped before the app sees anything of it
--- config
    location /ws {
        websocket;
        ws_deflate on;
        ws_max_message_size 64k;
        ws_pass /app/message;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => 'permessage-deflate')
. WsFrame::ws_binary_z("\x00" x (1024 * 1024))
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1009)
--- app_log
--- error_log
client sent too large message after inflating, closing with 1009
--- no_error_log
[error]
[alert]
