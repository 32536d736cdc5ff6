# The Redis backplane of a ws_zone (redis=): channels across two nginx
# instances.  Instance A is the suite's nginx (a master, two workers);
# instance B is a second nginx (a master, two workers) that this file
# starts with a configuration of its own and stops by PID.  Both have the
# zone "chat" on the same Redis (Debian's redis-server, started here,
# stopped by PID).  Ports, next to the suite's:
#   TEST_NGINX_REDIS_PORT       (server port + 5) the Redis server
#   TEST_NGINX_REDIS_DOWN_PORT  (any free port) bound, never listening:
#                               refused
#   TEST_NGINX_B_PORT           (+ 10) instance B
#
# The scenarios run in each block's --- init and their checks are the
# first tests of the block.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Client ();
use Test::NgxWs::Redis ();
use Test::NgxWs::Sse ();
use Test::NgxWs::Instances qw(stop_b b_log b_reader client_not_on
                               b_pid get post post_again client
                               got rel_ids wait_subscribed sum);

use POSIX ();
use IO::Socket::INET ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

$ENV{TEST_NGINX_REDIS_PORT} //= server_port() + 5;
$ENV{TEST_NGINX_B_PORT} //= server_port() + 10;

# a port of the kernel's choice, bound and never listening: nginx's
# connect() there is refused (a fixed port may be taken by some
# connection's ephemeral port)
our $Down = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp')
    or die "cannot bind a port: $!";
$ENV{TEST_NGINX_REDIS_DOWN_PORT} //= $Down->sockport;

# kept across a restart (TEST 3): an append-only file, written at once
my @REDIS_ARGS = ('--appendonly', 'yes', '--appendfsync', 'always',
                  '--enable-debug-command', 'local');       # TEST 9
our $Redis = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT},
                                       @REDIS_ARGS);

master_on();
workers(2);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 11, 3 => 4, 4 => 2, 5 => 2, 7 => 2, 9 => 3);

# per block: TEST 1, 3, 4, 5, 7: 3 (status, body, no_error_log), TEST 2:
# 5, TEST 6: 4, TEST 8: 2 (status, no_error_log), TEST 9: 3 (status, body,
# error_log)
plan tests => repeat_each() * (3 + 5 + 3 + 3 + 3 + 4 + 3 + 2 + 3)
              + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- instance B ---------------------------------------------------------

