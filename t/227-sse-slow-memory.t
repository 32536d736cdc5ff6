# EventSource (ws_sse) subscribers that never read: ws_send_buffer bounds
# what the worker holds for each, as it does for a WebSocket.  What an
# event holds is charged (its item, its frame's pool, its id line), not its
# bytes alone: a 10-byte event counted 40 bytes and held some 1.5 KB, and
# a few streams that did not read could make a worker hold ten times
# their ws_send_buffer.  Events queued while the socket is full leave
# together once it drains, not passed down the filters one by one (each
# pass walked everything that waited: a worker spent seconds of CPU on a
# few thousand publishes).
#
# TEST 1: 8 streams (ws_send_buffer 128k) that do not read, 3,000 events
# of 10 bytes: the worker grows by less than twice their buffers (it grew
# by some 40 MB), and they are closed as too slow, with a warning each.
# A stream that reads gets every event.
#
# The streams' server listens with sndbuf=8k on the server port + 1, so
# that what is not read waits in the queue, not in the kernel.
# master_process is off, so the process in the pid file is the worker.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Channels;
use Test::NgxWs::Proc qw(nginx_rss);
use Test::NgxWs::Sse ();

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

# the streams' server: a small socket send buffer, so that the queue and
# not the kernel takes what the clients do not read
$ENV{TEST_NGINX_SSE_PORT} //= server_port() + 1;

repeat_each(1);

# the init's 3 checks, then status and the no_error_log line
plan tests => repeat_each() * (blocks() * 2 + 3);

no_shuffle();
no_long_string();

run_tests();


sub slow {
    my $port = $ENV{TEST_NGINX_SSE_PORT};
    my @slow = map { Test::NgxWs::Sse->new(path => '/sse?ch=s', port => $port,
                                           rcvbuf => 4096) } 1 .. 8;
    my $reader = Test::NgxWs::Sse->new(path => '/sse?ch=s', port => $port);

    Time::HiRes::sleep(0.2);
    my $rss0 = nginx_rss();
    my $rss1 = $rss0;

    # the peak: what a stream holds is freed when it is closed
    for my $i (1 .. 3000) {
        publish('s', sprintf('%09d', $i));
        next if $i % 50;
        $reader->fill(0);
        my $rss = nginx_rss();
        $rss1 = $rss if $rss > $rss1;
    }

    my @m = $reader->wait_for(sub { my @m = $_[0]->messages;
                                    @m && ($m[-1]{data} // '') eq '000003000'
                                  }, 10);
    my $got = () = $reader->messages;

    Test::More::cmp_ok($rss1 - $rss0, '<', 2 * 8 * 128,
                       'the worker holds less than twice the buffers'
                       . " of 8 streams that do not read (KiB)");
    Test::More::diag("worker VmRSS: $rss0 KiB, at most $rss1 KiB while"
                     . ' 3,000 events went to 8 streams that do not read');
    Test::More::is($got, 3000, 'the stream that reads gets every event');

    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log";
    open my $fh, '<', $log or die "$log: $!";
    my $slow = grep { /event stream subscriber is too slow/ } <$fh>;
    Test::More::is($slow, 8, 'the 8 streams are closed as too slow');
}

__DATA__

=== TEST 1: streams that do not read hold no more than ws_send_buffer
--- http_config
    ws_zone chat 4m;

    server {
        listen 127.0.0.1:$TEST_NGINX_SSE_PORT sndbuf=8k;

        location /sse {
            ws_sse;
            ws_subscribe chat $arg_ch;
            ws_send_buffer 128k;
        }
    }
--- config
    location /pub {
        ws_publisher chat;
    }

    location = /t {
        return 204;
    }
--- init
main::slow();
--- request
GET /t
--- error_code: 204
--- no_error_log
[alert]
