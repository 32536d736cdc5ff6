# The benchmark client (bench/wsbench) against the echo route, in its short
# modes, its reload mode against channels and its sse mode against ws_sse:
# the instrument of bench/run must work against the module it measures.
# --- init builds bench/wsbench (make -C bench) and runs one short load; the
# verdict is its result line: no error of any kind (handshake, echo content
# and order, Pong for its Ping, close handshake; for the reload, no message
# lost or received twice and every subscriber closed with 1012 and back; for
# EventSource, every message to every subscriber with increasing ids), and
# messages went through.  No figure is compared with a threshold.  nginx
# runs with a master (the reload) and two workers.  TEST 6 (the fan-out
# options of bench/run redis-fanout) starts Debian's redis-server on
#   TEST_NGINX_REDIS_PORT       (server port + 5)
# and stops it by PID.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Bench ();
use Test::NgxWs::Proc ();
use Test::NgxWs::Redis ();

use IO::Socket::INET ();
use Time::HiRes ();

$ENV{TEST_NGINX_REDIS_PORT} //= server_port() + 5;

master_on();
workers(2);
repeat_each(1);

# the client's verdict in --- init, then status, body and no_error_log
plan tests => repeat_each() * (blocks() * 4);

no_shuffle();
no_long_string();

sub run_wsbench {
    my ($name, $path, @args) = @_;

    return unless Test::NgxWs::Bench::built($name);

    Test::NgxWs::Bench::echo_ok($name,
        "ws://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}$path", @args);
}

