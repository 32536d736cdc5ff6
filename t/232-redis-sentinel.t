# Redis Sentinel for a Redis-backed zone (redis_sentinel= redis_master=):
# the configuration, the master found through the sentinels, its role
# checked, and a failover.  Started here, stopped by PID (Debian's
# redis-server, also as a sentinel), on ports next to the suite's (or
# the next free ones):
#   TEST_NGINX_REDIS_PORT        (server port + 5) the first master
#   TEST_NGINX_REPLICA_PORT      (+ 6) its replica, promoted by TEST 6
#                                (and the first master again by TEST 8)
#   TEST_NGINX_SENTINEL_PORT     (+ 7) a sentinel watching "mymaster"
#                                (quorum 1, down after 500 ms)
#   TEST_NGINX_FAKE_PORT         (+ 8) a fake sentinel of this file that
#                                names the replica as the master
#   TEST_NGINX_REDIS_DOWN_PORT   (any free port) bound, never listening:
#                                a sentinel that is down
#   TEST_NGINX_B_PORT            (+ 10) instance B, a second nginx (two
#                                workers) on the same sentinel, TEST 6

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Client ();
use Test::NgxWs::Redis qw(cli);
use Test::NgxWs::Instances qw(stop_b b_log req again wait_for client got
                               rel_ids wait_subscribed free_port);

use POSIX ();
use IO::Socket::INET ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

# the first free one from there: on a busy machine, a port of the range
# may be some connection's ephemeral port
$ENV{TEST_NGINX_REDIS_PORT} //= free_port(server_port() + 5);
$ENV{TEST_NGINX_REPLICA_PORT} //= free_port(server_port() + 6);
$ENV{TEST_NGINX_SENTINEL_PORT} //= free_port(server_port() + 7);
$ENV{TEST_NGINX_FAKE_PORT} //= free_port(server_port() + 8);
$ENV{TEST_NGINX_B_PORT} //= free_port(server_port() + 10);

our $Down = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp')
    or die "cannot bind a port: $!";
$ENV{TEST_NGINX_REDIS_DOWN_PORT} //= $Down->sockport;

our $Master = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT});
Test::NgxWs::Redis::start($ENV{TEST_NGINX_REPLICA_PORT}, '--replicaof',
                          '127.0.0.1', $ENV{TEST_NGINX_REDIS_PORT});
wait_for(sub { cli($ENV{TEST_NGINX_REPLICA_PORT}, 'INFO', 'replication')
               =~ /master_link_status:up/ })
    or die "the replica did not sync";
start_sentinel($ENV{TEST_NGINX_SENTINEL_PORT}, $ENV{TEST_NGINX_REDIS_PORT});
wait_for(sub { cli($ENV{TEST_NGINX_SENTINEL_PORT}, 'SENTINEL', 'replicas',
                   'mymaster') =~ /\b$ENV{TEST_NGINX_REPLICA_PORT}\b/ })
    or die "the sentinel does not know the replica";
fake_sentinel($ENV{TEST_NGINX_FAKE_PORT}, '127.0.0.1',
              $ENV{TEST_NGINX_REPLICA_PORT});

master_on();
workers(2);
repeat_each(1);

# checks made by the --- init scenarios of TEST 6 and TEST 8
my $INIT_TESTS = 12 + 6;

# per block: must_die blocks (TEST 1-4, 7) 2, TEST 5 and 6: 4, TEST 8: 8
plan tests => repeat_each() * (5 * 2 + 4 + 4 + 8) + $INIT_TESTS;

no_shuffle();
no_long_string();

run_tests();


# --- Redis, sentinels ---------------------------------------------------

