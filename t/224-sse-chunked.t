# EventSource (ws_sse) over HTTP/1.1, chunked: a subscriber that stops
# reading until its socket is full while many events are queued, then
# reads everything, gets every event in order and the next one published
# too, round after round.  The events written while the socket drains are
# released only when nginx's chunked filter no longer links them (before,
# the next event read freed memory: an ASan report or a worker crash).
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

my %INIT_TESTS = (1 => 5, 2 => 3);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- scenarios ----------------------------------------------------------

sub sse { Test::NgxWs::Sse->new(@_) }

# the numbers at the head of the events' data, in the order they came
sub numbers {
    my ($s) = @_;
    return join ' ', map { ($_->{data} // '') =~ /^(\d+) / ? $1 : '?' }
                     $s->messages;
}

# TEST 1: many events queued while the socket is full, then read.
sub stalled {
    my ($rounds, $per, $size) = @_;
    my $port = $ENV{TEST_NGINX_SSE_PORT};
    my $s = sse(path => '/sse?ch=c', rcvbuf => 4096, port => $port);
    my $big = 'x' x $size;
    my ($n, $all, $next) = (0, 1, 1);

    Test::More::is($s->{status}, 200, 'the stream answers 200');
    Test::More::is($s->{headers}{'transfer-encoding'}, 'chunked',
                   'HTTP/1.1: chunked');

    for my $round (1 .. $rounds) {

        # the client reads nothing meanwhile: the socket fills up
        for (1 .. $per) {
            $n++;
            publish('c', "$n $big");
        }

        my @m = $s->wait_messages($n, 10);
        $all &&= (numbers($s) eq join ' ', 1 .. $n);

        # written after the queue drained
        $n++;
        publish('c', "$n $big");
        @m = $s->wait_messages($n, 5);
        $next &&= (numbers($s) eq join ' ', 1 .. $n);

        last unless $all && $next;
    }

    Test::More::ok($all, "every round: all $per events, in order ($n)");
    Test::More::ok($next, 'and the event published after they were read');
    Test::More::ok(!$s->{eof} && !$s->{done}, 'the stream is still open');

    $s->close;
    wait_unsubscribed('c');
}

# TEST 2: the same, with fewer events than the kept free items.
sub few {
    my $port = $ENV{TEST_NGINX_SSE_PORT};
    my $s = sse(path => '/sse?ch=f', rcvbuf => 4096, port => $port);
    my $big = 'y' x 6000;
    my $n = 0;
    my $ok = 1;

    for my $round (1 .. 5) {
        for (1 .. 10) {
            $n++;
            publish('f', "$n $big");
        }

        $s->wait_messages($n, 10);
        $n++;
        publish('f', "$n $big");
        $s->wait_messages($n, 5);
        $ok &&= (numbers($s) eq join ' ', 1 .. $n);
    }

    Test::More::ok($ok, "all events, in order ($n)");
    Test::More::ok(!$s->{eof} && !$s->{done}, 'the stream is still open');

    publish('f', 'last');
    my @m = $s->wait_messages($n + 1, 5);
    Test::More::is($m[-1]{data}, 'last', 'and it goes on');

    $s->close;
    wait_unsubscribed('f');
}

__DATA__

=== TEST 1: events queued behind a full socket, then read, then more
--- http_config
    ws_zone chat 4m history=10;
    server {
        listen 127.0.0.1:$TEST_NGINX_SSE_PORT sndbuf=8k;
        location /sse {
            ws_sse;
            ws_subscribe chat $arg_ch;
        }
    }
--- config
    location /pub {
        ws_publisher chat;
    }
--- init
main::stalled(3, 60, 2000);
--- request
GET /pub?channel=c
--- response_body_like: ^\{"channel":"c","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]
too slow



=== TEST 2: fewer events than the items kept for reuse
--- http_config
    ws_zone chat 4m history=10;
    server {
        listen 127.0.0.1:$TEST_NGINX_SSE_PORT sndbuf=8k;
        location /sse {
            ws_sse;
            ws_subscribe chat $arg_ch;
        }
    }
--- config
    location /pub {
        ws_publisher chat;
    }
--- init
main::few();
--- request
GET /pub?channel=f
--- response_body_like: ^\{"channel":"f","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]
too slow
