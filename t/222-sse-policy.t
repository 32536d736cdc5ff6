# EventSource (ws_sse) around the streams: the $ws_* variables in the
# access log line written when a stream ends, a reload that ends the
# streams of the old workers spread over ws_drain_window (each with its
# last chunk, the clients resume with Last-Event-ID and miss nothing a
# publisher sent meanwhile, the old workers exit), sending without a
# WebSocket (POST to a ws_publisher location behind auth_request, seen by
# an EventSource and a WebSocket subscriber with the same id; a refused
# POST publishes nothing), and nginx's gzip on text/event-stream, which
# must not hold events back.
#
# nginx runs with a master and two workers.  The scenarios run in each
# block's --- init and their checks are the first tests of the block.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;
use Test::NgxWs::Channels qw(reload gone);
use Test::NgxWs::Sse ();

use Compress::Raw::Zlib ();
use JSON::PP ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

my %INIT_TESTS = (1 => 7, 2 => 5, 3 => 6, 4 => 2);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- scenarios ----------------------------------------------------------

sub sse { Test::NgxWs::Sse->new(@_) }

sub servroot {
    return $ENV{TEST_NGINX_SERVER_ROOT}
           // $Test::Nginx::Util::ServRoot // 't/servroot';
}

# The lines of logs/NAME that match $re, once there are $n (or 3 s).
sub log_lines {
    my ($name, $re, $n) = @_;
    my $deadline = Time::HiRes::time() + 3;
    my @l;

    while (1) {
        if (open my $fh, '<', servroot() . "/logs/$name") {
            @l = grep { /$re/ } <$fh>;
            chomp @l;
        }
        last if @l >= $n || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }

    return @l;
}