# a sentinel (redis-server --sentinel) with a config file of its own
sub start_sentinel {
    my ($port, $master) = @_;
    my $dir = Test::NgxWs::Redis::dir();
    my $conf = "$dir/sentinel-$port.conf";

    open my $fh, '>', $conf or die "$conf: $!";
    print $fh <<"EOF";
port $port
bind 127.0.0.1
daemonize no
dir $dir
logfile $dir/sentinel-$port.log
sentinel monitor mymaster 127.0.0.1 $master 1
sentinel down-after-milliseconds mymaster 500
sentinel failover-timeout mymaster 3000
sentinel parallel-syncs mymaster 1
EOF
    close $fh;

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        { exec 'redis-server', $conf, '--sentinel' };
        POSIX::_exit(127);
    }

    $Test::NgxWs::Redis::Pids{$pid} = 1;
    Test::NgxWs::Redis::wait_port($port) or die "no sentinel on $port";

    return $pid;
}

# a server that answers SENTINEL get-master-addr-by-name with $ip $port
# (and +OK to anything else), one connection at a time
sub fake_sentinel {
    my ($port, $ip, $mport) = @_;

    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                  LocalPort => $port, Listen => 64,
                                  ReuseAddr => 1, Proto => 'tcp')
        or die "fake sentinel on $port: $!";

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        while (my $c = $l->accept) {
            my $buf = '';

            while (sysread $c, $buf, 4096, length $buf) {
                while (my $cmd = resp_command(\$buf)) {
                    print $c $cmd eq 'SENTINEL'
                             ? "*2\r\n\$" . length($ip) . "\r\n$ip\r\n\$"
                               . length($mport) . "\r\n$mport\r\n"
                             : "+OK\r\n";
                }
            }

            close $c;
        }

        POSIX::_exit(0);
    }

    close $l;
    $Test::NgxWs::Redis::Pids{$pid} = 1;
}

# the first word of a whole RESP command at the start of $$buf, taken off
sub resp_command {
    my ($buf) = @_;

    return undef unless $$buf =~ /^\*(\d+)\r\n/;
    my ($n, $pos, @words) = ($1, length($&));

    for (1 .. $n) {
        return undef unless substr($$buf, $pos) =~ /^\$(\d+)\r\n/;
        my $len = $1;
        $pos += length($&);
        return undef if length($$buf) < $pos + $len + 2;
        push @words, substr($$buf, $pos, $len);
        $pos += $len + 2;
    }

    substr($$buf, 0, $pos) = '';

    return uc $words[0];
}


# --- instance B ---------------------------------------------------------

sub start_b {
    Test::NgxWs::Instances::start_b(<<"EOF");
    ws_zone chat 1m history=10 redis_master=mymaster
        redis_sentinel=127.0.0.1:$ENV{TEST_NGINX_REDIS_DOWN_PORT},127.0.0.1:$ENV{TEST_NGINX_SENTINEL_PORT};
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B_PORT};
        location /sub {
            websocket;
            ws_subscribe chat room;
            ws_envelope on;
        }
        location /pub {
            ws_publisher chat;
        }
        location /status {
            ws_status;
        }
    }
EOF
}


# --- helpers ------------------------------------------------------------

# an HTTP request: "STATUS BODY" (the body without its last newline)
sub http {
    my ($port, $method, $uri, $body) = @_;
    return req($port, $method, $uri, $body, refused => '0 ', keep_html => 1);
}

sub post { http($_[0], 'POST', "/pub?channel=$_[1]", $_[2]) }

