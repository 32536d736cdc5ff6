# The connection timers: ws_idle_timeout (Close 1000 "idle timeout"; data
# messages reset it, Pings and Pongs do not), ws_close_timeout (how long the
# server waits for the answer to its own Close), ws_ping_interval and
# ws_pong_timeout, and 0 turning a timer off.  Durations are checked with
# $request_time in the access log (written when the connection closes).

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

    $block->set_value('http_config', <<'_EOC_')
    log_format ws_time '$status $request_time';
_EOC_
        unless defined $block->http_config;
});

run_tests();


# One test for the status and one per response_body, access_log and line
# of error_log and no_error_log.
sub checks {
    my $n = 0;

    for my $block (blocks()) {
        $n += 1 + grep { defined $block->$_ } qw(response_body access_log);

        for my $v (grep { defined } $block->error_log, $block->no_error_log) {
            $n += ref $v eq 'ARRAY' ? @$v
                : ref $v ? 1
                : scalar(my @l = split /\n/, $v);
        }
    }

    return $n;
}

# A regex for an access log line "101 <request_time>" with the time from
# $lo ms (included) to $hi ms (excluded), both multiples of 10.  Over TLS
# (util/run-tests-tls) the relay forwards the first packet only after its
# TLS handshake with nginx, and $request_time starts then, while the later
# packets keep the runner's timing: the low end is 50 ms lower there.
sub took {
    my ($lo, $hi) = @_;
    my @alt;

    $lo -= 50 if $ENV{TEST_NGINX_WS_TLS};

    for (my $ms = $lo; $ms < $hi; $ms += 10) {
        push @alt, sprintf '%d\.%02d\d', int($ms / 1000), ($ms % 1000) / 10;
    }

    my $re = CORE::join '|', @alt;
    return qr/^101 (?:$re)$/m;
}

__DATA__

=== TEST 1: ws_idle_timeout: Close 1000 "idle timeout", TCP closed on the client's answer
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 200ms;
        ws_close_timeout 5s;
        access_log logs/access.log ws_time;
    }
--- raw_request eval
[ WsFrame::ws_handshake('/ws'), WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.4
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x0e\x03\xe8idle timeout"
--- access_log eval
main::took(390, 700)
--- error_log
idle timeout, closing with 1000
--- no_error_log
[error]
client did not answer close in time



=== TEST 2: ws_idle_timeout 200ms + ws_close_timeout 200ms with a silent client
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 200ms;
        ws_close_timeout 200ms;
        access_log logs/access.log ws_time;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
--- timeout: 2
--- error_code: 101
--- response_body eval
"\x88\x0e\x03\xe8idle timeout"
--- access_log eval
main::took(390, 700)
--- error_log
idle timeout, closing with 1000
client did not answer close in time
--- no_error_log
[error]



=== TEST 3: ws_idle_timeout 100ms + ws_close_timeout 400ms with a silent client
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 100ms;
        ws_close_timeout 400ms;
        access_log logs/access.log ws_time;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
--- timeout: 2
--- error_code: 101
--- response_body eval
"\x88\x0e\x03\xe8idle timeout"
--- access_log eval
main::took(490, 800)
--- error_log
idle timeout, closing with 1000
client did not answer close in time
--- no_error_log
[error]



=== TEST 4: ws_idle_timeout: each data message starts the idle time again
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 300ms;
        ws_close_timeout 200ms;
        access_log logs/access.log ws_time;
    }
--- raw_request eval
# messages at 0.15, 0.3, 0.45 and 0.6 s: the idle close comes at 0.9 s,
# the TCP close at 1.1 s
[ WsFrame::ws_handshake('/ws'), map { WsFrame::ws_text("m$_") } 1 .. 4 ]
--- raw_request_middle_delay: 0.15
--- timeout: 2
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_text("m$_") } 1 .. 4)
. "\x88\x0e\x03\xe8idle timeout"
--- access_log eval
main::took(1090, 1500)
--- error_log
idle timeout, closing with 1000
client did not answer close in time
--- no_error_log
[error]



=== TEST 5: ws_idle_timeout: pings do not count as activity
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 350ms;
        ws_close_timeout 5s;
    }
