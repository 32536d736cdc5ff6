# Memory amplification by a client that does not read: what the worker
# holds for the frames waiting to be sent to it is bounded by
# ws_send_buffer counted in memory, not in frame bytes, so frames that are
# small on the wire but cost a pool each (a Pong, the echo of an empty
# message, a channel frame queued on a subscriber) cannot make it grow by
# hundreds of MiB.  Each client has a 4 KiB receive buffer and never reads
# while it floods; the worker's resident size (VmRSS without the shared
# memory it has touched) may grow by about ws_send_buffer and no more:
#
#   - Pings on a bare "websocket;" location: at most one Pong waits, a new
#     Ping replaces its payload, and the last Ping is the one answered;
#   - empty messages on ws_echo: reading stops at ws_send_buffer, and a
#     client that reads again gets every echo;
#   - small channel messages to a subscriber with ws_slow_subscriber drop
#     (and a server send buffer of 4k, so that the kernel takes little).
#
# master_process is off, so the process in the pid file is the worker.  The
# floods run in each block's --- init; their checks are the first tests of
# the block.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc qw(nginx_rss);
use Test::NgxWs::Slow;
use Test::Nginx::Socket;

use IO::Select ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

# a second server, with a small send buffer, so that the kernel takes
# little of what is sent to a client that does not read (inside the port
# range of the server port)
$ENV{TEST_NGINX_SMALL_PORT} = ($ENV{TEST_NGINX_SERVER_PORT}
                               // $ENV{TEST_NGINX_PORT} // 1984) + 5;

repeat_each(1);

# a flood of frames logged one by one at debug would take gigabytes
log_level('warn');

# the init checks: 2 in TEST 1, 3 in TEST 2, 3 in TEST 3; each block:
# status, body and 2 no_error_log lines
plan tests => repeat_each() * (blocks() * 4 + 2 + 3 + 3);

no_shuffle();
no_long_string();

run_tests();


# What the worker may grow by beyond ws_send_buffer: the 64 KiB kept of a
# read while reading is paused, allocator slack.  Under AddressSanitizer
# (make test-asan) every allocation carries redzones: twice as much.
sub bound_kb {
    my ($send_buffer_kb) = @_;
    my $kb = $send_buffer_kb + 1536;
    return $ENV{ASAN_OPTIONS} ? 2 * $kb : $kb;
}

# One echo on a fresh connection, so that the worker's one-time
# allocations (the receive buffer, ...) are made before the baseline.
sub warm_up {
    my ($path, $msg) = @_;
    my $c = Test::NgxWs::Client->new(path => $path, timeout => 3);
    $c->send_text($msg) if defined $msg;
    $c->read_frame(1) if defined $msg;
    $c->send_close(1000);
    $c->wait_eof(2);
    $c->close;
}

# Writes $data until all is written, no byte has gone out for $stall
# seconds, or $secs have passed; returns the bytes written.
sub flood {
    my ($s, $data, $stall, $secs) = @_;
    my ($off, $t0) = (0, Time::HiRes::time());
    my $last = $t0;
    my $sel = IO::Select->new($s);

    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);

        if (defined $n) {
            $off += $n;
            $last = Time::HiRes::time();
            last if $last - $t0 >= $secs;
            next;
        }

        die "write: $!" unless $!{EAGAIN} || $!{EINTR};

        my $now = Time::HiRes::time();
        last if $now - $last >= $stall || $now - $t0 >= $secs;
        $sel->can_write(0.05);
    }

    return $off;
}

# Reads frames until $done->(frame) is true, EOF, or $secs without data;
# returns the frames.
sub read_until {
    my ($s, $secs, $done) = @_;
    my ($buf, @frames) = ('');
    my $sel = IO::Select->new($s);

    for (;;) {
        while (defined(my $size = WsFrame::frame_size($buf))) {
            my ($f) = WsFrame::decode(substr($buf, 0, $size, ''));
            push @frames, $f;
            return \@frames if $done->($f);
        }

        $sel->can_read($secs) or last;
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }

    return \@frames;
}

# TEST 1: Pings, 16 MB of them, on a location without any route.
sub ping_flood {
    warm_up('/ws');

    my $rss0 = nginx_rss(private => 1);
    my $s = connect_small('/ws');
    my $total = 16 * 1024 * 1024;

    my $written = flood($s, WsFrame::ws_ping('') x ($total / 6), 1, 10);

    # the worker has read what it could (a stalled one long since)
    Time::HiRes::sleep(0.3);

    my $grown = nginx_rss(private => 1) - $rss0;
    my $bound = bound_kb(1024);

    Test::More::ok($grown < $bound,
                   "Pings: RSS grew by $grown KiB (bound $bound KiB,"
                   . " $written bytes of Pings written)");

    # the last Ping is answered, and only Pongs come
    flood($s, WsFrame::ws_ping('the last'), 1, 1);

    my $frames = read_until($s, 3, sub { $_[0]{opcode} != 10
                                         || $_[0]{payload} eq 'the last' });
    my @other = grep { $_->{opcode} != 10 } @$frames;

    Test::More::ok(@$frames && !@other
                   && $frames->[-1]{payload} eq 'the last',
                   'Pings: the client gets Pongs only, the last one for the'
                   . ' last Ping (' . scalar(@$frames) . ' Pongs)');

    close $s;
}

