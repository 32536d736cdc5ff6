# EventSource (ws_sse) and ws_send_timeout: a subscriber that reads slowly
# but steadily, while more than its socket takes stays queued for longer
# than the timeout, is not closed (every write that makes progress starts
# the timeout again) and gets every event; a subscriber that stops reading
# is still closed once the timeout passes with nothing written, and
# "event stream client timed out" is logged.
#
# nginx runs with a master and two workers.  The scenarios run in each
# block's --- init and their checks are the first tests of the block.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;
use Test::NgxWs::Sse ();

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

# a server of its own, with a small send buffer
$ENV{TEST_NGINX_SSE_PORT} = ($ENV{TEST_NGINX_SERVER_PORT} || 1984) + 50;

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

my %INIT_TESTS = (1 => 3, 2 => 3);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- scenarios ----------------------------------------------------------

sub sse { Test::NgxWs::Sse->new(@_) }

sub count {
    my ($channel) = @_;
    my $r = http('GET', "/pub?channel=$channel");
    return $r->{body} =~ /"subscribers":(\d+)/ ? $1 : "status $r->{status}";
}

# Reads about $bytes more of the stream (or until $timeout).
sub read_some {
    my ($s, $bytes, $timeout) = @_;
    my $want = length($s->{body}) + length($s->{raw}) + $bytes;
    my $deadline = Time::HiRes::time() + $timeout;

    while (length($s->{body}) + length($s->{raw}) < $want) {
        my $left = $deadline - Time::HiRes::time();
        last if $left <= 0 || $s->{eof};
        $s->fill($left);
    }
}

# TEST 1: 20 KB every half second, for longer than ws_send_timeout 2s.
sub steady {
    my $port = $ENV{TEST_NGINX_SSE_PORT};
    my $s = sse(path => '/sse?ch=slow', rcvbuf => 4096, port => $port);
    my $big = 'x' x 2000;
    my $n = 100;

    publish('slow', "$_ $big") for 1 .. $n;

    my $t0 = Time::HiRes::time();

    while (!$s->{eof} && scalar($s->messages) < $n
           && Time::HiRes::time() - $t0 < 20)
    {
        read_some($s, 20000, 0.5);
        Time::HiRes::sleep(0.5);
    }

    my $took = Time::HiRes::time() - $t0;
    my @m = $s->messages;

    Test::More::cmp_ok($took, '>', 3,
                       "the stream stayed queued longer than the timeout"
                       . " (${took}s)");
    Test::More::is(join(' ', map { ($_->{data} // '') =~ /^(\d+) / ? $1
                                                                  : '?' }
                             @m),
                   join(' ', 1 .. $n), "all $n events, in order");

    publish('slow', 'last');
    @m = $s->wait_messages($n + 1, 3);
    Test::More::ok(!$s->{eof} && ($m[-1]{data} // '') eq 'last',
                   'the stream is still open');

    $s->close;
    wait_unsubscribed('slow');
}

# TEST 2: a reader that stops reading is closed after the timeout.
sub stopped {
    my $port = $ENV{TEST_NGINX_SSE_PORT};
    my $s = sse(path => '/sse?ch=stop', rcvbuf => 4096, port => $port);
    my $big = 'x' x 2000;

    publish('stop', "$_ $big") for 1 .. 100;

    Test::More::is(count('stop'), 1, 'subscribed while it does not read');

    my $deadline = Time::HiRes::time() + 6;
    Time::HiRes::sleep(0.1)
        while count('stop') != 0 && Time::HiRes::time() < $deadline;
    Test::More::is(count('stop'), 0,
                   'the stream that read nothing left the channel');

    $s->wait_end(3);
    Test::More::ok($s->{eof} && !$s->{done},
                   'it is closed, without the last chunk');

    $s->close;
}

__DATA__

=== TEST 1: a slow but steady reader is not timed out
--- http_config
    ws_zone chat 4m history=10;
    server {
        listen 127.0.0.1:$TEST_NGINX_SSE_PORT sndbuf=8k;
        location /sse {
            ws_sse;
            ws_subscribe chat $arg_ch;
            ws_send_timeout 2s;
        }
    }
--- config
    location /pub {
        ws_publisher chat;
    }
--- init
main::steady();
--- request
GET /pub?channel=slow
--- response_body_like: ^\{"channel":"slow","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]
timed out
too slow



=== TEST 2: a reader that stops reading is timed out
--- http_config
    ws_zone chat 4m history=10;
    server {
        listen 127.0.0.1:$TEST_NGINX_SSE_PORT sndbuf=8k;
        location /sse {
            ws_sse;
            ws_subscribe chat $arg_ch;
            ws_send_timeout 2s;
        }
    }
--- config
    location /pub {
        ws_publisher chat;
    }
--- init
main::stopped();
--- request
GET /pub?channel=stop
--- response_body_like: ^\{"channel":"stop","subscribers":0,
--- error_log
event stream client timed out
--- no_error_log
[error]
[alert]
[crit]
too slow
