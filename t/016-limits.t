# ws_max_frame_size and ws_max_message_size: the exact boundaries (the limit
# passes, one byte more gets Close 1009), refusal as soon as the header that
# crosses the limit arrives, limits across fragments, control frames outside
# the message size, inheritance from http and server level, the size syntax
# (k, m) and the 1m defaults.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;

$SIG{PIPE} = 'IGNORE';

repeat_each(1);

plan tests => repeat_each() * checks();

no_shuffle();
no_long_string();

# limits were warn lines: the tests keep that level (t/130 checks the
# default, error)
config_preamble('ws_security_log_level warn;');

run_tests();


# One test for the status and one per response_body, access_log and line
# of error_log and no_error_log.
sub checks {
    my $n = 0;

    for my $block (blocks()) {
        $n += 1 + grep { defined $block->$_ } qw(response_body access_log);

        for my $v (grep { defined } $block->error_log, $block->no_error_log) {
            $n += ref $v eq 'ARRAY' ? @$v
                : ref $v ? 1
                : scalar(my @l = split /\n/, $v);
        }
    }

    return $n;
}

# The header (and mask) of a frame announcing $len bytes, without payload.
sub header_only {
    my ($opcode, $len, %o) = @_;
    my $f = WsFrame::frame(opcode => $opcode, payload => '', len => $len, %o);
    return $f;
}

sub fragments {
    my ($opcode, @parts) = @_;
    my $out = '';
    for my $i (0 .. $#parts) {
        $out .= WsFrame::frame(opcode => $i == 0 ? $opcode : 0,
                               fin => $i == $#parts ? 1 : 0,
                               payload => $parts[$i]);
    }
    return $out;
}

__DATA__

=== TEST 1: ws_max_frame_size: a frame of exactly the limit is echoed
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_frame_size 100;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('x' x 100) . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('x' x 100) . "\x88\x02\x03\xe8"
--- no_error_log
[error]
too large



=== TEST 2: ws_max_frame_size: one byte more gets 1009, nothing after it is echoed
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_frame_size 100;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_text('x' x 101) . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x02ok" . "\x88\x02\x03\xf1"
--- error_log
client sent too large frame, closing with 1009
--- no_error_log
[error]



=== TEST 3: ws_max_frame_size: refused when the header arrives, before any payload
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_frame_size 100;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . main::header_only(2, 101)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf1"
--- error_log
client sent too large frame, closing with 1009
--- no_error_log
[error]



=== TEST 4: ws_max_frame_size applies to each fragment, not to the message
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_frame_size 100;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. main::fragments(2, 'a' x 100, 'b' x 100, 'c' x 100)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_binary(('a' x 100) . ('b' x 100) . ('c' x 100)) . "\x88\x02\x03\xe8"
--- no_error_log
[error]
too large



=== TEST 5: ws_max_frame_size: a continuation frame over the limit gets 1009
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_frame_size 100;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('a' x 100, fin => 0) . main::header_only(0, 101)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf1"
--- error_log
client sent too large frame, closing with 1009
--- no_error_log
[error]



=== TEST 6: ws_max_message_size: a message of exactly the limit in one frame
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_message_size 100;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_binary('m' x 100) . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_binary('m' x 100) . "\x88\x02\x03\xe8"
--- no_error_log
[error]
too large



=== TEST 7: ws_max_message_size: one frame of the limit plus one byte gets 1009
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_message_size 100;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('ok')
. WsFrame::ws_binary('m' x 101) . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x02ok" . "\x88\x02\x03\xf1"
--- error_log
client sent too large message, closing with 1009
--- no_error_log
[error]



=== TEST 8: ws_max_message_size: fragments adding up to exactly the limit
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_message_size 100;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. main::fragments(1, 'a' x 25, 'b' x 25, '', 'c' x 25, 'd' x 25)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text(('a' x 25) . ('b' x 25) . ('c' x 25) . ('d' x 25))
. "\x88\x02\x03\xe8"
--- no_error_log
[error]
too large



=== TEST 9: ws_max_message_size: fragments adding up to the limit plus one byte
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_message_size 100;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. main::fragments(1, 'a' x 50, 'b' x 51)
. WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf1"
--- error_log
client sent too large message, closing with 1009
--- no_error_log
[error]



=== TEST 10: ws_max_message_size: refused at the header of the crossing fragment
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_message_size 100;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('a' x 60, fin => 0) . main::header_only(0, 41, fin => 0)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf1"
--- error_log
client sent too large message, closing with 1009
--- no_error_log
[error]



=== TEST 11: ws_max_message_size: control frames inside a message do not count
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_message_size 10;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('12345', fin => 0) . WsFrame::ws_ping('p' x 100)
. WsFrame::ws_pong('q' x 100) . WsFrame::ws_cont('67890')
. WsFrame::ws_close(1000, 'r' x 100)
--- error_code: 101
--- response_body eval
WsFrame::srv_pong('p' x 100) . WsFrame::srv_text('1234567890') . "\x88\x02\x03\xe8"
--- no_error_log
[error]
too large