# TEST 2: empty text messages to ws_echo.
sub empty_flood {
    warm_up('/ws', 'hello');

    my $rss0 = nginx_rss(private => 1);
    my $s = connect_small('/ws');
    my $total = 16 * 1024 * 1024;
    my $frame = WsFrame::ws_text('');

    my $written = flood($s, $frame x ($total / length $frame), 1, 10);
    my $grown = nginx_rss(private => 1) - $rss0;
    my $bound = bound_kb(1024);

    Test::More::ok($written < $total,
                   "empty messages: the server stopped reading (after"
                   . " $written bytes)");

    Test::More::ok($grown < $bound,
                   "empty messages: RSS grew by $grown KiB (bound $bound"
                   . " KiB)");

    # reading again, the client gets one echo per message, then the Close

    my $sent = int($written / length $frame);
    my $out = WsFrame::ws_close(1000);

    if (my $part = $written % length $frame) {
        $out = substr($frame, $part) . $out;
        $sent++;
    }

    my ($buf, $echoes, $other, $code) = ('', 0, 0, undef);
    my $sel = IO::Select->new($s);
    # the read ends at the server's FIN; the deadline is for a hung server
    # only: a loaded machine takes its time over millions of frames
    my $deadline = Time::HiRes::time() + 90;

    while (Time::HiRes::time() < $deadline) {
        if (length $out && $sel->can_write(0)) {
            my $n = syswrite($s, $out);
            substr($out, 0, $n, '') if defined $n;
        }

        $sel->can_read(0.05) or next;
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;

        # the empty echoes, a run of them at a time
        if ($buf =~ /\A((?:\x81\x00)+)/) {
            $echoes += length($1) / 2;
            substr($buf, 0, length $1, '');
        }

        while (defined(my $size = WsFrame::frame_size($buf))) {
            my ($f) = WsFrame::decode(substr($buf, 0, $size, ''));

            if ($f->{opcode} == 1 && $f->{payload} eq '') {
                $echoes++;

            } elsif ($f->{opcode} == 8) {
                $code = unpack 'n', $f->{payload};

            } else {
                $other++;
            }
        }
    }

    Test::More::is("$echoes echoes, $other other, close "
                   . ($code // 'none'),
                   "$sent echoes, 0 other, close 1000",
                   'empty messages: a client that reads again gets every'
                   . ' echo, in order before the Close');

    close $s;
}

# TEST 3: 40000 small channel messages; one subscriber does not read.
sub channel_flood {
    my $pub = Test::NgxWs::Client->new(path => '/pub', timeout => 10);
    $pub->send_text('warm-up');

    my $rss0 = nginx_rss(private => 1);
    my $s = connect_small('/sub', $ENV{TEST_NGINX_SMALL_PORT});
    my $n = 40000;

    $pub->raw_write(CORE::join('', map { WsFrame::ws_text(sprintf 'm%05d', $_) }
                                   1 .. $n)
                    . WsFrame::ws_ping('done'));

    # the Pong comes after every message was published
    my $f;
    do { $f = $pub->read_frame(10) } while $f && $f->{opcode} != 10;

    Time::HiRes::sleep(0.3);

    my $grown = nginx_rss(private => 1) - $rss0;
    my $bound = bound_kb(256);

    Test::More::ok($f && $grown < $bound,
                   "channel: RSS grew by $grown KiB (bound $bound KiB)"
                   . ($f ? '' : ', the publisher got no Pong'));

    # what reaches the slow subscriber: whole messages, in order, the
    # newest last; the others were dropped, and logged so

    my $frames = read_until($s, 1, sub { 0 });
    my ($prev, $bad) = (0, undef);

    for my $fr (@$frames) {
        my ($i) = $fr->{opcode} == 1 ? $fr->{payload} =~ /^m(\d{5})$/ : ();

        if (!defined $i || $i <= $prev) {
            $bad //= "after m$prev: opcode $fr->{opcode}";
            last;
        }

        $prev = $i;
    }

    Test::More::is($bad // "up to m$prev", sprintf('up to m%05d', $n),
                   'channel: the slow subscriber gets whole messages in'
                   . ' order, the newest last (' . scalar(@$frames)
                   . " of $n)");

    my $dropped = 0;
    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log";
    open my $fh, '<', $log or die "$log: $!";
    while (<$fh>) {
        $dropped += $1
            if /\[warn\] .*dropped (\d+) messages for a slow subscriber/;
    }
    close $fh;

    Test::More::is(scalar(@$frames) + $dropped, $n,
                   "channel: every message is received or logged as"
                   . " dropped ($dropped dropped)");

    close $s;
    $pub->send_close(1000);
    $pub->wait_eof(2);
    $pub->close;
}

__DATA__

=== TEST 1: Pings from a client that does not read cost one Pong
--- config
    location /ws {
        websocket;
    }
--- init
main::ping_flood();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_ping('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x8a\x05after" . "\x88\x02\x03\xe8"
--- no_error_log
[error]
[alert]



=== TEST 2: echoes of empty messages count with their memory against ws_send_buffer
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- init
main::empty_flood();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x05after" . "\x88\x02\x03\xe8"
--- no_error_log
[error]
[alert]



=== TEST 3: small channel messages to a subscriber that does not read
--- http_config
    ws_zone chat 8m;

    server {
        listen 127.0.0.1:$TEST_NGINX_SMALL_PORT sndbuf=4k;

        location /sub {
            websocket;
            ws_subscribe chat room;
            ws_slow_subscriber drop;
            ws_send_buffer 256k;
        }
    }
--- config
    location /pub {
        websocket;
        ws_publish chat room;
    }
--- init
main::channel_flood();
--- raw_request eval
WsFrame::ws_handshake('/pub') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x88\x02\x03\xe8"
--- no_error_log
[error]
[alert]
