# Autobahn|Testsuite sections 12 and 13 (permessage-deflate) as Test::Nginx
# blocks: one block per subcategory (12.1 to 12.5: five kinds of data with
# the suite's default offer; 13.1 to 13.7: the seven offers of section 13),
# whose --- init runs its 18 cases with Test::NgxWs::Client against a
# ws_echo location with ws_deflate on.
#
# A case opens a connection with the case's offer(s) and checks the answer,
# then sends messages of the case's size, cut from its data where the last
# one ended (wrapping around), compressed as the suite's client compresses
# them (with a fresh context for every message, since the server answers
# the client_no_context_takeover the suite offers) and auto-fragmented
# into frames of the case's size (RSV1 on the first only), waits for each
# echo, inflates it with the server's context and compares it, then closes
# with 1000 and expects a clean close.  The suite sends 1000 messages per
# case; here a case sends 1000 messages of up to 1 KiB, and 512 KiB in
# messages of more (8 at least), to keep the file within seconds.  The suite's data files are not ours to copy: the five kinds of
# data are generated (JSON text, a 512x512 grey bitmap, German prose sent
# as binary, HTML text, PDF-like binary with incompressible streams), of
# the same kind and type (text or binary) as the suite's.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Client ();
use Test::Nginx::Socket;

use Digest::SHA ();
use Encode ();
use IO::Select ();

$SIG{PIPE} = 'IGNORE';

repeat_each(1);
no_shuffle();
no_long_string();

# the suite's MSG_SIZES: payload size, auto-fragment size
our @SIZES = (
    [16, 0], [64, 0], [256, 0], [1024, 0], [4096, 0], [8192, 0],
    [16384, 0], [32768, 0], [65536, 0], [131072, 0],
    [8192, 256], [16384, 256], [32768, 256], [65536, 256], [131072, 256],
    [131072, 1024], [131072, 4096], [131072, 32768],
);

# the suite's PerMessageDeflateOffer() and its section 13 offers
our $DEFAULT = 'permessage-deflate; client_no_context_takeover;'
               . ' client_max_window_bits';

our %OFFERS = (
    '13.1' => [ $DEFAULT ],
    '13.2' => [ "$DEFAULT; server_no_context_takeover" ],
    '13.3' => [ "$DEFAULT; server_max_window_bits=9" ],
    '13.4' => [ "$DEFAULT; server_max_window_bits=15" ],
    '13.5' => [ "$DEFAULT; server_no_context_takeover;"
                . " server_max_window_bits=9" ],
    '13.6' => [ "$DEFAULT; server_no_context_takeover;"
                . " server_max_window_bits=15" ],
    '13.7' => [ "$DEFAULT; server_no_context_takeover;"
                . " server_max_window_bits=9",
                "$DEFAULT; server_no_context_takeover", $DEFAULT ],
);

# the answer to the first offer: what the client offered for the server,
# and client_no_context_takeover
sub answer_to {
    my ($offer) = @_;
    my $a = 'permessage-deflate';
    $a .= '; server_no_context_takeover'
        if $offer =~ /server_no_context_takeover/;
    $a .= '; client_no_context_takeover';
    $a .= "; server_max_window_bits=$1"
        if $offer =~ /server_max_window_bits=(\d+)/;
    return $a;
}

# --- the data (generated; see the top) ----------------------------------

sub lcg {
    my ($seed) = @_;
    my $x = $seed;
    return sub {
        $x = ($x * 1103515245 + 12345) % 2147483648;
        return $x >> 8;
    };
}

sub json_text {
    my $r = lcg(1);
    my @names = ('Anna', 'Bjørn', 'Chloé', 'Dmitri', 'Eva', 'Fátima',
                 'Günter', 'Hiroshi', 'Inès', 'José');
    my $s = "[\n";
    for my $i (1 .. 700) {
        my $n = $names[$r->() % @names];
        $s .= sprintf(qq(  {"id": %d, "name": "%s", "email": "user%d\@example.com",)
                      . qq( "score": %d.%03d, "active": %s, "tags": ["t%d", "t%d"],)
                      . qq( "note": "Grüße aus Köln — entry %d"},\n),
                      $i, $n, $r->() % 10000, $r->() % 100, $r->() % 1000,
                      $r->() % 2 ? 'true' : 'false', $r->() % 50,
                      $r->() % 50, $i);
    }
    return $s . "  {}\n]\n";
}

