# Ordering and flow control of upstream events: many messages in one packet
# reach the app in order with X-WS-Seq 1..N; several connections at once
# each keep their own order and id; one event of a connection at a time;
# ws_pass_queue bounds what waits, and when it is full the module stops
# reading the client (its writes block, the kernel keeps the bytes); events
# of a client that has vanished are still delivered, disconnect last.
# The app is t/backends/app.js (see Test::NgxWs::App); its requests with
# hold=1 wait until the test opens the gate.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Client ();

use Socket qw(SOL_SOCKET SO_SNDBUF);
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

Test::NgxWs::App::start();

repeat_each(1);

plan tests => repeat_each() * Test::NgxWs::App::count_tests(blocks());

no_shuffle();
no_long_string();

run_tests();


use constant CONNS => 5;
use constant PER_CONN => 40;

# TEST 2: CONNS connections send PER_CONN messages each, interleaved.
sub concurrent {
    my @c = map { Test::NgxWs::Client->new(path => '/ws', timeout => 5) }
            1 .. CONNS;

    for my $i (1 .. PER_CONN) {
        $c[$_]->send_text("c$_-$i") for 0 .. $#c;
    }

    my $ok = 0;

    for my $k (0 .. $#c) {
        my @want = map { "c$k-$_" } 1 .. PER_CONN;
        my @f = $c[$k]->read(all => [map { { opcode => 1, payload => $_ } }
                                     @want],
                             timeout => 10);
        $ok++ if join(',', map { $_->{payload} } @f) eq join(',', @want);
    }

    Test::More::is($ok, CONNS, 'every connection got its replies in order');

    $_->send_close(1000) for @c;
    my $closed = grep { ($_->wait_close(5) // 0) == 1000 } @c;
    Test::More::is($closed, CONNS, 'every connection closed normally');
    $_->wait_eof(2) for @c;

    # the app's view: per connection id, connect, 1..N, disconnect

    my @recs = Test::NgxWs::App::wait_records(CONNS * (PER_CONN + 2));
    my (%by_id, @order);

    for my $rec (@recs) {
        my ($id) = map { $_->[1] }
                   grep { lc $_->[0] eq 'x-ws-connection-id' }
                   @{ $rec->{headers} };
        push @order, $id unless $by_id{$id};
        push @{ $by_id{$id} }, $rec;
    }

    Test::More::is(scalar @order, CONNS, 'as many connection ids as'
                   . ' connections');

    my $good = 0;

    for my $id (@order) {
        my $got = Test::NgxWs::App::summary($by_id{$id});
        my ($k) = $got =~ /"c(\d+)-1"/;
        $k //= -1;
        my $want = "/app/connect connect #1\n"
                   . join('', map { "/app/message message #1 seq=$_ text"
                                    . " \"c$k-$_\"\n" } 1 .. PER_CONN)
                   . "/app/disconnect disconnect #1 code=1000 by=client\n";

        if ($got eq $want) {
            $good++;
        } else {
            Test::More::diag("connection $id:\n$got");
        }
    }

    Test::More::is($good, CONNS, 'the app saw each connection\'s events in'
                   . ' order, one at a time, connect first, disconnect last');
}

# TEST 3: the app holds every message event; with ws_pass_queue 2 the
# module takes two messages, then stops reading: the client's writes stop
# making progress and the bytes wait in the server's socket.
sub backpressure {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 10);
    my $s = $c->socket;

    setsockopt($s, SOL_SOCKET, SO_SNDBUF, 16384);
    $s->blocking(0);

    my ($n, $buf, $bytes, $last) = (0, '', 0, Time::HiRes::time());
    my $max = 20000;                  # 20 MB: far more than kernel buffers

    while (Time::HiRes::time() - $last < 0.5 && $n < $max) {
        if ($buf eq '') {
            $n++;
            $buf = WsFrame::ws_binary(sprintf('%06d', $n) . ('x' x 994));
        }

        my $w = syswrite $s, $buf;

        if ($w) {
            substr($buf, 0, $w) = '';
            $bytes += $w;
            $last = Time::HiRes::time();
            next;
        }

        Time::HiRes::sleep(0.01);
    }

    Test::More::cmp_ok($n, '<', $max, "the client's writes stopped making"
                       . " progress ($bytes bytes of $n messages written)");

    my @events = grep { $_->{url} =~ m{^/app/message} }
                 Test::NgxWs::App::records();
    Test::More::is(scalar @events, 1, 'the app has one message event (held),'
                   . ' not more');

    # the server's end of this connection: Recv-Q is what nginx has not read
    my $filter = "( sport = :$ENV{TEST_NGINX_SERVER_PORT}"
                 . ' and dport = :' . $s->sockport . ' )';
    my $ss = `ss -tnH state established '$filter'`;
    my ($recvq) = $ss =~ /^\s*(\d+)/;
    Test::More::cmp_ok($recvq // 0, '>', 0, 'bytes wait unread in the'
                       . " server's socket (Recv-Q " . ($recvq // '?') . ')');

    # open the gate: everything goes through, in order

    Test::NgxWs::App::open_gate();

    $s->blocking(1);
    $c->raw_write($buf) if $buf ne '';
    $c->send_close(1000);
    Test::More::is($c->wait_close(30), 1000, 'the client then closes'
                   . ' normally');
    $c->wait_eof(5);

    my @recs = Test::NgxWs::App::wait_records($n + 1, 30);
    my $want = join('', map { "/app/message message #1 seq=$_ binary"
                              . ' len=1000 md5=' . Digest::MD5::md5_hex(
                                  sprintf('%06d', $_) . ('x' x 994))
                              . "\n" } 1 .. $n)
               . "/app/disconnect disconnect #1 code=1000 by=client\n";
    my $got = Test::NgxWs::App::summary(\@recs);

    Test::More::ok($got eq $want, "all $n messages reached the app in"
                   . ' order, then the disconnect')
        or Test::More::diag(substr($got, 0, 2000));
}

# TEST 9: while a full ws_pass queue keeps the module from reading, the
# client answers every heartbeat Ping; it must not be taken for gone.
sub paused_heartbeat {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    $c->send_text('?delay=1500') for 1 .. 3;

    my ($pings, $code) = (0, 0);
    my $end = Time::HiRes::time() + 3;

    while (Time::HiRes::time() < $end) {
        my $f = $c->read_frame(0.5) or next;

        if ($f->{opcode} == 9) {
            $pings++;
            $c->send_pong($f->{payload});

        } elsif ($f->{opcode} == 8) {
            $code = $f->{code} // 1005;
            last;
        }
    }

    Test::More::ok($pings > 0 && $code == 0, "the client answered $pings"
                   . ' Pings and was not closed (close code ' . $code . ')');

    $c->send_close(1000);
    Test::More::is($c->wait_close(10), 1000, 'it then closes normally once'
                   . ' the queue has drained');
}

__DATA__

=== TEST 1: 200 messages in one packet reach the app in order, seq 1..200, and their replies come back in order
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_on_disconnect /app/disconnect;
        ws_close_timeout 100ms;
    }

    location = /app/message {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/app/message?echo=1&ct=text/plain;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. CORE::join('', map { $_ % 3 ? WsFrame::ws_text("m$_") : WsFrame::ws_binary("m$_") } 1 .. 199)
. WsFrame::ws_text('?close=1000')
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_text("m$_") } 1 .. 199)
. WsFrame::srv_text('?close=1000') . WsFrame::srv_close(1000)
--- app_log eval
CORE::join('', map { "/app/message message #1 seq=$_ " . ($_ % 3 ? 'text' : 'binary') . " \"m$_\"\n" } 1 .. 199)
. "/app/message message #1 seq=200 text \"?close=1000\"\n"
. "/app/disconnect disconnect #1 code=1000 by=server\n"
--- error_log
upstream asked to close, closing with 1000
--- no_error_log
[error]
[alert]



=== TEST 2: several connections at once: each keeps its own order and its own id
--- config
    location /ws {
        websocket;
        ws_on_connect /app/connect;
        ws_pass /app/message;
        ws_on_disconnect /app/disconnect;
    }

    location = /app/message {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/app/message?echo=1&ct=text/plain;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- init
main::concurrent();
Test::NgxWs::App::truncate_log();
--- init_tests: 4
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
/app/disconnect disconnect #1 code=1000 by=client
--- no_error_log
[error]
[alert]



=== TEST 3: backpressure: with ws_pass_queue 2 and an app that holds the events, the module stops reading
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_queue 2;
        ws_on_disconnect /app/disconnect;
    }

    location = /app/message {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/app/message?hold=1;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- init
main::backpressure();
Test::NgxWs::App::truncate_log();
Test::NgxWs::App::open_gate();
--- init_tests: 5
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "after"
/app/disconnect disconnect #1 code=1000 by=client
--- grep_error_log: ws pass queue full:2, reading paused
--- grep_error_log_out eval
qr/\A(ws pass queue full:2, reading paused\n)+\z/
--- no_error_log
[error]
[alert]



=== TEST 4: ws_pass_queue 1: one message is parsed at a time, all arrive in order
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_queue 1;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. CORE::join('', map { WsFrame::ws_text("?delay=10&n=$_") } 1 .. 10)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_log eval
CORE::join('', map { "/app/message message #1 seq=$_ text \"?delay=10&n=$_\"\n" } 1 .. 10)
. "/app/disconnect disconnect #1 code=1000 by=client\n"
--- grep_error_log: ws pass queue full:1, reading paused
--- grep_error_log_out eval
"ws pass queue full:1, reading paused\n" x 10
--- no_error_log
[error]
[alert]



=== TEST 5: the client vanishes (no Close) while events wait: they are all delivered, then disconnect 1006
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_queue 2;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. CORE::join('', map { WsFrame::ws_text("?delay=30&n=$_") } 1 .. 6)
--- shutdown
--- error_code: 101
--- response_body eval
""
--- app_log eval
CORE::join('', map { "/app/message message #1 seq=$_ text \"?delay=30&n=$_\"\n" } 1 .. 6)
. "/app/disconnect disconnect #1 code=1006 by=client\n"
--- error_log
client closed connection without a close frame
--- no_error_log
[error]
[alert]



=== TEST 6: the client closes while events wait: they are all delivered, then disconnect with its code
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_queue 2;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. CORE::join('', map { WsFrame::ws_binary("?delay=30&n=$_") } 1 .. 6)
. WsFrame::ws_close(4321)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(4321)
--- app_log eval
CORE::join('', map { "/app/message message #1 seq=$_ binary \"?delay=30&n=$_\"\n" } 1 .. 6)
. "/app/disconnect disconnect #1 code=4321 by=client\n"
--- no_error_log
[error]
[alert]



=== TEST 7: a connection that ends before its connect event is answered: connect, then disconnect
--- config
    location /ws {
        websocket;
        ws_on_connect /app/connect;
        ws_pass /app/message;
        ws_on_disconnect /app/disconnect;
    }

    location = /app/connect {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/app/connect?delay=200&body=welcome&ct=text/plain;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('early') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "early"
/app/disconnect disconnect #1 code=1000 by=client
--- no_error_log
[error]
[alert]



=== TEST 8: ws_pass_queue must be between 1 and 65536
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_queue 0;
    }
--- must_die
--- error_log
[emerg]
value must be between 1 and 65536



=== TEST 9: the heartbeat waits while a full ws_pass queue keeps the module from reading the Pong
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_queue 1;
        ws_ping_interval 300ms;
        ws_pong_timeout 300ms;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- init
main::paused_heartbeat();
--- init_tests: 2
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client did not answer ping
