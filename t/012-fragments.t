# Fragmented messages (RFC 6455 section 5.4): reassembly of text and binary
# messages from many fragments, control frames between fragments, empty
# fragments, and fragmented messages next to unfragmented ones.  ws_echo sends
# each reassembled message back as one frame.

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


# A message split into fragments of the given payloads: the first frame has
# the opcode, the others are continuations, the last one has FIN.
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

sub bytes_of {
    my ($n, $seed) = @_;
    $seed //= 0;
    return join '', map { chr(($_ * 7 + $seed) % 256) } 0 .. $n - 1;
}

__DATA__

=== TEST 1: a text message in 10 fragments
--- raw_request eval
WsFrame::ws_handshake('/ws')
. main::fragments(1, 'a' .. 'j')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('abcdefghij') . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 2: a binary message in 100 fragments of 10 bytes
--- raw_request eval
WsFrame::ws_handshake('/ws')
. main::fragments(2, map { main::bytes_of(10, $_) } 1 .. 100)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_binary(CORE::join '', map { main::bytes_of(10, $_) } 1 .. 100)
. "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 3: a text message in 1000 one-byte fragments
--- raw_request eval
WsFrame::ws_handshake('/ws')
. main::fragments(1, CORE::split //, 'x' x 1000)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('x' x 1000) . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 4: pings between fragments are answered at once and in order
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('ab', fin => 0)
. WsFrame::ws_ping('p1')
. WsFrame::ws_cont('cd', fin => 0)
. WsFrame::ws_ping('p2')
. WsFrame::ws_pong('unsolicited')
. WsFrame::ws_ping('')
. WsFrame::ws_cont('ef')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_pong('p1') . WsFrame::srv_pong('p2') . WsFrame::srv_pong('')
. WsFrame::srv_text('abcdef') . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 5: pings between fragments sent in separate packets
--- raw_request eval
[ WsFrame::ws_handshake('/ws'),
  WsFrame::ws_binary('12', fin => 0),
  WsFrame::ws_ping('first'),
  WsFrame::ws_cont('34', fin => 0),
  WsFrame::ws_ping('second'),
  WsFrame::ws_cont('56'),
  WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.02
--- error_code: 101
--- response_body eval
WsFrame::srv_pong('first') . WsFrame::srv_pong('second')
. WsFrame::srv_binary('123456') . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 6: empty fragments at the start, in the middle and at the end
--- raw_request eval
WsFrame::ws_handshake('/ws')
. main::fragments(1, '', '', 'abc', '', 'def', '')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('abcdef') . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 7: messages made only of empty fragments are empty messages
--- raw_request eval
WsFrame::ws_handshake('/ws')
. main::fragments(1, '', '')
. main::fragments(2, '', '', '')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x00" . "\x82\x00" . "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 8: fragmented messages after, between and before complete ones
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('one')
. main::fragments(1, 'tw', 'o')
. WsFrame::ws_binary('three')
. main::fragments(2, 'fo', 'u', 'r')
. main::fragments(1, 'fi', 've')
. WsFrame::ws_text('six')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('one') . WsFrame::srv_text('two')
. WsFrame::srv_binary('three') . WsFrame::srv_binary('four')
. WsFrame::srv_text('five') . WsFrame::srv_text('six')
. "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 9: fragments with different masks and length forms
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_binary(main::bytes_of(5, 1), fin => 0, mask => "\x00\x00\x00\x00")
. WsFrame::ws_cont(main::bytes_of(300, 2), fin => 0, mask => "\xff\x01\xfe\x02")
. WsFrame::ws_cont(main::bytes_of(3, 3), fin => 0, len_form => 64,
                   mask => "\xaa\xbb\xcc\xdd")
. WsFrame::ws_cont(main::bytes_of(7, 4), len_form => 16)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_binary(main::bytes_of(5, 1) . main::bytes_of(300, 2)
                    . main::bytes_of(3, 3) . main::bytes_of(7, 4))
. "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 10: a 300 KiB message in three fragments
--- raw_request eval
WsFrame::ws_handshake('/ws')
. main::fragments(2, map { main::bytes_of(102400, $_) } 1 .. 3)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_binary(CORE::join '', map { main::bytes_of(102400, $_) } 1 .. 3)
. "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 11: fragments and pings cut into 5-byte packets
--- raw_request eval
my $s = WsFrame::ws_text('frag', fin => 0) . WsFrame::ws_ping('x')
        . WsFrame::ws_cont('mented ', fin => 0) . WsFrame::ws_ping('y')
        . WsFrame::ws_cont('message') . WsFrame::ws_text('next');
my @p;
push @p, substr($s, 0, 5, '') while length $s;
[ WsFrame::ws_handshake('/ws'), @p, WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.01
--- error_code: 101
--- response_body eval
WsFrame::srv_pong('x') . WsFrame::srv_pong('y')
. WsFrame::srv_text('fragmented message') . WsFrame::srv_text('next')
. "\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 12: a Close in the middle of a fragmented message ends it unechoed
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('complete')
. WsFrame::ws_text('never ', fin => 0)
. WsFrame::ws_cont('finished', fin => 0)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('complete') . "\x88\x02\x03\xe8"
--- no_error_log
[error]
