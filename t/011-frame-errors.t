# Protocol violations in single frames (RFC 6455 section 5): each one gets a
# Close frame with code 1002 and nothing else, one info line in the log, and
# the connection closed at once.  The frame before the bad one is echoed;
# nothing after it is (not a data frame, not a ping).

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;

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


# Sets the top bit of the 64-bit length of a frame in the 64-bit form.
sub top_bit {
    my ($frame) = @_;
    substr($frame, 2, 1) = chr(ord(substr($frame, 2, 1)) | 0x80);
    return $frame;
}

__DATA__

=== TEST 1: an unmasked text frame
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_text('x', masked => 0)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent unmasked frame, closing with 1002
--- no_error_log
[error]



=== TEST 2: an unmasked ping
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_ping('x', masked => 0)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent unmasked frame, closing with 1002
--- no_error_log
[error]



=== TEST 3: an unmasked close frame
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_close(1000, undef, masked => 0)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent unmasked frame, closing with 1002
--- no_error_log
[error]



=== TEST 4: RSV1 on a text frame
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_text('x', rsv => 4)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]



=== TEST 5: RSV2 on a text frame
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_text('x', rsv => 2)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]



=== TEST 6: RSV3 on a text frame
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_text('x', rsv => 1)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]



=== TEST 7: RSV1 on a ping
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_ping('x', rsv => 4)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]



=== TEST 8: RSV2 on a continuation frame
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_text('x', fin => 0) . WsFrame::ws_cont('y', rsv => 2)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]



=== TEST 9: reserved opcode 3
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::frame(opcode => 3, payload => 'x')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved opcode 3, closing with 1002
--- no_error_log
[error]



=== TEST 10: reserved opcode 4
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::frame(opcode => 4, payload => 'x')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved opcode 4, closing with 1002
--- no_error_log
[error]



=== TEST 11: reserved opcode 5
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::frame(opcode => 5, payload => 'x')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved opcode 5, closing with 1002
--- no_error_log
[error]



=== TEST 12: reserved opcode 6
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::frame(opcode => 6, payload => 'x')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved opcode 6, closing with 1002
--- no_error_log
[error]



=== TEST 13: reserved opcode 7
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::frame(opcode => 7, payload => 'x')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved opcode 7, closing with 1002
--- no_error_log
[error]



=== TEST 14: reserved opcode 11
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::frame(opcode => 11, payload => 'x')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved opcode 11, closing with 1002
--- no_error_log
[error]



=== TEST 15: reserved opcode 12
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::frame(opcode => 12, payload => 'x')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved opcode 12, closing with 1002
--- no_error_log
[error]



=== TEST 16: reserved opcode 13
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::frame(opcode => 13, payload => 'x')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved opcode 13, closing with 1002
--- no_error_log
[error]



=== TEST 17: reserved opcode 14
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::frame(opcode => 14, payload => 'x')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved opcode 14, closing with 1002
--- no_error_log
[error]



=== TEST 18: reserved opcode 15
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::frame(opcode => 15, payload => 'x')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved opcode 15, closing with 1002
--- no_error_log
[error]



=== TEST 19: an empty frame with reserved opcode 3
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::frame(opcode => 3)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with reserved opcode 3, closing with 1002
--- no_error_log
[error]



=== TEST 20: a ping of 126 bytes
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_ping('p' x 126)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent too long control frame, closing with 1002
--- no_error_log
[error]



=== TEST 21: a pong of 126 bytes
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_pong('p' x 126)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent too long control frame, closing with 1002
--- no_error_log
[error]



=== TEST 22: a close frame of 126 bytes
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_close(1000, 'r' x 124)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent too long control frame, closing with 1002
--- no_error_log
[error]



=== TEST 23: a ping announcing a 64-bit length of 65536 (header only)
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. "\x89\xff" . pack('NN', 0, 65536) . $WsFrame::MASK
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent too long control frame, closing with 1002
--- no_error_log
[error]



=== TEST 24: a ping without FIN
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_ping('x', fin => 0)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent fragmented control frame, closing with 1002
--- no_error_log
[error]



=== TEST 25: a pong without FIN
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_pong('x', fin => 0)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent fragmented control frame, closing with 1002
--- no_error_log
[error]



=== TEST 26: a close frame without FIN
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_close(1000, undef, fin => 0)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent fragmented control frame, closing with 1002
--- no_error_log
[error]



=== TEST 27: a final continuation frame without a message
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_cont('x')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent continuation frame without a message, closing with 1002
--- no_error_log
[error]



=== TEST 28: a non-final continuation frame without a message
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_cont('x', fin => 0)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent continuation frame without a message, closing with 1002
--- no_error_log
[error]



=== TEST 29: a continuation frame after a finished fragmented message
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_text('a', fin => 0) . WsFrame::ws_cont('b') . WsFrame::ws_cont('c')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . WsFrame::srv_text('ab') . "\x88\x02\x03\xea"
--- error_log
client sent continuation frame without a message, closing with 1002
--- no_error_log
[error]



=== TEST 30: a text frame inside a fragmented text message
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_text('a', fin => 0) . WsFrame::ws_text('b')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent new data frame inside a fragmented message, closing with 1002
--- no_error_log
[error]



=== TEST 31: a binary frame inside a fragmented text message
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_text('a', fin => 0) . WsFrame::ws_binary('b', fin => 0)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent new data frame inside a fragmented message, closing with 1002
--- no_error_log
[error]



=== TEST 32: a text frame after continuations of a binary message
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. WsFrame::ws_binary('a', fin => 0) . WsFrame::ws_cont('b', fin => 0) . WsFrame::ws_text('c')
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent new data frame inside a fragmented message, closing with 1002
--- no_error_log
[error]



=== TEST 33: a 64-bit length with only the top bit and 5 set
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. main::top_bit(WsFrame::ws_text('hello', len_form => 64))
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with invalid 64-bit length, closing with 1002
--- no_error_log
[error]



=== TEST 34: a 64-bit length of all ones
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('before')
. "\x82\xff" . ("\xff" x 8) . $WsFrame::MASK . 'x'
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('before') . "\x88\x02\x03\xea"
--- error_log
client sent frame with invalid 64-bit length, closing with 1002
--- no_error_log
[error]