# TEST 1: the access log line of a stream and of a long poll.
sub logged {
    publish('a', 'zero');
    publish('b', 'zero');

    my $s = sse(path => '/sse?ch=a&ch2=b');
    publish('a', 'hello');
    publish('b', "two\nlines");
    $s->wait_messages(2);
    $s->close;

    my ($l) = log_lines('streams.log', qr/^sse /, 1);
    my $body = $s->{body};
    my $len = length $body;

    my $re = "^sse id=\\S+ ch=a,b out=2/$len by=client"
             . ' reason="-" t=\d+\.\d{3}$';
    Test::More::like($l // '', qr/$re/,
                     'a stream: its id, channels, events and bytes sent,'
                     . ' left by its client');

    my $t = sse(path => '/sse?ch=c');
    publish('c', 'm1');
    $t->wait_messages(1);
    http('DELETE', '/pub?channel=c');
    $t->wait_end(3);

    my @l = log_lines('streams.log', qr/^sse /, 2);
    $re = '^sse id=\S+ ch=c out=1/\d+ by=server reason="channel deleted"';
    Test::More::like($l[1] // '', qr/$re/,
                     'a stream ended by the server says why');

    my ($id1) = ($l[0] // '') =~ /id=(\S+)/;
    my ($id2) = ($l[1] // '') =~ /id=(\S+)/;
    Test::More::ok(defined $id1 && defined $id2 && $id1 ne $id2
                   && $id1 =~ /^[0-9a-f]{16,}$/,
                   "each stream has an id of its own ($id1, $id2)");

    my $p = http('GET', '/lp?ch=a&last_id=' . id_of('a', 1));
    my ($m) = log_lines('streams.log', qr/^longpoll /, 1);
    my ($entries) = $p->{body} =~ /^\{"messages":\[(.*)\],"last_id"/s;
    my $size = length($entries // 'none');
    $re = "^longpoll id=\\S+ ch=a out=1/$size by=server reason=.messages.";
    Test::More::like($m // '', qr/$re/,
                     'a long poll answered with a message');

    http('GET', '/lp?ch=a');
    my @m = log_lines('streams.log', qr/^longpoll /, 2);
    $re = '^longpoll id=\S+ ch=a out=0/0 by=server reason="timeout" t=0\.[2-9]';
    Test::More::like($m[1] // '', qr/$re/,
                     'a long poll that times out');

    my $w = client('/ws?ch=a');
    $w->close;
    my ($ws) = log_lines('streams.log', qr/^websocket /, 1);
    Test::More::like($ws // '', qr/^websocket id=\S+ ch=a /,
                     '$ws_transport of a WebSocket');

    http('GET', '/pub?channel=a');
    Test::More::unlike(join("\n", log_lines('streams.log', qr/^- /, 1)),
                       qr/id=[^-]/, 'other requests: no stream variables');
    wait_unsubscribed('a');
}

# TEST 2: a reload spreads the ends of the old workers' streams over
# ws_drain_window; the clients resume and miss nothing.
sub drained {
    my $n = 8;
    my @s = map { sse(path => '/sse?ch=d') } 1 .. $n;
    my $k = 1;

    publish('d', 'm1');
    $_->wait_messages(1) for @s;

    my @old = workers_of(master_pid());
    my $t0 = Time::HiRes::time();
    reload();

    # a publisher goes on during the reload
    my %end;
    my $next = 0;

    while (Time::HiRes::time() - $t0 < 3.5) {
        if (Time::HiRes::time() >= $next) {
            $k++;
            publish('d', "m$k");
            $next = Time::HiRes::time() + 0.05;
        }

        for my $i (0 .. $#s) {
            next if exists $end{$i};
            $s[$i]->fill(0.005);
            $end{$i} = Time::HiRes::time() - $t0
                if $s[$i]{done} || $s[$i]{eof};
        }
    }

    my @t = sort { $a <=> $b } values %end;
    Test::More::ok(@t == $n && !grep({ !$_->{done} } @s),
                   'every stream ended with its last chunk ('
                   . scalar(@t) . " of $n)");
    Test::More::ok(@t && $t[-1] < 2.6,
                   "within ws_drain_window (the last after $t[-1] s)");
    Test::More::ok(@t && $t[-1] - $t[0] > 0.2,
                   "not all at once ($t[0] to $t[-1] s)");

    my $deadline = Time::HiRes::time() + 3;
    Time::HiRes::sleep(0.05) while grep({ !gone($_) } @old)
                                   && Time::HiRes::time() < $deadline;
    Test::More::ok(!grep({ !gone($_) } @old), 'the old workers exited');

    # each client comes back with the last id it had
    my $bad = '';
    for my $i (0 .. $#s) {
        my @m = $s[$i]->messages;
        my $r = sse(path => '/sse?ch=d',
                    headers => { 'Last-Event-ID' => $m[-1]{id} });
        $r->wait_messages($k - @m);
        my @all = (@m, $r->messages);
        my $got = join ',', map { $_->{data} } @all;
        my $want = join ',', map { "m$_" } 1 .. $k;
        $bad .= " stream $i: $got" if $got ne $want;
        $r->close;
    }

    Test::More::is($bad, '', "resumed: nothing lost or twice ($k messages)");
    wait_unsubscribed('d');
}

# TEST 3: POST to a ws_publisher location behind auth_request.
sub sending {
    my $s = sse(path => '/sse?ch=lobby');
    my $w = client('/ws?ch=lobby');
    Time::HiRes::sleep(0.1);

    my $no = http('POST', '/send?channel=lobby', body => 'nope',
                  type => 'text/plain');
    my $bad = http('POST', '/send?channel=lobby&token=bad', body => 'nope',
                   type => 'text/plain');
    Test::More::is("$no->{status} $bad->{status}", '401 403',
                   'a POST without a token: 401, with a bad one: 403');

    my $ok = http('POST', '/send?channel=lobby&token=good', body => 'hi all',
                  type => 'text/plain');
    Test::More::like($ok->{body}, qr/^\{"id":\d+,/, 'an allowed POST: its id');
    my ($id) = $ok->{body} =~ /^\{"id":(\d+),/;

    my @m = $s->wait_messages(1);
    Test::More::is(join('|', map { "$_->{id} $_->{data}" } @m),
                   "$id hi all", 'the EventSource subscriber gets it,'
                   . ' with its id, and nothing refused');

    my $f = $w->read_frame(2);
    my $env = eval { JSON::PP::decode_json($f->{payload}) } // {};
    Test::More::is(($env->{id} // '-') . " $env->{data}", "$id hi all",
                   'the WebSocket subscriber gets it with the same id');

    my $more = $w->read_frame(0.3);
    Test::More::ok(!$more, 'and nothing else (the refused POSTs published'
                   . ' nothing)');

    my $st = http('GET', '/pub?channel=lobby');
    Test::More::like($st->{body}, qr/"last_id":$id\b/,
                     'the channel holds only the allowed message');

    $_->close for $s, $w;
    wait_unsubscribed('lobby');
}

# TEST 4: gzip on text/event-stream delivers each event at once.
sub gzipped {
    my $s = sse(path => '/sse?ch=g',
                headers => { 'Accept-Encoding' => 'gzip' });

    my $plain = sub {
        my ($i) = Compress::Raw::Zlib::Inflate->new(
            -WindowBits => Compress::Raw::Zlib::WANT_GZIP());
        my ($in, $out) = ($_[0]{body}, '');
        $i->inflate($in, $out);
        return $out;
    };

    my $t0 = Time::HiRes::time();
    publish('g', 'compressed');
    $s->wait_for(sub { $plain->($_[0]) =~ /data: compressed\n\n/ }, 2);
    my $dt = Time::HiRes::time() - $t0;

    Test::More::is($s->{headers}{'content-encoding'} // '-', 'gzip',
                   'the stream is gzipped');
    Test::More::ok($plain->($s) =~ /data: compressed\n\n/ && $dt < 0.5,
                   "the event comes at once, not when a buffer fills"
                   . sprintf(' (%.3f s)', $dt));
    $s->close;
    wait_unsubscribed('g');
}

__DATA__

=== TEST 1: the $ws_* variables in the access log line of a stream
--- http_config
    ws_zone chat 1m history=10;
    log_format st '$ws_transport id=$ws_connection_id ch=$ws_channels'
                  ' out=$ws_messages_out/$ws_bytes_out by=$ws_closed_by'
                  ' reason="$ws_close_reason" t=$ws_duration';
--- config
    access_log logs/streams.log st;
    location /sse {
        ws_sse;
        ws_subscribe chat $arg_ch;
        ws_subscribe chat $arg_ch2;
    }
    location /lp {
        ws_longpoll;
        ws_subscribe chat $arg_ch;
        ws_longpoll_timeout 300ms;
    }
    location /ws {
        websocket;
        ws_subscribe chat $arg_ch;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::logged();
--- request
GET /pub?channel=a
--- response_body_like: ^\{"channel":"a","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: a reload drains the streams over ws_drain_window
--- http_config
    ws_zone chat 1m history=200;
--- config
    location /sse {
        ws_sse;
        ws_subscribe chat $arg_ch;
        ws_sse_heartbeat 10s;
        ws_drain_window 2s;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::drained();
--- request
GET /pub?channel=d
--- response_body_like: ^\{"channel":"d","subscribers":0,
--- error_log
event stream ends: the worker is shutting down
--- no_error_log
[alert]
[crit]



=== TEST 3: sending with POST behind auth_request
--- http_config
    ws_zone chat 1m;
--- config
    location = /send {
        auth_request /auth-send;
        client_max_body_size 16k;
        ws_publisher chat;
    }
    location = /auth-send {
        internal;
        # the subrequest sees the client's URI as $request_uri
        if ($request_uri ~ "[?&]token=good(&|$)") {
            return 204;
        }
        if ($request_uri ~ "[?&]token=bad(&|$)") {
            return 403;
        }
        return 401;
    }
    location /sse {
        ws_sse;
        ws_subscribe chat $arg_ch;
    }
    location /ws {
        websocket;
        ws_subscribe chat $arg_ch;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::sending();
--- request
GET /pub?channel=lobby
--- response_body_like: ^\{"channel":"lobby","subscribers":0,
--- no_error_log
[alert]
[crit]



=== TEST 4: gzip on text/event-stream
--- http_config
    ws_zone chat 1m;
--- config
    location /sse {
        gzip on;
        gzip_types text/event-stream;
        ws_sse;
        ws_subscribe chat $arg_ch;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::gzipped();
--- request
GET /pub?channel=g
--- response_body_like: ^\{"channel":"g","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]
