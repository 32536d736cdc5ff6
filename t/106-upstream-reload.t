# Upstream events across a reload (master_process on): the old worker
# closes its WebSockets with 1012, still delivers the events it has queued
# and then the disconnect (code 1012, closed by the server), and exits; the
# new worker's connections get ids of their own.  The app is t/backends/app.js (see Test::NgxWs::App); the client
# runs in the block's --- init, its checks are counted by --- init_tests.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc qw(master_pid workers_of gone);

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

Test::NgxWs::App::start();
$Test::NgxWs::App::AnyWorker = 1;      # requests come from the workers

master_on();
workers(1);
repeat_each(1);

plan tests => repeat_each() * Test::NgxWs::App::count_tests(blocks());

no_shuffle();
no_long_string();

run_tests();


sub id_of {
    my ($rec) = @_;
    my ($id) = map { $_->[1] } grep { lc $_->[0] eq 'x-ws-connection-id' }
               @{ $rec->{headers} };
    return $id // '';
}

sub reload {
    my $a = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    $a->send_text('one');
    my $f = $a->read_frame(3);
    Test::More::is($f && $f->{payload}, 'one', 'a reply before the reload');

    # an event in flight when the worker is told to stop
    $a->send_text('?delay=300&body=late&ct=text/plain');
    my @recs = Test::NgxWs::App::wait_records(3);
    my $id = id_of($recs[0]);
    my ($old) = workers_of(master_pid());

    kill 'HUP', master_pid();

    my ($code, $reason) = $a->wait_close(5);
    Test::More::is(($code // '') . ' ' . ($reason // ''),
                   '1012 server restarting',
                   'the old worker sends Close 1012');
    $a->send_close(1001);
    $a->wait_eof(5);

    @recs = Test::NgxWs::App::wait_records(4, 5);
    Test::More::is(Test::NgxWs::App::summary(\@recs),
                   "/app/connect connect #1\n"
                   . "/app/message message #1 seq=1 text \"one\"\n"
                   . "/app/message message #1 seq=2 text"
                   . " \"?delay=300&body=late&ct=text/plain\"\n"
                   . "/app/disconnect disconnect #1 code=1012 by=server\n",
                   'the old worker delivers the queued event, then the'
                   . ' disconnect');

    my $deadline = Time::HiRes::time() + 5;
    Time::HiRes::sleep(0.05) until gone($old)
                                   || Time::HiRes::time() > $deadline;
    Test::More::ok(gone($old), "the old worker $old has exited");

    Test::NgxWs::App::truncate_log();

    my $b = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    $b->send_text('two');
    $f = $b->read_frame(3);
    Test::More::is($f && $f->{payload}, 'two', 'the new worker answers');
    $b->send_close(1000);
    $b->wait_close(3);
    $b->wait_eof(3);

    @recs = Test::NgxWs::App::wait_records(3);
    my $id2 = id_of($recs[0]);
    my ($new) = workers_of(master_pid());
    Test::More::ok(defined $new && $new != $old
                   && $id2 =~ /^[0-9a-f]{32}$/ && $id2 ne $id,
                   "a new worker $new (was $old) and a new id $id2"
                   . " (was $id)");

    Test::NgxWs::App::truncate_log();
}

__DATA__

=== TEST 1: a reload: Close 1012, the queued event and the disconnect still delivered, new ids after
--- config
    location /ws {
        websocket;
        ws_close_timeout 2s;
        ws_on_connect /app/connect;
        ws_pass /app/message;
        ws_on_disconnect /app/disconnect;
    }

    location = /app/message {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/app/message?echo=1&ct=text/plain;
    }

    location /app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- init
main::reload();
--- init_tests: 6
--- raw_request eval
[WsFrame::ws_handshake('/ws') . WsFrame::ws_text('three'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('three') . WsFrame::srv_close(1000)
--- app_log
/app/connect connect #1
/app/message message #1 seq=1 text "three"
/app/disconnect disconnect #1 code=1000 by=client
--- error_log
worker is shutting down, closing with 1012
--- no_error_log
[error]
[alert]
