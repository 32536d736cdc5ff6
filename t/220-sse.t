# EventSource subscribers (ws_sse): the response header and the retry line,
# events with the message ids, multi-line data, heartbeats, resume from
# Last-Event-ID (or ws_last_id for the first connection) with nothing lost
# or twice, several channels per stream with a NAME=ID,... id, history_lost
# as its own event, binary messages in base64, delivery from both workers,
# a reader that does not read closed without delaying a fast one, the
# stream ended by a channel deletion and by a reload (then resumed),
# ws_auth_request and ws_origins before any output, limit_conn, ws_status
# counts, and the memory of a worker flat over many messages.
#
# nginx runs with a master and two workers.  The scenarios run in each
# block's --- init and their checks are the first tests of the block.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;
use Test::NgxWs::Channels qw(reload);
use Test::NgxWs::Proc qw(rss_kb);
use Test::NgxWs::Sse ();

use MIME::Base64 ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

# a server of its own, with a small send buffer, for the slow reader
$ENV{TEST_NGINX_SSE_PORT} = ($ENV{TEST_NGINX_SERVER_PORT} || 1984) + 50;

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

my %INIT_TESTS = (1 => 10, 2 => 6, 3 => 5, 4 => 4, 5 => 5, 6 => 3,
                  7 => 4, 8 => 5, 9 => 4, 10 => 1, 11 => 3);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- scenarios ----------------------------------------------------------

sub sse { Test::NgxWs::Sse->new(@_) }

