# Ping and Pong (RFC 6455 section 5.5.2, 5.5.3): a Ping is answered with a
# Pong carrying the same payload, in order with the other frames; Pongs are
# ignored.  The server's heartbeat (ws_ping_interval, ws_pong_timeout): an
# empty Ping after a silent interval, Close 1001 when nothing comes back, and
# a connection that answers stays open.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Client ();
use Test::Nginx::Socket;

use POSIX ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

repeat_each(1);

plan tests => repeat_each() * (blocks() * 4);

no_shuffle();
no_long_string();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /ws {
        websocket;
        ws_echo on;
    }
_EOC_
});

run_tests();


# Clients that answer every Ping at once, for $secs seconds, in parallel
# (TEST 14): the Pong often arrives within the millisecond the Ping left.
sub prompt_pongs {
    my ($clients, $secs) = @_;
    my @pids;

    for (1 .. $clients) {
        my $pid = fork // die "fork: $!";

        if ($pid == 0) {
            my $ws = Test::NgxWs::Client->new(path => '/ws', timeout => 2);
            my $end = Time::HiRes::time() + $secs;

            while (Time::HiRes::time() < $end) {
                my $f = $ws->read_frame(1) or last;
                last if $f->{opcode} == 8;
                $ws->send_pong($f->{payload}) if $f->{opcode} == 9;
            }

            $ws->send_close(1000);
            $ws->wait_close(1);
            POSIX::_exit(0);
        }

        push @pids, $pid;
    }

    waitpid $_, 0 for @pids;
}

__DATA__

=== TEST 1: an empty ping gets an empty pong
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_ping('') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x8a\x00" . "\x88\x02\x03\xe8"
--- no_error_log
[error]
client did not answer ping



=== TEST 2: a ping with a payload gets a pong with the same payload
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_ping('hello') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x8a\x05hello" . "\x88\x02\x03\xe8"
--- no_error_log
[error]
client did not answer ping



=== TEST 3: a ping with 125 bytes, the largest control payload
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_ping(CORE::join('', map { chr(($_ * 31) % 256) } 1 .. 125))
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x8a\x7d" . CORE::join('', map { chr(($_ * 31) % 256) } 1 .. 125)
. "\x88\x02\x03\xe8"
--- no_error_log
[error]
client did not answer ping



=== TEST 4: a ping with a non-minimal 16-bit length is answered
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_ping('abc', len_form => 16)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x8a\x03abc" . "\x88\x02\x03\xe8"
--- no_error_log
[error]
client did not answer ping



=== TEST 5: pongs and echoes go out in the order of the frames
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('a') . WsFrame::ws_ping('1')
. WsFrame::ws_binary('b') . WsFrame::ws_ping('2') . WsFrame::ws_ping('3')
. WsFrame::ws_text('c')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x01a" . "\x8a\x011" . "\x82\x01b" . "\x8a\x012" . "\x8a\x013"
. "\x81\x01c" . "\x88\x02\x03\xe8"
--- no_error_log
[error]
client did not answer ping



=== TEST 6: 200 pings in one packet get 200 pongs in order
--- raw_request eval
WsFrame::ws_handshake('/ws')
. CORE::join('', map { WsFrame::ws_ping("p$_") } 1 .. 200)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_pong("p$_") } 1 .. 200) . "\x88\x02\x03\xe8"
--- no_error_log
[error]
client did not answer ping



=== TEST 7: unsolicited pongs are ignored
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_pong('') . WsFrame::ws_pong('x' x 125) . WsFrame::ws_pong("\xff")
. WsFrame::ws_text('y')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x01y" . "\x88\x02\x03\xe8"
--- no_error_log
[error]
client did not answer ping



=== TEST 8: heartbeat: a silent client gets one empty ping after ws_ping_interval
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_ping_interval 200ms;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
--- abort
--- timeout: 0.5
--- error_code: 101
--- response_body eval
"\x89\x00"
--- no_error_log
[error]
client did not answer ping



=== TEST 9: heartbeat: no answer within ws_pong_timeout gets Close 1001 and TCP close
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_ping_interval 200ms;
        ws_pong_timeout 200ms;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
--- timeout: 2
--- error_code: 101
--- response_body eval
"\x89\x00" . "\x88\x02\x03\xe9"
--- error_log
client did not answer ping
--- no_error_log
[error]



=== TEST 10: heartbeat: a client that answers the ping with a pong stays connected
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_ping_interval 300ms;
        ws_pong_timeout 300ms;
    }
--- raw_request eval
# ping at 0.3 s, pong at 0.45 s (before 0.6 s), text at 0.9 s: without the pong
# the connection would have been closed at 0.6 s
[ WsFrame::ws_handshake('/ws'),
  WsFrame::ws_pong(''),
  WsFrame::ws_text('alive') . WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.45
--- timeout: 2
--- error_code: 101
--- response_body eval
qr/\A(?:\x89\x00)+\x81\x05alive\x88\x02\x03\xe8\z/
--- no_error_log
[error]
client did not answer ping



=== TEST 11: heartbeat: any frame answers a ping, a text message too
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_ping_interval 300ms;
        ws_pong_timeout 300ms;
    }
--- raw_request eval
[ WsFrame::ws_handshake('/ws'),
  WsFrame::ws_text('here'),
  WsFrame::ws_text('alive') . WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.45
--- timeout: 2
--- error_code: 101
--- response_body eval
qr/\A(?:\x89\x00)+\x81\x04here(?:\x89\x00)*\x81\x05alive\x88\x02\x03\xe8\z/
--- no_error_log
[error]
client did not answer ping



=== TEST 12: heartbeat: no ping while the client keeps sending
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_ping_interval 300ms;
        ws_pong_timeout 10s;
    }
--- raw_request eval
[ WsFrame::ws_handshake('/ws'),
  map({ WsFrame::ws_text("m$_") } 1 .. 6),
  WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.1
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_text("m$_") } 1 .. 6) . "\x88\x02\x03\xe8"
--- no_error_log
[error]
client did not answer ping



=== TEST 13: heartbeat: the client's own pings count as traffic too
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_ping_interval 300ms;
    }
--- raw_request eval
[ WsFrame::ws_handshake('/ws'),
  map({ WsFrame::ws_ping("$_") } 1 .. 6),
  WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.1
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_pong("$_") } 1 .. 6) . "\x88\x02\x03\xe8"
--- no_error_log
[error]
client did not answer ping



=== TEST 14: heartbeat: a pong that arrives within the millisecond of the ping counts
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_ping_interval 100ms;
        ws_pong_timeout 100ms;
    }
--- init
main::prompt_pongs(4, 2);
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xe8"
--- no_error_log
[error]
client did not answer ping
