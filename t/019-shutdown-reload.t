# A worker that stops sends every open WebSocket a Close: 1012 "server
# restarting" when a reload retired it, 1001 "server shutting down" when
# nginx quits or the worker alone is told to quit; it logs "worker is
# shutting down, closing with CODE"; on a fast shutdown (TERM, nginx -s
# stop) each WebSocket is still sent a Close 1001, written at once without
# waiting ("worker is terminating, closed with 1001"),
# closes each connection when the client answers or after ws_close_timeout,
# and exits; worker_shutdown_timeout still ends what is left.  New
# connections after a reload are served by the new worker.
#
# The clients run in each block's --- init (after nginx has started), with
# master_process on; their checks are the first tests of the block.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc qw(master_pid workers_of gone);
use Test::Nginx::Socket;

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(1);
repeat_each(1);

# the init clients: 6 checks in TEST 1, 3 in TEST 2, 4 in TEST 3, 2 in TEST 4,
# 4 in TEST 5
plan tests => repeat_each() * (checks() + 6 + 3 + 4 + 2 + 4);

no_shuffle();
no_long_string();

run_tests();


# One test for the status and one per response_body, access_log and line
# of error_log and no_error_log.
sub checks {
    my $n = 0;

    for my $block (blocks()) {
        $n += 1 + grep { defined $block->$_ } qw(response_body access_log);

        for my $v (grep { defined } $block->error_log, $block->no_error_log) {
            $n += ref $v eq 'ARRAY' ? @$v
                : ref $v ? 1
                : scalar(my @l = split /\n/, $v);
        }
    }

    return $n;
}

sub wait_gone {
    my ($pid, $timeout) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    Time::HiRes::sleep(0.01) until gone($pid) || Time::HiRes::time() > $deadline;
    return gone($pid);
}

sub client {
    return Test::NgxWs::Client->new(path => '/ws', timeout => 3);
}

sub close_is {
    my ($c, $name, $want_code) = @_;
    my ($code, $reason) = $c->wait_close(3);
    $want_code //= 1001;
    my $want = $want_code == 1012 ? 'server restarting'
                                  : 'server shutting down';
    Test::More::is_deeply([$code, $reason], [$want_code, $want],
                          "$name gets Close $want_code \"$want\"");
}

# TEST 1: HUP to the master
sub reload {
    my $master = master_pid();

    # a client served means the worker runs: the master may still be
    # forking it when the listening socket already accepts
    my $a = client();
    my $b = client();
    my ($old) = workers_of($master);

    $a->send_text('before');
    my $f = $a->read_frame(2);
    Test::More::ok($f && $f->{payload} eq 'before',
                   'the connection is echoed before the reload');

    kill 'HUP', $master or die "kill HUP $master: $!";

    close_is($a, 'on reload, a client', 1012);
    $a->send_close(1001);
    Test::More::ok($a->wait_eof(1),
                   'the server closes TCP once the client answers');
    $a->close;

    my $t0 = Time::HiRes::time();
    close_is($b, 'on reload, another client', 1012);
    my $eof = $b->wait_eof(3);
    my $dt = Time::HiRes::time() - $t0;
    $b->close;
    Test::More::ok($eof && $dt >= 0.25,
                   sprintf('a client that does not answer is closed after'
                           . ' ws_close_timeout (%.2f s)', $dt));

    Test::More::ok(wait_gone($old, 3), 'the old worker exits');
}

# TEST 2: QUIT to the worker alone (the master starts a new one)
sub quit_worker {
    my $master = master_pid();

    my $a = client();
    my ($worker) = workers_of($master);

    kill 'QUIT', $worker or die "kill QUIT $worker: $!";

    close_is($a, 'on QUIT, a client');
    $a->send_close(1000);
    Test::More::ok($a->wait_eof(1),
                   'the server closes TCP once the client answers');
    $a->close;

    my $deadline = Time::HiRes::time() + 3;
    my @new;

    until (Time::HiRes::time() > $deadline) {
        @new = grep { $_ != $worker } workers_of($master);
        last if gone($worker) && @new;
        Time::HiRes::sleep(0.01);
    }

    Test::More::ok(gone($worker) && @new == 1,
                   "the worker exits and the master starts another one");
}

