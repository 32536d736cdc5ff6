# Channels: message classes and conflation keys (docs/message-policy.md).
# A subscriber that does not read (4 KiB socket buffers on both sides,
# filled first by big messages) has its queue over
# ws_send_buffer: the queued messages of a newer message's conflation key
# go first, then droppable messages, oldest first; critical messages are
# never dropped: when one cannot fit, the subscriber is closed with 1013
# and "resume:CHANNEL=ID", and coming back with that id gives every
# critical message it did not get, from the history, once.  A subscriber
# that reads gets everything.  ws_status counts the droppable messages
# dropped, the conflated ones and the closes; the worker's memory stays
# flat over many such subscribers.  Typed routes give the class and key
# with class= and conflate=, ws_publish locations with ws_publish_class
# and ws_publish_conflate.  nginx runs with a master and one
# worker; the scenarios run in each block's --- init and their checks are
# the first tests of the block.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;
use Test::NgxWs::Proc qw(rss_kb);
use Test::NgxWs::Slow;

use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

# the slow subscribers connect to a server with a 4 KiB send buffer, so
# that little of what is sent waits in the kernel (inside the port range
# of the server port)
$ENV{TEST_NGINX_SMALL_PORT} = ($ENV{TEST_NGINX_SERVER_PORT}
                               // $ENV{TEST_NGINX_PORT} // 1984) + 5;

master_on();
workers(1);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 10, 2 => 5, 3 => 2, 4 => 4);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

config_preamble('ws_security_log_level warn;');

run_tests();


# --- scenarios ----------------------------------------------------------

use constant FILLERS => 4;
use constant FILLER => 32000;     # more than the kernel buffers hold
use constant SIZE => 1000;

sub payload {
    my ($head) = @_;
    return $head . ' ' . ('x' x (SIZE - 1 - length $head));
}

# A POST to the publisher with message policy headers; returns the id.
sub pub {
    my ($channel, $body, %h) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
                                  Proto => 'tcp', Timeout => 3)
        or die "connect: $!";
    binmode $s;

    my $req = "POST /pub?channel=$channel HTTP/1.1\r\nHost: localhost\r\n"
              . "Connection: close\r\nContent-Type: text/plain\r\n"
              . 'Content-Length: ' . length($body) . "\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    $req .= "\r\n" . $body;

    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite $s, $req, length($req) - $off, $off;
        die "write: $!" unless defined $n;
        $off += $n;
    }

    my ($buf, $sel) = ('', IO::Select->new($s));
    while ($sel->can_read(3)) {
        sysread($s, $buf, 4096, length $buf) or last;
    }
    close $s;

    $buf =~ m{^HTTP/1\.1 200 .*"id":(\d+)}s
        or die "publish: " . substr($buf, 0, 200);
    return $1;
}

# The kernel buffers of the slow one are filled with big messages (normal,
# or of the class in the headers); the fast one reads them.
sub fill {
    my ($fast, %h) = @_;

    for my $i (1 .. FILLERS) {
        my $m = sprintf('F %04d ', $i);
        $m .= 'f' x (FILLER - length $m);
        pub('room', $m, %h);
        my $f = $fast->read_data(3);
        return "filler $i: " . ($f ? desc($f) : 'nothing')
            unless $f && $f->{payload} eq $m;
    }

    return undef;
}

# Publishes the messages, [head, headers], each read by the fast one;
# returns the first bad delivery.
sub pub_all {
    my ($fast, @msgs) = @_;
    my $bad;

    for my $m (@msgs) {
        my $p = payload($m->[0]);
        pub('room', $p, %{ $m->[1] });
        my $f = $fast->read_data(3);
        $bad //= "$m->[0]: " . ($f ? desc($f) : 'nothing')
            unless $f && $f->{payload} eq $p;
    }

    return $bad;
}

sub heads {
    my ($frames, $re) = @_;
    return map { $_->{payload} =~ /^($re \d+) / ? $1 : () } @$frames;
}

