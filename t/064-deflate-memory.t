# permessage-deflate memory.  TEST 1: memory does not grow with traffic:
# one connection with context takeover both ways echoes 20,000 compressed
# messages (16 bytes to 4 KiB, some fragmented, pings between) and the
# worker's VmRSS after them must be within 1 MiB of what it was after a
# warm-up of 2,000; 500 short deflate connections must not grow it by more
# than 1 MiB either; a 64 MiB bomb against a 1 MiB limit must not grow it by
# more than 4 MiB.  TEST 2: what a connection costs, for docs/directives.md:
# 200 connections held open after one compressed message each, per offer;
# zlib's own allocations are read from the debug lines "ws zlib ... bytes:",
# and all streams must be gone when the connections are.  The figures are
# printed with diag.
#
# master_process is off, so the process in the pid file is the worker.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc qw(nginx_rss);
use Test::NgxWs::Rounds qw(write_all);
use Test::Nginx::Socket;

use IO::Select ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

worker_connections(1024);
repeat_each(1);

# TEST 1: 5 checks in its init; TEST 2: 7; each block: status, body, 2
# no_error_log lines
plan tests => repeat_each() * (5 + 7 + blocks() * 4);

no_shuffle();
no_long_string();

# limits were warn lines (refusals info): the tests keep warn (t/130
# checks the default, error)
config_preamble('ws_security_log_level warn;');

run_tests();


use constant BATCH => 100;
use constant WARMUP => 2_000;
use constant MESSAGES => 20_000;
use constant CONNECTIONS => 500;
use constant HELD => 200;
use constant BOUND_KB => 1024;

# Reads $n frames (with $buf holding what was read beyond them).
sub read_frames {
    my ($s, $n, $bufref) = @_;
    my $sel = IO::Select->new($s);
    my @f;

    while (@f < $n) {
        my $size = WsFrame::frame_size($$bufref);

        if (defined $size) {
            push @f, WsFrame::decode(substr($$bufref, 0, $size, ''));
            next;
        }

        $sel->can_read(5) or last;
        my $r = sysread($s, $$bufref, 65536, length $$bufref);
        last unless $r;
    }

    return @f;
}

# One batch: the client frames (compressed with the client's context) and
# the messages expected back, as "opcode:payload".
sub batch {
    my ($deflate) = @_;
    my @sizes = (16, 200, 1500, 4096);
    my ($out, @want) = ('');

    for my $i (0 .. BATCH - 1) {
        my $opcode = $i % 2 ? 2 : 1;
        my $payload = substr(('abcdefghijklmnopqrstuvwxyz0123456789' x 120)
                             . $i, -$sizes[$i % 4]);

        if ($i % 25 == 0) {
            $out .= WsFrame::ws_ping("ping $i");
            push @want, "10:ping $i";
        }

        if ($i % 10 == 3) {
            $out .= WsFrame::ws_fragments_z($opcode, $payload, 100,
                                            deflater => $deflate);
        } else {
            $out .= WsFrame::frame(opcode => $opcode, rsv => 4,
                                   payload => $deflate->($payload));
        }

        push @want, "$opcode:$payload";
    }

    return ($out, @want);
}

sub rounds {
    my ($s, $rounds, $deflate, $inflate, $bufref) = @_;
    my $bad = 0;

    for (1 .. $rounds) {
        my ($out, @want) = batch($deflate);
        write_all($s, $out);
        my @got = map {
            "$_->{opcode}:" . ($_->{rsv} & 4 ? $inflate->($_->{payload})
                                             : $_->{payload})
        } read_frames($s, scalar @want, $bufref);
        $bad++ if join("\n", @got) ne join("\n", @want);
    }

    return $bad;
}

