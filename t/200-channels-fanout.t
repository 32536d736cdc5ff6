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
use Test::NgxWs::Client ();
use Test::Nginx::Socket;

use Digest::MD5 ();
use IO::Select ();
use IO::Socket::INET ();
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

run_tests();


sub sum { my $n = 0; $n += $_ for @_; $n }

# One test per request for the status, plus one per response_body,
# response_headers line and error_log / no_error_log pattern.
sub checks {
    my $n = 0;

    for my $block (blocks()) {
        my $req = $block->request;
        my $reqs = ref $req eq 'ARRAY' ? @$req : 1;
        my $per = 1 + (defined $block->response_body ? 1 : 0);

        for my $v (grep { defined } $block->response_headers,
                   $block->error_log, $block->no_error_log)
        {
            $per += ref $v eq 'ARRAY' ? @$v
                  : ref $v ? 1
                  : scalar(my @l = split /\n/, $v);
        }

        $n += $reqs * $per;
    }

    return $n;
}


# --- helpers ------------------------------------------------------------

sub master_pid {
    my $file = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid";
    open my $fh, '<', $file or die "$file: $!";
    chomp(my $pid = <$fh>);
    return $pid;
}

# The live worker processes of the master.
sub workers_of {
    my ($ppid) = @_;
    my @pids;

    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $state, $parent) = $line =~ /^(\d+) \(.*\) (\S) (\d+) /s
            or next;
        push @pids, $pid if $parent == $ppid && $state ne 'Z';
    }

    return sort { $a <=> $b } @pids;
}

# A plain HTTP/1.1 request on a new connection; returns a hash with status,
# headers (lower-case names) and body.  Options: body, type (Content-Type).
sub http {
    my ($method, $uri, %o) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
                                  Proto => 'tcp', Timeout => 3)
        or die "connect: $!";
    binmode $s;

    my $body = $o{body} // '';
    my $req = "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
              . "Connection: close\r\n";
    $req .= "Content-Type: $o{type}\r\n" if defined $o{type};
    $req .= 'Content-Length: ' . length($body) . "\r\n"
        if $method eq 'POST' || length $body;
    $req .= "\r\n" . $body;

    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite $s, $req, length($req) - $off, $off;
        die "write: $!" unless defined $n;
        $off += $n;
    }

    my ($buf, $sel) = ('', IO::Select->new($s));
    my $deadline = Time::HiRes::time() + 3;

    while ((my $left = $deadline - Time::HiRes::time()) > 0) {
        last unless $sel->can_read($left);
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;
    }

    close $s;

    my $end = index $buf, "\r\n\r\n";
    return { status => 0, headers => {}, body => $buf } if $end < 0;

    my ($status_line, @lines) = split /\r\n/, substr($buf, 0, $end);
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        $h{lc $k} = $v;
    }

    my $rbody = substr $buf, $end + 4;

    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($rbody =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr $rbody, 0, $len, '';
            $rbody =~ s/\A\r\n//;
        }
        $rbody = $out;
    }

    my ($status) = $status_line =~ m{^HTTP/1\.\d (\d{3})};

    return { status => $status // 0, headers => \%h, body => $rbody };
}

