# nginx's own limits on WebSocket locations.  limit_conn: an upgraded
# request keeps its connection slot until the socket closes, however it
# closes (close handshake, idle timeout, unanswered ping, protocol error,
# rate-limit close, the client vanishing or resetting the connection), and
# gives it back then.  limit_req: handshakes over
# the rate get 503, or wait when a burst allows.  The events of ws_pass and
# ws_on_connect belong to the WebSocket's request: server-level limit_conn
# and limit_req do not count them again.
#
# The clients run in each block's --- init (after nginx has started); their
# checks are the first tests of the block.  The app is t/backends/app.js
# (see Test::NgxWs::App).

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Client ();

use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

Test::NgxWs::App::start();

repeat_each(1);

plan tests => repeat_each() * Test::NgxWs::App::count_tests(blocks());

no_shuffle();
no_long_string();

# limits were warn lines (refusals info): the tests keep warn (t/130
# checks the default, error)
config_preamble('ws_security_log_level warn;');

run_tests();


sub status_of {
    my ($path) = @_;
    my $c = Test::NgxWs::Client->new(path => $path, check => 0,
                                     timeout => 2);
    return ($c->status // 0, $c);
}

# Tries a handshake until it is upgraded, for at most $timeout seconds;
# returns the time it took, or undef.
sub upgraded_within {
    my ($path, $timeout) = @_;
    my $t0 = Time::HiRes::time();

    while (Time::HiRes::time() - $t0 < $timeout) {
        my ($status, $c) = status_of($path);

        if ($status == 101) {
            $c->send_close(1000);
            $c->wait_eof(2);
            return Time::HiRes::time() - $t0;
        }

        $c->close;
        Time::HiRes::sleep(0.02);
    }

    return undef;
}

# limit_conn 1: while a WebSocket is open a second handshake gets 503; once
# the first has closed the way $how says, a handshake is upgraded again.
# Three checks.
sub slot {
    my ($how) = @_;

    my $a = Test::NgxWs::Client->new(path => '/ws', timeout => 3);

    my ($status, $b) = status_of('/ws');
    Test::More::is($status, 503,
                   "$how: a second handshake gets 503 while the first is"
                   . " open");
    $b->close;

    my $closed;

    if ($how eq 'close handshake') {
        $a->send_text('hi');
        $a->send_close(1000);
        $closed = ($a->wait_close(2) // 0) == 1000 && $a->wait_eof(2);

    } elsif ($how eq 'idle timeout') {
        # a silent client: Close 1000, no answer, closed after
        # ws_close_timeout
        $closed = ($a->wait_close(3) // 0) == 1000 && $a->wait_eof(3);

    } elsif ($how eq 'unanswered ping') {
        $closed = ($a->wait_close(3) // 0) == 1001 && $a->wait_eof(3);

    } elsif ($how eq 'protocol error') {
        $a->raw_write(WsFrame::ws_text('x', masked => 0));
        $closed = ($a->wait_close(2) // 0) == 1002 && $a->wait_eof(2);

    } elsif ($how eq 'rate limit') {
        $a->raw_write(WsFrame::ws_text('1') . WsFrame::ws_text('2'));
        $closed = ($a->wait_close(2) // 0) == 1008 && $a->wait_eof(2);

    } elsif ($how eq 'client vanishing') {
        # the echo is read first, so that closing sends FIN, not RST
        $a->send_text('hi');
        my $f = $a->read_frame(2);
        $closed = $f && $f->{payload} eq 'hi';

    } elsif ($how eq 'client reset') {
        # SO_LINGER 0: closing sends RST
        $a->send_text('hi');
        my $f = $a->read_frame(2);
        setsockopt($a->socket, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0))
            or die "SO_LINGER: $!";
        $closed = $f && $f->{payload} eq 'hi';
    }

    # the client closes its socket: at once after the server's Close, or
    # without any Close frame at all
    $a->close;

    Test::More::ok($closed, "$how: the first connection was closed");

    my $dt = upgraded_within('/ws', 2);

    Test::More::ok(defined $dt && $dt < 0.5,
                   sprintf("$how: the slot is free again (a handshake"
                           . " upgraded after %.3f s)", $dt // -1));
}

# limit_req rate=2r/s burst=1 on the handshakes: the first is upgraded at
# once, the second waits its turn (500 ms), the third is refused.
sub handshakes {
    my $t0 = Time::HiRes::time();
    my ($s1, $c1) = status_of('/ws');

    my $c2 = Test::NgxWs::Client->new(path => '/ws', handshake => 0,
                                      timeout => 3);
    my $c3 = Test::NgxWs::Client->new(path => '/ws', handshake => 0,
                                      timeout => 3);

    $c2->raw_write(WsFrame::ws_handshake('/ws'));
    $c3->raw_write(WsFrame::ws_handshake('/ws'));

    $c3->read_handshake(2);
    my $t3 = Time::HiRes::time() - $t0;
    $c2->read_handshake(2);
    my $t2 = Time::HiRes::time() - $t0;

    Test::More::is($s1, 101, 'the first handshake is upgraded');

    Test::More::ok(($c2->status // 0) == 101 && $t2 >= 0.4 && $t2 < 1.5,
                   sprintf('the second one within the burst is upgraded'
                           . ' after its delay (%s after %.3f s)',
                           $c2->status // 'nothing', $t2));

    Test::More::ok(($c3->status // 0) == 503 && $t3 < 0.4,
                   sprintf('the third one is refused with 503 at once'
                           . ' (%s after %.3f s)', $c3->status // 'nothing',
                           $t3));

    $c2->send_text('still here');
    my $f = $c2->read_frame(2);

    Test::More::ok($f && $f->{payload} eq 'still here',
                   'the delayed connection works');

    for my $c ($c1, $c2) {
        $c->send_close(1000);
        $c->wait_eof(2);
    }

    $c3->close;
}

# The events of a WebSocket under server-level limit_conn 1 and limit_req:
# replies come back, the handshake's slot is not asked for twice.
sub events {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 3);
    my @got;

    for my $i (1 .. 5) {
        $c->send_text("m$i");
        my $f = $c->read_frame(2);
        push @got, $f ? $f->{payload} : '(none)';
    }

    Test::More::is(CORE::join(',', @got), 'm1,m2,m3,m4,m5',
                   'every event was answered');

    $c->send_close(1000);
    Test::More::is($c->wait_close(2), 1000, 'the close handshake completes');
    $c->wait_eof(2);
    $c->close;
}

__DATA__

=== TEST 1: limit_conn: the slot is held while open, given back after the close handshake
--- http_config
    limit_conn_zone $binary_remote_addr zone=addr:1m;
--- config
    location /ws {
        websocket;
        ws_echo on;
        limit_conn addr 1;
        limit_conn_log_level info;
    }
--- init
main::slot('close handshake');
--- init_tests: 3
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('after') . WsFrame::srv_close(1000)
--- error_log
limiting connections by zone "addr"
--- no_error_log
[error]
[alert]



=== TEST 2: limit_conn: given back after a close by ws_idle_timeout
--- http_config
    limit_conn_zone $binary_remote_addr zone=addr:1m;
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 300ms;
        ws_close_timeout 200ms;
        limit_conn addr 1;
        limit_conn_log_level info;
    }
--- init
main::slot('idle timeout');
--- init_tests: 3
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('after') . WsFrame::srv_close(1000)
--- error_log
idle timeout, closing with 1000
client did not answer close in time
--- no_error_log
[error]
[alert]



=== TEST 3: limit_conn: given back after a close for an unanswered ping
--- http_config
    limit_conn_zone $binary_remote_addr zone=addr:1m;
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_ping_interval 200ms;
        ws_pong_timeout 200ms;
        limit_conn addr 1;
        limit_conn_log_level info;
    }
--- init
main::slot('unanswered ping');
--- init_tests: 3
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('after') . WsFrame::srv_close(1000)
--- error_log
client did not answer ping
--- no_error_log
[error]
[alert]



=== TEST 4: limit_conn: given back after a protocol error (1002)
--- http_config
    limit_conn_zone $binary_remote_addr zone=addr:1m;
--- config
    location /ws {
        websocket;
        ws_echo on;
        limit_conn addr 1;
        limit_conn_log_level info;
    }
--- init
main::slot('protocol error');
--- init_tests: 3
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('after') . WsFrame::srv_close(1000)
--- error_log
client sent unmasked frame, closing with 1002
--- no_error_log
[error]
[alert]



=== TEST 5: limit_conn: given back after a close by ws_limit_messages (1008)
--- http_config
    limit_conn_zone $binary_remote_addr zone=addr:1m;
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=1r/s;
        ws_limit_action close;
        limit_conn addr 1;
        limit_conn_log_level info;
    }
--- init
main::slot('rate limit');
--- init_tests: 3
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('after') . WsFrame::srv_close(1000)
--- error_log
exceeded ws_limit_messages, closing with 1008
--- no_error_log
[error]
[alert]



=== TEST 6: limit_conn: given back when the client vanishes without a Close
--- http_config
    limit_conn_zone $binary_remote_addr zone=addr:1m;
--- config
    location /ws {
        websocket;
        ws_echo on;
        limit_conn addr 1;
        limit_conn_log_level info;
    }
--- init
main::slot('client vanishing');
--- init_tests: 3
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('after') . WsFrame::srv_close(1000)
--- error_log
client closed connection without a close frame
--- no_error_log
[error]
[alert]



=== TEST 7: limit_req on handshakes: within the burst delayed, over it 503
--- http_config
    limit_req_zone $binary_remote_addr zone=hs:1m rate=2r/s;
--- config
    location /ws {
        websocket;
        ws_echo on;
        limit_req zone=hs burst=1;
        limit_req_log_level info;
    }

    location /other {
        websocket;
        ws_echo on;
    }
--- init
main::handshakes();
--- init_tests: 4
--- raw_request eval
WsFrame::ws_handshake('/other') . WsFrame::ws_text('after')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('after') . WsFrame::srv_close(1000)
--- error_log eval
qr/\[info\] .*limiting requests, excess: \d\.\d+ by zone "hs"/
--- no_error_log
[error]
[alert]



=== TEST 8: limit_req nodelay without burst: a second handshake at once gets 503
--- http_config
    limit_req_zone $binary_remote_addr zone=hs:1m rate=1r/m;
--- config
    location /ws {
        websocket;
        ws_echo on;
        limit_req zone=hs nodelay;
        limit_req_log_level info;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', connection => 'Upgrade, close')
--- init
my ($status, $c) = main::status_of('/ws');
Test::More::is($status, 101, 'the first handshake is upgraded');
$c->send_close(1000);
$c->wait_eof(2);
--- init_tests: 1
--- error_code: 503
--- error_log eval
qr/\[info\] .*limiting requests, excess: \d\.\d+ by zone "hs"/
--- no_error_log
[error]
[alert]



=== TEST 9: server-level limit_conn and limit_req do not count ws_pass events again
--- http_config
    limit_conn_zone $binary_remote_addr zone=addr:1m;
    limit_req_zone $binary_remote_addr zone=hs:1m rate=1r/m;
--- config
    limit_conn addr 1;
    limit_req zone=hs burst=5 nodelay;

    location /ws {
        websocket;
        ws_on_connect /app/connect;
        ws_pass /app/message;
        ws_on_disconnect /app/disconnect;
    }

    location = /app/message {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/app/message?echo=1;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- init
main::events();
Test::NgxWs::App::wait_records(7, 3);
Test::NgxWs::App::truncate_log();
--- init_tests: 2
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "after"
/app/disconnect disconnect #1 code=1000 by=client
--- no_error_log
limiting
[error]
[alert]



=== TEST 10: ws_limit_messages together with a full ws_pass_queue: every event, in order
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_queue 1;
        ws_on_disconnect /app/disconnect;
        ws_limit_messages rate=20r/s burst=2;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. CORE::join('', map { WsFrame::ws_text("?delay=30&n=$_") } 1 .. 10)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_log eval
CORE::join('', map { "/app/message message #1 seq=$_ text \"?delay=30&n=$_\"\n" } 1 .. 10)
. "/app/disconnect disconnect #1 code=1000 by=client\n"
--- error_log
ws pass queue full:1, reading paused
exceeded ws_limit_messages, delaying reading
--- no_error_log
[error]
[alert]



=== TEST 11: limit_conn: given back when the client resets the connection
--- http_config
    limit_conn_zone $binary_remote_addr zone=addr:1m;
--- config
    location /ws {
        websocket;
        ws_echo on;
        limit_conn addr 1;
        limit_conn_log_level info;
    }
--- init
main::slot('client reset');
--- init_tests: 3
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('after') . WsFrame::srv_close(1000)
--- error_log
recv() failed (104: Connection reset by peer)
--- no_error_log
[error]
[alert]
