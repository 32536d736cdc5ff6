# Channels: fan-out across workers.  Every subscriber of a channel, in every
# worker, receives each message once and in publish order, whether it was
# published through the ws_publisher HTTP endpoint or by a WebSocket client
# of a ws_publish location; text stays text and binary stays binary; the
# publisher answers with the message id (per channel, from 1) and the number
# of subscribers.
#
# nginx runs with a master and two workers.  Subscribers are opened until
# both workers hold some (the X-Worker header of each 101 names the worker);
# the scenarios run in each block's --- init and their checks are the first
# tests of the block.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 4, 2 => 4, 3 => 5, 4 => 3, 5 => 3, 6 => 7, 8 => 5);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

# ids are compared relative to their channel's (Test::NgxWs::Channels)
add_block_preprocessor(\&rel_bodies);

run_tests();


# --- scenarios ----------------------------------------------------------

# TEST 1: 50 text messages published over HTTP reach 200 subscribers, in
# both workers, once each and in order.
sub fanout_http {
    my @subs = spread('/sub', 200, 20);
    my $n = @subs;

    both_workers_ok('fan-out', @subs);

    my @want = map { [1, "message $_"] } 1 .. 50;
    my $bad;

    for my $i (1 .. 50) {
        my $a = answer(publish('room', "message $i"));
        my $w = qq{200 application/json {"id":$i,"subscribers":$n}};
        $bad //= "publish $i: $a" if $a ne $w;
    }

    Test::More::is($bad // 'as expected', 'as expected',
                   "the publisher answers ids 1..50 and $n subscribers");

    all_got_ok("$n subscribers receive the 50 messages, once, in order",
               \@subs, @want);

    close_all_ok('fan-out', @subs);

    wait_unsubscribed('room');
}

# TEST 2: the message type follows Content-Type or ?type=.
sub types {
    my @subs = spread('/sub', 8, 2);

    both_workers_ok('types', @subs);

    my $big = join '', map { chr(($_ * 7 + 3) % 256) } 1 .. 70000;

    my @pubs = (
        [ 'plain text', 'text/plain', '', 1 ],
        [ qq{{"a":[1,2]}\n}, 'application/json', '', 1 ],
        [ '<p>caf' . "\xc3\xa9" . '</p>', 'text/html; charset=utf-8', '', 1 ],
        [ "\x00\x01\xfe\xff", 'application/octet-stream', '', 2 ],
        [ 'no content type', undef, '', 2 ],
        [ 'typed text', 'application/octet-stream', '&type=text', 1 ],
        [ 'typed binary', 'text/plain', '&type=binary', 2 ],
        [ $big, 'application/octet-stream', '', 2 ],
    );

    my $bad;
    my $i = 0;

    for my $p (@pubs) {
        $i++;
        my $a = answer(publish('room', $p->[0], type => $p->[1],
                               args => $p->[2]));
        my $w = '200 application/json {"id":' . $i . ',"subscribers":'
                . scalar(@subs) . '}';
        $bad //= "publish $i: $a" if $a ne $w;
    }

    Test::More::is($bad // 'as expected', 'as expected',
                   'the publisher answers every message');

    all_got_ok('text stays text, binary stays binary', \@subs,
               map { [ $_->[3], $_->[0] ] } @pubs);

    close_all_ok('types', @subs);

    wait_unsubscribed('room');
}

