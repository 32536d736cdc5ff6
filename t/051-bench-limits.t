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

# the programs built (make skips those up to date), or a failing check
sub built {
    my ($name, @targets) = @_;

    my $out = `make -s -C bench @targets 2>&1`;
    return 1 if $? == 0;

    Test::More::ok(0, "$name: bench builds @targets")
        or Test::More::diag($out);
    return 0;
}

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

# a wsbench command line: its exit status, its output and the fields of
# its "result" line
sub wsbench_run {
    my ($cmd) = @_;

    my $out = `$cmd 2>&1`;
    my $rc = $?;
    my ($res) = $out =~ /^result (.*)$/m;

    return ($rc, $out, map { split /=/, $_, 2 } split ' ', ($res // ''));
}

# wsbench echo ARGS against the server on $LIMIT_PORT: no error, every
# connection up and closed cleanly, messages echoed (with --smoke, a Pong
# for each connection's Ping)
sub echo_ok {
    my ($name, @args) = @_;

    my ($rc, $out, %r) =
        wsbench_run("timeout 30 bench/wsbench echo @args"
                    . " ws://127.0.0.1:$LIMIT_PORT/echo");
    my $conns = $r{conns} // -1;

    Test::More::ok($rc == 0
                   && defined $r{errors} && $r{errors} eq '0'
                   && ($r{messages} // 0) > 0
                   && ($r{established} // -1) == $conns
                   && ($r{close_clean} // -1) == $conns
                   && (!grep({ $_ eq '--smoke' } @args)
                       || ($r{pongs} // -1) == $conns),
                   "$name: no error, messages echoed")
        or Test::More::diag($out);
}

sub echo_limit {
    my ($name, @args) = @_;

    return unless built($name, qw(wsbench echo-epoll));

    my $pid = spawn($LIMIT_PORT, 'bench/echo-epoll', $LIMIT_PORT)
        // return Test::More::ok(0, "$name: echo-epoll starts");

    echo_ok($name, @args);
    stop($pid);
}

sub fanout_limit {
    return unless built('echo-epoll fan-out', qw(wsbench echo-epoll));

    my $pid = spawn($LIMIT_PORT, 'bench/echo-epoll', $LIMIT_PORT)
        // return Test::More::ok(0, 'echo-epoll starts');

    my $base = "127.0.0.1:$LIMIT_PORT";
    my ($rc, $out, %r) =
        wsbench_run(join ' ', qw(timeout 30 bench/wsbench fanout -c 50 -s 64
                                 --pub-rate 50 -t 1 --timeout 3
                                 --late-grace 1),
                              "--pub http://$base/pub/lim",
                              "ws://$base/sub/lim");
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
    return unless built('app-epoll', qw(wsbench app-epoll));

    my $app = spawn($APP_PORT, 'node', 'bench/servers/app-echo.js', $APP_PORT)
        // return Test::More::ok(0, 'app-echo.js starts');
    my $pid = spawn($LIMIT_PORT, 'bench/app-epoll', $LIMIT_PORT, $APP_PORT);

    unless ($pid) {
        stop($app);
        return Test::More::ok(0, 'app-epoll starts');
    }

    echo_ok('app-epoll', qw(-c 8 -d 4 -s 100 -t 0.5 -w 0.1));
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
