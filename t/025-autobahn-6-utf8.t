# Autobahn|Testsuite section 6 (UTF-8 Handling) as Test::Nginx blocks: one
# block per case, named after the case id, against a ws_echo location.
#
# Text messages must be valid UTF-8 (RFC 3629: no overlong forms, no
# surrogates, nothing above U+10FFFF; non-characters are valid), checked
# across fragments and split code points, failing with 1007 at the first bad
# octet.  6.4 checks fail-fast: the write after the bad octet leaves the
# message incomplete, so the Close can only come from the early check.
# 6.5 - 6.23 are the decoder vectors, one text message each.
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

=== TEST 1: case 6.1.1 text message of length 0
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



=== TEST 2: case 6.1.2 text message in 3 fragments of length 0
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text('', fin => 0)
. WsFrame::ws_cont('', fin => 0)
. WsFrame::ws_cont('')
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



=== TEST 3: case 6.1.3 text message in 3 fragments, only the middle one non-empty
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text('', fin => 0)
. WsFrame::ws_cont("middle frame payload", fin => 0)
. WsFrame::ws_cont('')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("middle frame payload")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 4: case 6.2.1 valid UTF-8 text message in one fragment
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("Hello-\xc2\xb5\x40\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("Hello-\xc2\xb5\x40\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 5: case 6.2.2 valid UTF-8 text message in 2 fragments split on a code point boundary
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("Hello-\xc2\xb5\x40\xc3\x9f\xc3\xb6\xc3\xa4", fin => 0)
. WsFrame::ws_cont("\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("Hello-\xc2\xb5\x40\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 6: case 6.2.3 valid UTF-8 text message in fragments of 1 octet
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(1, "Hello-\xc2\xb5\x40\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", 1)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("Hello-\xc2\xb5\x40\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 7: case 6.2.4 valid UTF-8 text message (Greek) in fragments of 1 octet
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(1, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 1)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 8: case 6.3.1 invalid UTF-8 text message in one fragment
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 9: case 6.3.2 invalid UTF-8 text message in fragments of 1 octet
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_fragments(1, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", 1)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 10: case 6.4.1 fail fast: 3 frames, the 2nd makes the text invalid (U+110000), the 3rd never ends
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", fin => 0),
 WsFrame::ws_cont("\xf4\x90\x80\x80", fin => 0),
 substr(WsFrame::ws_cont("edited"), 0, -1)]
--- raw_request_middle_delay: 0.1
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 11: case 6.4.2 fail fast: 3 frames, the 2nd is just the invalid octet, the 3rd never ends
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4", fin => 0),
 WsFrame::ws_cont("\x90", fin => 0),
 substr(WsFrame::ws_cont("\x80\x80edited"), 0, -1)]
--- raw_request_middle_delay: 0.1
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 12: case 6.4.3 fail fast: one frame in 3 writes, the 2nd makes the text invalid, the 3rd never ends
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 substr(WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited"), 0, 6 + 11),
 substr(WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited"), 17, 4),
 substr(WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited"), 21, -1)]
--- raw_request_middle_delay: 0.1
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 13: case 6.4.4 fail fast: one frame in 3 writes, the 2nd is just the invalid octet, the 3rd never ends
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 substr(WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited"), 0, 6 + 12),
 substr(WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited"), 18, 1),
 substr(WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited"), 19, -1)]
--- raw_request_middle_delay: 0.1
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 14: case 6.5.1 some valid UTF-8 sequences: valid text 0x68656c6c6f24776f726c64 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("hello\x24world")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("hello\x24world")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 15: case 6.5.2 some valid UTF-8 sequences: valid text 0x68656c6c6fc2a2776f726c64 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("hello\xc2\xa2world")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("hello\xc2\xa2world")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 16: case 6.5.3 some valid UTF-8 sequences: valid text 0x68656c6c6fe282ac776f726c64 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("hello\xe2\x82\xacworld")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("hello\xe2\x82\xacworld")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 17: case 6.5.4 some valid UTF-8 sequences: valid text 0x68656c6c6ff0a4ada2776f726c64 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("hello\xf0\xa4\xad\xa2world")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("hello\xf0\xa4\xad\xa2world")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 18: case 6.5.5 some valid UTF-8 sequences: valid text 0xcebae1bdb9cf83cebcceb5 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 19: case 6.6.1 all prefixes of a valid UTF-8 string that contains multi-byte code points: invalid text 0xce fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xce")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 20: case 6.6.2 all prefixes of a valid UTF-8 string that contains multi-byte code points: valid text 0xceba is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xce\xba")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xce\xba")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 21: case 6.6.3 all prefixes of a valid UTF-8 string that contains multi-byte code points: invalid text 0xcebae1 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xce\xba\xe1")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 22: case 6.6.4 all prefixes of a valid UTF-8 string that contains multi-byte code points: invalid text 0xcebae1bd fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xce\xba\xe1\xbd")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 23: case 6.6.5 all prefixes of a valid UTF-8 string that contains multi-byte code points: valid text 0xcebae1bdb9 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xce\xba\xe1\xbd\xb9")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xce\xba\xe1\xbd\xb9")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 24: case 6.6.6 all prefixes of a valid UTF-8 string that contains multi-byte code points: invalid text 0xcebae1bdb9cf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 25: case 6.6.7 all prefixes of a valid UTF-8 string that contains multi-byte code points: valid text 0xcebae1bdb9cf83 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xce\xba\xe1\xbd\xb9\xcf\x83")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 26: case 6.6.8 all prefixes of a valid UTF-8 string that contains multi-byte code points: invalid text 0xcebae1bdb9cf83ce fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 27: case 6.6.9 all prefixes of a valid UTF-8 string that contains multi-byte code points: valid text 0xcebae1bdb9cf83cebc is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 28: case 6.6.10 all prefixes of a valid UTF-8 string that contains multi-byte code points: invalid text 0xcebae1bdb9cf83cebcce fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 29: case 6.6.11 all prefixes of a valid UTF-8 string that contains multi-byte code points: valid text 0xcebae1bdb9cf83cebcceb5 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 30: case 6.7.1 first possible sequence of a certain length: valid text 0x00 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\x00")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\x00")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 31: case 6.7.2 first possible sequence of a certain length: valid text 0xc280 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xc2\x80")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xc2\x80")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 32: case 6.7.3 first possible sequence of a certain length: valid text 0xe0a080 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xe0\xa0\x80")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xe0\xa0\x80")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 33: case 6.7.4 first possible sequence of a certain length: valid text 0xf0908080 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf0\x90\x80\x80")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf0\x90\x80\x80")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 34: case 6.8.1 first possible sequence length 5/6 (invalid codepoints): invalid text 0xf888808080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf8\x88\x80\x80\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 35: case 6.8.2 first possible sequence length 5/6 (invalid codepoints): invalid text 0xfc8480808080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xfc\x84\x80\x80\x80\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 36: case 6.9.1 last possible sequence of a certain length: valid text 0x7f is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\x7f")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\x7f")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 37: case 6.9.2 last possible sequence of a certain length: valid text 0xdfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xdf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xdf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 38: case 6.9.3 last possible sequence of a certain length: valid text 0xefbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xef\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xef\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 39: case 6.9.4 last possible sequence of a certain length: valid text 0xf48fbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf4\x8f\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf4\x8f\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 40: case 6.10.1 last possible sequence length 4/5/6 (invalid codepoints): invalid text 0xf7bfbfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf7\xbf\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 41: case 6.10.2 last possible sequence length 4/5/6 (invalid codepoints): invalid text 0xfbbfbfbfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xfb\xbf\xbf\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 42: case 6.10.3 last possible sequence length 4/5/6 (invalid codepoints): invalid text 0xfdbfbfbfbfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xfd\xbf\xbf\xbf\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 43: case 6.11.1 other boundary conditions: valid text 0xed9fbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\x9f\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xed\x9f\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 44: case 6.11.2 other boundary conditions: valid text 0xee8080 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xee\x80\x80")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xee\x80\x80")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 45: case 6.11.3 other boundary conditions: valid text 0xefbfbd is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xef\xbf\xbd")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xef\xbf\xbd")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 46: case 6.11.4 other boundary conditions: valid text 0xf48fbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf4\x8f\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf4\x8f\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 47: case 6.11.5 other boundary conditions: invalid text 0xf4908080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf4\x90\x80\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 48: case 6.12.1 unexpected continuation bytes: invalid text 0x80 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 49: case 6.12.2 unexpected continuation bytes: invalid text 0xbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 50: case 6.12.3 unexpected continuation bytes: invalid text 0x80bf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\x80\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 51: case 6.12.4 unexpected continuation bytes: invalid text 0x80bf80 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\x80\xbf\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 52: case 6.12.5 unexpected continuation bytes: invalid text 0x80bf80bf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\x80\xbf\x80\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 53: case 6.12.6 unexpected continuation bytes: invalid text 0x80bf80bf80 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\x80\xbf\x80\xbf\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 54: case 6.12.7 unexpected continuation bytes: invalid text 0x80bf80bf80bf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\x80\xbf\x80\xbf\x80\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 55: case 6.12.8 unexpected continuation bytes: invalid text 0x808182838485868788898a8b... fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text(CORE::join '', map { chr } 0x80 .. 0xbe)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 56: case 6.13.1 lonely start characters: invalid text 0xc020c120c220c320c420c520... fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text(CORE::join '', map { chr($_) . ' ' } 0xc0 .. 0xde)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 57: case 6.13.2 lonely start characters: invalid text 0xe020e120e220e320e420e520... fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text(CORE::join '', map { chr($_) . ' ' } 0xe0 .. 0xee)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 58: case 6.13.3 lonely start characters: invalid text 0xf020f120f220f320f420f520f620 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text(CORE::join '', map { chr($_) . ' ' } 0xf0 .. 0xf6)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 59: case 6.13.4 lonely start characters: invalid text 0xf820f920fa20 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text(CORE::join '', map { chr($_) . ' ' } 0xf8 .. 0xfa)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 60: case 6.13.5 lonely start characters: invalid text 0xfc20 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text(CORE::join '', map { chr($_) . ' ' } 0xfc .. 0xfc)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 61: case 6.14.1 sequences with last continuation byte missing: invalid text 0xc0 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xc0")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 62: case 6.14.2 sequences with last continuation byte missing: invalid text 0xe080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xe0\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 63: case 6.14.3 sequences with last continuation byte missing: invalid text 0xf08080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf0\x80\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 64: case 6.14.4 sequences with last continuation byte missing: invalid text 0xf8808080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf8\x80\x80\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 65: case 6.14.5 sequences with last continuation byte missing: invalid text 0xfc80808080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xfc\x80\x80\x80\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 66: case 6.14.6 sequences with last continuation byte missing: invalid text 0xdf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xdf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 67: case 6.14.7 sequences with last continuation byte missing: invalid text 0xefbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xef\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 68: case 6.14.8 sequences with last continuation byte missing: invalid text 0xf7bfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf7\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 69: case 6.14.9 sequences with last continuation byte missing: invalid text 0xfbbfbfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xfb\xbf\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 70: case 6.14.10 sequences with last continuation byte missing: invalid text 0xfdbfbfbfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xfd\xbf\xbf\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 71: case 6.15.1 concatenation of incomplete sequences: invalid text 0xc0e080f08080f8808080fc80... fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 72: case 6.16.1 impossible bytes: invalid text 0xfe fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xfe")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 73: case 6.16.2 impossible bytes: invalid text 0xff fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xff")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 74: case 6.16.3 impossible bytes: invalid text 0xfefeffff fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xfe\xfe\xff\xff")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 75: case 6.17.1 examples of an overlong ASCII character: invalid text 0xc0af fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xc0\xaf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 76: case 6.17.2 examples of an overlong ASCII character: invalid text 0xe080af fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xe0\x80\xaf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 77: case 6.17.3 examples of an overlong ASCII character: invalid text 0xf08080af fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf0\x80\x80\xaf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 78: case 6.17.4 examples of an overlong ASCII character: invalid text 0xf8808080af fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf8\x80\x80\x80\xaf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 79: case 6.17.5 examples of an overlong ASCII character: invalid text 0xfc80808080af fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xfc\x80\x80\x80\x80\xaf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 80: case 6.18.1 maximum overlong sequences: invalid text 0xc1bf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xc1\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 81: case 6.18.2 maximum overlong sequences: invalid text 0xe09fbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xe0\x9f\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 82: case 6.18.3 maximum overlong sequences: invalid text 0xf08fbfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf0\x8f\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 83: case 6.18.4 maximum overlong sequences: invalid text 0xf887bfbfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf8\x87\xbf\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 84: case 6.18.5 maximum overlong sequences: invalid text 0xfc83bfbfbfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xfc\x83\xbf\xbf\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 85: case 6.19.1 overlong representation of the NUL character: invalid text 0xc080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xc0\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 86: case 6.19.2 overlong representation of the NUL character: invalid text 0xe08080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xe0\x80\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 87: case 6.19.3 overlong representation of the NUL character: invalid text 0xf0808080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf0\x80\x80\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 88: case 6.19.4 overlong representation of the NUL character: invalid text 0xf880808080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf8\x80\x80\x80\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 89: case 6.19.5 overlong representation of the NUL character: invalid text 0xfc8080808080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xfc\x80\x80\x80\x80\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 90: case 6.20.1 single UTF-16 surrogates: invalid text 0xeda080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xa0\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 91: case 6.20.2 single UTF-16 surrogates: invalid text 0xedadbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xad\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 92: case 6.20.3 single UTF-16 surrogates: invalid text 0xedae80 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xae\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 93: case 6.20.4 single UTF-16 surrogates: invalid text 0xedafbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xaf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 94: case 6.20.5 single UTF-16 surrogates: invalid text 0xedb080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xb0\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 95: case 6.20.6 single UTF-16 surrogates: invalid text 0xedbe80 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xbe\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 96: case 6.20.7 single UTF-16 surrogates: invalid text 0xedbfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 97: case 6.21.1 paired UTF-16 surrogates: invalid text 0xeda080edb080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xa0\x80\xed\xb0\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 98: case 6.21.2 paired UTF-16 surrogates: invalid text 0xeda080edbfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xa0\x80\xed\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 99: case 6.21.3 paired UTF-16 surrogates: invalid text 0xedadbfedb080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xad\xbf\xed\xb0\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 100: case 6.21.4 paired UTF-16 surrogates: invalid text 0xedadbfedbfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xad\xbf\xed\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 101: case 6.21.5 paired UTF-16 surrogates: invalid text 0xedae80edb080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xae\x80\xed\xb0\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 102: case 6.21.6 paired UTF-16 surrogates: invalid text 0xedae80edbfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xae\x80\xed\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 103: case 6.21.7 paired UTF-16 surrogates: invalid text 0xedafbfedb080 fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xaf\xbf\xed\xb0\x80")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 104: case 6.21.8 paired UTF-16 surrogates: invalid text 0xedafbfedbfbf fails the connection
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xed\xaf\xbf\xed\xbf\xbf")
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
[alert]
[crit]



