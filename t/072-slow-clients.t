# Slow and silent clients are bounded and do not hold back others:
# - a handshake dribbled a byte at a time (slowloris), and a connection that
#   sends nothing at all, are closed by client_header_timeout;
# - an upgraded client that never sends a frame is closed by
#   ws_idle_timeout, and one that stops answering pings by
#   ws_ping_interval + ws_pong_timeout;
# - meanwhile a well-behaved client is upgraded and echoed at once;
# - a connection whose reading is paused by ws_limit_messages still
#   completes the close handshake when its worker shuts down.
#
# The clients run in each block's --- init (after nginx has started), with
# master_process on; their checks are the first tests of the block.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc qw(master_pid);
use Test::Nginx::Socket;

use IO::Select ();
use IO::Socket::INET ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(1);
repeat_each(1);

# the checks of the --- init clients, by the name of their sub
our %INIT_CHECKS = (
    slowloris   => 3,
    silent_tcp  => 2,
    silent_ws   => 3,
    no_pongs    => 3,
    paused_quit => 3,
);

plan tests => repeat_each() * checks();

no_shuffle();
no_long_string();

run_tests();


# One test for the status and one per response_body and line of error_log
# and no_error_log, plus the checks of the init client.
sub checks {
    my $n = 0;

    for my $block (blocks()) {
        $n += 1 + grep { defined $block->$_ } qw(response_body);

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

sub tcp {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
                                  Proto => 'tcp')
        or die "connect: $!";
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    $s->blocking(0);
    return $s;
}

# Whether the server has closed $s (EOF or reset), without waiting.
sub closed {
    my ($s) = @_;
    my $buf;
    return 0 unless IO::Select->new($s)->can_read(0);
    my $n = sysread($s, $buf, 4096);
    return !defined $n || $n == 0 ? 1 : 0;
}

# A well-behaved client: upgraded and echoed; returns the time it took.
sub good_client {
    my ($path) = @_;
    my $t0 = Time::HiRes::time();
    my $c = Test::NgxWs::Client->new(path => $path, timeout => 2);
    $c->send_text('prompt');
    my $f = $c->read_frame(1);
    my $dt = Time::HiRes::time() - $t0;
    $c->send_close(1000);
    $c->wait_eof(1);
    $c->close;
    return ($f && $f->{payload} eq 'prompt') ? $dt : undef;
}

sub good_ok {
    my ($dt, $what) = @_;
    Test::More::ok(defined $dt && $dt < 0.3,
                   sprintf("a well-behaved client is echoed at once while"
                           . " $what (%.3f s)", $dt // -1));
}

# Dribbles the handshake of each socket a byte every 50 ms until the
# server closes them all or $timeout passes; returns the time each was
# closed at (undef: still open).
sub dribble {
    my ($socks, $timeout, $t0, $during) = @_;
    my $rounds = 0;
    my $req = WsFrame::ws_handshake('/ws');
    my @closed_at = (undef) x @$socks;

    # the request line at once, then the headers a byte at a time
    my $off = index($req, "\r\n") + 2;
    syswrite($_, substr($req, 0, $off)) for @$socks;

    while (Time::HiRes::time() - $t0 < $timeout) {
        for my $i (0 .. $#$socks) {
            next if defined $closed_at[$i];

            if (closed($socks->[$i])) {
                $closed_at[$i] = Time::HiRes::time() - $t0;
                next;
            }

            syswrite($socks->[$i], substr($req, $off % length($req), 1));
        }

        $off++;
        $during->() if $during && ++$rounds == 3;
        last unless grep { !defined } @closed_at;
        Time::HiRes::sleep(0.05);
    }

    return @closed_at;
}

# client_header_timeout 500ms: ten clients dribbling their handshakes are
# closed after 0.5 s, whatever they send; a good client is served
# meanwhile.
sub slowloris {
    my $t0 = Time::HiRes::time();
    my @s = map { tcp() } 1 .. 10;
    my $good;

    my @at = dribble(\@s, 3, $t0, sub { $good = good_client('/ws') });

    my @open = grep { !defined } @at;
    my ($min, $max) = (sort { $a <=> $b } grep { defined } @at)[0, -1];

    Test::More::ok(!@open && $min >= 0.45,
                   sprintf('ten slowloris handshakes are closed by'
                           . ' client_header_timeout (after %.2f to %.2f s,'
                           . ' %d still open)', $min // -1, $max // -1,
                           scalar @open));

    Test::More::ok(defined $max && $max < 1.5,
                   sprintf('none of them lasts much longer than the'
                           . ' timeout (%.2f s)', $max // -1));

    good_ok($good, 'they dribble');
    close $_ for @s;
}

# client_header_timeout 500ms: connections that send nothing are closed.
sub silent_tcp {
    my $t0 = Time::HiRes::time();
    my @s = map { tcp() } 1 .. 10;
    my $good;
    my @at = (undef) x @s;

    while (Time::HiRes::time() - $t0 < 3 && grep { !defined } @at) {
        for my $i (0 .. $#s) {
            $at[$i] //= Time::HiRes::time() - $t0 if closed($s[$i]);
        }

        $good //= good_client('/ws');
        Time::HiRes::sleep(0.02);
    }

    my ($min, $max) = (sort { $a <=> $b } grep { defined } @at)[0, -1];

    Test::More::ok(!grep({ !defined } @at) && $min >= 0.45 && $max < 1.5,
                   sprintf('ten silent connections are closed by'
                           . ' client_header_timeout (after %.2f to %.2f s)',
                           $min // -1, $max // -1));

    good_ok($good, 'they wait');
    close $_ for @s;
}

# ws_idle_timeout 300ms: ten upgraded clients that never send a frame get
# Close 1000 "idle timeout" and, as they do not answer, are closed after
# ws_close_timeout.
sub silent_ws {
    my $t0 = Time::HiRes::time();
    my @c = map { Test::NgxWs::Client->new(path => '/ws', timeout => 3) }
                1 .. 10;

    my $good = good_client('/ws');

    my $ok = grep { my @r = $_->wait_close(2);
                    @r && $r[0] == 1000 && $r[1] eq 'idle timeout' } @c;
    my $t1 = Time::HiRes::time() - $t0;
    my $eof = grep { $_->wait_eof(2) } @c;
    my $t2 = Time::HiRes::time() - $t0;

    Test::More::ok($ok == 10 && $t1 >= 0.25,
                   sprintf('ten silent WebSockets get Close 1000 "idle'
                           . ' timeout" (%d, after %.2f s)', $ok, $t1));

    Test::More::ok($eof == 10 && $t2 >= 0.45 && $t2 < 2,
                   sprintf('and are closed after ws_close_timeout (%d,'
                           . ' after %.2f s)', $eof, $t2));

    good_ok($good, 'they are silent');
    $_->close for @c;
}

# ws_ping_interval 200ms + ws_pong_timeout 200ms: ten clients that do not
# answer pings get Close 1001 and are closed; a client that answers stays.
sub no_pongs {
    my $t0 = Time::HiRes::time();
    my @c = map { Test::NgxWs::Client->new(path => '/ws', timeout => 3) }
                1 .. 10;
    my $live = Test::NgxWs::Client->new(path => '/ws', timeout => 3);

    # the live client answers every ping for 1 s

    my $pings = 0;

    while (Time::HiRes::time() - $t0 < 1) {
        my $f = $live->read_frame(0.05) or next;

        if ($f->{opcode} == 9) {
            $live->send_pong($f->{payload});
            $pings++;
        }
    }

    my $gone = grep { ($_->wait_close(1) // 0) == 1001 && $_->wait_eof(1) }
                    @c;
    my $dt = Time::HiRes::time() - $t0;

    Test::More::ok($gone == 10,
                   sprintf('ten clients that do not answer pings get Close'
                           . ' 1001 and are closed (%d, by %.2f s)', $gone,
                           $dt));

    $live->send_text('still here');
    my $f;
    do { $f = $live->read_frame(1) } while $f && $f->{opcode} == 9;

    Test::More::ok($pings >= 2 && $f && $f->{payload} eq 'still here',
                   "a client that answers ($pings pings) stays open");

    $live->send_close(1000);
    Test::More::is($live->wait_close(1), 1000,
                   'and closes normally');
    $_->close for @c, $live;
}

# A connection paused by ws_limit_messages (1r/m) holds a message unread;
# on reload its worker sends Close 1012 and must read the client's answer
# (the pause is lifted) and close at once, not after ws_close_timeout.
sub paused_quit {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 3);

    $c->send_text('one');
    $c->send_text('two');

    my $f = $c->read_frame(1);
    my $g = $c->read_frame(0.3);

    Test::More::ok($f && $f->{payload} eq 'one' && !$g,
                   'the second message waits for the rate');

    kill 'HUP', master_pid() or die "kill HUP: $!";

    my ($code, $reason) = $c->wait_close(3);
    Test::More::is_deeply([$code, $reason], [1012, 'server restarting'],
                          'on reload the paused client gets Close 1012');

    my $t0 = Time::HiRes::time();
    $c->send_close(1001);
    my $eof = $c->wait_eof(2);
    my $dt = Time::HiRes::time() - $t0;
    $c->close;

    Test::More::ok($eof && $dt < 0.5,
                   sprintf('its Close is read and TCP closed at once'
                           . ' (%.3f s; ws_close_timeout is 2 s)', $dt));
}

__DATA__

=== TEST 1: slowloris handshakes are bounded by client_header_timeout
--- config
    client_header_timeout 500ms;

    location /ws {
        websocket;
        ws_echo on;
    }
--- init
main::slowloris();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('after') . WsFrame::srv_close(1000)
--- error_log
client timed out (110: Connection timed out) while reading client request headers
--- no_error_log
[error]
[alert]



=== TEST 2: connections that send nothing are bounded by client_header_timeout
--- config
    client_header_timeout 500ms;

    location /ws {
        websocket;
        ws_echo on;
    }
--- init
main::silent_tcp();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('after') . WsFrame::srv_close(1000)
--- error_log
client timed out (110: Connection timed out) while waiting for request
--- no_error_log
[error]
[alert]



=== TEST 3: upgraded clients that never send a frame are bounded by ws_idle_timeout
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_idle_timeout 300ms;
        ws_close_timeout 200ms;
    }
--- init
main::silent_ws();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('after') . WsFrame::srv_close(1000)
--- error_log
idle timeout, closing with 1000
client did not answer close in time
--- no_error_log
[error]
[alert]



=== TEST 4: clients that stop answering pings are closed
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_ping_interval 200ms;
        ws_pong_timeout 200ms;
    }
--- init
main::no_pongs();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_text('after') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('after') . WsFrame::srv_close(1000)
--- error_log
client did not answer ping
--- no_error_log
[error]
[alert]



=== TEST 5: a connection paused by a rate limit completes the close handshake on reload
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_messages rate=1r/m;
        ws_close_timeout 2s;
    }

    location /other {
        websocket;
        ws_echo on;
    }
--- init
main::paused_quit();
--- raw_request eval
WsFrame::ws_handshake('/other') . WsFrame::ws_text('after')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('after') . WsFrame::srv_close(1000)
--- error_log
exceeded ws_limit_messages, delaying reading
worker is shutting down, closing with 1012
--- no_error_log
client did not answer close in time
[error]
[alert]
