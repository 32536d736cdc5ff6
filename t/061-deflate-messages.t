# permessage-deflate messages: compressed client messages are inflated
# (whole or fragmented, with control frames between the fragments, with or
# without context across messages), echoes are compressed, and the misuses
# fail the connection with the right code: RSV1 where it does not belong
# (1002), bad compressed data and invalid UTF-8 after inflating (1007), and
# a message that inflates beyond ws_max_message_size (1009, the bomb) and
# one whose compressed size goes beyond what a compressor makes of
# ws_max_message_size bytes (1009: empty stored blocks inflate to nothing,
# so such a message would never end).
#
# The server's bytes are compared through WsFrame::describe_inflated (every
# compressed message inflated, RSV1 kept in the description), or through a
# filter of the block that also compares sizes.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;

repeat_each(1);
no_shuffle();
no_long_string();

our $PD = 'permessage-deflate';
our $TEXT = join ' ', map { "message part $_ of the deflate tests;" } 1 .. 20;

# 400 letters without short repeats: sent twice, the second copy is 400
# bytes back, beyond a 256-byte window (which zlib checks for what is not
# in the output of the same call: each message is inflated by its own)
our $FAR = do {
    my ($x, $s) = (12345, '');
    for (1 .. 400) {
        $x = ($x * 1103515245 + 12345) % 2147483648;
        $s .= chr(97 + ($x >> 16) % 26);
    }
    $s;
};

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value(config => <<'_EOC_') unless defined $block->config;
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_deflate_min_length 0;
    }
_EOC_

    $block->set_value(error_code => 101) unless defined $block->error_code;
    $block->set_value(response_body_filters => \&WsFrame::describe_inflated)
        unless defined $block->response_body_filters;
});

# the describe_inflated() lines, and whether the second compressed message
# is shorter than the first on the wire (context takeover) or not
sub takeover_filter {
    my ($body) = @_;
    my @z = map { length $_->{payload} }
            grep { $_->{opcode} == 1 && $_->{rsv} == 4 }
            WsFrame::decode($body);
    return WsFrame::describe_inflated($body)
           . ($z[1] < $z[0] ? "second shorter\n" : "same length\n");
}

# the server's messages inflated with a window of 256 bytes
sub window8_filter {
    my ($body) = @_;
    my ($z) = Compress::Raw::Zlib::Inflate->new(-WindowBits => -8,
                                                 -AppendOutput => 1);
    my $out = '';
    for my $f (WsFrame::decode($body)) {
        next unless $f->{opcode} == 1;
        my $in = $f->{payload} . "\x00\x00\xff\xff";
        my $st = $z->inflate($in, $out);
        return "inflate with a 256-byte window: $st\n"
            unless $st == Compress::Raw::Zlib::Z_OK();
    }
    return "inflated " . length($out) . " bytes: "
           . ($out eq $main::FAR x 2 ? "same" : "different") . "\n";
}

# 1024 bytes that do not compress: deflate stores them, a little longer
our $RANDOM = do {
    my ($x, $s) = (987, '');
    for (1 .. 1024) {
        $x = ($x * 1103515245 + 12345) % 2147483648;
        $s .= chr(($x >> 16) & 0xff);
    }
    $s;
};

