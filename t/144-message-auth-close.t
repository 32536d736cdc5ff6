# ws_message_auth_request and the close handshake: a message held for its
# answer stops the reading of the connection; when the answer comes after
# the server's Close went out (here the worker shuts down gracefully), the
# message is discarded and what waits unread, the client's Close, is read
# at once.  It was left unread until ws_close_timeout, so the handshake
# ended as "client did not answer close in time" and the worker stayed
# that long.
#
# TEST 1: three connections each send a message whose question takes
# 600 ms, the worker gets SIGQUIT (nginx runs with a master), each client
# answers the 1001 Close at once: every connection ends within 3 s of
# the signal (ws_close_timeout is 20s), the worker is gone, and the log
# has the Close received and no timeout.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc ();

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

Test::NgxWs::App::start();

master_on();
workers(1);
repeat_each(1);

plan tests => repeat_each() * Test::NgxWs::App::count_tests(blocks());

no_shuffle();
no_long_string();

run_tests();


sub quit_while_held {
    my @c;

    for my $i (1 .. 3) {
        my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
        $c->send_text(qq({"type":"chat","n":$i}));
        push @c, $c;
    }

    Time::HiRes::sleep(0.2);

    my ($pid) = Test::NgxWs::Proc::workers_of(Test::NgxWs::Proc::master_pid());
    my $t0 = Time::HiRes::time();
    kill 'QUIT', $pid;

    my @codes;
    for my $c (@c) {
        my $code = $c->wait_close(5);
        $c->send_close(1001) if defined $code;
        push @codes, $code // 'none';
    }

    my @eof = map { $_->wait_eof(10); $_->is_closed ? 'eof' : 'open' } @c;
    my $took = Time::HiRes::time() - $t0;

    # the server waits for the client's end of the connection too
    $_->close for @c;

    Time::HiRes::sleep(0.05)
        until Test::NgxWs::Proc::gone($pid) || Time::HiRes::time() - $t0 > 15;

    Test::More::ok("@codes" eq '1001 1001 1001' && "@eof" eq 'eof eof eof'
                   && $took < 3 && Test::NgxWs::Proc::gone($pid),
                   sprintf('every close handshake ends at once: %s, %s,'
                           . ' %.2f s, worker %s', "@codes", "@eof", $took,
                           Test::NgxWs::Proc::gone($pid) ? 'gone' : 'left'));
}

__DATA__

=== TEST 1: the worker quits while questions are in flight
--- config
    location /ws {
        websocket;
        ws_close_timeout 20s;
        ws_message_auth_request /msgauth;
        ws_message_auth_cache 0;
        ws_route default echo;
    }

    location = /msgauth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/msgauth?status=200&delay=600;
    }

    location = /t {
        return 204;
    }
--- init
main::quit_while_held();
--- init_tests: 1
--- request
GET /t
--- error_code: 204
--- no_error_log
did not answer close in time
[alert]
