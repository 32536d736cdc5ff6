# A ws_zone on a Redis Cluster (redis_cluster=): three masters started
# here (Debian's redis-server, --cluster-enabled yes, joined with
# redis-cli --cluster create, stopped by PID) and two nginx instances:
# A, the suite's (a master, two workers), and B, started by this file
# with a configuration of its own and stopped by PID.  Both name only the
# first master; they learn the others from its slot map.  Ports, next to
# the suite's:
#   TEST_NGINX_B_PORT           instance B: the first free port from
#                               server port + 10
#   TEST_NGINX_DOWN_PORT        (any free port) bound, never listening
#   TEST_NGINX_CLUSTER_PORT     the first master: the next free one; the
#                               other masters and the cluster bus ports
#                               on the next free ones (a port of the range
#                               may be some connection's ephemeral port)
#
# The scenarios run in each block's --- init and their checks are the
# first tests of the block.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Client ();
use Test::NgxWs::Cluster ();
use Test::NgxWs::Instances qw(stop_b b_log get req again count_is
                               members_are wait_subscribed client frames
                               sum push_both_ways);

use POSIX ();
use IO::Socket::INET ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

# the next port from $Next that can be listened on
our $Next = server_port() + 10;

sub free_port {
    for (; $Next < server_port() + 100; $Next++) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $Next, ReuseAddr => 1,
                                      Listen => 1, Proto => 'tcp')
            or next;
        close $s;
        return $Next++;
    }

    die 'no free port';
}

$ENV{TEST_NGINX_B_PORT} //= free_port();
$ENV{TEST_NGINX_CLUSTER_PORT} //= free_port();

# a port of the kernel's choice, bound and never listening: a seed there
# is refused (TEST 7)
our $Down = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp')
    or die "cannot bind a port: $!";
$ENV{TEST_NGINX_DOWN_PORT} //= $Down->sockport;

our @Ports = ($ENV{TEST_NGINX_CLUSTER_PORT}, free_port(), free_port());

start_cluster();

master_on();
workers(2);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 8, 2 => 6, 6 => 5, 7 => 1, 8 => 15, 9 => 4);

# per block: TEST 1, 2, 6, 7, 8, 9: 3 (status, body, no_error_log); TEST
# 3, 4, 5 (must_die): 2 each
plan tests => repeat_each() * (3 + 3 + 2 + 2 + 2 + 3 + 3 + 3 + 3)
              + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- the cluster --------------------------------------------------------

# redis-cli's answer, one line per element (--raw)
sub cli { Test::NgxWs::Cluster::cli(@_) }

# the masters keep their data across a restart (TEST 6)
sub start_cluster {
    Test::NgxWs::Cluster::start(\@Ports, bus => \&free_port, args => sub {
        my ($port) = @_;
        return ('--appendonly', 'yes', '--appendfsync', 'always',
                '--appendfilename', "appendonly-$port.aof",
                '--appenddirname', "aof-$port");
    });
}

sub wait_cluster_ok { Test::NgxWs::Cluster::wait_ok(@Ports) }

# the port of the master that holds a key's slot, by its key count
sub owner { Test::NgxWs::Cluster::owner($_[0], @Ports) }

sub finish { Test::NgxWs::Cluster::finish(@_, @Ports) }

# the slot of a channel's keys goes from its master to another one; with
# $finish 0 it stays half way (the source answers ASK)
sub migrate {
    my ($channel, $finish) = @_;
    my @m = Test::NgxWs::Cluster::move("{ws:chat:$channel}:s", @Ports);

    finish(@m[2, 1, 3]) if $finish;

    return @m;
}


# --- instance B ---------------------------------------------------------

