# ws_message_auth_request: each message is allowed or refused by an
# internal location (a GET subrequest with the connection's kept identity,
# X-WS-Type, X-WS-Route and X-WS-Channel, never the payload).  A refusal
# is an error message or a close, and a warn line without the payload.
# Answers are remembered per connection (ws_message_auth_cache, denials
# too): the auth service, the app (t/backends/app.js, which logs every
# request it gets), sees one question for 1,000 messages.  X-WS-Revoke and
# X-WS-Identity-* reply headers and the connections API forget them.
# Messages keep their order while a question is out, one connection's
# refusal is not another's, and memory stays flat over many questions.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Channels ();
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

config_preamble('ws_security_log_level info;');

# the auth service's answer: by the kept identity, the message's type and
# its channel
add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'EOF_HTTP') unless $block->http_config;
    ws_zone chat 1m;

    map "$http_x_user:$http_x_ws_type:$http_x_ws_channel" $msgauth_status {
        default          200;
        "bob:secret:"    200;
        "mallory:chat:"  403;
        "~:secret:"      403;
        "~:admin:"       401;
        "~:lobby$"       403;
    }
EOF_HTTP

    $block->set_value('config', <<'EOF_CONFIG' . ($block->config // ''));
    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/auth;
    }

    location = /msgauth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/msgauth?status=$msgauth_status;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }

    location = /done {
        return 204;
    }
EOF_CONFIG
});

run_tests();


