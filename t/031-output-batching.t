# Batched output: what is queued for a connection during one turn of the
# event loop leaves in one write at the end of the turn (the write event,
# posted), whichever handlers queued it: the echoes of a read, the
# deliveries of the client's own channel messages (a posted event each,
# between which the read pauses), Pongs.  Counted by the `writes` figure of
# ws_status (one per writev).  Order is kept, and a lone message is not
# held back: no timer is involved.  A channel delivery writes on the next
# turn, after the input already waiting: publishes that come in one read
# (pipelined POSTs) reach a subscriber in one write.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;

use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use Time::HiRes ();
use WsFrame ();

$SIG{PIPE} = 'IGNORE';

repeat_each(1);

my %INIT_TESTS = (1 => 3, 2 => 2, 3 => 2, 4 => 3, 6 => 3, 7 => 3);

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
    location /sub {
        websocket;
        ws_subscribe chat news;
    }
    location /pub {
        ws_publisher chat;
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

# Sends the requests in one write on one keep-alive connection and reads
# until $n responses came (or 3 s); returns their status codes.
sub pipelined {
    my ($n, @reqs) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
                                  Proto => 'tcp', Timeout => 3)
        or die "connect: $!";
    binmode $s;

    my $req = join '', @reqs;
    my $off = 0;

    while ($off < length $req) {
        my $w = syswrite $s, $req, length($req) - $off, $off;
        die "write: $!" unless defined $w;
        $off += $w;
    }

    my ($buf, $sel) = ('', IO::Select->new($s));
    my $deadline = Time::HiRes::time() + 3;
    my @codes;

    while (@codes < $n
           && (my $left = $deadline - Time::HiRes::time()) > 0)
    {
        last unless $sel->can_read($left);
        my $r = sysread $s, $buf, 65536, length $buf;
        last unless $r;
        @codes = $buf =~ m{^HTTP/1\.1 (\d+)}mg;
    }

    close $s;

    return @codes;
}

sub post_req {
    my ($body) = @_;
    return "POST /pub?channel=news HTTP/1.1\r\nHost: localhost\r\n"
           . "Content-Type: text/plain\r\n"
           . 'Content-Length: ' . length($body) . "\r\n\r\n" . $body;
}

# TEST 6: 16 POSTs to the publisher endpoint in one TCP write: each is
# delivered from its own posted event, but the subscriber's write waits
# for the next turn, after the last of them: its 16 messages, in order,
# leave in one or two writes (the requests may span two reads), not 16.
sub pipelined_posts {
    my $c = client('/sub');
    my @msgs = map { "p$_" } 1 .. 16;

    my $before = writes();
    my @codes = pipelined(16, map { post_req($_) } @msgs);

    my @got;

    while (@got < 16) {
        my $f = $c->read_frame(3) or last;
        push @got, $f;
    }

    my $w = writes() - $before;

    Test::More::is(scalar(grep { /^2/ } @codes), 16,
                   'pipelined POSTs: 16 answers');
    Test::More::is_deeply(names(@got), [map { "text:$_" } @msgs],
                          'pipelined POSTs: the 16 messages, in order');
    Test::More::cmp_ok($w, '<=', 2,
                       'pipelined POSTs: at most two writes for 16 messages');
}

# TEST 7: a lone publish is delivered at once: 20 POSTs one after the
# other, each delivered in a write of its own, without a timer's delay.
sub lone_publish {
    my $c = client('/sub');
    my (@lat, $ok);

    my $before = writes();

    $ok = 0;

    for my $i (1 .. 20) {
        my $t0 = Time::HiRes::time();
        my @codes = pipelined(1, post_req("lone $i"));
        my $f = $c->read_frame(3);
        push @lat, Time::HiRes::time() - $t0;
        $ok++ if @codes == 1 && $codes[0] =~ /^2/
                 && $f && $f->{payload} eq "lone $i";
    }

    my $w = writes() - $before;

    @lat = sort { $a <=> $b } @lat;

    Test::More::is($ok, 20, 'lone publishes: 20 deliveries');
    Test::More::is($w, 20, 'lone publishes: a write each');
    Test::More::cmp_ok($lat[10], '<', 0.05,
                       'lone publishes: median under 50 ms');
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



=== TEST 6: pipelined POSTs reach a subscriber in one write, in order
--- init
main::pipelined_posts();
--- request
GET /status
--- no_error_log
[error]
[alert]



=== TEST 7: a lone publish is delivered at once
--- init
main::lone_publish();
--- request
GET /status
--- no_error_log
[error]
[alert]
