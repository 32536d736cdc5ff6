# Memory does not grow with upstream events: one connection sends 100,000
# messages through ws_pass to an app (an nginx server block answering
# 200 "ok", reached through an upstream with keepalive), every one answered
# by a text message "ok"; the worker's resident size (VmRSS) after them must
# be within 1 MiB of what it was after a warm-up of 10,000.  The figures
# and the time are printed with diag.
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

$ENV{TEST_NGINX_APP_PORT} //= ($ENV{TEST_NGINX_SERVER_PORT}
                               // $ENV{TEST_NGINX_PORT} // 1984) + 1;

repeat_each(1);

# the init client: 2 checks; the block: status, body, 2 no_error_log lines
plan tests => repeat_each() * (2 + blocks() * 4);

no_shuffle();
no_long_string();

run_tests();


use constant BATCH => 100;       # messages per round trip
use constant WARMUP => 10_000;
use constant MESSAGES => 100_000;
use constant BOUND_KB => 1024;

sub memory {
    my ($out, $back) = ('', '');

    for my $i (1 .. BATCH) {
        $out .= $i % 2 ? WsFrame::ws_text("message $i")
                       : WsFrame::ws_binary("message $i" . "\0" x ($i * 10));
        $back .= WsFrame::srv_text('ok');
    }

    my $t0 = Time::HiRes::time();

    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    my $s = $c->socket;
    die "frames before the first message" if length $c->leftover;

    my $bad = rounds($s, WARMUP / BATCH, $out, $back);
    my $rss1 = nginx_rss();

    $bad += rounds($s, (MESSAGES - WARMUP) / BATCH, $out, $back);
    my $rss2 = nginx_rss();
    my $dt = Time::HiRes::time() - $t0;

    write_all($s, WsFrame::ws_close(1000));
    my $closed = read_exactly($s, 4, IO::Select->new($s));
    $c->close;

    Test::More::ok($bad == 0 && $closed eq "\x88\x02\x03\xe8",
                   sprintf('%d messages passed to the app and answered in'
                           . ' order (%d batches different) in %.1f s',
                           MESSAGES, $bad, $dt));

    Test::More::cmp_ok($rss2 - $rss1, '<=', BOUND_KB,
                       'worker RSS after ' . MESSAGES . ' events is within'
                       . ' 1 MiB of the RSS after ' . WARMUP);

    Test::More::diag(sprintf('worker VmRSS: %d KiB after %d events, %d KiB'
                             . ' after %d (%+d KiB); %.1f s, %.0f events/s',
                             $rss1, WARMUP, $rss2, MESSAGES, $rss2 - $rss1,
                             $dt, MESSAGES / $dt));
}

__DATA__

=== TEST 1: 100,000 events through ws_pass do not grow the worker
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_APP_PORT;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_APP_PORT;
        access_log off;

        location / {
            return 200 "ok";
        }
    }
--- config
    location /ws {
        websocket;
        ws_pass /app;
    }

    location = /app {
        internal;
        proxy_pass http://app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
--- log_level: warn
--- init
main::memory();
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('still here'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . WsFrame::srv_close(1000)
--- no_error_log
[error]
[alert]
