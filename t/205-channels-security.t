# Channels: what a client, a publisher or the application cannot do to a
# zone.  A publish that needs eviction never frees the channel it stores
# into (the worker used to crash with the zone locked); channel names have
# a length limit and allowed characters (400 before the upgrade, 400 from
# the publisher, an error line for X-WS-Subscribe); a message that can
# never fit is refused before anything is evicted (413, Close 1009); new
# channels stop at max_channels (503, 507, Close 1013); a history replay is
# bounded by ws_send_buffer.
#
# nginx runs with a master and one worker, so that a crash is seen as a
# dead worker (and a zone left locked) rather than as a dead server.  The
# scenarios run in each block's --- init and their checks are the first
# tests of the block.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(1);
worker_connections(1024);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 6, 2 => 6, 3 => 1, 4 => 1, 6 => 7, 7 => 5, 8 => 5);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

# limits were warn lines: the tests keep that level (t/130 checks the
# default, error)
config_preamble('ws_security_log_level warn;');

# ids are compared relative to their channel's (Test::NgxWs::Channels)
add_block_preprocessor(\&rel_bodies);

run_tests();


# --- scenarios ----------------------------------------------------------

# A channel name of 200 bytes, unique per $tag: its node takes a 512-byte
# slot of the zone, like a message of 300 bytes.
sub long_name {
    my ($tag) = @_;
    return substr(('n' x 200) . $tag, -200);
}

# Subscribers on channels of their own until the zone refuses one.
sub fill {
    my ($prefix) = @_;
    my @c;

    for my $i (1 .. 400) {
        my $c = Test::NgxWs::Client->new(
            path => '/sub?c=' . long_name("$prefix$i"), timeout => 3,
            check => 0);
        if (($c->status // 0) != 101) {
            return (\@c, $c->status);
        }
        push @c, $c;
    }

    return (\@c, 'none');
}

# The zone answers (it is not left locked) and the worker is the same.
sub alive_ok {
    my ($name, $worker, $channel) = @_;

    my $r = http('GET', "/pub?channel=$channel");
    Test::More::is($r->{status}, 200, "$name: the zone still answers");
    Test::More::is(join(' ', workers_of(master_pid())), $worker,
                   "$name: the worker did not die");
}

# TEST 1: a store that needs eviction must not free its own channel.
sub store_evicts_itself {
    my ($worker) = workers_of(master_pid());
    my ($c, $status) = fill('a');

    Test::More::is($status, 503, 'the zone is filled with subscribed'
                   . ' channels (' . scalar(@$c) . '), then refuses one');

    # one channel without subscriber or history: the one thing to evict
    close_all_ok('one subscriber leaves', shift @$c);
    wait_unsubscribed(long_name('a1'));

    my $r = publish(long_name('new'), 'A' x 300);
    Test::More::is($r->{status}, 507,
                   'a message that needs its own new channel evicted is'
                   . ' refused with 507');

    alive_ok('HTTP publisher', $worker, long_name('a2'));
    close_all_ok('the others', @$c);
}

# TEST 2: the same through a ws_publish client.
sub store_evicts_itself_ws {
    my ($worker) = workers_of(master_pid());
    my ($c, $status) = fill('b');

    Test::More::is($status, 503, 'the zone is filled with subscribed'
                   . ' channels (' . scalar(@$c) . '), then refuses one');

    close_all_ok('one subscriber leaves', shift @$c);
    wait_unsubscribed(long_name('b1'));

    my $say = client('/say?c=' . long_name('new'));
    $say->send_text('A' x 300);
    my ($code) = $say->wait_close(3);
    $say->send_close(1000);
    $say->wait_eof(2);
    $say->close;

    Test::More::is($code // 'no close', 1013,
                   'a ws_publish client whose message cannot be stored gets'
                   . ' Close 1013');

    alive_ok('ws_publish', $worker, long_name('b2'));
    close_all_ok('the others', @$c);
}

# The statuses of handshakes: [path, headers] each.
sub statuses {
    return join ' ', map {
        my $c = Test::NgxWs::Client->new(path => $_->[0], timeout => 3,
                                         check => 0,
                                         headers => $_->[1] // {});
        my $s = $c->status // 'none';
        $c->close;
        $s;
    } @_;
}

# TEST 3: names from variables are checked before the upgrade.
sub names_ws {
    Test::More::is(statuses(['/sub?c=12345678'], ['/sub?c=123456789'],
                            ["/sub?c=\xc3\xa9"],
                            ['/hdr', { 'X-Channel' => "a\tb" }],
                            ['/say?c=123456789'], ['/say?c=a']),
                   '101 400 400 400 400 101',
                   'too long, not ASCII, a control character: 400');
}

# TEST 4: names given to the publisher.
sub names_publisher {
    my @r = map {
        my ($m, $name) = @$_;
        http($m, "/pub?channel=$name", $m eq 'POST' ? (body => 'x') : ())
            ->{status};
    } (['POST', 'a%0Ab'], ['POST', 'a%20b'], ['POST', 'n' x 257],
       ['POST', 'n' x 256], ['GET', 'a%7Fb'], ['DELETE', 'a%00b'],
       ['POST', '%C3%A9t%C3%A9'], ['POST', '%C3%28'],
       ['POST', 'room:a@b-c_d.e/f,g']);

    Test::More::is("@r", '400 400 400 200 400 400 200 400 200',
                   'invalid names get 400; UTF-8 is taken with names=utf8');
}

# TEST 6: a message larger than max_message is refused before anything is
# evicted.
sub too_big {
    for my $i (1 .. 5) {
        publish('keep', "message $i");
    }

    my $r = publish('keep', 'B' x 100000);
    Test::More::is($r->{status}, 413, 'a message over max_message gets 413');

    Test::More::like(rel(http('GET', '/pub?channel=keep')->{body}),
                     qr/"last_id":5,"history":5\}/,
                     'and no history was evicted for it');

    my $say = client('/say');
    $say->send_binary('B' x 100000);
    my ($code) = $say->wait_close(3);
    $say->send_close(1000);
    $say->wait_eof(2);
    $say->close;

    Test::More::is($code // 'no close', 1009,
                   'a ws_publish client gets Close 1009 for it');

    Test::More::like(rel(http('GET', '/pub?channel=keep')->{body}),
                     qr/"last_id":5,"history":5\}/,
                     'and still no history was evicted');

    $r = http('POST', '/pub2?channel=small', body => 'x' x 2048);
    Test::More::is($r->{status}, 200, 'max_message=2k: 2048 bytes are taken');
    $r = http('POST', '/pub2?channel=small', body => 'x' x 2049);
    Test::More::is($r->{status}, 413, 'max_message=2k: 2049 bytes are not');

    Test::More::is(answer(publish('keep', 'after')),
                   '200 application/json {"id":6,"subscribers":0}',
                   'the next message gets the next id');
}