sub start_b {
    Test::NgxWs::Instances::start_b(<<"EOF");
    ws_zone chat 1m history=10 redis=127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B_PORT};
        location /sub {
            websocket;
            ws_subscribe chat room news;
            ws_envelope on;
            add_header X-Worker \$pid always;
        }
        location /late {
            websocket;
            ws_subscribe chat late;
            ws_envelope on;
        }
        location /say {
            websocket;
            ws_publish chat room;
        }
        location /sse {
            ws_sse;
            ws_subscribe chat late2;
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


# --- scenarios ----------------------------------------------------------

# TEST 1: published on A and on B, every subscriber of both gets every
# message once, in the same order, with the same ids, following by one;
# a client resumes on B with an id that A gave.
sub across {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my @subs = (client($port, '/sub'), client($port, '/sub'),
                client($bport, '/sub'), client($bport, '/sub'));

    # the readers sync the channel once it has subscribers
    wait_subscribed($port, 'room', 2, at_least => 1);
    wait_subscribed($bport, 'room', 2, at_least => 1);
    Time::HiRes::sleep(0.5);

    my @answers;
    push @answers, post($port, 'room', 'a1');
    push @answers, post($bport, 'room', 'b1');
    push @answers, post($port, 'room', 'a2');
    push @answers, post($bport, 'room', 'b2');
    push @answers, post($port, 'room', 'a3');

    my ($base) = $answers[0] =~ /"id":(\d+)/;
    $base = defined $base ? $base - 1 : 0;

    Test::More::is(join(' ', map { s/,"subscribers":\d+//r }
                             map { rel_ids($base, $_) } @answers),
                   '200 {"id":1} 200 {"id":2} 200 {"id":3} 200 {"id":4} '
                   . '200 {"id":5}',
                   'TEST 1: ids from Redis follow by one on both instances');

    my $want = join '|', map {
        '{"channel":"room","id":' . ($_ + 1) . ',"data":"'
        . (qw(a1 b1 a2 b2 a3))[$_] . '"}'
    } 0 .. 4;

    my @got = map { rel_ids($base, got($_, 5)) } @subs;

    Test::More::is("$got[0] / $got[1]", "$want / $want",
                   'TEST 1: subscribers of A got all, in order');
    Test::More::is("$got[2] / $got[3]", "$want / $want",
                   'TEST 1: subscribers of B got the same, same ids');

    # a client of B publishes (ws_publish): the subscribers of A get it
    # after the others, with the next id
    my $say = client($bport, '/say');
    $say->send_text('c1');
    Test::More::is(rel_ids($base, got($subs[0], 1) . ' ' . got($subs[2], 1)),
                   '{"channel":"room","id":6,"data":"c1"} '
                   . '{"channel":"room","id":6,"data":"c1"}',
                   'TEST 1: a client of B publishes to A and B');
    $say->close;

    # resumes on B from the second message, an id A answered
    my $r = client($bport, '/sub?last_id=' . ($base + 2));
    Test::More::is(rel_ids($base, got($r, 3)),
                   join('|', (split /\|/, $want)[2 .. 4]),
                   'TEST 1: a client resumes on B with an id from A');

    # resumes on B on a channel that had no subscriber there (nor on A)
    my @late = map { post($port, 'late', "l$_") =~ /"id":(\d+)/ ? $1 : 0 }
               1 .. 3;
    my $l = client($bport, "/late?last_id=$late[0]");
    Test::More::is(rel_ids($late[0], got($l, 2)),
                   '{"channel":"late","id":1,"data":"l2"}|'
                   . '{"channel":"late","id":2,"data":"l3"}',
                   'TEST 1: a client resumes on B where the channel is new');
    $l->close;

    # the same for an EventSource subscriber
    my @late2 = map { post($port, 'late2', "e$_") =~ /"id":(\d+)/ ? $1 : 0 }
                1 .. 3;
    my $e = Test::NgxWs::Sse->new(port => $bport, path => '/sse',
                                  headers => { 'Last-Event-ID' => $late2[0] });
    Test::More::is(join('|', map { ($_->{id} - $late2[0]) . ":$_->{data}" }
                             $e->wait_messages(2, 3)),
                   '1:e2|2:e3',
                   'TEST 1: an EventSource subscriber resumes on B too');
    $e->close;

    # the class and the conflation key go with the message
    post($port, 'late', 'l4',
         "X-WS-Class: critical\r\nX-WS-Conflate: k1\r\n");
    open my $cli, '-|', 'redis-cli', '-p', $ENV{TEST_NGINX_REDIS_PORT},
         '--no-raw', 'XREVRANGE', '{ws:chat:late}:s', '+', '-', 'COUNT', 1
        or die "redis-cli: $!";
    my $entry = join ' ', map { /"([^"]*)"/ ? $1 : () } <$cli>;
    close $cli;
    Test::More::like($entry, qr/ o 1 d l4 c 2 k k1\z/,
                     'TEST 1: the stream entry has the opcode, data, class '
                     . 'and key');

    # ws_status of B: its reader, its three connections (a worker's each,
    # the reader's), what it read from the streams
    my $st = get($bport, '/status');
    Test::More::like($st, qr/"name":"chat",.*"redis":\{"reader":[1-9]\d*,
                             "connections":3,"in_flight":\d+,"connects":\d+,
                             "reconnects":0,"commands":\d+,"errors":0,
                             "rtt_ms":\d+,"rtt_max_ms":\d+,"read":(\d+),
                             "gaps":0,"refused":0,"backfilled":\d+\}/x,
                     'TEST 1: ws_status of B shows its Redis figures');
    my ($read) = $st =~ /"read":(\d+)/;
    my $prom = get($bport, '/status?format=prometheus');
    Test::More::like($prom,
                     qr/^ngx_ws_zone_redis_read_total\{zone="chat"\} $read$/m,
                     'TEST 1: and in the Prometheus format');

    my $log = b_log();
    Test::More::unlike($log, qr/\[(alert|crit|emerg)\]|\[error\]/,
                       'TEST 1: nothing wrong in the log of B');

    $_->close for @subs, $r;
}

# TEST 3: Redis restarted (its data kept): publishes are refused while it
# is down, come back after, and the subscribers of both instances get
# every message, none twice, with no history_lost.
sub restart {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my $a = client($port, '/sub');
    my $b = client($bport, '/sub');

    wait_subscribed($port, 'news', 1, at_least => 1);
    wait_subscribed($bport, 'news', 1, at_least => 1);
    Time::HiRes::sleep(0.5);

    my @ids;
    for my $m ('n1', 'n2') {
        push @ids, post($port, 'news', $m) =~ /"id":(\d+)/ ? $1 : 0;
    }

    kill 'KILL', $Redis;
    waitpid $Redis, 0;
    delete $Test::NgxWs::Redis::Pids{$Redis};

    Time::HiRes::sleep(0.3);
    my $refused = post($port, 'news', 'lost');

    $Redis = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT},
                                       @REDIS_ARGS);

    # on each instance, the first publish that Redis takes again
    my $r = post_again($bport, 'news', 'n3') . ' '
            . post_again($port, 'news', 'n4');

    my $base = $ids[0] - 1;
    my $want = join '|', map {
        '{"channel":"news","id":' . ($_ + 1) . ',"data":"n' . ($_ + 1) . '"}'
    } 0 .. 3;

    Test::More::is($refused, '503 {"error":"redis unavailable"}',
                   'TEST 3: a publish while Redis is down is refused');
    Test::More::like($r, qr/^200 \S+ 200 /,
                     'TEST 3: publishes come back on both instances');
    Test::More::is(rel_ids($base, got($a, 4, 6) . '/' . got($a, 1, 0.3)),
                   "$want/",
                   'TEST 3: the subscriber of A got every message once');
    Test::More::is(rel_ids($base, got($b, 4, 3) . '/' . got($b, 1, 0.3)),
                   "$want/",
                   'TEST 3: the subscriber of B got every message once');

    $a->close;
    $b->close;
}

