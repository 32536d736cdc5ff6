# A subscriber that resets its connection in mid-handshake: the channels
# are joined before the 101 is written, the write fails, and the request is
# freed without the engine ever taking over.  Its pool's cleanup leaves the
# channels then, when the request has no pool any more (nginx sets r->pool
# to NULL before destroying it): nothing may be allocated from it there.
# Before the fix every such reset killed the worker (SIGSEGV in
# ngx_pnalloc(), as seen in the reconnect storm of a reload at 100,000
# connections).
#
# The --- init sends 200 handshakes each followed at once by an RST
# (SO_LINGER 0); a good share reach the worker after the reset, so that
# the 101 write fails ("writev() failed (104: ...)", checked below).  The
# worker must survive (the same pid before and after), and a subscriber
# that stays must then be served as usual.
#
# TEST 2: long-polls whose client resets right behind the request.  The
# reset comes in the same event as the request, so nothing tells of it
# again, and a waiting poll writes nothing before a message or its
# timeout: before the fix each held its connection for the whole
# ws_longpoll_timeout (here 60 s).  They must be closed at once.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Proc ();
use Test::Nginx::Socket;

use IO::Socket::INET ();
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(1);
repeat_each(1);

# TEST 1: the init's check, status, body, error_log, 2 no_error_log;
# TEST 2: the init's check, status, body, error_log, 2 no_error_log
plan tests => repeat_each() * ((1 + 5) + (1 + 5));

no_shuffle();
no_long_string();

run_tests();


use constant RESETS => 200;

sub reset_handshakes {
    my @before = Test::NgxWs::Proc::workers_of(
                     Test::NgxWs::Proc::master_pid());
    my $req = WsFrame::ws_handshake('/sub/c1?last_id=0');

    for (1 .. RESETS) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
                                      Timeout => 3)
            or die "connect: $!";

        syswrite($s, $req) == length $req or die "write: $!";

        # SO_LINGER 0: closing sends RST
        setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0))
            or die "SO_LINGER: $!";
        close $s;
    }

    Time::HiRes::sleep(1);

    my @after = Test::NgxWs::Proc::workers_of(
                    Test::NgxWs::Proc::master_pid());

    Test::More::is("@after", "@before",
                   'the worker survived ' . RESETS . ' resets in mid-handshake');
}


sub worker_fds {
    my ($pid) = Test::NgxWs::Proc::workers_of(Test::NgxWs::Proc::master_pid());
    my @fds = glob("/proc/$pid/fd/*");
    return scalar @fds;
}


sub reset_polls {
    my $before = worker_fds();

    for my $i (1 .. RESETS) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
                                      Timeout => 3)
            or die "connect: $!";

        my $req = "GET /lp?ch=c$i&last_id=0 HTTP/1.1\r\n"
                  . "Host: localhost\r\n\r\n";

        syswrite($s, $req) == length $req or die "write: $!";

        setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0))
            or die "SO_LINGER: $!";
        close $s;
    }

    # a few may still be in the accept queue or the worker's pass
    my $after;

    for (1 .. 30) {
        Time::HiRes::sleep(0.1);
        $after = worker_fds();
        last if $after <= $before + 2;
    }

    Test::More::ok($after <= $before + 2,
                   'the reset polls are closed at once (worker descriptors: '
                   . "$before before, $after after " . RESETS . ' resets)');
}

__DATA__

=== TEST 1: a subscriber reset in mid-handshake leaves its channels without crashing the worker
--- http_config
    ws_zone chans 1m history=16;
--- config
    location ~ ^/sub/(\w+)$ {
        websocket;
        ws_subscribe chans $1;
        ws_envelope on;
    }
--- init
main::reset_handshakes();
--- raw_request eval
WsFrame::ws_handshake('/sub/c1') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- error_log
writev() failed (104: Connection reset by peer)
--- no_error_log
exited on signal
[alert]



=== TEST 2: a long-poll reset right behind its request is closed at once
--- http_config
    ws_zone chans 1m history=16;
--- config
    location /lp {
        ws_longpoll;
        ws_subscribe chans $arg_ch;
        ws_longpoll_timeout 60s;
    }
    location /pub {
        ws_publisher chans;
    }
--- init
main::reset_polls();
--- request
GET /pub?channel=c1
--- response_body_like: ^\{"channel":"c1","subscribers":0,
--- error_log
client prematurely closed connection
--- no_error_log
exited on signal
[alert]
