# Backpressure (ws_send_buffer, ws_send_timeout): while more than
# ws_send_buffer bytes wait to be sent to a client, the server stops reading
# from it, so a client that sends but does not read cannot make the worker
# buffer without bound; it is closed when ws_send_timeout passes without
# progress ("client timed out").  Other connections are served meanwhile, and
# a client that starts reading again gets every message back, in order.
#
# The clients run in each block's --- init (after nginx has started); their
# checks are the first tests of the block.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Numbered ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc qw(nginx_rss);
use Test::NgxWs::Slow;
use Test::Nginx::Socket;

use Errno ();
use IO::Select ();
use Socket qw(IPPROTO_TCP);
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

repeat_each(1);

# each block: 4 checks of its own + status, body, error_log, no_error_log;
# the init clients: 5 checks in TEST 1, 3 in TEST 2
plan tests => repeat_each() * (blocks() * 4 + 5 + 3);

no_shuffle();
no_long_string();

# refusals and the send timeout were info lines: the tests keep that level
# (t/130 checks the default, error)
config_preamble('ws_security_log_level info;');

run_tests();


use constant TCP_INFO => 11;          # Linux
use constant TCP_ESTABLISHED => 1;

sub tcp_state {
    my ($sock) = @_;
    my $info = getsockopt($sock, IPPROTO_TCP, TCP_INFO);
    return defined $info ? unpack('C', $info) : -1;
}

# Writes $data until it is all written or no byte has gone out for $stall
# seconds; returns (bytes written, time of the last progress).
sub write_until_stalled {
    my ($s, $data, $stall) = @_;
    my ($off, $last) = (0, Time::HiRes::time());
    my $sel = IO::Select->new($s);

    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);

        if (defined $n) {
            $off += $n;
            $last = Time::HiRes::time();
            next;
        }

        die "write: $!" unless $!{EAGAIN} || $!{EINTR};

        last if Time::HiRes::time() - $last >= $stall;
        $sel->can_write(0.05);
    }

    return ($off, $last);
}

# TEST 1: a client that never reads is stopped, then closed; another client
# is served meanwhile.
sub never_reads {
    my $rss0 = nginx_rss();
    my $s = connect_small('/ws');
    my $frame = WsFrame::ws_binary('z' x 4096);
    my $total = 64 * 1024 * 1024;

    my ($written, $last) = write_until_stalled($s, $frame x ($total / 4096),
                                               0.5);

    Test::More::ok($written < $total,
                   "the server stopped reading from a client that does not"
                   . " read (after $written bytes)");

    Test::More::is(tcp_state($s), TCP_ESTABLISHED,
                   "the stopped client is not closed before"
                   . " ws_send_timeout");

    my $grown = nginx_rss() - $rss0;

    # What may grow is the queue up to ws_send_buffer (1 MiB) and its
    # pools; buffering what was read (7 to 9 MB) would take more than
    # either bound.  Under AddressSanitizer (make test-asan sets
    # ASAN_OPTIONS) each allocation of that queue carries redzones and,
    # with NGX_DEBUG_PALLOC, a malloc of its own: the same queue costs up to
    # twice as much (4.3 to 4.8 MiB measured), and buffering would too.
    my $bound = $ENV{ASAN_OPTIONS} ? 2 * 4096 : 4096;

    Test::More::ok($grown < $bound,
                   "the worker did not buffer what it could not send"
                   . " (RSS grew by $grown KiB, read $written bytes)");

    my $t0 = Time::HiRes::time();
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 2);
    $c->send_text('prompt');
    my $f = $c->read_frame(1);
    my $dt = Time::HiRes::time() - $t0;

    Test::More::ok($f && $f->{opcode} == 1 && $f->{payload} eq 'prompt'
                   && $dt < 0.5,
                   sprintf("another connection is echoed meanwhile"
                           . " (in %.3f s)", $dt));

    $c->send_close(1000);
    $c->wait_eof(1);

    my $deadline = Time::HiRes::time() + 5;

    while (tcp_state($s) == TCP_ESTABLISHED
           && Time::HiRes::time() < $deadline)
    {
        Time::HiRes::sleep(0.02);
    }

    Test::More::isnt(tcp_state($s), TCP_ESTABLISHED,
                     sprintf("the server closed the stopped client %.2f s"
                             . " after its last write",
                             Time::HiRes::time() - $last));
    close $s;
}

# TEST 2: a client that stops reading, then reads again, gets every message
# back in order and closes normally.
sub reads_later {
    my $n = 8000;
    my $s = connect_small('/ws');
    my $data = CORE::join('', map {
        WsFrame::ws_binary(Test::NgxWs::Numbered::payload($_, 1024))
    } 1 .. $n);

    my ($off) = write_until_stalled($s, $data, 0.3);

    Test::More::ok($off < length $data,
                   "the server stopped reading (after $off of "
                   . length($data) . " bytes)");

    # now read everything while writing the rest, then close

    my ($got, $bad, $closing)
        = Test::NgxWs::Numbered::finish($s, $data, $off, 1024);

    Test::More::ok($got == $n && $bad == 0,
                   "every message came back in order ($got of $n, $bad"
                   . " different)");

    Test::More::is($closing, 2, "the close handshake completed");
    close $s;
}

__DATA__

=== TEST 1: a client that sends but never reads is stopped, then closed; others are served
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_send_buffer 16k;
        ws_send_timeout 1s;
    }
--- init
main::never_reads();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x05after" . "\x88\x02\x03\xe8"
--- error_log
client timed out (110: Connection timed out) while sending WebSocket frames
--- no_error_log
[error]



=== TEST 2: a client that stops reading and reads again gets all its messages
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_send_buffer 16k;
        ws_send_timeout 5s;
    }
--- init
main::reads_later();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x05after" . "\x88\x02\x03\xe8"
--- no_error_log
[error]
client timed out