sub err {
    my ($e, $extra) = @_;
    return WsFrame::srv_text('{"type":"error","error":"' . $e . '"'
                             . ($extra // '') . '}');
}

sub client {
    my ($user) = @_;
    return Test::NgxWs::Client->new(
        path => '/ws', timeout => 3,
        headers => { Authorization => "Bearer $user" });
}

# one message, and the payload of the frame that comes back
sub ask {
    my ($c, $text) = @_;
    $c->send_text($text);
    my $f = $c->read_frame(3);
    return $f ? ($f->{opcode} == 8 ? "close $f->{code}" : $f->{payload})
              : 'nothing';
}

# TEST 4: 1,000 messages pipelined, echoed in order from one answer
sub thousand {
    my ($out, $back) = ('', '');

    for my $i (1 .. 1000) {
        my $m = qq({"type":"chat","n":$i});
        $out .= WsFrame::ws_text($m);
        $back .= WsFrame::srv_text($m);
    }

    my $c = client('alice');
    my $s = $c->socket;
    write_all($s, $out);
    my $got = read_exactly($s, length $back, IO::Select->new($s));
    $c->close;

    Test::More::ok($got eq $back,
                   '1,000 messages echoed in order ('
                   . length($got) . ' of ' . length($back) . ' bytes)');
}

# TEST 5: an answer is remembered for its time only, a denial not at all
# with deny=0
sub expiry {
    my $c = client('alice');
    my @r;

    push @r, ask($c, '{"type":"chat","n":1}');
    push @r, ask($c, '{"type":"chat","n":2}');
    push @r, ask($c, '{"type":"secret"}');
    push @r, ask($c, '{"type":"secret"}');
    Time::HiRes::sleep(0.6);
    push @r, ask($c, '{"type":"chat","n":3}');
    $c->close;

    Test::More::is(join("\n", @r), join("\n",
        '{"type":"chat","n":1}', '{"type":"chat","n":2}',
        '{"type":"error","error":"forbidden"}',
        '{"type":"error","error":"forbidden"}', '{"type":"chat","n":3}'),
        'allowed, remembered, refused twice, allowed again');
}

# TEST 6: an upstream event's reply revokes the answers, gives the
# identity a new value, closes with 1008
sub revoke_headers {
    my $c = client('alice');
    my @r;

    push @r, ask($c, '{"type":"chat","n":1}');
    push @r, ask($c, '{"type":"chat","n":2}');
    push @r, ask($c, '{"type":"revoke"}');
    push @r, ask($c, '{"type":"chat","n":3}');
    push @r, ask($c, '{"type":"ident"}');
    push @r, ask($c, '{"type":"chat","n":4}');
    push @r, ask($c, '{"type":"kick"}');
    $c->close;

    Test::More::is(join("\n", @r), join("\n",
        '{"type":"chat","n":1}', '{"type":"chat","n":2}', 'revoked',
        '{"type":"chat","n":3}', 'ident',
        '{"type":"error","error":"forbidden"}', 'close 1008'),
        'replies, then a refusal for the new identity, then the close');
}

# TEST 7: the connections API revokes one connection's answers; a refusal
# on one connection is not another's
sub revoke_api {
    my $a = client('alice');
    my $b = client('bob');
    my @r;

    my ($id) = ask($a, '{"type":"whoami"}') =~ /"id":"([0-9a-f]+)"/;
    push @r, ask($a, '{"type":"secret"}');
    push @r, ask($b, '{"type":"secret"}');
    push @r, ask($a, '{"type":"chat","n":1}');
    push @r, ask($a, '{"type":"chat","n":2}');

    my $h = Test::NgxWs::Channels::http('DELETE',
                                        "/conns?id=$id&auth=revoke");
    push @r, "$h->{status} $h->{body}";
    Time::HiRes::sleep(0.3);

    push @r, ask($a, '{"type":"chat","n":3}');
    push @r, ask($a, '{"type":"secret"}');
    push @r, ask($b, '{"type":"secret"}');
    $a->close;
    $b->close;

    Test::More::is(join("\n", @r), join("\n",
        '{"type":"error","error":"forbidden"}', '{"type":"secret"}',
        '{"type":"chat","n":1}', '{"type":"chat","n":2}',
        "202 {\"revoked\":true}\n",
        '{"type":"chat","n":3}', '{"type":"error","error":"forbidden"}',
        '{"type":"secret"}'),
        'bob is allowed what alice is refused; the API revocation has'
        . ' alice asked again');
}

# TEST 8: a question per message (no cache), allowed and refused: the
# fake requests and the messages' pools are freed
sub memory {
    my ($out, $back) = ('', '');

    for my $i (0 .. 49) {
        if ($i % 2) {
            $out .= WsFrame::ws_text(qq({"type":"chat","id":$i}));
            $back .= WsFrame::srv_text(qq({"type":"chat","id":$i}));
        } else {
            $out .= WsFrame::ws_text(qq({"type":"secret","id":"s$i"}));
            $back .= err('forbidden', qq(,"id":"s$i"));
        }
    }

    my $c = client('alice');
    my $s = $c->socket;

    my $bad = rounds($s, 40, $out, $back);
    my $rss1 = nginx_rss();

    $bad += rounds($s, 400, $out, $back);
    my $rss2 = nginx_rss();

    write_all($s, WsFrame::ws_close(1000));
    my $closed = read_exactly($s, 4, IO::Select->new($s));
    $c->close;

    Test::More::ok($bad == 0 && $closed eq "\x88\x02\x03\xe8",
                   "20,000 questions answered in order ($bad batches"
                   . ' different)');
    Test::More::cmp_ok($rss2 - $rss1, '<=', 1024,
                       'worker RSS after 20,000 more questions is within'
                       . ' 1 MiB of the RSS after 2,000');
    Test::More::diag(sprintf('worker VmRSS: %d KiB after 2000 questions,'
                             . ' %d KiB after 22000 (%+d KiB)',
                             $rss1, $rss2, $rss2 - $rss1));
}

__DATA__

=== TEST 1: allowed and refused by type, with the kept identity; a denial is remembered; error messages carry the correlation id; a warn line without the payload, info for a refusal from the cache
--- config
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_message_auth_request /msgauth;
        ws_route_correlation id;
        ws_route chat echo;
        ws_route secret echo;
        ws_route admin echo;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer alice'])
. WsFrame::ws_text('{"type":"chat","text":"hi"}')
. WsFrame::ws_text('{"type":"secret","id":"s1","text":"TOPSECRETPAYLOAD"}')
. WsFrame::ws_text('{"type":"chat","text":"again"}')
. WsFrame::ws_text('{"type":"secret","id":"s2"}')
. WsFrame::ws_text('{"type":"admin"}')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('{"type":"chat","text":"hi"}')
. main::err('forbidden', ',"id":"s1"')
. WsFrame::srv_text('{"type":"chat","text":"again"}')
. main::err('forbidden', ',"id":"s2"')
. main::err('unauthorized')
. WsFrame::srv_close(1000)
--- app_headers: X-WS-Type X-WS-Route X-WS-Channel X-WS-Message-Type X-User
--- app_log
GET /auth x-ws-type=- x-ws-route=- x-ws-channel=- x-ws-message-type=- x-user=-
GET /msgauth x-ws-type="chat" x-ws-route="chat" x-ws-channel=- x-ws-message-type="text" x-user="alice"
GET /msgauth x-ws-type="secret" x-ws-route="secret" x-ws-channel=- x-ws-message-type="text" x-user="alice"
GET /msgauth x-ws-type="admin" x-ws-route="admin" x-ws-channel=- x-ws-message-type="text" x-user="alice"
--- error_log eval
[qr/\[warn\] .*ws security: message refused by ws_message_auth_request, route "secret", type "secret", status 403/,
 qr/\[info\] .*ws security: message refused by ws_message_auth_request, route "secret", type "secret", status 403/,
 qr/\[warn\] .*ws security: message refused by ws_message_auth_request, route "admin", type "admin", status 401/]
--- no_error_log
TOPSECRETPAYLOAD
[error]



=== TEST 2: ws_message_auth_error close: a refused message closes with 1008, nothing after it is read; the channel of a publish route is asked about
--- config
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_subscribe chat room;
        ws_message_auth_request /msgauth;
        ws_message_auth_error close;
        ws_route chat publish chat room;
        ws_route secret echo;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer alice'])
. WsFrame::ws_text('{"type":"chat","n":1}')
. WsFrame::ws_text('{"type":"secret"}')
. WsFrame::ws_text('{"type":"chat","n":2}')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('{"type":"chat","n":1}') . WsFrame::srv_close(1008)
--- app_headers: X-WS-Type X-WS-Channel
--- app_log
GET /auth x-ws-type=- x-ws-channel=-
GET /msgauth x-ws-type="chat" x-ws-channel="room"
GET /msgauth x-ws-type="secret" x-ws-channel=-
--- error_log
status 403
--- no_error_log
[error]



=== TEST 3: ws_message_auth_error close with a code of one's own; a location without ws_route asks by its ws_publish channel
--- config
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_publish chat $arg_room;
        ws_message_auth_request /msgauth;
        ws_message_auth_error close 4003;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws?room=lobby', headers => ['Authorization: Bearer alice'])
. WsFrame::ws_text('hello')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(4003)
--- app_headers: X-WS-Type X-WS-Route X-WS-Channel
--- app_log
GET /auth x-ws-type=- x-ws-route=- x-ws-channel=-
GET /msgauth x-ws-type=- x-ws-route=- x-ws-channel="lobby"
--- error_log
route "", type "", status 403
--- no_error_log
[error]



=== TEST 4: 1,000 messages, one question: the answer is remembered, the messages keep their order, ws_status counts
--- config
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_message_auth_request /msgauth;
        ws_route chat echo;
    }
    location /status {
        ws_status;
    }
--- init
main::thousand();
--- init_tests: 1
--- request
GET /status?format=json
--- response_body_like: "message_auth":\{"requests":1,"cached":999,"denied":0\}
--- app_log
GET /auth
GET /msgauth
--- no_error_log
[error]



=== TEST 5: ws_message_auth_cache 300ms deny=0: the answer expires, a denial is asked again
--- config
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_message_auth_request /msgauth;
        ws_message_auth_cache 300ms deny=0;
        ws_route chat echo;
        ws_route secret echo;
    }
