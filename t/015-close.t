# The close handshake (RFC 6455 sections 5.5.1, 7): a client Close is
# answered with its code (an empty Close with an empty Close) and the server
# closes TCP at once; bad Close payloads (1 byte, invalid codes, reasons
# that are not UTF-8) get 1002; nothing after a Close is read.  The server's
# own close (idle timeout) waits ws_close_timeout for the client's answer.

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

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /ws {
        websocket;
        ws_echo on;
    }
_EOC_
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

__DATA__

=== TEST 1: a Close with code 1000 is answered with 1000, then TCP is closed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xe8"
--- no_error_log
[error]
closing with



=== TEST 2: an empty Close is answered with an empty Close
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close()
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x00"
--- no_error_log
[error]
closing with



=== TEST 3: a Close with a reason is answered with the code only
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000, 'bye now')
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xe8"
--- no_error_log
[error]
closing with



=== TEST 4: a Close with the longest reason, 123 bytes of UTF-8
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(4321, ("\xc3\xa9" x 61) . 'x')
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x10\xe1"
--- no_error_log
[error]
closing with



=== TEST 5: a Close with a 4-byte UTF-8 reason
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1001, "gone \xf0\x9f\x91\x8b")
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xe9"
--- no_error_log
[error]
closing with



=== TEST 6: the valid code 1001 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1001)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xe9"
--- no_error_log
[error]
closing with



=== TEST 7: the valid code 1002 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1002)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- no_error_log
[error]
closing with



=== TEST 8: the valid code 1003 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1003)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xeb"
--- no_error_log
[error]
closing with



=== TEST 9: the valid code 1007 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1007)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xef"
--- no_error_log
[error]
closing with



=== TEST 10: the valid code 1008 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1008)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf0"
--- no_error_log
[error]
closing with



=== TEST 11: the valid code 1009 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1009)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf1"
--- no_error_log
[error]
closing with



=== TEST 12: the valid code 1010 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1010)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf2"
--- no_error_log
[error]
closing with



=== TEST 13: the valid code 1011 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1011)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf3"
--- no_error_log
[error]
closing with



=== TEST 14: the valid code 1012 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1012)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf4"
--- no_error_log
[error]
closing with



=== TEST 15: the valid code 1013 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1013)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf5"
--- no_error_log
[error]
closing with



=== TEST 16: the valid code 1014 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1014)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xf6"
--- no_error_log
[error]
closing with



=== TEST 17: the valid code 3000 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(3000)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x0b\xb8"
--- no_error_log
[error]
closing with



=== TEST 18: the valid code 3999 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(3999)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x0f\x9f"
--- no_error_log
[error]
closing with



=== TEST 19: the valid code 4000 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(4000)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x0f\xa0"
--- no_error_log
[error]
closing with



=== TEST 20: the valid code 4999 is echoed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(4999)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x13\x87"
--- no_error_log
[error]
closing with



=== TEST 21: a Close with a 1-byte payload gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::frame(opcode => 8, payload => "\x03")
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with 1-byte payload, closing with 1002
--- no_error_log
[error]



=== TEST 22: the invalid code 0 gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(0)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid code 0, closing with 1002
--- no_error_log
[error]



=== TEST 23: the invalid code 999 gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(999)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid code 999, closing with 1002
--- no_error_log
[error]



=== TEST 24: the invalid code 1004 gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1004)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid code 1004, closing with 1002
--- no_error_log
[error]



=== TEST 25: the invalid code 1005 gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1005)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid code 1005, closing with 1002
--- no_error_log
[error]



=== TEST 26: the invalid code 1006 gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1006)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid code 1006, closing with 1002
--- no_error_log
[error]



=== TEST 27: the invalid code 1015 gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1015)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid code 1015, closing with 1002
--- no_error_log
[error]



=== TEST 28: the invalid code 1016 gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1016)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid code 1016, closing with 1002
--- no_error_log
[error]



=== TEST 29: the invalid code 2000 gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(2000)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid code 2000, closing with 1002
--- no_error_log
[error]



=== TEST 30: the invalid code 2999 gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(2999)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid code 2999, closing with 1002
--- no_error_log
[error]



=== TEST 31: the invalid code 5000 gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(5000)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid code 5000, closing with 1002
--- no_error_log
[error]