=== TEST 12: ws_max_message_size: the count starts again with each message
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_message_size 10;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. main::fragments(1, '12345', '67890') . main::fragments(2, '1234567', '890')
. WsFrame::ws_text('1234567890')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('1234567890') . WsFrame::srv_binary('1234567890')
. WsFrame::srv_text('1234567890') . "\x88\x02\x03\xe8"
--- no_error_log
[error]
too large



=== TEST 13: both limits: ten fragments of the frame limit make the message limit
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_frame_size 10;
        ws_max_message_size 100;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. main::fragments(2, map { chr(48 + $_) x 10 } 0 .. 9)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_binary(CORE::join '', map { chr(48 + $_) x 10 } 0 .. 9)
. "\x88\x02\x03\xe8"
--- no_error_log
[error]
too large



=== TEST 14: both limits: an eleventh fragment crosses the message limit
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_frame_size 10;
        ws_max_message_size 100;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. main::fragments(2, map { chr(48 + $_) x 10 } 0 .. 10)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf1"
--- error_log
client sent too large message, closing with 1009
--- no_error_log
[error]



=== TEST 15: a 64-bit length with the top bit clear but far too large gets 1009
--- raw_request eval
WsFrame::ws_handshake('/ws') . "\x82\xff" . pack('NN', 0x7fffffff, 0xffffffff)
. $WsFrame::MASK
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf1"
--- error_log
client sent too large frame, closing with 1009
--- no_error_log
[error]



=== TEST 16: inheritance: a limit set at http level applies to the location
--- http_config
    ws_max_frame_size 100;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('x' x 100)
. main::header_only(1, 101)
--- timeout: 1
--- error_code: 101
--- response_body eval
WsFrame::srv_text('x' x 100) . "\x88\x02\x03\xf1"
--- error_log
client sent too large frame, closing with 1009
--- no_error_log
[error]



=== TEST 17: inheritance: a limit set at server level applies to the location
--- config
    ws_max_message_size 50;

    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('x' x 50)
. WsFrame::ws_text('y' x 25, fin => 0) . main::header_only(0, 26)
--- timeout: 1
--- error_code: 101
--- response_body eval
WsFrame::srv_text('x' x 50) . "\x88\x02\x03\xf1"
--- error_log
client sent too large message, closing with 1009
--- no_error_log
[error]



=== TEST 18: inheritance: a location overrides the http level limit
--- http_config
    ws_max_frame_size 100;
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_frame_size 200;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('x' x 200)
. main::header_only(1, 201)
--- timeout: 1
--- error_code: 101
--- response_body eval
WsFrame::srv_text('x' x 200) . "\x88\x02\x03\xf1"
--- error_log
client sent too large frame, closing with 1009
--- no_error_log
[error]



=== TEST 19: inheritance: a nested location inherits from its parent
--- config
    location /ws {
        ws_max_message_size 30;

        location /ws/inner {
            websocket;
            ws_echo on;
        }
    }
--- raw_request eval
WsFrame::ws_handshake('/ws/inner') . WsFrame::ws_text('x' x 30)
. WsFrame::ws_text('y' x 31)
--- timeout: 1
--- error_code: 101
--- response_body eval
WsFrame::srv_text('x' x 30) . "\x88\x02\x03\xf1"
--- error_log
client sent too large message, closing with 1009
--- no_error_log
[error]



=== TEST 20: size syntax: 1k is 1024 bytes
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_frame_size 1k;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_binary('k' x 1024)
. main::header_only(2, 1025)
--- timeout: 1
--- error_code: 101
--- response_body eval
WsFrame::srv_binary('k' x 1024) . "\x88\x02\x03\xf1"
--- error_log
client sent too large frame, closing with 1009
--- no_error_log
[error]



=== TEST 21: size syntax: 2m is 2097152 bytes
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_frame_size 2m;
        ws_max_message_size 2m;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_binary('m' x 2097152)
. main::header_only(2, 2097153)
--- timeout: 2
--- error_code: 101
--- response_body eval
WsFrame::srv_binary('m' x 2097152) . "\x88\x02\x03\xf1"
--- error_log
client sent too large frame, closing with 1009
--- no_error_log
[error]



=== TEST 22: default ws_max_frame_size is 1m
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_message_size 4m;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_binary('d' x 1048576)
. main::header_only(2, 1048577)
--- timeout: 2
--- error_code: 101
--- response_body eval
WsFrame::srv_binary('d' x 1048576) . "\x88\x02\x03\xf1"
--- error_log
client sent too large frame, closing with 1009
--- no_error_log
[error]



=== TEST 23: default ws_max_message_size is 1m
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. main::fragments(2, 'a' x 524288, 'b' x 524288)
. WsFrame::ws_text('c' x 524288, fin => 0) . WsFrame::ws_cont('d' x 524288, fin => 0)
. main::header_only(0, 1)
--- timeout: 2
--- error_code: 101
--- response_body eval
WsFrame::srv_binary(('a' x 524288) . ('b' x 524288)) . "\x88\x02\x03\xf1"
--- error_log
client sent too large message, closing with 1009
--- no_error_log
[error]
