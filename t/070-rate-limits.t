# Per-connection rate limits: ws_limit_messages, ws_limit_bytes and
# ws_limit_action.  With "close" the first frame that finds more than the
# burst in a bucket gets Close 1008 "rate limit" and a warn line naming the
# connection; with "delay" (the default) every message gets through, in
# order, but reading stops until the bucket has drained, so a flood takes
# the time the rate says, TCP pushes back on the client, the worker does not
# spin, and other connections are served meanwhile.  Pings and Pongs count as
# messages; Close frames do not.
#
# The clients of the timing blocks run in --- init (after nginx has
# started); their checks are the first tests of the block.  The timing
# bounds are loose (the machine is shared): the lower bounds are the ones
# that matter.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Numbered ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc qw(master_pid);
use Test::NgxWs::Slow;
use Test::Nginx::Socket;

use IO::Select ();
use IO::Socket::INET ();
use Socket qw(SOL_SOCKET SO_RCVBUF SO_SNDBUF IPPROTO_TCP TCP_NODELAY
              inet_aton pack_sockaddr_in);
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

# a second server, with a small send buffer (inside the port range of the
# server port)
$ENV{TEST_NGINX_SMALL_PORT} = ($ENV{TEST_NGINX_SERVER_PORT}
                               // $ENV{TEST_NGINX_PORT} // 1984) + 5;

repeat_each(1);

# the checks of the --- init clients, by the name of their sub
our %INIT_CHECKS = (
    delay_messages => 4,
    delay_bytes    => 3,
    backpressure   => 5,
    with_blocked   => 2,
);

plan tests => repeat_each() * checks();

no_shuffle();
no_long_string();

# limits were warn lines: the tests keep that level (t/130 checks the
# default, error)
config_preamble('ws_security_log_level warn;');

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_')
    log_format ws_time '$status $request_time';
_EOC_
        unless defined $block->http_config;
});

run_tests();


# One test for the status (or for dying) and one per response_body,
# access_log, grep_error_log_out and line of error_log and no_error_log,
# plus the checks of the init client.
sub checks {
    my $n = 0;

    for my $block (blocks()) {
        $n += 1 + grep { defined $block->$_ }
                      qw(response_body access_log grep_error_log_out);

        for my $v (grep { defined } $block->error_log, $block->no_error_log) {
            $n += ref $v eq 'ARRAY' ? @$v
                : ref $v ? 1
                : scalar(my @l = split /\n/, $v);
        }

        if (defined $block->init && $block->init =~ /main::(\w+)/) {
            $n += $INIT_CHECKS{$1} // die "no check count for $1";
        }
    }

    return $n;
}

# An access log line "101 <request_time>" with the time from $lo ms
# (included) to $hi ms (excluded), both multiples of 10.
sub took {
    my ($lo, $hi) = @_;
    my @alt;

    for (my $ms = $lo; $ms < $hi; $ms += 10) {
        push @alt, sprintf '%d\.%02d\d', int($ms / 1000), ($ms % 1000) / 10;
    }

    my $re = CORE::join '|', @alt;
    return qr/^101 (?:$re)$/m;
}

# The warn line for a limit, with the connection id.
sub limit_line {
    my ($what, $action) = @_;
    my $tail = $action eq 'close' ? 'closing with 1008' : 'delaying reading';
    return qr/\[warn\] .*connection [0-9a-f]{32} exceeded $what, $tail/;
}

sub close_1008 { "\x88\x0c\x03\xf0rate limit" }

# user + system CPU time of a process, in seconds
sub cpu_time {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or die "/proc/$pid/stat: $!";
    my $st = <$fh>;
    $st =~ s/^.*\) //s;
    my @f = split ' ', $st;
    return ($f[11] + $f[12]) / 100;    # utime, stime (clock ticks)
}

use constant TCP_INFO => 11;          # Linux
use constant TCP_ESTABLISHED => 1;

sub tcp_state {
    my ($sock) = @_;
    my $info = getsockopt($sock, IPPROTO_TCP, TCP_INFO);
    return defined $info ? unpack('C', $info) : -1;
}

# Reads frames until $n data messages have come or $timeout passes; returns
# the payloads and the arrival time of each, from $t0.
sub read_messages {
    my ($c, $n, $t0, $timeout) = @_;
    my (@got, @at);
    my $deadline = Time::HiRes::time() + $timeout;

    while (@got < $n) {
        my $f = $c->read_frame($deadline - Time::HiRes::time());
        last unless $f;
        next unless $f->{opcode} == 1 || $f->{opcode} == 2;
        push @got, $f->{payload};
        push @at, Time::HiRes::time() - $t0;
    }

    return (\@got, \@at);
}

