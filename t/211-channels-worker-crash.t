# A worker killed with SIGKILL: the ws_on_disconnect events of its
# connections are still sent, by another worker, each exactly once, with
# X-WS-Close-Code: 1006, X-WS-Closed-By: server, X-WS-Disconnect-Reason:
# worker-died and the identity headers kept at the handshake; push to
# their ids answers 404, the subscriber counts and the connections API no
# longer count them, the zone's memory comes back to its level, and the
# replacement worker serves.  An old worker of a reload killed while it
# still holds connections: their events cannot be sent (the locations they
# name belong to the configuration before), which the log says, and they
# still leave their channels.
#
# The application is nginx itself: the events are proxied to a location of
# the same server whose access log records them.
#
# nginx runs with a master and two workers.  The scenarios run in each
# block's --- init and their checks are the first tests of the block.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Channels;
use Test::NgxWs::Channels qw(gone title reload);
use Test::NgxWs::Proc qw(in_worker);

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 14, 2 => 3);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- helpers ------------------------------------------------------------

sub worker_of { $_[0]->header('X-Worker') // '?' }

# SIGKILL to a worker; returns its replacement.
sub kill_worker {
    my ($victim) = @_;
    my $master = master_pid();
    my %before = map { $_ => 1 } workers_of($master);

    kill 'KILL', $victim or die "kill KILL $victim: $!";

    my $deadline = Time::HiRes::time() + 5;

    while (Time::HiRes::time() < $deadline) {
        my @new = grep { !$before{$_} } workers_of($master);
        return $new[0] if @new && gone($victim);
        Time::HiRes::sleep(0.01);
    }

    die "no new worker after killing $victim";
}

sub wait_until {
    my ($secs, $cond) = @_;
    my $t0 = Time::HiRes::time();

    until ($cond->()) {
        return undef if Time::HiRes::time() - $t0 > $secs;
        Time::HiRes::sleep(0.02);
    }

    return Time::HiRes::time() - $t0;
}

# A connection as $user and its id (the ws_on_connect reply).
sub conn {
    my ($user) = @_;
    my $c = Test::NgxWs::Client->new(path => '/sub', timeout => 3,
                                     headers => { 'X-Test-User' => $user });
    my $f = $c->read_frame(3);
    return ($c, $f ? $f->{payload} : '');
}

# The disconnect events recorded so far: id => [lines].
sub events {
    my %ev;
    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/events.log";
    open my $fh, '<', $log or return {};

    while (my $line = <$fh>) {
        chomp $line;
        my ($id) = split / /, $line;
        push @{ $ev{$id} }, $line;
    }

    return \%ev;
}

sub subscribers_of {
    my ($channel) = @_;
    my $r = http('GET', "/pub?channel=$channel");
    return $r->{body} =~ /"subscribers":(\d+)/ ? $1 : "status $r->{status}";
}

sub zone_used {
    my $r = http('GET', '/status');
    return $r->{body} =~ /"zones":\[\{[^}]*"used":(\d+)/ ? $1 : '?';
}


# --- scenarios ----------------------------------------------------------

sub crash {
    # the channel and the per-slot counts exist before the baseline
    my ($w, $wid) = conn('warm');
    close_all_ok('crash: a first connection comes and goes', $w);
    wait_until(2, sub { subscribers_of('room') eq '0' && events()->{$wid} });
    my $base = zone_used();

    # its event is not counted: the log starts empty
    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/events.log";
    open my $trunc, '>', $log or die "$log: $!";
    close $trunc;

    # 200 connections, 60 or more in each worker
    my @r = spread_by(sub { conn($_[0] % 2 ? 'bob' : 'alice') }, 200, 60);
    my @c = map { $_->[0] } @r;
    my @id = map { $_->[1] } @r;

    both_workers_ok('crash', @c);

    my $victim = worker_of($c[0]);
    my @dead = grep { worker_of($c[$_]) eq $victim } 0 .. $#c;
    my @live = grep { worker_of($c[$_]) ne $victim } 0 .. $#c;
    my %user = map { ($id[$_] => ($_ % 2 ? 'bob' : 'alice')) } 0 .. $#c;

    my $new = kill_worker($victim);

    my $dt = wait_until(10, sub { keys %{ events() } >= @dead });
    Time::HiRes::sleep(0.5);               # anything sent twice comes too

    my $ev = events();
    my @got = sort keys %$ev;

    Test::More::is(join(' ', scalar @got, (defined $dt ? 'in time' : 'late'),
                        join(',', @got)),
                   join(' ', scalar @dead, 'in time',
                        join(',', sort @id[@dead])),
                   "a disconnect event for each of the killed worker's "
                   . scalar(@dead) . ' connections'
                   . (defined $dt ? sprintf(' (after %.2f s)', $dt) : ''));

    my $bad;

    for my $i (@dead) {
        my $lines = $ev->{ $id[$i] } // [];
        my $want = "$id[$i] disconnect 1006 server worker-died"
                   . " $user{ $id[$i] } /sub";
        $bad //= "$id[$i]: " . scalar(@$lines) . " events: @$lines"
            if @$lines != 1 || $lines->[0] ne $want;
    }

    Test::More::is($bad // 'each once, as expected',
                   'each once, as expected',
                   'each event once, with code 1006, closed by the server,'
                   . ' the reason, the identity header and the URI');

    my @st = map { http('POST', "/pub?id=$id[$_]", body => 'x',
                        type => 'text/plain')->{status} } @dead, $live[0];

    Test::More::is("@st", join(' ', (404) x @dead, 200),
                   "a push to the killed worker's connections gets 404,"
                   . ' to a live one 200');

    $c[$live[0]]->read_frame(2);

    Test::More::is(subscribers_of('room'), scalar @live,
                   'the subscribers of the channel are those left');

    my $list = http('GET', '/conns?limit=1000')->{body};
    my %listed = map { $_ => 1 } $list =~ /\{"id":"([0-9a-f]+)"/g;

    Test::More::is(join(' ', scalar(keys %listed),
                        scalar(grep { $listed{$id[$_]} } @dead)),
                   scalar(@live) . ' 0',
                   'the connections API lists the live connections only');

    # the replacement serves: a connection in it gets a message by its id
    my ($n, $nid) = eval { in_worker($new, sub { conn('carol') }) };
    my $err = $@;

    my $msg = $n ? "in worker " . worker_of($n) : "no connection: $err";

    if ($n && worker_of($n) eq $new) {
        my $r = http('POST', "/conns?id=$nid", body => 'hi',
                     type => 'text/plain');
        my $f = $n->read_frame(2);
        $msg = join ' ', $r->{status}, $f ? $f->{payload} : '-';
    }

    Test::More::is($msg, '200 hi', "the replacement worker ($new) serves");

    # one closed through the connections API: its usual event says so
    my $k = shift @live;
    my $r = http('DELETE', "/conns?id=$id[$k]&code=4001&reason=bye");
    my ($code, $reason) = $c[$k]->wait_close(3);
    $c[$k]->send_close(4001);
    $c[$k]->close;

    Test::More::is(join(' ', $r->{status}, $code // '-', $reason // '-'),
                   '202 4001 bye', 'a DELETE closes a live connection');

    close_all_ok('crash: the others leave', @c[@live],
                 $n ? ($n) : ());

    wait_until(3, sub { keys %{ events() } >= @c + 1 });
    Time::HiRes::sleep(0.3);
    $ev = events();

    $bad = undef;

    for my $i ($k, @live) {
        my $lines = $ev->{ $id[$i] } // [];
        my $how = $i == $k ? '4001 server' : '1000 client';
        $bad //= "$id[$i]: " . scalar(@$lines) . " events: @$lines"
            if @$lines != 1
               || $lines->[0] ne "$id[$i] disconnect $how - "
                                 . "$user{ $id[$i] } /sub";
    }

    Test::More::is($bad // 'each once, as expected', 'each once, as expected',
                   'the live connections get their usual events, once');

    Test::More::is(join(' ', scalar(keys %$ev),
                        scalar(grep { @{ $ev->{$_} } != 1 } keys %$ev)),
                   join(' ', @c + 1, 0),
                   'no other event, none twice');

    Test::More::ok(wait_until(3, sub { subscribers_of('room') eq '0' }),
                   'no subscriber is left');

    Test::More::is(zone_used(), $base,
                   'the zone uses as much memory as before the connections');
}

# An old worker that waits out ws_shutdown_delay after a reload, with one
# connection, is killed: the new workers find its death, the event of the
# connection cannot be sent and the log says why, the channel is left.
sub stale {
    my ($c, $id) = conn('dave');
    my $victim = worker_of($c);

    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/events.log";
    open my $trunc, '>', $log or die "$log: $!";
    close $trunc;

    reload();

    Test::More::ok(!gone($victim) && title($victim) =~ /shutting down/,
                   "stale: the old worker $victim still holds its connection");

    kill 'KILL', $victim or die "kill KILL $victim: $!";

    my $err = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log";
    my $warned = wait_until(5, sub {
        open my $fh, '<', $err or return 0;
        local $/;
        my $all = <$fh>;
        return index($all, "the disconnect event of $id (worker $victim "
                           . 'died) cannot be sent: the configuration it '
                           . 'was made with has been reloaded since') >= 0;
    });

    Time::HiRes::sleep(0.3);

    Test::More::is(join(' ', defined $warned ? 'warned' : 'not warned',
                        scalar keys %{ events() }),
                   'warned 0',
                   "stale: no event for $id, and the reason at warn");

    Test::More::ok(wait_until(3, sub { subscribers_of('room') eq '0' }),
                   'stale: its subscription is taken back');

    $c->close;
}

__DATA__

=== TEST 1: a killed worker's connections get their disconnect events, once
--- http_config
    ws_zone chat 1m;
    log_format ws_events '$http_x_ws_connection_id $http_x_ws_event '
                         '$http_x_ws_close_code $http_x_ws_closed_by '
                         '$http_x_ws_disconnect_reason $http_x_user '
                         '$http_x_ws_uri';
--- config
    location /sub {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_subscribe chat room;
        ws_push chat;
        ws_on_connect /_app/connect;
        ws_on_disconnect /_app/disconnect;
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
    location /_app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_be/;
    }
    location = /_be/connect {
        return 200 $http_x_ws_connection_id;
    }
    location = /_be/disconnect {
        access_log logs/events.log ws_events;
        return 204;
    }
    location /pub {
        ws_publisher chat;
    }
    location /conns {
        ws_connections chat;
    }
    location /status {
        ws_status;
    }
--- init
main::crash();
--- request
GET /conns
--- response_body_like: "count":0,
--- error_log
is gone, its slot and subscribers are taken back
sending the disconnect event of
--- no_error_log eval
['[error]', qr/\[alert\](?!.* exited on signal 9)/, '[crit]']



=== TEST 2: an old worker of a reload killed: its events cannot be sent, and the log says so
--- http_config
    ws_zone chat 1m;
    log_format ws_events '$http_x_ws_connection_id $http_x_ws_event '
                         '$http_x_ws_close_code $http_x_ws_closed_by '
                         '$http_x_ws_disconnect_reason $http_x_user '
                         '$http_x_ws_uri';
--- config
    location /sub {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_subscribe chat room;
        ws_push chat;
        ws_on_connect /_app/connect;
        ws_on_disconnect /_app/disconnect;
        ws_shutdown_delay 30s;
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
    location /_app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_be/;
    }
    location = /_be/connect {
        return 200 $http_x_ws_connection_id;
    }
    location = /_be/disconnect {
        access_log logs/events.log ws_events;
        return 204;
    }
    location /pub {
        ws_publisher chat;
    }
    location /conns {
        ws_connections chat;
    }
    location /status {
        ws_status;
    }
--- init
main::stale();
--- request
GET /conns
--- response_body_like: "count":0,
--- error_log
cannot be sent: the configuration it was made with has been reloaded since
--- no_error_log eval
['[error]', qr/\[alert\](?!.* exited on signal 9)/, '[crit]']