--- raw_request eval
# pings at 0.15 and 0.3 s, the idle close at 0.35 s, the client's Close at
# 0.45 s; had the pings counted, the client's Close would come first and get
# a plain 1000 back
[ WsFrame::ws_handshake('/ws'), WsFrame::ws_ping('a'), WsFrame::ws_ping('b'),
  WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.15
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x8a\x01a" . "\x8a\x01b" . "\x88\x0e\x03\xe8idle timeout"
--- error_log
idle timeout, closing with 1000
--- no_error_log
[error]



=== TEST 6: ws_idle_timeout: pongs do not count as activity
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 350ms;
        ws_close_timeout 5s;
    }
--- raw_request eval
[ WsFrame::ws_handshake('/ws'), WsFrame::ws_pong('a'), WsFrame::ws_pong('b'),
  WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.15
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x0e\x03\xe8idle timeout"
--- error_log
idle timeout, closing with 1000
--- no_error_log
[error]



=== TEST 7: ws_idle_timeout 0 turns an inherited idle timeout off
--- config
    ws_idle_timeout 100ms;

    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 0;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
--- abort
--- timeout: 0.5
--- error_code: 101
--- response_body eval
""
--- no_error_log
[error]
idle timeout



=== TEST 8: ws_idle_timeout is off by default
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
[ WsFrame::ws_handshake('/ws'), WsFrame::ws_text('late') . WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.5
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x81\x04late" . "\x88\x02\x03\xe8"
--- no_error_log
[error]
idle timeout



=== TEST 9: ws_ping_interval 0 turns an inherited heartbeat off
--- config
    ws_ping_interval 100ms;
    ws_pong_timeout 100ms;

    location /ws {
        websocket;
        ws_echo on;
        ws_ping_interval 0;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
--- abort
--- timeout: 0.5
--- error_code: 101
--- response_body eval
""
--- no_error_log
[error]
client did not answer ping



=== TEST 10: ws_ping_interval 200ms + ws_pong_timeout 300ms with a silent client
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_ping_interval 200ms;
        ws_pong_timeout 300ms;
        access_log logs/access.log ws_time;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
--- timeout: 2
--- error_code: 101
--- response_body eval
"\x89\x00" . "\x88\x02\x03\xe9"
--- access_log eval
main::took(490, 800)
--- error_log
client did not answer ping
--- no_error_log
[error]



=== TEST 11: ws_ping_interval 300ms + ws_pong_timeout 100ms with a silent client
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_ping_interval 300ms;
        ws_pong_timeout 100ms;
        access_log logs/access.log ws_time;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
--- timeout: 2
--- error_code: 101
--- response_body eval
"\x89\x00" . "\x88\x02\x03\xe9"
--- access_log eval
main::took(390, 700)
--- error_log
client did not answer ping
--- no_error_log
[error]



=== TEST 12: the heartbeat and the idle timeout together: pings do not keep it open
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_ping_interval 100ms;
        ws_idle_timeout 450ms;
        ws_close_timeout 200ms;
    }
--- raw_request eval
# the client answers each ping (at 0.1, 0.25, 0.4 s) with a pong at 0.15,
# 0.3, 0.45 s; no data passes, so the idle close comes at 0.45 s
[ WsFrame::ws_handshake('/ws'), map { WsFrame::ws_pong('') } 1 .. 3 ]
--- raw_request_middle_delay: 0.15
--- timeout: 2
--- error_code: 101
--- response_body eval
qr/\A(?:\x89\x00)+\x88\x0e\x03\xe8idle timeout\z/
--- error_log
idle timeout, closing with 1000
client did not answer close in time
--- no_error_log
[error]



=== TEST 13: ws_close_timeout bounds the reading after the close handshake
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_close_timeout 300ms;
        access_log logs/access.log ws_time;
    }
--- raw_request eval
# the client neither reads nor closes for 1 s after its Close: the server
# stops reading (and closes TCP) after ws_close_timeout, not at the client's
# leisure
[ WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000), "x" ]
--- raw_request_middle_delay: 1
--- timeout: 2
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xe8"
--- access_log eval
main::took(290, 600)
--- no_error_log
[error]
client did not answer close in time
