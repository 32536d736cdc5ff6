# Autobahn|Testsuite section 7 (Close Handling) as Test::Nginx blocks: one
# block per case, named after the case id, against a ws_echo location.
#
# A Close is answered with a Close carrying the client's code (no reason, an
# empty Close gets an empty Close) and everything after it is ignored.  Bad
# Close payloads (1 octet, over 125 octets, reason not UTF-8, codes outside
# 1000-4999 or reserved) fail the connection with 1002.  7.13 is
# informational in the suite; this module's answer is 1002.
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

=== TEST 1: case 7.1.1 text message followed by close
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("Hello World!")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("Hello World!")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 2: case 7.1.2 two close frames: the second is ignored
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1000)
. WsFrame::ws_close()
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 3: case 7.1.3 ping after close is not answered
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1000)
. WsFrame::ws_ping('')
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 4: case 7.1.4 text message after close is ignored
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1000)
. WsFrame::ws_text("Hello World!")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 5: case 7.1.5 fragment, close, then the last fragment: the message is dropped
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("fragment1", fin => 0)
. WsFrame::ws_close(1000)
. WsFrame::ws_cont("fragment2")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 6: case 7.1.6 256 KiB message, small message, close and ping sent back to back
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text(WsFrame::repeat_to('BAsd7&jh23', 256 * 1024))
. WsFrame::ws_text("Hello World!")
. WsFrame::ws_close(1000)
. WsFrame::ws_ping('')
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text(WsFrame::repeat_to('BAsd7&jh23', 256 * 1024))
  . WsFrame::srv_text("Hello World!")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 7: case 7.3.1 close with empty payload is answered with an empty close
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close()
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close())
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 8: case 7.3.2 close with a 1-octet payload fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::frame(opcode => 8, payload => 'a')
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent close frame with 1-byte payload, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 9: case 7.3.3 close with code 1000
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 10: case 7.3.4 close with code 1000 and a reason: the answer has the code only
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1000, "Hello World!")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 11: case 7.3.5 close with code 1000 and a reason of 123 octets (payload 125)
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1000, '*' x 123)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 12: case 7.3.6 close with code 1000 and a reason of 124 octets (payload 126) fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1000, '*' x 124)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent too long control frame, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 13: case 7.5.1 close with a reason that is not UTF-8 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent close frame with invalid UTF-8 reason, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 14: case 7.7.1 close with valid code 1000 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 15: case 7.7.2 close with valid code 1001 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1001)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1001))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 16: case 7.7.3 close with valid code 1002 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1002)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 17: case 7.7.4 close with valid code 1003 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1003)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1003))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 18: case 7.7.5 close with valid code 1007 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1007)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 19: case 7.7.6 close with valid code 1008 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1008)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1008))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 20: case 7.7.7 close with valid code 1009 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1009)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1009))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 21: case 7.7.8 close with valid code 1010 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1010)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1010))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 22: case 7.7.9 close with valid code 1011 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1011)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1011))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 23: case 7.7.10 close with valid code 3000 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(3000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(3000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 24: case 7.7.11 close with valid code 3999 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(3999)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(3999))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 25: case 7.7.12 close with valid code 4000 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(4000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(4000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 26: case 7.7.13 close with valid code 4999 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(4999)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(4999))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 27: case 7.9.1 close with invalid code 0 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(0)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent close frame with invalid code 0, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 28: case 7.9.2 close with invalid code 999 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(999)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent close frame with invalid code 999, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 29: case 7.9.3 close with invalid code 1004 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1004)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent close frame with invalid code 1004, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 30: case 7.9.4 close with invalid code 1005 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1005)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent close frame with invalid code 1005, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 31: case 7.9.5 close with invalid code 1006 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1006)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent close frame with invalid code 1006, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 32: case 7.9.6 close with invalid code 1016 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1016)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent close frame with invalid code 1016, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 33: case 7.9.7 close with invalid code 1100 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(1100)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent close frame with invalid code 1100, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 34: case 7.9.8 close with invalid code 2000 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(2000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent close frame with invalid code 2000, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 35: case 7.9.9 close with invalid code 2999 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(2999)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent close frame with invalid code 2999, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 36: case 7.13.1 close with code 5000 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(5000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent close frame with invalid code 5000, closing with 1002
--- no_error_log
[error]
[alert]
[crit]



=== TEST 37: case 7.13.2 close with code 65535 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_close(65535)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1002))
--- error_log
client sent close frame with invalid code 65535, closing with 1002
--- no_error_log
[error]
[alert]
[crit]
