# Presence: who is in a channel.  ws_presence gives each connection an
# identity (here the X-User header of the ws_auth_request response, as
# $ws_auth_x_user); the channel counts the subscriptions of each identity
# across connections and workers, and publishes one join when an identity
# arrives and one leave when its last connection goes, with the reason
# (leave, timeout, closed, crash), into the channel or a companion channel.
# GET ?channel=NAME&members on ws_publisher lists the members.
#
# nginx runs with a master and two workers, and the connections of an
# identity are spread over both.  The scenarios run in each block's
# --- init; their checks are the first tests of the block.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Channels;
use Test::NgxWs::Proc qw(in_worker master_pid workers_of);

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 11, 2 => 4, 3 => 4, 4 => 5, 5 => 2);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

# ids are compared relative to their channel's (Test::NgxWs::Channels)
add_block_preprocessor(\&rel_bodies);

run_tests();


# --- helpers ------------------------------------------------------------

sub worker_of { $_[0]->header('X-Worker') // '?' }

# A connection to $path as $user (no user: anonymous).
sub conn {
    my ($path, $user) = @_;
    return Test::NgxWs::Client->new(path => $path, timeout => 3,
               headers => { defined $user ? ('X-Test-User' => $user) : () });
}

# A connection of $user in each of the two workers (once both have
# started: nginx.pid is written before the master forks them).
sub spread_user {
    my ($path, $user) = @_;
    my $deadline = Time::HiRes::time() + 5;
    my @w;

    while ((@w = workers_of(master_pid())) < 2
           && Time::HiRes::time() < $deadline)
    {
        Time::HiRes::sleep(0.01);
    }

    return map {
        my $w = $_;
        in_worker($w, sub { conn($path, $user) });
    } @w;
}

# The text frames an observer gets until nothing comes for $quiet seconds.
sub events {
    my ($c, $quiet) = @_;
    my @ev;

    while (my $f = $c->read_frame($quiet // 0.5)) {
        push @ev, $f->{payload} if $f->{opcode} == 1;
    }

    return join ' ', @ev;
}

sub join_ev { qq({"event":"join","channel":"$_[0]","member":"$_[1]"}) }

sub leave_ev {
    qq({"event":"leave","channel":"$_[0]","member":"$_[1]",)
    . qq("reason":"$_[2]"})
}

# "subscribers id:n id:n" of a channel, members sorted.
sub members {
    my ($channel) = @_;
    my $r = http('GET', "/pub?channel=$channel&members");
    my $b = $r->{body};

    return "status $r->{status}" if $r->{status} != 200;

    my ($n) = $b =~ /"subscribers":(\d+)/;
    my @m = sort map { "$_->[0]:$_->[1]" }
            map { [ /"id":"([^"]*)","connections":(\d+)/ ] }
            $b =~ /(\{"id":"[^"]*","connections":\d+\})/g;

    return join ' ', $n // '?', @m;
}

sub bye {
    my ($c) = @_;
    $c->send_close(1000);
    $c->wait_eof(2);
    $c->close;
}


# --- scenarios ----------------------------------------------------------

sub basics {
    my $obs = conn('/watch');

    my @alice = spread_user('/sub', 'alice');
    my $bob = conn('/sub', 'bob');
    my $anon = conn('/sub');

    Test::More::is(scalar(@alice) . ' ' . (worker_of($alice[0])
                                           ne worker_of($alice[1]) ? 1 : 0),
                   '2 1', "alice's two connections are on both workers");

    Test::More::is(events($obs), join(' ', join_ev('room', 'alice'),
                                      join_ev('room', 'bob')),
                   'one join for alice (two connections), one for bob,'
                   . ' none for the anonymous ones');

    Test::More::is(members('room'), '5 alice:2 bob:1',
                   'the members across workers, anonymous ones only counted');

    bye($alice[0]);

    Test::More::is(events($obs), '', 'alice closes one: no leave');
    Test::More::is(members('room'), '4 alice:1 bob:1', 'alice has one left');

    bye($alice[1]);

    Test::More::is(events($obs), leave_ev('room', 'alice', 'leave'),
                   'alice closes the other: one leave "leave"');

    # a message over ws_max_message_size: the server closes (1009)
    $bob->send_text('x' x 200);
    my $code = $bob->wait_close(3);
    bye($bob);

    Test::More::is(($code // '-') . ' ' . events($obs),
                   '1009 ' . leave_ev('room', 'bob', 'closed'),
                   'bob closed by the server: a leave "closed"');

    # ws_idle_timeout 500ms there
    my $carol = conn('/idle', 'carol');
    my $ev = events($obs, 0.3);
    $code = $carol->wait_close(3);
    $carol->send_close(1000);
    $ev .= ' ' . events($obs);

    Test::More::is(($code // '-') . " $ev",
                   '1000 ' . join_ev('room', 'carol') . ' '
                   . leave_ev('room', 'carol', 'timeout'),
                   'carol idle: a join, then a leave "timeout"');

    # the events are messages of the channel: a resume replays them
    my $late = conn('/watch?last_id=0');
    my $all = events($late);
    my $n = () = $all =~ /"event":/g;

    Test::More::is($n, 6, 'the events are in the channel history');

    bye($anon);
    bye($late);

    Test::More::is(members('room'), '1', 'only the observer is left');

    # the observer leaves: no event, it is anonymous
    bye($obs);
    my $again = conn('/watch?last_id=0');

    Test::More::is(scalar(() = events($again) =~ /"event":/g), 6,
                   'an anonymous connection has no events');
    bye($again);
}

sub companion {
    my $obs = conn('/watch');
    my $comp = conn('/watch-presence', 'dave');

    my @alice = spread_user('/sub', 'alice');

    Test::More::is(events($obs) . '|' . events($comp), '|'
                   . join_ev('room', 'alice'),
                   'the join is in the companion channel only; a member'
                   . ' of the companion is no member of it');

    bye($_) for @alice;

    Test::More::is(events($obs) . '|' . events($comp), '|'
                   . leave_ev('room', 'alice', 'leave'),
                   'so is the leave');

    Test::More::is(members('room.presence'), '1', 'the companion has no'
                   . ' members');

    Test::More::is(members('room'), '1', 'nor has the channel now');

    bye($obs);
    bye($comp);
}

sub bounds {
    my $obs = conn('/watch');
    my @c = map { conn('/sub', $_) } qw(alice bob carol 123456789);

    Test::More::is(members('room'), '5 alice:1 bob:1',
                   'max_members=2: carol is only counted; an identity over'
                   . ' max_member=8 bytes too');

    Test::More::is(events($obs), join(' ', join_ev('room', 'alice'),
                                      join_ev('room', 'bob')),
                   'only the members have events');

    bye($c[1]);
    my $d = conn('/sub', 'dave');

    Test::More::is(events($obs) . ' ' . members('room'),
                   join(' ', leave_ev('room', 'bob', 'leave'),
                        join_ev('room', 'dave'), '5 alice:1 dave:1'),
                   'a place that frees is taken by the next one');

    bye($c[2]);

    Test::More::is(events($obs) . '|' . members('room'),
                   '|4 alice:1 dave:1',
                   'carol leaves: she was never a member');

    bye($_) for $c[0], $c[3], $d, $obs;
}

sub crash {
    my @obs = spread_user('/watch', undef);
    my @alice = spread_user('/sub', 'alice');

    # bob on the worker to be killed, alone
    my $victim = worker_of($alice[0]);
    my $bob = eval { in_worker($victim, sub { conn('/sub', 'bob') }) };
    $bob = undef if $bob && worker_of($bob) ne $victim;
    my ($obs) = grep { worker_of($_) ne $victim } @obs;

    Test::More::ok($bob && $obs, 'bob and an observer on different workers');

    events($obs);

    Test::More::is(members('room'), '5 alice:2 bob:1',
                   'alice on both workers, bob on one');

    kill 'KILL', $victim or die "kill KILL $victim: $!";

    my $t0 = Time::HiRes::time();
    my $ev = '';

    while (Time::HiRes::time() - $t0 < 5 && $ev eq '') {
        $ev = events($obs, 0.2);
    }

    $ev .= ' ' . events($obs, 0.5);
    $ev =~ s/ +$//;

    Test::More::is($ev, leave_ev('room', 'bob', 'crash'),
                   'one leave "crash" for bob, none for alice');

    Test::More::is(members('room'), '2 alice:1',
                   'the members are corrected');

    my ($live) = grep { worker_of($_) ne $victim } @alice;
    bye($live);

    Test::More::is(events($obs) . ' ' . members('room'),
                   leave_ev('room', 'alice', 'leave') . ' 1',
                   "alice's last connection leaves");

    bye($obs);
}

sub zone_used {
    my $r = http('GET', '/status');
    return $r->{body} =~ /"zones":\[\{[^}]*"used":(\d+)/ ? $1 : '?';
}

sub memory {
    my $obs = conn('/watch');
    my @w = spread_user('/sub', 'warm');
    bye($_) for @w;

    my $base = zone_used();

    # "used" counts slab pages: 120 identities, more members than one
    # page holds, so that one never freed shows
    for my $round (1 .. 3) {
        my @c = map { spread_user('/sub', "user$_") } 1 .. 40;
        bye($_) for @c;
    }

    Test::More::is(members('room'), '1', 'every member has left');
    Test::More::is(zone_used(), $base,
                   'the zone uses as much memory as before the members');

    bye($obs);
}

__DATA__

=== TEST 1: joins and leaves, once per identity across connections and workers
--- http_config
    ws_zone chat 1m history=100 presence_events=channel;
--- config
    location /sub {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_presence $ws_auth_x_user;
        ws_subscribe chat room;
        ws_max_message_size 100;
        add_header X-Worker $pid always;
    }
    location /idle {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_presence $ws_auth_x_user;
        ws_subscribe chat room;
        ws_idle_timeout 500ms;
        add_header X-Worker $pid always;
    }
    location /watch {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_auth;
    }
    location = /_auth {
        add_header X-User $http_x_test_user;
        return 204;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::basics();
--- request
GET /pub?channel=room&members
--- response_body_like: ^\{"channel":"room","subscribers":0,"last_id":6,"history":6,"members":\[\]\}$
--- error_log
client sent too large message, closing with 1009
--- no_error_log
[alert]
[crit]



=== TEST 2: companion channel
--- http_config
    ws_zone chat 1m presence_events=companion:.presence;
--- config
    location /sub {
        websocket;
        ws_presence $http_x_test_user;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /watch {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /watch-presence {
        websocket;
        ws_presence $http_x_test_user;
        ws_subscribe chat room.presence;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::companion();
--- request
GET /pub?channel=room.presence
--- response_body_like: "last_id":2,
--- no_error_log
[error]
[alert]



=== TEST 3: max_members and max_member
--- http_config
    ws_zone chat 1m max_members=2 max_member=8 presence_events=channel;
--- config
    location /sub {
        websocket;
        ws_presence $http_x_test_user;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /watch {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::bounds();
--- request
GET /pub?channel=room&members
--- response_body_like: "members":\[\]
--- error_log
channel "room" has max_members=2 members, "carol" is not counted as one
ws_presence identity of 9 bytes is over max_member=8 of ws_zone "chat"
--- no_error_log
[error]



=== TEST 4: a killed worker's members leave with "crash", once
--- http_config
    ws_zone chat 1m presence_events=channel;
--- config
    location /sub {
        websocket;
        ws_presence $http_x_test_user;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /watch {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::crash();
--- request
GET /pub?channel=room&members
--- response_body_like: "subscribers":0,.*"members":\[\]
--- no_error_log eval
['[error]', qr/\[alert\](?!.* exited on signal 9)/]



=== TEST 5: members come and go, the zone's memory stays flat
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_presence $http_x_test_user;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /watch {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::memory();
--- request
GET /pub?channel=room&members
--- response_body_like: "last_id":0,.*"members":\[\]
--- no_error_log
[error]
[alert]