# ws_limit_messages rate=20r/s burst=10: 50 messages sent at once; the
# first 11 come back at once, the others one every 50 ms: the last one
# after (50 - 11) / 20 = 1.95 s.
sub delay_messages {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 6);
    my @msg = map { "m$_" } 1 .. 50;
    my $t0 = Time::HiRes::time();

    $c->raw_write(CORE::join '', map { WsFrame::ws_text($_) } @msg);

    my ($got, $at) = read_messages($c, 50, $t0, 6);

    Test::More::is_deeply($got, \@msg, 'all 50 messages echoed, in order');

    Test::More::ok(@$at >= 11 && $at->[10] < 0.5,
                   sprintf('the burst: 11 messages at once (the 11th after'
                           . ' %.3f s)', $at->[10] // -1));

    Test::More::ok(@$at == 50 && $at->[49] >= 1.8 && $at->[49] < 5,
                   sprintf('the other 39 at 20 per second: the 50th after'
                           . ' %.3f s (1.95 s expected)', $at->[-1] // -1));

    $c->send_close(1000);
    my $code = $c->wait_close(3);
    Test::More::is($code, 1000, 'the close handshake completes');
    $c->close;
}

# ws_limit_bytes rate=100k/s: 20 messages of 10000 bytes sent at once take
# about 19 * 10000 / 102400 = 1.86 s.
sub delay_bytes {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 6);
    my @msg = map { sprintf('%05d', $_) x 2000 } 1 .. 20;
    my $t0 = Time::HiRes::time();

    $c->raw_write(CORE::join '', map { WsFrame::ws_binary($_) } @msg);

    my ($got, $at) = read_messages($c, 20, $t0, 6);

    Test::More::ok(@$got == 20 && !grep({ $got->[$_] ne $msg[$_] } 0 .. 19),
                   'all 20 messages echoed, in order (' . @$got . ')');

    Test::More::ok(@$at == 20 && $at->[19] >= 1.7 && $at->[19] < 5,
                   sprintf('at 100k/s: the 20th after %.3f s (1.86 s'
                           . ' expected)', $at->[-1] // -1));

    $c->send_close(1000);
    my $code = $c->wait_close(3);
    Test::More::is($code, 1000, 'the close handshake completes');
    $c->close;
}

# ws_limit_messages rate=2r/s: a client that writes without pause is
# stopped by TCP, the worker does not spin meanwhile, and another client
# is served at once.
sub backpressure {
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_SNDBUF, 16384) or die "SO_SNDBUF: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 16384) or die "SO_RCVBUF: $!";
    connect($s, pack_sockaddr_in($ENV{TEST_NGINX_SERVER_PORT},
                                 inet_aton('127.0.0.1')))
        or die "connect: $!";

    my $hs = WsFrame::ws_handshake('/ws');
    syswrite($s, $hs) == length $hs or die "handshake write: $!";

    my ($resp, $sel) = ('', IO::Select->new($s));

    while (index($resp, "\r\n\r\n") < 0) {
        $sel->can_read(2) or die "no handshake response";
        sysread($s, $resp, 4096, length $resp) or die "handshake read: $!";
    }

    $resp =~ m{^HTTP/1\.1 101 } or die "handshake failed: $resp";

    $s->blocking(0);

    my $data = WsFrame::ws_text('flood') x (32 * 1024 * 1024 / 11);
    my ($off, $last) = (0, Time::HiRes::time());
    my $wsel = IO::Select->new($s);

    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);

        if (defined $n) {
            $off += $n;
            $last = Time::HiRes::time();
            next;
        }

        die "write: $!" unless $!{EAGAIN} || $!{EINTR};
        last if Time::HiRes::time() - $last >= 0.5;
        $wsel->can_write(0.05);
    }

    Test::More::ok($off < length $data,
                   "TCP stopped the flooding client (after $off of "
                   . length($data) . " bytes)");

    my $pid = master_pid();      # master_process off: the worker
    my $cpu0 = cpu_time($pid);
    Time::HiRes::sleep(1);
    my $cpu = cpu_time($pid) - $cpu0;

    Test::More::ok($cpu < 0.2,
                   "the worker does not spin while reading is paused"
                   . " (${cpu}s of CPU in 1 s)");

    my $t0 = Time::HiRes::time();
    my $c = Test::NgxWs::Client->new(path => '/other', timeout => 2);
    $c->send_text('prompt');
    my $f = $c->read_frame(1);
    my $dt = Time::HiRes::time() - $t0;

    Test::More::ok($f && $f->{opcode} == 1 && $f->{payload} eq 'prompt'
                   && $dt < 0.5,
                   sprintf('another connection is echoed meanwhile'
                           . ' (in %.3f s)', $dt));

    $c->send_close(1000);
    $c->wait_eof(1);

    # the flooding client gets its echoes at 2 per second: read for 1.2 s

    my ($in, $echoes) = ('', 0);
    my $deadline = Time::HiRes::time() + 1.2;

    while (Time::HiRes::time() < $deadline) {
        $sel->can_read(0.05) or next;
        my $r = sysread($s, $in, 65536, length $in);
        last unless $r;
    }

    while (defined(my $size = WsFrame::frame_size($in))) {
        my ($fr) = WsFrame::decode(substr($in, 0, $size, ''));
        $echoes++ if $fr->{opcode} == 1 && $fr->{payload} eq 'flood';
    }

    Test::More::ok($echoes >= 2 && $echoes <= 10,
                   "the paused client is echoed at the rate ($echoes"
                   . " echoes in about 3 s)");

    Test::More::is(tcp_state($s), TCP_ESTABLISHED,
                   'the paused client is not closed');
    close $s;
}

# ws_limit_messages with ws_send_buffer: a client that does not read for
# a while (both pauses hold the reading), then reads, gets every message
# back in order.
sub with_blocked {
    my $s = connect_small('/ws', $ENV{TEST_NGINX_SMALL_PORT},
                           sndbuf => 16384);
    my $n = 200;
    my $data = CORE::join('', map {
        WsFrame::ws_binary(Test::NgxWs::Numbered::payload($_, 8192))
    } 1 .. $n);
    my ($off, $last) = (0, Time::HiRes::time());

    # write without reading for 1 s

    while (Time::HiRes::time() - $last < 1 && $off < length $data) {
        my $w = syswrite($s, $data, length($data) - $off, $off);

        if (defined $w) {
            $off += $w;
            next;
        }

        Time::HiRes::sleep(0.01);
    }

    my ($got, $bad, $closing)
        = Test::NgxWs::Numbered::finish($s, $data, $off, 8192);

    Test::More::ok($got == $n && $bad == 0,
                   "every message came back in order ($got of $n, $bad"
                   . " different)");

    Test::More::is($closing, 2, 'the close handshake completed');
    close $s;
}

__DATA__

=== TEST 1: close: burst + 1 messages pass, the next one gets 1008 "rate limit"
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=1r/s burst=2;
        ws_limit_action close;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. CORE::join('', map { WsFrame::ws_text("m$_") } 1 .. 5)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x02m1\x81\x02m2\x81\x02m3" . main::close_1008()
--- error_log eval
main::limit_line('ws_limit_messages', 'close')
--- no_error_log
[error]
delaying reading



=== TEST 2: close: the default burst is 0
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=1r/s;
        ws_limit_action close;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('a') . WsFrame::ws_text('b')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x01a" . main::close_1008()
--- error_log eval
main::limit_line('ws_limit_messages', 'close')
--- no_error_log
[error]



=== TEST 3: close: messages spaced at the rate pass
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=10r/s;
        ws_limit_action close;
    }