sub status {
    my ($format) = @_;
    my $r = http('GET', '/status' . ($format ? "?format=$format" : ''));
    return $r->{body};
}

# TEST 1: droppable first, conflation, a critical close and the resume.
sub classes {
    my $fast = client('/sub');
    my $slow = slow_client('/sub', $ENV{TEST_NGINX_SMALL_PORT});

    my $bad = fill($fast);

    # 120 messages of 1000 bytes, over the 64k of ws_send_buffer:
    # droppable ones, the positions of two users (normal, conflated by
    # user) and a critical one every fourth
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
                   'the subscriber that reads gets every message');

    # it reads now: what it got, in order of publication
    my ($frames) = slow_drain($slow, 1);
    my @got = heads($frames, '[DPC]\d?');
    my @seqs = map { /(\d+)$/ ? $1 : 0 } @got;
    my $ordered = join(',', @seqs) eq join(',', sort { $a <=> $b } @seqs);

    Test::More::is(join(' ', grep { /^C/ } @got), join(' ', @crit),
                   'the slow one gets every critical message');

    my @d = grep { /^D/ } @got;
    Test::More::ok(@d < 40 && $ordered,
                   'droppable messages were dropped (' . scalar(@d)
                   . ' of 40 received), the rest in order');

    my @p0 = grep { /^P0/ } @got;
    my @p1 = grep { /^P1/ } @got;
    Test::More::is(($p0[-1] // '-') . ' ' . ($p1[-1] // '-')
                   . (@p0 + @p1 < 40 ? ', conflated' : ', not conflated'),
                   "$last_pos{P0} $last_pos{P1}, conflated",
                   'the latest position of each user arrives, older ones'
                   . ' were replaced (' . (@p0 + @p1) . ' of 40)');

    # critical messages that cannot fit: 1013, where to resume
    my @crit2;
    my @more;
    for my $i (1 .. 60) {
        my $h = sprintf('C %03d', ++$seq);
        push @more, [$h, { 'X-WS-Class' => 'critical' }];
        push @crit2, $h;
    }

    my $bad2 = fill($fast);
    $bad2 //= pub_all($fast, @more);
    my ($f2, $eof) = slow_drain($slow, 1);
    my $close = @$f2 && $f2->[-1]{opcode} == 8 ? pop @$f2 : undef;
    my @got2 = heads($f2, 'C');

    Test::More::like(($close ? "close $close->{code} $close->{reason}"
                             : 'no Close') . ($eof ? ', EOF' : ', no EOF')
                     . ($bad2 ? ", $bad2" : ''),
                     qr/^close 1013 resume:room=\d+, EOF$/,
                     'a critical message that cannot fit closes it with 1013'
                     . ' and where to resume');

    my ($resume) = ($close && $close->{reason} =~ /=(\d+)$/) ? $1 : 0;
    my $again = client("/resume?last_id=$resume");
    my @replay;
    while (my $f = $again->read_frame(1)) {
        push @replay, $f;
    }
    my @got3 = heads(\@replay, 'C');

    my %seen;
    my $twice = grep { $seen{$_}++ } @got2, @got3;

    Test::More::is(join(' ', sort keys %seen) . ($twice ? ", $twice twice"
                                                        : ''),
                   join(' ', @crit2),
                   'resuming from the reason gives every critical message'
                   . ' not received, none twice (' . scalar(@got2)
                   . ' before the close, ' . scalar(@got3) . ' replayed)');

    close $slow->{socket};
    $fast->close;
    $again->close;

    my $st = status();
    my ($dd) = $st =~ /"dropped_droppable":(\d+)/;
    my ($cf) = $st =~ /"conflated":(\d+)/;
    my ($cc) = $st =~ /"critical_closes":(\d+)/;

    Test::More::is(join(' ', map { $_ // 'none' } $dd,
                        ($cf && $cf <= 40 - @p0 - @p1) ? 'some' : $cf, $cc),
                   join(' ', 40 - @d, 'some', 1),
                   'ws_status counts the droppable messages dropped, the'
                   . ' conflated ones and the close');

    # one line per worker: this one's
    $st = status('prometheus');
    my $w = qr/\{worker="\d+"\}/;

    my $dd_total = 'ngx_ws_channel_messages_dropped_droppable_total';

    Test::More::like($st, qr/^$dd_total$w [1-9]/m,
                     'Prometheus: droppable messages dropped');
    Test::More::like($st,
                     qr/^ngx_ws_channel_messages_conflated_total$w [1-9]/m,
                     'Prometheus: conflated messages');
    Test::More::like($st,
                     qr/^ngx_ws_channel_critical_closes_total$w 1$/m,
                     'Prometheus: critical closes');

    wait_unsubscribed('room');
}

# TEST 2: ws_slow_subscriber close: droppable messages are dropped without
# closing; a normal message that cannot fit closes with 1008 as before; a
# critical one with 1013.
sub close_policy {
    my $fast = client('/sub');
    my $slow = slow_client('/sub', $ENV{TEST_NGINX_SMALL_PORT});

    my $bad = fill($fast, 'X-WS-Class' => 'droppable');
    my @msgs = map { [sprintf('D %03d', $_), { 'X-WS-Class' => 'droppable' }] }
               1 .. 100;
    $bad //= pub_all($fast, @msgs);

    my ($frames, $eof) = slow_drain($slow, 1);
    my @d = heads($frames, 'D');

    Test::More::is(($eof ? 'EOF' : 'open') . ($bad ? ", $bad" : ''), 'open',
                   'droppable messages over the limit do not close it');
    Test::More::ok(@d > 0 && @d < 100,
                   'some droppable messages were dropped (' . scalar(@d)
                   . ' of 100 received)');

    # it reads again: nothing waits; then it stops, and normal messages
    $bad = fill($fast, 'X-WS-Class' => 'droppable');
    $bad //= pub_all($fast, map { [sprintf('N %03d', $_), {}] } 1 .. 100);
    ($frames, $eof) = slow_drain($slow, 1);
    my $close = @$frames && $frames->[-1]{opcode} == 8 ? $frames->[-1] : undef;

    Test::More::is(($close ? "close $close->{code} '$close->{reason}'"
                           : 'no Close') . ($eof ? ', EOF' : ', no EOF')
                   . ($bad ? ", $bad" : ''),
                   "close 1008 '', EOF",
                   'normal messages that cannot fit close it with 1008');
    close $slow->{socket};

    # critical ones: 1013
    $slow = slow_client('/sub', $ENV{TEST_NGINX_SMALL_PORT});
    $bad = fill($fast, 'X-WS-Class' => 'droppable');
    $bad //= pub_all($fast, map { [sprintf('C %03d', $_),
                                   { 'X-WS-Class' => 'critical' }] } 1 .. 100);
    ($frames, $eof) = slow_drain($slow, 1);
    $close = @$frames && $frames->[-1]{opcode} == 8 ? $frames->[-1] : undef;

    Test::More::like(($close ? "close $close->{code} $close->{reason}"
                             : 'no Close') . ($eof ? ', EOF' : ', no EOF')
                     . ($bad ? ", $bad" : ''),
                     qr/^close 1013 resume:room=\d+, EOF$/,
                     'critical messages that cannot fit close it with 1013');
    close $slow->{socket};

    my $st = status();
    my ($cc) = $st =~ /"critical_closes":(\d+)/;
    Test::More::is($cc // 'none', 1, 'one critical close counted');

    $fast->close;
    wait_unsubscribed('room');
}

