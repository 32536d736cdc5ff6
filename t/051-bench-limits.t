# The reference servers of bench/run, the "limit" rows of bench/RESULTS.md,
# under the same client as the servers they are compared with: a limit that
# loses or garbles messages would make every ratio against it meaningless.
#
# --- init builds them (make -C bench), starts one on a free port, runs a
# short wsbench load against it and stops it by PID; the verdict is
# wsbench's result line, as in t/050-bench-smoke.t:
#   TEST 1, 2: bench/echo-epoll as the echo limit: wsbench --smoke (a Ping
#           first, fragments, close handshake), then 16 in flight, pipelined;
#   TEST 3: bench/echo-epoll as the fan-out limit (/sub/NAME subscribers,
#           POST /pub/NAME): every message to every subscriber, none late,
#           lost, twice or out of order, latency to the last subscriber;
#   TEST 4: bench/app-epoll, the application path's limit, in front of
#           bench/servers/app-echo.js (Node): every message echoed through
#           the app in the websocket-events format, in order, 4 in flight.
# No figure is compared with a threshold.  nginx itself only answers the
# block's request.  Ports: the server port + 3, + 4 (the Node app).

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Bench ();

use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

repeat_each(1);

# the client's verdict in --- init, then status, body and no_error_log
plan tests => repeat_each() * (blocks() * 4);

no_shuffle();
no_long_string();

my $LIMIT_PORT = server_port() + 3;
my $APP_PORT = server_port() + 4;

# a process started with its output in the server root's logs; its PID
# once it listens on $port, or undef when it does not within 10 s
sub spawn {
    my ($port, @cmd) = @_;

    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/$port.log";
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        POSIX::setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }

    my $deadline = Time::HiRes::time() + 10;
    while (Time::HiRes::time() < $deadline) {
        return $pid if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                             Proto => 'tcp');
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.05);
    }

    stop($pid);
    open my $fh, '<', $log;
    Test::More::diag("@cmd: not listening on $port; its output:\n"
                     . join '', <$fh> // ());
    return undef;
}

sub stop {
    my ($pid) = @_;

    kill 'TERM', $pid;
    my $deadline = Time::HiRes::time() + 5;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        if (Time::HiRes::time() > $deadline) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
            last;
        }
        Time::HiRes::sleep(0.05);
    }
}

sub echo_limit {
    my ($name, @args) = @_;

    return unless Test::NgxWs::Bench::built($name, qw(wsbench echo-epoll));

    my $pid = spawn($LIMIT_PORT, 'bench/echo-epoll', $LIMIT_PORT)
        // return Test::More::ok(0, "$name: echo-epoll starts");

    Test::NgxWs::Bench::echo_ok($name, "ws://127.0.0.1:$LIMIT_PORT/echo",
                                @args);
    stop($pid);
}

sub fanout_limit {
    return unless Test::NgxWs::Bench::built('echo-epoll fan-out',
                                            qw(wsbench echo-epoll));

    my $pid = spawn($LIMIT_PORT, 'bench/echo-epoll', $LIMIT_PORT)
        // return Test::More::ok(0, 'echo-epoll starts');

    my $base = "127.0.0.1:$LIMIT_PORT";
    my $cmd = join ' ', qw(timeout 30 bench/wsbench fanout -c 50 -s 64
                           --pub-rate 50 -t 1 --timeout 3 --late-grace 1),
                        "--pub http://$base/pub/lim", "ws://$base/sub/lim";
    my ($rc, $out, %r) = Test::NgxWs::Bench::run($cmd);
    stop($pid);

    Test::More::ok($rc == 0
                   && ($r{mode} // '') eq 'fanout'
                   && defined $r{errors} && $r{errors} eq '0'
                   && ($r{subscribers} // -1) == 50
                   && ($r{published} // 0) > 0
                   && ($r{deliveries} // -1) == 50 * $r{published}
                   && ($r{losses} // -1) == 0
                   && ($r{lost} // -1) == 0
                   && ($r{late} // -1) == 0
                   && ($r{duplicates} // -1) == 0
                   && ($r{reordered} // -1) == 0
                   && ($r{last_incomplete} // -1) == 0
                   && ($r{last_p50_us} // 0) > 0,
                   'echo-epoll fan-out: every message to every subscriber')
        or Test::More::diag($out);
}

sub app_limit {
    return unless Test::NgxWs::Bench::built('app-epoll',
                                            qw(wsbench app-epoll));

    my $app = spawn($APP_PORT, 'node', 'bench/servers/app-echo.js', $APP_PORT)
        // return Test::More::ok(0, 'app-echo.js starts');
    my $pid = spawn($LIMIT_PORT, 'bench/app-epoll', $LIMIT_PORT, $APP_PORT);

    unless ($pid) {
        stop($app);
        return Test::More::ok(0, 'app-epoll starts');
    }

    Test::NgxWs::Bench::echo_ok('app-epoll',
                                "ws://127.0.0.1:$LIMIT_PORT/echo",
                                qw(-c 8 -d 4 -s 100 -t 0.5 -w 0.1));
    stop($pid);
    stop($app);
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'EOF_CONFIG');
    location = /t {
        return 200 "ok\n";
    }
EOF_CONFIG
    $block->set_value('request', "GET /t\n");
    $block->set_value('response_body', "ok\n");
    $block->set_value('no_error_log', "[error]\n");
});

run_tests();

__DATA__

=== TEST 1: echo-epoll, the echo limit: --smoke (a Ping first, fragments, close handshake)
--- init
main::echo_limit('echo-epoll smoke', '--smoke');



=== TEST 2: echo-epoll, the echo limit: 16 messages in flight, pipelined
--- init
main::echo_limit('echo-epoll pipelined', qw(-c 8 -d 16 -P -t 0.5 -w 0.1));



=== TEST 3: echo-epoll, the fan-out limit: every message to every subscriber
--- init
main::fanout_limit();



=== TEST 4: app-epoll, the application path's limit, through the Node app
--- init
main::app_limit();