sub start_b {
    Test::NgxWs::Instances::start_b(<<"EOF");
    ws_zone chat 1m history=10
            redis_cluster=127.0.0.1:$ENV{TEST_NGINX_CLUSTER_PORT};
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B_PORT};
        location /sub {
            websocket;
            ws_subscribe chat a b c;
            ws_envelope on;
        }
        location /late {
            websocket;
            ws_subscribe chat late;
            ws_envelope on;
        }
        location /pub {
            ws_publisher chat;
        }
        location /status {
            ws_status;
        }
        location /push {
            websocket;
            ws_push chat;
            add_header X-Id \$ws_connection_id always;
        }
        location /room {
            websocket;
            ws_subscribe chat room;
            ws_presence \$arg_user;
        }
        location /conns {
            ws_connections chat;
        }
    }
EOF
}


# --- helpers ------------------------------------------------------------

# POST to a publisher: "STATUS BODY" (without the subscribers counted)
sub post {
    my ($port, $channel, $body) = @_;
    my $r = Test::NgxWs::Instances::post($port, $channel, $body);

    $r =~ s/,"subscribers":\d+//;

    return $r;
}

# the same, again while it is refused (503), for up to 10 s
sub post_again {
    my ($port, $channel, $body) = @_;
    return again(10, sub { post($port, $channel, $body) }, qr/^200 /);
}

# the id a publish answered (0 if none)
sub id_of {
    my ($answer) = @_;
    return $answer =~ /"id":(\d+)/ ? $1 : 0;
}

# per channel, "channel:data@id-relative-to-base" in the order received
sub by_channel {
    my ($base, @p) = @_;
    my %ch;

    for (@p) {
        my ($c, $id, $d) = /"channel":"(\w+)","id":(\d+),"data":"([^"]*)"/
            or next;
        push @{ $ch{$c} }, "$d@" . ($id - $base->{$c});
    }

    return join ' ', map { "$_=" . join(',', @{ $ch{$_} }) } sort keys %ch;
}

# req() until it is not a 503 (a worker that does not know the slot map
# again yet, after TEST 6's master restart), for up to 5 s
sub req_ready {
    my @args = @_;
    return again(5, sub { req(@args) }, sub { $_[0] !~ /^503 / });
}

# req() until it answers other than 404 (the other instance's heartbeat,
# its connection's record) or 503 (the slot map not known yet), for up
# to 5 s
sub req_found {
    my @args = @_;
    return again(5, sub { req(@args) }, sub { $_[0] !~ /^(404|503) / });
}


# --- scenarios ----------------------------------------------------------

our (%Base, @Subs);

# TEST 1: channels on the three masters, published on A (and B), reach
# the subscribers of both instances in order with the same ids; a client
# resumes on B with an id A gave
sub across {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    @Subs = (client($port, '/sub'), client($bport, '/sub'),
             client($bport, '/sub'));

    for my $c (qw(a b c)) {
        wait_subscribed($port, $c, 1);
        wait_subscribed($bport, $c, 2);
    }

    Time::HiRes::sleep(0.5);

    my @answers;

    for my $round (1 .. 3) {
        for my $c (qw(a b c)) {
            push @answers, [$c, post($round == 2 ? $bport : $port, $c,
                                     "$c$round")];
        }
    }

    %Base = ();

    for (@answers) {
        $Base{ $_->[0] } //= id_of($_->[1]) - 1;
    }

    Test::More::is(join(' ', map { "$_->[0]:" . (id_of($_->[1])
                                                 - $Base{ $_->[0] }) }
                             @answers),
                   'a:1 b:1 c:1 a:2 b:2 c:2 a:3 b:3 c:3',
                   'TEST 1: ids follow by one in each channel, on A and B');

    # the keys of the three channels are on three different masters
    my @owners = map { owner("{ws:chat:$_}:s") } qw(a b c);
    Test::More::is(join(' ', sort { $a <=> $b } @owners),
                   join(' ', @Ports),
                   'TEST 1: the channels are on the three masters');

    my $want = 'a=a1@1,a2@2,a3@3 b=b1@1,b2@2,b3@3 c=c1@1,c2@2,c3@3';
    my @got = map { by_channel(\%Base, frames($_, 9)) } @Subs;

    Test::More::is($got[0], $want, 'TEST 1: the subscriber of A got all');
    Test::More::is("$got[1] / $got[2]", "$want / $want",
                   'TEST 1: the subscribers of B got the same, same ids');

    # resumes on B from the first message of a channel new to B
    my @late = map { id_of(post($port, 'late', "l$_")) } 1 .. 3;
    my $l = client($bport, "/late?last_id=$late[0]");
    Test::More::is(by_channel({ late => $late[0] }, frames($l, 2)),
                   'late=l2@1,l3@2',
                   'TEST 1: a client resumes on B with an id from A');
    $l->close;

    # B: two workers and the reader, each connected to the three masters,
    # and the reader's wake subscriber on each; the routing by slot needed
    # no redirection
    my $st = get($bport, '/status');
    Test::More::like($st, qr/"redis":\{"reader":[1-9]\d*,"connections":12,
                             .*"gaps":0,"refused":0,"backfilled":\d+,
                             "cluster":\{"moved":0,"asked":0,
                             "wake":\{"connections":3,"wakes":[1-9]\d*\}\}\}/x,
                     'TEST 1: ws_status of B: 12 connections, no redirection');

    Test::More::like(b_log(), qr/\[info\]\ .*redis\ cluster\ "127\.0\.0\.1:\d+":
                                 \ slot\ map\ from\ [\d.:]+:\ 3\ masters,
                                 \ 0\ slots\ without\ one/x,
                     'TEST 1: B learned the map of the cluster');
    Test::More::unlike(b_log(), qr/\[(alert|crit|emerg|error)\]/,
                       'TEST 1: nothing wrong in the log of B');

    # the suite's nginx is restarted for the next block
    $Subs[0]->close;
}

