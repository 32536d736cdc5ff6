# Draining meets a handshake in progress.  A worker retired by a reload
# goes through its WebSockets once, when its shutdown starts; a client
# whose upgrade request was still being read at that moment gets its 101
# from that worker afterwards.  That connection is closed like the others
# (1012 with the resume point, within ws_drain_window), not left open until
# the worker exits and the kernel drops it without a Close frame (nginx
# then logs "open socket #N left in connection" and "aborting").
#
# nginx runs with a master and two workers.  The scenario runs in the
# block's --- init and its checks are the first tests of the block.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Channels qw(:DEFAULT reload);
use Test::NgxWs::Client ();

use Time::HiRes ();
use WsFrame ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

# checks made by the --- init scenario, per block
my %INIT_TESTS = (1 => 3);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();
add_block_preprocessor(\&rel_bodies);

run_tests();


# TEST 1: handshakes cut in the middle before a reload, finished after it
# (when the old workers are shutting down): each gets 101, then 1012
# "resume:room=1" within the window, as the connections upgraded before.
sub late_upgrade {
    my ($n, $window) = (6, 0.5);

    publish('room', 'one');

    my $id = id_of('room', 1);      # ids carry the channel's epoch

    my $req = WsFrame::ws_handshake('/sub?ch=room');
    my $cut = index $req, 'Connection:';

    my @c = map {
        Test::NgxWs::Client->new(path => '/sub?ch=room', handshake => 0,
                                 timeout => 5)
    } 1 .. $n;

    $_->raw_write(substr $req, 0, $cut) for @c;

    # the workers have read the first part and wait for the rest
    Time::HiRes::sleep(0.2);

    reload();

    my $t0 = Time::HiRes::time();
    my (@status, @codes, $last);

    $_->raw_write(substr $req, $cut) for @c;

    for my $c (@c) {
        $c->read_handshake(5);
        push @status, $c->status // 'none';

        my ($code, $reason) = $c->wait_close(5);

        if (defined $code) {
            push @codes, "$code $reason";
            $last = Time::HiRes::time() - $t0;
            $c->send_close(1000);

        } else {
            push @codes, $c->is_closed ? 'closed without a Close'
                                       : 'no Close within 5 s';
        }
    }

    Test::More::is("@status", join(' ', ('101') x $n),
                   'the upgrades finished after the reload get 101');

    Test::More::is(join(', ', @codes),
                   join(', ', ("1012 resume:room=$id") x $n),
                   'each then gets 1012 "resume:room=ID" of the message');

    Test::More::ok(defined $last && $last < $window + 1.0,
                   'within ws_drain_window and a margin: the last after '
                   . (defined $last ? sprintf('%.2f s', $last) : 'never'));
}

__DATA__

=== TEST 1: an upgrade that completes in a worker already shutting down is drained too
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat $arg_ch;
        ws_drain_window 500ms;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::late_upgrade();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":1,"history":1}
--- no_error_log
open socket
aborting
[crit]
