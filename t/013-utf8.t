# UTF-8 in text messages (RFC 6455 section 8.1, RFC 3629): valid sequences of
# every length, sequences split across fragments and TCP packets, and each
# kind of invalid sequence, which gets a Close frame with code 1007.  The
# check runs as the bytes arrive: a bad byte is refused before the rest of its
# frame or message is sent.  Binary messages and control frames are not
# checked.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;

$SIG{PIPE} = 'IGNORE';

repeat_each(1);

plan tests => repeat_each() * (blocks() * 4);

no_shuffle();
no_long_string();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /ws {
        websocket;
        ws_echo on;
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: valid text: 2-byte sequences from U+0080 to U+07FF
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("\xc2\x80 \xc3\xa9 \xdf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text("\xc2\x80 \xc3\xa9 \xdf\xbf") . "\x88\x02\x03\xe8"
--- no_error_log
[error]
invalid UTF-8



=== TEST 2: valid text: 3-byte sequences from U+0800 to U+FFFF
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("\xe0\xa0\x80 \xe2\x82\xac \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbd \xef\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text("\xe0\xa0\x80 \xe2\x82\xac \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbd \xef\xbf\xbf") . "\x88\x02\x03\xe8"
--- no_error_log
[error]
invalid UTF-8



=== TEST 3: valid text: 4-byte sequences from U+10000 to U+10FFFF
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("\xf0\x90\x80\x80 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text("\xf0\x90\x80\x80 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf") . "\x88\x02\x03\xe8"
--- no_error_log
[error]
invalid UTF-8



=== TEST 4: valid text: ASCII with NUL and DEL
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("\x00\x01 \x7f")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text("\x00\x01 \x7f") . "\x88\x02\x03\xe8"
--- no_error_log
[error]
invalid UTF-8



=== TEST 5: valid text: noncharacters U+FDD0 and U+FFFE are valid UTF-8
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("\xef\xb7\x90\xef\xbf\xbe")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text("\xef\xb7\x90\xef\xbf\xbe") . "\x88\x02\x03\xe8"
--- no_error_log
[error]
invalid UTF-8



=== TEST 6: valid text: a 4-byte code point split across four fragments
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text("a\xf0", fin => 0)
. WsFrame::ws_cont("\x9f", fin => 0)
. WsFrame::ws_cont("\x98", fin => 0)
. WsFrame::ws_cont("\x80b")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text("a\xf0\x9f\x98\x80b") . "\x88\x02\x03\xe8"
--- no_error_log
[error]
invalid UTF-8



=== TEST 7: valid text: a 3-byte code point split across fragments with a ping between
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text("\xe2\x82", fin => 0)
. WsFrame::ws_ping("\xff")
. WsFrame::ws_cont("\xac")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_pong("\xff") . WsFrame::srv_text("\xe2\x82\xac") . "\x88\x02\x03\xe8"
--- no_error_log
[error]
invalid UTF-8



=== TEST 8: valid text: code points split across TCP packets inside one frame
--- raw_request eval
my $f = WsFrame::ws_text("x\xe2\x82\xacy\xf0\x9f\x98\x80z");
[ WsFrame::ws_handshake('/ws'),
  substr($f, 0, 6 + 2), substr($f, 8, 1), substr($f, 9, 3), substr($f, 12),
  WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.03
--- error_code: 101
--- response_body eval
WsFrame::srv_text("x\xe2\x82\xacy\xf0\x9f\x98\x80z") . "\x88\x02\x03\xe8"
--- no_error_log
[error]
invalid UTF-8



=== TEST 9: valid text: a code point split across fragments and packets
--- raw_request eval
[ WsFrame::ws_handshake('/ws'),
  WsFrame::ws_text("\xf4\x8f", fin => 0),
  WsFrame::ws_cont("\xbf", fin => 0),
  WsFrame::ws_cont("\xbf!"),
  WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.03
--- error_code: 101
--- response_body eval
WsFrame::srv_text("\xf4\x8f\xbf\xbf!") . "\x88\x02\x03\xe8"
--- no_error_log
[error]
invalid UTF-8



=== TEST 10: binary messages are not checked for UTF-8
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_binary("\xc0\xaf\xed\xa0\x80\xf5\xff\xfe\x80")
. WsFrame::ws_binary("\xe2\x82", fin => 0)
. WsFrame::ws_cont("\xff")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_binary("\xc0\xaf\xed\xa0\x80\xf5\xff\xfe\x80")
. WsFrame::srv_binary("\xe2\x82\xff") . "\x88\x02\x03\xe8"
--- no_error_log
[error]
invalid UTF-8



=== TEST 11: ping and pong payloads are not checked for UTF-8
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_ping("\xc0\xff\xed\xa0\x80")
. WsFrame::ws_pong("\xff")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_pong("\xc0\xff\xed\xa0\x80") . "\x88\x02\x03\xe8"
--- no_error_log
[error]
invalid UTF-8



=== TEST 12: invalid text: an overlong 2-byte form C0 AF
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xc0\xaf")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 13: invalid text: an overlong 2-byte form C1 BF
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xc1\xbf")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 14: invalid text: an overlong 3-byte form E0 80 AF
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xe0\x80\xaf")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 15: invalid text: an overlong 3-byte form E0 9F BF
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xe0\x9f\xbf")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 16: invalid text: an overlong 4-byte form F0 80 80 AF
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xf0\x80\x80\xaf")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 17: invalid text: an overlong 4-byte form F0 8F BF BF
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xf0\x8f\xbf\xbf")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 18: invalid text: the surrogate U+D800
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("a\xed\xa0\x80")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 19: invalid text: the surrogate U+DFFF
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xed\xbf\xbf")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 20: invalid text: a surrogate pair in CESU-8 form
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xed\xa0\xbd\xed\xb8\x80")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 21: invalid text: U+110000, above U+10FFFF
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xf4\x90\x80\x80")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 22: invalid text: the lead byte F5
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xf5\x80\x80\x80")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 23: invalid text: the lead byte F7
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xf7\xbf\xbf\xbf")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 24: invalid text: a 5-byte sequence
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xf8\x88\x80\x80\x80")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 25: invalid text: a 6-byte sequence
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xfc\x84\x80\x80\x80\x80")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 26: invalid text: the byte FE
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xfe")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 27: invalid text: the byte FF
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("xyz\xff")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 28: invalid text: a stray continuation byte
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\x80")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 29: invalid text: a stray continuation byte between ASCII
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("a\xbfb")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 30: invalid text: a continuation byte after a complete sequence
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xc3\xa9\xa9")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 31: invalid text: a lead byte followed by ASCII
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xc3a")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 32: invalid text: a 3-byte sequence cut by ASCII
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xe2\x82a")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 33: invalid text: a 3-byte sequence truncated at the end of the message
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("abc\xe2\x82")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 34: invalid text: a 4-byte sequence truncated at the end of the message
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xf0\x9f\x98")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 35: invalid text: a sequence truncated at the end of a fragmented message
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("ok\xe2", fin => 0) . WsFrame::ws_cont("\x82")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 36: invalid text: invalid UTF-8 in the second fragment
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text('valid', fin => 0) . WsFrame::ws_cont("\xff")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 37: invalid text: a surrogate split across fragments
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xed", fin => 0) . WsFrame::ws_cont("\xa0\x80")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 38: invalid text: a continuation byte starting the next message
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text("\xe2\x82\xac") . WsFrame::ws_text("\xac")
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . WsFrame::srv_text("\xe2\x82\xac") . "\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 39: fail fast: a bad byte in an unfinished fragmented message
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("ab\xc0", fin => 0)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 40: fail fast: a bad byte in the first part of a frame, the rest never sent
--- raw_request eval
my $p = "valid text \xff" . ('.' x 88);
WsFrame::ws_handshake('/ws') . substr(WsFrame::ws_text($p), 0, 2 + 4 + 20)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 41: fail fast: an overlong form is refused at its second byte
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("\xe0\x80", fin => 0)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 42: fail fast: a surrogate is refused at its second byte
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("\xed\xa0", fin => 0)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 43: fail fast: a code point above U+10FFFF is refused at its second byte
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("\xf4\x90", fin => 0)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 44: fail fast: the rest of the message arrives later and is not echoed
--- raw_request eval
[ WsFrame::ws_handshake('/ws') . WsFrame::ws_text("\xf5", fin => 0),
  WsFrame::ws_cont("rest") . WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.3
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xef"
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]