sub bitmap {
    my $r = lcg(2);
    my $s = 'BM' . ("\x00" x 1076);
    for my $y (0 .. 511) {
        $s .= join '', map {
            chr(int(128 + 100 * sin($_ / 37 + $y / 53)) + $r->() % 16 - 8)
        } 0 .. 511;
    }
    return $s;
}

sub prose {
    my $r = lcg(3);
    my @w = qw(Habe nun ach Philosophie Juristerei und Medizin Und leider
               auch Theologie Durchaus studiert mit heißem Bemühn Da steh
               ich nun ich armer Tor Und bin so klug als wie zuvor Heiße
               Magister heiße Doktor gar Geist Mephistopheles Gretchen
               Nacht Straße Wald Höhle Kerker Grüße Tränen Küsse);
    my $s = '';
    while (length $s < 220_000) {
        my $line = join ' ', map { $w[$r->() % @w] } 1 .. 4 + $r->() % 6;
        $s .= ucfirst($line) . ($r->() % 5 ? ",\n" : ".\n\n");
    }
    return Encode::encode('UTF-8', $s);
}

sub html_text {
    my $r = lcg(4);
    my $s = "<!DOCTYPE html>\n<html><head><title>Données</title></head>"
            . "<body>\n";
    for my $i (1 .. 900) {
        $s .= sprintf(qq(<div class="row r%d"><a href="/item/%d">Élément %d</a>)
                      . qq(<span class="price">%d,%02d €</span><p>Lorem ipsum)
                      . qq( dolor sit amet — ñandú %d</p></div>\n),
                      $i % 7, $r->() % 100000, $i, $r->() % 1000,
                      $r->() % 100, $r->() % 99);
    }
    return $s . "</body></html>\n";
}

sub pdf_like {
    my $r = lcg(5);
    my $s = "%PDF-1.4\n";
    for my $i (1 .. 40) {
        $s .= "$i 0 obj\n<< /Length 4096 /Filter /FlateDecode >>\nstream\n"
              . join('', map { chr($r->() % 256) } 1 .. 4096)
              . "\nendstream\nendobj\n";
    }
    return $s . "trailer\n<< /Root 1 0 R >>\n%%EOF\n";
}

# name => [ data (characters for text, bytes for binary), binary ]
our %DATA;

sub data {
    my ($name) = @_;
    $DATA{$name} //= {
        json  => sub { [ Encode::decode('UTF-8', Encode::encode('UTF-8', json_text())), 0 ] },
        lena  => sub { [ bitmap(), 1 ] },
        faust => sub { [ prose(), 1 ] },
        html  => sub { [ html_text(), 0 ] },
        ooms  => sub { [ pdf_like(), 1 ] },
    }->{$name}->();
    return @{ $DATA{$name} };
}

# --- one case -------------------------------------------------------------

sub read_frame_from {
    my ($s, $bufref) = @_;
    my $sel = IO::Select->new($s);

    for (;;) {
        my $size = WsFrame::frame_size($$bufref);
        return (WsFrame::decode(substr($$bufref, 0, $size, '')))[0]
            if defined $size;
        $sel->can_read(10) or return undef;
        my $n = sysread($s, $$bufref, 262144, length $$bufref);
        return undef unless $n;
    }
}

