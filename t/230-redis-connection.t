# Redis connections of a ws_zone (redis=): the configuration, and the
# connection each worker keeps to the server, made on nginx's event loop.
# Redis servers (Debian's redis-server) are started by the test on ports
# next to nginx's and stopped by PID:
#   TEST_NGINX_REDIS_PORT       (server port + 5) up all along, with a
#                               password ("secret")
#   TEST_NGINX_REDIS_DOWN_PORT  (any free port) bound, never listening:
#                               refused
#   TEST_NGINX_REDIS_LATE_PORT  (+ 7) started by TEST 7 once nginx runs
#   TEST_NGINX_REDIS_AGAIN_PORT (+ 8) killed and started again by TEST 8

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Redis ();

use IO::Socket::INET ();

$ENV{TEST_NGINX_REDIS_PORT} //= server_port() + 5;
$ENV{TEST_NGINX_REDIS_LATE_PORT} //= server_port() + 7;
$ENV{TEST_NGINX_REDIS_AGAIN_PORT} //= server_port() + 8;

# a port of the kernel's choice, bound and never listening: nginx's
# connect() there is refused (a fixed port may be taken by some
# connection's ephemeral port)
our $Down = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp')
    or die "cannot bind a port: $!";
$ENV{TEST_NGINX_REDIS_DOWN_PORT} //= $Down->sockport;

Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT},
                          '--requirepass', 'secret');

repeat_each(1);

# per block: must_die blocks 2, TEST 4, 5, 7: 5, TEST 6: 3, TEST 8: 4
plan tests => repeat_each() * (2 * 3 + 5 + 5 + 3 + 5 + 4);

no_shuffle();
no_long_string();

run_tests();

__DATA__

=== TEST 1: redis= with a bad address fails nginx -t
--- http_config
    ws_zone chat 1m redis=127.0.0.1:99999;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid port in redis="127\.0\.0\.1:99999"/



=== TEST 2: an unknown redis_ parameter fails nginx -t
--- http_config
    ws_zone chat 1m redis=127.0.0.1 redis_pasword=x;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "redis_pasword=x"/



=== TEST 3: redis_* without redis= fails nginx -t
--- http_config
    ws_zone chat 1m redis_password=secret redis_timeout=1s;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*ws_zone "chat": redis_\* parameters need redis=/



=== TEST 4: the worker connects, authenticates and selects the database
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_PORT
                    redis_password=secret redis_db=3
                    redis_connect_timeout=5s redis_timeout=5s;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('hi') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hi') . WsFrame::srv_close(1000)
--- wait: 0.5
--- error_log eval
qr/\[info\] .*redis "127\.0\.0\.1:\d+" connected/
--- no_error_log
[warn]
[error]



=== TEST 5: a wrong password: Redis's refusal in the log, nothing else breaks
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_PORT
                    redis_password=wrong;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('hi') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hi') . WsFrame::srv_close(1000)
--- wait: 0.5
--- error_log eval
qr/\[error\] .*redis "127\.0\.0\.1:\d+": AUTH refused: WRONGPASS/
--- no_error_log
[alert]
[crit]



=== TEST 6: Redis down at start: nginx serves, retries, warns once
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_DOWN_PORT;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('hi') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hi') . WsFrame::srv_close(1000)
--- wait: 1
--- grep_error_log eval
qr/redis "[^"]+" (?:still )?unavailable: [^;,\n]+/
--- grep_error_log_out eval
qr/\Aredis "127\.0\.0\.1:\d+" unavailable: Connection refused\n(?:redis "127\.0\.0\.1:\d+" still unavailable: Connection refused\n){2,}\z/



=== TEST 7: Redis started after nginx: the worker connects when it comes
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_LATE_PORT;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- init
Test::NgxWs::Redis::start_later($ENV{TEST_NGINX_REDIS_LATE_PORT}, 0.5);
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('hi') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hi') . WsFrame::srv_close(1000)
--- wait: 2
--- error_log eval
[qr/\[warn\] .*redis "127\.0\.0\.1:\d+" unavailable: Connection refused/,
 qr/\[notice\] .*redis "127\.0\.0\.1:\d+" connected again after \d+ attempts/]
--- no_error_log
[alert]



=== TEST 8: Redis killed and started again: the connection is lost, then made again
--- http_config
    ws_zone chat 1m redis=127.0.0.1:$TEST_NGINX_REDIS_AGAIN_PORT;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- init
my $pid = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_AGAIN_PORT});
Test::NgxWs::Redis::restart_later($pid, $ENV{TEST_NGINX_REDIS_AGAIN_PORT},
                                  0.5, 0.3);
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('hi') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hi') . WsFrame::srv_close(1000)
--- wait: 2.5
--- grep_error_log eval
qr/unavailable: connection lost|connected again/
--- grep_error_log_out eval
qr/\A(?:connected again\n)?unavailable: connection lost\nconnected again\n\z/
--- no_error_log
[alert]