# the same, again while it is refused, for up to $secs
sub post_again {
    my ($port, $channel, $body, $secs) = @_;
    return again($secs // 15, sub { post($port, $channel, $body) }, qr/^200 /);
}


# --- the scenario -------------------------------------------------------

# TEST 6: both instances find the master through the sentinels (the
# first one listed is down); it is killed, the sentinel promotes the
# replica, and publishes on both instances reach the subscribers of both
# again, the ids going on; a worker echoes all along.
sub failover {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};
    my $old = "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}";
    my $new = "127.0.0.1:$ENV{TEST_NGINX_REPLICA_PORT}";

    my @subs = (client($port, '/sub'), client($bport, '/sub'));

    wait_subscribed($port, 'room', 1);
    wait_subscribed($bport, 'room', 1);
    Time::HiRes::sleep(0.5);

    Test::More::like(http($port, 'GET', '/status'),
                     qr/"master":"\Q$old\E","failovers":0\}/,
                     'TEST 6: A found the master through the sentinels');

    my @r = (post($port, 'room', 'm1'), post($bport, 'room', 'm2'));
    my ($base) = $r[0] =~ /"id":(\d+)/;
    $base = defined $base ? $base - 1 : 0;

    my $want = join '|', map {
        '{"channel":"room","id":' . ($_ + 1) . ',"data":"'
        . (qw(m1 m2 f1 f2))[$_] . '"}'
    } 0 .. 3;
    my $before = join '|', (split /\|/, $want)[0, 1];

    Test::More::is(rel_ids($base, got($subs[0], 2)) . ' / '
                   . rel_ids($base, got($subs[1], 2)),
                   "$before / $before",
                   'TEST 6: published on A and B, delivered on both');

    # replicated before the master goes: what the replica has not got
    # when the master dies is lost (asynchronous replication)
    my $replicas = cli($ENV{TEST_NGINX_REDIS_PORT}, 'WAIT', 1, 2000);

    kill 'KILL', $Master;
    waitpid $Master, 0;
    delete $Test::NgxWs::Redis::Pids{$Master};
    my $killed = Time::HiRes::time();

    # until A takes publishes again: a client of A echoes meanwhile
    my $echo = client($port, '/echo');
    my ($slowest, $echoes, $f1) = (0, 0, '');
    my $deadline = $killed + 20;

    while (Time::HiRes::time() < $deadline) {
        my $t = Time::HiRes::time();
        $echo->send_text("e$echoes");
        my $f = $echo->read_frame(2);
        last unless $f && $f->{payload} eq "e$echoes";
        $echoes++;
        my $rtt = Time::HiRes::time() - $t;
        $slowest = $rtt if $rtt > $slowest;

        $f1 = post($port, 'room', 'f1');
        last if $f1 =~ /^200 /;
        Time::HiRes::sleep(0.1);
    }

    my $took = Time::HiRes::time() - $killed;
    my $f2 = post_again($bport, 'room', 'f2');

    Test::More::is(cli($ENV{TEST_NGINX_SENTINEL_PORT}, 'SENTINEL',
                       'get-master-addr-by-name', 'mymaster'),
                   "127.0.0.1\n$ENV{TEST_NGINX_REPLICA_PORT}\n",
                   'TEST 6: the sentinel promoted the replica');
    Test::More::like($replicas, qr/^1$/m,
                     'TEST 6: the replica had the messages before');
    Test::More::like("$f1 / $f2", qr/^200 .* \/ 200 /,
                     "TEST 6: publishes come back on A and B ("
                     . sprintf('%.1f', $took) . ' s)');
    Test::More::ok($echoes > 3 && $slowest < 0.5,
                   "TEST 6: a worker of A echoed meanwhile ($echoes, "
                   . sprintf('slowest %.3f s', $slowest) . ')');

    my $after = join '|', (split /\|/, $want)[2, 3];

    Test::More::is(rel_ids($base, got($subs[0], 2, 5) . '/'
                                  . got($subs[0], 1, 0.3)),
                   "$after/",
                   'TEST 6: the subscriber of A got both, ids going on');
    Test::More::is(rel_ids($base, got($subs[1], 2, 5) . '/'
                                  . got($subs[1], 1, 0.3)),
                   "$after/",
                   'TEST 6: the subscriber of B got both, ids going on');

    # a worker with no traffic comes back at its own backoff's pace (up to
    # 5 s plus jitter): the connections of both instances are counted
    # once all are back
    for my $p ($port, $bport) {
        wait_for(sub { http($p, 'GET', '/status')
                       =~ /"redis":\{"reader":\d+,"connections":3,/ }, 12);
    }

    Test::More::like(http($bport, 'GET', '/status'),
                     qr/"connections":3,.*"master":"\Q$new\E",
                        "failovers":1\}/x,
                     'TEST 6: ws_status of B: the new master, one '
                     . 'failover, its connections back');
    Test::More::like(http($bport, 'GET', '/status?format=prometheus'),
                     qr/^ngx_ws_zone_redis_failovers_total\{zone="chat"\}\ 1
                        \n.*^ngx_ws_zone_redis_master\{zone="chat",
                        address="\Q$new\E"\}\ 1$/xms,
                     'TEST 6: and in the Prometheus format');

    my $log = b_log();
    my $line = "redis \"mymaster\": the master is $new now, was $old";
    Test::More::like($log, qr/\[notice\] .*\Q$line\E/,
                     'TEST 6: B logged the new master');
    Test::More::unlike($log, qr/\[(alert|crit|emerg)\]/,
                       'TEST 6: nothing wrong in the log of B');

    $_->close for @subs, $echo;
}