# TEST 4: Redis lost the channel (FLUSHALL, as a restart without
# persistence would): the next message comes from a later epoch, and the
# subscribers of both instances are told history_lost first, never
# silently given the new message as the next one.
sub flushed {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my $a = client($port, '/sub');
    my $b = client($bport, '/sub');

    wait_subscribed($port, 'news', 1, at_least => 1);
    wait_subscribed($bport, 'news', 1, at_least => 1);
    Time::HiRes::sleep(0.5);

    my ($id) = post($port, 'news', 'm1') =~ /"id":(\d+)/;
    $id //= 0;

    system('redis-cli', '-p', $ENV{TEST_NGINX_REDIS_PORT}, 'FLUSHALL') == 0
        or die "redis-cli FLUSHALL failed";

    my ($new) = post($port, 'news', 'm2') =~ /"id":(\d+)/;
    $new //= 0;

    my $want = '{"channel":"news","id":' . $id . ',"data":"m1"}|'
               . '{"event":"history_lost","channel":"news","last_id":' . $id
               . ',"first_id":' . $new . '}|'
               . '{"channel":"news","id":' . $new . ',"data":"m2"}';

    Test::More::is(got($a, 3, 3), $want,
                   'TEST 4: A tells history_lost, then the new message');
    Test::More::is(got($b, 3, 3), $want,
                   'TEST 4: B tells history_lost, then the new message');

    $a->close;
    $b->close;
}

