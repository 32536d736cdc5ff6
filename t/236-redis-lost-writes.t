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
use Test::NgxWs::Instances qw(stop_b req get again client got wait_subscribed
                               free_port sum);

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

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

no_shuffle();
no_long_string();

run_tests();


# --- instance B ---------------------------------------------------------

sub start_b {
    Test::NgxWs::Instances::start_b(<<"EOF", connections => 1024);
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
EOF
}


# --- helpers ------------------------------------------------------------

# POST to a publisher: "STATUS BODY" (the body without its newline)
sub post {
    my ($port, $channel, $body) = @_;

    return req($port, 'POST', "/pub?channel=$channel", $body,
               refused => '0 ', keep_html => 1);
}

# the id a publish was given, again while Redis refuses it, up to 8 s
sub publish {
    my ($port, $channel, $body) = @_;
    my $r = again(8, sub { post($port, $channel, $body) }, qr/^200 /);
    my ($id) = $r =~ /"id":(\d+)/;
    return $id // 0;
}

# a figure of the zone's Redis in ws_status
sub figure {
    my ($port, $name) = @_;
    my ($n) = get($port, '/status') =~ /"$name":(\d+)/;
    return $n // 0;
}

# redis-cli on the zone's Redis
sub cli { Test::NgxWs::Redis::cli($ENV{TEST_NGINX_REDIS_PORT}, @_) }

# until $check->() is true, up to $secs (8)
sub wait_for {
    my ($check, $secs) = @_;
    return Test::NgxWs::Instances::wait_for($check, $secs // 8, 0.05);
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

    my ($a, $b, $n1, $n2) = two_read(2);

    reused_read(2, $a, $b, $n1, $n2);

    $a->close;
    $b->close;
}

# the stream rewritten behind the instances' backs: m2's id given to
# another message, the readers' connection killed; both count the loss and
# their subscribers $a and $b get history_lost, then m4 (checks of TEST
# $test)
sub reused_read {
    my ($test, $a, $b, $n1, $n2) = @_;

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

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
                   "TEST $test: both instances counted the loss");
    Time::HiRes::sleep(0.2);

    my $n4 = publish($port, 'news', 'm4');

    my $want = lost($n2, $n4) . '|' . msg($n4, 'm4');

    Test::More::is(got($a, 2) . ' / ' . got($b, 2), "$want / $want",
                   "TEST $test: history_lost on both instances, then m4");
}

# TEST 3: the same with 300 more channels read by B, made after "news" so
# that it is checked in the last script (128 channels each): still found.
sub many {
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my ($a, $b, $n1, $n2) = two_read(3);

    my @many = map { client($bport, "/many?c=c$_") } 1 .. 300;

    Test::More::ok(wait_for(sub {
        get($bport, '/status') =~ /"channels":301,/
    }), 'TEST 3: B has the 300 channels');

    # until B's reader synced them
    Time::HiRes::sleep(1);

    reused_read(3, $a, $b, $n1, $n2);

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
