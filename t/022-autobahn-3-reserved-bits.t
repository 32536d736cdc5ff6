# Autobahn|Testsuite section 3 (Reserved Bits) as Test::Nginx blocks: one
# block per case, named after the case id, against a ws_echo location.
#
# No extension is negotiated, so any RSV bit fails the connection with 1002
# as soon as the frame is seen; messages before it are still echoed and
# frames after it get no answer.  When a case chops its output octet-wise,
# the octets after the first one of the bad frame go in one write: a second
# write to the closed socket would kill the client with SIGPIPE.
#
# Each block sends the bytes the case sends (split into the same writes where
# the case chops its output) and expects the strict outcome ("OK") for this
# module: echoes and Pongs in order, then the server's Close.  Where the case
# ends normally the client sends Close 1000 and the server echoes it; where
# the server must fail the connection, it sends Close with the code only and
# closes TCP, and the log line naming the violation is checked.  Bodies are
# compared through WsFrame::describe: one line per frame with its header
# bits, header size and length, and the payload (its MD5 above 64 octets).

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;

repeat_each(1);
no_shuffle();
no_long_string();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value(config => <<'_EOC_') unless defined $block->config;
    location /echo {
        websocket;
        ws_echo on;
        ws_max_frame_size 16m;
        ws_max_message_size 16m;
        ws_send_buffer 16m;
    }
_EOC_
});

# per block: the status, the body, and one test per error_log and
# no_error_log line
my $tests = 0;
for my $block (blocks()) {
    $tests += 2;
    for my $log ($block->error_log, $block->no_error_log) {
        $tests += () = ($log // '') =~ /\S.*/g;
    }
}

plan tests => repeat_each() * $tests;

run_tests();

__DATA__

=== TEST 1: case 3.1 text message with RSV = 1 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("Hello, world!", rsv => 1)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: case 3.2 text message, then the same with RSV = 2, then ping
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("Hello, world!")
. WsFrame::ws_text("Hello, world!", rsv => 2)
. WsFrame::ws_ping('')
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("Hello, world!")
  . WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: case 3.3 text message, then the same with RSV = 3, then ping, sent in frame-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::ws_text("Hello, world!"),
 WsFrame::ws_text("Hello, world!", rsv => 3),
 WsFrame::ws_ping('')]
--- raw_request_middle_delay: 0.02
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("Hello, world!")
  . WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 4: case 3.4 text message, then the same with RSV = 4, then ping, sent in octet-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_text("Hello, world!"), 1),
 substr(WsFrame::ws_text("Hello, world!", rsv => 4), 0, 1),
 substr(WsFrame::ws_text("Hello, world!", rsv => 4), 1) . WsFrame::ws_ping('')]
--- raw_request_middle_delay: 0.001
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("Hello, world!")
  . WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 5: case 3.5 binary message with RSV = 5 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary("\x00\xff\xfe\xfd\xfc\xfb\x00\xff", rsv => 5)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 6: case 3.6 frame with RSV = 6 fails the connection (described as a ping, sent as binary)
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary("Hello, world!", rsv => 6)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 7: case 3.7 close frame with RSV = 7 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(undef, undef, rsv => 7)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]
[alert]
[crit]
