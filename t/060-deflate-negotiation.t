# permessage-deflate negotiation (RFC 7692): offers → the answer.
#
# Each block lists the client's Sec-WebSocket-Extensions header lines in
# --- offers (one line each) and the expected answer in --- answer ("none":
# no Sec-WebSocket-Extensions header at all).  The preprocessor builds the
# request: the handshake, then a message and a Close.  When an answer is
# expected, the message is compressed the way the answer allows (with the
# client window it sets) and the echo must come back compressed (RSV1) and
# inflate to the same text; when none is, the message is plain and so is
# the echo.  The body is compared through WsFrame::describe_inflated.
#
# Invalid permessage-deflate offers are declined (an info line), never
# fatal: a later valid offer is still taken.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;

repeat_each(1);
no_shuffle();
no_long_string();

our $MSG = 'Hello, permessage-deflate! ' x 8;

add_block_preprocessor(sub {
    my $block = shift;

    return unless defined $block->offers;

    $block->set_value(config => <<'_EOC_') unless defined $block->config;
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
    }
_EOC_

    my @h = map { "Sec-WebSocket-Extensions: $_" }
            grep { /\S/ } split /\n/, $block->offers;

    my $answer = $block->answer;
    chomp $answer;

    my ($msg, $want, $headers);

    if ($answer eq 'none') {
        $msg = WsFrame::ws_text($MSG);
        $want = WsFrame::srv_text($MSG);
        $headers = "!Sec-WebSocket-Extensions\n";

    } else {
        my $bits = $answer =~ /client_max_window_bits=(\d+)/ ? $1 : 15;
        $msg = WsFrame::ws_text_z($MSG,
                   deflater => WsFrame::deflater(window_bits => $bits));
        $want = WsFrame::srv_text($MSG, rsv => 4);
        $headers = "Sec-WebSocket-Extensions: $answer\n";
    }

    $block->set_value(raw_request => WsFrame::ws_handshake('/ws',
                                         headers => \@h)
                                     . $msg . WsFrame::ws_close(1000));
    $block->set_value(error_code => 101);
    $block->set_value(response_headers => $headers);
    $block->set_value(response_body_filters => \&WsFrame::describe_inflated);
    $block->set_value(response_body => WsFrame::describe(
                                           $want . WsFrame::srv_close(1000)));
    $block->set_value(no_error_log => "[error]\n")
        unless defined $block->no_error_log;
});

# per block: the status, the header, the body, "[error]" not logged, and
# one test per error_log line
my $tests = 0;
for my $block (blocks()) {
    $tests += 4;
    $tests += () = ($block->error_log // '') =~ /\S.*/g;
}

plan tests => repeat_each() * $tests;

run_tests();

__DATA__

=== TEST 1: Chromium's offer
--- offers
permessage-deflate; client_max_window_bits
--- answer
permessage-deflate



=== TEST 2: Firefox's offer
--- offers
permessage-deflate
--- answer
permessage-deflate



=== TEST 3: server_no_context_takeover is honoured and answered
--- offers
permessage-deflate; server_no_context_takeover
--- answer
permessage-deflate; server_no_context_takeover



=== TEST 4: client_no_context_takeover is answered
--- offers
permessage-deflate; client_no_context_takeover
--- answer
permessage-deflate; client_no_context_takeover



=== TEST 5: server_max_window_bits is answered with the same value
--- offers
permessage-deflate; server_max_window_bits=10
--- answer
permessage-deflate; server_max_window_bits=10



=== TEST 6: server_max_window_bits=8 is accepted (zlib cannot: see docs)
--- offers
permessage-deflate; server_max_window_bits=8
--- answer
permessage-deflate; server_max_window_bits=8



=== TEST 7: a quoted value
--- offers
permessage-deflate; server_max_window_bits="11"
--- answer
permessage-deflate; server_max_window_bits=11



=== TEST 8: client_max_window_bits with a value needs no answer
--- offers
permessage-deflate; client_max_window_bits=10
--- answer
permessage-deflate



=== TEST 9: everything at once, with spaces around the separators
--- offers
permessage-deflate ;client_no_context_takeover;  server_no_context_takeover ; server_max_window_bits = 9; client_max_window_bits=9
--- answer
permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9



=== TEST 10: the first acceptable of several offers is taken
--- offers
permessage-deflate; server_max_window_bits=7, permessage-deflate; server_no_context_takeover, permessage-deflate
--- answer
permessage-deflate; server_no_context_takeover
--- error_log
client sent invalid permessage-deflate offer, declined



=== TEST 11: offers over several header lines, other extensions skipped
--- offers
x-webkit-deflate-frame
foo; bar="a, b; c", permessage-deflate; client_max_window_bits
--- answer
permessage-deflate



=== TEST 12: an unknown extension only: no answer
--- offers
x-webkit-deflate-frame; no_context_takeover
--- answer
none



=== TEST 13: a duplicate parameter declines the offer
--- offers
permessage-deflate; server_no_context_takeover; server_no_context_takeover
--- answer
none
--- error_log
client sent invalid permessage-deflate offer, declined



=== TEST 14: window bits out of range, with a leading zero, or not a number
--- offers
permessage-deflate; server_max_window_bits=16
permessage-deflate; client_max_window_bits=7
permessage-deflate; server_max_window_bits=09
permessage-deflate; server_max_window_bits=abc
--- answer
none
--- error_log
client sent invalid permessage-deflate offer, declined



=== TEST 15: server_max_window_bits needs a value, the takeovers take none
--- offers
permessage-deflate; server_max_window_bits
permessage-deflate; client_no_context_takeover=1
permessage-deflate; server_no_context_takeover="x"
--- answer
none
--- error_log
client sent invalid permessage-deflate offer, declined



=== TEST 16: an unknown parameter declines the offer, a valid one follows
--- offers
permessage-deflate; mux
permessage-deflate; client_max_window_bits=12; server_max_window_bits=12
--- answer
permessage-deflate; server_max_window_bits=12
--- error_log
client sent invalid permessage-deflate offer, declined



=== TEST 17: a broken quoted string declines the offer
--- offers
permessage-deflate; server_max_window_bits="10
--- answer
none
--- error_log
client sent invalid permessage-deflate offer, declined



=== TEST 18: ws_deflate off (the default): no answer
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- offers
permessage-deflate; client_max_window_bits
--- answer
none



=== TEST 19: ws_deflate_window_bits limits the client when it lets us
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_deflate_window_bits 10;
    }
--- offers
permessage-deflate; client_max_window_bits; server_max_window_bits=12
--- answer
permessage-deflate; server_max_window_bits=10; client_max_window_bits=10



=== TEST 20: ws_deflate_window_bits cannot limit a client that did not offer
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_deflate_window_bits 10;
    }
--- offers
permessage-deflate
--- answer
permessage-deflate



=== TEST 21: ws_deflate_context_takeover off adds server_no_context_takeover
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_deflate_context_takeover off;
    }
--- offers
permessage-deflate; client_max_window_bits
--- answer
permessage-deflate; server_no_context_takeover



=== TEST 22: a location that can get channel messages never takes over
--- http_config
    ws_zone chat 1m;
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_subscribe chat room;
    }
--- offers
permessage-deflate
--- answer
permessage-deflate; server_no_context_takeover
