# Autobahn|Testsuite section 5 (Fragmentation) as Test::Nginx blocks: one
# block per case, named after the case id, against a ws_echo location.
#
# Fragmented messages are reassembled and echoed as one frame, control frames
# in between are answered at once, and the byte stream may be split anywhere.
# Fragmented control frames, continuations with no message and a new data
# frame inside a message fail the connection with 1002.  When a case chops its
# output octet-wise past the frame that fails the connection, the rest goes
# in one write: a second write to the closed socket would kill the client
# with SIGPIPE.
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

=== TEST 1: case 5.1 ping fragmented into 2 fragments fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_ping("fragment1", fin => 0)
. WsFrame::ws_cont("fragment2")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent fragmented control frame, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: case 5.2 pong fragmented into 2 fragments fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_pong("fragment1", fin => 0)
. WsFrame::ws_cont("fragment2")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent fragmented control frame, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: case 5.3 text message fragmented into 2 fragments
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("fragment1", fin => 0)
. WsFrame::ws_cont("fragment2")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("fragment1fragment2")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 4: case 5.4 text message fragmented into 2 fragments, sent in frame-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::ws_text("fragment1", fin => 0),
 WsFrame::ws_cont("fragment2"),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.02
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("fragment1fragment2")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 5: case 5.5 text message fragmented into 2 fragments, sent in octet-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_text("fragment1", fin => 0), 1),
 WsFrame::chop_bytes(WsFrame::ws_cont("fragment2"), 1),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.001
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("fragment1fragment2")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 6: case 5.6 text message in 2 fragments with a ping in between
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("fragment1", fin => 0)
. WsFrame::ws_ping("ping payload")
. WsFrame::ws_cont("fragment2")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_pong("ping payload")
  . WsFrame::srv_text("fragment1fragment2")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 7: case 5.7 text message in 2 fragments with a ping in between, sent in frame-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::ws_text("fragment1", fin => 0),
 WsFrame::ws_ping("ping payload"),
 WsFrame::ws_cont("fragment2"),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.02
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_pong("ping payload")
  . WsFrame::srv_text("fragment1fragment2")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 8: case 5.8 text message in 2 fragments with a ping in between, sent in octet-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_text("fragment1", fin => 0), 1),
 WsFrame::chop_bytes(WsFrame::ws_ping("ping payload"), 1),
 WsFrame::chop_bytes(WsFrame::ws_cont("fragment2"), 1),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.001
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_pong("ping payload")
  . WsFrame::srv_text("fragment1fragment2")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 9: case 5.9 continuation frame with FIN = 1 and nothing to continue, then text message, sent in one chop
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_cont("non-continuation payload", fin => 1)
. WsFrame::ws_text("Hello, world!")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent continuation frame without a message, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 10: case 5.10 continuation frame with FIN = 1 and nothing to continue, then text message, sent in frame-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::ws_cont("non-continuation payload", fin => 1),
 WsFrame::ws_text("Hello, world!")]
--- raw_request_middle_delay: 0.02
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent continuation frame without a message, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 11: case 5.11 continuation frame with FIN = 1 and nothing to continue, then text message, sent in octet-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 substr(WsFrame::ws_cont("non-continuation payload", fin => 1), 0, 1),
 substr(WsFrame::ws_cont("non-continuation payload", fin => 1), 1) . WsFrame::ws_text("Hello, world!")]
--- raw_request_middle_delay: 0.001
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent continuation frame without a message, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 12: case 5.12 continuation frame with FIN = 0 and nothing to continue, then text message, sent in one chop
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_cont("non-continuation payload", fin => 0)
. WsFrame::ws_text("Hello, world!")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent continuation frame without a message, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 13: case 5.13 continuation frame with FIN = 0 and nothing to continue, then text message, sent in frame-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::ws_cont("non-continuation payload", fin => 0),
 WsFrame::ws_text("Hello, world!")]
--- raw_request_middle_delay: 0.02
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent continuation frame without a message, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 14: case 5.14 continuation frame with FIN = 0 and nothing to continue, then text message, sent in octet-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 substr(WsFrame::ws_cont("non-continuation payload", fin => 0), 0, 1),
 substr(WsFrame::ws_cont("non-continuation payload", fin => 0), 1) . WsFrame::ws_text("Hello, world!")]
--- raw_request_middle_delay: 0.001
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent continuation frame without a message, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 15: case 5.15 text message in 2 fragments, then continuation with nothing to continue, then text message
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("fragment1", fin => 0)
. WsFrame::ws_cont("fragment2")
. WsFrame::ws_cont("fragment3", fin => 0)
. WsFrame::ws_text("fragment4")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("fragment1fragment2")
  . WsFrame::srv_close(1002))
--- error_log
client sent continuation frame without a message, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 16: case 5.16 2x: continuation with FIN = 0 and nothing to continue, then text message in 2 fragments
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (map { WsFrame::ws_cont("fragment1", fin => 0), WsFrame::ws_text("fragment2", fin => 0), WsFrame::ws_cont("fragment3") } 1 .. 2)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent continuation frame without a message, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 17: case 5.17 2x: continuation with FIN = 1 and nothing to continue, then text message in 2 fragments
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (map { WsFrame::ws_cont("fragment1"), WsFrame::ws_text("fragment2", fin => 0), WsFrame::ws_cont("fragment3") } 1 .. 2)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent continuation frame without a message, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 18: case 5.18 text message in 2 fragments, both with the text opcode
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("fragment1", fin => 0)
. WsFrame::ws_text("fragment2")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent new data frame inside a fragmented message, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 19: case 5.19 text message in 5 fragments with 2 pings in between, the second half sent later
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::ws_text("fragment1", fin => 0)
 . WsFrame::ws_cont("fragment2", fin => 0)
 . WsFrame::ws_ping("pongme 1!"),
 WsFrame::ws_cont("fragment3", fin => 0)
 . WsFrame::ws_cont("fragment4", fin => 0)
 . WsFrame::ws_ping("pongme 2!")
 . WsFrame::ws_cont("fragment5")
 . WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_pong("pongme 1!")
  . WsFrame::srv_pong("pongme 2!")
  . WsFrame::srv_text("fragment1fragment2fragment3fragment4fragment5")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 20: case 5.20 text message in 5 fragments with 2 pings in between, sent in frame-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::ws_text("fragment1", fin => 0),
 WsFrame::ws_cont("fragment2", fin => 0),
 WsFrame::ws_ping("pongme 1!"),
 WsFrame::ws_cont("fragment3", fin => 0),
 WsFrame::ws_cont("fragment4", fin => 0),
 WsFrame::ws_ping("pongme 2!"),
 WsFrame::ws_cont("fragment5"),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.05
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_pong("pongme 1!")
  . WsFrame::srv_pong("pongme 2!")
  . WsFrame::srv_text("fragment1fragment2fragment3fragment4fragment5")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent
