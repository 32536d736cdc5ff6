# Channels: a subscriber that lets go of frames in the middle of a batch.
# A worker delivers the messages another worker published since it last
# looked in batches (up to 64): each frame is made once and offered to
# every subscriber of the worker in turn.  A slow subscriber offered the
# batch first may let go of frames of that same batch again before the
# subscribers after it got them: closed as too slow (ws_slow_subscriber
# close), its oldest messages dropped (ws_slow_subscriber drop), or its
# waiting messages replaced by a newer one of their conflation key.  The
# frames must stay alive for the subscribers that follow and for the maker.
#
# nginx runs with a master and two workers.  The slow subscriber (4 KiB
# socket buffers on both sides, ws_send_buffer 8k, never reads) subscribes
# first, then one that reads, both in the same worker; a keep-alive
# publisher in the other worker posts 200 messages of 1000 bytes while the
# subscribers' worker is stopped (SIGSTOP), so that they all wait for it
# and it delivers them in full batches when it runs again (SIGCONT).  The
# one that reads must get every message intact and in order, the worker
# must not die, and the slow one is closed, loses its oldest messages, or
# keeps the latest of the key, as documented.  The scenarios run in each
# block's --- init and their checks are the first tests of the block.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;
use Test::NgxWs::Slow;

use Digest::MD5 ();
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

# the slow subscriber connects to a server with a 4 KiB send buffer
# (inside the port range of the server port)
$ENV{TEST_NGINX_SMALL_PORT} = ($ENV{TEST_NGINX_SERVER_PORT}
                               // $ENV{TEST_NGINX_PORT} // 1984) + 5;

master_on();
workers(2);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 3, 2 => 4, 3 => 4);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

config_preamble('ws_security_log_level warn;');

run_tests();


# --- scenarios ----------------------------------------------------------

use constant MESSAGES => 200;     # more than three batches of 64
use constant SIZE => 1000;

# Message $i: its number, then bytes that differ from message to message,
# so that a frame read from freed or reused memory does not pass.
sub message {
    my ($i) = @_;
    my $head = sprintf 'msg %04d ', $i;
    my $fill = Digest::MD5::md5_hex("message $i") x 32;
    return $head . substr($fill, 0, SIZE - length $head);
}

# One request on a keep-alive connection: (status, headers, body).
sub kreq {
    my ($s, $req) = @_;

    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite $s, $req, length($req) - $off, $off;
        die "write: $!" unless defined $n;
        $off += $n;
    }

    my ($buf, $sel) = ('', IO::Select->new($s));

    while (index($buf, "\r\n\r\n") < 0) {
        $sel->can_read(3) or die "no response";
        sysread($s, $buf, 4096, length $buf) or die "response: EOF";
    }

    my $end = index($buf, "\r\n\r\n") + 4;
    my $head = substr $buf, 0, $end;
    my ($len) = $head =~ /\r\nContent-Length: (\d+)\r\n/i;
    $len // die "no Content-Length: $head";

    while (length($buf) - $end < $len) {
        $sel->can_read(3) or die "no response body";
        sysread($s, $buf, 4096, length $buf) or die "response body: EOF";
    }

    my ($status) = $head =~ m{^HTTP/1\.1 (\d+) };
    return ($status // 0, $head, substr($buf, $end, $len));
}

# A keep-alive connection to the publisher in another worker than $avoid.
sub publisher {
    my ($avoid) = @_;

    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
                                      Proto => 'tcp', Timeout => 3)
            or die "connect: $!";
        binmode $s;

        my ($status, $head) = kreq($s, "GET /pub?channel=room HTTP/1.1\r\n"
                                       . "Host: localhost\r\n\r\n");
        my ($worker) = $head =~ /\r\nX-Worker: (\d+)\r\n/i;

        return $s if $status == 200 && defined $worker && $worker ne $avoid;
        close $s;
    }

    die "no publisher connection in the other worker";
}