sub run_case {
    my ($id, $offers, $dname, $len, $frag) = @_;
    my ($data, $binary) = data($dname);
    my $count = $len <= 1024 ? 1000 : int(512 * 1024 / $len);
    $count = 8 if $count < 8;

    my $c = Test::NgxWs::Client->new(path => '/echo', timeout => 10,
                headers => [ map { ('Sec-WebSocket-Extensions', $_) } @$offers ]);

    my $got = $c->header('Sec-WebSocket-Extensions') // '(none)';
    my $want = answer_to($offers->[0]);
    return "answer \"$got\", want \"$want\"" if $got ne $want;

    my $s = $c->socket;
    my $inflate = WsFrame::inflater();
    my $deflate = WsFrame::deflater(no_context => 1);
    my $data2 = $data x 2;
    my ($buf, $ptr, $bad) = ('', 0, undef);

    for my $k (1 .. $count) {
        # the next $len units of the data, wrapping around
        my $msg = substr($data2, $ptr, $len);
        $ptr = ($ptr + $len) % length $data;
        $msg = Encode::encode('UTF-8', $msg) unless $binary;

        my $z = $deflate->($msg);
        my $out = $frag ? WsFrame::ws_fragments($binary ? 2 : 1, $z, $frag)
                        : WsFrame::frame(opcode => $binary ? 2 : 1,
                                         payload => $z);
        substr($out, 0, 1) = chr(ord(substr($out, 0, 1)) | 0x40);
        $c->raw_write($out);

        # the echo, maybe in fragments
        my ($op, $rsv, $payload) = (undef, 0, '');
        for (;;) {
            my $f = read_frame_from($s, \$buf);
            if (!$f) {
                $bad = "message $k: no echo";
                last;
            }
            next if $f->{opcode} >= 8 && $f->{opcode} != 8;
            if ($f->{opcode} == 8) {
                $bad = "message $k: close " . unpack('n', $f->{payload});
                last;
            }
            $op //= $f->{opcode};
            $rsv ||= $f->{rsv};
            $payload .= $f->{payload};
            last if $f->{fin};
        }
        last if $bad;

        $payload = $inflate->($payload) if $rsv & 4;

        if ($op != ($binary ? 2 : 1) || length $payload != length $msg
            || Digest::SHA::sha1($payload) ne Digest::SHA::sha1($msg))
        {
            $bad = "message $k: opcode $op, length " . length($payload)
                   . ', want ' . length($msg);
            last;
        }
    }

    return $bad if $bad;

    $c->send_close(1000);
    my ($code) = $c->wait_close(10);
    my $eof = $c->wait_eof(5);
    $c->close;

    return 'close ' . ($code // 'none') unless ($code // 0) == 1000 && $eof;
    return "OK ($count messages)";
}

sub section {
    my ($sub) = @_;
    my ($dname, $offers);

    if ($sub =~ /^12\.(\d)$/) {
        $dname = (qw(json lena faust html ooms))[$1 - 1];
        $offers = [ $DEFAULT ];

    } else {
        $dname = 'json';
        $offers = $OFFERS{$sub};
    }

    my $i = 0;
    for my $s (@SIZES) {
        $i++;
        my $r = run_case("$sub.$i", $offers, $dname, @$s);
        Test::More::like($r, qr/^OK/,
                         "case $sub.$i: $s->[0] bytes, fragments of"
                         . " $s->[1]: $r");
    }
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value(config => <<'_EOC_') unless defined $block->config;
    location /echo {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_max_frame_size 16m;
        ws_max_message_size 16m;
        ws_send_buffer 16m;
    }
_EOC_

    $block->set_value(log_level => 'warn');
    $block->set_value(raw_request => WsFrame::ws_handshake('/echo',
                                         extensions => $DEFAULT)
                                     . WsFrame::ws_text_z('one more')
                                     . WsFrame::ws_close(1000));
    $block->set_value(error_code => 101);
    $block->set_value(response_body_filters => \&WsFrame::describe_inflated);
    $block->set_value(response_body => WsFrame::describe(
                                           WsFrame::srv_text('one more')
                                           . WsFrame::srv_close(1000)));
    $block->set_value(no_error_log => "[error]\n[alert]\n");
});

# per block: the 18 cases of its init, the status, the body and the two
# no_error_log lines
plan tests => repeat_each() * blocks() * (18 + 4);

run_tests();

__DATA__

=== TEST 1: cases 12.1.1-12.1.18, JSON text, the default offer
--- init
main::section('12.1');



=== TEST 2: cases 12.2.1-12.2.18, a bitmap, binary
--- init
main::section('12.2');



=== TEST 3: cases 12.3.1-12.3.18, German prose sent as binary
--- init
main::section('12.3');



=== TEST 4: cases 12.4.1-12.4.18, HTML text
--- init
main::section('12.4');



=== TEST 5: cases 12.5.1-12.5.18, PDF-like binary
--- init
main::section('12.5');



=== TEST 6: cases 13.1.1-13.1.18, the default offer
--- init
main::section('13.1');



=== TEST 7: cases 13.2.1-13.2.18, server_no_context_takeover
--- init
main::section('13.2');



=== TEST 8: cases 13.3.1-13.3.18, server_max_window_bits=9
--- init
main::section('13.3');



=== TEST 9: cases 13.4.1-13.4.18, server_max_window_bits=15
--- init
main::section('13.4');



=== TEST 10: cases 13.5.1-13.5.18, no server context, 9 bits
--- init
main::section('13.5');



=== TEST 11: cases 13.6.1-13.6.18, no server context, 15 bits
--- init
main::section('13.6');



=== TEST 12: cases 13.7.1-13.7.18, three offers, the first is taken
--- init
main::section('13.7');
