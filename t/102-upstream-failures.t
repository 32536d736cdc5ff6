# Failed events: the application cannot be reached (502), is too slow
# (proxy_read_timeout, 504), answers 5xx or 4xx, drops the connection, or
# sends a reply larger than subrequest_output_buffer_size.  Each is logged
# ("upstream answered N to EVENT event SEQ", error for 5xx, warn otherwise,
# next to nginx's own line) and handled as ws_pass_error says: close (Close
# 1011, then the server waits for the client's Close), message (a JSON text
# message), ignore (nothing).  Never a crash or a hang, and other
# connections go on.  The app is t/backends/app.js (see Test::NgxWs::App);
# $TEST_NGINX_DOWN_PORT refuses connections.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Client ();

Test::NgxWs::App::start();

repeat_each(1);

plan tests => repeat_each() * Test::NgxWs::App::count_tests(blocks());

no_shuffle();
no_long_string();

run_tests();


sub error_json {
    my ($status, $event, $seq) = @_;
    return qq[{"error":"upstream","status":$status,"event":"$event",]
           . qq["seq":$seq}];
}

# The last block: while one connection's event waits for a slow app (and
# then fails), another connection's events are answered.
sub other_connections {
    my $slow = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    $slow->send_text('?delay=3000&body=slow&ct=text/plain');

    my $fast = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    my $n = 0;

    for my $i (1 .. 10) {
        $fast->send_text("?body=fast $i&ct=text/plain");
        my $f = $fast->read_frame(2);
        $n++ if $f && $f->{opcode} == 1 && $f->{payload} eq "fast $i";
    }

    my $early = $slow->read_frame(0.01);

    Test::More::ok($n == 10 && !$early,
                   "10 replies on the other connection ($n right) while the"
                   . ' first one still waits');

    my $f = $slow->read_frame(3);
    Test::More::ok($f && $f->{opcode} == 8 && $f->{payload} eq "\x03\xf3",
                   'the slow one gets Close 1011 when proxy_read_timeout'
                   . ' expires');

    $fast->send_close(1000);
    Test::More::is($fast->wait_close(2), 1000, 'the other one closes'
                   . ' normally');

    $slow->send_close(1011);
    $slow->wait_eof(2);
    $fast->wait_eof(2);
}

__DATA__

=== TEST 1: app down, ws_pass_error close (the default): Close 1011, then the server waits for the client's Close
--- config
    location /ws {
        websocket;
        ws_pass /down;
        ws_on_disconnect /app/disconnect;
    }

    location = /down {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DOWN_PORT;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('hello'),
 WsFrame::ws_close(1011)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1011)
--- app_log
/app/disconnect disconnect #1 code=1011 by=server
--- error_log eval
[qr/\[error\] .*connect\(\) failed \(111: Connection refused\) while connecting to upstream/,
 qr/\[error\] .*upstream answered 502 to message event 1 while processing WebSocket/]
--- no_error_log
client did not answer close in time
[alert]



=== TEST 2: ws_pass_error close: a client that does not answer the Close is dropped after ws_close_timeout
--- config
    location /ws {
        websocket;
        ws_pass /down;
        ws_pass_error close;
        ws_close_timeout 100ms;
        ws_on_disconnect /app/disconnect;
    }

    location = /down {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DOWN_PORT;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('hello')
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1011)
--- app_log
/app/disconnect disconnect #1 code=1011 by=server
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
upstream answered 502 to message event 1
client did not answer close in time
--- no_error_log
[alert]



