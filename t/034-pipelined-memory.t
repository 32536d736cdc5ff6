# Pipelined echo reuses message pools and writes a frame's header in front
# of its payload: 20 connections each send 500 messages at once, 10,000 in
# flight per round, and every byte must come back as sent, round after
# round; the worker's resident size (VmRSS) after 20 more rounds must be
# within 1 MiB of what it was after 2.  The messages are of the sizes where
# that matters: below and above 125 and 65,535 bytes (the three header
# lengths), small ones (their pools are the ones kept for reuse), fragmented
# ones that outgrow their pool's block (a pool kept for reuse has had large
# allocations), and Pings between them.  A pool put back twice, a large
# allocation not freed with its pool, or a header written over the payload
# fails here.
#
# master_process is off, so the process in the pid file is the worker.  The
# client runs in the block's --- init; its checks are the first tests.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc qw(nginx_rss);
use Test::NgxWs::Rounds qw(write_all read_exactly);
use Test::Nginx::Socket;

use IO::Select ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

repeat_each(1);

# the init client: 2 checks; the block: status, body, 2 no_error_log lines
plan tests => repeat_each() * (2 + blocks() * 4);

no_shuffle();
no_long_string();

run_tests();


use constant CONNECTIONS => 20;
use constant BATCH => 500;       # messages in flight per connection
use constant WARMUP => 2;        # rounds
use constant ROUNDS => 20;
use constant BOUND_KB => 1024;

# One connection's batch of client frames and the exact bytes the server
# must send back.
sub batch {
    my $n = shift;
    my @sizes = (32, 125, 126, 64, 700, 16);
    my $text = 'abcdefghijklmnopqrstuvwxyz0123456789' x 2000;
    my ($out, $back) = ('', '');

    for my $i (0 .. BATCH - 1) {
        my $opcode = $i % 2 ? 2 : 1;
        my $payload = substr("$n.$i." . $text, 0, $sizes[$i % @sizes]);

        if ($i % 100 == 50) {
            $out .= WsFrame::ws_ping("ping $i");
            $back .= WsFrame::srv_pong("ping $i");
        }

        if ($i % 50 == 7) {
            # starts in a small pool, grows out of its block
            $payload = substr("$n.$i." . $text, 0, 5060);
            $out .= WsFrame::frame(opcode => $opcode, fin => 0,
                                   payload => substr($payload, 0, 60))
                    . WsFrame::ws_cont(substr($payload, 60, 3000), fin => 0)
                    . WsFrame::ws_cont(substr($payload, 3060));

        } elsif ($i == BATCH - 1) {
            # a 64-bit length
            $payload = substr("$n.$i." . $text, 0, 65536 + 1000);
            $out .= WsFrame::frame(opcode => 2, payload => $payload);
            $opcode = 2;

        } else {
            $out .= WsFrame::frame(opcode => $opcode, payload => $payload);
        }

        $back .= WsFrame::srv_frame($opcode, $payload);
    }

    return ($out, $back);
}

sub memory {
    my (@conns, @out, @back);
    my ($bad, $rss1) = (0);
    my $t0 = Time::HiRes::time();

    for my $n (1 .. CONNECTIONS) {
        my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
        die "frames before the first message" if length $c->leftover;
        push @conns, $c;
        my ($out, $back) = batch($n);
        push @out, $out;
        push @back, $back;
    }

    for my $round (1 .. WARMUP + ROUNDS) {

        # every connection's batch is sent before any echo is read

        for my $i (0 .. $#conns) {
            write_all($conns[$i]->socket, $out[$i]);
        }

        for my $i (0 .. $#conns) {
            my $s = $conns[$i]->socket;
            $bad++ if read_exactly($s, length $back[$i], IO::Select->new($s))
                      ne $back[$i];
        }

        $rss1 = nginx_rss() if $round == WARMUP;
    }

    my $rss2 = nginx_rss();
    my $closed = 0;

    for my $c (@conns) {
        my $s = $c->socket;
        write_all($s, WsFrame::ws_close(1000));
        $closed++ if read_exactly($s, 4, IO::Select->new($s))
                     eq "\x88\x02\x03\xe8";
        $c->close;
    }

    Test::More::ok($bad == 0 && $closed == CONNECTIONS,
                   sprintf('%d pipelined messages echoed exactly (%d batches'
                           . ' different, %d closes right) in %.1f s',
                           CONNECTIONS * BATCH * (WARMUP + ROUNDS), $bad,
                           $closed, Time::HiRes::time() - $t0));

    Test::More::cmp_ok($rss2 - $rss1, '<=', BOUND_KB,
                       'worker RSS after ' . (WARMUP + ROUNDS) . ' rounds is'
                       . ' within 1 MiB of the RSS after ' . WARMUP);

    Test::More::diag(sprintf('worker VmRSS: %d KiB after %d rounds of %d'
                             . ' pipelined messages, %d KiB after %d'
                             . ' (%+d KiB)', $rss1, WARMUP,
                             CONNECTIONS * BATCH, $rss2, WARMUP + ROUNDS,
                             $rss2 - $rss1));
}

__DATA__

=== TEST 1: 220,000 pipelined messages echo exactly and do not grow the worker
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- log_level: warn
--- init
main::memory();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_binary('x' x 200) . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_binary('x' x 200) . "\x88\x02\x03\xe8"
--- no_error_log
[error]
[alert]