# TEST 7: max_channels: new channels stop once every one has subscribers;
# a channel left by its subscribers makes room.
sub max_channels {
    my @c = map { client("/sub?c=$_") } qw(a b c);

    my $d = Test::NgxWs::Client->new(path => '/sub?c=d', timeout => 3,
                                     check => 0);
    Test::More::is($d->status, 503,
                   'a handshake that needs a fourth channel gets 503');

    Test::More::is(publish('e', 'x')->{status}, 507,
                   'a publish to a fourth channel gets 507');

    close_all_ok('c leaves', pop @c);
    wait_unsubscribed('c');

    my $r = publish('e', 'x');
    my $gone = http('GET', '/pub?channel=c')->{status};

    close_all_ok('the others', @c);

    Test::More::is("$r->{status} $gone", '200 404',
                   'then it can be created, in place of the idle one');
}

# TEST 8: a replay larger than ws_send_buffer, with ws_slow_subscriber
# drop: what would be dropped at once is not copied.
sub replay_drop {
    for my $i (1 .. 100) {
        publish('room', sprintf('%04d', $i) x 250);
    }

    my $c = client('/drop?last_id=0');
    my $deadline = Time::HiRes::time() + 3;
    my @f = read_frames($c, 100, $deadline);

    # everything the replay queued: what fits in ws_send_buffer (8k of
    # memory: a queued 1000-byte message holds about 1.5k, under ASan 2.5k)
    Test::More::ok(@f >= 3 && @f <= 8, 'the client gets the newest ~8k of'
                   . ' the history (' . scalar(@f) . ' messages)');
    Test::More::is(substr($f[-1]{payload} // '', 0, 4), '0100',
                   'the last one is the newest');

    close_all_ok('drop', $c);

    my $slow = client('/close?last_id=0');
    my ($code) = $slow->wait_close(3);
    $slow->send_close(1000);
    $slow->wait_eof(2);
    $slow->close;

    Test::More::is($code // 'no close', 1008,
                   'with ws_slow_subscriber close, the replay closes with'
                   . ' 1008');

    wait_unsubscribed('room');
    Test::More::like(rel(http('GET', '/pub?channel=room')->{body}),
                     qr/"subscribers":0,"last_id":100,/,
                     'both have left');
}

__DATA__

=== TEST 1: HTTP publish into a full zone: its own new channel is not evicted under it
--- http_config
    ws_zone chat 32k;
--- config
    location /sub {
        websocket;
        ws_subscribe chat $arg_c;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::store_evicts_itself();
--- request
GET /pub?channel=nope
--- error_code: 404
--- error_log
ws zone "chat" is full
--- no_error_log
exited on signal
[alert]
[crit]



=== TEST 2: ws_publish into a full zone: its own new channel is not evicted under it
--- http_config
    ws_zone chat 32k;
--- config
    location /sub {
        websocket;
        ws_subscribe chat $arg_c;
    }
    location /say {
        websocket;
        ws_publish chat $arg_c;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::store_evicts_itself_ws();
--- request
GET /pub?channel=nope
--- error_code: 404
--- error_log
ws zone "chat" is full
--- no_error_log
exited on signal
[alert]
[crit]



=== TEST 3: invalid channel names from variables: 400 before the upgrade
--- http_config
    ws_zone chat 1m max_name=8;
--- config
    location /sub {
        websocket;
        ws_subscribe chat $arg_c;
    }
    location /hdr {
        websocket;
        ws_subscribe chat a $http_x_channel;
    }
    location /say {
        websocket;
        ws_publish chat $arg_c;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::names_ws();
--- request
GET /pub?channel=12345678
--- response_body
{"channel":"12345678","subscribers":0,"last_id":0,"history":0}
--- error_log
client sent an invalid channel name for ws zone "chat": 9 bytes, more than max_name=8
client sent an invalid channel name for ws zone "chat": byte 0xc3 at 0 is not allowed
client sent an invalid channel name for ws zone "chat": byte 0x09 at 1 is not allowed
--- no_error_log
[error]
[alert]



=== TEST 4: the publisher refuses invalid channel names with 400; names=utf8 takes UTF-8
--- http_config
    ws_zone chat 1m names=utf8;
--- config
    location /pub {
        ws_publisher chat;
    }
--- init
main::names_publisher();
--- request
GET /pub?channel=room:a@b-c_d.e/f,g
--- response_body
{"channel":"room:a@b-c_d.e/f,g","subscribers":0,"last_id":1,"history":1}
--- error_log
client sent an invalid channel name for ws zone "chat": byte 0x0a at 1 is not allowed
client sent an invalid channel name for ws zone "chat": byte 0x20 at 1 is not allowed
client sent an invalid channel name for ws zone "chat": 257 bytes, more than max_name=256
client sent an invalid channel name for ws zone "chat": byte 0x7f at 1 is not allowed
client sent an invalid channel name for ws zone "chat": byte 0x00 at 1 is not allowed
client sent an invalid channel name for ws zone "chat": not valid UTF-8
--- no_error_log
[error]
[alert]



=== TEST 5: X-WS-Subscribe with an invalid name is refused with an error line; the connection goes on
--- http_config
    ws_zone chat 1m;
--- config
    location /ws {
        websocket;
        ws_publish chat news;
        ws_on_connect /app/connect;
    }
    location = /app/connect {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/hdr;
    }
    location = /hdr {
        add_header X-WS-Subscribe "bad name";
        add_header X-WS-Subscribe "news";
        return 204;
    }
--- raw_request eval
[WsFrame::ws_handshake('/ws'),
 WsFrame::ws_text('hello'),
 WsFrame::ws_close(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
WsFrame::srv_text('hello') . WsFrame::srv_close(1000)
--- error_log
upstream sent an invalid channel name for ws zone "chat": byte 0x20 at 3 is not allowed
--- no_error_log
[alert]



=== TEST 6: a message over max_message: 413 or Close 1009, before anything is evicted
--- http_config
    ws_zone chat 64k history=100;
    ws_zone small 1m max_message=2k;
--- config
    location /say {
        websocket;
        ws_publish chat keep;
        ws_max_message_size 200k;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 128k;
        client_max_body_size 1m;
    }
    location = /pub2 {
        ws_publisher small;
    }
--- init
main::too_big();
--- request
GET /pub?channel=keep
--- response_body
{"channel":"keep","subscribers":0,"last_id":6,"history":6}
--- error_log
message of 100000 bytes is larger than max_message=16384 of ws zone "chat"
--- no_error_log
[error]
[alert]



=== TEST 7: max_channels: 503 and 507 while every channel has subscribers
--- http_config
    ws_zone chat 1m max_channels=3;
--- config
    location /sub {
        websocket;
        ws_subscribe chat $arg_c;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::max_channels();
--- request
GET /pub?channel=e
--- response_body
{"channel":"e","subscribers":0,"last_id":1,"history":1}
--- error_log
ws zone "chat" has max_channels=3 channels in use
--- no_error_log
[error]
[alert]



=== TEST 8: a replay larger than ws_send_buffer is bounded by it
--- http_config
    ws_zone chat 4m history=1000;
--- config
    location /drop {
        websocket;
        ws_subscribe chat room;
        ws_last_id $arg_last_id;
        ws_send_buffer 8k;
        ws_slow_subscriber drop;
    }
    location /close {
        websocket;
        ws_subscribe chat room;
        ws_last_id $arg_last_id;
        ws_send_buffer 8k;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::replay_drop();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":100,"history":100}
--- grep_error_log eval
qr/dropped \d+ messages for a slow subscriber|subscriber is too slow/
--- grep_error_log_out eval
qr/\Adropped 9[0-7] messages for a slow subscriber\nsubscriber is too slow\n\z/
--- no_error_log
[error]
[alert]