--- init
main::expiry();
--- init_tests: 1
--- request
GET /done
--- error_code: 204
--- app_headers: X-WS-Type
--- app_log
GET /auth x-ws-type=-
GET /msgauth x-ws-type="chat"
GET /msgauth x-ws-type="secret"
GET /msgauth x-ws-type="secret"
GET /msgauth x-ws-type="chat"
--- no_error_log
[error]



=== TEST 6: X-WS-Revoke forgets the answers, X-WS-Identity-X-User gives the identity a new value, X-WS-Revoke: close closes with 1008
--- config
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_message_auth_request /msgauth;
        ws_route chat echo;
        ws_route revoke pass /app/revoke?hdr=X-WS-Revoke:1&body=revoked;
        ws_route ident pass /app/ident?hdr=X-WS-Identity-X-User:mallory&body=ident;
        ws_route kick pass /app/kick?hdr=X-WS-Revoke:close;
    }
--- init
main::revoke_headers();
--- init_tests: 1
--- request
GET /done
--- error_code: 204
--- app_headers: X-WS-Type X-User
--- app_log
GET /auth x-ws-type=- x-user=-
GET /msgauth x-ws-type="chat" x-user="alice"
GET /msgauth x-ws-type="revoke" x-user="alice"
/app/revoke message #1 seq=1 text "{\x22type\x22:\x22revoke\x22}" x-ws-type=- x-user="alice"
GET /msgauth x-ws-type="chat" x-user="alice"
GET /msgauth x-ws-type="ident" x-user="alice"
/app/ident message #1 seq=2 text "{\x22type\x22:\x22ident\x22}" x-ws-type=- x-user="alice"
GET /msgauth x-ws-type="chat" x-user="mallory"
GET /msgauth x-ws-type="kick" x-user="mallory"
/app/kick message #1 seq=3 text "{\x22type\x22:\x22kick\x22}" x-ws-type=- x-user="alice"
--- error_log
ws message auth answers revoked, closing with 1008
--- no_error_log
[error]



