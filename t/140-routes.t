# ws_route: a JSON text message goes the route of its "type" field (an
# upstream location, a channel, a reply from the configuration, an echo),
# binary messages their own route, anything else the default route or an
# error (an error message, or a close with the code of the case).  The
# field's reader is strict and bounded: a malformed prefix, a lone
# surrogate or a nesting deeper than 32 is refused, escapes in keys and
# values are decoded.  Pass routes carry X-WS-Route,
# X-WS-Message-Type-Field and X-WS-Correlation-Id to the application, in
# the connection's order across routes.  ws_status counts the messages of
# each route and the errors by kind.  A pass URI made from variables may
# not hold "." or ".." segments (TEST 14).

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc qw(nginx_rss);
use Test::NgxWs::Rounds qw(write_all read_exactly rounds);

use IO::Select ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

Test::NgxWs::App::start();

repeat_each(1);

plan tests => repeat_each() * Test::NgxWs::App::count_tests(blocks());

no_shuffle();
no_long_string();

# refused messages closed with 1008 or 1009 are security events: info here
config_preamble('ws_security_log_level info;');

run_tests();


sub err {
    my ($e, $extra) = @_;
    return WsFrame::srv_text('{"type":"error","error":"' . $e . '"'
                             . ($extra // '') . '}');
}

# TEST 8: a few messages over a connection, then the status page
sub status_traffic {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 3);
    $c->send_text('{"type":"echo"}') for 1 .. 2;
    $c->send_text('{"type":"ping"}');
    $c->send_text('{"type":"nope"}');
    $c->send_text('[1]');
    $c->read_frame(3) for 1 .. 5;
    $c->send_close(1000);
    $c->read_frame(3);
}

# TEST 11: routes whose arguments hold variables, evaluated per message,
# and error messages with correlation ids: the worker's memory stays flat
sub memory {
    my ($out, $back) = ('', '');

    for my $i (0 .. 99) {
        my $k = $i % 3;
        if ($k == 0) {
            $out .= WsFrame::ws_text(qq({"type":"ping","id":$i}));
            $back .= WsFrame::srv_text(qq({"type":"pong","id":"$i","r":"r1"}));
        } elsif ($k == 1) {
            $out .= WsFrame::ws_text(qq({"type":"nope$i","id":"x$i"}));
            $back .= err('unknown_type', qq(,"id":"x$i"));
        } else {
            $out .= WsFrame::ws_text(qq({"type":"typing","n":$i}));
            $back .= WsFrame::srv_text(qq({"type":"typing","n":$i}));
        }
    }

    my $c = Test::NgxWs::Client->new(path => '/ws?room=r1', timeout => 5);
    my $s = $c->socket;

    my $bad = rounds($s, 100, $out, $back);
    my $rss1 = nginx_rss();

    $bad += rounds($s, 1000, $out, $back);
    my $rss2 = nginx_rss();

    write_all($s, WsFrame::ws_close(1000));
    my $closed = read_exactly($s, 4, IO::Select->new($s));
    $c->close;

    Test::More::ok($bad == 0 && $closed eq "\x88\x02\x03\xe8",
                   "100,000 routed messages answered exactly ($bad batches"
                   . ' different)');
    Test::More::cmp_ok($rss2 - $rss1, '<=', 1024,
                       'worker RSS after 100,000 routed messages is within'
                       . ' 1 MiB of the RSS after 10,000');
    Test::More::diag(sprintf('worker VmRSS: %d KiB after 10000 routed'
                             . ' messages, %d KiB after 110000 (%+d KiB)',
                             $rss1, $rss2, $rss2 - $rss1));
}

# TEST 12: a client that does not read sends 1 MB messages that a reply
# route answers with a few bytes: the messages go at once (they were kept
# until their replies were sent, uncounted: about 1 MB a reply, 120 MB
# here, with the worker's own count at 3 MB)
sub reply_memory {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5,
                                     rcvbuf => 4096);
    my $s = $c->socket;
    $s->blocking(0);
    my $sel = IO::Select->new($s);

    my $send = sub {
        my ($data) = @_;
        my $off = 0;
        while ($off < length $data) {
            $sel->can_write(5) or return 0;
            my $n = syswrite($s, $data, length($data) - $off, $off);
            $off += $n if defined $n;
        }
        return 1;
    };

    # more echoes than the socket's buffers take (up to about 4 MB on
    # loopback), which the client never reads: what follows waits
    $send->(WsFrame::ws_text('{"type":"echo","p":"' . ('e' x 700000) . '"}'))
        for 1 .. 9;
    Time::HiRes::sleep(0.5);
    my $rss0 = nginx_rss();

    my $pad = 'x' x (1024 * 1024 - 40);
    my $sent = 0;
    for (1 .. 120) {
        last unless $send->(WsFrame::ws_text(qq({"type":"ping","p":"$pad"})));
        $sent++;
    }
    Time::HiRes::sleep(0.5);
    my $rss1 = nginx_rss();

    Test::More::is($sent, 120, '120 messages of 1 MB taken');
    Test::More::cmp_ok($rss1 - $rss0, '<', 20 * 1024,
                       'the worker grows less than 20 MB for them');
    Test::More::diag("worker VmRSS: $rss0 KiB, $rss1 KiB after 120 x 1 MB"
                     . ' answered by a reply route, not read');
    $c->close;
}

