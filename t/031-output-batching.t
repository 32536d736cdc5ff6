# Batched output: what is queued for a connection during one turn of the
# event loop leaves in one write at the end of the turn (the write event,
# posted), whichever handlers queued it: the echoes of a read, the
# deliveries of the client's own channel messages (a posted event each,
# between which the read pauses), Pongs.  Counted by the `writes` figure of
# ws_status (one per writev).  Order is kept, and a lone message is not
# held back: no timer is involved.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;

use JSON::PP ();
use Time::HiRes ();
use WsFrame ();

$SIG{PIPE} = 'IGNORE';

repeat_each(1);

my %INIT_TESTS = (1 => 3, 2 => 2, 3 => 2, 4 => 3);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', "    ws_zone chat 1m;\n")
        unless defined $block->http_config;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /own {
        websocket;
        ws_subscribe chat room;
        ws_publish chat room;
    }
    location /both {
        websocket;
        ws_echo on;
        ws_subscribe chat hall;
        ws_publish chat hall;
    }
    location /echo {
        websocket;
        ws_echo on;
    }
    location /status {
        ws_status;
    }
_EOC_
});

run_tests();


# --- helpers ------------------------------------------------------------

sub writes {
    my $r = http('GET', '/status?format=json');
    die "GET /status: $r->{status}" unless $r->{status} == 200;
    return JSON::PP::decode_json($r->{body})->{total}{writes};
}

# What the frames are, in order: "text:one", "pong:a", "binary:...".
sub names {
    my %op = (1 => 'text', 2 => 'binary', 8 => 'close', 9 => 'ping',
              10 => 'pong');
    return [map { ($op{ $_->{opcode} } // $_->{opcode}) . ':' . $_->{payload} }
            @_];
}

# Sends $bytes in one write on a connection, reads $n frames; returns the
# frames and the writes the worker made meanwhile.
sub one_turn {
    my ($c, $bytes, $n) = @_;

    my $before = writes();

    $c->raw_write($bytes) or die "write: " . ($c->{write_error} // '?');

    my @got;

    while (@got < $n) {
        my $f = $c->read_frame(3) or last;
        push @got, $f;
    }

    return (\@got, writes() - $before);
}


# --- scenarios ----------------------------------------------------------

# TEST 1: a client publishes 16 messages to the channel it is subscribed
# to, and a Ping, in one TCP write: the read pauses after each message
# until its channel event has queued it, yet the 16 messages and the Pong
# leave in one write, in order.
sub own_channel {
    my $c = client('/own');
    my @msgs = map { "m$_" } 1 .. 16;

    my ($got, $w) = one_turn($c, join('', map { WsFrame::ws_text($_) } @msgs)
                                 . WsFrame::ws_ping('p'), 17);

    Test::More::is_deeply(names(@$got),
                          [(map { "text:$_" } @msgs), 'pong:p'],
                          'own channel: the 16 messages, then the Pong');
    Test::More::is($w, 1, 'own channel: one write for the 17 frames');

    $c->send_close(1000);
    Test::More::is(scalar $c->wait_close, 1000,
                   'own channel: the Close echoed');
}

# TEST 2: with ws_echo as well, each message's echo comes before its
# channel copy; the 16 frames leave in one write.
sub echo_and_channel {
    my $c = client('/both');
    my @msgs = map { "b$_" } 1 .. 8;

    my ($got, $w) = one_turn($c, join('', map { WsFrame::ws_text($_) } @msgs),
                             16);

    Test::More::is_deeply(names(@$got), [map { ("text:$_") x 2 } @msgs],
                          'echo and channel: echo, then copy, in order');
    Test::More::is($w, 1, 'echo and channel: one write for the 16 frames');
}

# TEST 3: pipelined echo, 32 messages and a Ping in the middle, one write.
sub pipelined_echo {
    my $c = client('/echo');
    my @msgs = map { sprintf "%02d", $_ } 1 .. 32;
    my $in = join('', map { WsFrame::ws_binary($_) } @msgs[0 .. 15])
             . WsFrame::ws_ping('mid')
             . join('', map { WsFrame::ws_binary($_) } @msgs[16 .. 31]);

    my ($got, $w) = one_turn($c, $in, 33);

    Test::More::is_deeply(names(@$got),
                          [(map { "binary:$_" } @msgs[0 .. 15]), 'pong:mid',
                           map { "binary:$_" } @msgs[16 .. 31]],
                          'pipelined echo: order kept, the Pong in place');
    Test::More::is($w, 1, 'pipelined echo: one write for the 33 frames');
}

# TEST 4: a lone message is not held back waiting for company: 20 round
# trips one after the other, each answered at once in a write of its own.
sub lone_message {
    my $c = client('/echo');
    my (@rtt, $ok);

    my $before = writes();

    $ok = 0;

    for my $i (1 .. 20) {
        my $t0 = Time::HiRes::time();
        $c->send_text("lone $i");
        my $f = $c->read_frame(3);
        push @rtt, Time::HiRes::time() - $t0;
        $ok++ if $f && $f->{payload} eq "lone $i";
    }

    my $w = writes() - $before;

    @rtt = sort { $a <=> $b } @rtt;

    Test::More::is($ok, 20, 'lone messages: 20 echoes');
    Test::More::is($w, 20, 'lone messages: a write each');
    Test::More::cmp_ok($rtt[10], '<', 0.05,
                       'lone messages: median round trip under 50 ms');
}

__DATA__

=== TEST 1: own channel messages, paused reads and a Pong leave in one write
--- init
main::own_channel();
--- request
GET /status
--- no_error_log
[error]
[alert]



=== TEST 2: echo and channel copy of each message, in order, one write
--- init
main::echo_and_channel();
--- request
GET /status
--- no_error_log
[error]
[alert]



=== TEST 3: pipelined echo with a Ping in the middle, one write
--- init
main::pipelined_echo();
--- request
GET /status
--- no_error_log
[error]
[alert]



=== TEST 4: a lone message is answered at once
--- init
main::lone_message();
--- request
GET /status
--- no_error_log
[error]
[alert]



=== TEST 5: messages then a Close in one segment: the echoes, then the Close
--- raw_request eval
[WsFrame::ws_handshake('/echo'),
 WsFrame::ws_text('one') . WsFrame::ws_text('two') . WsFrame::ws_ping('x')
 . WsFrame::ws_text('three') . WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.1
--- error_code: 101
--- response_body eval
WsFrame::srv_text('one') . WsFrame::srv_text('two') . WsFrame::srv_pong('x')
. WsFrame::srv_text('three') . WsFrame::srv_close(1000)
--- no_error_log
[error]
[alert]