# TEST 3: messages from WebSocket clients (ws_publish) reach subscribers in
# both workers; the sender receives its own message when it is subscribed.
sub ws_publish {
    my @subs = spread('/sub', 10, 3);
    my $chat = client('/chat');        # subscribed and publishing
    my $say = client('/say');          # publishing only

    both_workers_ok('ws_publish', @subs);

    $say->send_text('from say');
    $say->send_binary("\x00bin\xff");
    $say->send_text('frag', fin => 0);
    $say->send_cont('mented');

    # wait for the three to arrive before the next publisher speaks
    my $deadline = Time::HiRes::time() + 3;
    my @first = read_frames($subs[0], 3, $deadline);

    $chat->send_text('from chat');
    my @second = read_frames($subs[0], 1, $deadline);

    my $r = answer(publish('room', 'from http'));
    my $n = @subs + 1;

    Test::More::is($r, qq{200 application/json {"id":5,"subscribers":$n}},
                   'ids count the WebSocket-published messages too');

    my @want = ([1, 'from say'], [2, "\x00bin\xff"], [1, 'fragmented'],
                [1, 'from chat'], [1, 'from http']);

    Test::More::is(desc(@first, @second, read_frames($subs[0], 1, $deadline)),
                   desc(map { { opcode => $_->[0], payload => $_->[1] } }
                        @want),
                   'the first subscriber receives the five messages');

    all_got_ok('every other subscriber and the subscribed sender receive'
               . ' them in order', [ @subs[1 .. $#subs], $chat ], @want);

    close_all_ok('ws_publish: subscribers, the sender and the publish-only'
                 . ' client (which received nothing)', @subs, $chat, $say);

    wait_unsubscribed('room');
}

# TEST 4, TEST 5: a burst of 100 messages in one write from a WebSocket
# publisher, with history=1 and with the default history of 32, still
# reaches every subscriber, also in the other worker.
sub burst {
    my @subs = spread('/sub', 10, 3);
    my $say = client('/say');

    both_workers_ok('burst', @subs);

    $say->raw_write(join '', map { WsFrame::ws_text("burst $_") } 1 .. 100);

    all_got_ok('100 messages published in one burst reach every subscriber'
               . ' in both workers, in order', \@subs,
               map { [1, "burst $_"] } 1 .. 100);

    close_all_ok('burst', @subs, $say);

    wait_unsubscribed('room');
}

# TEST 6: channel names with variables, isolation between channels, a
# connection on two channels, an empty name.
sub names {
    my @a = spread('/sub?room=a', 4, 1);
    my @b = spread('/sub?room=b', 4, 1);
    my $multi = client('/multi');
    my $none = client('/opt');              # $arg_ch is empty: no channel
    my $opt = client('/opt?ch=room:a');
    my $say = client('/say?room=b');

    both_workers_ok('names', @a, @b);

    my $na = @a + 2;
    my $nb = @b + 1;

    my @ans = (answer(publish('room:a', 'A1')),
               answer(publish('room:b', 'B1')));

    my $deadline = Time::HiRes::time() + 3;
    $say->send_text('B2');
    my @f = read_frames($b[0], 2, $deadline);

    push @ans, answer(publish('room:a', 'A2'));

    Test::More::is(join("\n", @ans),
                   join("\n",
                        qq{200 application/json {"id":1,"subscribers":$na}},
                        qq{200 application/json {"id":1,"subscribers":$nb}},
                        qq{200 application/json {"id":2,"subscribers":$na}}),
                   'ids and subscriber counts are per channel');

    Test::More::is(desc(@f),
                   desc({ opcode => 1, payload => 'B1' },
                        { opcode => 1, payload => 'B2' }),
                   'a subscriber of room:b gets only the room:b messages');

    all_got_ok('the room:a subscribers get only room:a messages',
               [ @a, $opt ], [1, 'A1'], [1, 'A2']);

    all_got_ok('a connection on both channels gets all four in order',
               [ $multi ], [1, 'A1'], [1, 'B1'], [1, 'B2'], [1, 'A2']);

    all_got_ok('the other room:b subscribers get the same',
               [ @b[1 .. $#b] ], [1, 'B1'], [1, 'B2']);

    close_all_ok('names: nothing more for anyone, nothing for the'
                 . ' connection with an empty channel name',
                 @a, @b, $multi, $none, $opt, $say);

    wait_unsubscribed('room:a', 'room:b');
}

# TEST 8: ws_publish together with ws_echo and with ws_pass.
sub with_routes {
    my @subs = spread('/sub', 4, 1);
    my $echo = client('/echo');
    my $app = client('/app');

    both_workers_ok('routes', @subs);

    $echo->send_text('via echo');
    all_got_ok('ws_echo still echoes the message', [ $echo ],
               [1, 'via echo']);

    $app->send_text('via app');
    all_got_ok('ws_pass still sends the message to the application, whose'
               . ' reply comes back', [ $app ], [1, 'ack']);

    all_got_ok('and the subscribers get both messages', \@subs,
               [1, 'via echo'], [1, 'via app']);

    close_all_ok('routes', @subs, $echo, $app);

    wait_unsubscribed('room');
}

__DATA__

=== TEST 1: HTTP publish: 200 subscribers in two workers get 50 messages once, in order
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::fanout_http();
--- request
GET /pub?channel=room
--- response_headers
Content-Type: application/json
--- response_body
{"channel":"room","subscribers":0,"last_id":50,"history":32}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: text vs binary: Content-Type and ?type= choose the opcode; a 70000-byte message
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 128k;
    }
--- init
main::types();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":8,"history":8}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: ws_publish: client messages reach subscribers in both workers; the sender gets its own
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /chat {
        websocket;
        ws_subscribe chat room;
        ws_publish chat room;
    }
    location /say {
        websocket;
        ws_publish chat room;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::ws_publish();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":5,"history":5}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 4: a burst of 100 messages with history=1 reaches every subscriber in both workers
--- http_config
    ws_zone chat 1m history=1;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /say {
        websocket;
        ws_publish chat room;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::burst();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":100,"history":1}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 5: a burst of 100 messages with the default history (32) reaches every subscriber in both workers
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /say {
        websocket;
        ws_publish chat room;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::burst();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":100,"history":32}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 6: channel names with variables: isolation, two channels on one connection, empty name skipped
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room:$arg_room;
        add_header X-Worker $pid always;
    }
    location /multi {
        websocket;
        ws_subscribe chat room:a room:b;
    }
    location /opt {
        websocket;
        ws_subscribe chat $arg_ch;
    }
    location /say {
        websocket;
        ws_publish chat room:$arg_room;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::names();
--- request
GET /pub?channel=room:b
--- response_body
{"channel":"room:b","subscribers":0,"last_id":2,"history":2}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 7: publisher answers: ids from 1 per channel, subscriber count, JSON
--- http_config
    ws_zone chat 1m;
--- config
    location /pub {
        ws_publisher chat;
    }
--- request eval
["POST /pub?channel=news\none",
 "POST /pub?channel=news\ntwo",
 "POST /pub?channel=other\nx",
 "POST /pub?channel=news\nthree",
 "GET /pub?channel=news",
 "GET /pub?channel=other"]
--- more_headers
Content-Type: text/plain
--- response_body eval
[qq{{"id":1,"subscribers":0}\n},
 qq{{"id":2,"subscribers":0}\n},
 qq{{"id":1,"subscribers":0}\n},
 qq{{"id":3,"subscribers":0}\n},
 qq{{"channel":"news","subscribers":0,"last_id":3,"history":3}\n},
 qq{{"channel":"other","subscribers":0,"last_id":1,"history":1}\n}]
--- no_error_log
[error]



=== TEST 8: ws_publish works together with ws_echo and ws_pass
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /echo {
        websocket;
        ws_echo on;
        ws_publish chat room;
    }
    location /app {
        websocket;
        ws_pass /_app/message;
        ws_publish chat room;
    }
    location /_app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_reply/;
    }
    location = /_reply/message {
        return 200 "ack";
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::with_routes();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":2,"history":2}
--- no_error_log
[error]
[alert]
[crit]