# TEST 3: memory stays flat over many slow subscribers that are conflated,
# dropped and closed.
sub memory {
    my $fast = client('/sub');
    my ($worker) = workers_of(master_pid());
    my ($before, $bad);

    for my $round (1 .. 24) {
        my $slow = slow_client('/sub', $ENV{TEST_NGINX_SMALL_PORT});
        $bad //= fill($fast);
        $bad //= pub_all($fast,
            (map { [sprintf('P %03d', $_), { 'X-WS-Conflate' => 'u' }],
                   [sprintf('D %03d', $_), { 'X-WS-Class' => 'droppable' }] }
             1 .. 30),
            map { [sprintf('C %03d', $_), { 'X-WS-Class' => 'critical' }] }
            1 .. 60);
        slow_drain($slow, 0.3);
        close $slow->{socket};

        $before = rss_kb($worker) if $round == 4;
    }

    my $after = rss_kb($worker);

    Test::More::is($bad // 'all delivered', 'all delivered',
                   'memory: the subscriber that reads gets everything');
    Test::More::cmp_ok($after - $before, '<', 1024,
                       "memory: the worker's memory stays flat"
                       . " ($before KiB after 4 rounds, $after KiB after 24)");

    $fast->close;
    wait_unsubscribed('room');
}

# TEST 4: the class and key given by typed routes (class=, conflate=) and
# by ws_publish_class and ws_publish_conflate.
sub json_msg {
    my ($type, $n) = @_;
    my $m = qq({"type":"$type","n":$n,"pad":");
    return $m . ('x' x (SIZE - 2 - length $m)) . '"}';
}

sub send_all {
    my ($fast, $in, @msgs) = @_;
    my $bad;

    for my $m (@msgs) {
        $in->send_text($m);
        my $f = $fast->read_data(3);
        $bad //= ($f ? desc($f) : 'nothing') . " for $m"
            unless $f && $f->{payload} eq $m;
    }

    return $bad;
}

sub types {
    my ($frames, $type) = @_;
    return map { $_->{payload} =~ /^\{"type":"$type","n":(\d+),/ ? $1 : () }
           @$frames;
}

sub routes {
    my $fast = client('/sub');
    my $slow = slow_client('/sub', $ENV{TEST_NGINX_SMALL_PORT});
    my $in = client('/in?user=ann');

    my $bad = fill($fast, 'X-WS-Class' => 'droppable');
    $bad //= send_all($fast, $in,
                      map { (json_msg('pos', $_), json_msg('hint', $_)) }
                      1 .. 40);

    my ($frames) = slow_drain($slow, 1);
    my @pos = types($frames, 'pos');
    my @hint = types($frames, 'hint');

    Test::More::is(($pos[-1] // 'none') . (@pos < 40 ? ', conflated' : '')
                   . ($bad ? ", $bad" : ''), '40, conflated',
                   'conflate=: the latest position arrives, older ones were'
                   . ' replaced (' . scalar(@pos) . ' of 40)');
    Test::More::ok(@hint < 40, 'class=droppable: hints were dropped ('
                               . scalar(@hint) . ' of 40 received)');

    $bad = fill($fast, 'X-WS-Class' => 'droppable');
    $bad //= send_all($fast, $in, map { json_msg('chat', $_) } 1 .. 100);
    my $eof;
    ($frames, $eof) = slow_drain($slow, 1);
    my $close = @$frames && $frames->[-1]{opcode} == 8 ? $frames->[-1] : undef;

    Test::More::like(($close ? "close $close->{code} $close->{reason}"
                             : 'no Close') . ($eof ? ', EOF' : ', no EOF')
                     . ($bad ? ", $bad" : ''),
                     qr/^close 1013 resume:room=\d+, EOF$/,
                     'class=critical: chat messages that cannot fit close'
                     . ' it with 1013');
    close $slow->{socket};

    # ws_publish_class droppable, ws_publish_conflate $arg_user
    $slow = slow_client('/sub', $ENV{TEST_NGINX_SMALL_PORT});
    my $in2 = client('/in2?user=bob');

    $bad = fill($fast, 'X-WS-Class' => 'droppable');
    $bad //= send_all($fast, $in2, map { json_msg('p', $_) } 1 .. 100);
    ($frames, $eof) = slow_drain($slow, 1);
    my @p = types($frames, 'p');

    Test::More::is(($p[-1] // 'none') . (@p < 100 ? ', fewer' : '')
                   . ($eof ? ', EOF' : ', open') . ($bad ? ", $bad" : ''),
                   '100, fewer, open',
                   'ws_publish_class, ws_publish_conflate: the latest'
                   . ' arrives, older ones went, no close ('
                   . scalar(@p) . ' of 100)');
    close $slow->{socket};

    $in->close;
    $in2->close;
    $fast->close;
    wait_unsubscribed('room');
}

__DATA__

=== TEST 1: droppable messages go first, conflation keeps the latest per key, a critical message that cannot fit closes with 1013 and a resume point
--- http_config
    ws_zone chat 16m history=4000;

    server {
        listen 127.0.0.1:$TEST_NGINX_SMALL_PORT sndbuf=4k;
        ws_security_log_level warn;

        location /sub {
            websocket;
            ws_subscribe chat room;
            ws_send_buffer 64k;
            ws_slow_subscriber drop;
        }
    }
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_send_buffer 64k;
        ws_slow_subscriber drop;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 64k;
    }
    location /resume {
        websocket;
        ws_subscribe chat room;
        ws_send_buffer 1m;
    }
    location /status {
        ws_status;
    }
--- init
main::classes();
--- request
GET /pub?channel=room
--- response_body_like: ^\{"channel":"room","subscribers":0,
--- error_log eval
qr/\[warn\] .*critical message does not fit, .*closing with 1013/
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: ws_slow_subscriber close: droppable messages are dropped, normal ones close with 1008, critical ones with 1013
--- http_config
    ws_zone chat 16m history=16;

    server {
        listen 127.0.0.1:$TEST_NGINX_SMALL_PORT sndbuf=4k;
        ws_security_log_level warn;

        location /sub {
            websocket;
            ws_subscribe chat room;
            ws_send_buffer 64k;
            ws_slow_subscriber close;
        }
    }
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_send_buffer 64k;
        ws_slow_subscriber close;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 64k;
    }
    location /status {
        ws_status;
    }
--- init
main::close_policy();
--- request
GET /pub?channel=room
--- response_body_like: ^\{"channel":"room","subscribers":0,
--- error_log eval
[qr/\[warn\] .*subscriber is too slow, closing with 1008/,
 qr/\[warn\] .*critical message does not fit, .*closing with 1013/]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: memory stays flat
--- http_config
    ws_zone chat 16m history=16;

    server {
        listen 127.0.0.1:$TEST_NGINX_SMALL_PORT sndbuf=4k;
        ws_security_log_level warn;

        location /sub {
            websocket;
            ws_subscribe chat room;
            ws_send_buffer 64k;
            ws_slow_subscriber drop;
        }
    }
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_send_buffer 64k;
        ws_slow_subscriber drop;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 64k;
    }
--- init
main::memory();
--- request
GET /pub?channel=room
--- response_body_like: ^\{"channel":"room","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]



=== TEST 4: the class and key of typed routes and of ws_publish
--- http_config
    ws_zone chat 16m history=16;

    server {
        listen 127.0.0.1:$TEST_NGINX_SMALL_PORT sndbuf=4k;
        ws_security_log_level warn;

        location /sub {
            websocket;
            ws_subscribe chat room;
            ws_send_buffer 64k;
            ws_slow_subscriber close;
        }
    }
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_send_buffer 64k;
        ws_slow_subscriber close;
    }
    location /pub {
        ws_publisher chat;
        client_body_buffer_size 64k;
    }
    location /in {
        websocket;
        ws_route pos  publish chat room conflate=pos:$arg_user;
        ws_route hint publish chat room class=droppable;
        ws_route chat publish chat room class=critical;
    }
    location /in2 {
        websocket;
        ws_publish chat room;
        ws_publish_class droppable;
        ws_publish_conflate $arg_user;
    }
--- init
main::routes();
--- request
GET /pub?channel=room
--- response_body_like: ^\{"channel":"room","subscribers":0,
--- error_log eval
qr/\[warn\] .*critical message does not fit, .*closing with 1013/
--- no_error_log
[error]
[alert]
[crit]
