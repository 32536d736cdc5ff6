# Channels: slow subscribers.  When the channel messages waiting for a
# subscriber exceed ws_send_buffer, ws_slow_subscriber close closes it with
# 1008 and logs "subscriber is too slow, closing with 1008" at warn, and
# ws_slow_subscriber drop discards its oldest waiting messages and logs
# "dropped N messages for a slow subscriber" at warn.  Either way the other
# subscribers, also those of the same worker, get every message at once.
#
# The slow subscriber has a 4 KiB receive buffer and does not read while 300
# messages of 32000 bytes are published (more than the socket buffers of
# both sides can hold, ws_send_buffer 256k); after each publish every other
# subscriber (in both workers) reads the message, so the time each message
# takes to reach all of them is measured.  A subscriber that reads is never
# slow, even for one message larger than ws_send_buffer.  nginx runs with a
# master and two workers; the scenarios run in each block's --- init and
# their checks are the first tests of the block.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;
use Test::NgxWs::Slow;

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 6, 2 => 8, 3 => 3, 4 => 3);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

# limits were warn lines (refusals info): the tests keep warn (t/130
# checks the default, error)
config_preamble('ws_security_log_level warn;');

# ids are compared relative to their channel's (Test::NgxWs::Channels)
add_block_preprocessor(\&rel_bodies);

run_tests();


# --- scenarios ----------------------------------------------------------

use constant MESSAGES => 300;
use constant SIZE => 32000;       # 9.6 MB in all: more than the kernel buffers

sub message {
    my ($i) = @_;
    my $head = sprintf 'msg %04d ', $i;
    return $head . ('x' x (SIZE - length $head));
}

# Publishes MESSAGES messages; after each, every fast subscriber reads it.
# Returns (answers, max delivery time, first bad delivery).
sub publish_and_read {
    my ($fast, $from, $to) = @_;

    my (@answers, $max, $bad);
    $max = 0;

    for my $i ($from .. $to) {
        my $msg = message($i);
        my $t0 = Time::HiRes::time();
        push @answers, answer(publish('room', $msg));

        for my $k (0 .. $#$fast) {
            my $f = $fast->[$k]->read_data(2);
            if (!$f || $f->{opcode} != 1 || $f->{payload} ne $msg) {
                $bad //= "message $i, fast subscriber $k got: "
                         . ($f ? desc($f) : 'nothing');
            }
        }

        my $dt = Time::HiRes::time() - $t0;
        $max = $dt if $dt > $max;
    }

    return (\@answers, $max, $bad);
}

sub prefix_ok {
    my ($frames) = @_;
    my $i = 0;

    for my $f (@$frames) {
        $i++;
        return "frame $i: " . desc($f)
            if $f->{opcode} != 1 || $f->{payload} ne message($i);
    }

    return undef;
}

# TEST 1: ws_slow_subscriber close.
sub slow_close {
    my @fast = spread('/sub', 4, 2);
    my $slow = slow_client('/sub');

    both_workers_ok('close: the fast subscribers', @fast);

    my ($answers, $max, $bad) = publish_and_read(\@fast, 1, MESSAGES);
    my $nf = @fast;

    Test::More::is($bad // 'all delivered', 'all delivered',
                   "close: $nf fast subscribers get every message in order"
                   . ' while one does not read');

    Test::More::cmp_ok($max, '<', 0.5,
                       'close: each message reaches all fast subscribers at'
                       . ' once (slowest: ' . sprintf('%.3f', $max) . ' s,'
                       . " the slow one is in worker $slow->{worker})");

    Test::More::is($answers->[-1],
                   qq(200 application/json {"id":300,"subscribers":$nf}),
                   'close: the slow subscriber is no longer counted');

    my ($frames, $eof) = slow_drain($slow, 1);
    my $close = @$frames && $frames->[-1]{opcode} == 8
                ? pop @$frames : undef;
    my $pbad = prefix_ok($frames);

    Test::More::is(($close ? desc($close) : 'no Close')
                   . ($eof ? ', EOF' : ', no EOF')
                   . ($pbad ? ", bad $pbad" : ''),
                   'close 1008 , EOF',
                   'close: the slow one gets what was sent before, whole'
                   . ' frames in order, then Close 1008, then EOF ('
                   . scalar(@$frames) . ' messages)');

    close $slow->{socket};

    close_all_ok('close: the fast subscribers', @fast);
    wait_unsubscribed('room');
}

# TEST 2: ws_slow_subscriber drop.
sub slow_drop {
    my @fast = spread('/sub', 4, 2);
    my $slow = slow_client('/sub');

    both_workers_ok('drop: the fast subscribers', @fast);

    my ($answers, $max, $bad) = publish_and_read(\@fast, 1, MESSAGES);
    my $n = @fast + 1;

    Test::More::is($bad // 'all delivered', 'all delivered',
                   "drop: the fast subscribers get every message in order"
                   . ' while one does not read');

    Test::More::cmp_ok($max, '<', 0.5,
                       'drop: each message reaches all fast subscribers at'
                       . ' once (slowest: ' . sprintf('%.3f', $max) . ' s,'
                       . " the slow one is in worker $slow->{worker})");

    my ($frames, $eof) = slow_drain($slow, 0.5);

    # whole text frames, increasing ids, ending with the last message
    my ($prev, $fbad) = (0, undef);

    for my $f (@$frames) {
        my ($i) = $f->{opcode} == 1 ? $f->{payload} =~ /^msg (\d{4}) / : ();
        if (!defined $i || $i <= $prev || $f->{payload} ne message($i)) {
            $fbad //= 'after message ' . $prev . ': ' . desc($f);
            last;
        }
        $prev = $i;
    }

    my $got = @$frames;

    Test::More::is(($fbad // 'ends with ' . ($prev + 0))
                   . ($eof ? ', EOF' : ''),
                   'ends with ' . MESSAGES,
                   "drop: the slow one gets whole messages in order, the"
                   . " newest last ($got of " . MESSAGES . ')');

    # the dropped ones are logged
    my $dropped = 0;
    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log";
    open my $fh, '<', $log or die "$log: $!";
    while (<$fh>) {
        $dropped += $1
            if /\[warn\] .*dropped (\d+) messages for a slow subscriber/;
    }
    close $fh;

    Test::More::is("$got received + $dropped dropped",
                   ($got) . ' received + ' . (MESSAGES - $got) . ' dropped',
                   'drop: every message is either received or logged as'
                   . ' dropped');

    # still subscribed, and served at once now that it reads
    my $t0 = Time::HiRes::time();
    my $r = answer(publish('room', message(MESSAGES + 1)));
    my ($more) = slow_drain($slow, 0.3);
    my $dt = Time::HiRes::time() - $t0 - 0.3;

    Test::More::is($r . ' ' . desc(@$more),
                   qq(200 application/json {"id":301,"subscribers":$n} )
                   . desc({ opcode => 1, payload => message(MESSAGES + 1) }),
                   'drop: the slow one stays subscribed and gets the next'
                   . ' message');

    $_->read_data(2) for @fast;

    # a clean close
    syswrite $slow->{socket}, WsFrame::ws_close(1000);
    my ($end, $end_eof) = slow_drain($slow, 2);
    close $slow->{socket};

    Test::More::is(desc(@$end) . ($end_eof ? ', EOF' : ''),
                   'close 1000 , EOF',
                   'drop: the slow one closes cleanly');

    close_all_ok('drop: the fast subscribers', @fast);
    wait_unsubscribed('room');
}

# TEST 3, TEST 4: a message larger than ws_send_buffer, to subscribers
# that read, is delivered (nothing else waits for them: they are not slow).
sub one_big {
    my @c = spread('/sub', 4, 1);
    my $msg = message(1);

    Test::More::is(answer(publish('room', $msg)),
                   '200 application/json {"id":1,"subscribers":'
                   . scalar(@c) . '}', 'a 32000-byte message is published');

    all_got_ok('subscribers that read get it whole, with ws_send_buffer'
               . ' 16k', \@c, [1, $msg]);

    close_all_ok('one big message', @c);
    wait_unsubscribed('room');
}

__DATA__

=== TEST 1: ws_slow_subscriber close: the slow one gets 1008 and a warn line, the others keep up
--- http_config
    ws_zone chat 4m history=4;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_send_buffer 256k;
        ws_slow_subscriber close;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 64k;
    }
--- init
main::slow_close();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":300,"history":4}
--- grep_error_log eval
qr/\[warn\] .*subscriber is too slow, closing with 1008/
--- grep_error_log_out eval
qr/\A\[warn\] [^\n]*subscriber is too slow, closing with 1008\n\z/
--- no_error_log
dropped
[error]
[alert]
[crit]



=== TEST 2: ws_slow_subscriber drop: its oldest messages are dropped and logged, the others keep up
--- http_config
    ws_zone chat 4m history=4;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_send_buffer 256k;
        ws_slow_subscriber drop;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 64k;
    }
--- init
main::slow_drop();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":301,"history":4}
--- error_log eval
qr/\[warn\] .*dropped \d+ messages for a slow subscriber/
--- no_error_log
subscriber is too slow
[error]
[alert]
[crit]



=== TEST 3: close policy: one message larger than ws_send_buffer reaches subscribers that read
--- http_config
    ws_zone chat 4m history=4;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_send_buffer 16k;
        ws_slow_subscriber close;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 64k;
    }
--- init
main::one_big();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":1,"history":1}
--- no_error_log
subscriber is too slow
[error]



=== TEST 4: drop policy: one message larger than ws_send_buffer reaches subscribers that read
--- http_config
    ws_zone chat 4m history=4;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_send_buffer 16k;
        ws_slow_subscriber drop;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 64k;
    }
--- init
main::one_big();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":1,"history":1}
--- no_error_log
dropped
[error]