my $tests = 0;
for my $block (blocks()) {
    $tests += 2;
    $tests += 1 if defined $block->response_headers;
    for my $log ($block->error_log, $block->no_error_log) {
        $tests += () = ($log // '') =~ /\S.*/g;
    }
}

plan tests => repeat_each() * $tests;

# limits were warn lines (refusals info): the tests keep warn (t/130
# checks the default, error)
config_preamble('ws_security_log_level warn;');

run_tests();

__DATA__

=== TEST 1: a compressed text and a compressed binary are echoed compressed
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_text_z($main::TEXT)
. WsFrame::ws_binary_z("\x00\x01\x02" x 100)
. WsFrame::ws_close(1000)
--- response_headers
Sec-WebSocket-Extensions: permessage-deflate
--- response_body eval
WsFrame::describe(WsFrame::srv_text($main::TEXT, rsv => 4)
. WsFrame::srv_binary("\x00\x01\x02" x 100, rsv => 4)
. WsFrame::srv_close(1000))
--- no_error_log
[error]



=== TEST 2: plain messages are fine too, and are answered compressed
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_text($main::TEXT)
. WsFrame::ws_close(1000)
--- response_body eval
WsFrame::describe(WsFrame::srv_text($main::TEXT, rsv => 4)
. WsFrame::srv_close(1000))
--- no_error_log
[error]



=== TEST 3: ws_deflate_min_length: short messages go out plain
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_deflate_min_length 100;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_text_z('short')
. WsFrame::ws_text_z($main::TEXT)
. WsFrame::ws_close(1000)
--- response_body eval
WsFrame::describe(WsFrame::srv_text('short')
. WsFrame::srv_text($main::TEXT, rsv => 4)
. WsFrame::srv_close(1000))
--- no_error_log
[error]



=== TEST 4: the server keeps its context: a repeated message is shorter
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_text_z($main::TEXT)
. WsFrame::ws_text_z($main::TEXT)
. WsFrame::ws_close(1000)
--- response_body_filters eval
\&main::takeover_filter
--- response_body eval
WsFrame::describe(WsFrame::srv_text($main::TEXT, rsv => 4) x 2
. WsFrame::srv_close(1000)) . "second shorter\n"
--- no_error_log
[error]



=== TEST 5: server_no_context_takeover: every message alone
--- raw_request eval
WsFrame::ws_handshake('/ws',
    extensions => "$main::PD; server_no_context_takeover")
. WsFrame::ws_text_z($main::TEXT)
. WsFrame::ws_text_z($main::TEXT)
. WsFrame::ws_close(1000)
--- response_body_filters eval
\&main::takeover_filter
--- response_body eval
WsFrame::describe(WsFrame::srv_text($main::TEXT, rsv => 4) x 2
. WsFrame::srv_close(1000)) . "same length\n"
--- no_error_log
[error]



=== TEST 6: the client's context is kept across messages
--- raw_request eval
my $d = WsFrame::deflater();
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_text_z($main::TEXT, deflater => $d)
. WsFrame::ws_text_z($main::TEXT, deflater => $d)
. WsFrame::ws_text_z("and a third one", deflater => $d)
. WsFrame::ws_close(1000)
--- response_body eval
WsFrame::describe(WsFrame::srv_text($main::TEXT, rsv => 4) x 2
. WsFrame::srv_text("and a third one", rsv => 4)
. WsFrame::srv_close(1000))
--- no_error_log
[error]



=== TEST 7: client_no_context_takeover: fresh streams, inflater per message
--- raw_request eval
WsFrame::ws_handshake('/ws',
    extensions => "$main::PD; client_no_context_takeover")
. WsFrame::ws_text_z($main::TEXT)
. WsFrame::ws_text_z($main::TEXT)
. WsFrame::ws_close(1000)
--- response_headers
Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover
--- response_body eval
WsFrame::describe(WsFrame::srv_text($main::TEXT, rsv => 4) x 2
. WsFrame::srv_close(1000))
--- no_error_log
[error]



=== TEST 8: a fragmented compressed message with a ping between fragments
--- raw_request eval
my $z = WsFrame::deflate_payload($main::TEXT);
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_text(substr($z, 0, 7), rsv => 4, fin => 0)
. WsFrame::ws_ping('between')
. WsFrame::ws_cont(substr($z, 7, 1), fin => 0)
. WsFrame::ws_cont('', fin => 0)
. WsFrame::ws_cont(substr($z, 8))
. WsFrame::ws_close(1000)
--- response_body eval
WsFrame::describe(WsFrame::srv_pong('between')
. WsFrame::srv_text($main::TEXT, rsv => 4)
. WsFrame::srv_close(1000))
--- no_error_log
[error]



=== TEST 9: a compressed message split into frames of 1 byte
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_fragments_z(2, "\xff\x00" x 500, 1)
. WsFrame::ws_close(1000)
--- response_body eval
WsFrame::describe(WsFrame::srv_binary("\xff\x00" x 500, rsv => 4)
. WsFrame::srv_close(1000))
--- no_error_log
[error]



=== TEST 10: an empty compressed message, as 0x00 and as no payload at all
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_text("\x00", rsv => 4)
. WsFrame::ws_text('', rsv => 4)
. WsFrame::ws_text_z('after')
. WsFrame::ws_close(1000)
--- response_body eval
WsFrame::describe(WsFrame::srv_text('', rsv => 4) x 2
. WsFrame::srv_text('after', rsv => 4)
. WsFrame::srv_close(1000))
--- no_error_log
[error]



=== TEST 11: a stream ended with a final block (BFINAL) is accepted
--- raw_request eval
my ($d) = Compress::Raw::Zlib::Deflate->new(-WindowBits => -15,
                                             -AppendOutput => 1);
my $z = '';
$d->deflate($main::TEXT, $z);
$d->flush($z, Compress::Raw::Zlib::Z_FINISH());
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_text($z, rsv => 4)
. WsFrame::ws_text_z('next')
. WsFrame::ws_close(1000)
--- response_body eval
WsFrame::describe(WsFrame::srv_text($main::TEXT, rsv => 4)
. WsFrame::srv_text('next', rsv => 4)
. WsFrame::srv_close(1000))
--- no_error_log
[error]



=== TEST 12: RSV1 on a continuation frame fails with 1002
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_text(WsFrame::deflate_payload('abc'), rsv => 4, fin => 0)
. WsFrame::ws_cont('', rsv => 4)
. WsFrame::ws_text_z('not read')
--- response_body eval
WsFrame::describe(WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]



=== TEST 13: RSV1 on a ping fails with 1002
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_ping('x', rsv => 4)
--- response_body eval
WsFrame::describe(WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]



=== TEST 14: RSV1 without the extension negotiated fails with 1002
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text_z($main::TEXT)
--- response_headers
!Sec-WebSocket-Extensions
--- response_body eval
WsFrame::describe(WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]



=== TEST 15: RSV2 and RSV3 stay reserved with the extension
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_text_z($main::TEXT, rsv => 6)
--- response_body eval
WsFrame::describe(WsFrame::srv_close(1002))
--- error_log
client sent frame with reserved bits set, closing with 1002
--- no_error_log
[error]



=== TEST 16: invalid UTF-8 after inflating fails with 1007
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_text_z("good")
. WsFrame::ws_text_z("valid \xce\xba\xe1\xbd\xb9\xcf\x83 then \xed\xa0\x80")
--- response_body eval
WsFrame::describe(WsFrame::srv_text('good', rsv => 4)
. WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 17: UTF-8 cut short at the end of the inflated message: 1007
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_text_z("cut \xce")
--- response_body eval
WsFrame::describe(WsFrame::srv_close(1007))
--- error_log
client sent invalid UTF-8 in text message, closing with 1007
--- no_error_log
[error]



=== TEST 18: data that is not DEFLATE fails with 1007
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_binary("\xff\xff\xff\xff\xff\xff", rsv => 4)
--- response_body eval
WsFrame::describe(WsFrame::srv_close(1007))
--- error_log eval
qr/client sent invalid compressed data \(.*\), closing with 1007/
--- no_error_log
[error]



=== TEST 19: a message whose blocks the tail does not complete: 1007
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_binary(WsFrame::deflate_payload('abc') . "\x00\x00\xff\xff",
                     rsv => 4)
--- response_body eval
WsFrame::describe(WsFrame::srv_close(1007))
--- error_log
client sent incomplete compressed data, closing with 1007
--- no_error_log
[error]



=== TEST 20: a bomb: 64 MiB of zeros in a 64 KiB frame fails with 1009
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_max_message_size 1m;
    }
--- raw_request eval
my ($d) = Compress::Raw::Zlib::Deflate->new(-WindowBits => -15,
                                             -Level => 9,
                                             -AppendOutput => 1);
my ($z, $mib) = ('', "\x00" x 1048576);
$d->deflate($mib, $z) for 1 .. 64;
$d->flush($z, Compress::Raw::Zlib::Z_SYNC_FLUSH());
$z =~ s/\x00\x00\xff\xff\z//;
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_binary($z, rsv => 4)
--- response_body eval
WsFrame::describe(WsFrame::srv_close(1009))
--- error_log
client sent too large message after inflating, closing with 1009
--- no_error_log
[error]



=== TEST 21: the limit counts the inflated size of all fragments
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_max_message_size 1000;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_binary_z('a' x 1000)
. WsFrame::ws_fragments_z(2, 'b' x 1001, 3)
--- response_body eval
WsFrame::describe(WsFrame::srv_binary('a' x 1000, rsv => 4)
. WsFrame::srv_close(1009))
--- error_log
client sent too large message after inflating, closing with 1009
--- no_error_log
[error]



=== TEST 22: server_max_window_bits=8: the output inflates with 256 bytes
--- raw_request eval
WsFrame::ws_handshake('/ws',
    extensions => "$main::PD; server_max_window_bits=8")
. WsFrame::ws_text_z($main::FAR)
. WsFrame::ws_text_z($main::FAR)
. WsFrame::ws_close(1000)
--- response_body_filters eval
\&main::window8_filter
--- response_body eval
"inflated " . (2 * length $main::FAR) . " bytes: same\n"
--- no_error_log
[error]



=== TEST 23: client_max_window_bits=9 answered: a 9-bit client is read
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_deflate_window_bits 9;
    }