# TEST 2: a slot moves to another master (MOVED), another is half way
# (ASK): publishes go on from both instances, and the subscribers of both
# get every message once, in order
sub resharding {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    # the suite's nginx was restarted: A's subscriber again
    $Subs[0] = client($port, '/sub');
    wait_subscribed($port, 'a', 1);
    Time::HiRes::sleep(0.5);

    my ($from, $to) = migrate('a', 1);
    my ($bfrom, $bto, $bslot, $btid) = migrate('b', 0);

    my @r;
    push @r, post($port, 'a', 'a4'), post($bport, 'a', 'a5');
    push @r, post($port, 'b', 'b4'), post($bport, 'b', 'b5');

    Test::More::is(join(' ', map { $_ =~ s/"id":\d+/"id":N/r } @r),
                   join(' ', ('200 {"id":N}') x 4),
                   'TEST 2: publishes answered during the resharding');
    Test::More::is(join(' ', map { id_of($r[$_]) - id_of($r[0]) } 0 .. 1)
                   . ' ' . join(' ', map { id_of($r[$_]) - id_of($r[2]) }
                                     2 .. 3),
                   '0 1 0 1', 'TEST 2: the ids follow on, on both');

    Test::More::is(owner('{ws:chat:a}:s') . ' ' . owner('{ws:chat:b}:s'),
                   "$to $bto", 'TEST 2: the keys are on the new masters');

    my $want = 'a=a4@4,a5@5 b=b4@4,b5@5';
    my @got = map { by_channel(\%Base, frames($_, 4)) } @Subs;

    Test::More::is(join(' / ', @got), join(' / ', ($want) x 3),
                   'TEST 2: the subscribers of A and B got them in order');

    finish($bslot, $bto, $btid);

    my $st = get($port, '/status') . get($bport, '/status');
    my @moved = $st =~ /"moved":(\d+)/g;
    my @asked = $st =~ /"asked":(\d+)/g;
    Test::More::ok(@moved == 2 && $moved[0] > 0 && $moved[1] > 0
                   && $asked[0] + $asked[1] > 0,
                   "TEST 2: ws_status counts the redirections (moved @moved,"
                   . " asked @asked)");

    Test::More::unlike(b_log(), qr/\[(alert|crit|emerg|error)\]/,
                       'TEST 2: nothing wrong in the log of B');

    $_->close for @Subs;
}