# TEST 5: the worker of B that reads the streams is killed: another one
# takes the lease over and goes on from what B stored; a subscriber of B's
# other worker gets every message, in order, none twice.
sub reader_dies {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my $reader = b_reader();

    # a subscriber on the other worker
    my ($b, @others) = client_not_on($bport, '/sub', $reader);

    my $a = client($port, '/sub');

    wait_subscribed($bport, 'news', 1 + @others, at_least => 1);
    Time::HiRes::sleep(0.3);

    my ($first) = post($port, 'news', 'k1') =~ /"id":(\d+)/;
    $first //= 0;
    got($b, 1) if $b;

    kill 'KILL', $reader if $reader;

    post($port, 'news', "k$_") for 2 .. 4;

    my $want = join '|', map {
        '{"channel":"news","id":' . $_ . ',"data":"k' . ($_ + 1) . '"}'
    } 1 .. 3;

    Test::More::ok($reader && $b, 'TEST 5: the reader and a subscriber '
                                  . 'of the other worker are known');
    Test::More::is($b ? rel_ids($first, got($b, 3, 4) . '/'
                                        . got($b, 1, 0.3))
                      : '', "$want/",
                   'TEST 5: another worker reads on, nothing lost or twice');

    $_->close for grep { $_ } $a, $b, @others;
}

# TEST 7: B is reloaded: its old workers close their subscribers with a
# resume point (as for a local zone), its new workers take the reading
# over; a subscriber of a new worker gets what A publishes once, and the
# old subscriber, back with its resume point, gets what it missed once.
sub reloaded {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my $a = client($port, '/sub');
    my $old = client($bport, '/sub');

    wait_subscribed($bport, 'news', 1, at_least => 1);
    Time::HiRes::sleep(0.3);

    my ($first) = post($port, 'news', 'r1') =~ /"id":(\d+)/;
    $first //= 0;
    got($old, 1);

    my $readers = () = b_log() =~ /this worker reads the Redis/g;

    kill 'HUP', b_pid();

    # until a worker of the new generation reads
    my $deadline = Time::HiRes::time() + 5;
    while (Time::HiRes::time() < $deadline) {
        my $n = () = b_log() =~ /this worker reads the Redis/g;
        last if $n > $readers;
        Time::HiRes::sleep(0.05);
    }

    my ($resume) = got($old, 1) =~ /\bnews=(\d+)/;
    $resume //= 0;

    my $new = client($bport, '/sub');
    wait_subscribed($bport, 'news', 1, at_least => 1);
    Time::HiRes::sleep(0.3);

    post($port, 'news', "r$_") for 2 .. 3;

    my $back = client($bport, "/sub?last_id=news=$resume");

    my $want = '{"channel":"news","id":1,"data":"r2"}|'
               . '{"channel":"news","id":2,"data":"r3"}';

    Test::More::is(rel_ids($first, got($new, 2) . '/' . got($new, 1, 0.3)),
                   "$want/", 'TEST 7: the subscriber of a new worker');
    Test::More::is(($resume - $first) . ' '
                   . rel_ids($first, got($back, 2) . '/'
                                     . got($back, 1, 0.3)),
                   "0 $want/",
                   'TEST 7: the old one resumes from its close reason');

    $_->close for $a, $old, $new, $back;
}

# TEST 9: Redis stalls (DEBUG SLEEP) longer than redis_timeout: a publish
# is answered 503 after the timeout, the worker meanwhile echoes at once,
# and publishes work again once Redis answers.
sub stalled {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};

    # (after the worker's connection is made)
    Test::More::like(post_again($port, 'news', 's0'), qr/^200 /,
                     'TEST 9: a publish before');

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        { exec 'redis-cli', '-p', $ENV{TEST_NGINX_REDIS_PORT}, 'DEBUG',
               'SLEEP', '1.5' }
        POSIX::_exit(127);
    }

    Time::HiRes::sleep(0.2);

    my $echo = client($port, '/echo');
    my $t0 = Time::HiRes::time();
    my $r = post($port, 'news', 's1');
    my $took = Time::HiRes::time() - $t0;

    $echo->send_text('ping');
    my $t1 = Time::HiRes::time();
    my $e = got($echo, 1, 1);
    my $echoed = Time::HiRes::time() - $t1;

    waitpid $pid, 0;

    Test::More::is(sprintf('%s %s %s', $r, ($took >= 0.3 && $took < 1.2)
                                           ? 'in time' : "after ${took}s",
                           ($e eq 'ping' && $echoed < 0.2) ? 'echoed'
                                                           : "echo: $e"),
                   '503 {"error":"redis unavailable"} in time echoed',
                   'TEST 9: 503 after redis_timeout, no stall meanwhile');
    Test::More::like(post_again($port, 'news', 's2'), qr/^200 /,
                     'TEST 9: publishes work again');

    $echo->close;
}

