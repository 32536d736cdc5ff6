# Channels: the ws_publisher endpoint.  GET answers the channel's
# subscribers (exact across workers, also after clients leave), last id and
# history size; DELETE removes a channel and closes its subscribers with
# 1000 "channel deleted"; wrong requests get 400, 404, 405 or 413; when the
# zone is full, old history is evicted first and a message that still does
# not fit is refused with 507 and logged, nothing breaks, and later
# messages are published as usual.
#
# nginx runs with a master and two workers; subscribers are opened until
# both workers hold some.  The scenarios run in each block's --- init and
# their checks are the first tests of the block.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 8, 2 => 9, 6 => 3, 7 => 11, 8 => 3, 9 => 4);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

# ids are compared relative to their channel's (Test::NgxWs::Channels)
add_block_preprocessor(\&rel_bodies);

run_tests();


# --- scenarios ----------------------------------------------------------

sub count {
    my ($channel) = @_;
    my $r = http('GET', "/pub?channel=$channel");
    return $r->{body} =~ /"subscribers":(\d+)/ ? $1 : "status $r->{status}";
}

# TEST 1: presence counts are exact across workers.
sub presence {
    my @c = spread('/sub', 12, 3);
    my $two = client('/both');                  # on room and room2
    my $n = @c + 1;

    both_workers_ok('presence', @c);

    Test::More::is(count('room') . ' ' . count('room2'), "$n 1",
                   'GET counts every subscriber of both workers');

    # five leave with a close handshake, taken from both workers
    my %by;
    push @{ $by{ $_->header('X-Worker') } }, $_ for @c;
    my @w = sort keys %by;
    my @leave = (splice(@{ $by{ $w[0] } }, 0, 2),
                 splice(@{ $by{ $w[1] } }, 0, 2));
    my @rest = map { @{ $by{$_} } } @w;
    push @leave, shift @rest;

    close_all_ok('presence: five leave', @leave);
    $n -= 5;

    Test::More::is(count('room'), $n,
                   'once their close handshake is over, they are not'
                   . ' counted');

    # three go away without a Close frame
    my @gone = splice @rest, 0, 3;
    $_->close for @gone;
    $n -= 3;

    my $deadline = Time::HiRes::time() + 2;
    Time::HiRes::sleep(0.01)
        while count('room') != $n && Time::HiRes::time() < $deadline;

    Test::More::is(count('room'), $n,
                   'connections closed without a Close frame are not'
                   . ' counted');

    Test::More::is(answer(publish('room', 'hello')),
                   qq(200 application/json {"id":1,"subscribers":$n}),
                   'a publish counts the same subscribers');

    all_got_ok('the ones left get it', [ @rest, $two ], t('hello'));
    close_all_ok('presence: the others', @rest, $two);
    wait_unsubscribed('room', 'room2');
}