__DATA__

=== TEST 1: echo and reply routes; errors as messages: unknown type (with the correlation id), no field, not JSON, not a string, too deep, binary
--- config
    location /ws {
        websocket;
        ws_route_correlation id;
        ws_route echo echo;
        ws_route ping reply '{"type":"pong"}';
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('{"type":"echo","x":[1,{"y":null}]}')
. WsFrame::ws_text(' {"id":7, "type" : "ping"}')
. WsFrame::ws_text('{"type":"nope","id":"a\"b"}')
. WsFrame::ws_text('{"x":1,"id":12.5e3}')
. WsFrame::ws_text('not json')
. WsFrame::ws_text('{"type":5}')
. WsFrame::ws_text('{"a":' . ('[' x 32) . (']' x 32) . ',"type":"echo"}')
. WsFrame::ws_text('{"a":' . ('[' x 31) . (']' x 31) . ',"type":"echo"}')
. WsFrame::ws_binary("\x01\x02")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('{"type":"echo","x":[1,{"y":null}]}')
. WsFrame::srv_text('{"type":"pong"}')
. main::err('unknown_type', ',"id":"a\"b"')
. main::err('no_field', ',"id":12.5e3')
. main::err('invalid_json')
. main::err('not_a_string')
. main::err('too_deep')
. WsFrame::srv_text('{"a":' . ('[' x 31) . (']' x 31) . ',"type":"echo"}')
. main::err('binary_unsupported')
. WsFrame::srv_close(1000)
--- error_log
client sent a message without a route: unknown_type
client sent a message without a route: too_deep
--- no_error_log
[error]
[alert]



=== TEST 2: the reader: escapes in keys and values, surrogate pairs, the first of duplicate keys, what follows the field is not read, a malformed prefix or a lone surrogate is refused
--- config
    location /ws {
        websocket;
        ws_route echo echo;
        ws_route "é😀" reply '{"type":"smile"}';
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('{"t\u0079pe":"ech\u006f"}')
. WsFrame::ws_text('{"type":"\u00e9\ud83d\ude00"}')
. WsFrame::ws_text('{"type":"\u00E9\uD83D\uDE00","type":"echo"}')
. WsFrame::ws_text('{"type":"echo", this is never read')
. WsFrame::ws_text('{"a":tru,"type":"echo"}')
. WsFrame::ws_text('{"a":01,"type":"echo"}')
. WsFrame::ws_text('{"a":"\x01","type":"echo"}')
. WsFrame::ws_text('{"type":"\ud83d"}')
. WsFrame::ws_text('{"type":"\ude00\ud83d"}')
. WsFrame::ws_text('{"type":"a\u000ab"}')
. WsFrame::ws_text('{"a":1,}')
. WsFrame::ws_text('{} x')
. WsFrame::ws_text('')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('{"t\u0079pe":"ech\u006f"}')
. WsFrame::srv_text('{"type":"smile"}')
. WsFrame::srv_text('{"type":"smile"}')
. WsFrame::srv_text('{"type":"echo", this is never read')
. main::err('invalid_json') x 2
. main::err('invalid_json')
. main::err('invalid_json') x 2
. main::err('bad_field')
. main::err('invalid_json') x 3
. WsFrame::srv_close(1000)
--- no_error_log
[error]
[alert]



=== TEST 3: the default route takes unknown types, no field and non-string fields; binary messages take the binary route
--- config
    location /ws {
        websocket;
        ws_route ping reply '{"type":"pong"}';
        ws_route default reply '{"type":"other","was":"$ws_message_type"}';
        ws_route binary echo;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('{"type":"ping"}')
. WsFrame::ws_text('{"type":"chat"}')
. WsFrame::ws_text('{"x":1}')
. WsFrame::ws_text('{"type":[1]}')
. WsFrame::ws_text('{"type":"default"}')
. WsFrame::ws_text('{"type":"binary"}')
. WsFrame::ws_binary("\x00\xff")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('{"type":"pong"}')
. WsFrame::srv_text('{"type":"other","was":"chat"}')
. WsFrame::srv_text('{"type":"other","was":""}')
. WsFrame::srv_text('{"type":"other","was":""}')
. WsFrame::srv_text('{"type":"other","was":"default"}')
. WsFrame::srv_text('{"type":"other","was":"binary"}')
. WsFrame::srv_binary("\x00\xff")
. WsFrame::srv_close(1000)
--- no_error_log
[error]
[alert]



=== TEST 4: ws_route_error close: a message that is not JSON closes with 1007
--- config
    location /ws {
        websocket;
        ws_route_error close;
        ws_route echo echo;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('{"type":"echo"}')
. WsFrame::ws_text('{"a":x,"type":"echo"}')
. WsFrame::ws_text('{"type":"echo"}')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('{"type":"echo"}') . WsFrame::srv_close(1007)
--- no_error_log
[error]
[alert]



=== TEST 5: ws_route_error close: an unknown type and a binary message close with 1003, too deep with 1009, no field with 1008
--- config
    location /ws {
        websocket;
        ws_route_error close;
        ws_route echo echo;
    }
    location /ws2 {
        websocket;
        ws_route_error close;
        ws_route echo echo;
    }
--- init
my %want = ('{"type":"nope"}' => 1003, '{"a":' . ('[' x 40) => 1009,
            '{"a":1}' => 1008);
for my $m (sort keys %want) {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 3);
    $c->send_text($m);
    my $f = $c->read_frame(3);
    my ($code) = unpack 'n', $f->{payload} // '';
    Test::More::is($code, $want{$m}, "close code for $m");
}
my $c = Test::NgxWs::Client->new(path => '/ws2', timeout => 3);
$c->send_binary("\x01");
my $f = $c->read_frame(3);
Test::More::is(unpack('n', $f->{payload} // ''), 1003, 'binary: 1003');
--- init_tests: 4
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('{"type":5}')
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1008)
--- no_error_log
[error]
[alert]



=== TEST 6: ws_route_error close with a code of one's own
--- config
    location /ws {
        websocket;
        ws_route_error close 4001;
        ws_route echo echo;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('{"type":"x"}')
--- error_code: 101
--- response_body eval
WsFrame::srv_close(4001)
--- no_error_log
[error]
[alert]



=== TEST 7: pass routes: each type to its own location in the connection's order, the URI from variables, the route, type and correlation headers
--- config
    location /ws {
        websocket;
        ws_route_correlation id;
        ws_route chat pass /app/chat;
        ws_route typing pass /app/typing/$arg_room?x=$arg_room;
        ws_route default pass /app/other/$ws_message_type;
        ws_route binary pass /app/bin;
        ws_route ping reply '{"type":"pong"}';
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws?room=r1')
. WsFrame::ws_text('{"type":"chat","id":"c1","text":"hi"}')
. WsFrame::ws_text('{"type":"typing","id":2}')
. WsFrame::ws_text('{"type":"ping"}')
. WsFrame::ws_text('{"type":"chat","text":"again"}')
. WsFrame::ws_text('{"type":"presence"}')
. WsFrame::ws_binary("\x01")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('{"type":"pong"}') . WsFrame::srv_close(1000)
--- app_headers: X-WS-Route X-WS-Message-Type-Field X-WS-Correlation-Id
--- app_log
/app/chat message #1 seq=1 text "{\x22type\x22:\x22chat\x22,\x22id\x22:\x22c1\x22,\x22text\x22:\x22hi\x22}" x-ws-route="chat" x-ws-message-type-field="chat" x-ws-correlation-id="c1"
/app/typing/r1 message #1 seq=2 text "{\x22type\x22:\x22typing\x22,\x22id\x22:2}" x-ws-route="typing" x-ws-message-type-field="typing" x-ws-correlation-id="2"
/app/chat message #1 seq=3 text "{\x22type\x22:\x22chat\x22,\x22text\x22:\x22again\x22}" x-ws-route="chat" x-ws-message-type-field="chat" x-ws-correlation-id=-
/app/other/presence message #1 seq=4 text "{\x22type\x22:\x22presence\x22}" x-ws-route="default" x-ws-message-type-field="presence" x-ws-correlation-id=-
/app/bin message #1 seq=5 binary "\x01" x-ws-route="binary" x-ws-message-type-field=- x-ws-correlation-id=-
--- no_error_log
[error]
[alert]



=== TEST 8: ws_status counts the messages of each route and the errors by kind
--- config
    location /ws {
        websocket;
        ws_route echo echo;
        ws_route ping reply '{"type":"pong"}';
    }
    location /status {
        ws_status;
    }
--- init
main::status_traffic();
--- request
GET /status?format=json
--- response_body_like: "routes":\{"echo":2,"ping":1\},"route_errors":\{"invalid_json":1,"unknown_type":1\}
--- no_error_log
[error]
[alert]



=== TEST 9: publish routes: to a channel named from variables, which the connection itself gets
--- http_config
    ws_zone realtime 1m;
--- config
    location /ws {
        websocket;
        ws_subscribe realtime room:$arg_room;
        ws_route typing publish realtime room:$arg_room;
        ws_route chat publish realtime other;
        ws_route ping reply '{"type":"pong"}';
    }
--- raw_request eval
WsFrame::ws_handshake('/ws?room=r1')
. WsFrame::ws_text('{"type":"typing","who":"a"}')
. WsFrame::ws_text('{"type":"chat"}')
. WsFrame::ws_text('{"type":"typing","who":"b"}')
. WsFrame::ws_text('{"type":"ping"}')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('{"type":"typing","who":"a"}')
. WsFrame::srv_text('{"type":"typing","who":"b"}')
. WsFrame::srv_text('{"type":"pong"}')
. WsFrame::srv_close(1000)
--- no_error_log
[error]
[alert]



=== TEST 10: a publish route whose channel name from the message type is invalid answers bad_target
--- http_config
    ws_zone realtime 1m;
--- config
    location /ws {
        websocket;
        ws_route default publish realtime "$ws_message_type";
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('{"x":1}') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
main::err('bad_target') . WsFrame::srv_close(1000)
--- no_error_log
[error]
[alert]



=== TEST 11: memory stays flat with per-message variables in routes and error messages with correlation ids
--- http_config
    ws_zone realtime 1m;
--- config
    location /ws {
        websocket;
        ws_subscribe realtime room:$arg_room;
        ws_route_correlation id;
        ws_route ping reply '{"type":"pong","id":"$ws_message_correlation","r":"$arg_room"}';
        ws_route typing publish realtime room:$arg_room;
    }
--- init
main::memory();
--- init_tests: 2
--- request
GET /ws
--- error_code: 426
--- no_error_log
[error]
[alert]



=== TEST 12: a reply route does not keep the large message it answers
--- config
    location /ws {
        websocket;
        ws_max_message_size 2m;
        ws_send_buffer 8m;
        ws_route echo echo;
        ws_route ping reply '{"type":"pong"}';
    }
--- init
main::reply_memory();
--- init_tests: 2
--- request
GET /ws
--- error_code: 426
--- no_error_log
[error]
[alert]



=== TEST 13: bad_target answers a string correlation id as a JSON string
--- http_config
    ws_zone realtime 1m;
--- config
    location /ws {
        websocket;
        ws_route_correlation id;
        ws_route default publish realtime "$ws_message_type";
        ws_route app pass /app/$ws_message_type;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('{"x":1,"id":"c41"}')
. WsFrame::ws_text('{"x":1,"id":"a\",\"error\":\"injected"}')
. WsFrame::ws_text('{"x":1,"id":7}')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
main::err('bad_target', ',"id":"c41"')
. main::err('bad_target', ',"id":"a\",\"error\":\"injected"')
. main::err('bad_target', ',"id":7')
. WsFrame::srv_close(1000)
--- no_error_log
[error]
[alert]



=== TEST 14: a pass URI from variables with "." or ".." segments answers bad_target
--- config
    location /ws {
        websocket;
        ws_route_correlation id;
        ws_route default pass /app/other/$ws_message_type;
    }

    location /app/ {
        internal;
        return 200 "app $uri\n";
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('{"type":"../../admin","id":1}')
. WsFrame::ws_text('{"type":"a/./b","id":2}')
. WsFrame::ws_text('{"type":"%2e%2E/x","id":3}')
. WsFrame::ws_text('{"type":"a/..","id":4}')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
main::err('bad_target', ',"id":1') . main::err('bad_target', ',"id":2')
. main::err('bad_target', ',"id":3') . main::err('bad_target', ',"id":4')
. WsFrame::srv_close(1000)
--- no_error_log
[error]
[alert]
