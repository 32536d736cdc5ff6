# A ws_zone on a Redis Cluster: the reader is woken by sharded pub/sub
# (SPUBLISH in the publish script, SSUBSCRIBE on a connection per master)
# instead of polling the slots every 10 ms.  Three masters with a
# replica each (Test::NgxWs::Cluster, Debian's redis-server 7.0) and two
# nginx instances: A, the suite's (two workers), and B, started by this
# file (Test::NgxWs::Instances).  Ports, next to the suite's:
#   TEST_NGINX_B_PORT        instance B: the first free one from server
#                            port + 10
#   TEST_NGINX_CLUSTER_PORT  the first node; the other nodes and the
#                            cluster bus ports on the next free ones
#
# The scenarios run in each block's --- init; their checks are the first
# tests of the block.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Client ();
use Test::NgxWs::Cluster ();
use Test::NgxWs::Instances qw(b_log get req post_again wait_for
                               wait_subscribed client frames sum);

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

sub port { Test::NgxWs::Instances::free_port(server_port() + 10) }

$ENV{TEST_NGINX_B_PORT} //= port();
$ENV{TEST_NGINX_CLUSTER_PORT} //= port();

our @Ports = ($ENV{TEST_NGINX_CLUSTER_PORT}, map { port() } 1 .. 5);

Test::NgxWs::Cluster::start(\@Ports, replicas => 1, bus => \&port);

master_on();
workers(2);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 7, 2 => 4, 3 => 5, 4 => 3);

# per block: 3 (status, body, no_error_log)
plan tests => repeat_each() * 4 * 3 + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


sub masters { Test::NgxWs::Cluster::masters(@Ports) }

sub cli { Test::NgxWs::Cluster::cli(@_) }

