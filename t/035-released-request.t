# The request of an upgraded connection is released after the upgrade when
# nothing reads it later (docs/operations.md, "Memory"): the access log at
# the close is written from a request made again from the handshake's
# bytes, and the connection's error log lines carry the same fields as
# before.  Each block waits (raw_request_middle_delay) between the
# handshake and the frames, so that the request is released first (t/032
# measures that it is: ~1.8 KB per idle connection, not ~8.8 KB).
#
# TEST 1: the variables of the log line, read at the close, as they were:
# $request, $status, sizes, times, headers, the URI, $ws_*, and the values
# cached before the release ($request_id through "set").
# TEST 2: a rewritten URI is logged as such.
# TEST 3: an error line after the release has the request's fields and the
# id, with the secrets of the query and the referrer masked; so has the
# access log.
# TEST 4: stub_status still counts the connection as "Writing", and no
# more once it is closed.
# TEST 5: a location with limit_conn keeps its request (its count is
# released when the request goes): a second connection is still refused.
# TEST 6: ws_auth_request's header and the ws_presence identity, copied at
# the release, are still there at the close.
# TEST 7: header lines ended by a bare LF, one of them without a colon,
# are logged as nginx took them (no line joined to the next, none lost).
# TEST 8: a URI that the server the connection came to accepted
# (merge_slashes off) but the virtual server chosen by Host would refuse
# (merge_slashes on): the access line at the close has it as it was
# resolved, and nothing is checked again (a 400 there, with an error_page,
# once ran on the WebSocket's connection).
# TEST 9: an "alias" location: $request_filename is the aliased file, and
# an access_log path with variables writes the line (both need the
# request's valid_location, which nginx checks before it maps a URI to a
# file: without it, an alert and no line); $limit_req_status and $pipe as
# on the request.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Channels ();
use Test::NgxWs::Client ();
use Test::Nginx::Socket;

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

repeat_each(1);

plan tests => repeat_each() * (5 + 5 + 5 + 5 + 3 + 4 + 5 + 5 + 5);

no_shuffle();
no_long_string();
log_level('info');

# stub_status's "Writing" with an idle WebSocket open, then closed
sub writing {
    my $ws = Test::NgxWs::Client->new(path => '/ws', timeout => 10);
    Time::HiRes::sleep(0.5);
    my $open = status_writing();

    $ws->close;
    my $closed;

    for (1 .. 50) {
        $closed = status_writing();
        last if defined $closed && $closed == 1;
        Time::HiRes::sleep(0.1);
    }

    # the status request itself is one
    Test::More::is($open, 2, 'an idle WebSocket counts as writing');
    Test::More::is($closed, 1, 'and no more once closed');
}

sub status_writing {
    my $res = Test::NgxWs::Channels::http('GET', '/status');
    return $res->{body} =~ /Writing: (\d+)/ ? $1 : undef;
}

# limit_conn 1: a second WebSocket while the first is idle
sub limited {
    my $first = Test::NgxWs::Client->new(path => '/ws', timeout => 10);
    Time::HiRes::sleep(0.5);
    my $second = Test::NgxWs::Client->new(path => '/ws', timeout => 10,
                                          check => 0);
    my $status = $second->status;
    $first->close;
    $second->close;

    Test::More::is($status, 503, 'limit_conn still counts the first');
}

run_tests();

__DATA__

=== TEST 1: the access log at the close, from the request made again
--- http_config
    log_format probe 'probe "$request" status=$status len=$request_length'
                     ' body=$body_bytes_sent sent=$bytes_sent uri=$uri'
                     ' args=$args ru=$request_uri host=$host'
                     ' hh=$http_host'
                     ' ua=$http_user_agent x=$http_x_probe'
                     ' up=$sent_http_upgrade proto=$ws_subprotocol'
                     ' in=$ws_messages_in code=$ws_close_code'
                     ' rt=$request_time rid=$rid id=$request_id'
                     ' cr=$connection_requests';
--- config
    location /ws {
        set $rid $request_id;

        websocket;
        ws_echo on;
        ws_subprotocols chat;
        access_log logs/access.log probe;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws?a=1&b=two', host => 'Probe.Example:8080',
                       protocol => 'chat',
                       headers => ['X-Probe: value-1234',
                                   'User-Agent: probe-agent/1.0']),
 WsFrame::ws_text('hello') . WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.5
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hello') . "\x88\x02\x03\xe8"
--- access_log eval
qr{^probe "GET /ws\?a=1&b=two HTTP/1\.1" status=101 len=2\d\d body=\d+ sent=\d+ uri=/ws args=a=1&b=two ru=/ws\?a=1&b=two host=probe\.example hh=Probe\.Example:8080 ua=probe-agent/1\.0 x=value-1234 up=websocket proto=chat in=1 code=1000 rt=0\.[5-9]\d\d rid=([0-9a-f]{32}) id=\1 cr=1$}m
--- no_error_log
[error]
[alert]



=== TEST 2: a URI rewritten before the upgrade is logged as rewritten
--- http_config
    log_format probe 'probe "$request" uri=$uri args=$args in=$ws_messages_in';
--- config
    location /old {
        rewrite ^ /ws?moved=1 last;
    }

    location /ws {
        websocket;
        ws_echo on;
        access_log logs/access.log probe;
    }
