# Redis loses its latest writes (a failover with asynchronous replication,
# a restart from a snapshot or an append-only file that missed the last
# second): the subscribers of every instance are told history_lost, never
# given another message under an id they saw, never silently skipped.
# Instance A is the suite's nginx (a master, two workers); instance B a
# second nginx (a master, two workers) that this file starts and stops by
# PID.  Both have the zone "chat" on the same Redis (Debian's
# redis-server, started here, stopped by PID).  Ports, next to the
# suite's (or the next free ones):
#   TEST_NGINX_REDIS_PORT       (server port + 5) the Redis server
#   TEST_NGINX_B_PORT           (+ 10) instance B
#
# The scenarios run in each block's --- init and their checks are the
# first tests of the block.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Client ();
use Test::NgxWs::Redis ();

use File::Temp ();
use POSIX ();
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

# the first free one from there: on a busy machine, a port of the range
# may be some connection's ephemeral port
our %Taken;

sub free_port {
    my ($from) = @_;

    for my $p ($from .. $from + 90) {
        next if $Taken{$p};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $p, Proto => 'tcp',
                                      Listen => 1)
            or next;
        close $s;
        $Taken{$p} = 1;
        return $p;
    }

    die "no free port from $from";
}

$ENV{TEST_NGINX_REDIS_PORT} //= free_port(server_port() + 5);
$ENV{TEST_NGINX_B_PORT} //= free_port(server_port() + 10);

# no persistence but a snapshot on SAVE, loaded by a restart (TEST 1)
my @REDIS_ARGS = ('--dbfilename', "dump-$ENV{TEST_NGINX_REDIS_PORT}.rdb");
our $Redis = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT},
                                       @REDIS_ARGS);

master_on();
workers(2);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 3, 2 => 3, 3 => 4);

# per block: 3 (status, body, no_error_log)
plan tests => repeat_each() * (3 + 3 + 3) + sum(values %INIT_TESTS);

sub sum { my $n = 0; $n += $_ for @_; $n }

no_shuffle();
no_long_string();

run_tests();


# --- instance B ---------------------------------------------------------

our ($B_pid, $B_dir);