=== TEST 105: case 6.22.1 non-character code points (valid UTF-8): valid text 0xefbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xef\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xef\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 106: case 6.22.2 non-character code points (valid UTF-8): valid text 0xefbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xef\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xef\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 107: case 6.22.3 non-character code points (valid UTF-8): valid text 0xf09fbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf0\x9f\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf0\x9f\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 108: case 6.22.4 non-character code points (valid UTF-8): valid text 0xf09fbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf0\x9f\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf0\x9f\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 109: case 6.22.5 non-character code points (valid UTF-8): valid text 0xf0afbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf0\xaf\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf0\xaf\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 110: case 6.22.6 non-character code points (valid UTF-8): valid text 0xf0afbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf0\xaf\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf0\xaf\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 111: case 6.22.7 non-character code points (valid UTF-8): valid text 0xf0bfbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf0\xbf\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf0\xbf\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 112: case 6.22.8 non-character code points (valid UTF-8): valid text 0xf0bfbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf0\xbf\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf0\xbf\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 113: case 6.22.9 non-character code points (valid UTF-8): valid text 0xf18fbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf1\x8f\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf1\x8f\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 114: case 6.22.10 non-character code points (valid UTF-8): valid text 0xf18fbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf1\x8f\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf1\x8f\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 115: case 6.22.11 non-character code points (valid UTF-8): valid text 0xf19fbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf1\x9f\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf1\x9f\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 116: case 6.22.12 non-character code points (valid UTF-8): valid text 0xf19fbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf1\x9f\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf1\x9f\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 117: case 6.22.13 non-character code points (valid UTF-8): valid text 0xf1afbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf1\xaf\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf1\xaf\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 118: case 6.22.14 non-character code points (valid UTF-8): valid text 0xf1afbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf1\xaf\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf1\xaf\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 119: case 6.22.15 non-character code points (valid UTF-8): valid text 0xf1bfbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf1\xbf\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf1\xbf\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 120: case 6.22.16 non-character code points (valid UTF-8): valid text 0xf1bfbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf1\xbf\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf1\xbf\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 121: case 6.22.17 non-character code points (valid UTF-8): valid text 0xf28fbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf2\x8f\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf2\x8f\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 122: case 6.22.18 non-character code points (valid UTF-8): valid text 0xf28fbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf2\x8f\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf2\x8f\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 123: case 6.22.19 non-character code points (valid UTF-8): valid text 0xf29fbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf2\x9f\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf2\x9f\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 124: case 6.22.20 non-character code points (valid UTF-8): valid text 0xf29fbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf2\x9f\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf2\x9f\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 125: case 6.22.21 non-character code points (valid UTF-8): valid text 0xf2afbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf2\xaf\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf2\xaf\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 126: case 6.22.22 non-character code points (valid UTF-8): valid text 0xf2afbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf2\xaf\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf2\xaf\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 127: case 6.22.23 non-character code points (valid UTF-8): valid text 0xf2bfbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf2\xbf\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf2\xbf\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 128: case 6.22.24 non-character code points (valid UTF-8): valid text 0xf2bfbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf2\xbf\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf2\xbf\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 129: case 6.22.25 non-character code points (valid UTF-8): valid text 0xf38fbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf3\x8f\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf3\x8f\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 130: case 6.22.26 non-character code points (valid UTF-8): valid text 0xf38fbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf3\x8f\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf3\x8f\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 131: case 6.22.27 non-character code points (valid UTF-8): valid text 0xf39fbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf3\x9f\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf3\x9f\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 132: case 6.22.28 non-character code points (valid UTF-8): valid text 0xf39fbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf3\x9f\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf3\x9f\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 133: case 6.22.29 non-character code points (valid UTF-8): valid text 0xf3afbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf3\xaf\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf3\xaf\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 134: case 6.22.30 non-character code points (valid UTF-8): valid text 0xf3afbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf3\xaf\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf3\xaf\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 135: case 6.22.31 non-character code points (valid UTF-8): valid text 0xf3bfbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf3\xbf\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf3\xbf\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 136: case 6.22.32 non-character code points (valid UTF-8): valid text 0xf3bfbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf3\xbf\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf3\xbf\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 137: case 6.22.33 non-character code points (valid UTF-8): valid text 0xf48fbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf4\x8f\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf4\x8f\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 138: case 6.22.34 non-character code points (valid UTF-8): valid text 0xf48fbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xf4\x8f\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xf4\x8f\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 139: case 6.23.1 unicode specials (i.e. replacement char): valid text 0xefbfb9 is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xef\xbf\xb9")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xef\xbf\xb9")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 140: case 6.23.2 unicode specials (i.e. replacement char): valid text 0xefbfba is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xef\xbf\xba")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xef\xbf\xba")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 141: case 6.23.3 unicode specials (i.e. replacement char): valid text 0xefbfbb is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xef\xbf\xbb")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xef\xbf\xbb")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 142: case 6.23.4 unicode specials (i.e. replacement char): valid text 0xefbfbc is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xef\xbf\xbc")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xef\xbf\xbc")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 143: case 6.23.5 unicode specials (i.e. replacement char): valid text 0xefbfbd is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xef\xbf\xbd")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xef\xbf\xbd")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 144: case 6.23.6 unicode specials (i.e. replacement char): valid text 0xefbfbe is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xef\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xef\xbf\xbe")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent



=== TEST 145: case 6.23.7 unicode specials (i.e. replacement char): valid text 0xefbfbf is echoed
--- raw_request eval
WsFrame::ws_handshake('/echo')
. WsFrame::ws_text("\xef\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe
--- response_body eval
WsFrame::describe(
    WsFrame::srv_text("\xef\xbf\xbf")
  . WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
[crit]
client sent