--- raw_request eval
my $d = WsFrame::deflater(window_bits => 9);
WsFrame::ws_handshake('/ws', extensions => "$main::PD; client_max_window_bits")
. WsFrame::ws_text_z($main::TEXT x 3, deflater => $d)
. WsFrame::ws_text_z($main::TEXT, deflater => $d)
. WsFrame::ws_close(1000)
--- response_headers
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=9
--- response_body eval
WsFrame::describe(WsFrame::srv_text($main::TEXT x 3, rsv => 4)
. WsFrame::srv_text($main::TEXT, rsv => 4)
. WsFrame::srv_close(1000))
--- no_error_log
[error]



=== TEST 24: data after a final block must be complete, also when a read ends at the final block
--- raw_request eval
my ($d) = Compress::Raw::Zlib::Deflate->new(-WindowBits => -15,
                                             -AppendOutput => 1);
my $z = '';
$d->deflate('abc', $z);
$d->flush($z, Compress::Raw::Zlib::Z_FINISH());
# the first bits of a dynamic block that never ends
my $f = WsFrame::ws_binary($z . "\x64\x0d", rsv => 4);
my $hs = WsFrame::ws_handshake('/ws', extensions => $main::PD);
[$hs . substr($f, 0, length($f) - 2), substr($f, -2)]
--- raw_request_middle_delay: 0.2
--- response_body eval
WsFrame::describe(WsFrame::srv_close(1007))
--- error_log
client sent incomplete compressed data, closing with 1007
--- no_error_log
[error]