sub start_b {
    Test::NgxWs::Instances::start_b(<<"EOF");
    ws_zone chat 1m history=10
            redis_cluster=127.0.0.1:$ENV{TEST_NGINX_CLUSTER_PORT};
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B_PORT};
        location /sub {
            websocket;
            ws_subscribe chat a b c;
        }
        location /solo {
            websocket;
            ws_subscribe chat x;
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

# B's figure of the cluster's wakes: "connections/wakes"
sub wake_of {
    my $st = get($ENV{TEST_NGINX_B_PORT}, '/status');
    return $st =~ /"wake":\{"connections":(\d+),"wakes":(\d+)\}/
           ? "$1/$2" : '';
}

# until B's reader has a ready subscriber on each of the 3 masters
sub wait_woken {
    return wait_for(sub { wake_of() =~ m{^3/} }, 10);
}

# the XREADs the masters served in $secs with nothing published
sub idle_xreads {
    my ($secs) = @_;

    cli($_, 'CONFIG', 'RESETSTAT') for @Ports;
    Time::HiRes::sleep($secs);

    return Test::NgxWs::Cluster::calls('xread', @Ports);
}

# $n messages published on A one after the other, each read on B by $c
# before the next: the payloads B got, joined
sub one_by_one {
    my ($c, $n, $tag) = @_;
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my @got;

    for my $i (1 .. $n) {
        my $ch = (qw(a b c))[$i % 3];
        post_again($port, $ch, "$tag$i");
        push @got, frames($c, 1, 5);
    }

    return join ',', @got;
}

sub want { my ($n, $tag) = @_; join ',', map { "$tag$_" } 1 .. $n }

our $Sub;

# TEST 1: an instance idle on the cluster sends Redis a few commands (the
# reading of every slot once a second), not one per slot every 10 ms;
# messages from A reach B's subscriber one by one, each on a wake
sub wake {
    start_b();

    my $bport = $ENV{TEST_NGINX_B_PORT};

    $Sub = client($bport, '/sub');
    wait_subscribed($bport, $_, 1) for qw(a b c);

    Test::More::ok(wait_woken(), 'TEST 1: B subscribed on the 3 masters');

    Test::More::is(one_by_one($Sub, 3, 'w'), want(3, 'w'),
                   'TEST 1: B got the first messages');

    # A (no channel: its inbox) and B (3 slots and its inbox), 2 s idle:
    # polling every 10 ms, that was about 1,000 XREADs
    my $n = idle_xreads(2);
    Test::More::cmp_ok($n, '<', 40,
                       'TEST 1: idle for 2 s, under 40 XREADs in all');

    my ($before) = wake_of() =~ m{/(\d+)};
    Test::More::is(one_by_one($Sub, 30, 'm'), want(30, 'm'),
                   'TEST 1: 30 messages of A reach B one by one');

    my ($after) = wake_of() =~ m{/(\d+)};
    Test::More::cmp_ok(($after // 0) - ($before // 0), '>=', 30,
                       'TEST 1: B was woken for each');

    # a channel's wake is subscribed while it has subscribers on B
    my $key = '{ws:chat:x}:s';
    my $solo = client($bport, '/solo');

    Test::More::ok(wait_for(sub { shard_subs($key) eq '1' }, 5),
                   'TEST 1: a new channel: its wake subscribed');

    $solo->close;

    Test::More::ok(wait_for(sub { shard_subs($key) eq '0' }, 5),
                   'TEST 1: its last subscriber gone: unsubscribed');
}

# the subscribers of a shard channel, summed over the masters (those of
# other slots answer 0)
sub shard_subs {
    my ($chan) = @_;

    return sum(map {
        (split /\n/, cli($_, 'PUBSUB', 'SHARDNUMSUB', $chan))[1] // 0
    } masters());
}

# TEST 2: the subscribers killed (CLIENT KILL TYPE pubsub on every
# master): a message published meanwhile is delivered, the subscribers
# come back and wake the reader again
sub lost {
    start_b();

    cli($_, 'CLIENT', 'KILL', 'TYPE', 'pubsub') for masters();

    Test::More::is(one_by_one($Sub, 3, 'k'), want(3, 'k'),
                   'TEST 2: messages published while the wakes are lost');

    Test::More::ok(wait_woken(), 'TEST 2: B subscribed again');

    Test::More::like(b_log(), qr/subscriber disconnected/,
                     'TEST 2: B logged the lost subscribers');

    Test::More::is(one_by_one($Sub, 3, 'n'), want(3, 'n'),
                   'TEST 2: and gets the next ones');
}

# TEST 3: the slot of channel a moved to another master: the next
# messages reach B, its subscription follows the slot (the wakes go on,
# the reader does not poll)
sub reshard {
    start_b();

    my $key = '{ws:chat:a}:s';
    my ($from, $to) = Test::NgxWs::Cluster::migrate($key, masters());

    Test::More::is(Test::NgxWs::Cluster::owner($key, masters()), $to,
                   'TEST 3: the slot of a moved');

    Test::More::is(one_by_one($Sub, 6, 'r'), want(6, 'r'),
                   'TEST 3: B gets the messages after the move');

    Time::HiRes::sleep(1.5);

    my ($before) = wake_of() =~ m{/(\d+)};
    Test::More::is(one_by_one($Sub, 6, 's'), want(6, 's'),
                   'TEST 3: and the next ones');

    my ($after) = wake_of() =~ m{/(\d+)};
    Test::More::cmp_ok(($after // 0) - ($before // 0), '>=', 6,
                       'TEST 3: each one on a wake, a too');

    Test::More::cmp_ok(idle_xreads(2), '<', 40,
                       'TEST 3: idle for 2 s after it, under 40 XREADs');
}

# TEST 4: the master of channel c killed (SIGKILL): its replica is
# promoted by the cluster, the instances find it in the map, and
# messages published on c reach B again
sub failover {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $key = '{ws:chat:c}:s';
    my $dead = Test::NgxWs::Cluster::owner($key, masters());

    Test::NgxWs::Cluster::kill_node($dead);

    my @alive = grep { $_ != $dead } @Ports;

    Test::More::ok(wait_for(sub {
                       Test::NgxWs::Cluster::owner($key,
                           Test::NgxWs::Cluster::masters(@alive)) ne ''
                   }, 20),
                   'TEST 4: a replica took the slot of c over');

    Test::More::like(post_again($port, 'c', 'f1', 15), qr/^200 /,
                     'TEST 4: A publishes on c again');

    Test::More::is(join(',', frames($Sub, 1, 5)), 'f1',
                   'TEST 4: B gets it');
}

__DATA__

=== TEST 1: idle, the reader waits for wakes; a message wakes it
--- http_config
    ws_zone chat 1m history=10 redis_cluster=127.0.0.1:$TEST_NGINX_CLUSTER_PORT;
--- config
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::wake();
--- request
GET /status
--- response_body_like: "cluster":\{"moved":\d+,"asked":\d+,"wake":\{"connections":\d,"wakes":\d+\}\}
--- no_error_log
[error]



=== TEST 2: lost wakes: delivered still, subscribed again
--- http_config
    ws_zone chat 1m history=10 redis_cluster=127.0.0.1:$TEST_NGINX_CLUSTER_PORT;
--- config
    location /pub {
        ws_publisher chat;
    }
--- init
main::lost();
--- request
GET /pub?channel=a
--- response_body_like: ^\{"channel":"a","subscribers":\d+
--- no_error_log
[error]



=== TEST 3: a slot moved: its wakes follow; Prometheus lines
--- http_config
    ws_zone chat 1m history=10 redis_cluster=127.0.0.1:$TEST_NGINX_CLUSTER_PORT;
--- config
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::reshard();
--- request
GET /status?format=prometheus
--- response_body_like
# TYPE ngx_ws_zone_redis_cluster_moved_total counter
ngx_ws_zone_redis_cluster_moved_total\{zone="chat"\} \d+
(?s:.*)ngx_ws_zone_redis_cluster_asked_total\{zone="chat"\} \d+
(?s:.*)ngx_ws_zone_redis_cluster_wake_connections\{zone="chat"\} \d
(?s:.*)ngx_ws_zone_redis_cluster_wakes_total\{zone="chat"\} \d+
--- no_error_log
[error]



=== TEST 4: a master killed, its replica promoted: delivery goes on
--- http_config
    ws_zone chat 1m history=10 redis_cluster=127.0.0.1:$TEST_NGINX_CLUSTER_PORT;
--- config
    location /pub {
        ws_publisher chat;
    }
--- init
main::failover();
--- request
GET /pub?channel=b
--- response_body_like: ^\{"channel":"b","subscribers":\d+
--- no_error_log
[alert]
