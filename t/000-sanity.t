# The module loads, a websocket location upgrades and echoes, the locations
# around it keep working, configuration mistakes stop nginx, and the
# multi-step client helper (Test::NgxWs::Client) works against the module.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Client ();
use Test::Nginx::Socket;

# Perl-level checks made by the --- init sections of TEST 16 and TEST 17;
# --- init runs once per block, not once per repetition.
use constant CLIENT_TESTS => 24;
use constant TIMER_TESTS => 9;

repeat_each(1);

# per repetition: TEST 1 checks 6 things, TEST 2-4 three each, the 11
# must_die blocks two each (exit status, emerg line), TEST 16-17 four each
plan tests => repeat_each() * (6 + 3 * 3 + 11 * 2 + 4 + 4)
              + CLIENT_TESTS + TIMER_TESTS;

no_shuffle();
no_long_string();

# refusals were info lines: the tests keep that level (t/130 checks the
# default, error)
config_preamble('ws_security_log_level info;');

# A multi-step exchange with Test::NgxWs::Client: CLIENT_TESTS checks.
sub client_exchange {
    my %c = (port => $ENV{TEST_NGINX_SERVER_PORT}, timeout => 2);

    my $ws = Test::NgxWs::Client->new(%c, path => '/ws');

    Test::More::is($ws->status, 101, 'client: status 101');
    Test::More::is($ws->header('Sec-WebSocket-Accept'),
                   WsFrame::ws_accept($ws->key), 'client: accept value');
    Test::More::is($ws->leftover, '', 'client: no bytes after the 101');
    Test::More::is($ws->subprotocol, undef, 'client: no subprotocol');

    $ws->send_text('one');
    Test::More::is_deeply($ws->read_frame,
        { fin => 1, rsv => 0, opcode => 1, masked => 0, payload => 'one',
          length => 3 },
        'client: text echoed in an unmasked frame');

    $ws->send_ping('p1');
    my $f = $ws->read_frame;
    Test::More::is_deeply([ $f->{opcode}, $f->{payload} ], [ 10, 'p1' ],
                          'client: pong with the ping payload');

    # a fragmented message with a ping between the fragments
    $ws->send_text('ab', fin => 0);
    $ws->send_ping('mid');
    $ws->send_cont('cd');
    $ws->send_binary("\x00\xff");

    my @f = $ws->read(all => [ { opcode => 2 }, { opcode => 1 } ]);
    Test::More::is_deeply([ map { [ $_->{opcode}, $_->{payload} ] } @f ],
                          [ [ 10, 'mid' ], [ 1, 'abcd' ], [ 2, "\x00\xff" ] ],
                          'client: read(all => ...) gets pong, text, binary');

    # a second connection at the same time
    my $ws2 = Test::NgxWs::Client->new(%c, path => '/ws');

    $ws2->send_text('two');
    $ws->send_text('three');
    Test::More::is($ws2->read_frame->{payload}, 'two',
                   'client: second connection echoed');
    Test::More::is($ws->read_frame->{payload}, 'three',
                   'client: first connection echoed');

    # send_frame with positional arguments: an unmasked frame gets Close 1002
    Test::More::ok($ws2->send_frame(1, 0, 1, 'bad', 0),
                   'client: unmasked frame written');
    my ($code, $reason) = $ws2->wait_close;
    Test::More::is_deeply([ $code, $reason ], [ 1002, '' ],
                          'client: wait_close gives 1002');
    Test::More::is($ws2->close_frame->{payload}, "\x03\xea",
                   'client: close frame payload is the code only');
    Test::More::ok($ws2->wait_eof(1), 'client: server closed TCP');
    Test::More::ok($ws2->is_closed, 'client: is_closed after EOF');

    # the first connection saw nothing of that and is still open
    my @none = $ws->read(timeout => 0.2);
    Test::More::is(scalar @none, 0, 'client: read with a timeout, no frames');
    Test::More::ok(!$ws->is_closed, 'client: first connection still open');

    $ws->send_close(1000, 'bye');
    Test::More::is_deeply([ $ws->wait_close ], [ 1000, '' ],
                          'client: close 1000 answered with 1000');
    Test::More::ok($ws->wait_eof(1), 'client: TCP closed after the close');

    # a refused handshake, inspected with check => 0
    my $r = Test::NgxWs::Client->new(%c, path => '/ws', method => 'POST',
                                     check => 0);
    Test::More::is($r->status, 405, 'client: POST refused with 405');
    Test::More::is($r->header('Allow'), 'GET', 'client: Allow header');
    Test::More::like($r->error, qr/^status 405, not 101/,
                     'client: error says why');
    Test::More::ok($r->wait_eof(1), 'client: no keep-alive after refusal');

    # by default a refused handshake croaks
    eval { Test::NgxWs::Client->new(%c, path => '/plain') };
    Test::More::like($@, qr/handshake failed: status 200, not 101/,
                     'client: croaks on a non-101 answer');

    # the handshake and a frame in one write: the echo may come in the
    # same packet as the 101, so it may be in leftover
    my $p = Test::NgxWs::Client->new(%c, path => '/ws',
                                     extra => WsFrame::ws_text('early'));
    Test::More::is($p->read_frame->{payload}, 'early',
                   'client: frame sent with the handshake echoed');
}

