# A Redis-backed zone across instances: a message or a Close to a
# connection id reaches it from any instance (ws_publisher's POST ?id=,
# the connections API's POST and DELETE ?id=), 404 when no live instance
# has it; the publisher's GET ?channel= counts the subscribers of every
# live instance and lists their members (&members), and forgets an
# instance that died within its ttl (3 s).
# Instance A is the suite's nginx (a master, two workers); instance B is a
# second nginx (a master, two workers) that this file starts with a
# configuration of its own and stops by PID (TEST 2 kills it, TEST 3
# starts it again).  Both have
# the zone "chat" on the same Redis (Debian's redis-server, started here,
# stopped by PID).  Ports, next to the suite's:
#   TEST_NGINX_REDIS_PORT       (server port + 5) the Redis server
#   TEST_NGINX_B_PORT           (+ 10) instance B
#
# The scenarios run in each block's --- init and their checks are the
# first tests of the block.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Client ();
use Test::NgxWs::Redis ();

use File::Temp ();
use POSIX ();
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

$ENV{TEST_NGINX_REDIS_PORT} //= server_port() + 5;
$ENV{TEST_NGINX_B_PORT} //= server_port() + 10;

our $Redis = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT});

master_on();
workers(2);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 11, 2 => 8, 3 => 5);

# per block: TEST 1: 3 (status, body, no_error_log), TEST 2, 3: 2 (status,
# no_error_log), TEST 4 (must_die): 2
plan tests => repeat_each() * (3 + 2 + 2 + 2) + sum(values %INIT_TESTS);

sub sum { my $n = 0; $n += $_ for @_; $n }

no_shuffle();
no_long_string();

run_tests();


# --- instance B ---------------------------------------------------------

our ($B_pid, $B_dir);

sub start_b {
    $B_dir = File::Temp::tempdir('ngx-ws-b-XXXXXX', TMPDIR => 1,
                                 CLEANUP => 1);
    mkdir "$B_dir/logs";

    my $module = $ENV{TEST_NGINX_LOAD_MODULES} // '';
    my $load = join '', map { "load_module $_;\n" } split ' ', $module;

    open my $fh, '>', "$B_dir/nginx.conf" or die "$B_dir/nginx.conf: $!";
    print $fh <<"EOF";
$load
daemon off;
master_process on;
worker_processes 2;
pid $B_dir/logs/nginx.pid;
error_log $B_dir/logs/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    ws_zone chat 1m redis=127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B_PORT};
        location /push {
            websocket;
            ws_push chat;
            add_header X-Id \$ws_connection_id always;
        }
        location /sub {
            websocket;
            ws_subscribe chat room;
            ws_presence \$arg_user;
        }
        location /pub {
            ws_publisher chat;
        }
        location /conns {
            ws_connections chat;
        }
    }
}
EOF
    close $fh;

    $B_pid = fork // die "fork: $!";

    if ($B_pid == 0) {
        { exec $ENV{TEST_NGINX_BINARY} // 'nginx', '-p', "$B_dir/", '-c',
               "$B_dir/nginx.conf" };
        POSIX::_exit(127);
    }

    Test::NgxWs::Redis::wait_port($ENV{TEST_NGINX_B_PORT}, 5)
        or die "instance B did not start";
}

sub stop_b {
    return unless $B_pid;
    kill 'QUIT', $B_pid;
    waitpid $B_pid, 0;
    undef $B_pid;
}

# B dies at once, master and workers (by their PIDs): nothing is told to
# Redis, the others must find out by its heartbeat's ttl
sub kill_b {
    return unless $B_pid;
    my @workers = children($B_pid);
    kill 'KILL', $B_pid, @workers;
    waitpid $B_pid, 0;
    undef $B_pid;
}

sub children {
    my ($ppid) = @_;
    my @pids;

    opendir my $dh, '/proc' or return ();

    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh> // '';
        close $fh;
        push @pids, $pid if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $ppid;
    }

    return @pids;
}

sub b_log {
    open my $fh, '<', "$B_dir/logs/error.log" or return '';
    local $/;
    return <$fh>;
}

END { stop_b() }


# --- helpers ------------------------------------------------------------