# TEST 6: a master goes (killed) and comes back: the channels of the
# other masters go on meanwhile, its own are refused (503), and once it is
# back every instance reconnects to it and delivers them again
sub master_down {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    @Subs = (client($port, '/sub'), client($bport, '/sub'));

    for my $c (qw(a b c)) {
        wait_subscribed($port, $c, 1);
        wait_subscribed($bport, $c, 1);
    }

    Time::HiRes::sleep(0.5);

    my $dead = owner('{ws:chat:c}:s');
    my @alive = grep { owner("{ws:chat:$_}:s") != $dead } qw(a b);
    my $ch = $alive[0];

    Test::NgxWs::Cluster::kill_node($dead);
    Time::HiRes::sleep(0.3);

    my $refused = post($port, 'c', 'lost');
    my $ok = post($port, $ch, "${ch}x") . ' ' . post($bport, $ch, "${ch}y");

    my %base = ($ch => id_of($ok) - 1);
    my $want = "$ch=${ch}x\@1,${ch}y\@2";
    my @got = map { by_channel(\%base, frames($_, 2)) } @Subs;

    Test::More::is("$refused / " . ($ok =~ s/"id":\d+/"id":N/gr)
                   . " / $got[0] / $got[1]",
                   '503 {"error":"redis unavailable"} / 200 {"id":N} '
                   . "200 {\"id\":N} / $want / $want",
                   'TEST 6: the channels of the other masters go on');

    Test::NgxWs::Cluster::restart($dead);
    wait_cluster_ok();

    my $back = post_again($bport, 'c', 'c4') . ' ' . post_again($port, 'c', 'c5');
    Test::More::like($back, qr/^200 \{"id":\d+\} 200 \{"id":\d+\}$/,
                     'TEST 6: its channels are published again');

    %base = (c => id_of($back) - 1);
    @got = map { by_channel(\%base, frames($_, 2)) } @Subs;
    Test::More::is(join(' / ', @got), 'c=c4@1,c5@2 / c=c4@1,c5@2',
                   'TEST 6: and delivered on both instances');

    my $log = b_log();
    my @warned = $log =~ /\[warn\] .*redis "127\.0\.0\.1:$dead" unavailable: connection lost/g;
    my @failed = $log =~ /\[error\] .*XREAD failed/g;
    Test::More::ok(@warned >= 2 && @failed <= 1,
                   'TEST 6: B: a warn line per worker for the outage, '
                   . 'at most one error line from the reader ('
                   . scalar(@warned) . ', ' . scalar(@failed) . ')');
    Test::More::like($log, qr/\[notice\] .*redis "127\.0\.0\.1:$dead" connected again after \d+ attempts/,
                     'TEST 6: B: and a notice on the return');

    $_->close for @Subs;

    # TEST 7 publishes to "a" and expects no subscriber: each instance
    # sees the other's counts in Redis, so once both count none, this
    # instance's last counts are there before it is stopped
    for my $c (qw(a b c)) {
        wait_subscribed($port, $c, 0);
        wait_subscribed($bport, $c, 0);
    }
}

# TEST 7: the first seed refuses connections: the map comes from the
# second one, and every worker publishes
sub dead_seed {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};

    my @r = (post_again($port, 'a', 'd0'));
    Time::HiRes::sleep(0.3);
    push @r, post($port, 'a', "d$_") for 1 .. 6;

    Test::More::is(join(' ', map { s/"id":\d+/"id":N/r } @r),
                   join(' ', ('200 {"id":N}') x 7),
                   'TEST 7: publishes work with the first seed down');
}