# 50 subscribers with the envelope, 20 msg/s for 2 s, one reload at 0.5 s
sub run_wsbench_reload {
    my ($name) = @_;

    return unless Test::NgxWs::Bench::built($name);

    my $base = "127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}";
    my $master = Test::NgxWs::Proc::master_pid();
    my $cmd = join ' ', qw(timeout 60 bench/wsbench reload -c 50 -p 1
                           --pub-rate 20 -t 2 --reload-at 0.5 --jitter 0.2
                           --timeout 5),
                        "--reload-pid $master",
                        "--pub 'http://$base/pub?channel=smoke'",
                        "ws://$base/sub/smoke";
    my ($rc, $out, %r) = Test::NgxWs::Bench::run($cmd);

    Test::More::ok($rc == 0
                   && defined $r{errors} && $r{errors} eq '0'
                   && ($r{published} // 0) > 0
                   # consecutive ids from the channel's time-based base
                   && ($r{first_id} // 0) > 0
                   && ($r{last_id} // -1) - $r{first_id} + 1
                      == $r{published}
                   && ($r{deliveries} // 0) >= 50 * $r{published}
                   && ($r{lost} // -1) == 0
                   && ($r{duplicates} // -1) == 0
                   && ($r{restarts} // -1) == 50
                   && ($r{resume_reasons} // -1) == 50
                   && ($r{reconnects} // -1) == 50,
                   "$name: nothing lost or twice, 50 closed with 1012 and back")
        or Test::More::diag($out);
}

# 20 EventSource subscribers, 20 msg/s for 1 s: every message to each,
# in order, every event with an id above the one before
sub run_wsbench_sse {
    my ($name) = @_;

    return unless Test::NgxWs::Bench::built($name);

    my $base = "127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}";
    my $cmd = join ' ', qw(timeout 30 bench/wsbench sse -c 20 --pub-rate 20
                           -t 1 --timeout 5),
                        "--pub 'http://$base/pub?channel=smoke'",
                        "http://$base/sse/smoke";
    my ($rc, $out, %r) = Test::NgxWs::Bench::run($cmd);

    Test::More::ok($rc == 0
                   && ($r{mode} // '') eq 'sse'
                   && defined $r{errors} && $r{errors} eq '0'
                   && ($r{subscribers} // -1) == 20
                   && ($r{published} // 0) > 0
                   && ($r{deliveries} // -1) == 20 * $r{published}
                   && ($r{losses} // -1) == 0
                   && ($r{late} // -1) == 0
                   && ($r{duplicates} // -1) == 0
                   && ($r{reordered} // -1) == 0
                   && ($r{id_errors} // -1) == 0,
                   "$name: every message to every subscriber, ids increasing")
        or Test::More::diag($out);
}

# the fan-out of bench/run redis-fanout, through a redis= zone of this one
# instance: 20 subscribers, 20 msg/s for 1 s, the options it adds
# (--settle, --late-grace, --cpu-pids); every message to each, lost and
# late apart (both 0), the CPU of the named processes reported
sub run_wsbench_redis {
    my ($name) = @_;

    return unless Test::NgxWs::Bench::built($name);

    my $port = $ENV{TEST_NGINX_REDIS_PORT};
    my $redis = Test::NgxWs::Redis::start($port);
    my $base = "127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}";

    # the workers connect with a backoff: until a publish is taken
    my $deadline = Time::HiRes::time() + 10;
    while (Time::HiRes::time() < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => $base, Proto => 'tcp');
        if ($s) {
            print $s "POST /pub?channel=ready HTTP/1.0\r\nHost: x\r\n"
                     . "Content-Length: 1\r\n\r\nx";
            my $status = <$s> // '';
            last if $status =~ m{^HTTP/1\.\d 200 };
        }
        Time::HiRes::sleep(0.1);
    }

    my $master = Test::NgxWs::Proc::master_pid();
    my $cmd = join ' ', qw(timeout 30 bench/wsbench fanout -c 20 -s 64
                           --pub-rate 20 -t 1 --timeout 3 --late-grace 1
                           --settle 0.3),
                        "--cpu-pids redis=$redis",
                        "--cpu-pids master=$master",
                        "--pub 'http://$base/pub?channel=smoke'",
                        "ws://$base/sub/smoke";
    my ($rc, $out, %r) = Test::NgxWs::Bench::run($cmd);
    Test::NgxWs::Redis::stop($redis);

    Test::More::ok($rc == 0
                   && ($r{mode} // '') eq 'fanout'
                   && defined $r{errors} && $r{errors} eq '0'
                   && ($r{subscribers} // -1) == 20
                   && ($r{published} // 0) > 0
                   && ($r{deliveries} // -1) == 20 * $r{published}
                   && ($r{losses} // -1) == 0
                   && ($r{lost} // -1) == 0
                   && ($r{late} // -1) == 0
                   && ($r{duplicates} // -1) == 0
                   && ($r{reordered} // -1) == 0
                   && defined $r{redis_cpu} && defined $r{master_cpu},
                   "$name: every message to every subscriber through Redis")
        or Test::More::diag($out);
}

# the open-loop echo (--open-rate): 10 connections offered 500 msg/s for
# 1 s.  At that low rate the client must keep its schedule and the server
# its pace: sends and echoes in the measured second within 10% of the
# rate offered, every message due in it answered, nothing lost, latency
# figures in order.  $silent: a location that takes messages and never
# answers: every message must come out lost (and the exit status 1), so
# the figures above can fail
sub run_wsbench_open {
    my ($name, $path, $silent) = @_;

    return unless Test::NgxWs::Bench::built($name);

    my $url = "ws://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}$path";
    my ($rc, $out, %r) =
        Test::NgxWs::Bench::run('timeout 30 bench/wsbench echo --open-rate 500'
                                . " -c 10 -t 1 -w 0.2 --drain 1 $url");
    my $near = sub { my $v = shift // -1; $v >= 450 && $v <= 550 };

    if ($silent) {
        Test::More::ok($rc != 0
                       && ($r{mode} // '') eq 'echo-open'
                       && ($r{established} // -1) == 10
                       && $near->($r{sent_s})
                       && ($r{messages} // -1) == 0
                       && ($r{late} // -1) == 0
                       && ($r{answered} // -1) == 0
                       && ($r{lost} // 0) >= $r{due}
                       && ($r{lost} // 0) == $r{unanswered}
                       && ($r{errors} // 0) >= $r{lost},
                       "$name: every message lost, none late")
            or Test::More::diag($out);
        return;
    }

    Test::More::ok($rc == 0
                   && ($r{mode} // '') eq 'echo-open'
                   && defined $r{errors} && $r{errors} eq '0'
                   && ($r{established} // -1) == 10
                   && ($r{close_clean} // -1) == 10
                   && $near->($r{sent_s})
                   && $near->($r{msg_s})
                   && ($r{due} // -1) >= 499 && $r{due} <= 501
                   && ($r{messages} // -1) == $r{due}
                   && ($r{lost} // -1) == 0
                   && ($r{p50_us} // 0) > 0
                   && $r{p50_us} <= $r{p99_us}
                   && $r{p99_us} <= $r{max_us},
                   "$name: the offered rate sent and echoed, nothing lost")
        or Test::More::diag($out);
}

# the fan-out's latency to the last subscriber of each message: 20
# subscribers, 20 msg/s for 1 s, every message to each, so the slowest
# delivery of all is some message's last one, and a message's last
# delivery comes no earlier than the median one
sub run_wsbench_fanout_last {
    my ($name) = @_;

    return unless Test::NgxWs::Bench::built($name);

    my $base = "127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}";
    my $cmd = join ' ', qw(timeout 30 bench/wsbench fanout -c 20 -s 64
                           --pub-rate 20 -t 1 --timeout 3 --late-grace 1),
                        "--pub 'http://$base/pub?channel=last'",
                        "ws://$base/sub/last";
    my ($rc, $out, %r) = Test::NgxWs::Bench::run($cmd);

    Test::More::ok($rc == 0
                   && defined $r{errors} && $r{errors} eq '0'
                   && ($r{published} // 0) > 0
                   && ($r{deliveries} // -1) == 20 * $r{published}
                   && ($r{lost} // -1) == 0
                   && ($r{last_incomplete} // -1) == 0
                   && ($r{last_p50_us} // 0) > 0
                   && $r{last_p50_us} >= $r{p50_us}
                   && $r{last_max_us} == $r{max_us},
                   "$name: every message's latency to its last subscriber")
        or Test::More::diag($out);
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'EOF_CONFIG') unless $block->config;
    location /echo {
        websocket;
        ws_echo on;
    }

    location /silent {
        websocket;
    }

    location = /t {
        return 200 "ok\n";
    }
EOF_CONFIG
});

run_tests();

__DATA__

=== TEST 1: wsbench echo --smoke: text, fragmented, a Ping first, close handshake
--- init
main::run_wsbench('smoke', '/echo', '--smoke');
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 2: pipelined binary 4 KiB messages (16-bit lengths), 4 in flight
--- init
main::run_wsbench('pipelined', '/echo', qw(-c 4 -s 4096 -d 4 -P -t 0.5 -w 0.1));
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 3: 70,000-byte messages (64-bit lengths) in 3 fragments
--- init
main::run_wsbench('large', '/echo', qw(-c 2 -s 70000 --frag 3 -t 0.5 -w 0.1));
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 4: wsbench reload: 50 subscribers resume across a reload
--- http_config
    ws_zone smoke 1m history=256;
--- config
    location ~ ^/sub/(\w+)$ {
        websocket;
        ws_subscribe smoke $1;
        ws_envelope on;
        ws_drain_window 300ms;
    }

    location = /pub {
        ws_publisher smoke;
    }

    location = /t {
        return 200 "ok\n";
    }
--- init
main::run_wsbench_reload('reload');
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 5: wsbench sse: 20 EventSource subscribers, nothing lost, ids increase
--- http_config
    ws_zone smoke 1m;
--- config
    location ~ ^/sse/(\w+)$ {
        ws_sse;
        ws_subscribe smoke $1;
    }

    location = /pub {
        ws_publisher smoke;
    }

    location = /t {
        return 200 "ok\n";
    }
--- init
main::run_wsbench_sse('sse');
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 6: wsbench fanout through a redis= zone: --settle, --late-grace, --cpu-pids
--- http_config
    ws_zone smoke 1m redis=127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location ~ ^/sub/(\w+)$ {
        websocket;
        ws_subscribe smoke $1;
    }

    location = /pub {
        ws_publisher smoke;
    }

    location = /t {
        return 200 "ok\n";
    }
--- init
main::run_wsbench_redis('redis');
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 7: wsbench echo --open-rate: 500 msg/s offered, sent and echoed, nothing lost
--- init
main::run_wsbench_open('open', '/echo');
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 8: wsbench echo --open-rate against a location that never answers: all lost
--- init
main::run_wsbench_open('open-silent', '/silent', 1);
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 9: wsbench fanout: the latency to the last subscriber of every message
--- http_config
    ws_zone smoke 1m;
--- config
    location ~ ^/sub/(\w+)$ {
        websocket;
        ws_subscribe smoke $1;
    }

    location = /pub {
        ws_publisher smoke;
    }

    location = /t {
        return 200 "ok\n";
    }
--- init
main::run_wsbench_fanout_last('fanout-last');
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