__DATA__

=== TEST 1: two instances share a channel through Redis
--- http_config
    ws_zone chat 1m history=10 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room news;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::across();
--- request
GET /pub?channel=room
--- response_body_like: ^\{"channel":"room","subscribers":\d+,
--- no_error_log
[error]



=== TEST 2: Redis down: the publisher answers 503 with a JSON body, once warned
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_DOWN_PORT;
--- config
    location /pub {
        ws_publisher chat;
    }
--- request
POST /pub?channel=room
hello
--- error_code: 503
--- response_headers
Content-Type: application/json
--- response_body
{"error":"redis unavailable"}
--- wait: 0.3
--- error_log eval
qr/\[info\] .*message to channel "room" refused: redis "127\.0\.0\.1:\d+" is unavailable/
--- no_error_log
[alert]



=== TEST 3: Redis restarted: refused meanwhile, then nothing lost, nothing twice
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
--- init
main::restart();
--- request
GET /pub?channel=news
--- response_body_like: ^\{"channel":"news","subscribers":\d+,
--- no_error_log
[alert]



=== TEST 4: Redis lost the channel: history_lost on both instances, never a silent gap
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
--- init
main::flushed();
--- request
GET /pub?channel=news
--- response_body_like: ^\{"channel":"news","subscribers":\d+,
--- no_error_log
[alert]



=== TEST 5: the reading worker of B dies: another one reads on
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
--- init
main::reader_dies();
--- request
GET /pub?channel=news
--- response_body_like: ^\{"channel":"news","subscribers":\d+,
--- no_error_log
[alert]



=== TEST 6: Redis down: a client's ws_publish message is refused with 1013
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_DOWN_PORT;
--- config
    location /say {
        websocket;
        ws_publish chat room;
    }
--- raw_request eval
WsFrame::ws_handshake('/say') . WsFrame::ws_text("hi")
--- error_code: 101
--- response_body_like eval
qr/\A\x88[\x02-\x7d]\x03\xf5/
--- error_log eval
qr/\[info\] .*client message to channel "room" refused: redis "127\.0\.0\.1:\d+" is unavailable/
--- no_error_log
[alert]



=== TEST 7: B reloaded: its new workers read on, old and new subscribers get everything once
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
--- init
main::reloaded();
--- request
GET /pub?channel=news
--- response_body_like: ^\{"channel":"news","subscribers":\d+,
--- no_error_log
[alert]



=== TEST 8: presence events with redis= pass nginx -t (t/240 tests them)
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_PORT presence_events=channel;
    ws_zone side 1m redis=127.0.0.1:$TEST_NGINX_REDIS_PORT presence_events=companion:.p;
--- config
    location /pub {
        ws_publisher side;
    }
--- request
GET /pub?channel=nobody
--- error_code: 404
--- no_error_log
[emerg]



=== TEST 9: Redis stalls: 503 after redis_timeout, the worker does not
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_PORT redis_timeout=500ms;
--- config
    location /echo {
        websocket;
        ws_echo on;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::stalled();
--- request
GET /pub
--- error_code: 400
--- response_body_like: Bad Request
--- error_log eval
qr/\[error\] .*redis "127\.0\.0\.1:\d+" timed out with \d+ commands in flight/
