# The $ws_* variables and the access log.  A WebSocket request is logged
# once, when the connection ends, with the final values: messages and data
# payload bytes each way, the close code and reason of the first Close (1005
# for a Close without a code, 1006 when none was exchanged), who ended it
# (client, server, timeout, limit, protocol), the time since the 101 and
# the channels it was subscribed to.  Error log lines of an upgraded
# connection end with ", ws: <connection id>".

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;

$SIG{PIPE} = 'IGNORE';

repeat_each(1);

plan tests => repeat_each() * checks();

no_shuffle();
no_long_string();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_' . ($block->http_config // ''));
    log_format ws 'ws $status in=$ws_messages_in/$ws_bytes_in'
                  ' out=$ws_messages_out/$ws_bytes_out'
                  ' close=$ws_close_code by=$ws_closed_by'
                  ' reason="$ws_close_reason" ch=$ws_channels'
                  ' t=$ws_duration id=$ws_connection_id';
_EOC_
});

# limits were warn lines (refusals info): the tests keep warn (t/130
# checks the default, error)
config_preamble('ws_security_log_level warn;');

run_tests();


# One test for the status and one per response_body and line of
# access_log, no_access_log, error_log and no_error_log.
sub checks {
    my $n = 0;

    for my $block (blocks()) {
        $n += 1 + (defined $block->response_body
                    || defined $block->response_body_like ? 1 : 0);

        for my $v (grep { defined } $block->access_log, $block->no_access_log,
                   $block->error_log, $block->no_error_log)
        {
            $n += ref $v eq 'ARRAY' ? @$v
                : ref $v ? 1
                : scalar(my @l = split /\n/, $v);
        }
    }

    return $n;
}

__DATA__

=== TEST 1: counts and the client's close, logged once at the end
--- config
    location /ws {
        websocket;
        ws_echo on;
        access_log logs/access.log ws;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('hello') . WsFrame::ws_ping('p')
. WsFrame::ws_binary("\x00\x01\x02") . WsFrame::ws_text('')
. WsFrame::ws_close(1000, 'bye')
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hello') . WsFrame::srv_pong('p') . WsFrame::srv_binary("\x00\x01\x02")
. WsFrame::srv_text('') . WsFrame::srv_close(1000)
--- access_log eval
qr/^ws 101 in=3\/8 out=3\/8 close=1000 by=client reason="bye" ch= t=0\.\d{3} id=[0-9a-f]{32}$/m
--- no_access_log eval
qr/ by=- /
--- no_error_log
[error]



=== TEST 2: a Close without a code: 1005, no reason
--- config
    location /ws {
        websocket;
        ws_echo on;
        access_log logs/access.log ws;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close()
--- error_code: 101
--- response_body eval
"\x88\x00"
--- access_log eval
qr/^ws 101 in=0\/0 out=0\/0 close=1005 by=client reason="" ch= /m
--- no_error_log
[error]



=== TEST 3: a protocol error: the server's 1002, by protocol; the log line names the connection
--- config
    location /ws {
        websocket;
        ws_echo on;
        access_log logs/access.log ws;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('x', masked => 0)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1002)
--- access_log eval
qr/^ws 101 in=0\/0 out=0\/0 close=1002 by=protocol reason="" ch= /m
--- error_log eval
qr/\[info\] .*client sent unmasked frame, closing with 1002 while processing WebSocket, client: 127\.0\.0\.1, .*, ws: [0-9a-f]{32}$/m
--- no_error_log
[error]



=== TEST 4: a message over ws_max_message_size: 1009, by limit, logged at warn
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_message_size 4;
        access_log logs/access.log ws;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('1234') . WsFrame::ws_text('12345')
--- error_code: 101
--- response_body eval
WsFrame::srv_text('1234') . WsFrame::srv_close(1009)
--- access_log eval
qr/^ws 101 in=1\/4 out=1\/4 close=1009 by=limit reason="" /m
--- error_log eval
qr/\[warn\] .*client sent too large message, closing with 1009 while .*, ws: [0-9a-f]{32}$/m
--- no_error_log
[error]



=== TEST 5: an idle timeout: the server's 1000 and reason, by timeout, and the duration
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 200ms;
        access_log logs/access.log ws;
    }
--- raw_request eval
[ WsFrame::ws_handshake('/ws'), WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.4
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x0e\x03\xe8idle timeout"
--- access_log eval
qr/^ws 101 in=0\/0 out=0\/0 close=1000 by=timeout reason="idle timeout" ch= t=0\.[2-6]\d\d /m
--- no_error_log
[error]



=== TEST 6: no Close at all: 1006, by client
--- config
    location /ws {
        websocket;
        ws_echo on;
        access_log logs/access.log ws;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('abc') . WsFrame::chop_bytes(WsFrame::ws_text('x'), 1)
--- timeout: 0.3
--- abort
--- wait: 0.2
--- error_code: 101
--- access_log eval
qr/^ws 101 in=1\/3 out=1\/3 close=1006 by=client reason="" /m
--- error_log
client closed connection without a close frame
--- no_error_log
[error]



=== TEST 7: channels: the list, and channel messages count as sent
--- http_config
    ws_zone chat 1m;
--- config
    location /ws {
        websocket;
        ws_subscribe chat a;
        ws_subscribe chat b:$arg_b;
        ws_publish chat a;
        access_log logs/access.log ws;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws?b=2') . WsFrame::ws_text('to a') . WsFrame::ws_close(1001)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('to a') . WsFrame::srv_close(1001)
--- access_log eval
qr/^ws 101 in=1\/4 out=1\/4 close=1001 by=client reason="" ch=a,b:2 /m
--- no_error_log
[error]



=== TEST 8: a request that is not upgraded has no $ws_* values
--- config
    location /ws {
        websocket;
        ws_echo on;
        access_log logs/access.log ws;
    }
--- request
GET /ws
--- error_code: 426
--- access_log eval
qr/^ws 426 in=-\/- out=-\/- close=- by=- reason="-" ch=- t=- id=-$/m
--- no_error_log
[error]



=== TEST 9: error log lines of an event, the proxy module's too, name the connection
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_error close;
        ws_close_timeout 100ms;
    }
    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:1;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('hi')
--- timeout: 2
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1011)
--- error_log eval
[ qr/\[error\] .*connect\(\) failed .*while connecting to upstream, client: 127\.0\.0\.1, .*, ws: [0-9a-f]{32}$/m,
  qr/\[error\] .*upstream answered 502 to message event 1 while .*, ws: [0-9a-f]{32}$/m ]



=== TEST 10: permessage-deflate: bytes are counted as the application sees them
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_deflate_min_length 0;
        access_log logs/access.log ws;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => 'permessage-deflate; client_no_context_takeover; server_no_context_takeover')
. WsFrame::ws_text_z('a' x 1000) . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_like: ^\xc1
--- access_log eval
qr/^ws 101 in=1\/1000 out=1\/1000 close=1000 by=client /m
--- no_error_log
[error]