--- raw_request eval
[ WsFrame::ws_handshake('/ws') . WsFrame::ws_text('a'), WsFrame::ws_text('b'),
  WsFrame::ws_text('c') . WsFrame::ws_close(1000) ]
--- raw_request_middle_delay: 0.15
--- error_code: 101
--- response_body eval
"\x81\x01a\x81\x01b\x81\x01c\x88\x02\x03\xe8"
--- no_error_log
exceeded
[error]



=== TEST 4: close: a fragmented message counts once
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=1r/s burst=1;
        ws_limit_action close;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_text('ab', fin => 0) . WsFrame::ws_cont('cd', fin => 0)
. WsFrame::ws_cont('ef') . WsFrame::ws_text('g') . WsFrame::ws_text('h')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x06abcdef\x81\x01g" . main::close_1008()
--- error_log eval
main::limit_line('ws_limit_messages', 'close')
--- no_error_log
[error]



=== TEST 5: close: Pings count as messages
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=1r/s burst=1;
        ws_limit_action close;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_ping('p1') . WsFrame::ws_ping('p2')
. WsFrame::ws_ping('p3') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x8a\x02p1\x8a\x02p2" . main::close_1008()
--- error_log eval
main::limit_line('ws_limit_messages', 'close')
--- no_error_log
[error]



=== TEST 6: close: Pongs count as messages, with data messages
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=1r/s burst=1;
        ws_limit_action close;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_pong('') . WsFrame::ws_text('a')
