# ws_pass_format websocket-events: the events of a connection reach the
# application in Pushpin's WebSocket-over-HTTP format, so that an app written
# for Pushpin works unchanged: OPEN must be accepted with OPEN, TEXT and
# BINARY go both ways, messages that wait while one request is out go
# together in the next request (in order), CLOSE from the app closes with its
# code, the client's Close reaches the app as CLOSE and a vanished client as
# DISCONNECT, and a malformed reply closes with 1011 and an error log line.
# Memory stays flat over many batched messages on one connection.
# The app is t/backends/wse-app.js, started here and stopped by its PID.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc qw(nginx_rss);
use Test::NgxWs::Rounds qw(write_all read_exactly rounds);

use File::Temp ();
use IO::Select ();
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

our ($AppPid, $AppLog);

start_app();

repeat_each(1);

plan tests => repeat_each() * Test::NgxWs::App::count_tests(blocks());

no_shuffle();
no_long_string();

add_block_preprocessor(sub {
    my ($block) = @_;
    open my $fh, '>', $AppLog or die "$AppLog: $!";
    close $fh;

    $block->set_value('http_config', <<'CONF' . ($block->http_config // ''));
    upstream wse_app {
        server 127.0.0.1:$TEST_NGINX_APP_PORT;
        keepalive 8;
    }
CONF

    $block->set_value('config', <<'CONF' . ($block->config // ''));
    location = /ok {
        return 200 "ok\n";
    }

    location = /app/events {
        internal;
        proxy_pass http://wse_app/events;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
CONF
});

run_tests();


sub start_app {
    $ENV{TEST_NGINX_APP_PORT} //=
        ($ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984) + 1;

    my $dir = File::Temp::tempdir("ngx-ws-wse-XXXXXX", TMPDIR => 1,
                                  CLEANUP => 1);
    $AppLog = "$dir/requests.log";

    pipe my $r, my $w or die "pipe: $!";

    $AppPid = fork // die "fork: $!";

    if ($AppPid == 0) {
        close $r;
        open STDOUT, '>&', $w or POSIX::_exit(1);
        { exec 'node', 't/backends/wse-app.js', $ENV{TEST_NGINX_APP_PORT},
               $AppLog };
        POSIX::_exit(127);
    }

    close $w;

    my $line = '';
    my $sel = IO::Select->new($r);
    my $deadline = Time::HiRes::time() + 10;

    while ($line !~ /\n/ && Time::HiRes::time() < $deadline) {
        next unless $sel->can_read(0.5);
        sysread($r, $line, 64, length $line) or last;
    }

    close $r;

    die "t/backends/wse-app.js did not start" unless $line =~ /^ready/;

    add_cleanup_handler(sub {
        if ($AppPid) {
            kill 'TERM', $AppPid;
            waitpid $AppPid, 0;
            $AppPid = undef;
        }
    });
}

# The requests the app got: each as "EVENT[ content] | EVENT ..." with
# content escaped, waiting until $n have arrived.
sub app_requests {
    my ($n) = @_;
    my @recs;
    my $deadline = Time::HiRes::time() + 10;

    while (1) {
        open my $fh, '<', $AppLog or die "$AppLog: $!";
        @recs = map { JSON::PP::decode_json($_) } grep { /\n\z/ } <$fh>;
        last if @recs >= $n || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.02);
    }

    Time::HiRes::sleep(0.1);
    open my $fh, '<', $AppLog or die "$AppLog: $!";
    return map { JSON::PP::decode_json($_) } grep { /\n\z/ } <$fh>;
}

sub events_of {
    my ($rec) = @_;
    return join ' | ', map {
        my ($t, $c) = @$_;
        $c =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ge;
        length $c || $t =~ /^(TEXT|BINARY)$/ ? "$t $c" : $t;
    } @{ $rec->{events} };
}

sub header_of {
    my ($rec, $name) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name }
            @{ $rec->{headers} };
    return join ',', @v;
}

# TEST 1
sub round_trip {
    my $c = Test::NgxWs::Client->new(path => '/ws?room=1', timeout => 5);
    $c->send_text('hello');
    my @f = $c->read(all => [{ opcode => 1 }], timeout => 5);
    $c->send_binary("\x00\x01\xff");
    push @f, $c->read(all => [{ opcode => 2 }], timeout => 5);
    Test::More::is(join(',', map { "$_->{opcode}:$_->{payload}" } @f),
                   "1:echo:hello,2:\x00\x01\xff",
                   'TEXT and BINARY came back from the app');

    $c->send_close(1000);
    Test::More::is(scalar $c->wait_close(5), 1000, 'closed normally');
    $c->wait_eof(2);

    my @r = app_requests(4);
    my $got = join "\n", map { events_of($_) } @r;
    Test::More::is($got, join("\n", 'OPEN', 'TEXT hello',
                              'BINARY \x00\x01\xff', 'CLOSE \x03\xe8'),
                   'the app got OPEN, TEXT, BINARY, CLOSE with the code');

    my $id = header_of($r[0], 'Connection-Id');
    Test::More::like($id, qr/^[0-9a-f]{32}$/, 'Connection-Id is the id');
    my $ok = grep {
        header_of($_, 'Connection-Id') eq $id
        && header_of($_, 'Content-Type') eq 'application/websocket-events'
        && header_of($_, 'Accept') eq 'application/websocket-events'
        && header_of($_, 'X-WS-URI') eq '/ws?room=1'
        && $_->{url} eq '/events'
    } @r;
    Test::More::is($ok, 4, 'every request has the same Connection-Id and'
                   . ' the websocket-events Content-Type and Accept');
}

# TEST 2
sub batched {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    my @m = map { "m$_" } 1 .. 6;

    # the app holds "slow" 300 ms: the six messages wait meanwhile
    $c->send_text('slow');
    Time::HiRes::sleep(0.05);
    $c->send_text($_) for @m;

    my @want = map { "echo:$_" } 'slow', @m;
    my @f = $c->read(all => [map { { opcode => 1, payload => $_ } } @want],
                     timeout => 5);
    Test::More::is(join(',', map { $_->{payload} } @f), join(',', @want),
                   'every reply came back, in order');

    $c->send_close(1001);
    $c->wait_close(5);
    $c->wait_eof(2);

    my @r = app_requests(4);
    Test::More::is(join("\n", map { events_of($_) } @r),
                   join("\n", 'OPEN', 'TEXT slow',
                        join(' | ', map { "TEXT $_" } @m), 'CLOSE \x03\xe9'),
                   'the six waiting messages went in one request, in order');
}

# TEST 3
sub app_close {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    $c->send_text('bye');
    my ($code, $reason) = $c->wait_close(5);
    Test::More::is("$code $reason", '4001 app says bye',
                   "the app's CLOSE closed with its code and reason");
    $c->send_close($code);
    Test::More::ok($c->wait_eof(3), 'then nginx closed the connection');
}

# TEST 4
sub client_vanishes {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    $c->send_text('x');
    my $f = $c->read_frame(5);
    Test::More::is($f && $f->{payload}, 'echo:x', 'the reply came');
    $c->close;

    my @r = app_requests(3);
    Test::More::is(join("\n", map { events_of($_) } @r),
                   "OPEN\nTEXT x\nDISCONNECT",
                   'a client gone without a Close is a DISCONNECT event');
}

# TEST 5
sub malformed {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    $c->send_text('bad');
    Test::More::is(scalar $c->wait_close(5), 1011,
                   'a malformed reply closes with 1011');
    Test::More::is(scalar(grep { $_->{opcode} != 8 } $c->skipped), 0,
                   'nothing of the malformed reply was sent');
}

# TEST 6
sub refused {
    my $c = Test::NgxWs::Client->new(path => '/ws?reject', timeout => 5);
    Test::More::is(scalar $c->wait_close(5), 1008,
                   'no OPEN in the reply to OPEN: closed with 1008');
}

# TEST 7
sub app_disconnect {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    $c->send_text('drop');
    Test::More::ok($c->wait_eof(5), 'DISCONNECT from the app: the TCP'
                   . ' connection was closed');
    Test::More::is($c->close_frame, undef, 'without a Close frame');
}

# TEST 8: rounds of 100 pipelined messages: they wait behind the request
# out, go in batches, come back in order; the worker's RSS after the last
# round is within 1 MiB of what it was after the warm-up.
sub memory {
    my ($out, $back) = ('', '');

    for my $i (1 .. 100) {
        $out .= WsFrame::ws_text("m$i");
        $back .= WsFrame::srv_text("echo:m$i");
    }

    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    my $s = $c->socket;
    my $t0 = Time::HiRes::time();

    my $bad = rounds($s, 20, $out, $back);
    my $rss1 = nginx_rss();
    $bad += rounds($s, 180, $out, $back);
    my $rss2 = nginx_rss();
    my $dt = Time::HiRes::time() - $t0;

    write_all($s, WsFrame::ws_close(1000));
    my $closed = read_exactly($s, 4, IO::Select->new($s));
    $c->close;

    my $requests = () = app_requests(1);

    Test::More::ok($bad == 0 && $closed eq "\x88\x02\x03\xe8",
                   "20,000 messages answered in order ($bad rounds"
                   . ' different)');
    Test::More::cmp_ok($requests, '<', 10_000, 'in fewer requests than'
                       . ' messages');
    Test::More::cmp_ok($rss2 - $rss1, '<=', 1024, 'worker RSS after 20,000'
                       . ' messages is within 1 MiB of the RSS after 2,000');

    Test::More::diag(sprintf('worker VmRSS: %d KiB after 2,000 messages, %d'
                             . ' KiB after 20,000 (%+d KiB); %d requests,'
                             . ' %.1f s', $rss1, $rss2, $rss2 - $rss1,
                             $requests, $dt));
}

# TEST 9: an event's request pool takes the body it builds when that is
# small and leaves a large one to malloc() on its own; the same for the
# replies: binary messages of 20,000 to 70,000 bytes, three of 10,000 in
# one request, all come back intact.
sub big {
    my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 5);
    my @m = map { WsFrame::repeat_to(chr(48 + $_) . "\x00\xff", 10_000) }
            1 .. 3;

    $c->send_text('slow');
    Time::HiRes::sleep(0.05);
    $c->send_binary($_) for @m;

    my @f = $c->read(all => [{ opcode => 1 }, map { { opcode => 2 } } @m],
                     timeout => 5);

    for my $len (20_000, 30_000, 70_000) {
        push @m, WsFrame::repeat_to("\x01\x02\xfe" . chr($len % 251), $len);
        $c->send_binary($m[-1]);
        push @f, $c->read(all => [{ opcode => 2 }], timeout => 5);
    }

    my @got = map { $_->{payload} } grep { $_->{opcode} == 2 } @f;
    my $same = grep { defined $got[$_] && $got[$_] eq $m[$_] } 0 .. $#m;
    Test::More::is($same, 6, 'the six large messages came back intact'
                   . ' (lengths ' . join(',', map { length } @got) . ')');

    $c->send_close(1000);
    $c->wait_close(5);
    $c->wait_eof(2);

    my @r = app_requests(7);
    Test::More::is(join(',', map { scalar @{ $_->{events} } } @r),
                   '1,1,3,1,1,1,1', 'the three messages that waited went in'
                   . ' one request');
}

__DATA__

=== TEST 1: OPEN is accepted, TEXT and BINARY go both ways, the client's Close reaches the app as CLOSE with its code
--- config
    location /ws {
        websocket;
        ws_pass /app/events;
        ws_pass_format websocket-events;
    }
--- init
main::round_trip();
--- init_tests: 5
--- request
GET /ok
--- response_body
ok
--- no_error_log
[error]
[alert]



=== TEST 2: messages that wait while a request is out go together in the next request, in order; the replies come back in order
--- config
    location /ws {
        websocket;
        ws_pass /app/events;
        ws_pass_format websocket-events;
    }
--- init
main::batched();
--- init_tests: 2
--- request
GET /ok
--- response_body
ok
--- no_error_log
[error]
[alert]



=== TEST 3: CLOSE from the app closes with its code and reason
--- config
    location /ws {
        websocket;
        ws_pass /app/events;
        ws_pass_format websocket-events;
    }
--- init
main::app_close();
--- init_tests: 2
--- request
GET /ok
--- response_body
ok
--- error_log
upstream sent CLOSE, closing with 4001
--- no_error_log
[error]



=== TEST 4: a client that goes without a Close is a DISCONNECT event
--- config
    location /ws {
        websocket;
        ws_pass /app/events;
        ws_pass_format websocket-events;
    }
--- init
main::client_vanishes();
--- init_tests: 2
--- request
GET /ok
--- response_body
ok
--- no_error_log
[error]



=== TEST 5: a malformed reply closes with 1011 and says why in the error log
--- config
    location /ws {
        websocket;
        ws_pass /app/events;
        ws_pass_format websocket-events;
    }
--- init
main::malformed();
--- init_tests: 2
--- request
GET /ok
--- response_body
ok
--- error_log eval
qr/\[error\] .*upstream sent a malformed websocket-events reply to message event 1: content shorter than its length at byte 0, closing with 1011/



=== TEST 6: an app that does not answer OPEN with OPEN refuses the connection
--- config
    location /ws {
        websocket;
        ws_pass /app/events;
        ws_pass_format websocket-events;
    }
--- init
main::refused();
--- init_tests: 1
--- request
GET /ok
--- response_body
ok
--- error_log
upstream did not accept the connection: no OPEN in the reply to its OPEN event
--- no_error_log
[error]



=== TEST 7: DISCONNECT from the app drops the connection
--- config
    location /ws {
        websocket;
        ws_pass /app/events;
        ws_pass_format websocket-events;
    }
--- init
main::app_disconnect();
--- init_tests: 2
--- request
GET /ok
--- response_body
ok
--- error_log
upstream sent DISCONNECT, closing the connection
--- no_error_log
[error]



=== TEST 8: memory stays flat over 20,000 batched messages
--- config
    location /ws {
        websocket;
        ws_pass /app/events;
        ws_pass_format websocket-events;
    }
--- init
main::memory();
--- init_tests: 3
--- request
GET /ok
--- response_body
ok
--- no_error_log
[error]
[alert]



=== TEST 9: large messages go in and out intact, alone and batched (the request pool takes a small body, malloc() a large one)
--- http_config
    subrequest_output_buffer_size 256k;
--- config
    location /ws {
        websocket;
        ws_pass /app/events;
        ws_pass_format websocket-events;
    }
--- init
main::big();
--- init_tests: 2
--- request
GET /ok
--- response_body
ok
--- no_error_log
[error]
[alert]
