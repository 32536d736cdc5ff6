# Memory does not grow with traffic: one connection echoes 100,000 messages
# (text and binary, 16 bytes to 4 KiB, some fragmented, with pings between)
# and the worker's resident size (VmRSS) after them must be within 1 MiB of
# what it was after a warm-up of 10,000; then 1,000 short connections must
# not grow it by more than 1 MiB either.  The figures are printed with diag.
#
# master_process is off, so the process in the pid file is the worker.  The
# client runs in the block's --- init; its checks are the first tests.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc qw(nginx_rss);
use Test::NgxWs::Rounds qw(write_all read_exactly rounds);
use Test::Nginx::Socket;

use IO::Select ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

repeat_each(1);

# the init client: 4 checks; the block: status, body, 2 no_error_log lines
plan tests => repeat_each() * (4 + blocks() * 4);

no_shuffle();
no_long_string();

run_tests();


use constant BATCH => 100;       # messages per round trip
use constant WARMUP => 10_000;
use constant MESSAGES => 100_000;
use constant CONNECTIONS => 1_000;
use constant BOUND_KB => 1024;

# One batch of client frames and the exact bytes the server must send back.
sub batch {
    my @sizes = (16, 200, 1500, 4096);
    my ($out, $back) = ('', '');

    for my $i (0 .. BATCH - 1) {
        my $opcode = $i % 2 ? 2 : 1;
        my $payload = substr(('abcdefghijklmnopqrstuvwxyz0123456789' x 120)
                             . $i, -$sizes[$i % 4]);

        if ($i % 25 == 0) {
            $out .= WsFrame::ws_ping("ping $i");
            $back .= WsFrame::srv_pong("ping $i");
        }

        if ($i % 10 == 3) {
            my $third = int(length($payload) / 3);
            $out .= WsFrame::frame(opcode => $opcode, fin => 0,
                                   payload => substr($payload, 0, $third))
                    . WsFrame::ws_cont(substr($payload, $third, $third),
                                       fin => 0)
                    . WsFrame::ws_cont(substr($payload, 2 * $third));

        } else {
            $out .= WsFrame::frame(opcode => $opcode, payload => $payload);
        }

        $back .= WsFrame::srv_frame($opcode, $payload);
    }

    return ($out, $back);
}

sub memory {
    my ($out, $back) = batch();
    my $t0 = Time::HiRes::time();

    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    my $s = $c->socket;
    die "frames before the first message" if length $c->leftover;

    my $bad = rounds($s, WARMUP / BATCH, $out, $back);
    my $rss1 = nginx_rss();

    $bad += rounds($s, (MESSAGES - WARMUP) / BATCH, $out, $back);
    my $rss2 = nginx_rss();

    write_all($s, WsFrame::ws_close(1000));
    my $closed = read_exactly($s, 4, IO::Select->new($s));
    $c->close;

    Test::More::ok($bad == 0 && $closed eq "\x88\x02\x03\xe8",
                   sprintf('%d messages echoed exactly (%d batches'
                           . ' different) in %.1f s', MESSAGES, $bad,
                           Time::HiRes::time() - $t0));

    Test::More::cmp_ok($rss2 - $rss1, '<=', BOUND_KB,
                       'worker RSS after ' . MESSAGES . ' messages is within'
                       . ' 1 MiB of the RSS after ' . WARMUP);

    Test::More::diag(sprintf('worker VmRSS: %d KiB after %d messages, %d KiB'
                             . ' after %d (%+d KiB)', $rss1, WARMUP, $rss2,
                             MESSAGES, $rss2 - $rss1));

    # short connections: one message each

    my ($one, $one_back) = (WsFrame::ws_text('hello') . WsFrame::ws_close(1000),
                            "\x81\x05hello\x88\x02\x03\xe8");
    my ($ok, $rss3) = (0);
    $t0 = Time::HiRes::time();

    for my $i (1 .. CONNECTIONS) {
        my $conn = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
        my $cs = $conn->socket;
        write_all($cs, $one);
        $ok++ if read_exactly($cs, length $one_back, IO::Select->new($cs))
                 eq $one_back;
        $conn->close;
        $rss3 = nginx_rss() if $i == CONNECTIONS / 10;
    }

    my $rss4 = nginx_rss();

    Test::More::ok($ok == CONNECTIONS,
                   sprintf('%d of %d short connections echoed in %.1f s',
                           $ok, CONNECTIONS, Time::HiRes::time() - $t0));

    Test::More::cmp_ok($rss4 - $rss3, '<=', BOUND_KB,
                       'worker RSS after ' . CONNECTIONS . ' connections is'
                       . ' within 1 MiB of the RSS after ' . CONNECTIONS / 10);

    Test::More::diag(sprintf('worker VmRSS: %d KiB after %d connections, %d'
                             . ' KiB after %d (%+d KiB)', $rss3,
                             CONNECTIONS / 10, $rss4, CONNECTIONS,
                             $rss4 - $rss3));
}

__DATA__

=== TEST 1: 100,000 messages and 1,000 connections do not grow the worker
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- log_level: warn
--- init
main::memory();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('still here') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('still here') . "\x88\x02\x03\xe8"
--- no_error_log
[error]
[alert]
