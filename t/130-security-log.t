# Security events in the error log (docs/hardening.md, "Security events"):
# every refused handshake and every policy close is one line at
# ws_security_log_level (error unless set), "ws security: <reason>,
# refused with <status>" or "..., closing with <code>", followed by nginx's
# client address and the request, and after the 101 by the connection id
# (", ws: <id>").  The request line and the referrer have the values of
# secret-looking query arguments masked; headers are never logged.  Each
# block runs at log level info and looks for the secrets in the whole
# error log of the block, nginx's own lines included.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels ();

repeat_each(1);

# per block: status, body, one error_log pattern, grep_error_log_out and
# SECRETS no_error_log patterns; TESTs 9, 10 and 13 add four more
use constant SECRETS => 5;

# TESTs 17 to 19 check the access log: one access_log and three
# no_access_log patterns each
plan tests => repeat_each() * (blocks() * (4 + SECRETS) + 4 + 3 * 4);

no_shuffle();
no_long_string();
log_level('info');

our $URI = '/ws?room=lobby&token=s3cr3t-tok&apiKey=s3cr3t-key'
           . '&Sig=s3cr3t-sig&n=1';
our $MASKED = '/ws\?room=lobby&token=\*\*\*&apiKey=\*\*\*&Sig=\*\*\*&n=1';

# TEST 16: a history of 20 messages of 1000 bytes, more than the
# subscriber's ws_send_buffer
sub history {
    for my $i (1 .. 20) {
        Test::NgxWs::Channels::http('POST', '/pub?channel=lobby',
                                    body => sprintf('%04d', $i) x 250,
                                    type => 'text/plain');
    }
}

