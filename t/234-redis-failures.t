# Failures of the Redis backplane (docs/cluster.md, "Failures"): Redis
# answering errors (OOM, READONLY, NOAUTH), a slow Redis, a reader away, a
# restart without persistence; and ttl= on the keys, EVALSHA, the status
# figures.  Instance A is the suite's nginx (a master, one worker, so that
# the clients of a block share the worker that publishes); instance B is a
# second nginx (a master, two workers) that this file starts with a
# configuration of its own and stops by PID.  Both have the zone "chat" on
# the same Redis (Debian's redis-server, started here without
# persistence, stopped by PID).  Ports, next to the suite's:
#   TEST_NGINX_REDIS_PORT       (server port + 5) the Redis server
#   TEST_NGINX_REDIS_OTHER_PORT (+ 6) a Redis that the first one is made a
#                               replica of (TEST 4)
#   TEST_NGINX_B_PORT           (+ 10) instance B
#
# The scenarios run in each block's --- init and their checks are the
# first tests of the block.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Client ();
use Test::NgxWs::Redis qw(cli);
use Test::NgxWs::Instances qw(stop_b b_log b_reader client_not_on
                               get post post_again client got
                               rel_ids wait_subscribed sum);

use POSIX ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

$ENV{TEST_NGINX_REDIS_PORT} //= server_port() + 5;
$ENV{TEST_NGINX_REDIS_OTHER_PORT} //= server_port() + 6;
$ENV{TEST_NGINX_B_PORT} //= server_port() + 10;

my @REDIS_ARGS = ('--enable-debug-command', 'local');       # TEST 6
our $Redis = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT},
                                       @REDIS_ARGS);

master_on();
workers(1);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 2, 2 => 3, 3 => 3, 4 => 3, 5 => 3, 6 => 3, 7 => 3,
                  8 => 2, 9 => 2);

# per block: 4 (status, body, two log checks)
plan tests => repeat_each() * 4 * 9 + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- instance B ---------------------------------------------------------

sub start_b {
    Test::NgxWs::Instances::start_b(<<"EOF");
    ws_zone chat 1m history=10 redis=127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B_PORT};
        location /scripts {
            websocket;
            ws_subscribe chat scripts;
            ws_envelope on;
        }
        location /scripts2 {
            websocket;
            ws_subscribe chat scripts2;
            ws_envelope on;
        }
        location /back {
            websocket;
            ws_subscribe chat back;
            ws_envelope on;
            add_header X-Worker \$pid always;
        }
        location /lost {
            websocket;
            ws_subscribe chat lost;
            ws_envelope on;
        }
        location /pub {
            ws_publisher chat;
        }
        location /status {
            ws_status;
        }
    }
EOF
}


# --- helpers ------------------------------------------------------------

# the error log of A, from an offset: what a scenario wrote
sub a_log_file { "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log" }

sub a_log_size { -s a_log_file() // 0 }

sub a_log_since {
    my ($off) = @_;
    open my $fh, '<', a_log_file() or return '';
    seek $fh, $off, 0;
    local $/;
    return <$fh> // '';
}

sub count { my ($re, $s) = @_; my $n = () = $s =~ /$re/g; $n }

# redis-cli on the Redis of the zone, its output
sub rcli {
    my @args = @_;
    return cli($ENV{TEST_NGINX_REDIS_PORT}, '--no-auth-warning', @args);
}

# a client of A publishes one message (ws_publish): the close code it
# gets, if any, within a second
sub say_code {
    my ($path, $text) = @_;
    my $c = client($ENV{TEST_NGINX_SERVER_PORT}, $path);
    $c->send_text($text);
    my $f = $c->read_frame(1);
    $c->close;
    return ($f && $f->{opcode} == 8) ? unpack('n', $f->{payload}) : 'none';
}

# a time to live in ms, as "ttl" when it is within the minute ttl= gave
sub in_minute { my ($t) = @_; ($t > 50000 && $t <= 60000) ? 'ttl' : $t }


# --- scenarios ----------------------------------------------------------

# TEST 1: ttl=60s: a publish gives the channel's two keys a time to live
# (PEXPIRE in the script), and so does the sync of a channel new to Redis
# to the last id it makes.
sub ttl {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};

    # the worker's connection may be made still
    my $r = post_again($port, 'kept', 'k1');

    Test::More::is(join(' ', $r =~ /^200 / ? 'published' : $r,
                        in_minute(rcli('PTTL', '{ws:chat:kept}:n')),
                        in_minute(rcli('PTTL', '{ws:chat:kept}:s'))),
                   'published ttl ttl',
                   'TEST 1: a publish gives both keys the ttl');

    my $c = client($port, '/fresh');
    my $deadline = Time::HiRes::time() + 3;
    my $t;

    do {
        Time::HiRes::sleep(0.05);
        $t = rcli('PTTL', '{ws:chat:fresh}:n');
    } while ($t == -2 && Time::HiRes::time() < $deadline);

    Test::More::is(in_minute($t), 'ttl',
                   'TEST 1: the last id a sync makes has the ttl too');

    $c->close;
}

