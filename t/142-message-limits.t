# ws_limit_message: message rate limits keyed by any variable, in the zone
# of a limit_req_zone, so that one key's bucket is shared by every
# connection and every worker (and by limit_req for HTTP requests).  The
# key is evaluated per message, with $ws_message_type set by ws_route, so
# that each type can have its own bucket.  Over the burst, "close" closes
# with 1008 "rate limit" (a security event), "delay" (the default) lets the
# message through and stops reading until the bucket allows, without loss;
# the warn line comes once per episode, ws_status counts the messages over
# the limit, other keys are not slowed, and the memory stays flat.
#
# Two workers with a master: the clients of --- init (after nginx has
# started) find two connections on different workers by asking each for
# $pid (a reply route whose key is empty, so not limited).  Timing bounds
# are loose: the machine is shared; the lower bounds are the ones that
# matter.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Client ();
use Test::NgxWs::Proc qw(master_pid workers_of rss_kb);
use Test::NgxWs::Rounds qw(write_all read_exactly rounds);
use Test::Nginx::Socket;

use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

repeat_each(1);

master_on();
workers(2);

# the checks of the --- init clients, by the name of their sub
our %INIT_CHECKS = (
    two_workers  => 5,
    delay_shared => 4,
    memory       => 2,
    with_http    => 3,
);

plan tests => repeat_each() * checks();

no_shuffle();
no_long_string();

# closes for a limit are security events: warn here (t/130 checks error)
config_preamble('ws_security_log_level warn;');

run_tests();


# One test for the status and one per response_body, grep_error_log_out
# and line of error_log and no_error_log, plus the checks of the init
# client.
sub checks {
    my $n = 0;

    for my $block (blocks()) {
        $n += 1 + grep { defined $block->$_ }
                      qw(response_body grep_error_log_out);

        for my $v (grep { defined } $block->error_log, $block->no_error_log) {
            $n += ref $v eq 'ARRAY' ? @$v
                : ref $v ? 1
                : scalar(my @l = split /\n/, $v);
        }

        if (defined $block->init && $block->init =~ /main::(\w+)/) {
            $n += $INIT_CHECKS{$1} // die "no check count for $1";
        }
    }

    return $n;
}

sub close_1008 { "\x88\x0c\x03\xf0rate limit" }

sub port { $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984 }

# an HTTP GET to the test server: (status, body)
sub http_get {
    my ($path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => port(),
                                  Proto => 'tcp', Timeout => 5)
        or die "cannot connect: $!";
    print $s "GET $path HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\n\r\n";
    local $/;
    my $res = <$s> // '';
    my ($status) = $res =~ m{\AHTTP/1\.\d (\d+)};
    $res =~ s/\A.*?\r\n\r\n//s;
    $res =~ s/\A[0-9a-f]+\r\n(.*?)\r\n0\r\n\r\n\z/$1/s;
    return ($status // 0, $res);
}

# the data messages of a client until $n have come or $timeout passes:
# their payloads, and when each came (from $t0)
sub read_messages {
    my ($c, $n, $t0, $timeout) = @_;
    my (@got, @at);
    my $deadline = Time::HiRes::time() + $timeout;

    while (@got < $n) {
        my $f = $c->read_frame($deadline - Time::HiRes::time());
        last unless $f;
        next unless $f->{opcode} == 1 || $f->{opcode} == 2;
        push @got, $f->{payload};
        push @at, Time::HiRes::time() - $t0;
    }

    return (\@got, \@at);
}

# the worker that serves a connection
sub whoami {
    my ($c) = @_;
    $c->send_text('{"type":"whoami"}');
    my $f = $c->read_frame(3);
    return $f && $f->{opcode} == 1 ? $f->{payload} : '';
}

sub chat {
    my ($c, $text) = @_;
    $c->send_text('{"type":"chat","text":"' . $text . '"}');
    my $f = $c->read_frame(3);
    return $f && $f->{opcode} == 1 ? $f->{payload} : undef;
}

# TEST 3: burst=3 for user alice, by connections on two workers: four
# messages pass whichever connection sends them, the fifth gets 1008
sub two_workers {
    my (%on, @spare);

    for (1 .. 40) {
        my $c = Test::NgxWs::Client->new(path => '/ws?user=alice');
        my $pid = whoami($c);
        if ($pid && !$on{$pid} && keys %on < 2) {
            $on{$pid} = $c;
        } else {
            push @spare, $c;
        }
        last if keys %on == 2;
    }

    $_->close for @spare;

    my ($ca, $cb) = values %on;

    Test::More::is(scalar(keys %on), 2,
                   'two connections of alice on two workers: '
                   . CORE::join(' ', keys %on));

    return unless $ca && $cb;

    my @echo = (chat($ca, 'a1'), chat($ca, 'a2'), chat($cb, 'b1'),
                chat($cb, 'b2'));

    Test::More::is_deeply(\@echo,
                          [map { '{"type":"chat","text":"' . $_ . '"}' }
                               qw(a1 a2 b1 b2)],
                          'four messages pass, two from each worker');

    $cb->send_text('{"type":"chat","text":"b3"}');
    my ($code, $reason) = $cb->wait_close(3);

    Test::More::is("$code $reason", '1008 rate limit',
                   'the fifth, on either worker, gets 1008');

    $ca->send_text('{"type":"chat","text":"a3"}');
    ($code, $reason) = $ca->wait_close(3);

    Test::More::is("$code $reason", '1008 rate limit',
                   'and so does the sixth, on the other worker');

    my ($status, $body) = http_get('/status');
    my $st = eval { JSON::PP::decode_json($body) } // {};

    Test::More::is($st->{total}{messages_limited}, 2,
                   'ws_status counts the two messages over the limit');
}

# TEST 4: rate=10r/s burst=5 for alice's two connections together: 20
# messages sent at once all come back, in order, the last after about
# (20 - 6) / 10 = 1.4 s; bob's 6 messages meanwhile come back at once
sub delay_shared {
    my $ca = Test::NgxWs::Client->new(path => '/ws?user=alice', timeout => 8);
    my $cb = Test::NgxWs::Client->new(path => '/ws?user=alice', timeout => 8);
    my $cc = Test::NgxWs::Client->new(path => '/ws?user=bob', timeout => 8);

    my @ma = map { "a$_" } 1 .. 10;
    my @mb = map { "b$_" } 1 .. 10;
    my @mc = map { "c$_" } 1 .. 6;

    my $t0 = Time::HiRes::time();

    $ca->raw_write(CORE::join '', map { WsFrame::ws_text($_) } @ma);
    $cb->raw_write(CORE::join '', map { WsFrame::ws_text($_) } @mb);
    $cc->raw_write(CORE::join '', map { WsFrame::ws_text($_) } @mc);

    my ($gc, $tc) = read_messages($cc, 6, $t0, 8);
    my ($ga, $ta) = read_messages($ca, 10, $t0, 8);
    my ($gb, $tb) = read_messages($cb, 10, $t0, 8);

    Test::More::is_deeply([@$ga, @$gb], [@ma, @mb],
                          "alice's 20 messages all come back, in order");

    my ($last) = sort { $b <=> $a } @$ta, @$tb;

    Test::More::ok(defined $last && $last >= 1.0 && $last < 7,
                   sprintf("alice's two connections share 10 per second:"
                           . ' the last after %.3f s (1.4 s expected)',
                           $last // -1));

    Test::More::ok(@$gc == 6 && $tc->[-1] < 1.0,
                   sprintf("bob's 6 messages are not slowed: the last after"
                           . ' %.3f s', $tc->[-1] // -1));

    my $closed = 1;

    for my $x ($ca, $cb, $cc) {
        $x->send_close(1000);
        $closed &&= ($x->wait_close(3) // 0) == 1000;
        $x->close;
    }

    Test::More::ok($closed, 'the three close handshakes complete');
}

# TEST 5: 20000 messages of four types over one connection, each charged
# under a key made of variables: the workers' memory stays flat
use constant MESSAGES => 20000;
use constant WARMUP   => 2000;
use constant BATCH    => 100;

sub memory {
    my ($out, $back) = ('', '');

    for my $i (1 .. BATCH) {
        my $m = '{"type":"t' . ($i % 4) . '","n":' . $i . '}';
        $out .= WsFrame::ws_text($m);
        $back .= WsFrame::srv_text($m);
    }

    my @workers = workers_of(master_pid());
    # a key of 250 bytes: kept per message, it would add 4 MiB
    my $c = Test::NgxWs::Client->new(path => '/ws?user=alice&pad='
                                             . ('p' x 240), timeout => 5);
    my $s = $c->socket;

    my $bad = rounds($s, WARMUP / BATCH, $out, $back);
    my $kb1 = rss_kb(@workers);

    $bad += rounds($s, (MESSAGES - WARMUP) / BATCH, $out, $back);
    my $kb2 = rss_kb(@workers);

    write_all($s, WsFrame::ws_close(1000));
    my $closed = read_exactly($s, 4, IO::Select->new($s));
    $c->close;

    Test::More::ok($bad == 0 && $closed eq "\x88\x02\x03\xe8",
                   sprintf('%d messages echoed exactly (%d batches'
                           . ' different)', MESSAGES, $bad));

    Test::More::cmp_ok($kb2 - $kb1, '<=', 1024,
                       sprintf('the workers grew by %d KiB from %d to %d'
                               . ' messages (at most 1 MiB)', $kb2 - $kb1,
                               WARMUP, MESSAGES));
}

# TEST 6: alice's messages and her HTTP requests share the bucket of a
# limit_req_zone (burst=1): two messages, then her request is over; bob's
# is not
sub with_http {
    my $c = Test::NgxWs::Client->new(path => '/ws?user=alice');
    my @echo = map { $c->send_text($_); my $f = $c->read_frame(3);
                     $f ? $f->{payload} : undef } qw(m1 m2);

    Test::More::is_deeply(\@echo, [qw(m1 m2)], 'two messages within burst=1');

    my ($alice) = http_get('/api?user=alice');
    my ($bob) = http_get('/api?user=bob');

    Test::More::is($alice, 503, "alice's HTTP request finds her bucket full");
    Test::More::is($bob, 200, "bob's does not");

    $c->send_close(1000);
    $c->wait_close(3);
    $c->close;
}

__DATA__

=== TEST 1: close: one key, burst=2: three messages pass, the fourth gets 1008
--- http_config
    limit_req_zone $arg_user zone=user:1m rate=1r/m;
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_message zone=user burst=2 close;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws?user=alice')
. CORE::join('', map { WsFrame::ws_text("m$_") } 1 .. 5)
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x02m1\x81\x02m2\x81\x02m3" . main::close_1008()
--- error_log eval
qr/\[warn\] .*ws security: connection [0-9a-f]{32} exceeded ws_limit_message zone "user", closing with 1008/
--- no_error_log
[error]
delaying reading



=== TEST 2: close: a bucket per message type, by $ws_message_type
--- http_config
    limit_req_zone $arg_user:$ws_message_type zone=type:1m rate=1r/m;
--- config
    location /ws {
        websocket;
        ws_route chat echo;
        ws_route typing echo;
        ws_limit_message zone=type burst=1 close;
    }
--- raw_request eval
WsFrame::ws_handshake('/ws?user=alice')
. WsFrame::ws_text('{"type":"chat"}') . WsFrame::ws_text('{"type":"chat"}')
. WsFrame::ws_text('{"type":"typing"}') . WsFrame::ws_text('{"type":"typing"}')
. WsFrame::ws_text('{"type":"chat"}')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('{"type":"chat"}') x 2
. WsFrame::srv_text('{"type":"typing"}') x 2
. main::close_1008()
--- error_log eval
qr/exceeded ws_limit_message zone "type", closing with 1008/
--- no_error_log
[error]



=== TEST 3: close: one key shared by connections on two workers; other keys and ws_status
--- http_config
    map $ws_message_type $msg_key {
        whoami   "";
        default  $arg_user;
    }
    limit_req_zone $msg_key zone=u:1m rate=1r/m;
--- config
    location /ws {
        websocket;
        ws_route whoami reply $pid;
        ws_route chat echo;
        ws_limit_message zone=u burst=3 close;
    }
    location /status {
        ws_status;
    }
--- init
main::two_workers();
--- raw_request eval
WsFrame::ws_handshake('/ws?user=bob')
. WsFrame::ws_text('{"type":"chat"}') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('{"type":"chat"}') . "\x88\x02\x03\xe8"
--- no_error_log
[error]
[alert]



=== TEST 4: delay: one key shared by two connections, reading slowed without loss, one warn line each
--- http_config
    limit_req_zone $arg_user zone=u:1m rate=10r/s;
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_message zone=u burst=5;
    }
--- init
main::delay_shared();
--- raw_request eval
WsFrame::ws_handshake('/ws?user=carol') . WsFrame::ws_text('after')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x05after\x88\x02\x03\xe8"
--- grep_error_log eval
qr/\[warn\] .*exceeded ws_limit_message zone "u", delaying reading/
--- grep_error_log_out eval
qr/\A(?:\[warn\] [^\n]*connection [0-9a-f]{32} exceeded ws_limit_message zone "u", delaying reading\n){2}\z/
--- no_error_log
[error]
closing with



=== TEST 5: memory stays flat over 20000 messages charged under keys of variables
--- http_config
    limit_req_zone $arg_user:$ws_message_type:$arg_pad zone=m:1m
                   rate=1000000r/s;
--- config
    location /ws {
        websocket;
        ws_route t0 echo;
        ws_route t1 echo;
        ws_route t2 echo;
        ws_route t3 echo;
        ws_limit_message zone=m burst=1000000;
    }
--- init
main::memory();
--- raw_request eval
WsFrame::ws_handshake('/ws?user=bob') . WsFrame::ws_text('{"type":"t1"}')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_text('{"type":"t1"}') . "\x88\x02\x03\xe8"
--- timeout: 60
--- no_error_log
[error]
exceeded



=== TEST 6: a message and an HTTP request with the same key share the bucket
--- http_config
    limit_req_zone $arg_user zone=u:1m rate=1r/m;
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_limit_message zone=u burst=1;
    }
    location /api {
        limit_req zone=u burst=1 nodelay;
        ws_status;
    }
--- init
main::with_http();
--- raw_request eval
WsFrame::ws_handshake('/ws?user=carol') . WsFrame::ws_text('after')
. WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
"\x81\x05after\x88\x02\x03\xe8"
--- error_log eval
qr/limiting requests, excess: (?:1\.9\d\d|2\.000) by zone "u"/
--- no_error_log
[alert]



=== TEST 7: the zone must be declared by limit_req_zone
--- config
    location /ws {
        websocket;
        ws_limit_message zone=nope;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*zero size shared memory zone "nope"/



=== TEST 8: a zone of another kind is refused
--- http_config
    limit_conn_zone $arg_user zone=conn:1m;
--- config
    location /ws {
        websocket;
        ws_limit_message zone=conn;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*the shared memory zone "conn" is already declared for a different use/



=== TEST 9: ws_limit_message without zone, with an unknown parameter
--- config
    location /ws {
        websocket;
        ws_limit_message burst=5 nodelay;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "nodelay"/
