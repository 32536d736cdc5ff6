# ws_origins: exact origins, ports, case, *.domain wildcards (subdomains at any
# depth, never the bare domain), scheme plus wildcard, "none", inheritance
# from the server and http levels, and the 403 with its info line.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;

repeat_each(1);

# five checks per block; the last block (must_die) has two
plan tests => repeat_each() * (blocks() * 5 - 3);

no_shuffle();
no_long_string();

# refusals were info lines: the tests keep that level (t/130 checks the
# default, error)
config_preamble('ws_security_log_level info;');
run_tests();

__DATA__

=== TEST 1: an exact origin is accepted
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://app.example.com')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 2: origins compare case-insensitively
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'HTTPS://App.Example.COM')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 3: an explicit default port matches an entry without a port
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://app.example.com:443')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 4: another port does not match an entry without a port
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://app.example.com:8443')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "https://app.example.com:8443"
--- no_error_log
[error]



=== TEST 5: another scheme does not match
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'http://app.example.com')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "http://app.example.com"
--- no_error_log
[error]



=== TEST 6: another host does not match
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://evil.example')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "https://evil.example"
--- no_error_log
[error]



=== TEST 7: a longer host does not match
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://app.example.com.evil.example')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "https://app.example.com.evil.example"
--- no_error_log
[error]



=== TEST 8: a subdomain does not match an exact origin
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://x.app.example.com')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "https://x.app.example.com"
--- no_error_log
[error]



=== TEST 9: the opaque origin "null" is refused
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'null')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "null"
--- no_error_log
[error]



=== TEST 10: an entry with a port matches that port
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins http://localhost:8080 https://app.example.com:8443;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'http://localhost:8080')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 11: the second entry of the list matches
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins http://localhost:8080 https://app.example.com:8443;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://APP.example.com:8443')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 12: an entry with a port does not match the default port
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins http://localhost:8080 https://app.example.com:8443;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'http://localhost')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "http://localhost"
--- no_error_log
[error]



=== TEST 13: an entry with a port does not match another port
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins http://localhost:8080 https://app.example.com:8443;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'http://LOCALHOST:8081')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "http://LOCALHOST:8081"
--- no_error_log
[error]



=== TEST 14: http default port 80 matches an http entry without a port
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins http://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'http://app.example.com:80')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 15: *.domain matches a subdomain
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins *.example.org;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://a.example.org')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 16: *.domain matches deeper subdomains, any scheme and port
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins *.example.org;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'http://a.b.c.example.org:8080')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 17: *.domain compares case-insensitively
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins *.example.org;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://WWW.Example.ORG')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 18: *.domain does not match the bare domain
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins *.example.org;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://example.org')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "https://example.org"
--- no_error_log
[error]



=== TEST 19: *.domain does not match a name that only ends the same
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins *.example.org;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://badexample.org')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "https://badexample.org"
--- no_error_log
[error]



=== TEST 20: *.domain does not match it inside another name
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins *.example.org;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://a.example.org.evil.com')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "https://a.example.org.evil.com"
--- no_error_log
[error]



=== TEST 21: a host entry without a scheme matches any scheme and port
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'http://app.example.com:8080')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 22: a host entry does not match its subdomains
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://x.app.example.com')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "https://x.app.example.com"
--- no_error_log
[error]



=== TEST 23: scheme and wildcard: a subdomain with that scheme
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://*.example.net;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://x.y.example.net')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 24: scheme and wildcard: another scheme
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://*.example.net;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'http://x.example.net')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "http://x.example.net"
--- no_error_log
[error]



=== TEST 25: scheme and wildcard: the bare domain
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://*.example.net;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://example.net')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "https://example.net"
--- no_error_log
[error]



=== TEST 26: no Origin header is refused without none
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent no Origin header
--- no_error_log
[error]



=== TEST 27: none accepts a handshake without Origin
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins none https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 28: none still accepts the listed origins
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins none https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://app.example.com')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 29: none does not accept other origins
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins none https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://evil.example')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "https://evil.example"
--- no_error_log
[error]



=== TEST 30: without ws_origins any origin is accepted
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://evil.example')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 31: ws_origins at server level applies to the location: allowed
--- config
    ws_origins https://app.example.com;

    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://app.example.com')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent



=== TEST 32: ws_origins at server level applies to the location: refused
--- config
    ws_origins https://app.example.com;

    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://evil.example')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "https://evil.example"
--- no_error_log
[error]



=== TEST 33: ws_origins at server level applies without Origin
--- config
    ws_origins https://app.example.com;

    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent no Origin header
--- no_error_log
[error]



=== TEST 34: ws_origins at http level applies to the location
--- http_config
    ws_origins https://app.example.com;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://evil.example')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "https://evil.example"
--- no_error_log
[error]



=== TEST 35: a location list replaces the server list
--- config
    ws_origins https://a.example.com;

    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://b.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://a.example.com')
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent disallowed Origin "https://a.example.com"
--- no_error_log
[error]



=== TEST 36: the location list applies
--- config
    ws_origins https://a.example.com;

    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://b.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://b.example.com')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_close(1000)
--- no_error_log
[error]
client sent




=== TEST 37: two Origin headers are refused, even if one is allowed
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://app.example.com;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', origin => 'https://app.example.com',
                      headers => ['Origin: https://evil.example'])
--- error_code: 403
--- response_headers
Connection: close
!Sec-WebSocket-Accept
--- error_log
client sent duplicate Origin header
--- no_error_log
[error]



=== TEST 38: an origin without a host is a configuration error
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_origins https://;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid origin "https:\/\/" in /