# TEST 8: the first master comes back as a replica of the second, and a
# failover is asked of the sentinel (SENTINEL FAILOVER): the second
# master stays up, a master until the sentinel turns it into a replica
# seconds later.  A must move to the new master when the sentinel
# announces it (+switch-master), not when the old one answers READONLY.
sub switch {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $old = "127.0.0.1:$ENV{TEST_NGINX_REPLICA_PORT}";
    my $new = "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}";

    Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT}, '--replicaof',
                              '127.0.0.1', $ENV{TEST_NGINX_REPLICA_PORT});
    wait_for(sub { cli($ENV{TEST_NGINX_REDIS_PORT}, 'INFO', 'replication')
                   =~ /master_link_status:up/ }, 15)
        or die "the first master did not come back as a replica";

    my $sub = client($port, '/sub');
    wait_subscribed($port, 'room', 1);
    wait_for(sub { http($port, 'GET', '/status') =~ /"master":"\Q$old\E"/ });
    # the reader syncs the channel new to the instance first
    Time::HiRes::sleep(0.5);

    my $r = post($port, 'room', 'b1');
    my ($base) = $r =~ /"id":(\d+)/;
    $base = defined $base ? $base - 1 : 0;

    Test::More::is(rel_ids($base, got($sub, 1)),
                   '{"channel":"room","id":1,"data":"b1"}',
                   'TEST 8: delivered before the failover');

    # the sentinel takes it once it sees the replica as a good one
    wait_for(sub { cli($ENV{TEST_NGINX_SENTINEL_PORT}, 'SENTINEL',
                       'FAILOVER', 'mymaster') =~ /^OK/ }, 30, 0.5)
        or die "the sentinel refused the failover";

    wait_for(sub { cli($ENV{TEST_NGINX_SENTINEL_PORT}, 'SENTINEL',
                       'get-master-addr-by-name', 'mymaster')
                   eq "127.0.0.1\n$ENV{TEST_NGINX_REDIS_PORT}\n" }, 15, 0.02)
        or die "the sentinel did not switch";
    my $switched = Time::HiRes::time();

    wait_for(sub { http($port, 'GET', '/status') =~ /"master":"\Q$new\E"/ },
             10, 0.05);
    my $took = Time::HiRes::time() - $switched;

    Test::More::like(cli($ENV{TEST_NGINX_REPLICA_PORT}, 'ROLE'), qr/^master/,
                     'TEST 8: the old master was still a master then');
    Test::More::ok($took < 2, 'TEST 8: A moved to the new master when the '
                              . sprintf('sentinel announced it (%.2f s)',
                                        $took));

    my $a1 = post($port, 'room', 'a1');

    Test::More::like($a1, qr/^200 /, 'TEST 8: A publishes at once');
    Test::More::is(rel_ids($base, got($sub, 1)),
                   '{"channel":"room","id":2,"data":"a1"}',
                   'TEST 8: delivered after it, ids going on');
    Test::More::like(cli($ENV{TEST_NGINX_REDIS_PORT}, 'XREVRANGE',
                         '{ws:chat:room}:s', '+', '-', 'COUNT', 1),
                     qr/^a1$/m,
                     'TEST 8: written to the new master');

    $sub->close;
}