run_tests();

__DATA__

=== TEST 1: websocket location upgrades and echoes a text message
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("hello") . WsFrame::ws_close(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Connection: upgrade
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body eval
WsFrame::srv_text("hello") . WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 2: binary message echoed as binary, bytes unchanged
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_binary("\x00\x01\x80\xfe\xff")
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_binary("\x00\x01\x80\xfe\xff") . WsFrame::srv_close(1000)
--- no_error_log
[error]



=== TEST 3: several messages echoed in order: empty text, 16-bit length binary, UTF-8 text
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text("")
. WsFrame::ws_binary("b" x 300) . WsFrame::ws_text("h\xc3\xa9llo \xe2\x82\xac")
. WsFrame::ws_close(1001)
--- error_code: 101
--- response_body eval
WsFrame::srv_text("") . WsFrame::srv_binary("b" x 300)
. WsFrame::srv_text("h\xc3\xa9llo \xe2\x82\xac") . WsFrame::srv_close(1001)
--- no_error_log
[error]



=== TEST 4: a plain location next to a websocket one serves normally
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
    location = /plain {
        return 200 "plain\n";
    }
--- request
GET /plain
--- response_body
plain
--- no_error_log
[error]



=== TEST 5: websocket at server level is refused
--- config
    websocket;
--- must_die
--- error_log eval
qr/\[emerg\] .*"websocket" directive is not allowed here in /



=== TEST 6: websocket at http level is refused
--- http_config
    websocket;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"websocket" directive is not allowed here in /



=== TEST 7: websocket takes no arguments
--- config
    location /ws {
        websocket on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid number of arguments in "websocket" directive in /



=== TEST 8: unknown ws_ directive
--- config
    location /ws {
        websocket;
        ws_echoes on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown directive "ws_echoes" in /



=== TEST 9: ws_echo takes only on or off
--- config
    location /ws {
        websocket;
        ws_echo maybe;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "maybe" in "ws_echo" directive, it must be "on" or "off" in /



=== TEST 10: ws_max_message_size needs a size
--- config
    location /ws {
        websocket;
        ws_max_message_size 1q;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"ws_max_message_size" directive invalid value in /



=== TEST 11: ws_close_timeout needs a time
--- config
    location /ws {
        websocket;
        ws_close_timeout soon;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"ws_close_timeout" directive invalid value in /



=== TEST 12: ws_subprotocol_required needs an argument
--- config
    location /ws {
        websocket;
        ws_subprotocol_required;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid number of arguments in "ws_subprotocol_required" directive in /



=== TEST 13: websocket twice in a location
--- config
    location /ws {
        websocket;
        websocket;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"websocket" directive is duplicate in /



=== TEST 14: ws_echo twice in a location
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_echo off;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"ws_echo" directive is duplicate in /



=== TEST 15: ws_subprotocols twice in a location
--- config
    location /ws {
        websocket;
        ws_subprotocols a;
        ws_subprotocols b;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"ws_subprotocols" directive is duplicate in /



=== TEST 16: client helper: echo, ping, fragments, two connections, refusals
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
    location = /plain {
        return 200 "plain\n";
    }
--- init
main::client_exchange();
--- request
GET /plain
--- response_body
plain
--- error_log
client sent unmasked frame, closing with 1002
--- no_error_log
[error]



=== TEST 17: client helper: answer a server ping, wait for a server close
--- config
    location /ping {
        websocket;
        ws_echo on;
        ws_ping_interval 200ms;
        ws_pong_timeout 1s;
    }
    location /idle {
        websocket;
        ws_ping_interval 0;
        ws_idle_timeout 300ms;
    }
    location = /plain {
        return 200 "plain\n";
    }
--- init
my %c = (port => $ENV{TEST_NGINX_SERVER_PORT}, timeout => 2);

my $ws = Test::NgxWs::Client->new(%c, path => '/ping');
my $f = $ws->read_frame(2);
Test::More::is_deeply([ $f->{opcode}, $f->{payload} ], [ 9, '' ],
                      'timers: server sent an empty ping');
Test::More::ok($ws->send_pong($f->{payload}), 'timers: pong sent');
$ws->send_text('still here');
Test::More::is($ws->read_frame->{payload}, 'still here',
               'timers: connection alive after the pong');
$ws->send_close;
Test::More::is_deeply([ $ws->wait_close ], [ 1005, '' ],
                      'timers: empty close answered with an empty close');
Test::More::is($ws->close_frame->{length}, 0, 'timers: close payload empty');
Test::More::ok($ws->wait_eof(1), 'timers: TCP closed');

my $idle = Test::NgxWs::Client->new(%c, path => '/idle');
Test::More::is_deeply([ $idle->wait_close(2) ], [ 1000, 'idle timeout' ],
                      'timers: idle timeout close with reason');
Test::More::ok($idle->send_close(1000), 'timers: close answered');
Test::More::ok($idle->wait_eof(2), 'timers: TCP closed after the handshake');
--- request
GET /plain
--- response_body
plain
--- error_log
idle timeout, closing with 1000
--- no_error_log
[error]
