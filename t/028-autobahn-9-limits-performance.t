# Autobahn|Testsuite section 9 (Limits/Performance) as Test::Nginx blocks: one
# block per case, named after the case id, against a ws_echo location.
#
# Messages of 64 KiB to 16 MiB (with ws_max_frame_size and
# ws_max_message_size 16m), 4 MiB messages in fragments of 64 octets to
# 4 MiB, 1 MiB frames split into writes of 64 to 2048 octets (written back to
# back; the kernel may merge them), and 1000 messages of 0 to 4096 octets
# (pipelined here; the suite waits for each echo to time the round trip).
# The suite's 9.9.1 (an endless message) is not in its case list and is not
# here.
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

=== TEST 1: case 9.1.1 text message of 64 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text(WsFrame::repeat_to('BAsd7&jh23', 64 * 1024))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text(WsFrame::repeat_to('BAsd7&jh23', 64 * 1024))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 2: case 9.1.2 text message of 256 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text(WsFrame::repeat_to('BAsd7&jh23', 256 * 1024))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text(WsFrame::repeat_to('BAsd7&jh23', 256 * 1024))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 3: case 9.1.3 text message of 1 MiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text(WsFrame::repeat_to('BAsd7&jh23', 2**20))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text(WsFrame::repeat_to('BAsd7&jh23', 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 4: case 9.1.4 text message of 4 MiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text(WsFrame::repeat_to('BAsd7&jh23', 4 * 2**20))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text(WsFrame::repeat_to('BAsd7&jh23', 4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 5: case 9.1.5 text message of 8 MiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text(WsFrame::repeat_to('BAsd7&jh23', 8 * 2**20))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text(WsFrame::repeat_to('BAsd7&jh23', 8 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 6: case 9.1.6 text message of 16 MiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text(WsFrame::repeat_to('BAsd7&jh23', 16 * 2**20))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text(WsFrame::repeat_to('BAsd7&jh23', 16 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 7: case 9.2.1 binary message of 64 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 64 * 1024))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 64 * 1024))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 8: case 9.2.2 binary message of 256 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 256 * 1024))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 256 * 1024))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 9: case 9.2.3 binary message of 1 MiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 10: case 9.2.4 binary message of 4 MiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 4 * 2**20))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 11: case 9.2.5 binary message of 8 MiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 8 * 2**20))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 8 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 12: case 9.2.6 binary message of 16 MiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 16 * 2**20))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 16 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 13: case 9.3.1 text message of 4 MiB in fragments of 64
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(1, '*' x (4 * 2**20), 64)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 14: case 9.3.2 text message of 4 MiB in fragments of 256
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(1, '*' x (4 * 2**20), 256)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 15: case 9.3.3 text message of 4 MiB in fragments of 1 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(1, '*' x (4 * 2**20), 1024)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 16: case 9.3.4 text message of 4 MiB in fragments of 4 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(1, '*' x (4 * 2**20), 4 * 1024)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 17: case 9.3.5 text message of 4 MiB in fragments of 16 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(1, '*' x (4 * 2**20), 16 * 1024)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 18: case 9.3.6 text message of 4 MiB in fragments of 64 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(1, '*' x (4 * 2**20), 64 * 1024)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 19: case 9.3.7 text message of 4 MiB in fragments of 256 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(1, '*' x (4 * 2**20), 256 * 1024)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 20: case 9.3.8 text message of 4 MiB in fragments of 1 MiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(1, '*' x (4 * 2**20), 2**20)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 21: case 9.3.9 text message of 4 MiB in fragments of 4 MiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(1, '*' x (4 * 2**20), 4 * 2**20)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 22: case 9.4.1 binary message of 4 MiB in fragments of 64
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(2, "\xfe" x (4 * 2**20), 64)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary("\xfe" x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 23: case 9.4.2 binary message of 4 MiB in fragments of 256
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(2, '*' x (4 * 2**20), 256)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 24: case 9.4.3 binary message of 4 MiB in fragments of 1 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(2, '*' x (4 * 2**20), 1024)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 25: case 9.4.4 binary message of 4 MiB in fragments of 4 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(2, '*' x (4 * 2**20), 4 * 1024)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 26: case 9.4.5 binary message of 4 MiB in fragments of 16 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(2, '*' x (4 * 2**20), 16 * 1024)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 27: case 9.4.6 binary message of 4 MiB in fragments of 64 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(2, '*' x (4 * 2**20), 64 * 1024)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 28: case 9.4.7 binary message of 4 MiB in fragments of 256 KiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(2, '*' x (4 * 2**20), 256 * 1024)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 29: case 9.4.8 binary message of 4 MiB in fragments of 1 MiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(2, '*' x (4 * 2**20), 2**20)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 30: case 9.4.9 binary message of 4 MiB in fragments of 4 MiB
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(2, '*' x (4 * 2**20), 4 * 2**20)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary('*' x (4 * 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 31: case 9.5.1 text message of 1 MiB sent in chops of 64 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_text(WsFrame::repeat_to('BAsd7&jh23', 2**20)), 64),
 WsFrame::ws_close(1000)]
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text(WsFrame::repeat_to('BAsd7&jh23', 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 32: case 9.5.2 text message of 1 MiB sent in chops of 128 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_text(WsFrame::repeat_to('BAsd7&jh23', 2**20)), 128),
 WsFrame::ws_close(1000)]
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text(WsFrame::repeat_to('BAsd7&jh23', 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 33: case 9.5.3 text message of 1 MiB sent in chops of 256 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_text(WsFrame::repeat_to('BAsd7&jh23', 2**20)), 256),
 WsFrame::ws_close(1000)]
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text(WsFrame::repeat_to('BAsd7&jh23', 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 34: case 9.5.4 text message of 1 MiB sent in chops of 512 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_text(WsFrame::repeat_to('BAsd7&jh23', 2**20)), 512),
 WsFrame::ws_close(1000)]
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text(WsFrame::repeat_to('BAsd7&jh23', 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 35: case 9.5.5 text message of 1 MiB sent in chops of 1024 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_text(WsFrame::repeat_to('BAsd7&jh23', 2**20)), 1024),
 WsFrame::ws_close(1000)]
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text(WsFrame::repeat_to('BAsd7&jh23', 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 36: case 9.5.6 text message of 1 MiB sent in chops of 2048 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_text(WsFrame::repeat_to('BAsd7&jh23', 2**20)), 2048),
 WsFrame::ws_close(1000)]
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text(WsFrame::repeat_to('BAsd7&jh23', 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 37: case 9.6.1 binary message of 1 MiB sent in chops of 64 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20)), 64),
 WsFrame::ws_close(1000)]
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 38: case 9.6.2 binary message of 1 MiB sent in chops of 128 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20)), 128),
 WsFrame::ws_close(1000)]
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 39: case 9.6.3 binary message of 1 MiB sent in chops of 256 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20)), 256),
 WsFrame::ws_close(1000)]
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 40: case 9.6.4 binary message of 1 MiB sent in chops of 512 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20)), 512),
 WsFrame::ws_close(1000)]
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 41: case 9.6.5 binary message of 1 MiB sent in chops of 1024 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20)), 1024),
 WsFrame::ws_close(1000)]
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 42: case 9.6.6 binary message of 1 MiB sent in chops of 2048 octets
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::chop_bytes(WsFrame::ws_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20)), 2048),
 WsFrame::ws_close(1000)]
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_binary(WsFrame::repeat_to("\x00\xfe\x23\xfa\xf0", 2**20))
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 43: case 9.7.1 1000 text messages of 0 octets
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (WsFrame::ws_text('')) x 1000,
    WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (WsFrame::srv_text('')) x 1000,
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 44: case 9.7.2 1000 text messages of 16 octets
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (WsFrame::ws_text('*' x 16)) x 1000,
    WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (WsFrame::srv_text('*' x 16)) x 1000,
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 45: case 9.7.3 1000 text messages of 64 octets
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (WsFrame::ws_text('*' x 64)) x 1000,
    WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (WsFrame::srv_text('*' x 64)) x 1000,
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 46: case 9.7.4 1000 text messages of 256 octets
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (WsFrame::ws_text('*' x 256)) x 1000,
    WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (WsFrame::srv_text('*' x 256)) x 1000,
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 47: case 9.7.5 1000 text messages of 1024 octets
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (WsFrame::ws_text('*' x 1024)) x 1000,
    WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (WsFrame::srv_text('*' x 1024)) x 1000,
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 48: case 9.7.6 1000 text messages of 4096 octets
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (WsFrame::ws_text('*' x 4096)) x 1000,
    WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (WsFrame::srv_text('*' x 4096)) x 1000,
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 49: case 9.8.1 1000 binary messages of 0 octets
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (WsFrame::ws_binary('')) x 1000,
    WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (WsFrame::srv_binary('')) x 1000,
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 50: case 9.8.2 1000 binary messages of 16 octets
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (WsFrame::ws_binary("\xfe" x 16)) x 1000,
    WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (WsFrame::srv_binary("\xfe" x 16)) x 1000,
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 51: case 9.8.3 1000 binary messages of 64 octets
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (WsFrame::ws_binary("\xfe" x 64)) x 1000,
    WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (WsFrame::srv_binary("\xfe" x 64)) x 1000,
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 52: case 9.8.4 1000 binary messages of 256 octets
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (WsFrame::ws_binary("\xfe" x 256)) x 1000,
    WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (WsFrame::srv_binary("\xfe" x 256)) x 1000,
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 53: case 9.8.5 1000 binary messages of 1024 octets
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (WsFrame::ws_binary("\xfe" x 1024)) x 1000,
    WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (WsFrame::srv_binary("\xfe" x 1024)) x 1000,
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 54: case 9.8.6 1000 binary messages of 4096 octets
--- raw_request eval
CORE::join '', WsFrame::ws_handshake('/echo'),
    (WsFrame::ws_binary("\xfe" x 4096)) x 1000,
    WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    CORE::join '', (WsFrame::srv_binary("\xfe" x 4096)) x 1000,
        WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent
