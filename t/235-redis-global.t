# A Redis-backed zone across instances: a message or a Close to a
# connection id reaches it from any instance (ws_publisher's POST ?id=,
# the connections API's POST and DELETE ?id=), 404 when no live instance
# has it; the publisher's GET ?channel= counts the subscribers of every
# live instance and lists their members (&members), and forgets an
# instance that died within its ttl (3 s); its POST answer counts them
# all too.
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
use Test::NgxWs::Instances qw(stop_b kill_b b_log req again req_found
                               count_is members_are client next_frame sum
                               push_both_ways);

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

$ENV{TEST_NGINX_REDIS_PORT} //= server_port() + 5;
$ENV{TEST_NGINX_B_PORT} //= server_port() + 10;

our $Redis = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT});

master_on();
workers(2);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 11, 2 => 9, 3 => 5);

# per block: TEST 1: 3 (status, body, no_error_log), TEST 2, 3: 2 (status,
# no_error_log), TEST 4: 2 (status, no_error_log)
plan tests => repeat_each() * (3 + 2 + 2 + 2) + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- instance B ---------------------------------------------------------

sub start_b {
    Test::NgxWs::Instances::start_b(<<"EOF");
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
EOF
}


# --- helpers ------------------------------------------------------------

# req() until it answers 200 (Redis back, the other instance's
# connections told again), for up to $secs
sub req_ok {
    my ($secs, @args) = @_;
    return again($secs, sub { req(@args) }, qr/^200 /);
}


# --- scenarios ----------------------------------------------------------

# TEST 1: a message, a message through the connections API and a Close
# from A to a connection of B; 404 once it is gone, and for an id nobody
# has; the other way, from B to a connection of A.
sub push_across {
    start_b();

    push_both_ways('TEST 1:', first => \&req_found);

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
    Test::More::like(req($port, 'POST', '/pub?channel=room', 'all'),
                     qr/^200 \{"id":\d+,"subscribers":4\}$/,
                     'TEST 2: a POST on A counts the subscribers of B too');

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



=== TEST 4: ws_snapshot on a Redis-backed zone passes nginx -t (t/240 tests it)
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
    location /pub {
        ws_publisher chat;
    }
--- request
GET /pub?channel=nobody
--- error_code: 404
--- no_error_log
[emerg]