sub start_b {
    return if $B_pid;

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
events { worker_connections 1024; }
http {
    access_log off;
    ws_zone chat 1m history=10 redis=127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B_PORT};
        location /sub {
            websocket;
            ws_subscribe chat news;
            ws_envelope on;
        }
        location /many {
            websocket;
            ws_subscribe chat \$arg_c;
        }
        location /pub {
            ws_publisher chat;
        }
        location /status {
            ws_status;
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

END { stop_b() }


# --- helpers ------------------------------------------------------------

sub http {
    my ($port, $req) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 3)
        or return '';

    print $s $req;

    my ($buf, $sel) = ('', IO::Select->new($s));
    my $deadline = Time::HiRes::time() + 3;

    while ((my $left = $deadline - Time::HiRes::time()) > 0) {
        last unless $sel->can_read($left);
        last unless sysread $s, $buf, 65536, length $buf;
    }

    return $buf;
}

# POST to a publisher: "STATUS BODY" (the body without its newline)
sub post {
    my ($port, $channel, $body) = @_;

    my $buf = http($port, "POST /pub?channel=$channel HTTP/1.1\r\n"
                          . "Host: localhost\r\nConnection: close\r\n"
                          . "Content-Type: text/plain\r\n"
                          . 'Content-Length: ' . length($body)
                          . "\r\n\r\n$body");

    my ($status) = $buf =~ m{^HTTP/1\.1 (\d+)};
    my ($rbody) = $buf =~ /\r\n\r\n(.*?)\n?\z/s;

    return ($status // 0) . ' ' . ($rbody // '');
}

# the id a publish was given, again while Redis refuses it, up to 8 s
sub publish {
    my ($port, $channel, $body) = @_;
    my $deadline = Time::HiRes::time() + 8;
    my $r = post($port, $channel, $body);

    while ($r !~ /^200 / && Time::HiRes::time() < $deadline) {
        Time::HiRes::sleep(0.1);
        $r = post($port, $channel, $body);
    }

    my ($id) = $r =~ /"id":(\d+)/;
    return $id // 0;
}

# a figure of the zone's Redis in ws_status
sub figure {
    my ($port, $name) = @_;
    my ($n) = http($port, "GET /status HTTP/1.1\r\nHost: localhost\r\n"
                          . "Connection: close\r\n\r\n")
              =~ /"$name":(\d+)/;
    return $n // 0;
}

sub cli {
    my (@args) = @_;

    open my $fh, '-|', 'redis-cli', '-p', $ENV{TEST_NGINX_REDIS_PORT}, @args
        or die "redis-cli: $!";
    local $/;
    my $out = <$fh> // '';
    close $fh;

    return $out;
}

sub wait_for {
    my ($check, $secs) = @_;
    my $deadline = Time::HiRes::time() + ($secs // 8);

    until ($check->()) {
        return 0 if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }

    return 1;
}

sub client {
    my ($port, $path) = @_;
    return Test::NgxWs::Client->new(port => $port, path => $path,
                                    timeout => 3);
}

# the payloads of up to $n frames read within $secs, joined by "|"
sub got {
    my ($c, $n, $secs) = @_;
    my $deadline = Time::HiRes::time() + ($secs // 3);
    my @p;

    while (@p < $n) {
        my $left = $deadline - Time::HiRes::time();
        last if $left <= 0;
        my $f = $c->read_frame($left) or last;
        push @p, $f->{payload};
    }

    return join '|', @p;
}

# until a channel has $n subscribers on an instance, as its publisher says
sub wait_subscribed {
    my ($port, $channel, $n) = @_;

    return wait_for(sub {
        http($port, "GET /pub?channel=$channel HTTP/1.1\r\n"
                    . "Host: localhost\r\nConnection: close\r\n\r\n")
        =~ /"subscribers":$n\b/
    }, 3);
}

sub msg {
    my ($id, $data) = @_;
    return '{"channel":"news","id":' . $id . ',"data":"' . $data . '"}';
}

sub lost {
    my ($last, $first) = @_;
    return '{"event":"history_lost","channel":"news","last_id":' . $last
           . ',"first_id":' . $first . '}';
}

# a subscriber on each instance, two messages published through A (a
# snapshot of Redis taken between them), read by both: (subscriber of A,
# of B, id 1, id 2)
sub two_read {
    my ($t) = @_;
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my $a = client($port, '/sub');
    my $b = client($bport, '/sub');

    wait_subscribed($port, 'news', 1);
    wait_subscribed($bport, 'news', 1);
    Time::HiRes::sleep(0.5);

    my $n1 = publish($port, 'news', 'm1');
    cli('SAVE');
    my $n2 = publish($port, 'news', 'm2');

    my $want = msg($n1, 'm1') . '|' . msg($n2, 'm2');

    Test::More::is(got($a, 2) . ' / ' . got($b, 2), "$want / $want",
                   "TEST $t: both instances read the two messages");

    return ($a, $b, $n1, $n2);
}


# --- scenarios ----------------------------------------------------------

# TEST 1: Redis restarts from a snapshot taken before the second message:
# its last id goes back to the first one.  Each instance, whose reader
# read the second message, checks the channel when it connects again: the
# channel moves to a new epoch, and the subscribers of both instances get
# history_lost, then the next message, never its id reused.
sub restarted {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my ($a, $b, $n1, $n2) = two_read(1);

    my %connects = (a => figure($port, 'connects'),
                    b => figure($bport, 'connects'));

    kill 'KILL', $Redis;
    Test::NgxWs::Redis::stop($Redis);
    $Redis = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT},
                                       @REDIS_ARGS);

    Test::More::like(cli('XREVRANGE', '{ws:chat:news}:s', '+', '-', 'COUNT',
                         '1'),
                     qr/\A$n1-0\n/,
                     'TEST 1: Redis came back with the first message only');

    # the two workers' connections and the reader of each instance
    wait_for(sub { figure($port, 'connects') >= $connects{a} + 3
                   && figure($bport, 'connects') >= $connects{b} + 3 });
    Time::HiRes::sleep(0.3);

    my $n3 = publish($port, 'news', 'm3');

    my $want = lost($n2, $n3) . '|' . msg($n3, 'm3');

    Test::More::is(got($a, 2) . ' / ' . got($b, 2), "$want / $want",
                   'TEST 1: history_lost on both instances, then m3');

    $a->close;
    $b->close;
}

# TEST 2: what a failover leaves when the new master took a publish before
# the instances connected to it: the second id holds other data.  Both
# instances see it when their reader connects again (the connections are
# killed, as a failover does): history_lost, then the next message; the
# message that reused the id is never delivered as if it were the one
# the subscribers saw.
sub reused {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my ($a, $b, $n1, $n2) = two_read(2);

    my %gaps = (a => figure($port, 'gaps'), b => figure($bport, 'gaps'));

    cli('EVAL', "redis.call('DEL', KEYS[2])\n"
                . "redis.call('XADD', KEYS[2], ARGV[1] .. '-0', 'o', '1',"
                . " 'd', 'm1', 'c', '0', 'k', '')\n"
                . "redis.call('XADD', KEYS[2], ARGV[2] .. '-0', 'o', '1',"
                . " 'd', 'other', 'c', '0', 'k', '')\n"
                . "redis.call('SET', KEYS[1], ARGV[2])\n",
        2, '{ws:chat:news}:n', '{ws:chat:news}:s', $n1, $n2);
    cli('CLIENT', 'KILL', 'TYPE', 'normal');

    Test::More::ok(wait_for(sub { figure($port, 'gaps') > $gaps{a}
                                  && figure($bport, 'gaps') > $gaps{b} }),
                   'TEST 2: both instances counted the loss');
    Time::HiRes::sleep(0.2);

    my $n4 = publish($port, 'news', 'm4');

    my $want = lost($n2, $n4) . '|' . msg($n4, 'm4');

    Test::More::is(got($a, 2) . ' / ' . got($b, 2), "$want / $want",
                   'TEST 2: history_lost on both instances, then m4');

    $a->close;
    $b->close;
}

# TEST 3: the same with 300 more channels read by B, made after "news" so
# that it is checked in the last script (128 channels each): still found.
sub many {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my ($a, $b, $n1, $n2) = two_read(3);

    my @many = map { client($bport, "/many?c=c$_") } 1 .. 300;

    Test::More::ok(wait_for(sub {
        http($bport, "GET /status HTTP/1.1\r\nHost: localhost\r\n"
                     . "Connection: close\r\n\r\n")
        =~ /"channels":301,/
    }), 'TEST 3: B has the 300 channels');

    # until B's reader synced them
    Time::HiRes::sleep(1);

    my %gaps = (a => figure($port, 'gaps'), b => figure($bport, 'gaps'));

    cli('EVAL', "redis.call('DEL', KEYS[2])\n"
                . "redis.call('XADD', KEYS[2], ARGV[1] .. '-0', 'o', '1',"
                . " 'd', 'm1', 'c', '0', 'k', '')\n"
                . "redis.call('XADD', KEYS[2], ARGV[2] .. '-0', 'o', '1',"
                . " 'd', 'other', 'c', '0', 'k', '')\n"
                . "redis.call('SET', KEYS[1], ARGV[2])\n",
        2, '{ws:chat:news}:n', '{ws:chat:news}:s', $n1, $n2);
    cli('CLIENT', 'KILL', 'TYPE', 'normal');

    Test::More::ok(wait_for(sub { figure($port, 'gaps') > $gaps{a}
                                  && figure($bport, 'gaps') > $gaps{b} }),
                   'TEST 3: both instances counted the loss');
    Time::HiRes::sleep(0.2);

    my $n4 = publish($port, 'news', 'm4');

    my $want = lost($n2, $n4) . '|' . msg($n4, 'm4');

    Test::More::is(got($a, 2) . ' / ' . got($b, 2), "$want / $want",
                   'TEST 3: history_lost on both instances, then m4');

    $_->close for $a, $b, @many;
}

__DATA__

=== TEST 1: Redis restarts without its last write: history_lost on both
--- http_config
    ws_zone chat 1m history=10 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat news;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::restarted();
--- request
GET /pub?channel=news
--- response_body_like: ^\{"channel":"news","subscribers":\d+,
--- no_error_log
[alert]



=== TEST 2: an id given again with other data: history_lost on both instances
--- http_config
    ws_zone chat 1m history=10 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat news;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::reused();
--- request
GET /pub?channel=news
--- response_body_like: ^\{"channel":"news","subscribers":\d+,
--- no_error_log
[alert]



=== TEST 3: the same with 300 more channels on B: found in the last check script
--- http_config
    ws_zone chat 1m history=10 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat news;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::many();
--- request
GET /pub?channel=news
--- response_body_like: ^\{"channel":"news","subscribers":\d+,
--- no_error_log
[alert]