sub ids_data {
    my ($channel, @ev) = @_;
    return join ' ', map {
        my $n = $_->{id} // '-';
        for my $k (1 .. 1000) {
            if ($n eq id_of($channel, $k)) { $n = $k; last }
        }
        ($_->{event} // '-') . ":$n:" . ($_->{data} // '')
    } @ev;
}

# TEST 1: the header, retry, events, multi-line data, heartbeats.
sub basic {
    publish('a', 'zero');

    my $s = sse(path => '/sse?ch=a');

    Test::More::is($s->{status}, 200, 'the stream answers 200');
    Test::More::is($s->{headers}{'content-type'},
                   'text/event-stream; charset=utf-8', 'its Content-Type');
    Test::More::is(($s->{headers}{'cache-control'} // '') . ' '
                   . ($s->{headers}{'x-accel-buffering'} // ''),
                   'no-cache no', 'Cache-Control and X-Accel-Buffering');
    Test::More::is($s->{headers}{'transfer-encoding'}, 'chunked',
                   'HTTP/1.1: chunked');

    publish('a', 'one');
    publish('a', "two\nlines\r\nand\rmore");
    my @m = $s->wait_messages(2);

    Test::More::like($s->{body}, qr/\Aretry: 2000\n\n/,
                     'the stream begins with the retry line');
    Test::More::is(ids_data('a', @m),
                   "message:2:one message:3:two\nlines\nand\nmore",
                   'events carry the ids, data split into lines;'
                   . ' nothing published before the stream');

    $s->wait_for(sub { $_[0]{body} =~ /\n: ping\n\n/ }, 2);
    Test::More::like($s->{body}, qr/\n\n: ping\n\n/,
                     'a heartbeat comment comes when nothing is sent');

    my $t = sse(path => '/sse?ch=a', http10 => 1);
    publish('a', 'three');
    my @m10 = $t->wait_messages(1);
    Test::More::ok(!$t->{headers}{'transfer-encoding'}
                   && ids_data('a', @m10) eq 'message:4:three',
                   'HTTP/1.0: a close-delimited stream');

    my $e = sse(path => '/sse?ch=');
    Test::More::is($e->{status}, 400, 'no channel: 400');

    my $h = sse(path => '/sse?ch=a', no_read => 1);
    $h->{sock}->syswrite("");
    my $head = Test::NgxWs::Sse->new(path => '/sse-head?ch=a');
    Test::More::is($head->{status}, 200, 'the other location answers');

    $_->close for $s, $t, $e, $h, $head;
    wait_unsubscribed('a');
}

# TEST 2: resume by Last-Event-ID and by last_id, nothing lost or twice.
sub resume {
    publish('r', "m$_") for 1 .. 2;

    my $s = sse(path => '/sse?ch=r&last_id=0');
    my @m = $s->wait_messages(2);
    Test::More::is(ids_data('r', @m), 'message:1:m1 message:2:m2',
                   'last_id=0: the whole history');

    my $last = $m[-1]{id};
    $s->close;
    wait_unsubscribed('r');

    publish('r', "m$_") for 3 .. 4;

    my $t = sse(path => '/sse?ch=r&last_id=' . id_of('r', 1),
                headers => { 'Last-Event-ID' => $last });
    publish('r', 'm5');
    @m = $t->wait_messages(3);
    Test::More::is(ids_data('r', @m),
                   'message:3:m3 message:4:m4 message:5:m5',
                   'Last-Event-ID (before the argument): the missed ones,'
                   . ' then new ones');

    $t->wait_for(sub { 0 }, 0.3);
    Test::More::is(scalar(@m = $t->messages), 3, 'nothing twice');

    my $u = sse(path => '/sse?ch=r&last_id=' . id_of('r', 3));
    @m = $u->wait_messages(2);
    Test::More::is(ids_data('r', @m), 'message:4:m4 message:5:m5',
                   'the last_id argument for a first connection');

    my $v = sse(path => '/sse?ch=r', headers => { 'Last-Event-ID' =>
                                                  'r=' . id_of('r', 4) });
    @m = $v->wait_messages(1);
    Test::More::is(ids_data('r', @m), 'message:5:m5',
                   'a NAME=ID Last-Event-ID');

    my $w = sse(path => '/sse?ch=r');
    publish('r', 'm6');
    @m = $w->wait_messages(1);
    Test::More::is(ids_data('r', @m), 'message:6:m6',
                   'no id: new messages only');

    $_->close for $t, $u, $v, $w;
    wait_unsubscribed('r');
}

# TEST 3: several channels: the id is the ws_last_id value of all.
sub multi {
    publish('x', 'x1');
    publish('y', 'y1');

    my $s = sse(path => '/multi', headers => {
                    'Last-Event-ID' => 'x=' . id_of('x', 0) . ',y='
                                       . id_of('y', 0) });
    my @m = $s->wait_messages(2);
    my $want = 'x=' . id_of('x', 1) . ',y=' . id_of('y', 0);
    Test::More::is(join(' ', map { $_->{data} } @m), 'x1 y1',
                   'both channels replayed');
    Test::More::is($m[0]{id}, $want, 'the first id: x=ID,y=ID');
    Test::More::is($m[1]{id}, 'x=' . id_of('x', 1) . ',y=' . id_of('y', 1),
                   'the second id: both advanced');

    my $id = $m[1]{id};
    $s->close;

    publish('y', 'y2');
    my $t = sse(path => '/multi', headers => { 'Last-Event-ID' => $id });
    publish('x', 'x2');
    @m = $t->wait_messages(2);
    Test::More::is(join(' ', map { $_->{data} } @m), 'y2 x2',
                   'resumed from the multi-channel id: nothing twice');
    Test::More::is($m[1]{id}, 'x=' . id_of('x', 2) . ',y=' . id_of('y', 2),
                   'and its ids go on');

    $t->close;
    wait_unsubscribed('x', 'y');
}

# TEST 4: history_lost, binary, a deleted channel.
sub lost {
    publish('h', "h$_") for 1 .. 8;

    my $s = sse(path => '/sse?ch=h&last_id=' . id_of('h', 1));
    my @m = $s->wait_messages(5);
    Test::More::is($m[0]{event} . ' ' . Test::NgxWs::Channels::rel($m[0]{data}),
                   'history_lost {"event":"history_lost","channel":"h",'
                   . '"last_id":1,"first_id":5}',
                   'history_lost is an event of its own, with the JSON'
                   . ' of the WebSocket one');
    Test::More::is(ids_data('h', @m[1 .. 4]),
                   'message:5:h5 message:6:h6 message:7:h7 message:8:h8',
                   'then the history that is left');

    publish('h', "\x00\xffbin\n", type => 'application/octet-stream');
    @m = $s->wait_messages(6);
    Test::More::is("$m[5]{event} "
                   . MIME::Base64::decode_base64($m[5]{data} // ''),
                   "binary \x00\xffbin\n",
                   'a binary message: event binary, base64 data');

    http('DELETE', '/pub?channel=h');
    $s->wait_end(3);
    Test::More::ok($s->{done}, 'a deleted channel ends the stream');
    $s->close;
}

# TEST 5: both workers deliver, to every stream.
sub workers2 {
    my (@s, %per);
    my @w = workers_of(master_pid());

    while (@s < 40 && (@s < 6 || grep { ($per{$_} // 0) < 2 } @w)) {
        my $s = sse(path => '/sse?ch=w');
        push @s, $s;
        $per{ $s->{headers}{'x-worker'} // '?' }++;
    }

    Test::More::ok(!grep({ ($per{$_} // 0) < 2 } @w),
                   'streams on both workers');

    my $st = http('GET', '/status')->{body};
    my ($open) = $st =~ /^\{[^\[]*"sse_streams":(\d+)/;
    Test::More::is($open, scalar @s, 'ws_status counts the open streams');

    publish('w', 'all');
    my $got = grep {
        my @m = $_->wait_messages(1);
        @m == 1 && $m[0]{data} eq 'all'
    } @s;
    Test::More::is($got, scalar @s, 'every stream gets the message');

    $_->close for @s;
    wait_unsubscribed('w');
    Test::More::is(count('w'), 0, 'closed streams leave the channel');

    $st = http('GET', '/status')->{body};
    Test::More::like($st, qr/^\{[^\[]*"sse_streams":0,"sse_total":${\ scalar @s},/,
                     'and are not counted as open any more');
}

sub count {
    my ($channel) = @_;
    my $r = http('GET', "/pub?channel=$channel");
    return $r->{body} =~ /"subscribers":(\d+)/ ? $1 : "status $r->{status}";
}

# TEST 6: a stream that is not read is closed; a fast one is not delayed.
sub slow {
    my $port = $ENV{TEST_NGINX_SSE_PORT};
    my $slow = sse(path => '/slow?ch=s', rcvbuf => 4096, port => $port);
    my $fast = sse(path => '/slow?ch=s', port => $port);

    my $big = 'x' x 2000;
    my $t0 = Time::HiRes::time();
    for my $i (1 .. 150) {
        publish('s', "$i $big");
        1 while $fast->fill(0.005);         # the fast one reads all along
    }

    my @m = $fast->wait_messages(150, 5);
    my $took = Time::HiRes::time() - $t0;

    Test::More::ok(@m == 150 && $took < 4,
                   "the fast stream got all 150 messages (${took}s)");

    my $deadline = Time::HiRes::time() + 3;
    Time::HiRes::sleep(0.05)
        while count('s') != 1 && Time::HiRes::time() < $deadline;
    Test::More::is(count('s'), 1, 'the slow stream left the channel');

    # what it was sent, then the end (a reset or EOF, not the last chunk)
    $slow->wait_end(3);
    Test::More::ok($slow->{eof} && !$slow->{done},
                   'the slow stream is closed without a last chunk');

    $_->close for $slow, $fast;
    wait_unsubscribed('s');
}

# TEST 7: a reload ends the stream; the client resumes.
sub reloaded {
    my $s = sse(path => '/sse?ch=z');
    publish('z', 'before');
    my @m = $s->wait_messages(1);

    reload();

    $s->wait_end(4);
    Test::More::ok($s->{done}, 'the old worker ends the stream with the'
                               . ' last chunk');

    publish('z', 'between');
    my $t = sse(path => '/sse?ch=z',
                headers => { 'Last-Event-ID' => $m[-1]{id} });
    publish('z', 'after');
    my @n = $t->wait_messages(2);
    Test::More::is(ids_data('z', @m), 'message:1:before',
                   'before the reload');
    Test::More::is(ids_data('z', @n), 'message:2:between message:3:after',
                   'resumed: nothing lost or twice');
    Test::More::is($t->{status}, 200, 'the new worker serves it');
    $t->close;
    wait_unsubscribed('z');
}

# TEST 8: ws_auth_request and ws_origins answer before any output.
sub policy {
    my $s = sse(path => '/auth?ch=p');
    $s->wait_end(2);
    Test::More::is($s->{status}, 403, 'ws_auth_request refuses: 403');
    Test::More::unlike($s->{head} // '', qr/event-stream/,
                       'no stream was started');

    my $ok = sse(path => '/auth?ch=ok');
    Test::More::is($ok->{status}, 200, 'an allowed channel: 200');

    my $o = sse(path => '/origin?ch=p',
                headers => { Origin => 'https://evil.example' });
    Test::More::is($o->{status}, 403, 'a refused Origin: 403');

    my $g = sse(path => '/origin?ch=p',
                headers => { Origin => 'https://ok.example' });
    Test::More::is(($g->{headers}{'access-control-allow-origin'} // '-')
                   . ' ' . ($g->{headers}{'access-control-allow-credentials'}
                            // '-'),
                   'https://ok.example true',
                   'an allowed Origin gets the CORS headers');

    $_->close for $s, $ok, $o, $g;

    # the block's GET counts the subscribers of "ok": none once the
    # worker has seen the close (a slow worker, under ASan, had not yet)
    wait_unsubscribed('ok');
}

# TEST 9: memory stays flat over many messages.
sub memory {
    my @s = map { sse(path => '/sse?ch=mem') } 1 .. 4;
    my $body = 'm' x 300;

    my $send = sub {
        my ($n) = @_;
        for my $i (1 .. $n) {
            publish('mem', "$i $body");
            if ($i % 100 == 0) {
                $_->{body} = '' for @s;
                $_->fill(0.01) for @s;
            }
        }
        for (@s) { $_->wait_for(sub { 0 }, 0.2); $_->{body} = '' }
    };

    $send->(500);
    my $rss1 = rss_kb(workers_of(master_pid()));
    $send->(3000);
    my $rss2 = rss_kb(workers_of(master_pid()));

    Test::More::cmp_ok($rss1, '>', 0, 'the workers are there');
    Test::More::cmp_ok($rss2 - $rss1, '<=', 1024,
                       "workers' RSS within 1 MiB after 3000 more messages"
                       . " ($rss1 KiB, then $rss2 KiB)");
    Test::More::is(count('mem'), 4, 'the streams are still subscribed');

    $_->close for @s;
    wait_unsubscribed('mem');
    Test::More::is(count('mem'), 0, 'and leave');
}

# TEST 10: an invalid channel name: 400 before any output.
sub badname {
    my $s = sse(path => '/sse?ch=' . ('n' x 300));
    Test::More::is($s->{status}, 400, 'an invalid channel name: 400');
    $s->close;
}

# TEST 11: nginx's limit_conn counts a stream for as long as it lasts.
sub limited {
    my $s = sse(path => '/lim?ch=l');
    my $t = sse(path => '/lim?ch=l');
    Test::More::is("$s->{status} $t->{status}", '200 503',
                   'limit_conn 1: a second stream gets 503');

    $s->close;
    $t->close;
    wait_unsubscribed('l');

    my $u = sse(path => '/lim?ch=l');
    Test::More::is($u->{status}, 200, 'once the first ended, another opens');
    $u->close;
    wait_unsubscribed('l');
    Test::More::is(count('l'), 0, 'and leaves');
}

__DATA__

=== TEST 1: the header, retry line, events, heartbeats, HTTP/1.0
--- http_config
    ws_zone chat 1m;
--- config
    location /sse {
        ws_sse;
        ws_subscribe chat $arg_ch;
        ws_sse_retry 2s;
        ws_sse_heartbeat 300ms;
    }
    location /sse-head {
        ws_sse;
        ws_subscribe chat $arg_ch;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::basic();
--- request
GET /pub?channel=a
--- response_body_like: ^\{"channel":"a","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: resume from Last-Event-ID or last_id
--- http_config
    ws_zone chat 1m;
--- config
    location /sse {
        ws_sse;
        ws_subscribe chat $arg_ch;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::resume();
--- request
GET /pub?channel=r
--- response_body_like: ^\{"channel":"r","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: several channels per stream
--- http_config
    ws_zone chat 1m;
--- config
    location /multi {
        ws_sse;
        ws_subscribe chat x y;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::multi();
--- request
GET /pub?channel=x
--- response_body_like: ^\{"channel":"x","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]



=== TEST 4: history_lost, binary messages, a deleted channel
--- http_config
    ws_zone chat 1m history=4;
--- config
    location /sse {
        ws_sse;
        ws_subscribe chat $arg_ch;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::lost();
--- request
GET /pub?channel=h
--- error_code: 404
--- error_log
event stream ends: channel deleted
--- no_error_log
[error]
[alert]
[crit]



=== TEST 5: both workers deliver
--- http_config
    ws_zone chat 1m;
--- config
    location /sse {
        ws_sse;
        ws_subscribe chat $arg_ch;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::workers2();
--- request
GET /pub?channel=w
--- response_body_like: ^\{"channel":"w","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]



=== TEST 6: a slow reader is closed, a fast one is not delayed
--- http_config
    ws_zone chat 4m history=200;
    server {
        listen 127.0.0.1:$TEST_NGINX_SSE_PORT sndbuf=8k;
        location /slow {
            ws_sse;
            ws_subscribe chat $arg_ch;
            ws_send_buffer 32k;
        }
    }
--- config
    location /pub {
        ws_publisher chat;
    }
--- init
main::slow();
--- request
GET /pub?channel=s
--- response_body_like: ^\{"channel":"s","subscribers":0,
--- error_log
event stream subscriber is too slow, closing
--- no_error_log
[error]
[alert]
[crit]



=== TEST 7: a reload ends the stream, which resumes
--- http_config
    ws_zone chat 1m;
--- config
    location /sse {
        ws_sse;
        ws_subscribe chat $arg_ch;
        ws_sse_heartbeat 300ms;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::reloaded();
--- request
GET /pub?channel=z
--- response_body_like: ^\{"channel":"z","subscribers":0,
--- no_error_log
[alert]
[crit]



=== TEST 8: ws_auth_request and ws_origins
--- http_config
    ws_zone chat 1m;
--- config
    location /auth {
        ws_auth_request /check;
        ws_sse;
        ws_subscribe chat $arg_ch;
    }
    location = /check {
        internal;
        if ($http_x_ws_subscribe = ok) {
            return 204;
        }
        return 403;
    }
    location /origin {
        ws_sse;
        ws_origins https://ok.example;
        ws_subscribe chat $arg_ch;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::policy();
--- request
GET /pub?channel=ok
--- response_body_like: ^\{"channel":"ok","subscribers":0,
--- error_log
ws auth request denied
client sent disallowed Origin "https://evil.example"
--- no_error_log
[alert]
[crit]



=== TEST 9: memory stays flat
--- http_config
    ws_zone chat 1m;
--- config
    location /sse {
        ws_sse;
        ws_subscribe chat $arg_ch;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::memory();
--- request
GET /pub?channel=mem
--- response_body_like: ^\{"channel":"mem","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]



=== TEST 10: an invalid channel name
--- http_config
    ws_zone chat 1m;
--- config
    location /sse {
        ws_sse;
        ws_subscribe chat $arg_ch;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::badname();
--- request
GET /pub?channel=q
--- error_code: 404
--- no_error_log
[alert]
[crit]



=== TEST 11: limit_conn applies to streams
--- http_config
    ws_zone chat 1m;
    limit_conn_zone $binary_remote_addr zone=perip:1m;
--- config
    location /lim {
        limit_conn perip 1;
        ws_sse;
        ws_subscribe chat $arg_ch;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::limited();
--- request
GET /pub?channel=l
--- response_body_like: ^\{"channel":"l","subscribers":0,
--- no_error_log
[alert]
[crit]