# TEST 8: across instances on the cluster as on one Redis: a message, a
# message through the connections API and a Close from A to a connection
# of B, 404 once it is gone and for an id nobody has, B to A; the
# subscribers and members of both instances counted on each
sub global {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};
    my $t = 'TEST 8:';

    # B's log from here (TEST 6 left an error there, the cluster down)
    my $from = length b_log();

    push_both_ways($t, first => \&req_found, conns => \&req_found,
                   then => \&req_ready);

    # counts: "room" and the zone's keys are in different slots

    my @a = map { client($port, "/room?user=$_") } qw(alice bob);
    my @b = map { client($bport, "/room?user=$_") } qw(alice carol dave);

    Test::More::is(count_is($port, 'room', 5), 5,
                   "$t A counts its 2 and the 3 of B");
    Test::More::is(count_is($bport, 'room', 5), 5,
                   "$t B counts the same");
    Test::More::is(members_are($port, 'room',
                               'alice:2 bob:1 carol:1 dave:1'),
                   'alice:2 bob:1 carol:1 dave:1',
                   "$t A lists the members of both, alice twice");

    $_->close for @b;

    Test::More::is(count_is($port, 'room', 2), 2,
                   "$t the subscribers that left B are not counted");

    $_->close for @a;

    Test::More::unlike(substr(b_log(), $from),
                       qr/\[(alert|crit|emerg|error)\]/,
                       "$t nothing wrong in the log of B");
}

# TEST 9: a master loses the last write of a channel and took another
# message under its id before the instances connected to it again (what
# a failover with asynchronous replication leaves; here its counter and
# stream are rolled back and written, then its client connections
# killed): the reader of each instance checks the channel when its
# connection to that master is made again, both count the loss before
# anything more is published, and the subscribers of both instances get
# history_lost, then the next message, never the other one under the id
# they saw
sub lost_writes {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    @Subs = (client($port, '/sub'), client($bport, '/sub'));

    wait_subscribed($port, 'a', 1);
    wait_subscribed($bport, 'a', 1);
    Time::HiRes::sleep(0.5);

    my $n1 = id_of(post_again($port, 'a', 'r1'));
    my $n2 = id_of(post($port, 'a', 'r2'));

    my $want = msg($n1, 'r1') . '|' . msg($n2, 'r2');
    my @got = map { join '|', frames($_, 2) } @Subs;

    Test::More::is("$got[0] / $got[1]", "$want / $want",
                   'TEST 9: both instances read the two messages');

    my %gaps = (a => gaps($port), b => gaps($bport));
    my $master = owner('{ws:chat:a}:s');

    cli($master, 'EVAL',
        "local e = redis.call('XRANGE', KEYS[2], '-', ARGV[1] .. '-0')\n"
        . "redis.call('DEL', KEYS[2])\n"
        . "for _, x in ipairs(e) do\n"
        . "  redis.call('XADD', KEYS[2], x[1], unpack(x[2]))\n"
        . "end\n"
        . "redis.call('XADD', KEYS[2], ARGV[2] .. '-0', 'o', '1',"
        . " 'd', 'other', 'c', '0', 'k', '')\n"
        . "redis.call('SET', KEYS[1], ARGV[2])\n",
        2, '{ws:chat:a}:n', '{ws:chat:a}:s', $n1, $n2);
    cli($master, 'CLIENT', 'KILL', 'TYPE', 'normal');

    my $deadline = Time::HiRes::time() + 8;

    until (gaps($port) > $gaps{a} && gaps($bport) > $gaps{b}) {
        last if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }

    Test::More::is((gaps($port) - $gaps{a}) . ' ' . (gaps($bport) - $gaps{b}),
                   '1 1', 'TEST 9: both instances counted the loss');
    Time::HiRes::sleep(0.2);

    my $n3 = id_of(post_again($port, 'a', 'r3'));

    $want = lost($n2, $n3) . '|' . msg($n3, 'r3');
    @got = map { join '|', frames($_, 2) } @Subs;

    Test::More::is("$got[0] / $got[1]", "$want / $want",
                   'TEST 9: history_lost on both instances, then r3');

    Test::More::like(b_log(), qr/\[warn\]\ .*redis\ "127\.0\.0\.1:$master"
                                 \ lost\ messages\ of\ channel\ "a"\ that
                                 \ this\ instance\ read\ \(up\ to\ id\ $n2\):
                                 \ read\ on\ after\ \d+/x,
                     'TEST 9: B logged the loss, naming the master');

    $_->close for @Subs;
}

