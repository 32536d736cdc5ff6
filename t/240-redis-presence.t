# Presence events (ws_zone presence_events=) on Redis-backed zones: a join
# or leave is published through Redis like any other message, so it reaches
# the subscribers of both instances once, with the same id, and a client
# resumes across instances with the events included.  Instance A is the
# suite's nginx (a master, two workers), instance B a second one started
# here (Test::NgxWs::Instances); Redis is Debian's redis-server started
# here.  Ports, next to the suite's:
#   TEST_NGINX_REDIS_PORT       (server port + 5) the Redis server
#   TEST_NGINX_REDIS_DOWN_PORT  (any free port) bound, never listening
#   TEST_NGINX_B_PORT           (+ 10) instance B
#
# The scenarios run in each block's --- init and their checks are the
# first tests of the block.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Client ();
use Test::NgxWs::Redis ();
use Test::NgxWs::Instances qw(req post again client frames got rel_ids
                               wait_subscribed sum b_pid
                               next_frame);

use IO::Socket::INET ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

$ENV{TEST_NGINX_REDIS_PORT} //= server_port() + 5;
$ENV{TEST_NGINX_B_PORT} //= server_port() + 10;

# bound, never listening: connect() there is refused
our $Down = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp')
    or die "cannot bind a port: $!";
$ENV{TEST_NGINX_REDIS_DOWN_PORT} //= $Down->sockport;

our $Redis = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT});

master_on();
workers(2);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 9, 2 => 1, 3 => 3);

# per block: TEST 1: 3 (status, body, no_error_log), TEST 2: 6 (status,
# body, error_log, grep_error_log_out, 2 no_error_log), TEST 3: 4 (status,
# body, 2 no_error_log)
plan tests => repeat_each() * (3 + 6 + 4) + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- instance B ---------------------------------------------------------

sub start_b {
    Test::NgxWs::Instances::start_b(<<"EOF");
    ws_zone chat 1m history=50 redis=127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}
            presence_events=channel;
    ws_zone side 1m history=50 redis=127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}
            presence_events=companion:.p;
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B_PORT};
        location /sub {
            websocket;
            ws_presence \$arg_user;
            ws_subscribe chat room;
            ws_envelope on;
            add_header X-Worker \$pid always;
        }
        location /sidep {
            websocket;
            ws_subscribe side room.p;
            ws_envelope on;
        }
        location /pub {
            ws_publisher chat;
        }
        location /spub {
            ws_publisher side;
        }
    }
EOF
}


# --- helpers ------------------------------------------------------------

sub join_ev {
    my ($ch, $who) = @_;
    return qq({\\"event\\":\\"join\\",\\"channel\\":\\"$ch\\",)
           . qq(\\"member\\":\\"$who\\"});
}

sub leave_ev {
    my ($ch, $who, $why) = @_;
    return qq({\\"event\\":\\"leave\\",\\"channel\\":\\"$ch\\",)
           . qq(\\"member\\":\\"$who\\",\\"reason\\":\\"$why\\"});
}

# the envelope of message $n (relative id) of $ch with the (escaped) data
sub env { qq({"channel":"$_[0]","id":$_[1],"data":"$_[2]"}) }

sub bye {
    my ($c) = @_;
    $c->send_close(1000);
    $c->wait_eof(2);
    $c->close;
}

# until a channel has $n subscribers on $port's publisher $loc
sub subscribed {
    my ($port, $loc, $channel, $n) = @_;
    return again(3, sub { req($port, 'GET', "$loc?channel=$channel") },
                 qr/"subscribers":$n,/);
}


# --- scenarios ----------------------------------------------------------