# TEST 3: QUIT to the master (nginx stops; it is started again for the
# block's request)
sub quit_master {
    my $master = master_pid();
    my $root = $ENV{TEST_NGINX_SERVER_ROOT};

    my $a = client();
    my $b = client();

    kill 'QUIT', $master or die "kill QUIT $master: $!";

    close_is($a, 'on nginx -s quit, a client');
    $a->send_close(1000);
    Test::More::ok($a->wait_eof(1),
                   'the server closes TCP once the client answers');
    $a->close;

    my $t0 = Time::HiRes::time();
    close_is($b, 'on nginx -s quit, another client');
    my $gone = wait_gone($master, 3);
    my $dt = Time::HiRes::time() - $t0;
    $b->close;

    Test::More::ok($gone && $dt >= 0.25 && $dt < 2,
                   sprintf('nginx exits after ws_close_timeout (%.2f s)',
                           $dt));

    return unless $gone;

    system($ENV{TEST_NGINX_BINARY}, '-p', "$root/", '-c',
           "$root/conf/nginx.conf", '-e', "$root/logs/error.log") == 0
        or die "cannot start nginx again";

    my $deadline = Time::HiRes::time() + 3;

    until (Time::HiRes::time() > $deadline) {
        last if IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ENV{TEST_NGINX_SERVER_PORT});
        Time::HiRes::sleep(0.02);
    }
}

# TEST 5: nginx -s stop (TERM to the master): no drain, but each
# WebSocket gets a Close 1001 before its socket is closed, also one whose
# client has not read what it was sent.
sub stop_master {
    my $master = master_pid();
    my $root = $ENV{TEST_NGINX_SERVER_ROOT};

    my $a = client();
    my $b = client();
    $b->send_text('unread echo');

    Time::HiRes::sleep(0.1);
    kill 'TERM', $master or die "kill TERM $master: $!";

    close_is($a, 'on nginx -s stop, a client');
    Test::More::ok($a->wait_eof(2), 'then the connection is closed');
    $a->close;

    close_is($b, 'on nginx -s stop, a client with an unread message');
    $b->close;

    Test::More::ok(wait_gone($master, 3), 'nginx exits');

    system($ENV{TEST_NGINX_BINARY}, '-p', "$root/", '-c',
           "$root/conf/nginx.conf", '-e', "$root/logs/error.log") == 0
        or die "cannot start nginx again";

    my $deadline = Time::HiRes::time() + 3;

    until (Time::HiRes::time() > $deadline) {
        last if IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ENV{TEST_NGINX_SERVER_PORT});
        Time::HiRes::sleep(0.02);
    }
}

# TEST 4: worker_shutdown_timeout ends a close handshake that would wait
# longer
sub shutdown_timeout {
    my $master = master_pid();

    my $a = client();

    my $t0 = Time::HiRes::time();
    kill 'HUP', $master or die "kill HUP $master: $!";

    close_is($a, 'on reload, a client', 1012);
    my $eof = $a->wait_eof(3);
    my $dt = Time::HiRes::time() - $t0;
    $a->close;

    Test::More::ok($eof && $dt < 1.5,
                   sprintf('worker_shutdown_timeout closes the connection'
                           . ' (%.2f s)', $dt));
}

__DATA__

=== TEST 1: reload (HUP): Close 1012 to open connections, new connections are served
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_close_timeout 300ms;
    }
--- init
main::reload();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('new worker') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('new worker') . "\x88\x02\x03\xe8"
--- error_log
worker is shutting down, closing with 1012
client did not answer close in time
--- no_error_log
[error]
[alert]



=== TEST 2: QUIT to the worker: Close 1001, the master starts a new worker
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_close_timeout 300ms;
    }
--- init
main::quit_worker();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('new worker') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('new worker') . "\x88\x02\x03\xe8"
--- error_log
worker is shutting down, closing with 1001
--- no_error_log
[error]
[alert]



=== TEST 3: quit (QUIT to the master): Close 1001, nginx exits after ws_close_timeout
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_close_timeout 300ms;
    }
--- init
main::quit_master();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('restarted') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('restarted') . "\x88\x02\x03\xe8"
--- error_log
worker is shutting down, closing with 1001
client did not answer close in time
--- no_error_log
[error]
[alert]



=== TEST 4: worker_shutdown_timeout cuts a long ws_close_timeout short
--- main_config
    worker_shutdown_timeout 500ms;
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_close_timeout 10s;
    }
--- init
main::shutdown_timeout();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('new worker') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('new worker') . "\x88\x02\x03\xe8"
--- error_log
worker is shutting down, closing with 1012
--- no_error_log
[error]
[alert]
client did not answer close in time



=== TEST 5: stop (TERM to the master): Close 1001 at once, then nginx exits
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_close_timeout 10s;
    }
--- init
main::stop_master();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('restarted') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('restarted') . "\x88\x02\x03\xe8"
--- error_log
worker is terminating, closed with 1001
--- no_error_log
[error]
[alert]