. WsFrame::ws_text('b') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x01a" . main::close_1008()
--- error_log eval
main::limit_line('ws_limit_messages', 'close')
--- no_error_log
[error]



=== TEST 7: close: a Close frame does not count
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=1r/s;
        ws_limit_action close;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('a') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x01a\x88\x02\x03\xe8"
--- no_error_log
exceeded
[error]



=== TEST 8: close: ws_limit_bytes counts payload bytes
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_bytes rate=1k/s burst=2k;
        ws_limit_action close;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. CORE::join('', map { WsFrame::ws_binary($_ x 1000) } 1 .. 4)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_binary($_ x 1000) } 1 .. 3)
. main::close_1008()
--- error_log eval
main::limit_line('ws_limit_bytes', 'close')
--- no_error_log
[error]
ws_limit_messages



=== TEST 9: close: both limits, the message limit first
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=1r/s burst=1;
        ws_limit_bytes rate=1m/s burst=1m;
        ws_limit_action close;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('a') . WsFrame::ws_text('b')
. WsFrame::ws_text('c') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x01a\x81\x01b" . main::close_1008()
--- error_log eval
main::limit_line('ws_limit_messages', 'close')
--- no_error_log
[error]



=== TEST 10: close: rate in r/m
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=60r/m burst=1;
        ws_limit_action close;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('a') . WsFrame::ws_text('b')
. WsFrame::ws_text('c') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x01a\x81\x01b" . main::close_1008()
--- error_log eval
main::limit_line('ws_limit_messages', 'close')
--- no_error_log
[error]



=== TEST 11: inheritance: a server-level limit, "off" in the location
--- config
    ws_limit_messages rate=1r/s;
    ws_limit_action close;

    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages off;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('a') . WsFrame::ws_text('b')
. WsFrame::ws_text('c') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x01a\x81\x01b\x81\x01c\x88\x02\x03\xe8"
--- no_error_log
exceeded
[error]



=== TEST 12: inheritance: an http-level limit and action apply to the location
--- http_config
    ws_limit_messages rate=1r/s burst=1;
    ws_limit_action close;
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('a') . WsFrame::ws_text('b')
. WsFrame::ws_text('c') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x01a\x81\x01b" . main::close_1008()
--- error_log eval
main::limit_line('ws_limit_messages', 'close')
--- no_error_log
[error]



=== TEST 13: no limit by default
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. CORE::join('', map { WsFrame::ws_text("m$_") } 1 .. 100)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_text("m$_") } 1 .. 100) . "\x88\x02\x03\xe8"
--- no_error_log
exceeded
[error]



=== TEST 14: delay (the default): every message gets through, later; one log line
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=20r/s burst=2;
        access_log logs/access.log ws_time;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. CORE::join('', map { WsFrame::ws_text("m$_") } 1 .. 10)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_text("m$_") } 1 .. 10) . "\x88\x02\x03\xe8"
--- access_log eval
main::took(380, 2000)
--- grep_error_log eval
qr/exceeded ws_limit_messages, delaying reading/
--- grep_error_log_out
exceeded ws_limit_messages, delaying reading
--- error_log eval
main::limit_line('ws_limit_messages', 'delay')
--- no_error_log
[error]
closing with 1008



=== TEST 15: delay: ws_limit_bytes
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_bytes rate=10k/s burst=1k;
        access_log logs/access.log ws_time;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. CORE::join('', map { WsFrame::ws_binary($_ x 1000) } 1 .. 5)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
CORE::join('', map { WsFrame::srv_binary($_ x 1000) } 1 .. 5)
. "\x88\x02\x03\xe8"
--- access_log eval
main::took(360, 2000)
--- error_log eval
main::limit_line('ws_limit_bytes', 'delay')
--- no_error_log
[error]



=== TEST 16: delay: Pings are answered in order, at the rate
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=10r/s;
        access_log logs/access.log ws_time;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_ping('1') . WsFrame::ws_text('a')
. WsFrame::ws_ping('2') . WsFrame::ws_text('b') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x8a\x011\x81\x01a\x8a\x012\x81\x01b\x88\x02\x03\xe8"
--- access_log eval
main::took(390, 2000)
--- no_error_log
[error]



=== TEST 17: delay: 50 messages at 20r/s with burst=10 take about 1.95 s
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=20r/s burst=10;
    }
--- init
main::delay_messages();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x05after\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 18: delay: 20 messages of 10000 bytes at 100k/s take about 1.86 s
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_bytes rate=100k/s;
    }