sub publish {
    my ($channel, $body, %o) = @_;
    return http('POST', "/pub?channel=$channel" . ($o{args} // ''),
                body => $body,
                exists $o{type} ? (type => $o{type}) : (type => 'text/plain'));
}

# "200 application/json BODY", to compare publisher answers in one string;
# the body ends with a newline, which is left out.
sub answer {
    my ($r) = @_;
    my $body = $r->{body};
    $body =~ s/\n\z// or $body .= ' (no final newline)';
    return "$r->{status} " . ($r->{headers}{'content-type'} // '-')
           . " $body";
}

sub client {
    my ($path) = @_;
    return Test::NgxWs::Client->new(path => $path, timeout => 3);
}

# Opens connections to $path until there are at least $n and each worker
# holds at least $min of them (at most $n + 200 attempts); returns them.
sub spread {
    my ($path, $n, $min) = @_;

    my @workers = workers_of(master_pid());
    my (@c, %per);

    while (@c < $n || grep { ($per{$_} // 0) < $min } @workers) {
        last if @c >= $n + 200;
        my $c = client($path);
        push @c, $c;
        $per{ $c->header('X-Worker') // '?' }++;
    }

    return @c;
}

# Checks that the connections are spread over exactly the master's workers.
sub both_workers_ok {
    my ($name, @c) = @_;

    my @workers = workers_of(master_pid());
    my %per;
    $per{ $_->header('X-Worker') // '?' }++ for @c;

    Test::More::is(join(' ', sort keys %per), join(' ', @workers),
                   "$name: the connections are in both workers ("
                   . join(', ', map { "$_: $per{$_}" } sort keys %per) . ')');
}

# Waits (at most 2 s) until the channels count no subscribers, so that the
# block's GET sees the final state; presence itself is tested in
# 203-channels-publisher.t.
sub wait_unsubscribed {
    my $deadline = Time::HiRes::time() + 2;

    for my $ch (@_) {
        while (Time::HiRes::time() < $deadline) {
            last if http('GET', "/pub?channel=$ch")->{body}
                    =~ /"subscribers":0[,}]/;
            Time::HiRes::sleep(0.01);
        }
    }
}

# A one-line description of frames, to compare sequences.
sub desc {
    return join ' | ', map {
        $_->{opcode} == 8
            ? 'close ' . ($_->{code} // '-') . ' ' . ($_->{reason} // '')
            : "$_->{opcode}:" . (length $_->{payload} > 120
                                 ? 'len=' . length($_->{payload})
                                          . ' md5=' . Digest::MD5::md5_hex($_->{payload})
                                 : WsFrame::_escape($_->{payload}))
    } @_;
}

# Where two desc() strings differ: the frame counts, the first differing
# frame, and the whole got string when it is short.
sub first_diff {
    my ($got, $want) = @_;
    my @g = split / \| /, $got;
    my @w = split / \| /, $want;
    my $k = 0;
    $k++ while $k < @g && $k < @w && $g[$k] eq $w[$k];

    return sprintf 'got %d frames, want %d; frame %d is "%s", want "%s"%s',
           scalar @g, scalar @w, $k, $g[$k] // '(none)', $w[$k] // '(none)',
           length $got < 600 ? "; got: $got" : '';
}

# Reads up to $n frames from a connection, until the common deadline.
sub read_frames {
    my ($c, $n, $deadline) = @_;
    my @f;

    while (@f < $n) {
        my $left = $deadline - Time::HiRes::time();
        $left = 0.05 if $left < 0.05;
        my $f = $c->read_frame($left) or last;
        push @f, $f;
    }

    return @f;
}

# Each connection must have received exactly @want (frames given as
# [opcode, payload]); reports the first connection that did not.
sub all_got_ok {
    my ($name, $conns, @want) = @_;

    my $want = desc(map { { opcode => $_->[0], payload => $_->[1] } } @want);
    my $deadline = Time::HiRes::time() + 5;
    my $bad;

    for my $i (0 .. $#$conns) {
        my @got = read_frames($conns->[$i], scalar @want, $deadline);
        my $got = desc(@got);
        $bad //= "connection $i: " . first_diff($got, $want) if $got ne $want;
    }

    Test::More::is($bad // $want, $want, $name);
}

# Closes the connections (Close 1000 each); every one must answer Close 1000
# with nothing else before it, then close TCP.
sub close_all_ok {
    my ($name, @c) = @_;

    $_->send_close(1000) for @c;

    my $bad;

    for my $i (0 .. $#c) {
        my ($code) = $c[$i]->wait_close(3);
        my @extra = $c[$i]->skipped;
        my $eof = $c[$i]->wait_eof(2);
        $c[$i]->close;

        if (($code // 0) != 1000 || @extra || !$eof) {
            $bad //= "connection $i: close " . ($code // 'none')
                     . ', eof ' . $eof . ', extra frames: ' . desc(@extra);
        }
    }

    Test::More::is($bad // 'all closed cleanly', 'all closed cleanly', $name);
}


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