# a request: "STATUS BODY" (the body without its newline)
sub req {
    my ($port, $method, $uri, $body) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 3)
        or die "connect: $!";

    print $s "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\nContent-Type: text/plain\r\n"
             . (defined $body ? 'Content-Length: ' . length($body)
                                . "\r\n\r\n$body"
                              : "\r\n");

    my ($buf, $sel) = ('', IO::Select->new($s));
    my $deadline = Time::HiRes::time() + 3;

    while ((my $left = $deadline - Time::HiRes::time()) > 0) {
        last unless $sel->can_read($left);
        last unless sysread $s, $buf, 65536, length $buf;
    }

    my ($status) = $buf =~ m{^HTTP/1\.1 (\d+)};
    my ($rbody) = $buf =~ /\r\n\r\n(.*?)\n?\z/s;

    $rbody = '' if ($status // 0) >= 400 && ($rbody // '') =~ /<html>/;

    return ($status // 0) . ' ' . ($rbody // '');
}

# the same until it answers other than 404 (the other instance's first
# heartbeat, its connection's record), for up to 3 s
sub req_found {
    my @args = @_;
    my $deadline = Time::HiRes::time() + 3;
    my $r;

    do {
        $r = req(@args);
        return $r unless $r =~ /^404 /;
        Time::HiRes::sleep(0.1);
    } while (Time::HiRes::time() < $deadline);

    return $r;
}

# the subscribers that an instance's publisher counts for a channel, once
# it is $n, or what it was after $secs
sub count_is {
    my ($port, $channel, $n, $secs) = @_;
    my $deadline = Time::HiRes::time() + ($secs // 3);
    my $got;

    do {
        my $r = req($port, 'GET', "/pub?channel=$channel");
        $got = $r =~ /"subscribers":(\d+)/ ? $1 : $r;
        return $got if $got eq $n;
        Time::HiRes::sleep(0.1);
    } while (Time::HiRes::time() < $deadline);

    return $got;
}

# the same until it answers 200 (Redis back, the other instance's
# connections told again), for up to $secs
sub req_ok {
    my ($secs, @args) = @_;
    my $deadline = Time::HiRes::time() + $secs;
    my $r;

    do {
        $r = req(@args);
        return $r if $r =~ /^200 /;
        Time::HiRes::sleep(0.1);
    } while (Time::HiRes::time() < $deadline);

    return $r;
}

# the members that an instance's publisher lists, "id:connections" sorted,
# once they are $want, or what they were after 3 s
sub members_are {
    my ($port, $channel, $want) = @_;
    my $deadline = Time::HiRes::time() + 3;
    my $got;

    do {
        my $r = req($port, 'GET', "/pub?channel=$channel&members");
        $got = join ' ', sort map { "$_->[0]:$_->[1]" }
               map { [ /"id":"([^"]*)","connections":(\d+)/ ] }
               $r =~ /(\{"id":"[^"]*","connections":\d+\})/g;
        return $got if $got eq $want;
        Time::HiRes::sleep(0.1);
    } while (Time::HiRes::time() < $deadline);

    return $got;
}

sub client {
    my ($port, $path) = @_;
    return Test::NgxWs::Client->new(port => $port, path => $path,
                                    timeout => 3);
}

# the payload of the next frame within 3 s ("close CODE REASON" for a
# Close), or ''
sub next_frame {
    my ($c) = @_;
    my $f = $c->read_frame(3) or return '';
    return $f->{payload} unless $f->{opcode} == 8;
    my ($code, $reason) = unpack 'n a*', $f->{payload};
    return "close $code $reason";
}


# --- scenarios ----------------------------------------------------------

# TEST 1: a message, a message through the connections API and a Close
# from A to a connection of B; 404 once it is gone, and for an id nobody
# has; the other way, from B to a connection of A.
sub push_across {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my $c = client($bport, '/push');
    my $id = $c->header('X-Id') // '';

    Test::More::is(req_found($port, 'POST', "/pub?id=$id", 'hello'),
                   '200 {"id":null,"subscribers":1}',
                   'TEST 1: POST ?id= on A to a connection of B');
    Test::More::is(next_frame($c), 'hello', 'TEST 1: which gets it');

    Test::More::is(req($port, 'POST', "/conns?id=$id", 'second'),
                   '200 {"id":null,"subscribers":1}',
                   'TEST 1: the connections API of A, POST ?id=');
    Test::More::is(next_frame($c), 'second', 'TEST 1: which gets it too');

    Test::More::is(req($port, 'DELETE', "/conns?id=$id&code=4001"
                                        . '&reason=moved'),
                   '202 {"closing":true,"code":4001}',
                   'TEST 1: DELETE ?id= on A of a connection of B');
    Test::More::is(next_frame($c), 'close 4001 moved',
                   'TEST 1: B closes it with that code and reason');
    $c->close;

    Time::HiRes::sleep(0.5);

    Test::More::is(req($port, 'POST', "/pub?id=$id", 'late'), '404 ',
                   'TEST 1: 404 when it is gone from B');
    Test::More::is(req($port, 'DELETE',
                       '/conns?id=0123456789abcdef0123456789abcdef'),
                   '404 ', 'TEST 1: 404 for an id that no instance has');

    # the other way: B to a connection of A
    my $a = client($port, '/push');
    my $aid = $a->header('X-Id') // '';

    Test::More::is(req_found($bport, 'POST', "/pub?id=$aid", 'from b'),
                   '200 {"id":null,"subscribers":1}',
                   'TEST 1: POST ?id= on B to a connection of A');
    Test::More::is(next_frame($a), 'from b', 'TEST 1: which gets it');
    $a->close;

    Test::More::unlike(b_log(), qr/\[(alert|crit|emerg|error)\]/,
                       'TEST 1: nothing wrong in the log of B');
}

# TEST 2: the subscribers of both instances are counted on each; those
# that leave B are not any more; B killed: within its ttl, A counts its
# own only, and a push to a connection of B is 404.
sub counts {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my @a = map { client($port, "/sub?user=$_") } qw(alice bob);
    my @b = map { client($bport, "/sub?user=$_") } qw(alice carol dave);

    Test::More::is(count_is($port, 'room', 5), 5,
                   'TEST 2: A counts its 2 and the 3 of B');
    Test::More::is(count_is($bport, 'room', 5), 5,
                   'TEST 2: B counts the same');
    Test::More::is(members_are($port, 'room',
                               'alice:2 bob:1 carol:1 dave:1'),
                   'alice:2 bob:1 carol:1 dave:1',
                   'TEST 2: A lists the members of both, alice twice');

    $_->close for @b;
    @b = ();

    Test::More::is(count_is($port, 'room', 2), 2,
                   'TEST 2: the subscribers that left B are not counted');

    @b = map { client($bport, '/sub') } 1 .. 2;

    Test::More::is(count_is($port, 'room', 4), 4,
                   'TEST 2: new ones on B are');

    my $c = client($bport, '/push');
    my $id = $c->header('X-Id') // '';

    Test::More::is(req_found($port, 'POST', "/pub?id=$id", 'x'),
                   '200 {"id":null,"subscribers":1}',
                   'TEST 2: a connection of B is reached from A');

    kill_b();

    Test::More::is(count_is($port, 'room', 2, 6), 2,
                   'TEST 2: B killed, A counts its own only within the ttl');

    # the connection's record has gone with B's heartbeat
    Test::More::is(req($port, 'POST', "/pub?id=$id", 'y'), '404 ',
                   'TEST 2: 404 for a connection of the dead B');

    $_->close for @a, @b, $c;
}

# TEST 3: Redis restarted without its data: each instance finds that Redis
# forgot it and tells it its connections and counts again; a push from A
# reaches a connection of B, and A counts the subscriber of B, again.
sub restarted {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my $a = client($port, '/sub');
    my $s = client($bport, '/sub');
    my $c = client($bport, '/push');
    my $id = $c->header('X-Id') // '';

    Test::More::is(req_found($port, 'POST', "/pub?id=$id", 'before'),
                   '200 {"id":null,"subscribers":1}',
                   'TEST 3: a push from A to B before');
    next_frame($c);

    Test::NgxWs::Redis::stop($Redis);
    $Redis = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT});

    Test::More::is(req_ok(10, $port, 'POST', "/pub?id=$id", 'after'),
                   '200 {"id":null,"subscribers":1}',
                   'TEST 3: and after Redis lost everything');
    Test::More::is(next_frame($c), 'after', 'TEST 3: which B delivers');
    Test::More::is(count_is($port, 'room', 2, 5), 2,
                   'TEST 3: A counts the subscriber of B again');

    Test::More::unlike(b_log(), qr/\[(alert|crit|emerg)\]/,
                       'TEST 3: nothing wrong in the log of B');

    $_->close for $a, $s, $c;
}


__DATA__

=== TEST 1: a message and a Close to a connection of another instance
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /push {
        websocket;
        ws_push chat;
        add_header X-Id $ws_connection_id always;
    }
    location /pub {
        ws_publisher chat;
    }
    location /conns {
        ws_connections chat;
    }
--- init
main::push_across();
--- request
GET /conns
--- response_body_like: ^\{"connections":\[
--- no_error_log
[error]



=== TEST 2: subscribers counted across instances, a dead one forgotten
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_presence $arg_user;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::counts();
--- request
GET /pub?channel=nobody
--- error_code: 404
--- no_error_log
[error]



=== TEST 3: Redis restarted without its data: connections and counts told again
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::restarted();
--- request
GET /pub?channel=nobody
--- error_code: 404
--- no_error_log
[alert]



=== TEST 4: ws_snapshot on a Redis-backed zone fails nginx -t (not built)
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_snapshot /snap;
    }
    location /snap {
        return 200 "[]";
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"ws_snapshot" does not work with the redis= zone "chat" yet/