__DATA__

=== TEST 1: redis= and redis_sentinel= exclude each other
--- http_config
    ws_zone chat 1m redis=127.0.0.1 redis_sentinel=127.0.0.1 redis_master=m;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*ws_zone "chat": redis= and redis_sentinel= exclude each other/



=== TEST 2: redis_sentinel= without redis_master= fails nginx -t
--- http_config
    ws_zone chat 1m redis_sentinel=127.0.0.1:26379,127.0.0.2;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*ws_zone "chat": redis_sentinel= needs redis_master=/



=== TEST 3: a bad sentinel address fails nginx -t
--- http_config
    ws_zone chat 1m redis_master=m redis_sentinel=127.0.0.1,127.0.0.1:99999;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid port in redis_sentinel="127\.0\.0\.1:99999"/



=== TEST 4: redis_master= without redis_sentinel= fails nginx -t
--- http_config
    ws_zone chat 1m redis_master=mymaster redis_password=secret;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*ws_zone "chat": redis_master= and redis_sentinel_\* need redis_sentinel=/



=== TEST 5: a sentinel names a replica: it is left, publishes are refused
--- http_config
    ws_zone chat 1m redis_sentinel=127.0.0.1:$TEST_NGINX_FAKE_PORT
                    redis_master=mymaster;
--- config
    location /pub {
        ws_publisher chat;
    }
--- request
POST /pub?channel=room
hello
--- error_code: 503
--- response_body
{"error":"redis unavailable"}
--- wait: 0.5
--- error_log eval
qr/\[warn\] .*redis "mymaster": 127\.0\.0\.1:\d+ is not the master \(role "slave"\), asking the sentinels again/
--- no_error_log
[alert]



=== TEST 6: failover: the replica is promoted, delivery goes on across instances
--- http_config
    ws_zone chat 1m history=10 redis_master=mymaster
        redis_sentinel=127.0.0.1:$TEST_NGINX_REDIS_DOWN_PORT,127.0.0.1:$TEST_NGINX_SENTINEL_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
    }
    location /echo {
        websocket;
        ws_echo on;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::failover();
--- request
GET /status
--- response_body_like: "redis":\{"reader":[1-9]\d*,"connections":3,.*"master":"127\.0\.0\.1:\d+","failovers":1\}
--- error_log eval
qr/\[notice\] .*redis "mymaster": the master is 127\.0\.0\.1:\d+ now, was 127\.0\.0\.1:\d+/
--- no_error_log
[alert]



=== TEST 7: redis_cluster= and redis_sentinel= exclude each other
--- http_config
    ws_zone chat 1m redis_cluster=127.0.0.1:7000 redis_sentinel=127.0.0.1
        redis_master=m;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*ws_zone "chat": redis_cluster= and redis_sentinel= exclude each other/



=== TEST 8: SENTINEL FAILOVER: the module moves when +switch-master is announced
--- http_config
    ws_zone chat 1m history=10 redis_master=mymaster
        redis_sentinel=127.0.0.1:$TEST_NGINX_REDIS_DOWN_PORT,127.0.0.1:$TEST_NGINX_SENTINEL_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::switch();
--- request
GET /status
--- response_body_like: "master":"127\.0\.0\.1:\d+","failovers":1\}
--- error_log eval
[qr/\[notice\] .*redis "mymaster": the master is 127\.0\.0\.1:\d+ now, was 127\.0\.0\.1:\d+/,
 qr/\[info\] .*redis "mymaster": sentinel announced a failover to 127\.0\.0\.1:\d+, reconnecting/,
 qr/\[info\] .*redis "mymaster": no failover announcements from sentinel "127\.0\.0\.1:\d+": Connection refused/,
 qr/\[info\] .*redis "mymaster": failovers announced by sentinel "127\.0\.0\.1:\d+" are followed/]
--- no_error_log
READONLY
[alert]