=== TEST 32: the invalid code 65535 gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(65535)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid code 65535, closing with 1002
--- no_error_log
[error]



=== TEST 33: a reason with invalid UTF-8 (FF) gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000, "\xff")
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid UTF-8 reason, closing with 1002
--- no_error_log
[error]



=== TEST 34: a reason with invalid UTF-8 (a truncated 3-byte sequence) gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000, "ok \xe2\x82")
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid UTF-8 reason, closing with 1002
--- no_error_log
[error]



=== TEST 35: a reason with invalid UTF-8 (a surrogate) gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000, "\xed\xa0\x80")
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid UTF-8 reason, closing with 1002
--- no_error_log
[error]



=== TEST 36: a reason with invalid UTF-8 (an overlong form) gets 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000, "\xc0\xaf")
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xea"
--- error_log
client sent close frame with invalid UTF-8 reason, closing with 1002
--- no_error_log
[error]



=== TEST 37: frames after the Close are ignored, frames before it are answered
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('first') . WsFrame::ws_ping('p')
. WsFrame::ws_close(1000)
. WsFrame::ws_text('after') . WsFrame::ws_ping('late') . WsFrame::ws_close(1001)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x81\x05first" . "\x8a\x01p" . "\x88\x02\x03\xe8"
--- no_error_log
[error]
closing with



=== TEST 38: garbage after the Close is not parsed
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000) . "\x00\xff\x7f garbage"
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xe8"
--- no_error_log
[error]
client sent



=== TEST 39: a Close split across packets
--- raw_request eval
my $c = WsFrame::ws_close(1000, 'split');
[ WsFrame::ws_handshake('/ws'), substr($c, 0, 1), substr($c, 1, 4),
  substr($c, 5, 4), substr($c, 9) ]
--- raw_request_middle_delay: 0.02
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xe8"
--- no_error_log
[error]
closing with



=== TEST 40: the server closes TCP after the close handshake, not after ws_close_timeout
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_close_timeout 10s;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('x') . WsFrame::ws_close(1000)
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x81\x01x" . "\x88\x02\x03\xe8"
--- no_error_log
[error]
client did not answer close in time



=== TEST 41: a client that closes TCP without a Close frame is logged
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('x')
--- shutdown
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x81\x01x"
--- error_log
client closed connection without a close frame
--- no_error_log
[error]



=== TEST 42: a client that closes TCP in the middle of a message is logged
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('part', fin => 0)
. substr(WsFrame::ws_cont('never finished'), 0, 9)
--- shutdown
--- timeout: 1
--- error_code: 101
--- response_body eval
""
--- error_log
client closed connection without a close frame
--- no_error_log
[error]



=== TEST 43: server-initiated close (idle timeout) answered by the client
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 200ms;
        ws_close_timeout 5s;
    }
--- raw_request eval
[ WsFrame::ws_handshake('/ws'), WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.4
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x0e\x03\xe8idle timeout"
--- error_log
idle timeout, closing with 1000
--- no_error_log
[error]
client did not answer close in time



=== TEST 44: the client may answer the server's Close with another code
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 200ms;
        ws_close_timeout 5s;
    }
--- raw_request eval
[ WsFrame::ws_handshake('/ws'), WsFrame::ws_close(4000, 'whatever') ]
--- raw_request_middle_delay: 0.4
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x0e\x03\xe8idle timeout"
--- error_log
idle timeout, closing with 1000
--- no_error_log
[error]
client did not answer close in time



=== TEST 45: data sent after the server's Close is discarded
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 200ms;
        ws_close_timeout 5s;
    }
--- raw_request eval
[ WsFrame::ws_handshake('/ws'),
  WsFrame::ws_text('late') . WsFrame::ws_ping('late') . WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.4
--- timeout: 1
--- error_code: 101
--- response_body eval
"\x88\x0e\x03\xe8idle timeout"
--- error_log
idle timeout, closing with 1000
--- no_error_log
[error]
client did not answer close in time



=== TEST 46: server-initiated close not answered: TCP closed after ws_close_timeout
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 100ms;
        ws_close_timeout 300ms;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
--- timeout: 2
--- error_code: 101
--- response_body eval
"\x88\x0e\x03\xe8idle timeout"
--- error_log
idle timeout, closing with 1000
client did not answer close in time
--- no_error_log
[error]
