# The publish paths of a Redis-backed zone across two instances, besides
# the HTTP publisher and ws_publish (t/231): typed routes (ws_route ...
# publish), and the message classes and conflation keys a message carries
# through Redis, applied to a slow subscriber of the OTHER instance.
# Instance A is the suite's nginx (a master, two workers); instance B a
# second nginx (a master, two workers) that this file starts and stops by
# PID, with a second server whose send buffer is 4 KiB for the slow
# subscriber.  Both have the zone "chat" on the same Redis (Debian's
# redis-server, started here, stopped by PID).  Ports, next to the
# suite's (or the next free ones):
#   TEST_NGINX_REDIS_PORT       (server port + 5) the Redis server
#   TEST_NGINX_B_PORT           (+ 10) instance B
#   TEST_NGINX_B_SMALL_PORT     (+ 11) instance B, sndbuf=4k
#
# The scenarios run in each block's --- init and their checks are the
# first tests of the block.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Client ();
use Test::NgxWs::Redis ();
use Test::NgxWs::Slow;
use Test::NgxWs::Instances qw(stop_b b_log req get client wait_subscribed
                               free_port sum);

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

$ENV{TEST_NGINX_REDIS_PORT} //= free_port(server_port() + 5);
$ENV{TEST_NGINX_B_PORT} //= free_port(server_port() + 10);
$ENV{TEST_NGINX_B_SMALL_PORT} //= free_port(server_port() + 11);

our $Redis = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT});

master_on();
workers(2);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 2, 2 => 6, 3 => 4);

# per block: 3 (status, body, no_error_log): A's channel as its
# publisher sees it (TEST 1), A's Redis figures (TEST 2, 3)
plan tests => repeat_each() * (3 + 3 + 3) + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- instance B ---------------------------------------------------------

sub start_b {
    my $sub = <<'EOF';
            websocket;
            ws_subscribe chat room;
            ws_send_buffer 64k;
            ws_slow_subscriber drop;
EOF

    Test::NgxWs::Instances::start_b(<<"EOF", connections => 1024);
    ws_zone chat 16m history=16
            redis=127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B_PORT};
        location /sub {
$sub
        }
        location /in {
            websocket;
            ws_route chat publish chat room;
        }
        location /many {
            websocket;
            ws_subscribe chat \$arg_c;
        }
        location /pub {
            ws_publisher chat;
        }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B_SMALL_PORT} sndbuf=4k;
        location /sub {
$sub
        }
    }
EOF
}


# --- helpers ------------------------------------------------------------

use constant FILLERS => 4;
use constant FILLER => 32000;     # more than the kernel buffers hold
use constant SIZE => 1000;

# a POST to A's publisher with message policy headers: its status
sub pub {
    my ($body, %h) = @_;
    my $headers = join '', map { "$_: $h{$_}\r\n" } sort keys %h;

    my ($status) = req($ENV{TEST_NGINX_SERVER_PORT}, 'POST',
                       '/pub?channel=room', $body, headers => $headers,
                       refused => '0 ', keep_html => 1) =~ /^(\d+) /;
    return $status // 0;
}

sub desc {
    my ($f) = @_;
    return $f->{opcode} == 8 ? "close $f->{code}"
                             : "$f->{opcode}:" . substr($f->{payload}, 0, 20);
}

sub payload {
    my ($head) = @_;
    return $head . ' ' . ('x' x (SIZE - 1 - length $head));
}

# The kernel buffers of the slow one are filled with big droppable
# messages; the fast one reads them.
sub fill {
    my ($fast) = @_;

    for my $i (1 .. FILLERS) {
        my $m = sprintf('F %04d ', $i);
        $m .= 'f' x (FILLER - length $m);
        pub($m, 'X-WS-Class' => 'droppable');
        my $f = $fast->read_data(3);
        return "filler $i: " . ($f ? desc($f) : 'nothing')
            unless $f && $f->{payload} eq $m;
    }

    return undef;
}

# published on A, [head, headers], each read by the fast one on B; the
# first bad delivery
sub pub_all {
    my ($fast, @msgs) = @_;
    my $bad;

    for my $m (@msgs) {
        my $p = payload($m->[0]);
        my $st = pub($p, %{ $m->[1] });
        my $f = $fast->read_data(3);
        $bad //= "$m->[0]: $st " . ($f ? desc($f) : 'nothing')
            unless $f && $f->{payload} eq $p;
    }

    return $bad;
}