sub flat {
    my $deflate = WsFrame::deflater();
    my $inflate = WsFrame::inflater();
    my $buf = '';
    my $t0 = Time::HiRes::time();

    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5,
                                     extensions => 'permessage-deflate');
    my $s = $c->socket;

    my $bad = rounds($s, WARMUP / BATCH, $deflate, $inflate, \$buf);
    my $rss1 = nginx_rss();

    $bad += rounds($s, (MESSAGES - WARMUP) / BATCH, $deflate, $inflate,
                   \$buf);
    my $rss2 = nginx_rss();

    write_all($s, WsFrame::ws_close(1000));
    my ($close) = read_frames($s, 1, \$buf);
    $c->close;

    Test::More::ok($bad == 0 && $close && $close->{opcode} == 8,
                   sprintf('%d compressed messages echoed (%d batches'
                           . ' different) in %.1f s', MESSAGES, $bad,
                           Time::HiRes::time() - $t0));

    Test::More::cmp_ok($rss2 - $rss1, '<=', BOUND_KB,
                       'worker RSS after ' . MESSAGES . ' compressed messages'
                       . ' is within 1 MiB of the RSS after ' . WARMUP);

    Test::More::diag(sprintf('deflate: worker VmRSS %d KiB after %d'
                             . ' messages, %d KiB after %d (%+d KiB)',
                             $rss1, WARMUP, $rss2, MESSAGES, $rss2 - $rss1));

    # short connections: one compressed message each

    my ($ok, $rss3) = (0);

    for my $i (1 .. CONNECTIONS) {
        my $conn = Test::NgxWs::Client->new(path => '/ws', timeout => 5,
                                            extensions => 'permessage-deflate');
        my $b = '';
        write_all($conn->socket, WsFrame::ws_text_z('hello ' x 10)
                                 . WsFrame::ws_close(1000));
        my @f = read_frames($conn->socket, 2, \$b);
        $ok++ if @f == 2 && $f[0]{rsv} == 4
                 && WsFrame::inflater()->($f[0]{payload}) eq 'hello ' x 10
                 && $f[1]{opcode} == 8;
        $conn->close;
        $rss3 = nginx_rss() if $i == CONNECTIONS / 10;
    }

    my $rss4 = nginx_rss();

    Test::More::is($ok, CONNECTIONS, 'short deflate connections echoed');

    Test::More::cmp_ok($rss4 - $rss3, '<=', BOUND_KB,
                       'worker RSS after ' . CONNECTIONS . ' deflate'
                       . ' connections is within 1 MiB of the RSS after '
                       . CONNECTIONS / 10);

    Test::More::diag(sprintf('deflate: worker VmRSS %d KiB after %d'
                             . ' connections, %d KiB after %d (%+d KiB)',
                             $rss3, CONNECTIONS / 10, $rss4, CONNECTIONS,
                             $rss4 - $rss3));

    # a bomb: 64 MiB of zeros, ws_max_message_size is 1 MiB

    my ($d) = Compress::Raw::Zlib::Deflate->new(-WindowBits => -15,
                                                 -Level => 9,
                                                 -AppendOutput => 1);
    my ($z, $mib) = ('', "\x00" x 1048576);
    $d->deflate($mib, $z) for 1 .. 64;
    $d->flush($z, Compress::Raw::Zlib::Z_SYNC_FLUSH());
    $z =~ s/\x00\x00\xff\xff\z//;

    my $rss5 = nginx_rss();
    my $bomb = Test::NgxWs::Client->new(path => '/ws', timeout => 5,
                                        extensions => 'permessage-deflate');
    $bomb->send_frame(opcode => 2, rsv => 4, payload => $z);
    my ($code) = $bomb->wait_close(5);
    my $rss6 = nginx_rss();
    $bomb->close;

    Test::More::ok(($code // 0) == 1009 && $rss6 - $rss5 <= 4 * 1024,
                   sprintf('a %d-byte bomb of 64 MiB is closed with %s,'
                           . ' the worker grew by %d KiB', length $z,
                           $code // 'none', $rss6 - $rss5));
}

# zlib bytes and streams of the worker, from the last debug line
sub zlib_state {
    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log";
    open my $fh, '<', $log or die "$log: $!";
    my ($streams, $bytes) = (0, 0);
    while (<$fh>) {
        ($streams, $bytes) = ($1, $2)
            if /ws zlib \w+ (?:created|freed), worker streams:(\d+) bytes:(\d+)/;
    }
    return ($streams, $bytes);
}

# Holds HELD connections that sent one compressed message each; returns
# the worker's VmRSS growth and zlib's bytes, per connection, in KiB.
sub held {
    my ($offer, $path) = @_;
    my $rss0 = nginx_rss();
    my (undef, $z0) = zlib_state();
    my ($ok, @c) = (0);
    my $msg = 'a message of some length to compress ' x 5;

    for (1 .. HELD) {
        my $c = Test::NgxWs::Client->new(path => $path // '/ws', timeout => 5,
                   defined $offer ? (extensions => $offer) : ());
        my $b = '';
        write_all($c->socket, defined $offer ? WsFrame::ws_text_z($msg)
                                             : WsFrame::ws_text($msg));
        my ($f) = read_frames($c->socket, 1, \$b);
        $ok++ if $f && ($f->{rsv} & 4
                        ? WsFrame::inflater()->($f->{payload})
                        : $f->{payload}) eq $msg;
        push @c, $c;
    }

    my $rss = nginx_rss() - $rss0;
    my (undef, $z) = zlib_state();

    for my $c (@c) {
        $c->send_close(1000);
        $c->wait_close(3);
        $c->close;
    }

    return ($ok, $rss / HELD, ($z - $z0) / 1024 / HELD);
}

sub cost {
    my %r;
    my @offers = (
        [ 'no deflate', undef ],
        [ 'takeover both ways', 'permessage-deflate' ],
        [ 'server_no_context_takeover',
          'permessage-deflate; server_no_context_takeover' ],
        [ 'no takeover either way', 'permessage-deflate;'
          . ' server_no_context_takeover; client_no_context_takeover' ],
        [ 'takeover, windows of 10 bits', 'permessage-deflate;'
          . ' server_max_window_bits=10; client_max_window_bits=10' ],
        [ 'takeover, 10 bits, mem_level 4',
          'permessage-deflate; client_max_window_bits', '/small' ],
    );

    my $ok = 0;

    for my $o (@offers) {
        my ($n, $rss, $z) = held($o->[1], $o->[2]);
        $ok += $n;
        $r{ $o->[0] } = [ $rss, $z ];
        Test::More::diag(sprintf('%-30s VmRSS %6.1f KiB, zlib %6.1f KiB'
                                 . ' per connection', $o->[0], $rss, $z));
    }

    Test::More::is($ok, HELD * @offers, 'all held connections echoed');

    Test::More::cmp_ok($r{'takeover both ways'}[1], '>', 200,
                       'with takeover a connection holds both streams');
    Test::More::cmp_ok($r{'server_no_context_takeover'}[1], '<', 64,
                       'without server takeover only the inflater');
    Test::More::cmp_ok($r{'no takeover either way'}[1], '<', 1,
                       'without takeover no stream stays');
    Test::More::cmp_ok($r{'takeover, windows of 10 bits'}[1], '<',
                       $r{'takeover both ways'}[1] / 2,
                       'smaller windows, smaller streams');
    Test::More::cmp_ok($r{'takeover, 10 bits, mem_level 4'}[1], '<', 40,
                       'a smaller mem_level, much smaller streams');

    # all connections are gone: so are their streams (the worker keeps
    # one shared deflater per parameter set)
    Time::HiRes::sleep(0.2);
    my ($streams) = zlib_state();
    Test::More::cmp_ok($streams, '<=', 1, "zlib streams left: $streams");
}

__DATA__

=== TEST 1: 20,000 compressed messages and 500 deflate connections do not grow the worker
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_deflate_min_length 0;
        ws_send_buffer 4m;
    }
--- log_level: warn
--- init
main::flat();
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => 'permessage-deflate')
. WsFrame::ws_text_z('still here') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe_inflated
--- response_body eval
WsFrame::describe(WsFrame::srv_text('still here', rsv => 4)
. WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]



=== TEST 2: what a connection costs with and without context takeover
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_deflate_min_length 0;
    }
    location /small {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_deflate_min_length 0;
        ws_deflate_window_bits 10;
        ws_deflate_mem_level 4;
    }
--- init
main::cost();
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => 'permessage-deflate')
. WsFrame::ws_text_z('still here') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe_inflated
--- response_body eval
WsFrame::describe(WsFrame::srv_text('still here', rsv => 4)
. WsFrame::srv_close(1000))
--- no_error_log
[error]
[alert]