=== TEST 7: DELETE /conns?id=&auth=revoke forgets one connection's answers; one connection's refusal is not another's
--- config
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_push chat;
        ws_message_auth_request /msgauth;
        ws_route chat echo;
        ws_route secret echo;
        ws_route whoami reply '{"id":"$ws_connection_id"}';
    }
    location /conns {
        ws_connections chat;
    }
--- init
main::revoke_api();
--- init_tests: 1
--- request
GET /done
--- error_code: 204
--- app_headers: X-WS-Type X-User
--- app_log
GET /auth x-ws-type=- x-user=-
GET /auth x-ws-type=- x-user=-
GET /msgauth x-ws-type="whoami" x-user="alice"
GET /msgauth x-ws-type="secret" x-user="alice"
GET /msgauth x-ws-type="secret" x-user="bob"
GET /msgauth x-ws-type="chat" x-user="alice"
GET /msgauth x-ws-type="chat" x-user="alice"
GET /msgauth x-ws-type="secret" x-user="alice"
--- no_error_log
[error]



=== TEST 8: memory stays flat over 22,000 questions, allowed and refused, without a cache
--- config
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_message_auth_request /msgauth-local;
        ws_message_auth_cache 0;
        ws_route_correlation id;
        ws_route chat echo;
        ws_route secret echo;
    }
    location = /msgauth-local {
        internal;
        if ($http_x_ws_type = secret) {
            return 403;
        }
        return 204;
    }
--- init
main::memory();
--- init_tests: 2
--- request
GET /done
--- error_code: 204
--- no_error_log
[error]
[alert]



=== TEST 9: an auth service that cannot be reached refuses the message as auth_failed, with an error line, and is not remembered
--- config
    location /ws {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_message_auth_request /msgauth-down;
        ws_route chat echo;
    }
    location = /msgauth-down {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DOWN_PORT;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', headers => ['Authorization: Bearer alice'])
. WsFrame::ws_text('{"type":"chat","n":1}')
. WsFrame::ws_text('{"type":"chat","n":2}')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
main::err('auth_failed') . main::err('auth_failed') . WsFrame::srv_close(1000)
--- grep_error_log eval: qr/ws message auth answered \d+, the message is refused/
--- grep_error_log_out
ws message auth answered 502, the message is refused
ws message auth answered 502, the message is refused
--- no_error_log
[alert]