=== TEST 3: app down, ws_pass_error message: a JSON text message per failed event; the connection goes on
--- config
    location /ws {
        websocket;
        ws_pass /down;
        ws_pass_error message;
        ws_on_disconnect /app/disconnect;
    }

    location = /down {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DOWN_PORT;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('one') . WsFrame::ws_binary('two'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text(main::error_json(502, 'message', 1))
. WsFrame::srv_text(main::error_json(502, 'message', 2))
. WsFrame::srv_close(1000)
--- app_log
/app/disconnect disconnect #1 code=1000 by=client
--- error_log eval
[qr/\[error\] .*upstream answered 502 to message event 1 /,
 qr/\[error\] .*upstream answered 502 to message event 2 /]
--- no_error_log
[alert]



=== TEST 4: app down, ws_pass_error ignore: nothing is sent, the failure is still logged
--- config
    location /ws {
        websocket;
        ws_pass /down;
        ws_pass_error ignore;
        ws_on_disconnect /app/disconnect;
    }

    location = /down {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DOWN_PORT;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('one') . WsFrame::ws_ping('still there?'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_pong('still there?') . WsFrame::srv_close(1000)
--- app_log
/app/disconnect disconnect #1 code=1000 by=client
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
upstream answered 502 to message event 1
--- no_error_log
[alert]



=== TEST 5: 5xx answers: logged at error; in message mode the client gets the status
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_error message;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws')
 . WsFrame::ws_text('?status=500&body=oops&ct=text/plain')
 . WsFrame::ws_text('?status=503')
 . WsFrame::ws_text('?body=fine&ct=text/plain'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text(main::error_json(500, 'message', 1))
. WsFrame::srv_text(main::error_json(503, 'message', 2))
. WsFrame::srv_text('fine')
. WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?status=500&body=oops&ct=text/plain"
/app/message message #1 seq=2 text "?status=503"
/app/message message #1 seq=3 text "?body=fine&ct=text/plain"
/app/disconnect disconnect #1 code=1000 by=client
--- error_log eval
[qr/\[error\] .*upstream answered 500 to message event 1 /,
 qr/\[error\] .*upstream answered 503 to message event 2 /]
--- no_error_log
[alert]



=== TEST 6: 4xx and 3xx answers: logged at warn, not error
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_error message;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws')
 . WsFrame::ws_text('?status=404&body=nope&ct=text/plain')
 . WsFrame::ws_text('?status=403')
 . WsFrame::ws_text('?status=302&hdr=Location:/elsewhere'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text(main::error_json(404, 'message', 1))
. WsFrame::srv_text(main::error_json(403, 'message', 2))
. WsFrame::srv_text(main::error_json(302, 'message', 3))
. WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?status=404&body=nope&ct=text/plain"
/app/message message #1 seq=2 text "?status=403"
/app/message message #1 seq=3 text "?status=302&hdr=Location:/elsewhere"
--- error_log eval
[qr/\[warn\] .*upstream answered 404 to message event 1 /,
 qr/\[warn\] .*upstream answered 403 to message event 2 /,
 qr/\[warn\] .*upstream answered 302 to message event 3 /]
--- no_error_log
[error]
[alert]



=== TEST 7: 4xx in close mode: Close 1011
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_close_timeout 100ms;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?status=400')
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1011)
--- app_log
/app/message message #1 seq=1 text "?status=400"
--- error_log eval
[qr/\[warn\] .*upstream answered 400 to message event 1 /,
 qr/client did not answer close in time/]
--- no_error_log
[error]
[alert]



=== TEST 8: a slow app: proxy_read_timeout gives 504, and the message says so
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_error message;
    }

    location /app/ {
        internal;
        proxy_read_timeout 200ms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?delay=1000&body=late&ct=text/plain')
 . WsFrame::ws_text('?body=next&ct=text/plain'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.6
--- error_code: 101
--- response_body eval
WsFrame::srv_text(main::error_json(504, 'message', 1))
. WsFrame::srv_text('next')
. WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?delay=1000&body=late&ct=text/plain"
/app/message message #1 seq=2 text "?body=next&ct=text/plain"
--- error_log eval
[qr/\[error\] .*upstream timed out \(110: Connection timed out\) while reading response header from upstream/,
 qr/\[error\] .*upstream answered 504 to message event 1 /]
--- no_error_log
[alert]



=== TEST 9: a slow app in close mode: Close 1011 after proxy_read_timeout
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_close_timeout 100ms;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_read_timeout 200ms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?delay=1000')
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1011)
--- app_log
/app/message message #1 seq=1 text "?delay=1000"
/app/disconnect disconnect #1 code=1011 by=server
--- error_log
upstream timed out (110: Connection timed out) while reading response header from upstream
upstream answered 504 to message event 1
client did not answer close in time
--- no_error_log
[alert]



=== TEST 10: the app closes the connection without answering: 502
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_error message;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?drop=1'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text(main::error_json(502, 'message', 1)) . WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?drop=1"
--- error_log
upstream prematurely closed connection while reading response header from upstream
upstream answered 502 to message event 1
--- no_error_log
[alert]



=== TEST 11: a reply that fills subrequest_output_buffer_size exactly is sent
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_error message;
    }

    location /app/ {
        internal;
        subrequest_output_buffer_size 1k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?size=1024&ct=text/plain'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('x' x 1024) . WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?size=1024&ct=text/plain"
--- no_error_log
[error]
[alert]



=== TEST 12: a reply larger than subrequest_output_buffer_size is a failed event
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_error message;
    }

    location /app/ {
        internal;
        subrequest_output_buffer_size 1k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?size=1025&ct=text/plain')
 . WsFrame::ws_text('?body=small&ct=text/plain'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
my $re = quotemeta(WsFrame::srv_text(main::error_json('5XX', 'message', 1))
                   . WsFrame::srv_text('small') . WsFrame::srv_close(1000));
$re =~ s/5XX/5[0-9][0-9]/;
qr/\A$re\z/s
--- app_log
/app/message message #1 seq=1 text "?size=1025&ct=text/plain"
/app/message message #1 seq=2 text "?body=small&ct=text/plain"
--- error_log eval
[qr/\[error\] .*too big subrequest response/,
 qr/\[error\] .*upstream answered 5\d\d to message event 1 /]
--- no_error_log
[alert]



=== TEST 13: one failure in a sequence: the replies before and after it are in order
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_error message;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws')
 . WsFrame::ws_text('?body=one&ct=text/plain&delay=30')
 . WsFrame::ws_text('?status=502&delay=30')
 . WsFrame::ws_text('?body=three&ct=text/plain'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.4
--- error_code: 101
--- response_body eval
WsFrame::srv_text('one')
. WsFrame::srv_text(main::error_json(502, 'message', 2))
. WsFrame::srv_text('three')
. WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?body=one&ct=text/plain&delay=30"
/app/message message #1 seq=2 text "?status=502&delay=30"
/app/message message #1 seq=3 text "?body=three&ct=text/plain"
--- error_log
upstream answered 502 to message event 2
--- no_error_log
[alert]



=== TEST 14: close mode: events queued behind the failed one still reach the app, their replies are dropped
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_close_timeout 300ms;
        ws_on_disconnect /app/disconnect;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('?status=500')
. WsFrame::ws_text('?body=dropped&ct=text/plain')
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1011)
--- app_log
/app/message message #1 seq=1 text "?status=500"
/app/message message #1 seq=2 text "?body=dropped&ct=text/plain"
/app/disconnect disconnect #1 code=1011 by=server
--- error_log
upstream answered 500 to message event 1
client did not answer close in time
--- no_error_log
upstream answered 200
[alert]



=== TEST 15: a failed connect event: message mode reports it with seq 0, messages go on
--- config
    location /ws {
        websocket;
        ws_on_connect /down;
        ws_pass /app/message;
        ws_pass_error message;
    }

    location = /down {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DOWN_PORT;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?body=hi&ct=text/plain'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text(main::error_json(502, 'connect', 0))
. WsFrame::srv_text('hi')
. WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?body=hi&ct=text/plain"
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
upstream answered 502 to connect event 0
--- no_error_log
[alert]



=== TEST 16: a failed connect event in close mode: Close 1011 before any message event
--- config
    location /ws {
        websocket;
        ws_on_connect /app/connect;
        ws_pass /app/message;
        ws_on_disconnect /app/disconnect;
        ws_close_timeout 300ms;
    }

    location = /app/connect {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/app/connect?status=403;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws'),
 WsFrame::ws_text('too late')]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1011)
--- app_log
/app/connect connect #1
/app/disconnect disconnect #1 code=1011 by=server
--- error_log eval
[qr/\[warn\] .*upstream answered 403 to connect event 0 /,
 qr/client did not answer close in time/]
--- no_error_log
[error]
[alert]



=== TEST 17: a failed disconnect event is logged too
--- config
    location /ws {
        websocket;
        ws_on_disconnect /app/disconnect;
    }

    location = /app/disconnect {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/app/disconnect?status=500;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_log
/app/disconnect disconnect #1 code=1000 by=client
--- error_log
upstream answered 500 to disconnect event
--- no_error_log
[alert]



=== TEST 18: a message event that fails after the client has gone is logged too
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?status=500&delay=100') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?status=500&delay=100"
--- wait: 0.2
--- error_log
upstream answered 500 to message event 1
--- no_error_log
[alert]



=== TEST 19: the disconnect event of an app that is down: nginx's error line, nothing else breaks
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_on_disconnect /down;
    }

    location = /down {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DOWN_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('echo') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('echo') . WsFrame::srv_close(1000)
--- wait: 0.1
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
--- no_error_log
[alert]
[crit]



=== TEST 20: ws_pass_error is inherited from the server level
--- config
    ws_pass_error ignore;

    location /ws {
        websocket;
        ws_pass /app/message;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?status=500') . WsFrame::ws_text('?body=ok&ct=text/plain'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('ok') . WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?status=500"
/app/message message #1 seq=2 text "?body=ok&ct=text/plain"
--- error_log
upstream answered 500 to message event 1
--- no_error_log
[alert]



=== TEST 21: an upstream group with a server down: the event goes to the next server, no failure
--- http_config
    upstream group {
        server 127.0.0.1:$TEST_NGINX_DOWN_PORT;
        server 127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_error message;
    }

    location /app/ {
        internal;
        proxy_pass http://group;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?echo=1&ct=text/plain&n=1')
 . WsFrame::ws_text('?echo=1&ct=text/plain&n=2') . WsFrame::ws_text('?echo=1&ct=text/plain&n=3'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('?echo=1&ct=text/plain&n=1')
. WsFrame::srv_text('?echo=1&ct=text/plain&n=2')
. WsFrame::srv_text('?echo=1&ct=text/plain&n=3')
. WsFrame::srv_close(1000)
--- app_log
/app/message message #1 seq=1 text "?echo=1&ct=text/plain&n=1"
/app/message message #1 seq=2 text "?echo=1&ct=text/plain&n=2"
/app/message message #1 seq=3 text "?echo=1&ct=text/plain&n=3"
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
--- no_error_log
upstream answered
[alert]



=== TEST 22: an invalid ws_pass_error value is refused at startup
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_error retry;
    }
--- must_die
--- error_log
[emerg]
invalid value "retry"



=== TEST 23: while one connection waits for a slow app, other connections are answered at once
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
    }

    location /app/ {
        internal;
        proxy_read_timeout 1500ms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- init
main::other_connections();
--- init_tests: 3
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('?body=still fine&ct=text/plain'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('still fine') . WsFrame::srv_close(1000)
--- error_log
upstream answered 504 to message event 1
--- no_error_log
[alert]
