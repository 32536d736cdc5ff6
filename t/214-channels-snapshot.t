# Channels: ws_snapshot.  When a WebSocket joins a channel, a subrequest
# asks the application for the channel's state; the client gets it first
# ({"event":"snapshot",...} with ws_envelope on), then every message after
# the id it reflects (X-WS-Snapshot-Id, or the channel's last id when it was
# asked for), from the history and live, in order, once each, even those
# published while the snapshot was on its way.  A failed snapshot closes
# with 1011 (ws_snapshot_error close) or is gone without
# (ws_snapshot_error continue).
#
# Also: memory stays flat over many subscriptions with snapshots, and the
# snapshot counters of ws_status (JSON and Prometheus) count them; a
# binary snapshot is a binary frame; messages held beyond ws_send_buffer
# come from the history instead; a client that leaves while its snapshot
# is on its way leaves nothing behind; a subscription from the
# application (X-WS-Subscribe) gets its snapshot too; ws_snapshot_timeout
# ends a snapshot that does not come, and without it proxy_read_timeout
# does.
#
# The application is t/backends/app.js (delay= makes a slow snapshot,
# hold=1 one that waits for Test::NgxWs::App::release()).  nginx runs with
# a master and two workers; clients are opened until both workers hold
# some.  The scenarios run in each block's --- init.  A snapshot request
# on its way holds a TCP connection to the app (the snapshot locations have
# no keepalive): counting those shows whether one is left behind.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Channels;
use Test::NgxWs::Proc qw(rss_kb);

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

Test::NgxWs::App::start();

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

my %INIT_TESTS = (1 => 3, 2 => 2, 3 => 2, 4 => 2, 5 => 5, 6 => 3, 7 => 2,
                  8 => 7, 9 => 2, 10 => 5, 11 => 2);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

add_block_preprocessor(\&rel_bodies);

run_tests();


# --- scenarios ----------------------------------------------------------

sub publish_all {
    my ($channel, @msgs) = @_;

    for my $m (@msgs) {
        my $a = answer(publish($channel, $m));
        die "publish $m: $a" if $a !~ /^200 application\/json \{"id":\d+,/;
    }
}

sub env {
    my ($n, $data) = @_;
    return [1, qq({"channel":"room","id":$n,"data":"$data"})];
}

sub snap {
    my ($n) = @_;
    return [1, qq({"event":"snapshot","channel":"room","id":$n,)
               . qq("data":"STATE"})];
}

# TEST 1: messages before, during and after a slow snapshot, both workers.
sub ordering {
    publish_all('room', qw(a1 a2));

    my @c = spread('/sub', 4, 1);
    both_workers_ok('ordering', @c);

    # while the snapshots are on their way (the app answers in 0.6 s)
    publish_all('room', qw(b1 b2));
    Time::HiRes::sleep(1.0);
    publish_all('room', qw(c1));

    all_got_ok('the snapshot as of a2, then b1 b2 (held), then c1', \@c,
               snap(2), env(3, 'b1'), env(4, 'b2'), env(5, 'c1'));

    close_all_ok('ordering', @c);
    wait_unsubscribed('room');
}

# TEST 2: a resuming client and a snapshot id (the app answers with the
# client's last id as X-WS-Snapshot-Id): the history after it, what came
# meanwhile, live.
sub resume {
    publish_all('room', qw(a1 a2 a3));

    my @c = spread('/sub?last_id=' . id_of('room', 1), 4, 1);

    publish_all('room', qw(b1));
    Time::HiRes::sleep(1.0);
    publish_all('room', qw(c1));

    all_got_ok('snapshot as of 1, then a2 a3 (history), b1 (held), c1', \@c,
               snap(1), env(2, 'a2'), env(3, 'a3'), env(4, 'b1'),
               env(5, 'c1'));

    close_all_ok('resume', @c);
    wait_unsubscribed('room');
}

# TEST 3: the snapshot fails, ws_snapshot_error close: Close 1011.
sub fail_close {
    publish_all('room', qw(a1));

    my $c = client('/sub');
    my ($code) = $c->wait_close(3);
    my @extra = $c->skipped;

    Test::More::is(($code // 'none') . ' ' . scalar(@extra), '1011 0',
                   'Close 1011 and nothing before it');
    $c->send_close(1011);
    Test::More::ok($c->wait_eof(2), 'the connection is closed');
    $c->close;
    wait_unsubscribed('room');
}

# TEST 4: the snapshot fails, ws_snapshot_error continue: live messages.
sub fail_continue {
    publish_all('room', qw(a1));

    my @c = spread('/sub', 4, 1);
    Time::HiRes::sleep(0.5);
    publish_all('room', qw(b1));

    all_got_ok('no snapshot: b1 only', \@c, env(2, 'b1'));
    close_all_ok('continue', @c);
    wait_unsubscribed('room');
}

# The requests on their way to the app: TCP connections to it.
sub app_conns {
    my $port = $ENV{TEST_NGINX_APP_PORT};
    my @l = grep { /\S/ }
            `ss -Htn state established '( dport = :$port )' 2>/dev/null`;
    return scalar @l;
}

# Waits (at most 3 s) until the workers hold $base connections to the app
# again; returns how many they hold.
sub app_conns_back_to {
    my ($base) = @_;
    my $deadline = Time::HiRes::time() + 3;
    my $n;

    while (($n = app_conns()) != $base
           && Time::HiRes::time() < $deadline)
    {
        Time::HiRes::sleep(0.05);
    }

    return $n;
}

# "sent failed" of ws_status, from the JSON (all workers) and from the
# Prometheus output (summed over the workers).
sub snap_json {
    my $b = http('GET', '/status?format=json')->{body};
    return $b =~ /"snapshots":\{"sent":(\d+),"failed":(\d+)\}/
           ? "$1 $2" : "? in $b";
}

sub snap_prom {
    my $b = http('GET', '/status?format=prometheus')->{body};
    my %n = (sent => 0, failed => 0);
    my $seen = 0;

    while ($b =~ /^ngx_ws_snapshots_(sent|failed)_total\{[^}]*\} (\d+)$/mg) {
        $n{$1} += $2;
        $seen++;
    }

    return $seen ? "$n{sent} $n{failed}" : "? in $b";
}

sub minus {
    my ($a, $b) = @_;
    my @a = split / /, $a;
    my @b = split / /, $b;
    return join ' ', map { ($a[$_] // 0) - ($b[$_] // 0) } 0 .. 1;
}

# One subscription: the snapshot must be the first frame; then Close.
sub cycle {
    my ($path) = @_;
    my $c = client($path);
    my $f = $c->read_frame(3);
    my $ok = $f && $f->{opcode} == 1
             && $f->{payload} =~ /^\{"event":"snapshot",.*"data":"x{3000}"\}$/;
    $c->send_close(1000);
    $c->wait_close(2);
    $c->close;
    return $ok ? 1 : 0;
}

# TEST 5: subscriptions come and go with a snapshot each (3000 bytes):
# the workers' memory stays flat, and the counters count each one.
sub memory {
    publish_all('room', qw(a1));

    my ($json0, $prom0) = (snap_json(), snap_prom());
    my $ok = 0;

    $ok += cycle('/sub') for 1 .. 100;
    my $rss1 = rss_kb(workers_of(master_pid()));

    $ok += cycle('/sub') for 1 .. 800;
    my $rss2 = rss_kb(workers_of(master_pid()));

    Test::More::is($ok, 900, 'every subscriber got its snapshot first');
    Test::More::cmp_ok($rss1, '>', 0, 'the workers are there');
    Test::More::cmp_ok($rss2 - $rss1, '<=', 1024,
                       "workers' RSS within 1 MiB after 800 more snapshots"
                       . " ($rss1 KiB, then $rss2 KiB)");

    wait_unsubscribed('room');

    Test::More::is(minus(snap_json(), $json0), '900 0',
                   'ws_status JSON: 900 snapshots sent, none failed');
    Test::More::is(minus(snap_prom(), $prom0), '900 0',
                   'ws_status Prometheus: the same');
}

# TEST 6: binary snapshots (by Content-Type, by X-WS-Message-Type) are
# binary frames, as they are, without the envelope.
sub binary {
    publish_all('room', qw(a1));

    my @c = spread('/sub', 4, 1);
    my @t = spread('/typed', 4, 1);

    all_got_ok('application/octet-stream: a binary frame', \@c,
               [2, "\x00\x01\xfebin"]);
    all_got_ok('X-WS-Message-Type: binary: a binary frame', \@t,
               [2, 'txt']);

    publish_all('room', qw(b1));
    all_got_ok('then the live messages', [@c, @t], env(2, 'b1'));

    $_->close for @c, @t;
    wait_unsubscribed('room');
}

# TEST 7: while the snapshot is slow, more is published than
# ws_send_buffer holds: what was let go is replayed from the history, a
# replay larger than ws_send_buffer, so a slow subscriber: each client
# gets the start of the right sequence (maybe nothing of it), then Close
# 1008; resuming from the last id it got (or afresh, if it got nothing)
# gives it the rest: nothing lost, nothing twice.
sub overflow {
    publish_all('room', qw(a1));

    my @c = spread('/sub', 4, 1);
    my @big = map { sprintf('m%02d', $_) . ('x' x 600) } 2 .. 41;

    publish_all('room', @big);
    Time::HiRes::sleep(1.0);
    publish_all('room', qw(c1));

    my @want = (snap(1), (map { env($_, $big[$_ - 2]) } 2 .. 41),
                env(42, 'c1'));
    my $deadline = Time::HiRes::time() + 5;
    my ($bad, $rest);

    for my $i (0 .. $#c) {
        my @f = map { Test::NgxWs::Channels::rel_frame($_) }
                read_frames($c[$i], 50, $deadline);
        my $close = (@f && $f[-1]{opcode} == 8) ? pop @f : undef;
        my $n = @f;
        my $want = desc(map { { opcode => $_->[0], payload => $_->[1] } }
                        @want[0 .. $n - 1]);

        $c[$i]->close;

        if (!$close || ($close->{code} // 0) != 1008 || $n > @want
            || desc(@f) ne $want)
        {
            $bad //= "connection $i: " . first_diff(desc(@f), $want)
                     . ', then ' . ($close ? desc($close) : 'no Close');
            next;
        }

        # the rest: after the last id it got, or a new snapshot
        my $r = client($n ? '/resume?last_id=' . id_of('room', $n) : '/sub');
        my @r = $n ? @want[$n .. $#want] : (snap(42));
        my $got = desc(map { Test::NgxWs::Channels::rel_frame($_) }
                       read_frames($r, scalar @r, $deadline));
        my $exp = desc(map { { opcode => $_->[0], payload => $_->[1] } } @r);

        $rest //= "connection $i after $n: " . first_diff($got, $exp)
            if $got ne $exp;
        $r->close;
    }

    Test::More::is($bad // 'ok', 'ok',
                   'the start of the sequence, then Close 1008');
    Test::More::is($rest // 'ok', 'ok', 'resuming gives the rest');

    wait_unsubscribed('room');
}

# TEST 8: clients leave while their snapshots are on their way (the app
# holds them): no error, the answers that come later go nowhere, the fake
# connections are all closed, and the next clients are served.
sub leave {
    publish_all('room', qw(a1));

    my $base = app_conns();
    my @c = spread('/sub', 10, 3);
    my $n = @c;
    Time::HiRes::sleep(0.3);

    Test::More::is(app_conns() - $base, $n,
                   "a request on its way for each of the $n clients");

    my @polite = grep { $_ % 2 } 0 .. $#c;
    my @rude = grep { !($_ % 2) } 0 .. $#c;

    close_all_ok('those that close with a Close frame', @c[@polite]);
    $_->close for @c[@rude];

    wait_unsubscribed('room');

    Test::More::is(Test::NgxWs::App::release(), "released $n\n",
                   'the snapshots were all still on their way');
    Test::More::is(app_conns_back_to($base), $base,
                   'and their requests are gone once answered');

    Test::NgxWs::App::open_gate();

    my @d = spread('/sub', 4, 1);
    all_got_ok('the next clients get their snapshots', \@d, snap(1));
    publish_all('room', qw(b1));
    all_got_ok('and the live messages', \@d, env(2, 'b1'));

    close_all_ok('leave', @d);
    Test::NgxWs::App::get('/_reset');
    wait_unsubscribed('room');
}

# TEST 9: the application subscribes the connection (X-WS-Subscribe in
# the reply to a message): the snapshot comes, then the messages after it.
sub joined {
    publish_all('room', qw(a1));

    my @c = spread('/sub', 4, 1);

    $_->send_text('?body=ok&ct=text/plain&hdr=X-WS-Subscribe:room') for @c;
    Time::HiRes::sleep(0.2);
    publish_all('room', qw(b1));
    Time::HiRes::sleep(1.0);
    publish_all('room', qw(c1));

    all_got_ok('the reply, the snapshot as of a1, b1 (held), c1', \@c,
               [1, 'ok'], snap(1), env(2, 'b1'), env(3, 'c1'));

    close_all_ok('joined', @c);
    wait_unsubscribed('room');
}

# TEST 10: the snapshot never comes: after ws_snapshot_timeout the
# subscriber goes on without (ws_snapshot_error continue), long before
# proxy_read_timeout, and the request is ended with its upstream.
sub never_comes {
    publish_all('room', qw(a1));

    my $base = app_conns();
    my $json0 = snap_json();
    my $t0 = Time::HiRes::time();

    my @c = spread('/sub', 4, 1);
    my $n = @c;
    Time::HiRes::sleep(1.0);
    publish_all('room', qw(b1));

    all_got_ok('no snapshot: b1 only', \@c, env(2, 'b1'));
    Test::More::cmp_ok(Time::HiRes::time() - $t0, '<', 3,
                       'well before proxy_read_timeout');
    Test::More::is(app_conns_back_to($base), $base,
                   'the snapshot requests are ended');
    Test::More::is(minus(snap_json(), $json0), "0 $n",
                   "ws_status: $n snapshots failed");

    close_all_ok('timeout', @c);
    Test::NgxWs::App::release();
    wait_unsubscribed('room');
}

# TEST 11: without ws_snapshot_timeout, proxy_read_timeout ends it.
sub read_timeout {
    publish_all('room', qw(a1));

    my $c = client('/sub');
    my ($code) = $c->wait_close(3);

    Test::More::is($code // 'none', '1011', 'Close 1011');
    $c->send_close(1011);
    Test::More::ok($c->wait_eof(2), 'the connection is closed');
    $c->close;
    Test::NgxWs::App::release();
    wait_unsubscribed('room');
}

__DATA__

=== TEST 1: ordering: before, during and after a slow snapshot, two workers
--- http_config
    ws_zone chat 1m history=16;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
        ws_snapshot /snap;
        add_header X-Worker $pid always;
    }
    location = /snap {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/snap?delay=600&body=STATE&ct=text/plain;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::ordering();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":5,"history":5}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: resume with a last id, the snapshot id from the application
--- http_config
    ws_zone chat 1m history=16;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
        ws_snapshot /snap;
        add_header X-Worker $pid always;
    }
    location = /snap {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/snap?delay=600&body=STATE&ct=text/plain&hdr=X-WS-Snapshot-Id:$http_x_ws_last_id;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::resume();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":5,"history":5}
--- no_error_log
[alert]
[crit]



=== TEST 3: the snapshot fails: Close 1011
--- http_config
    ws_zone chat 1m history=16;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
        ws_snapshot /snap;
    }
    location = /snap {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/snap?status=500;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::fail_close();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":1,"history":1}
--- error_log
upstream answered 500 to the snapshot of channel "room"
no snapshot of channel "room", closing with 1011
--- no_error_log
[alert]
[crit]



=== TEST 4: the snapshot fails, ws_snapshot_error continue: live messages
--- http_config
    ws_zone chat 1m history=16;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
        ws_snapshot /snap;
        ws_snapshot_error continue;
        add_header X-Worker $pid always;
    }
    location = /snap {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/snap?status=500;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::fail_continue();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":2,"history":2}
--- error_log
no snapshot of channel "room", going on without
--- no_error_log
[alert]
[crit]



=== TEST 5: many subscriptions with snapshots: memory stays flat, the counters count them
--- http_config
    ws_zone chat 1m history=16;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
        ws_snapshot /snap;
        add_header X-Worker $pid always;
    }
    location = /snap {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/snap?size=3000&ct=text/plain;
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
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":1,"history":1}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 6: a binary snapshot is a binary frame
--- http_config
    ws_zone chat 1m history=16;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
        ws_snapshot /snap;
        add_header X-Worker $pid always;
    }
    location /typed {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
        ws_snapshot /snap-typed;
        add_header X-Worker $pid always;
    }
    location = /snap {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/snap?body=%00%01%FEbin&ct=application/octet-stream;
    }
    location = /snap-typed {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/snap?body=txt&ct=text/plain&mt=binary;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::binary();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":2,"history":2}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 7: more held than ws_send_buffer while the snapshot is slow: replayed from the history
--- http_config
    ws_zone chat 1m history=100;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
        ws_snapshot /snap;
        ws_send_buffer 16k;
        add_header X-Worker $pid always;
    }
    location /resume {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
        ws_last_id $arg_last_id;
    }
    location = /snap {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/snap?delay=700&body=STATE&ct=text/plain;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::overflow();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":42,"history":42}
--- error_log
subscriber is too slow, closing with 1008
--- no_error_log
[alert]
[crit]



=== TEST 8: clients leave while their snapshots are on their way
--- http_config
    ws_zone chat 1m history=16;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
        ws_snapshot /snap;
        add_header X-Worker $pid always;
    }
    location = /snap {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/snap?hold=1&body=STATE&ct=text/plain;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::leave();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":2,"history":2}
--- no_error_log
[warn]
[error]
[alert]
[crit]



=== TEST 9: subscribed by the application (X-WS-Subscribe): the snapshot too
--- http_config
    ws_zone chat 1m history=16;
--- config
    location /sub {
        websocket;
        ws_subscribe chat $arg_none;
        ws_envelope on;
        ws_snapshot /snap;
        ws_pass /app/message;
        add_header X-Worker $pid always;
    }
    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
    location = /snap {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/snap?delay=600&body=STATE&ct=text/plain;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::joined();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":3,"history":3}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 10: ws_snapshot_timeout: a snapshot that never comes
--- http_config
    ws_zone chat 1m history=16;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
        ws_snapshot /snap;
        ws_snapshot_timeout 500ms;
        ws_snapshot_error continue;
        add_header X-Worker $pid always;
    }
    location = /snap {
        internal;
        proxy_read_timeout 30s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/snap?hold=1;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::never_comes();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":2,"history":2}
--- error_log
ws snapshot of channel "room" timed out after 500 ms
no snapshot of channel "room", going on without
--- no_error_log
upstream answered
[alert]
[crit]



=== TEST 11: ws_snapshot_timeout 0: proxy_read_timeout ends the snapshot
--- http_config
    ws_zone chat 1m history=16;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_snapshot /snap;
        ws_snapshot_timeout 0;
    }
    location = /snap {
        internal;
        proxy_read_timeout 500ms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/snap?hold=1;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::read_timeout();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":1,"history":1}
--- error_log
upstream timed out
upstream answered 504 to the snapshot of channel "room"
--- no_error_log
timed out after
[alert]
[crit]