# TEST 2: DELETE closes the subscribers of the channel, in both workers.
sub delete_channel {
    my @c = spread('/sub', 6, 2);
    my $other = client('/other');
    my $n = @c;

    both_workers_ok('delete', @c);

    publish('room', 'before');
    all_got_ok('a message before the deletion', \@c, t('before'));

    my $r = http('DELETE', '/pub?channel=room');
    Test::More::is(answer($r),
                   qq(200 application/json {"deleted":true,"subscribers":$n}),
                   'DELETE answers the number of subscribers it closes');

    my $bad;

    for my $i (0 .. $#c) {
        my ($code, $reason) = $c[$i]->wait_close(3);
        my @extra = $c[$i]->skipped;
        $c[$i]->send_close(1000);
        my $eof = $c[$i]->wait_eof(2);
        $c[$i]->close;

        my $got = 'close ' . ($code // 'none') . ' "' . ($reason // '')
                  . '"' . (@extra ? ', before it: ' . desc(@extra) : '')
                  . ($eof ? '' : ', no EOF');
        $bad //= "connection $i: $got" if $got ne 'close 1000 "channel deleted"';
    }

    Test::More::is($bad // 'all closed', 'all closed',
                   'every subscriber gets Close 1000 "channel deleted"');

    Test::More::is(http('GET', '/pub?channel=room')->{status}, 404,
                   'the channel is gone');

    Test::More::is(answer(publish('room', 'again')),
                   '200 application/json {"id":1,"subscribers":0}',
                   'publishing again starts a new channel at id 1');

    my $new = client('/sub');
    publish('room', 'new');
    publish('room2', 'other');

    all_got_ok('a new subscriber gets the new channel', [ $new ], t('new'));
    all_got_ok('another channel is not affected', [ $other ], t('other'));

    close_all_ok('delete: the others', $new, $other);
    wait_unsubscribed('room', 'room2');
}

# TEST 6: a body larger than client_body_buffer_size (kept in a file).
sub big_body {
    my @c = (client('/sub'), client('/sub'));
    my $body = join '', map { chr(65 + $_ % 26) } 1 .. 20000;

    my $r = answer(publish('room', $body));
    Test::More::is($r, '200 application/json {"id":1,"subscribers":2}',
                   'a 20000-byte body is published');

    all_got_ok('and received whole', \@c, t($body));
    close_all_ok('big body', @c);
    wait_unsubscribed('room');
}

# TEST 7: a full zone: old history is evicted, a message that cannot fit
# is refused with 507, nothing breaks.
sub zone_full {
    my $master = master_pid();
    my @workers = workers_of($master);
    my @c = spread('/sub', 4, 2);
    my $n = @c;

    both_workers_ok('zone full', @c);

    my $bad;
    my @msgs;

    for my $i (1 .. 30) {
        my $m = sprintf('%04d', $i) x 2000;              # 8000 bytes
        push @msgs, $m;

        # messages the other worker has not read yet are never evicted:
        # on a busy machine a publisher may get 507 for a moment, and
        # tries again, as a real one would
        my $r = publish('room', $m);
        for (1 .. 50) {
            last if $r->{status} != 507;
            Time::HiRes::sleep(0.02);
            $r = publish('room', $m);
        }

        my $a = answer($r);
        $bad //= "publish $i: $a"
            if $a ne qq(200 application/json {"id":$i,"subscribers":$n});
    }

    Test::More::is($bad // 'all published', 'all published',
                   '30 messages of 8000 bytes fit in a 64k zone by evicting'
                   . ' old history');

    my $r = http('GET', '/pub?channel=room');
    my ($hist) = $r->{body} =~ /"history":(\d+)\}/;
    Test::More::ok($r->{status} == 200 && rel($r->{body}) =~ /"last_id":30,/
                   && defined $hist && $hist >= 1 && $hist < 30,
                   "GET: last_id 30, the history was evicted: $r->{body}");

    # under max_message=64k, but more than the zone can ever hold
    my $big = 'B' x 60000;
    $r = publish('room', $big);
    Test::More::is($r->{status}, 507,
                   'a message that cannot fit is refused with 507');

    my $say = client('/say');
    $say->send_binary($big);
    my ($code) = $say->wait_close(3);
    my @extra = $say->skipped;
    $say->send_close(1013);
    $say->wait_eof(2);
    $say->close;

    Test::More::is(($code // 'no close') . (@extra ? ' ' . desc(@extra) : ''),
                   1013, 'a WebSocket client whose message cannot fit gets'
                   . ' Close 1013');

    Test::More::is(answer(publish('room', 'small')),
                   qq(200 application/json {"id":31,"subscribers":$n}),
                   'the next message gets the next id');

    all_got_ok('subscribers get the 31 published messages, not the refused'
               . ' one', \@c, t(@msgs, 'small'));

    # other channels still work
    my $other = client('/other');
    Test::More::is(answer(publish('room2', 'other')),
                   '200 application/json {"id":1,"subscribers":1}',
                   'another channel can be created and published to');
    all_got_ok('and delivers', [ $other ], t('other'));

    Test::More::is(join(' ', workers_of($master)), join(' ', @workers),
                   'the workers are still the same processes');

    close_all_ok('zone full', @c, $other);
    wait_unsubscribed('room', 'room2');
}

# TEST 8: the channel argument is URL-decoded.
sub escaped {
    my $c = client('/sub?room=a');
    my $r = http('POST', '/pub?channel=room%3Aa', body => 'escaped',
                 type => 'text/plain');
    Test::More::is(answer($r), '200 application/json {"id":1,"subscribers":1}',
                   'channel=room%3Aa publishes to room:a');
    all_got_ok('the room:a subscriber gets it', [ $c ], t('escaped'));
    close_all_ok('escaped', $c);
    wait_unsubscribed('room:a');
}

# TEST 9: a handshake whose channel does not fit in a full zone is refused
# with 503; once connections leave, there is room again.
sub subscribe_full {
    my (@c, $refused);

    for my $i (1 .. 900) {
        my $c = Test::NgxWs::Client->new(path => "/sub?n=$i", timeout => 3,
                                         check => 0);
        if (($c->status // 0) != 101) {
            $refused = $c;
            last;
        }
        push @c, $c;
    }

    my $n = @c;

    Test::More::is($refused ? $refused->status : 'none', 503,
                   "a 32k zone takes $n channels, then the handshake is"
                   . ' refused with 503');

    close_all_ok('the first five leave', splice @c, 0, 5);

    my $deadline = Time::HiRes::time() + 2;
    my $again;

    while (Time::HiRes::time() < $deadline) {
        $again = Test::NgxWs::Client->new(path => '/sub?n=again',
                                          timeout => 3, check => 0);
        last if ($again->status // 0) == 101;
        Time::HiRes::sleep(0.02);
    }

    Test::More::is($again->status, 101,
                   'after some left, a new channel fits again');

    close_all_ok('the others', @c, $again);
    wait_unsubscribed('channel-with-a-long-name-again');
}

__DATA__

=== TEST 1: presence: GET counts subscribers in both workers; leaving ones are not counted
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /both {
        websocket;
        ws_subscribe chat room room2;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::presence();
--- request
GET /pub?channel=room2
--- response_body
{"channel":"room2","subscribers":0,"last_id":0,"history":0}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: DELETE: subscribers in both workers get Close 1000 "channel deleted"
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /other {
        websocket;
        ws_subscribe chat room2;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::delete_channel();
--- request
DELETE /pub?channel=room2
--- response_body
{"deleted":true,"subscribers":0}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: 404 for an unknown channel or connection, 405 for other methods, 400 without a channel
--- http_config
    ws_zone chat 1m;
--- config
    location /pub {
        ws_publisher chat;
    }
--- request eval
["GET /pub?channel=nope",
 "DELETE /pub?channel=nope",
 "POST /pub?id=nope\nx",
 "PUT /pub?channel=room\nx",
 "PATCH /pub?channel=room\nx",
 "GET /pub",
 "GET /pub?channel=",
 "DELETE /pub",
 "POST /pub\nx",
 "POST /pub?other=1\nx"]
--- error_code eval
[404, 404, 404, 405, 405, 400, 400, 400, 400, 400]
--- no_error_log
[error]



=== TEST 4: ?type= other than text or binary, and text that is not UTF-8, are refused with 400
--- http_config
    ws_zone chat 1m;
--- config
    location /pub {
        ws_publisher chat;
    }
--- request eval
["POST /pub?channel=room&type=json\nx",
 "POST /pub?channel=room&type=text\n\xff\xfe",
 "POST /pub?channel=room\n\xc3\x28",
 "POST /pub?channel=room&type=binary\n\xff\xfe",
 "GET /pub?channel=room"]
--- more_headers
Content-Type: text/plain
--- error_code eval
[400, 400, 400, 200, 200]
--- response_body eval
[qr/.*/s, qr/.*/s, qr/.*/s,
 qq{{"id":1,"subscribers":0}\n},
 qq{{"channel":"room","subscribers":0,"last_id":1,"history":1}\n}]
--- no_error_log
[error]



=== TEST 5: a body over client_max_body_size gets 413
--- http_config
    ws_zone chat 1m;
--- config
    location /pub {
        ws_publisher chat;
        client_max_body_size 1k;
    }
--- request eval
["POST /pub?channel=room\n" . ('a' x 1024),
 "POST /pub?channel=room\n" . ('a' x 1025),
 "GET /pub?channel=room"]
--- more_headers
Content-Type: text/plain
--- error_code eval
[200, 413, 200]
--- response_body eval
[qq{{"id":1,"subscribers":0}\n},
 qr/413 Request Entity Too Large/,
 qq{{"channel":"room","subscribers":0,"last_id":1,"history":1}\n}]



=== TEST 6: a body larger than client_body_buffer_size is published whole
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::big_body();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":1,"history":1}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 7: zone full: history evicted first, 507 and a log line for what cannot fit, nothing breaks
--- http_config
    ws_zone chat 64k history=100 max_message=64k;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /other {
        websocket;
        ws_subscribe chat room2;
    }
    location /say {
        websocket;
        ws_publish chat room;
        ws_max_message_size 200k;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 128k;
    }
--- init
main::zone_full();
--- request
GET /pub?channel=room2
--- response_body
{"channel":"room2","subscribers":0,"last_id":1,"history":1}
--- error_log
ws zone "chat" is full
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 8: the channel argument is URL-decoded
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room:$arg_room;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::escaped();
--- request
GET /pub?channel=room%3Aa
--- response_body
{"channel":"room:a","subscribers":0,"last_id":1,"history":1}
--- no_error_log
[error]



=== TEST 9: a channel that does not fit in a full zone: the handshake gets 503
--- http_config
    ws_zone chat 32k max_channels=1000;
--- config
    location /sub {
        websocket;
        ws_subscribe chat channel-with-a-long-name-$arg_n;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::subscribe_full();
--- request
GET /pub?channel=channel-with-a-long-name-again
--- response_body
{"channel":"channel-with-a-long-name-again","subscribers":0,"last_id":0,"history":0}
--- error_log
ws zone "chat" is full
--- no_error_log
[alert]
[crit]



=== TEST 10: a long channel name (200 bytes) can be published to, read and deleted
--- http_config
    ws_zone chat 1m;
--- config
    location /pub {
        ws_publisher chat;
    }
--- request eval
["POST /pub?channel=" . ('n' x 200) . "\nx",
 "GET /pub?channel=" . ('n' x 200),
 "DELETE /pub?channel=" . ('n' x 200)]
--- more_headers
Content-Type: text/plain
--- response_body eval
[qq{{"id":1,"subscribers":0}\n},
 '{"channel":"' . ('n' x 200)
   . '","subscribers":0,"last_id":1,"history":1}' . "\n",
 qq{{"deleted":true,"subscribers":0}\n}]
--- no_error_log
[error]



=== TEST 11: an empty message is published and stored like any other
--- http_config
    ws_zone chat 1m;
--- config
    location /pub {
        ws_publisher chat;
    }
--- request eval
["POST /pub?channel=e\n",
 "GET /pub?channel=e"]
--- more_headers
Content-Type: text/plain
--- response_body eval
[qq{{"id":1,"subscribers":0}\n},
 qq{{"channel":"e","subscribers":0,"last_id":1,"history":1}\n}]
--- no_error_log
[error]
[alert]
