# Channels: a client that subscribes to the channel it publishes to gets
# its own message before anything that follows it on the connection: the
# answer to a Ping sent after it, the echo of its Close, the Close for a
# protocol error, the messages it publishes next.  The frames come in one
# write with the handshake (read from what came with it) or in one write
# after it (read from the socket), one message or many.  With ws_echo as
# well, a message's echo is queued by the routes and comes before its
# channel copy, which is delivered from the channel's posted event.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels ();

$SIG{PIPE} = 'IGNORE';

repeat_each(1);

plan tests => repeat_each() * (blocks() * 4);

no_shuffle();
no_long_string();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', "    ws_zone chat 1m;\n")
        unless defined $block->http_config;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /ws {
        websocket;
        ws_subscribe chat room;
        ws_publish chat room;
    }
_EOC_

    $block->set_value('error_code', 101) unless defined $block->error_code;
    $block->set_value('no_error_log', "[error]\n[alert]\n")
        unless defined $block->no_error_log;
});

# ids are compared relative to their channel's (Test::NgxWs::Channels)
add_block_preprocessor(\&Test::NgxWs::Channels::rel_bodies);

run_tests();


__DATA__

=== TEST 1: its message, then the Pong, then the Close echo, all in the handshake's write
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('mine') . WsFrame::ws_ping('p')
. WsFrame::ws_close(1000)
--- response_body eval
WsFrame::srv_text('mine') . WsFrame::srv_pong('p') . WsFrame::srv_close(1000)



=== TEST 2: pipelined in one write after the handshake: messages, Pings and the Close keep their order
--- raw_request eval
[WsFrame::ws_handshake('/ws'),
 WsFrame::ws_text('one') . WsFrame::ws_text('two') . WsFrame::ws_ping('a')
 . WsFrame::ws_binary("\x00three") . WsFrame::ws_pong('x')
 . WsFrame::ws_ping('b') . WsFrame::ws_text('four')
 . WsFrame::ws_close(1001, 'bye')]
--- raw_request_middle_delay: 0.1
--- response_body eval
WsFrame::srv_text('one') . WsFrame::srv_text('two') . WsFrame::srv_pong('a')
. WsFrame::srv_binary("\x00three") . WsFrame::srv_pong('b')
. WsFrame::srv_text('four') . WsFrame::srv_close(1001)



=== TEST 3: a Ping between the fragments of its message is answered first, one after it second
--- raw_request eval
[WsFrame::ws_handshake('/ws'),
 WsFrame::ws_text('frag', fin => 0) . WsFrame::ws_ping('in')
 . WsFrame::ws_cont('mented') . WsFrame::ws_ping('after')
 . WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.1
--- response_body eval
WsFrame::srv_pong('in') . WsFrame::srv_text('fragmented')
. WsFrame::srv_pong('after') . WsFrame::srv_close(1000)



=== TEST 4: a protocol error right after its message: the message, then Close 1002
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('mine')
. WsFrame::ws_text('unmasked', masked => 0)
--- response_body eval
WsFrame::srv_text('mine') . WsFrame::srv_close(1002)



=== TEST 5: 300 messages and a Ping in one write: all of them in order, then the Pong and the Close
--- raw_request eval
[WsFrame::ws_handshake('/ws'),
 CORE::join('', map { WsFrame::ws_text("m$_") } 1 .. 300)
 . WsFrame::ws_ping('end') . WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.1
--- response_body eval
CORE::join('', map { WsFrame::srv_text("m$_") } 1 .. 300)
. WsFrame::srv_pong('end') . WsFrame::srv_close(1000)



=== TEST 6: with the JSON envelope, from a channel named by a variable
--- config
    location /ws {
        websocket;
        ws_subscribe chat $arg_c;
        ws_publish chat $arg_c;
        ws_envelope on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws?c=r1') . WsFrame::ws_text('x') . WsFrame::ws_ping()
. WsFrame::ws_text('y') . WsFrame::ws_close(1000)
--- response_body eval
WsFrame::srv_text('{"channel":"r1","id":1,"data":"x"}') . WsFrame::srv_pong()
. WsFrame::srv_text('{"channel":"r1","id":2,"data":"y"}')
. WsFrame::srv_close(1000)



=== TEST 7: with ws_echo too, each message's echo comes first, then its channel copy
--- config
    location /ws {
        websocket;
        ws_subscribe chat room;
        ws_publish chat room;
        ws_envelope on;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('a') . WsFrame::ws_ping()
. WsFrame::ws_text('b') . WsFrame::ws_close(1000)
--- response_body eval
WsFrame::srv_text('a') . WsFrame::srv_text('{"channel":"room","id":1,"data":"a"}')
. WsFrame::srv_pong()
. WsFrame::srv_text('b') . WsFrame::srv_text('{"channel":"room","id":2,"data":"b"}')
. WsFrame::srv_close(1000)