# a handshake carrying every kind of secret
sub hs {
    my ($path, %o) = @_;
    return WsFrame::ws_handshake($path // $URI, %o, headers => [
        'Authorization: Bearer s3cr3t-auth',
        'Cookie: sid=s3cr3t-cookie',
        'Referer: https://app.example/page?access_token=s3cr3t-tok&x=y',
        @{ $o{headers} // [] } ]);
}

# the access log format of TESTs 17 to 19: every variable that holds the
# query or the referrer
our $LOG_FORMAT = 'log_format secrets \'request="$request" '
                  . 'request_uri="$request_uri" args="$args" '
                  . 'query_string="$query_string" referer="$http_referer" '
                  . 'status=$status\';';

# the line of a request to $URI with the secrets masked
sub access_masked {
    my ($status) = @_;
    my $q = 'room=lobby&token=\*\*\*&apiKey=\*\*\*&Sig=\*\*\*&n=1';
    my $re = qq{request="GET /ws\\?$q HTTP/1\\.1" request_uri="/ws\\?$q" }
             . qq{args="$q" query_string="$q" referer="https://app\\.example}
             . qq{/page\\?access_token=\\*\\*\\*&x=y" status=$status\$};
    return qr/$re/;
}

# the fields nginx's log handler writes, as ours writes them
sub fields {
    my ($uri) = @_;
    return 'client: 127\.0\.0\.1, server: localhost, request: "GET '
           . ($uri // $MASKED) . ' HTTP/1\.1", host: "localhost", '
           . 'referrer: "https://app\.example/page\?access_token=\*\*\*&x=y"';
}

add_block_preprocessor(sub {
    my $block = shift;

    my $no = $block->no_error_log // '';
    $block->set_value('no_error_log',
                      "s3cr3t-tok\ns3cr3t-key\ns3cr3t-sig\ns3cr3t-auth\n"
                      . "s3cr3t-cookie\n$no");

    $block->set_value('grep_error_log', 'ws security:')
        unless defined $block->grep_error_log;
});

run_tests();

__DATA__

=== TEST 1: a disallowed Origin: one line at error, masked, without headers
--- config
    location /ws { websocket; ws_echo on; ws_origins https://app.example; }
--- raw_request eval
main::hs(undef, origin => 'https://evil.example')
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log eval
qr/\[error\] .*ws security: client sent disallowed Origin "https:\/\/evil\.example", refused with 403, ${\ main::fields()}$/m
--- grep_error_log_out
ws security:



=== TEST 2: a method other than GET, 405
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
main::hs(undef, method => 'POST')
--- error_code: 405
--- response_body_like: 405 Not Allowed
--- error_log eval
qr/\[error\] .*ws security: client sent WebSocket handshake with method other than GET, refused with 405, client: 127\.0\.0\.1, server: localhost, request: "POST $main::MASKED HTTP\/1\.1"/
--- grep_error_log_out
ws security:



=== TEST 3: a bad key, 400
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
main::hs(undef, key => 'short')
--- error_code: 400
--- response_body_like: 400 Bad Request
--- error_log eval
qr/\[error\] .*ws security: client sent invalid Sec-WebSocket-Key header, refused with 400, ${\ main::fields()}$/m
--- grep_error_log_out
ws security:



=== TEST 4: no acceptable subprotocol, 400
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v1;
        ws_subprotocol_required on;
    }
--- raw_request eval
main::hs(undef, protocol => 'other')
--- error_code: 400
--- response_body_like: 400 Bad Request
--- error_log eval
qr/\[error\] .*ws security: client sent no acceptable subprotocol, refused with 400, ${\ main::fields()}$/m
--- grep_error_log_out
ws security:



=== TEST 5: ws_auth_request answers 403
--- config
    location /ws { websocket; ws_echo on; ws_auth_request /auth; }
    location = /auth { internal; return 403; }
--- raw_request eval
main::hs()
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log eval
qr/\[error\] .*ws security: ws auth request denied the upgrade, refused with 403, ${\ main::fields()}$/m
--- grep_error_log_out
ws security:



=== TEST 6: ws_auth_request answers 401
--- config
    location /ws { websocket; ws_echo on; ws_auth_request /auth; }
    location = /auth { internal; return 401; }
--- raw_request eval
main::hs()
--- error_code: 401
--- response_body_like: 401 Authorization Required
--- error_log eval
qr/\[error\] .*ws security: ws auth request asked for authentication, refused with 401, ${\ main::fields()}$/m
--- grep_error_log_out
ws security:



=== TEST 7: a failing auth service is an error even at ws_security_log_level info
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_auth_request /auth;
        ws_security_log_level info;
    }
    location = /auth { internal; return 418; }
--- raw_request eval
main::hs()
--- error_code: 500
--- response_body_like: 500 Internal Server Error
--- error_log eval
qr/\[error\] .*ws security: ws auth request unexpected status: 418, refused with 500, ${\ main::fields()}$/m
--- grep_error_log_out
ws security:



=== TEST 8: an invalid channel name, 400
--- http_config
    ws_zone chat 1m max_name=4;
--- config
    location /ws { websocket; ws_subscribe chat $arg_room; }
--- raw_request eval
main::hs()
--- error_code: 400
--- response_body_like: 400 Bad Request
--- error_log eval
qr/\[error\] .*ws security: invalid channel name, refused with 400, ${\ main::fields()}$/m
--- grep_error_log_out
ws security:



=== TEST 9: ws_security_log_level notice
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_security_log_level notice;
    }
--- raw_request eval
main::hs(undef, no_key => 1)
--- error_code: 400
--- response_body_like: 400 Bad Request
--- error_log eval
qr/\[notice\] .*ws security: client sent no Sec-WebSocket-Key header, refused with 400, ${\ main::fields()}$/m
--- grep_error_log_out
ws security:
--- no_error_log
[error]
[warn]



=== TEST 10: ws_security_log_level info, inherited from the server
--- config
    ws_security_log_level info;
    location /ws { websocket; ws_echo on; ws_origins https://app.example; }
--- raw_request eval
main::hs()
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log eval
qr/\[info\] .*ws security: client sent no Origin header, refused with 403, ${\ main::fields()}$/m
--- grep_error_log_out
ws security:
--- no_error_log
[error]



=== TEST 11: a frame over ws_max_frame_size: 1009, with the connection id
--- config
    location /ws { websocket; ws_echo on; ws_max_frame_size 100; }
--- raw_request eval
main::hs() . WsFrame::ws_text('x' x 101) . WsFrame::ws_text('x' x 101)
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf1"
--- error_log eval
qr/\[error\] .*ws security: client sent too large frame, closing with 1009 while processing WebSocket, ${\ main::fields()}, ws: [0-9a-f]{32}$/m
--- grep_error_log_out
ws security:



=== TEST 12: ws_limit_messages with ws_limit_action close: 1008, once
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=1r/s burst=1;
        ws_limit_action close;
    }
--- raw_request eval
main::hs() . CORE::join('', map { WsFrame::ws_text("m$_") } 1 .. 5)
--- error_code: 101
--- response_body eval
WsFrame::srv_text("m1") . WsFrame::srv_text("m2")
. "\x88\x0c\x03\xf0rate limit"
--- error_log eval
qr/\[error\] .*ws security: connection [0-9a-f]{32} exceeded ws_limit_messages, closing with 1008 while processing WebSocket, ${\ main::fields()}, ws: [0-9a-f]{32}$/m
--- grep_error_log_out
ws security:



=== TEST 13: a protocol error is not a security event: info, no "ws security"
--- config
    location /ws { websocket; ws_echo on; }
--- raw_request eval
main::hs() . WsFrame::frame(opcode => 1, payload => 'x', masked => 0)
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log eval
qr/\[info\] .*client sent unmasked frame, closing with 1002 while processing WebSocket, ${\ main::fields()}, ws: /
--- grep_error_log_out
--- no_error_log
[error]



=== TEST 14: nginx's own lines for the request are masked too (deny)
--- config
    location /ws { websocket; ws_echo on; deny all; }
--- raw_request eval
main::hs(undef, connection => 'Upgrade, close')
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log eval
qr/\[error\] .*access forbidden by rule, ${\ main::fields()}$/m
--- grep_error_log_out



=== TEST 15: nginx's own lines through ws_auth_request's upstream are masked
--- config
    location /ws { websocket; ws_echo on; ws_auth_request /auth; }
    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:1/check?api_key=s3cr3t-key;
    }
--- raw_request eval
main::hs()
--- error_code: 500
--- response_body_like: 500 Internal Server Error
--- error_log eval
qr/\[error\] .*connect\(\) failed .* while connecting to upstream, client: 127\.0\.0\.1, server: localhost, request: "GET $main::MASKED HTTP\/1\.1", subrequest: "\/auth", upstream: "http:\/\/127\.0\.0\.1:1\/check\?api_key=\*\*\*"/
--- grep_error_log_out
ws security:



=== TEST 16: a slow subscriber (its replay overflows ws_send_buffer): 1008
--- http_config
    ws_zone chat 1m history=100;
--- config
    location /ws {
        websocket;
        ws_subscribe chat $arg_room;
        ws_last_id 0;
        ws_send_buffer 4k;
    }
    location /pub { ws_publisher chat; }
--- init
main::history()
--- raw_request eval
main::hs()
--- error_code: 101
--- response_body_like: \x88\x02\x03\xf0\z
--- error_log eval
qr/\[error\] .*ws security: subscriber is too slow, ws: [0-9a-f]{32}, closing with 1008, ${\ main::fields()}$/m
--- grep_error_log_out
ws security:



=== TEST 17: the access log of an upgraded connection has the secrets masked
--- http_config eval
$main::LOG_FORMAT
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_frame_size 100;
        access_log logs/access.log secrets;
    }
--- raw_request eval
main::hs() . WsFrame::ws_text('x' x 101)
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf1"
--- error_log eval
qr/\[error\] .*ws security: client sent too large frame, closing with 1009 while processing WebSocket, ${\ main::fields()}, ws: [0-9a-f]{32}$/m
--- grep_error_log_out
ws security:
--- access_log eval
main::access_masked(101)
--- no_access_log
s3cr3t-tok
s3cr3t-key
s3cr3t-sig



=== TEST 18: the access log of a refused handshake has the secrets masked
--- http_config eval
$main::LOG_FORMAT
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://app.example;
        access_log logs/access.log secrets;
    }
--- raw_request eval
main::hs(undef, origin => 'https://evil.example')
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log eval
qr/\[error\] .*ws security: client sent disallowed Origin "https:\/\/evil\.example", refused with 403, ${\ main::fields()}$/m
--- grep_error_log_out
ws security:
--- access_log eval
main::access_masked(403)
--- no_access_log
s3cr3t-tok
s3cr3t-key
s3cr3t-sig



=== TEST 19: the default (combined) access log, with ws_auth_request and log_subrequest on
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_auth_request /auth;
        log_subrequest on;
    }
    location = /auth {
        internal;
        return 403;
    }
--- raw_request eval
main::hs()
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log eval
qr/\[error\] .*ws security: ws auth request denied the upgrade, refused with 403, ${\ main::fields()}$/m
--- grep_error_log_out
ws security:
--- access_log eval
qr{"GET /ws\?room=lobby&token=\*\*\*&apiKey=\*\*\*&Sig=\*\*\*&n=1 HTTP/1\.1" 403 .* "https://app\.example/page\?access_token=\*\*\*&x=y"}
--- no_access_log
s3cr3t-tok
s3cr3t-key
s3cr3t-sig