# the gaps counted by an instance's reader (ws_status)
sub gaps {
    my ($port) = @_;
    return get($port, '/status') =~ /"gaps":(\d+)/ ? $1 : 0;
}

sub msg {
    my ($id, $data) = @_;
    return '{"channel":"a","id":' . $id . ',"data":"' . $data . '"}';
}

sub lost {
    my ($last, $first) = @_;
    return '{"event":"history_lost","channel":"a","last_id":' . $last
           . ',"first_id":' . $first . '}';
}

__DATA__

=== TEST 1: channels spread over three masters, across two instances
--- http_config
    ws_zone chat 1m history=10 redis_cluster=127.0.0.1:$TEST_NGINX_CLUSTER_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat a b c;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::across();
--- request
GET /pub?channel=a
--- response_body_like: ^\{"channel":"a","subscribers":\d+,
--- no_error_log
[error]



=== TEST 2: MOVED and ASK while slots move
--- http_config
    ws_zone chat 1m history=10 redis_cluster=127.0.0.1:$TEST_NGINX_CLUSTER_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat a b c;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::resharding();
--- request
GET /status
--- response_body_like: "cluster":\{"moved":\d+,"asked":\d+,"wake":\{"connections":\d,"wakes":\d+\}\}
--- no_error_log
[error]



=== TEST 3: redis= and redis_cluster= together fail nginx -t
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_CLUSTER_PORT redis_cluster=127.0.0.1:$TEST_NGINX_CLUSTER_PORT;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"redis_cluster=" goes with no other "redis=" or "redis_cluster="/



=== TEST 4: a bad node address fails nginx -t
--- http_config
    ws_zone chat 1m redis_cluster=127.0.0.1:$TEST_NGINX_CLUSTER_PORT,127.0.0.1:99999;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid node "127\.0\.0\.1:99999" in redis_cluster=/



=== TEST 5: redis_db= with redis_cluster= fails nginx -t
--- http_config
    ws_zone chat 1m redis_cluster=127.0.0.1:$TEST_NGINX_CLUSTER_PORT redis_db=2;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*ws_zone "chat": redis_db= does not work with redis_cluster=/



=== TEST 6: a master killed and restarted
--- http_config
    ws_zone chat 1m history=10 redis_cluster=127.0.0.1:$TEST_NGINX_CLUSTER_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat a b c;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::master_down();
--- request
GET /pub?channel=c
--- response_body_like: ^\{"channel":"c","subscribers":\d+,
--- no_error_log
[alert]



=== TEST 7: a seed down: the others give the map
--- http_config
    ws_zone chat 1m history=10 redis_cluster=127.0.0.1:$TEST_NGINX_DOWN_PORT,127.0.0.1:$TEST_NGINX_CLUSTER_PORT;
--- config
    location /pub {
        ws_publisher chat;
    }
--- init
main::dead_seed();
--- request
POST /pub?channel=a
hello
--- response_body_like: ^\{"id":\d+,"subscribers":0\}$
--- error_log eval
qr/\[warn\] .*redis "127\.0\.0\.1:\d+" unavailable: Connection refused/



=== TEST 8: push, Close and counts across instances on the cluster
--- http_config
    ws_zone chat 1m history=10 redis_cluster=127.0.0.1:$TEST_NGINX_CLUSTER_PORT;
--- config
    location /push {
        websocket;
        ws_push chat;
        add_header X-Id $ws_connection_id always;
    }
    location /room {
        websocket;
        ws_subscribe chat room;
        ws_presence $arg_user;
    }
    location /pub {
        ws_publisher chat;
    }
    location /conns {
        ws_connections chat;
    }
--- init
main::global();
--- request
GET /conns
--- response_body_like: ^\{"connections":\[
--- no_error_log
[error]



=== TEST 9: a master lost writes: checked when its connections are made again
--- http_config
    ws_zone chat 1m history=10 redis_cluster=127.0.0.1:$TEST_NGINX_CLUSTER_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat a b c;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::lost_writes();
--- request
GET /status
--- response_body_like: "gaps":1,
--- no_error_log
[error]
