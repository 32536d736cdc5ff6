# The three payload length forms (7, 16 and 64 bits) at their boundaries,
# non-minimal length encodings, frames split across TCP packets at every
# part of the header, many frames in one packet, and byte-exact echo.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;

repeat_each(1);

plan tests => repeat_each() * (blocks() * 3);

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


# A payload of $n bytes with every byte value, so that unmasking errors show.
sub bytes_of {
    my ($n) = @_;
    my $p = join '', map { chr($_ % 251) } 0 .. 255;
    return substr($p x (int($n / 256) + 1), 0, $n);
}

# A text payload of $n ASCII bytes.
sub text_of {
    my ($n) = @_;
    return substr('0123456789abcdefghijklmnopqrstuvwxyz' x (int($n / 36) + 1),
                  0, $n);
}

# Cuts a byte string into packets at the given offsets.
sub cut {
    my ($data, @at) = @_;
    my ($from, @p) = (0);
    for my $to (@at, length $data) {
        push @p, substr($data, $from, $to - $from);
        $from = $to;
    }
    return @p;
}

__DATA__

=== TEST 1: an empty text frame is echoed as an empty text frame
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x00" . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 2: an empty binary frame is echoed as an empty binary frame
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_binary('') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x82\x00" . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 3: 125 bytes, the largest 7-bit length
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text(main::text_of(125))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x7d" . main::text_of(125) . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 4: 126 bytes, the smallest 16-bit length
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_binary(main::bytes_of(126))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x82\x7e\x00\x7e" . main::bytes_of(126) . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 5: 65535 bytes, the largest 16-bit length
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_binary(main::bytes_of(65535))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x82\x7e\xff\xff" . main::bytes_of(65535) . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 6: 65536 bytes, the smallest 64-bit length
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_binary(main::bytes_of(65536))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" . main::bytes_of(65536)
. "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 7: a 200 KiB frame
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_binary(main::bytes_of(204800))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x82\x7f\x00\x00\x00\x00\x00\x03\x20\x00" . main::bytes_of(204800)
. "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 8: frames on both sides of each boundary, in one packet, in order
--- raw_request eval
WsFrame::ws_handshake('/ws')
. CORE::join('', map { WsFrame::ws_binary(main::bytes_of($_)) }
               0, 1, 124, 125, 126, 127, 65534, 65535, 65536, 65537)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_binary(main::bytes_of($_)) }
             0, 1, 124, 125, 126, 127, 65534, 65535, 65536, 65537)
. "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 9: non-minimal length encodings are accepted, echoes use the minimal one
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('', len_form => 16)
. WsFrame::ws_text('hello', len_form => 16)
. WsFrame::ws_text('world', len_form => 64)
. WsFrame::ws_binary(main::bytes_of(125), len_form => 64)
. WsFrame::ws_binary(main::bytes_of(300), len_form => 64)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x00" . "\x81\x05hello" . "\x81\x05world"
. "\x82\x7d" . main::bytes_of(125)
. "\x82\x7e\x01\x2c" . main::bytes_of(300)
. "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 10: a frame cut after its first header byte
--- raw_request eval
[ WsFrame::ws_handshake('/ws'),
  main::cut(WsFrame::ws_text('split header'), 1),
  WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.05
--- error_code: 101
--- response_body eval
"\x81\x0csplit header" . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 11: a frame cut inside its 16-bit length
--- raw_request eval
[ WsFrame::ws_handshake('/ws'),
  main::cut(WsFrame::ws_binary(main::bytes_of(1000)), 2, 3),
  WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.05
--- error_code: 101
--- response_body eval
"\x82\x7e\x03\xe8" . main::bytes_of(1000) . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 12: a frame cut inside its 64-bit length
--- raw_request eval
[ WsFrame::ws_handshake('/ws'),
  main::cut(WsFrame::ws_binary(main::bytes_of(70000)), 2, 5, 9),
  WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.05
--- error_code: 101
--- response_body eval
"\x82\x7f\x00\x00\x00\x00\x00\x01\x11\x70" . main::bytes_of(70000)
. "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 13: frames cut inside the masking key (7-bit and 16-bit forms)
--- raw_request eval
[ WsFrame::ws_handshake('/ws'),
  main::cut(WsFrame::ws_text('mask') . WsFrame::ws_text(main::text_of(200)),
            3, 5, 10 + 4 + 1, 10 + 4 + 3) ,
  WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.05
--- error_code: 101
--- response_body eval
"\x81\x04mask" . "\x81\x7e\x00\xc8" . main::text_of(200) . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 14: a payload cut at offsets that are not multiples of 4
--- raw_request eval
[ WsFrame::ws_handshake('/ws'),
  main::cut(WsFrame::ws_binary(main::bytes_of(204800)),
            10 + 4 + 1, 10 + 4 + 7, 10 + 4 + 65537, 10 + 4 + 130001),
  WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.05
--- error_code: 101
--- response_body eval
"\x82\x7f\x00\x00\x00\x00\x00\x03\x20\x00" . main::bytes_of(204800)
. "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 15: frames sent one byte per packet
--- raw_request eval
[ WsFrame::ws_handshake('/ws'),
  CORE::split(//, WsFrame::ws_text('a', len_form => 64)
            . WsFrame::ws_binary("\x00\xff\x01", len_form => 16)
            . WsFrame::ws_ping('p')),
  WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.02
--- error_code: 101
--- response_body eval
"\x81\x01a" . "\x82\x03\x00\xff\x01" . "\x8a\x01p" . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 16: packets that end and start in the middle of frames
--- raw_request eval
my $s = CORE::join '', map { WsFrame::ws_text("message $_") } 1 .. 50;
my @p;
push @p, substr($s, 0, 7, '') while length $s;
[ WsFrame::ws_handshake('/ws'), @p, WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.002
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_text("message $_") } 1 .. 50) . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 17: 1000 frames in one packet, sent together with the handshake
--- raw_request eval
WsFrame::ws_handshake('/ws')
. CORE::join('', map { WsFrame::ws_text("m$_") } 1 .. 1000)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_text("m$_") } 1 .. 1000) . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 18: every payload length from 1 to 17 with masks of all kinds
--- raw_request eval
my @masks = ("\x00\x00\x00\x00", "\xff\xff\xff\xff", "\x01\x02\x03\x04",
             "\x80\x00\x7f\xaa");
WsFrame::ws_handshake('/ws')
. CORE::join('', map { WsFrame::ws_binary(main::bytes_of($_), mask => $masks[$_ % 4]) }
           1 .. 17)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_binary(main::bytes_of($_)) } 1 .. 17)
. "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 19: every byte value survives the echo unchanged
--- raw_request eval
my $all = CORE::join '', map { chr } 0 .. 255;
WsFrame::ws_handshake('/ws') . WsFrame::ws_binary($all x 3)
. WsFrame::ws_text("tab\tnul-free text: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
my $all = CORE::join '', map { chr } 0 .. 255;
WsFrame::srv_binary($all x 3)
. WsFrame::srv_text("tab\tnul-free text: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")
. "\x88\x02\x03\xe8"
--- no_error_log
[error]