--- raw_request eval
[WsFrame::ws_handshake('/old'),
 WsFrame::ws_text('hello') . WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.5
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hello') . "\x88\x02\x03\xe8"
--- access_log eval
qr{^probe "GET /old HTTP/1\.1" uri=/ws args=moved=1 in=1$}m
--- no_error_log
[error]
[alert]



=== TEST 3: an error line after the release: the request's fields, masked, and the id
--- http_config
    log_format secrets 'secrets "$request" ref=$http_referer status=$status';
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_max_frame_size 100;
        access_log logs/access.log secrets;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws?room=1&token=s3cr3t-tok', headers => [
     'Referer: https://app.example/page?access_token=s3cr3t-ref&x=y']),
 WsFrame::ws_text('x' x 101)]
--- raw_request_middle_delay: 0.5
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf1"
--- error_log eval
qr{\[error\] .*ws security: client sent too large frame, closing with 1009 while processing WebSocket, client: 127\.0\.0\.1, server: localhost, request: "GET /ws\?room=1&token=\*\*\* HTTP/1\.1", host: "localhost", referrer: "https://app\.example/page\?access_token=\*\*\*&x=y", ws: [0-9a-f]{32}$}m
--- access_log eval
qr{^secrets "GET /ws\?room=1&token=\*\*\* HTTP/1\.1" ref=https://app\.example/page\?access_token=\*\*\*&x=y status=101$}m
--- no_error_log
s3cr3t



=== TEST 4: stub_status counts an idle WebSocket as writing until its close
--- config
    location /ws {
        websocket;
        ws_echo on;
    }

    location = /status {
        stub_status;
    }
--- init
main::writing();
--- request
GET /status
--- response_body_like: Writing: 1
--- no_error_log
[error]



=== TEST 5: limit_conn keeps the request, and its count, until the close
--- http_config
    limit_conn_zone $binary_remote_addr zone=per_ip:1m;
--- config
    location /ws {
        limit_conn per_ip 1;
        websocket;
        ws_echo on;
    }
--- init
main::limited();
--- request
GET /ws
--- error_code: 426
--- no_error_log
[alert]



=== TEST 6: the auth subrequest's header and the presence identity at the close
--- http_config
    log_format auth 'auth "$request" user=$ws_auth_x_user in=$ws_messages_in';
    ws_zone chat 1m;
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_subscribe chat lobby;
        ws_presence $ws_auth_x_user;
        access_log logs/access.log auth;
    }

    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/check;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
    }

    location = /check {
        add_header X-User alice-1234;
        return 204;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws'),
 WsFrame::ws_text('hello') . WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.5
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hello') . "\x88\x02\x03\xe8"
--- access_log eval
qr{^auth "GET /ws HTTP/1\.1" user=alice-1234 in=1$}m
--- no_error_log
[error]



=== TEST 7: header lines ended by a bare LF, one without a colon
--- http_config
    log_format probe 'probe "$request" xa=$http_x_a xb=$http_x_b'
                     ' xc=[$http_x_c] in=$ws_messages_in';
--- config
    location /ws {
        websocket;
        ws_echo on;
        access_log logs/access.log probe;
    }
--- raw_request eval
my $h = WsFrame::ws_handshake('/ws', headers => ['X-C', 'X-B: ccc',
                                                 'X-A: bbb']);
$h =~ s/X-C\r\n/X-C\n/ or die;
$h =~ s/X-A: bbb\r\n/X-A: bbb\n/ or die;
[$h, WsFrame::ws_text('hello') . WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.5
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hello') . "\x88\x02\x03\xe8"
--- access_log eval
qr{^probe "GET /ws HTTP/1\.1" xa=bbb xb=ccc xc=\[\] in=1$}m
--- no_error_log
[error]
[alert]



=== TEST 8: a URI the first server accepted and the virtual server would refuse
--- http_config
    log_format probe 'probe "$request" uri=$uri ru=$request_uri host=$host'
                     ' in=$ws_messages_in';

    server {
        listen $TEST_NGINX_SERVER_PORT default_server;
        server_name first.test;
        merge_slashes off;
    }

    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name ws.test;

        error_page 400 /bad;

        location /ws {
            websocket;
            ws_echo on;
            access_log logs/access.log probe;
        }

        location = /bad {
            return 418;
        }
    }
--- config
--- raw_request eval
[WsFrame::ws_handshake('//../ws', host => 'ws.test'),
 WsFrame::ws_text('hello') . WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.5
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hello') . "\x88\x02\x03\xe8"
--- access_log eval
qr{^probe "GET //\.\./ws HTTP/1\.1" uri=/ws ru=//\.\./ws host=ws\.test in=1$}m
--- no_error_log
[error]
[alert]



=== TEST 9: an alias location: $request_filename, a log path with variables, the request's flags
--- http_config
    limit_req_zone $binary_remote_addr zone=one:1m rate=100r/s;
    log_format probe 'probe fn=$request_filename pipe=$pipe'
                     ' lr=$limit_req_status in=$ws_messages_in';
--- config
    location /ws/ {
        alias html/sock/;
        limit_req zone=one burst=5;

        websocket;
        ws_echo on;
        access_log logs/access$arg_none.log probe;
    }
--- user_files
>>> sock/chat
--- raw_request eval
[WsFrame::ws_handshake('/ws/chat'),
 WsFrame::ws_text('hello') . WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.5
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hello') . "\x88\x02\x03\xe8"
--- access_log eval
qr{^probe fn=/\S+/html/sock/chat pipe=\. lr=PASSED in=1$}m
--- no_error_log
[error]
[alert]