sub json_msg {
    my ($type, $n) = @_;
    my $m = qq({"type":"$type","n":$n,"pad":");
    return $m . ('x' x (SIZE - 2 - length $m)) . '"}';
}

# sent by a client of A's typed routes, each read by the fast one on B
sub send_all {
    my ($fast, $in, @msgs) = @_;
    my $bad;

    for my $m (@msgs) {
        $in->send_text($m);
        my $f = $fast->read_data(3);
        $bad //= ($f ? desc($f) : 'nothing') . " for "
                 . substr($m, 0, 24)
            unless $f && $f->{payload} eq $m;
    }

    return $bad;
}

sub heads {
    my ($frames, $re) = @_;
    return map { $_->{payload} =~ /^($re \d+) / ? $1 : () } @$frames;
}

sub types {
    my ($frames, $type) = @_;
    return map { $_->{payload} =~ /^\{"type":"$type","n":(\d+),/ ? $1 : () }
           @$frames;
}

# the payloads of up to $n data frames read within 3 s, joined by "|"
sub got {
    my ($c, $n) = @_;
    my @p;

    while (@p < $n) {
        my $f = $c->read_data(3) or last;
        push @p, $f->{payload};
    }

    return join '|', @p;
}


# --- scenarios ----------------------------------------------------------

# TEST 1: typed routes publish through Redis: what a client of A's route
# and a client of B's route send reaches the subscribers of both
# instances, in one order.
sub routes_across {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my @subs = (client($port, '/sub'), client($bport, '/sub'));

    wait_subscribed($port, 'room', 1);
    wait_subscribed($bport, 'room', 1);
    Time::HiRes::sleep(0.5);

    my $ina = client($port, '/in');
    my $inb = client($bport, '/in');

    my @sent = map { qq({"type":"chat","n":$_}) } 1 .. 4;

    # one at a time, each read on A first: the order is the sending one
    my @ga;

    for my $i (0 .. 3) {
        ($i % 2 ? $inb : $ina)->send_text($sent[$i]);
        my $f = $subs[0]->read_data(3);
        push @ga, $f ? $f->{payload} : 'nothing';
    }

    my $want = join '|', @sent;

    Test::More::is(join('|', @ga), $want,
                   'TEST 1: the subscriber of A got what both routes sent');
    Test::More::is(got($subs[1], 4), $want,
                   'TEST 1: the subscriber of B got the same, in order');

    $_->close for @subs, $ina, $inb;
}

# TEST 2: published on A (the HTTP publisher's X-WS-Class and
# X-WS-Conflate, a typed route's class= and conflate=), the policy is
# applied on B, to its subscriber that does not read: droppable messages
# go first, the latest of each conflation key arrives, every critical
# message does.
sub slow_on_b {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my $fast = client($bport, '/sub');
    my $slow = slow_client('/sub', $ENV{TEST_NGINX_B_SMALL_PORT});

    wait_subscribed($bport, 'room', 2);
    Time::HiRes::sleep(0.5);

    my $bad = fill($fast);

    my (@msgs, @crit, %last_pos);
    my $seq = 0;

    for my $i (1 .. 40) {
        push @msgs, [sprintf('D %03d', ++$seq),
                     { 'X-WS-Class' => 'droppable' }];
        my $u = $i % 2;
        my $h = sprintf('P%d %03d', $u, ++$seq);
        push @msgs, [$h, { 'X-WS-Conflate' => "user$u" }];
        $last_pos{"P$u"} = $h;

        if ($i % 4 == 0) {
            $h = sprintf('C %03d', ++$seq);
            push @msgs, [$h, { 'X-WS-Class' => 'critical' }];
            push @crit, $h;
        }
    }

    $bad //= pub_all($fast, @msgs);

    Test::More::is($bad // 'all delivered', 'all delivered',
                   'TEST 2: the subscriber of B that reads gets every '
                   . 'message');

    my ($frames) = slow_drain($slow, 1);
    my @got = heads($frames, '[DPC]\d?');
    my @seqs = map { /(\d+)$/ ? $1 : 0 } @got;
    my $ordered = join(',', @seqs) eq join(',', sort { $a <=> $b } @seqs);

    Test::More::is(join(' ', grep { /^C/ } @got), join(' ', @crit),
                   'TEST 2: the slow one gets every critical message');

    my @d = grep { /^D/ } @got;
    Test::More::ok(@d < 40 && $ordered,
                   'TEST 2: droppable messages were dropped ('
                   . scalar(@d) . ' of 40 received), the rest in order');

    my @p0 = grep { /^P0/ } @got;
    my @p1 = grep { /^P1/ } @got;
    Test::More::is(($p0[-1] // '-') . ' ' . ($p1[-1] // '-')
                   . (@p0 + @p1 < 40 ? ', conflated' : ', not conflated'),
                   "$last_pos{P0} $last_pos{P1}, conflated",
                   'TEST 2: the latest position of each user arrives, '
                   . 'older ones were replaced (' . (@p0 + @p1) . ' of 40)');

    # typed routes of A: conflate=, class=droppable
    my $in = client($port, '/in?user=ann');

    $bad = fill($fast);
    $bad //= send_all($fast, $in,
                      map { (json_msg('pos', $_), json_msg('hint', $_)) }
                      1 .. 40);

    ($frames) = slow_drain($slow, 1);
    my @pos = types($frames, 'pos');
    my @hint = types($frames, 'hint');

    Test::More::is(($pos[-1] // 'none') . (@pos < 40 ? ', conflated' : '')
                   . ($bad ? ", $bad" : ''), '40, conflated',
                   'TEST 2: a route\'s conflate=: the latest position '
                   . 'arrives on B, older ones were replaced ('
                   . scalar(@pos) . ' of 40)');
    Test::More::ok(@hint < 40, 'TEST 2: a route\'s class=droppable: hints '
                               . 'were dropped on B (' . scalar(@hint)
                               . ' of 40 received)');

    close $slow->{socket};
    $in->close;
    $fast->close;
}

# TEST 3: the reader of B waits on the zone's notices: with 300 channels
# read by B, a message published on A reaches B's subscriber at once (the
# reading of all channels, once a second, would take half a second on
# average); a message written to a stream without its notice (as when the
# connection went between the two commands) still arrives, within that
# second; Redis holds the notices in the zone's stream.
sub notices {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my @many = map { client($bport, "/many?c=c$_") } 1 .. 300;
    my $hot = client($bport, "/many?c=hot");

    wait_subscribed($bport, 'room', 1);
    Time::HiRes::sleep(1);

    my (@took, $bad);

    for my $i (1 .. 9) {
        my $t0 = Time::HiRes::time();
        req($port, 'POST', '/pub?channel=hot', "h$i", refused => '0 ');
        my $f = $hot->read_data(3);
        push @took, Time::HiRes::time() - $t0;
        $bad //= "h$i: " . ($f ? desc($f) : 'nothing')
            unless $f && $f->{payload} eq "h$i";
        Time::HiRes::sleep(0.05 + rand(0.2));
    }

    my @sorted = sort { $a <=> $b } @took;
    my $median = $sorted[4];

    Test::More::is($bad // 'all', 'all',
                   'TEST 3: B\'s subscriber got the 9 messages');
    Test::More::ok($median < 0.25,
                   sprintf('TEST 3: at once (median %.3f s, the slowest '
                           . '%.3f s)', $median, $sorted[-1]));

    # straight into the stream, after the last id, without a notice
    my ($last) = get($bport, '/pub?channel=hot') =~ /"last_id":(\d+)/;
    $last //= 0;

    system('redis-cli', '-p', $ENV{TEST_NGINX_REDIS_PORT}, 'XADD',
           '{ws:chat:hot}:s', ($last + 1) . '-0', 'o', '1', 'd', 'quiet',
           'c', '0', 'k', '') == 0
        or die "redis-cli XADD failed";

    my $f = $hot->read_data(3);
    Test::More::is($f ? $f->{payload} : 'nothing', 'quiet',
                   'TEST 3: a message without a notice arrives too');

    my ($n) = `redis-cli -p $ENV{TEST_NGINX_REDIS_PORT} XLEN '{ws:chat}:d'`
              =~ /(\d+)/;
    Test::More::ok(($n // 0) >= 9, 'TEST 3: the notices are in {ws:chat}:d ('
                                   . ($n // 0) . ')');

    $_->close for $hot, @many;
}

__DATA__

=== TEST 1: typed routes of both instances publish through Redis
--- http_config
    ws_zone chat 16m history=16 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
    }
    location /in {
        websocket;
        ws_route chat publish chat room;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::routes_across();
--- request
GET /pub?channel=room
--- response_body_like: ^\{"channel":"room","subscribers":\d+,
--- no_error_log
[alert]



=== TEST 2: classes and conflation keys from A applied to a slow subscriber of B
--- http_config
    ws_zone chat 16m history=16 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 64k;
    }
    location /in {
        websocket;
        ws_route pos  publish chat room conflate=pos:$arg_user;
        ws_route hint publish chat room class=droppable;
    }
    location /status {
        ws_status;
    }
--- init
main::slow_on_b();
--- request
GET /status
--- response_body_like: "redis":\{"reader":\d+,"connections":3,
--- no_error_log
[alert]



=== TEST 3: B's reader waits on the notices: at once among 300 channels
--- http_config
    ws_zone chat 16m history=16 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::notices();
--- request
GET /status
--- response_body_like: "redis":\{"reader":\d+,"connections":3,
--- no_error_log
[alert]
