# Autobahn|Testsuite section 4 (Opcodes) as Test::Nginx blocks: one
# block per case, named after the case id, against a ws_echo location.
#
# Reserved opcodes (3-7 non-control, 11-15 control) fail the connection with
# 1002; a message before the bad frame is echoed, a ping after it is not
# answered.  When a case chops its output octet-wise, the octets after the
# first one of the bad frame go in one write: a second write to the closed
# socket would kill the client with SIGPIPE.
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

=== TEST 1: case 4.1.1 frame with reserved non-control opcode 3 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::frame(opcode => 3)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved opcode 3, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: case 4.1.2 frame with reserved non-control opcode 4 and payload fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::frame(opcode => 4, payload => "reserved opcode payload")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved opcode 4, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: case 4.1.3 text message, then reserved non-control opcode 5, then ping
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("Hello, world!")
. WsFrame::frame(opcode => 5)
. WsFrame::ws_ping('')
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("Hello, world!")
  . WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved opcode 5, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 4: case 4.1.4 text message, then reserved non-control opcode 6 with payload, then ping
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("Hello, world!")
. WsFrame::frame(opcode => 6, payload => "Hello, world!")
. WsFrame::ws_ping('')
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("Hello, world!")
  . WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved opcode 6, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 5: case 4.1.5 text message, then reserved non-control opcode 7 with payload, then ping, in octet-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_text("Hello, world!"), 1),
 substr(WsFrame::frame(opcode => 7, payload => "Hello, world!"), 0, 1),
 substr(WsFrame::frame(opcode => 7, payload => "Hello, world!"), 1) . WsFrame::ws_ping('')]
--- raw_request_middle_delay: 0.001
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("Hello, world!")
  . WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved opcode 7, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 6: case 4.2.1 frame with reserved control opcode 11 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::frame(opcode => 11)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved opcode 11, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 7: case 4.2.2 frame with reserved control opcode 12 and payload fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::frame(opcode => 12, payload => "reserved opcode payload")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved opcode 12, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 8: case 4.2.3 text message, then reserved control opcode 13, then ping
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("Hello, world!")
. WsFrame::frame(opcode => 13)
. WsFrame::ws_ping('')
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("Hello, world!")
  . WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved opcode 13, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 9: case 4.2.4 text message, then reserved control opcode 14 with payload, then ping
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("Hello, world!")
. WsFrame::frame(opcode => 14, payload => "Hello, world!")
. WsFrame::ws_ping('')
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("Hello, world!")
  . WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved opcode 14, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 10: case 4.2.5 text message, then reserved control opcode 15 with payload, then ping, in octet-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_text("Hello, world!"), 1),
 substr(WsFrame::frame(opcode => 15, payload => "Hello, world!"), 0, 1),
 substr(WsFrame::frame(opcode => 15, payload => "Hello, world!"), 1) . WsFrame::ws_ping('')]
--- raw_request_middle_delay: 0.001
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("Hello, world!")
  . WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved opcode 15, closing with 1002
--- no_error_log
[error]
[alert]
[crit]