# TEST 2: the scripts go by sha1 (EVALSHA); a SCRIPT FLUSH between
# publishes loses none (sent again in full on NOSCRIPT), their ids follow
# by one and a subscriber of B gets them once, in order; a channel synced
# after a flush is synced all the same.
sub flush {
    start_b();

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my $b = client($bport, '/scripts');
    wait_subscribed($bport, 'scripts', 1);
    Time::HiRes::sleep(0.5);

    rcli('CONFIG', 'RESETSTAT');

    my @r = (post($port, 'scripts', 's1'));
    rcli('SCRIPT', 'FLUSH');
    push @r, post($port, 'scripts', 's2'), post($port, 'scripts', 's3');
    rcli('SCRIPT', 'FLUSH');
    push @r, post($port, 'scripts', 's4');

    my ($base) = $r[0] =~ /"id":(\d+)/;
    $base = defined $base ? $base - 1 : 0;

    my $want = join '|', map {
        '{"channel":"scripts","id":' . $_ . ',"data":"s' . $_ . '"}'
    } 1 .. 4;

    Test::More::is(join(' ', map { s/,"subscribers":\d+//r }
                             map { rel_ids($base, $_) } @r)
                   . ' / ' . rel_ids($base, got($b, 4) . '/'
                                            . got($b, 1, 0.3)),
                   '200 {"id":1} 200 {"id":2} 200 {"id":3} 200 {"id":4} / '
                   . "$want/",
                   'TEST 2: SCRIPT FLUSH between publishes loses none');

    my ($sha) = rcli('INFO', 'commandstats')
                =~ /^cmdstat_evalsha:calls=(\d+)/m;

    Test::More::ok(($sha // 0) >= 4, 'TEST 2: the scripts go by EVALSHA');

    # the sync script, flushed: B's new channel is synced all the same
    rcli('SCRIPT', 'FLUSH');
    my $c = client($bport, '/scripts2');
    wait_subscribed($bport, 'scripts2', 1);
    Time::HiRes::sleep(0.5);
    post($port, 'scripts2', 'x1');

    Test::More::like(got($c, 1), qr/^\{"channel":"scripts2","id":\d+,"data":"x1"\}\z/,
                     'TEST 2: a channel synced after SCRIPT FLUSH');

    $_->close for $b, $c;
}

# a Redis error state (set by $break, undone by $mend) seen by A's
# publishers: 503 for the HTTP publisher, Close 1013 for a client, both
# refused at once after the first error, one warn; publishes come back
sub refused {
    my ($test, $channel, $break, $mend, $cause) = @_;
    my $port = $ENV{TEST_NGINX_SERVER_PORT};

    my $r0 = post_again($port, $channel, 'before');
    my $off = a_log_size();

    $break->();

    my @r = (post($port, $channel, 'e1'));
    push @r, say_code('/say', 'e2');
    push @r, post($port, $channel, 'e3');

    my $log = a_log_since($off);

    $mend->();

    my $back = post_again($port, $channel, 'after');

    my $unavailable = '503 {"error":"redis unavailable"}';

    Test::More::is(join(' | ', $r0 =~ /^200 / ? 'ok' : $r0, @r,
                        $back =~ /^200 / ? 'ok' : $back),
                   "ok | $unavailable | 1013 | $unavailable | ok",
                   "TEST $test: 503 and Close 1013 as in an outage, then "
                   . 'publishes again');

    return $log;
}

# TEST 3: OOM (maxmemory 1, noeviction)
sub oom {
    my $log = refused(3, 'full',
                      sub { rcli('CONFIG', 'SET', 'maxmemory-policy',
                                 'noeviction');
                            rcli('CONFIG', 'SET', 'maxmemory', '1') },
                      sub { rcli('CONFIG', 'SET', 'maxmemory', '0') });

    # (the instance's heartbeat, a write too, may fail once meanwhile: an
    # error line of its own, not one per message)
    Test::More::is(count(qr/\[warn\] [^\n]*refuses publishes: [^\n]*OOM/,
                         $log)
                   . ' ' . count(qr/\[(?:warn|error)\] [^\n]*redis "[^\n]*message/,
                                 $log),
                   '1 0', 'TEST 3: one warn naming OOM, no line per message');
    Test::More::like(a_log_since(0),
                     qr/\[notice\] .*redis "127\.0\.0\.1:\d+" takes publishes again/,
                     'TEST 3: the return is told');
}

# TEST 4: READONLY (the server made a replica of another one)
sub readonly {
    my $other = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_OTHER_PORT});

    my $log = refused(4, 'ro',
                      sub { rcli('REPLICAOF', '127.0.0.1',
                                 $ENV{TEST_NGINX_REDIS_OTHER_PORT}) },
                      sub { rcli('REPLICAOF', 'NO', 'ONE') });

    Test::NgxWs::Redis::stop($other);

    Test::More::is(count(qr/\[warn\] [^\n]*refuses publishes: READONLY/,
                         $log)
                   . ' ' . count(qr/\[warn\] [^\n]*redis "/, $log),
                   '1 1', 'TEST 4: one warn naming READONLY');
    Test::More::unlike($log, qr/\[error\] [^\n]*not published/,
                       'TEST 4: no error line per message');
}

# TEST 5: NOAUTH: a password set on the server, its clients dropped: the
# connections made again are refused, told once at error
sub noauth {
    my $log = refused(5, 'auth',
                      sub { rcli('CONFIG', 'SET', 'requirepass', 'secret');
                            rcli('-a', 'secret', 'CLIENT', 'KILL', 'TYPE',
                                 'normal');
                            # a few attempts to connect again
                            Time::HiRes::sleep(1.5) },
                      sub { rcli('-a', 'secret', 'CONFIG', 'SET',
                                 'requirepass', '') });

    Test::More::is(count(qr/\[error\] [^\n]*PING refused: NOAUTH/, $log),
                   1, 'TEST 5: one error line naming NOAUTH');
    Test::More::like($log, qr/\[info\] [^\n]*PING refused: NOAUTH/,
                     'TEST 5: the next attempts at info');
}

# TEST 6: Redis sleeps (DEBUG SLEEP) longer than it takes a client to
# publish 1100 messages: 1024 wait in flight, the next is refused at once
# (Close 1013), never queued without bound; an echo client of the same
# worker is answered at once meanwhile; then the subscriber gets the
# 1024, in order.
sub slow {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};

    my $sub = client($port, '/slow');
    wait_subscribed($port, 'slow', 1);
    Time::HiRes::sleep(0.5);

    my $echo = client($port, '/echo');
    my $say = client($port, '/sayslow');

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        { exec 'redis-cli', '-p', $ENV{TEST_NGINX_REDIS_PORT}, 'DEBUG',
               'SLEEP', '2' }
        POSIX::_exit(127);
    }

    Time::HiRes::sleep(0.2);
    my $t0 = Time::HiRes::time();

    $say->raw_write(join '', map { WsFrame::ws_text("m$_") } 1 .. 1100);

    my $code = 'none';
    while (my $f = $say->read_frame(1)) {
        if ($f->{opcode} == 8) {
            $code = unpack 'n', $f->{payload};
            last;
        }
    }

    my $t1 = Time::HiRes::time();
    $echo->send_text('ping');
    my $e = got($echo, 1, 1);
    my $echoed = Time::HiRes::time() - $t1;
    my $during = Time::HiRes::time() - $t0 < 1.5;

    waitpid $pid, 0;

    Test::More::is(sprintf('%s %s', $code,
                           ($e eq 'ping' && $echoed < 0.2 && $during)
                           ? 'echoed' : "echo: '$e' ${echoed}s"),
                   '1013 echoed',
                   'TEST 6: refused beyond the bound at once, echo meanwhile');

    my @raw = split /\|/, got($sub, 1100, 8);
    my @got = map { /"data":"([^"]*)"/ ? $1 : $_ } @raw;

    Test::More::is(scalar(@got) . ' '
                   . join(',', grep { $got[$_ - 1] ne "m$_" } 1 .. @got),
                   '1024 ',
                   'TEST 6: the 1024 in flight are delivered, in order');

    my $st = get($port, '/status');
    Test::More::like($st, qr/"refused":[1-9]/,
                     'TEST 6: ws_status counts the refused one');

    $_->close for $sub, $echo, $say;
}

