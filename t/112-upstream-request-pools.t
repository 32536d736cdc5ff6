# The pools of ws_pass's event requests are kept by as many as a worker had
# in flight at once, and given back when they go unused.
#
# TEST 1: 120 connections send one message each, all at once, to an app
# that answers every event after 300 ms, so that all 120 events are in
# flight together; four rounds.  From the second round on, the worker takes
# (almost) no new pages: its minor page faults (/proc/PID/stat) over rounds
# 2 to 4 stay under one for 20 events (0 to 3 in all when this was
# written).  When only 16 pools were kept, the other 104 went back to
# malloc() each round and the heap's top shrank and grew: 97 faults over
# those rounds.  Under AddressSanitizer, make test-asan has freed pages
# given back to the kernel every 10 ms, so that every malloc() left, the
# module's or nginx's, faults at a rate that follows that timer and the
# machine's load (0.9 to over 2 an event were seen); this file turns that
# off for its nginx, which then reuses freed blocks as glibc does, and the
# same bound holds.  Then, with the connections idle, a
# debug line "ws request pools: N kept, M unused go" shows the pools beyond
# 16 freed within 25 s (a timer frees, every 10 s, those that no request
# took since it last ran).
#
# master_process is off, so the process in the pid file is the worker.  The
# client runs in the block's --- init; its checks are the first tests.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc ();

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

# under make test-asan: freed pages stay in the process (see above)
$ENV{ASAN_OPTIONS} .= ':allocator_release_to_os_interval_ms=-1'
    if $ENV{ASAN_OPTIONS};

Test::NgxWs::App::start();

worker_connections(1024);
repeat_each(1);

# the init: 4 checks; the block: status, body, 2 no_error_log lines
plan tests => repeat_each() * (4 + blocks() * 4);

no_shuffle();
no_long_string();

run_tests();


use constant CONNS => 120;
use constant ROUNDS => 4;
use constant KEPT_IDLE => 16;
use constant FAULTS_PER_EVENT => 1 / 20;

# minor page faults of a process, from /proc/PID/stat
sub minflt {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or die "/proc/$pid/stat: $!";
    my $stat = <$fh>;
    $stat =~ s/^.*\) //s;
    return (split ' ', $stat)[7];
}

# the error log's "ws request pools" lines: [kept, unused freed] each
sub trims {
    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log";
    open my $fh, '<', $log or die "$log: $!";
    my @t;
    while (<$fh>) {
        push @t, [$1, $2] if /ws request pools: (\d+) kept, (\d+) unused go/;
    }
    return @t;
}

sub pools {
    my $pid = Test::NgxWs::Proc::master_pid();
    my @c = map { Test::NgxWs::Client->new(path => '/ws', timeout => 10) }
            1 .. CONNS;
    my ($good, @faults) = (0);

    for my $round (1 .. ROUNDS) {
        my $f0 = minflt($pid);

        $c[$_]->send_text("r$round-$_") for 0 .. $#c;

        for my $k (0 .. $#c) {
            my @f = $c[$k]->read(all => [{ opcode => 1,
                                           payload => "r$round-$k" }],
                                 timeout => 10);
            $good++ if @f == 1 && $f[0]{payload} eq "r$round-$k";
        }

        push @faults, minflt($pid) - $f0;
    }

    Test::More::is($good, CONNS * ROUNDS, 'every event answered, '
                   . CONNS . ' in flight at once, ' . ROUNDS . ' rounds');

    my $later = 0;
    $later += $faults[$_] for 1 .. $#faults;
    my $events = CONNS * (ROUNDS - 1);

    Test::More::cmp_ok($later, '<', $events * FAULTS_PER_EVENT,
                       'rounds 2 to ' . ROUNDS . ' take fewer than '
                       . FAULTS_PER_EVENT . ' new pages an event');
    Test::More::diag('minor page faults of the worker per round: '
                     . join(', ', @faults));

    # idle: the pools beyond KEPT_IDLE go within two runs of the timer
    my $deadline = Time::HiRes::time() + 25;
    my @freed;

    while (Time::HiRes::time() < $deadline) {
        @freed = grep { $_->[1] > 0 } trims();
        last if @freed;
        Time::HiRes::sleep(0.5);
    }

    Test::More::ok(@freed && $freed[-1][0] >= CONNS * 3 / 4,
                   'the timer frees the pools that went unused: '
                   . (@freed ? "$freed[-1][0] kept, $freed[-1][1] freed"
                             : 'no line within 25 s'));
    Test::More::is(@freed ? $freed[-1][0] - $freed[-1][1] : -1, KEPT_IDLE,
                   KEPT_IDLE . ' stay kept while idle');

    $_->send_close(1000) for @c;
    $_->wait_close(5) for @c;
    $_->close for @c;
}

__DATA__

=== TEST 1: as many pools kept as events were in flight, the unused given back
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_APP_PORT;
        keepalive 200;
    }
--- config
    location /ws {
        websocket;
        ws_pass /app;
    }

    location = /app {
        internal;
        proxy_pass http://app/app/message?echo=1&mt=text&delay=300;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
--- log_level: debug
--- init
main::pools();
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?body=still%20here'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.4
--- error_code: 101
--- response_body eval
WsFrame::srv_text('still here') . "\x88\x02\x03\xe8"
--- no_error_log
[error]
[crit]
