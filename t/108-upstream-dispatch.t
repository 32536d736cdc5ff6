# An event that cannot even be issued (here: no connection is left for the
# event's request, worker_connections 3) while the client has already reset
# its connection: with ws_pass_error close the WebSocket is closed at once,
# which frees the session with it; the loop that issues the session's
# events must not touch it afterwards.  The client's message is read only
# when a rate limit lets the server read again, after its reset has
# arrived, so that writing the Close fails there and then.  The worker must
# survive (checked in --- init: the same worker pid before and after).

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Channels ();
use Test::NgxWs::Client ();

use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

Test::NgxWs::App::start();
$Test::NgxWs::App::AnyWorker = 1;

master_on();
workers(1);
worker_connections(3);
repeat_each(1);

plan tests => repeat_each() * Test::NgxWs::App::count_tests(blocks());

no_shuffle();
no_long_string();

run_tests();


sub reset_while_paused {
    my @before = Test::NgxWs::Channels::workers_of(
                     Test::NgxWs::Channels::master_pid());

    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 3);

    # charged to ws_limit_messages: the server stops reading for 1 s
    $c->raw_write(WsFrame::ws_ping('p'));
    $c->read_frame(2);

    Time::HiRes::sleep(0.2);
    $c->raw_write(WsFrame::ws_text('hi'));

    # SO_LINGER 0: closing sends RST
    setsockopt($c->socket, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0))
        or die "SO_LINGER: $!";
    $c->close;

    Time::HiRes::sleep(1.5);

    my @after = Test::NgxWs::Channels::workers_of(
                    Test::NgxWs::Channels::master_pid());

    Test::More::is("@after", "@before", 'the worker survived');
}

__DATA__

=== TEST 1: a failed event closes a reset connection without touching the freed session
--- config
    location /ws {
        websocket;
        ws_pass /app/message;
        ws_pass_error close;
        ws_limit_messages rate=1r/s;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- init
main::reset_while_paused();
--- init_tests: 1
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- app_log
--- error_log
worker_connections are not enough
ws could not send message event to upstream
--- no_error_log
exited on signal