--- init
main::delay_bytes();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x05after\x88\x02\x03\xe8"
--- no_error_log
[error]



=== TEST 19: delay is backpressure: TCP stops the client, the worker does not spin
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=2r/s;
    }

    location /other {
        websocket;
        ws_echo on;
    }
--- init
main::backpressure();
--- raw_request eval
WsFrame::ws_handshake('/other') . WsFrame::ws_text('after')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x05after\x88\x02\x03\xe8"
--- error_log eval
main::limit_line('ws_limit_messages', 'delay')
--- no_error_log
[error]



=== TEST 20: delay together with ws_send_buffer backpressure
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_SMALL_PORT sndbuf=16k;

        location /ws {
            websocket;
            ws_echo on;
            ws_send_buffer 2k;
            ws_limit_messages rate=200r/s burst=20;
        }
    }
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
--- init
main::with_blocked();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x05after\x88\x02\x03\xe8"
--- error_log
ws reading paused queued:
exceeded ws_limit_messages, delaying reading
--- no_error_log
[error]



=== TEST 21: delay: a paused connection is not closed as idle
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=1r/m;
        ws_idle_timeout 200ms;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('a') . WsFrame::ws_text('b')
--- timeout: 800ms
--- abort
--- error_code: 101
--- response_body eval
"\x81\x01a"
--- no_error_log
idle timeout
[error]



=== TEST 22: delay: a paused connection is not closed for an unanswered ping
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=1r/m;
        ws_ping_interval 100ms;
        ws_pong_timeout 100ms;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('a') . WsFrame::ws_text('b')
--- timeout: 800ms
--- abort
--- error_code: 101
--- response_body eval
"\x81\x01a\x89\x00"
--- no_error_log
client did not answer ping
[error]



=== TEST 23: ws_limit_messages without rate
--- config
    location /ws {
        websocket;
        ws_limit_messages burst=5;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"ws_limit_messages" must have "rate" parameter/



=== TEST 24: ws_limit_messages with a rate that is not r/s or r/m
--- config
    location /ws {
        websocket;
        ws_limit_messages rate=10;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "rate=10"/



=== TEST 25: ws_limit_bytes with a rate without /s
--- config
    location /ws {
        websocket;
        ws_limit_bytes rate=1m;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "rate=1m"/



=== TEST 26: ws_limit_messages with an unknown parameter
--- config
    location /ws {
        websocket;
        ws_limit_messages rate=1r/s nodelay;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "nodelay"/



=== TEST 27: ws_limit_bytes twice in a location
--- config
    location /ws {
        websocket;
        ws_limit_bytes rate=1m/s;
        ws_limit_bytes rate=2m/s;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"ws_limit_bytes" directive is duplicate/



=== TEST 28: close: bytes count as they arrive: a message that never ends is closed
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_bytes rate=1k/s burst=2k;
        ws_limit_action close;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws')
. WsFrame::ws_binary('x' x 1000, fin => 0)
. CORE::join('', map { WsFrame::ws_cont('x' x 1000, fin => 0) } 1 .. 9)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
main::close_1008()
--- error_log eval
main::limit_line('ws_limit_bytes', 'close')
--- no_error_log
[error]



=== TEST 29: close: a compressed message of empty stored blocks counts its bytes on the wire
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_max_message_size 64m;
        ws_limit_bytes rate=1k/s burst=2k;
        ws_limit_action close;
    }
--- raw_request eval
# 200 empty stored blocks (1000 bytes) per fragment: they inflate to nothing
my $empty = "\x00\x00\x00\xff\xff" x 200;
WsFrame::ws_handshake('/ws', extensions => 'permessage-deflate')
. WsFrame::ws_binary($empty, rsv => 4, fin => 0)
. CORE::join('', map { WsFrame::ws_cont($empty, fin => 0) } 1 .. 9)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
main::close_1008()
--- error_log eval
main::limit_line('ws_limit_bytes', 'close')
--- no_error_log
[error]



=== TEST 30: close: a compressed message counts its bytes on the wire, not after inflating
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_limit_bytes rate=1k/s burst=1k;
        ws_limit_action close;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws', extensions => 'permessage-deflate')
. CORE::join('', map { WsFrame::ws_binary_z($_ x 5000) } 'a' .. 'c')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_filters eval
\&WsFrame::describe_inflated
--- response_body eval
WsFrame::describe(CORE::join('', map { WsFrame::srv_binary($_ x 5000,
                                                           rsv => 4) }
                                     'a' .. 'c')
                  . "\x88\x02\x03\xe8")
--- no_error_log
exceeded
[error]
