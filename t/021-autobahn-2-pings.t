# Autobahn|Testsuite section 2 (Pings/Pongs) as Test::Nginx blocks: one
# block per case, named after the case id, against a ws_echo location.
#
# Every Ping gets a Pong with the same payload, in order, also when the
# Ping arrives one octet at a time; unsolicited Pongs are ignored; a Ping
# with more than 125 octets fails the connection with 1002.
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

=== TEST 1: case 2.1 ping without payload
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_ping('')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_pong('')
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 2: case 2.2 ping with small text payload
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_ping("Hello, world!")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_pong("Hello, world!")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 3: case 2.3 ping with small binary (non UTF-8) payload
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_ping("\x00\xff\xfe\xfd\xfc\xfb\x00\xff")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_pong("\x00\xff\xfe\xfd\xfc\xfb\x00\xff")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 4: case 2.4 ping with binary payload of 125 octets
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_ping("\xfe" x 125)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_pong("\xfe" x 125)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 5: case 2.5 ping with binary payload of 126 octets fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_ping("\xfe" x 126)
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



=== TEST 6: case 2.6 ping with payload of 125 octets sent in octet-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_ping("\xfe" x 125), 1),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.001
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_pong("\xfe" x 125)
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 7: case 2.7 unsolicited pong without payload is ignored
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_pong('')
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



=== TEST 8: case 2.8 unsolicited pong with payload is ignored
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_pong("unsolicited pong payload")
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



=== TEST 9: case 2.9 unsolicited pong, then ping: only the ping is answered
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_pong("unsolicited pong payload")
. WsFrame::ws_ping("ping payload")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_pong("ping payload")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 10: case 2.10 10 pings with payload are all answered in order
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (map { WsFrame::ws_ping("payload-$_") } 0 .. 9),
    WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (map { WsFrame::srv_pong("payload-$_") } 0 .. 9),
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 11: case 2.11 10 pings with payload sent in octet-wise chops
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 (map { WsFrame::chop_bytes(WsFrame::ws_ping("payload-$_"), 1) } 0 .. 9),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.001
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (map { WsFrame::srv_pong("payload-$_") } 0 .. 9),
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent
