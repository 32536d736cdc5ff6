# Autobahn|Testsuite section 1 (Framing) as Test::Nginx blocks: one
# block per case, named after the case id, against a ws_echo location.
#
# Text and binary messages of 0 to 65536 bytes, across the 7-bit, 16-bit and
# 64-bit length encodings; the echo must use the same (minimal) encoding.
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

=== TEST 1: case 1.1.1 text message with payload 0
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text('')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('')
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 2: case 1.1.2 text message with payload 125
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text('*' x 125)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x 125)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 3: case 1.1.3 text message with payload 126
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text('*' x 126)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x 126)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 4: case 1.1.4 text message with payload 127
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text('*' x 127)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x 127)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 5: case 1.1.5 text message with payload 128
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text('*' x 128)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x 128)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 6: case 1.1.6 text message with payload 65535
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text('*' x 65535)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x 65535)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 7: case 1.1.7 text message with payload 65536
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text('*' x 65536)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x 65536)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 8: case 1.1.8 text message with payload 65536 sent in chops of 997 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_text('*' x 65536), 997),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.001
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x 65536)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 9: case 1.2.1 binary message with payload 0
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary('')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary('')
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 10: case 1.2.2 binary message with payload 125
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary("\xfe" x 125)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary("\xfe" x 125)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 11: case 1.2.3 binary message with payload 126
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary("\xfe" x 126)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary("\xfe" x 126)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 12: case 1.2.4 binary message with payload 127
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary("\xfe" x 127)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary("\xfe" x 127)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 13: case 1.2.5 binary message with payload 128
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary("\xfe" x 128)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary("\xfe" x 128)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 14: case 1.2.6 binary message with payload 65535
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary("\xfe" x 65535)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary("\xfe" x 65535)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 15: case 1.2.7 binary message with payload 65536
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary("\xfe" x 65536)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary("\xfe" x 65536)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 16: case 1.2.8 binary message with payload 65536 sent in chops of 997 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_binary("\xfe" x 65536), 997),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.001
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary("\xfe" x 65536)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent
