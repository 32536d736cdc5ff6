# Channels: ws_snapshot.  When a WebSocket joins a channel, a subrequest
# asks the application for the channel's state; the client gets it first
# ({"event":"snapshot",...} with ws_envelope on), then every message after
# the id it reflects (X-WS-Snapshot-Id, or the channel's last id when it was
# asked for), from the history and live, in order, once each, even those
# published while the snapshot was on its way.  A failed snapshot closes
# with 1011 (ws_snapshot_error close) or is gone without
# (ws_snapshot_error continue).
#
# The application is t/backends/app.js (delay= makes a slow snapshot).
# nginx runs with a master and two workers; clients are opened until both
# workers hold some.  The scenarios run in each block's --- init.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Channels;

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

Test::NgxWs::App::start();

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

my %INIT_TESTS = (1 => 3, 2 => 2, 3 => 2, 4 => 2);

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