# TEST 7: the reading worker of B is stopped (SIGSTOP) while A publishes:
# B's other worker takes the reading over, backfills from the streams what
# was published meanwhile, a subscriber of B gets it once, in order, and
# ws_status of B counts it as backfilled.
sub backfill {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my $reader = b_reader();

    # a subscriber on the other worker
    my ($b, @others) = client_not_on($bport, '/back', $reader);

    wait_subscribed($bport, 'back', 1 + @others);
    Time::HiRes::sleep(0.5);

    my ($first) = post($port, 'back', 'b0') =~ /"id":(\d+)/;
    $first //= 0;
    got($b, 1) if $b;

    my ($before) = get($bport, '/status') =~ /"backfilled":(\d+)/;

    kill 'STOP', $reader if $reader;
    post($port, 'back', "b$_") for 1 .. 3;

    my $want = join '|', map {
        '{"channel":"back","id":' . $_ . ',"data":"b' . $_ . '"}'
    } 1 .. 3;

    my $got = $b ? rel_ids($first, got($b, 3, 5)) : '';

    kill 'CONT', $reader if $reader;

    $got .= '/' . ($b ? got($b, 1, 0.5) : '');

    Test::More::is($got, "$want/",
                   'TEST 7: what A published while B read not, once');

    my ($after) = get($bport, '/status') =~ /"backfilled":(\d+)/;
    Test::More::is(defined $after ? $after - ($before // 0) : 'none', 3,
                   'TEST 7: ws_status of B counts them as backfilled');
    Test::More::like(get($bport, '/status?format=prometheus'),
                     qr/^ngx_ws_zone_redis_backfilled_total\{zone="chat"\} \d+$/m,
                     'TEST 7: and in the Prometheus format');

    $_->close for grep { $_ } $b, @others;
}

# TEST 8: Redis restarted without persistence: the channel's ids go on
# from a later epoch; subscribers of both instances get history_lost,
# then the new message, never a silent skip.
sub lost {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my $a = client($port, '/lost');
    my $b = client($bport, '/lost');

    wait_subscribed($port, 'lost', 1);
    wait_subscribed($bport, 'lost', 1);
    Time::HiRes::sleep(0.5);

    my ($id) = post($port, 'lost', 'l1') =~ /"id":(\d+)/;
    $id //= 0;
    my $seen = got($a, 1) . '|' . got($b, 1);

    kill 'KILL', $Redis;
    waitpid $Redis, 0;
    delete $Test::NgxWs::Redis::Pids{$Redis};

    $Redis = Test::NgxWs::Redis::start($ENV{TEST_NGINX_REDIS_PORT},
                                       @REDIS_ARGS);

    my ($new) = post_again($bport, 'lost', 'l2') =~ /"id":(\d+)/;
    $new //= 0;

    my $want = '{"event":"history_lost","channel":"lost","last_id":' . $id
               . ',"first_id":' . $new . '}|'
               . '{"channel":"lost","id":' . $new . ',"data":"l2"}';

    Test::More::is(got($a, 2, 5), $want,
                   'TEST 8: A tells history_lost, then the new message');
    Test::More::is(got($b, 2, 5), $want,
                   'TEST 8: B tells history_lost, then the new message');

    $_->close for $a, $b;
}

# TEST 9: a message over Redis's own limit (proto-max-bulk-len, here
# 1mb, under max_message): Redis answers a protocol error and drops the
# connection; the publisher answers 503, a warn names the cause (and one
# the loss of the connection, as for any), nginx connects again and
# publishes go on at once, with no refusal state.
sub too_big {
    my $port = $ENV{TEST_NGINX_SERVER_PORT};

    rcli('CONFIG', 'SET', 'proto-max-bulk-len', '1mb');

    my $r0 = post_again($port, 'big', 'before');
    my $off = a_log_size();
    my $r = post($port, 'big', 'x' x (1536 * 1024));
    my $back = post_again($port, 'big', 'after');
    my $log = a_log_since($off);

    rcli('CONFIG', 'SET', 'proto-max-bulk-len', '512mb');

    Test::More::is(join(' | ', $r0 =~ /^200 / ? 'ok' : $r0, $r,
                        $back =~ /^200 / ? 'ok' : $back),
                   'ok | 503 {"error":"redis unavailable"} | ok',
                   'TEST 9: 503 for the message, then publishes again');
    my $cause = qr/\[warn\] [^\n]*refused a message of 1572864 bytes and /
                . qr/closes the connection: ERR Protocol error[^\n]*/
                . qr/proto-max-bulk-len/;

    # besides the cause, the loss of the connection (one per connection
    # that saw it go: the worker's, the reader's if it was not quiet); the
    # lines are those of the Redis server (redis "ADDR"), not any line
    # with "redis" in it (a path may have it)
    my @warns = $log =~ /^([^\n]*\[warn\] [^\n]*redis "[^\n]*)$/mg;
    my @other = grep { !/$cause/ && !/unavailable: / } @warns;
    my $lost = grep { /unavailable: / } @warns;

    Test::More::is(count(qr/$cause/, $log)
                   . ' ' . scalar(@other)
                   . ' ' . ($lost >= 1 && $lost <= 2 ? 'loss' : $lost)
                   . ' ' . count(qr/refuses publishes/, $log),
                   '1 0 loss 0',
                   'TEST 9: one warn naming the cause, one for the loss')
        or Test::More::diag(join "\n", @warns);
}

__DATA__

=== TEST 1: ttl= gives the keys of a channel a time to live in Redis
--- http_config
    ws_zone chat 1m history=10 ttl=60s redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /fresh {
        websocket;
        ws_subscribe chat fresh;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::ttl();
--- request
GET /status
--- response_body_like: "redis":\{"reader"
--- no_error_log
[error]
[alert]



=== TEST 2: EVALSHA; SCRIPT FLUSH mid-run loses no publish
--- http_config
    ws_zone chat 1m history=10 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::flush();
--- request
GET /status
--- response_body_like: "redis":\{"reader"
--- error_log eval
qr/\[info\] .*redis "127\.0\.0\.1:\d+": publish script not loaded \(NOSCRIPT/
--- no_error_log
[error]



=== TEST 3: OOM: refused as in an outage, one warn, back after
--- http_config
    ws_zone chat 1m history=10 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /say {
        websocket;
        ws_publish chat room;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::oom();
--- request
GET /status
--- response_body_like: "redis":\{"reader"
--- no_error_log
[alert]
[crit]



=== TEST 4: READONLY: refused as in an outage, one warn, back after
--- http_config
    ws_zone chat 1m history=10 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /say {
        websocket;
        ws_publish chat room;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::readonly();
--- request
GET /status
--- response_body_like: "redis":\{"reader"
--- no_error_log
[alert]
[crit]



=== TEST 5: NOAUTH: refused as in an outage, one error line, back after
--- http_config
    ws_zone chat 1m history=10 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /say {
        websocket;
        ws_publish chat room;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::noauth();
--- request
GET /status
--- response_body_like: "redis":\{"reader"
--- no_error_log
[alert]
[crit]



=== TEST 6: slow Redis: a bounded queue, the worker keeps echoing
--- http_config
    ws_zone chat 1m history=2000 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT redis_timeout=5s;
--- config
    location /slow {
        websocket;
        ws_subscribe chat slow;
        ws_envelope on;
    }
    location /sayslow {
        websocket;
        ws_publish chat slow;
    }
    location /echo {
        websocket;
        ws_echo on;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::slow();
--- request
GET /status
--- response_body_like: "redis":\{"reader"
--- error_log eval
qr/\[info\] .*client message to channel "slow" refused: redis "127\.0\.0\.1:\d+" has too many commands in flight/
--- no_error_log
[alert]



=== TEST 7: B's reader away: backfilled once, in order, counted
--- http_config
    ws_zone chat 1m history=10 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::backfill();
--- request
GET /status
--- response_body_like: "redis":\{"reader"
--- no_error_log
[error]
[alert]



=== TEST 8: Redis restarted without persistence: history_lost, never a silent skip
--- http_config
    ws_zone chat 1m history=10 redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /lost {
        websocket;
        ws_subscribe chat lost;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::lost();
--- request
GET /status
--- response_body_like: "redis":\{"reader"
--- no_error_log
[alert]
[crit]



=== TEST 9: a message over Redis's limit: 503, the connection made again
--- http_config
    ws_zone chat 8m history=10 max_message=2m redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /pub {
        ws_publisher chat;
    }
    location /status {
        ws_status;
    }
--- init
main::too_big();
--- request
GET /status
--- response_body_like: "redis":\{"reader"
--- no_error_log
[alert]
[crit]