=== TEST 25: the same data in one read: 1007 too
--- raw_request eval
my ($d) = Compress::Raw::Zlib::Deflate->new(-WindowBits => -15,
                                             -AppendOutput => 1);
my $z = '';
$d->deflate('abc', $z);
$d->flush($z, Compress::Raw::Zlib::Z_FINISH());
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_binary($z . "\x64\x0d", rsv => 4)
--- response_body eval
WsFrame::describe(WsFrame::srv_close(1007))
--- error_log
client sent incomplete compressed data, closing with 1007
--- no_error_log
[error]



=== TEST 26: a message of fragments that are empty stored blocks ends at the compressed bound of ws_max_message_size: 1009
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_max_message_size 1k;
    }
--- raw_request eval
# each fragment one empty stored block: it inflates to nothing
my $empty = "\x00\x00\x00\xff\xff";
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_binary($empty, rsv => 4, fin => 0)
. CORE::join('', map { WsFrame::ws_cont($empty, fin => 0) } 1 .. 300)
. WsFrame::ws_close(1000)
--- response_body eval
WsFrame::describe(WsFrame::srv_close(1009))
--- error_log
client sent too large compressed message, closing with 1009
--- no_error_log
[error]



=== TEST 27: one frame of empty stored blocks beyond the compressed bound: 1009 at its header
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_max_message_size 1k;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_binary("\x00\x00\x00\xff\xff" x 300, rsv => 4)
--- response_body eval
WsFrame::describe(WsFrame::srv_close(1009))
--- error_log
client sent too large compressed message, closing with 1009
--- no_error_log
[error]



=== TEST 28: an incompressible message of ws_max_message_size, in small fragments, is within the bound
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_max_message_size 1k;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => $main::PD)
. WsFrame::ws_fragments_z(2, $main::RANDOM, 7)
. WsFrame::ws_close(1000)
--- response_body eval
WsFrame::describe(WsFrame::srv_binary($main::RANDOM, rsv => 4)
. WsFrame::srv_close(1000))
--- no_error_log
[error]
