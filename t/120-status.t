# ws_status: counters of every worker, summed through shared memory, as
# JSON or in the Prometheus text format.  The scenarios open, use and close
# connections in --- init, then read the status page; the Prometheus output
# is checked by Debian's promtool and scraped by a real Prometheus server,
# whose HTTP API must return the number of connections the test holds open.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;

use File::Temp ();
use IPC::Open3 ();
use JSON::PP ();
use POSIX ();
use Symbol ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

my %INIT_TESTS = (1 => 14, 2 => 6, 3 => 3, 4 => 4);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

# refusals and the send timeout were info lines: the tests keep that level
# (t/130 checks the default, error)
config_preamble('ws_security_log_level info;');

run_tests();


# --- helpers ------------------------------------------------------------

sub status {
    my ($query, %o) = @_;
    my $r = http('GET', '/status' . ($query // ''), %o);
    die "GET /status: $r->{status}" unless $r->{status} == 200;
    return $r;
}

sub json_status { JSON::PP::decode_json(status()->{body}) }

# The total of the workers (and the exited ones) for a Prometheus metric.
sub prom_sum {
    my ($text, $metric, $label) = @_;
    my $n = 0;
    for (split /\n/, $text) {
        next unless /^\Q$metric\E\{([^}]*)\} (\d+)$/;
        my ($labels, $v) = ($1, $2);
        next if defined $label && index($labels, $label) < 0;
        $n += $v;
    }
    return $n;
}

sub wait_for (&$) {
    my ($cond, $secs) = @_;
    my $deadline = Time::HiRes::time() + $secs;
    while (Time::HiRes::time() < $deadline) {
        my $v = $cond->();
        return $v if $v;
        Time::HiRes::sleep(0.1);
    }
    return $cond->();
}

# --- scenarios ----------------------------------------------------------

# TEST 1: JSON: totals equal the sum of the workers; closes by code and by
# who ended them; rejections by status; channel and zone figures.
sub counts {
    my @open = spread('/ws', 6, 3);    # each keeps one after two leave
    my $n = @open;

    $_->send_text('hello') for @open;
    $_->read(all => [ { opcode => 1 } ]) for @open;

    my $bye = shift @open;
    $bye->send_close(1000, 'bye');
    $bye->wait_eof;

    my $bad = shift @open;
    $bad->send_text('x', masked => 0);
    $bad->wait_eof;

    http('GET', '/ws');                                      # 426
    http('POST', '/ws');                                     # 405
    publish('room', 'news');
    $_->read(all => [ { opcode => 1, payload => 'news' } ]) for @open;

    my $s = wait_for { my $s = json_status();
                       $s->{total}{connections} == @open ? $s : undef } 5;
    my $t = $s->{total};

    Test::More::is($t->{connections}, scalar @open, 'connections open now');
    Test::More::is($t->{connections_total}, $n, 'connections upgraded');
    Test::More::is($t->{messages_in}, $n, 'messages received');
    Test::More::is($t->{bytes_in}, 5 * $n, 'payload bytes received');
    Test::More::is($t->{messages_out}, $n + @open,
                   'messages sent: echoes and channel messages');
    Test::More::is_deeply($t->{closes}, { 1000 => 1, 1002 => 1 },
                          'closes by code');
    Test::More::is_deeply($t->{closed_by},
                          { client => 1, protocol => 1, server => 0,
                            timeout => 0, limit => 0 }, 'closes by who');
    Test::More::is_deeply($t->{handshakes_rejected}, { 405 => 1, 426 => 1 },
                          'rejected handshakes by status');
    Test::More::is($t->{channel_messages}{delivered}, scalar @open,
                   'channel messages delivered');

    my %sum;
    for my $w (@{ $s->{workers} }) {
        $sum{$_} += $w->{stats}{$_}
            for qw(connections connections_total messages_in messages_out);
    }
    Test::More::is_deeply(\%sum, { map { $_ => $t->{$_} }
                                   qw(connections connections_total
                                      messages_in messages_out) },
                          'the total is the sum of the workers');
    Test::More::is(scalar @{ $s->{workers} }, 2, 'both workers are listed');
    Test::More::is(scalar(grep { $_->{stats}{connections} } @{ $s->{workers} }),
                   2, 'both workers hold connections');

    my ($z) = @{ $s->{zones} };
    Test::More::is_deeply([ @$z{qw(name channels subscribers published
                                   history_messages history_bytes)} ],
                          [ 'chat', 1, scalar @open, 1, 1, 4 ],
                          'zone: channels, subscribers, history');
    Test::More::ok($z->{size} == 1048576 && $z->{used} > 0
                   && $z->{used} + $z->{free} == $z->{size},
                   "zone memory: $z->{used} used of $z->{size}");

    $_->send_close(1001) for @open;
    $_->wait_eof for @open;
}

# TEST 2: the Prometheus format: by argument and by Accept, promtool
# accepts it, and its sums match the JSON.
sub prometheus {
    my @c = map { client('/ws') } 1 .. 3;
    $_->send_text('abc') for @c;
    $_->read(all => [ { opcode => 1 } ]) for @c;

    my $r = status('?format=prometheus');
    my $text = $r->{body};

    Test::More::is($r->{headers}{'content-type'},
                   'text/plain; version=0.0.4; charset=utf-8',
                   'Prometheus content type');
    Test::More::like(status('', accept =>
                         'application/openmetrics-text;version=1.0.0,'
                         . 'text/plain;version=0.0.4;q=0.5,*/*;q=0.1')
                     ->{headers}{'content-type'}, qr{^text/plain},
                     "Prometheus's Accept gets the text format");
    Test::More::like(status('', accept => 'text/html,*/*;q=0.8')
                     ->{headers}{'content-type'}, qr{^application/json},
                     "a browser's Accept gets JSON");

    my ($out, $rc) = promtool($text);
    Test::More::is($rc, 0, "promtool check metrics: no complaint ($out)");

    Test::More::is(prom_sum($text, 'ngx_ws_connections'), 3,
                   'ngx_ws_connections sums to the open connections');
    Test::More::is(prom_sum($text, 'ngx_ws_received_bytes_total'), 9,
                   'ngx_ws_received_bytes_total');

    $_->send_close(1000) for @c;
    $_->wait_eof for @c;
}

sub promtool {
    my ($text) = @_;
    my $err = Symbol::gensym();
    my $pid = IPC::Open3::open3(my $in, my $out, $err,
                                'promtool', 'check', 'metrics');
    print $in $text;
    close $in;
    local $/;
    my $o = join '', grep { defined } <$out>, <$err>;
    waitpid $pid, 0;
    $o =~ s/\s+\z//;
    return ($o eq '' ? 'ok' : $o, $? >> 8);
}

# TEST 3: a real Prometheus scrapes the page; its HTTP API answers the
# number of connections the test holds open.
sub scrape {
    my $port = $ENV{TEST_NGINX_SERVER_PORT} + 6;    # +3, +4: the TLS tests
    my $dir = File::Temp::tempdir('ngx-ws-prom-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);

    open my $fh, '>', "$dir/prometheus.yml" or die $!;
    print $fh <<"_YML_";
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: ngx_ws
    metrics_path: /status
    static_configs:
      - targets: ['127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}']
_YML_
    close $fh;

    my @c = map { client('/ws') } 1 .. 5;

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$dir/prometheus.log";
        open STDERR, '>&', \*STDOUT;
        { exec 'prometheus', "--config.file=$dir/prometheus.yml",
               "--storage.tsdb.path=$dir/data",
               "--web.listen-address=127.0.0.1:$port"; }
        POSIX::_exit(127);
    }

    my $query = 'sum(ngx_ws_connections{job="ngx_ws"})';
    my ($value, $up);

    wait_for {
        my $r = eval { http_at($port, '/api/v1/query?query=' . uri($query)) };
        return 0 unless $r && $r->{status} == 200;
        my $d = JSON::PP::decode_json($r->{body});
        my $res = $d->{data}{result}[0] or return 0;
        $value = $res->{value}[1];
        return $value == 5;
    } 40;

    my $r = eval { http_at($port, '/api/v1/query?query=up') };
    $up = $r ? JSON::PP::decode_json($r->{body})->{data}{result}[0]{value}[1]
             : undef;

    kill 'TERM', $pid;
    waitpid $pid, 0;

    Test::More::is($up, 1, 'Prometheus scrapes the status page (up == 1)');
    Test::More::is($value, 5, "Prometheus: $query == 5")
        or Test::More::diag(`tail -5 $dir/prometheus.log`);

    # generous bounds: under ASan, with Prometheus shutting down beside it,
    # the worker can take seconds to get to the closes; a connection left
    # open still fails
    $_->send_close(1000) for @c;
    $_->wait_eof(10) for @c;

    my $left = wait_for { json_status()->{total}{connections} == 0 } 20;
    Test::More::ok($left, 'no connection is left open')
        or Test::More::diag('connections: '
                            . json_status()->{total}{connections});
}

sub uri {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

sub http_at {
    my ($port, $path) = @_;
    local $ENV{TEST_NGINX_SERVER_PORT} = $port;
    return http('GET', $path);
}

# TEST 4: a reload: the counters of the old workers carry on as "exited";
# the totals never go down.
sub reload {
    my @c = map { client('/ws') } 1 .. 4;
    $_->send_text('abc') for @c;
    $_->read(all => [ { opcode => 1 } ]) for @c;
    $_->send_close(1000) for @c;
    $_->wait_eof for @c;

    my $before = json_status()->{total};

    my $master = master_pid();
    my @old = workers_of($master);
    kill 'HUP', $master;

    my $s = wait_for {
        my @now = workers_of($master);
        my %old = map { $_ => 1 } @old;
        return undef if grep { $old{$_} } @now;
        my $s = eval { json_status() } or return undef;
        return @{ $s->{workers} } == 2 ? $s : undef;
    } 10;

    Test::More::ok($s, 'the old workers exited, two new ones run');
    Test::More::is($s && $s->{reloads}, 1, 'one reload counted');
    Test::More::is($s && $s->{exited}{connections_total},
                   $before->{connections_total},
                   'the old workers\' connections count as exited');
    Test::More::is($s && $s->{total}{messages_in}, $before->{messages_in},
                   'totals carry on across the reload');
}

__DATA__

=== TEST 1: JSON: totals, workers, closes, rejections, channels and zone
--- http_config
    ws_zone chat 1m;
--- config
    location /ws {
        websocket;
        ws_echo on;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /status {
        ws_status;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::counts();
--- request
GET /status?format=json
--- response_headers
Content-Type: application/json
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: the Prometheus text format, checked by promtool
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
    location /status {
        ws_status;
    }
--- init
main::prometheus();
--- request
GET /status?format=prometheus
--- response_body_like: ^# HELP ngx_ws_connections
--- no_error_log
[error]
[alert]



=== TEST 3: a real Prometheus scrapes the page and counts the connections
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
    location /status {
        ws_status;
    }
--- init
main::scrape();
--- request
GET /status
--- no_error_log
[error]
[alert]



=== TEST 4: counters survive a reload
--- config
    location /ws {
        websocket;
        ws_echo on;
    }
    location /status {
        ws_status;
    }
--- init
main::reload();
--- request
GET /status
--- no_error_log
[error]
[alert]