# TEST 1: joins and leaves on A and on B reach the observers of both with
# the same ids, in the order of the channel, between the messages; a
# client resumes on B with an id A gave and gets the events it missed;
# a companion channel gets the events of the other instance's members.
sub across {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my $wa = client($port, '/sub');
    my $wb = client($bport, '/sub');

    wait_subscribed($port, 'room', 1, at_least => 1);
    wait_subscribed($bport, 'room', 1, at_least => 1);

    # the readers sync the channel once it has subscribers
    Time::HiRes::sleep(0.5);

    my @seen;
    my $step = sub { push @seen, [ frames($wa, 1), frames($wb, 1) ] };

    my $alice = client($port, '/sub?user=alice');
    $step->();

    post($bport, 'room', 'm1');
    $step->();

    bye($alice);
    $step->();

    my $bob = client($bport, '/sub?user=bob');
    $step->();

    bye($bob);
    $step->();

    my ($base) = ($seen[0][0] // '') =~ /"id":(\d+)/;
    $base = defined $base ? $base - 1 : 0;

    my $want = join '|', env('room', 1, join_ev('room', 'alice')),
                         env('room', 2, 'm1'),
                         env('room', 3, leave_ev('room', 'alice', 'leave')),
                         env('room', 4, join_ev('room', 'bob')),
                         env('room', 5, leave_ev('room', 'bob', 'leave'));

    Test::More::is(rel_ids($base, join '|', map { $_->[0] // '' } @seen),
                   $want, 'TEST 1: the observer of A got the joins and '
                   . 'leaves of A and B, in order, ids following by one');
    Test::More::is(rel_ids($base, join '|', map { $_->[1] // '' } @seen),
                   $want, 'TEST 1: the observer of B got the same, same ids');
    Test::More::is(join(' ', frames($wa, 1, 0.5), frames($wb, 1, 0.5)), '',
                   'TEST 1: nothing twice');

    # the events are entries of the channel's stream
    my $n = Test::NgxWs::Redis::cli_line($ENV{TEST_NGINX_REDIS_PORT},
                                         'XLEN', '{ws:chat:room}:s');
    Test::More::is($n, 5, 'TEST 1: 5 entries in the Redis stream');

    # a client that had the first one resumes on B: the rest, events too
    bye($wa);
    my $r = client($bport, '/sub?last_id=' . ($base + 1));
    Test::More::is(rel_ids($base, got($r, 4)),
                   join('|', (split /\|/, $want)[1 .. 4]),
                   'TEST 1: a client resumes on B with presence events');
    bye($r);
    bye($wb);

    # companion: an observer of room.p on B, a subscriber of room on A
    my $cb = client($bport, '/sidep');
    my $ra = client($port, '/side');

    subscribed($bport, '/spub', 'room.p', 1);
    subscribed($port, '/spub', 'room', 1);
    Time::HiRes::sleep(0.5);

    my $carol = client($port, '/side?user=carol');
    my $j = got($cb, 1);
    bye($carol);
    my $l = got($cb, 1);

    my ($cbase) = $j =~ /"id":(\d+)/;
    $cbase = defined $cbase ? $cbase - 1 : 0;

    Test::More::is(rel_ids($cbase, "$j|$l"),
                   env('room.p', 1, join_ev('room', 'carol')) . '|'
                   . env('room.p', 2, leave_ev('room', 'carol', 'leave')),
                   'TEST 1: a companion on B gets the events of A');
    Test::More::is(got($ra, 1, 0.5), '',
                   'TEST 1: the channel itself gets none');

    bye($cb);
    bye($ra);

    # B reloads: its old workers close their connections, the leave of
    # a member of B is published before they exit
    my $wa2 = client($port, '/sub');
    wait_subscribed($port, 'room', 1, at_least => 1);
    Time::HiRes::sleep(0.5);
    my $dan = client($bport, '/sub?user=dan');
    my $dj = got($wa2, 1);
    kill 'HUP', b_pid();
    my $dc = next_frame($dan);
    bye($dan);
    my $dl = got($wa2, 1, 5);

    my ($dbase) = $dj =~ /"id":(\d+)/;
    $dbase = defined $dbase ? $dbase - 1 : 0;

    Test::More::is(rel_ids($dbase, "$dj|$dl"),
                   env('room', 1, join_ev('room', 'dan')) . '|'
                   . env('room', 2, leave_ev('room', 'dan', 'closed')),
                   "TEST 1: B reloads ($dc): the leave of its member reaches A");

    # a worker of B dies: another worker of B publishes the leave
    Time::HiRes::sleep(0.5);
    my $eve = client($bport, '/sub?user=eve');
    my $ej = got($wa2, 1);
    kill 'KILL', $eve->header('X-Worker');
    my $el = got($wa2, 1, 5);

    my ($ebase) = $ej =~ /"id":(\d+)/;
    $ebase = defined $ebase ? $ebase - 1 : 0;

    Test::More::is(rel_ids($ebase, "$ej|$el"),
                   env('room', 1, join_ev('room', 'eve')) . '|'
                   . env('room', 2, leave_ev('room', 'eve', 'crash')),
                   'TEST 1: a worker of B dies: the leave reaches A');
    $eve->close;
    bye($wa2);
}

# TEST 2: Redis unavailable: the members join and leave, their events are
# dropped and counted with the refused publishes, warned once per worker
sub down {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my @c;

    for my $who (qw(alice bob carol dave)) {
        push @c, client($port, "/sub?user=$who");
    }

    Test::More::is(join(' ', map { $_->status // '?' } @c), '101 101 101 101',
                   'TEST 2: the members are subscribed meanwhile');

    bye($_) for @c;

    # four joins, four leaves: counted by the time the request asks
    again(3, sub { req($port, 'GET', '/status') },
          sub { $_[0] =~ /"refused":(\d+)/ && $1 >= 8 });
}


# TEST 3: ws_snapshot on a Redis-backed zone.  A channel new to A: the
# snapshot is asked for once A has synced it, and the client gets the
# snapshot, then what followed it (from the history), then live messages,
# each once.  A snapshot id that A has not read yet (the application saw
# Redis ahead of A): the messages up to it are not sent again when they
# come.  The snapshot's id is the client's X-Snap (the snapshot location
# answers with it).
sub snapshot {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my @ids = map { post($bport, 'snap', "p$_") =~ /"id":(\d+)/ ? $1 : 0 }
              1 .. 3;
    my $base = $ids[0] - 1;

    my $c = Test::NgxWs::Client->new(port => $port, path => '/snap',
                                     timeout => 3,
                                     headers => { 'X-Snap' => $ids[1] });
    my $first = rel_ids($base, got($c, 2));

    post($bport, 'snap', 'p4');

    Test::More::is($first . '|' . rel_ids($base, got($c, 1)) . '|'
                   . got($c, 1, 0.5),
                   '{"event":"snapshot","channel":"snap","id":2,'
                   . '"data":"S"}|{"channel":"snap","id":3,"data":"p3"}|'
                   . '{"channel":"snap","id":4,"data":"p4"}|',
                   'TEST 3: a channel new to A: the snapshot, then the '
                   . 'history after it, then live, once each');

    # the application is two messages ahead of A
    my $d = Test::NgxWs::Client->new(port => $port, path => '/snap',
                                     timeout => 3,
                                     headers => { 'X-Snap' => $base + 6 });

    post($bport, 'snap', "p$_") for 5 .. 7;

    Test::More::is(rel_ids($base, got($d, 3, 2)),
                   '{"event":"snapshot","channel":"snap","id":6,'
                   . '"data":"S"}|{"channel":"snap","id":7,"data":"p7"}',
                   'TEST 3: a snapshot id ahead of A: what it covers is '
                   . 'not sent again');
    Test::More::is(rel_ids($base, got($c, 3)),
                   join('|', map { qq({"channel":"snap","id":$_,)
                                   . qq("data":"p$_"}) } 5 .. 7),
                   'TEST 3: the other subscriber got them all');

    $c->close;
    $d->close;
}

__DATA__

=== TEST 1: presence events across instances through Redis, same ids, resumable
--- http_config
    ws_zone chat 1m history=50 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT
            presence_events=channel;
    ws_zone side 1m history=50 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT
            presence_events=companion:.p;
--- config
    location /sub {
        websocket;
        ws_presence $arg_user;
        ws_subscribe chat room;
        ws_envelope on;
    }
    location /side {
        websocket;
        ws_presence $arg_user;
        ws_subscribe side room;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
    location /spub {
        ws_publisher side;
    }
--- init
main::across();
--- request
GET /pub?channel=room
--- response_body_like: ^\{"channel":"room","subscribers":\d+,
--- no_error_log
[error]



=== TEST 2: Redis unavailable: presence events dropped, counted, warned, no crash
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_DOWN_PORT
            presence_events=channel;
--- config
    location /sub {
        websocket;
        ws_presence $arg_user;
        ws_subscribe chat room;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::down();
--- request
GET /status
--- response_body_like: "refused":(?:[89]|\d\d+)[,}]
--- error_log eval
qr/\[warn\] .*ws_zone "chat": presence events are dropped while redis "127\.0\.0\.1:\d+" is unavailable \(first: channel "room"\)/
--- grep_error_log: presence events are dropped while
--- grep_error_log_out eval
qr/\A(?:presence events are dropped while\n){1,2}\z/
--- no_error_log
[alert]
[crit]



=== TEST 3: ws_snapshot on a Redis-backed zone: snapshot, then each later message once
--- http_config
    ws_zone chat 1m history=50 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT
            presence_events=channel;
--- config
    location /snap {
        websocket;
        ws_subscribe chat snap;
        ws_envelope on;
        ws_snapshot /snapshot;
    }
    location = /snapshot {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/snapdata;
    }
    location = /snapdata {
        default_type text/plain;
        add_header X-WS-Snapshot-Id $http_x_snap always;
        return 200 "S";
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::snapshot();
--- request
GET /pub?channel=snap
--- response_body_like: ^\{"channel":"snap","subscribers":\d+,
--- no_error_log
[error]
[warn]