# A subscriber that reads, in worker $worker.
sub reader {
    my ($worker) = @_;

    for (1 .. 100) {
        my $c = client('/sub');
        return $c if ($c->header('X-Worker') // '') eq $worker;
        $c->close;
    }

    die "no subscriber in worker $worker";
}

# The data frames of a subscriber against the messages: the first one
# that is not a whole message, or that comes out of order; else undef.
# $all: every message must be there.
sub check_frames {
    my ($frames, $all) = @_;
    my $next = 1;

    for my $f (@$frames) {
        return 'a frame of opcode ' . $f->{opcode} if $f->{opcode} != 1;

        my ($i) = $f->{payload} =~ /^msg (\d{4}) /;
        return 'not a message: ' . desc($f) unless defined $i;

        $i += 0;
        return "message $i after " . ($next - 1) if $i < $next;
        return "message $next missing" if $all && $i != $next;
        return "message $i damaged: " . desc($f)
            unless $f->{payload} eq message($i);

        $next = $i + 1;
    }

    return undef;
}

# The scenario: slow one first, then the one that reads, in one worker; the
# publisher in the other posts while that worker is stopped.  Returns the
# check of the reader, the slow one's frames and EOF, and whether the
# subscribers' worker is still the same process.
sub burst {
    my (%h) = @_;

    my $slow = slow_client('/slow', $ENV{TEST_NGINX_SMALL_PORT});
    my $worker = $slow->{worker};
    die "no X-Worker of the slow subscriber" if $worker eq '?';

    my $fast = reader($worker);
    my $pub = publisher($worker);

    my $extra = join '', map { "$_: $h{$_}\r\n" } sort keys %h;
    my $bad;

    kill 'STOP', $worker or die "kill STOP $worker: $!";

    for my $i (1 .. MESSAGES) {
        my $m = message($i);
        my ($status, $head, $body) = eval {
            kreq($pub, "POST /pub?channel=room HTTP/1.1\r\n"
                       . "Host: localhost\r\nContent-Type: text/plain\r\n"
                       . 'Content-Length: ' . length($m) . "\r\n"
                       . $extra . "\r\n" . $m);
        };
        if (!$status || $status != 200) {
            $bad = "publish $i: " . ($@ || "status $status $body");
            last;
        }
    }

    kill 'CONT', $worker or die "kill CONT $worker: $!";
    close $pub;

    my @got;
    while (@got < MESSAGES) {
        my $f = $fast->read_data(3) or last;
        push @got, $f;
    }

    $bad //= check_frames(\@got, 1);
    $bad //= 'got ' . scalar(@got) . ' messages' if @got != MESSAGES;

    my ($frames, $eof) = slow_drain($slow, 1);
    close $slow->{socket};

    my $same = grep { $_ eq $worker } workers_of(master_pid());

    $fast->close;
    wait_unsubscribed('room');

    return ($bad, $frames, $eof, $same);
}

# TEST 1: ws_slow_subscriber close.
sub slow_close {
    my ($bad, $frames, $eof, $same) = burst();

    Test::More::is($bad // 'all ' . MESSAGES, 'all ' . MESSAGES,
                   'close: the subscriber after the slow one gets every'
                   . ' message intact and in order');

    my $close = @$frames && $frames->[-1]{opcode} == 8 ? pop @$frames
                                                       : undef;
    my $sbad = check_frames($frames, 0);

    Test::More::is(($close ? "close $close->{code}" : 'no Close')
                   . ($eof ? ', EOF' : ', open') . ($sbad ? ", $sbad" : ''),
                   'close 1008, EOF',
                   'close: the slow one is closed with 1008 (after '
                   . scalar(@$frames) . ' whole messages)');

    Test::More::ok($same, 'close: the worker is still the same process');
}

# TEST 2: ws_slow_subscriber drop.
sub slow_drop {
    my ($bad, $frames, $eof, $same) = burst();

    Test::More::is($bad // 'all ' . MESSAGES, 'all ' . MESSAGES,
                   'drop: the subscriber after the slow one gets every'
                   . ' message intact and in order');

    my $sbad = check_frames($frames, 0);
    my $last = @$frames && $frames->[-1]{payload} eq message(MESSAGES);

    Test::More::is(($eof ? 'EOF' : 'open')
                   . (@$frames < MESSAGES ? ', fewer' : ', all')
                   . ($last ? ', the last' : ', not the last')
                   . ($sbad ? ", $sbad" : ''),
                   'open, fewer, the last',
                   'drop: the slow one stays open and gets whole messages'
                   . ' in order, the oldest dropped (' . scalar(@$frames)
                   . ' of ' . MESSAGES . ')');

    Test::More::ok($same, 'drop: the worker is still the same process');

    my ($dr) = http('GET', '/status')->{body} =~ /"dropped":(\d+)/;
    Test::More::cmp_ok($dr // 0, '>', 0, 'drop: ws_status counts drops');
}

# TEST 3: one conflation key for all, ws_slow_subscriber close: the
# waiting messages of the key make room, the slow one is not closed.
sub conflate {
    my ($bad, $frames, $eof, $same) = burst('X-WS-Conflate' => 'cursor');

    Test::More::is($bad // 'all ' . MESSAGES, 'all ' . MESSAGES,
                   'conflate: the subscriber after the slow one gets every'
                   . ' message intact and in order');

    my $sbad = check_frames($frames, 0);
    my $last = @$frames && $frames->[-1]{payload} eq message(MESSAGES);

    Test::More::is(($eof ? 'EOF' : 'open')
                   . (@$frames < MESSAGES ? ', fewer' : ', all')
                   . ($last ? ', the last' : ', not the last')
                   . ($sbad ? ", $sbad" : ''),
                   'open, fewer, the last',
                   'conflate: the slow one stays open and gets whole'
                   . ' messages in order, the latest of the key last ('
                   . scalar(@$frames) . ' of ' . MESSAGES . ')');

    Test::More::ok($same, 'conflate: the worker is still the same process');

    my ($cf) = http('GET', '/status')->{body} =~ /"conflated":(\d+)/;
    Test::More::cmp_ok($cf // 0, '>', 0,
                       'conflate: ws_status counts conflated messages');
}

__DATA__

=== TEST 1: ws_slow_subscriber close in the middle of a batch: the subscribers after it get the frames
--- http_config
    ws_zone chat 16m history=1000;

    server {
        listen 127.0.0.1:$TEST_NGINX_SMALL_PORT sndbuf=4k;
        ws_security_log_level warn;

        location /slow {
            websocket;
            ws_subscribe chat room;
            ws_send_buffer 8k;
            ws_slow_subscriber close;
            add_header X-Worker $pid always;
        }
    }
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_send_buffer 1m;
        ws_slow_subscriber close;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 64k;
        add_header X-Worker $pid always;
    }
    location /status {
        ws_status;
    }
--- init
main::slow_close();
--- request
GET /pub?channel=room
--- response_body_like: ^\{"channel":"room","subscribers":0,
--- error_log eval
qr/\[warn\] .*subscriber is too slow, closing with 1008/
--- no_error_log
exited on signal
[error]
[alert]
[crit]



=== TEST 2: ws_slow_subscriber drop in the middle of a batch: the subscribers after it get the frames
--- http_config
    ws_zone chat 16m history=1000;

    server {
        listen 127.0.0.1:$TEST_NGINX_SMALL_PORT sndbuf=4k;
        ws_security_log_level warn;

        location /slow {
            websocket;
            ws_subscribe chat room;
            ws_send_buffer 8k;
            ws_slow_subscriber drop;
            add_header X-Worker $pid always;
        }
    }
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_send_buffer 1m;
        ws_slow_subscriber drop;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 64k;
        add_header X-Worker $pid always;
    }
    location /status {
        ws_status;
    }
--- init
main::slow_drop();
--- request
GET /pub?channel=room
--- response_body_like: ^\{"channel":"room","subscribers":0,
--- error_log eval
qr/\[warn\] .*dropped \d+ messages for a slow subscriber/
--- no_error_log
subscriber is too slow
exited on signal
[error]
[alert]
[crit]



=== TEST 3: conflation in the middle of a batch: the subscribers after it get the frames
--- http_config
    ws_zone chat 16m history=1000;

    server {
        listen 127.0.0.1:$TEST_NGINX_SMALL_PORT sndbuf=4k;
        ws_security_log_level warn;

        location /slow {
            websocket;
            ws_subscribe chat room;
            ws_send_buffer 8k;
            ws_slow_subscriber close;
            add_header X-Worker $pid always;
        }
    }
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_send_buffer 1m;
        ws_slow_subscriber close;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 64k;
        add_header X-Worker $pid always;
    }
    location /status {
        ws_status;
    }
--- init
main::conflate();
--- request
GET /pub?channel=room
--- response_body_like: ^\{"channel":"room","subscribers":0,
--- no_error_log
subscriber is too slow
dropped
exited on signal
[error]
[alert]
[crit]
