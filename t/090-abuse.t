# Abuse over the network: for a bounded time, hundreds of connections send
# malformed handshakes, random and malformed frames, oversized lengths,
# half-sent frames, resets and abrupt disconnects to an echo route, a
# ws_pass route (t/backends/app.js behind it) and channel subscribe and
# publish routes, while well-behaved clients on the same server keep
# checking their echoes.  Afterwards: no worker crashed or was replaced, the
# good clients got every echo right and in time, every violation was
# answered with the close code it deserves, the workers' resident memory
# (without shared memory) is back within 2 MiB of what it was after a
# warm-up and they hold no more sockets than before.
#
# The load is bench/wsabuse (built here with cc into a temporary
# directory).  It runs twice from the block's --- init: a warm-up of 3 s
# with the same mix, after which the baseline is measured, then the run
# itself: WS_ABUSE_SECONDS (default 10), WS_ABUSE_CONNS connections per
# abuse process (default 200, 2 processes), WS_ABUSE_GOOD good connections
# (default 20), WS_ABUSE_SEED to repeat a mix (the seed is printed).
# docs/testing.md describes the mix and the checks.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::App ();
use Test::NgxWs::Proc qw(master_pid workers_of rss_kb);

use File::Temp ();
use POSIX ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(4096);
repeat_each(1);

Test::NgxWs::App::start();

use constant INIT_TESTS => 10;

our $Seconds = $ENV{WS_ABUSE_SECONDS} || 10;
our $Conns = $ENV{WS_ABUSE_CONNS} || 200;
our $Good = $ENV{WS_ABUSE_GOOD} || 20;

# the init checks, then the block's status, body and no_error_log lines
plan tests => INIT_TESTS + repeat_each() * (blocks() * 2 + 5);

no_shuffle();
no_long_string();

# limits were warn lines (refusals info): the tests keep warn (t/130
# checks the default, error)
config_preamble('ws_security_log_level warn;');

run_tests();


use constant RSS_BOUND_KB => 2048;

# sockets held by the workers
sub sockets {
    my $n = 0;

    for my $pid (@_) {
        for my $fd (glob "/proc/$pid/fd/*") {
            my $l = readlink $fd // next;
            $n++ if $l =~ /^socket:/;
        }
    }

    return $n;
}

# waits until the workers hold no more sockets than $want (the connections
# of the last run are gone), at most $secs
sub settle {
    my ($want, $secs, @w) = @_;
    my $deadline = Time::HiRes::time() + $secs;
    my $n;

    while (($n = sockets(@w)) > $want && Time::HiRes::time() < $deadline) {
        Time::HiRes::sleep(0.1);
    }

    return $n;
}

our $Dir;

sub tool {
    $Dir //= File::Temp::tempdir('ngx-ws-abuse-XXXXXX', TMPDIR => 1,
                                 CLEANUP => 1);
    my $bin = "$Dir/wsabuse";

    return $bin if -x $bin;

    my $cc = "cc -O2 -Wall -Wextra -Werror -std=gnu11 -o $bin bench/wsabuse.c";
    my $out = `$cc 2>&1`;
    die "bench/wsabuse.c does not build:\n$out" if $?;

    return $bin;
}

# runs the tool for $secs; returns its output and the largest RSS seen
sub load {
    my ($secs, $seed, @w) = @_;
    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my @cmd = (tool(), '-t', $secs, '-p', 2, '-c', $Conns, '-g', $Good,
               '--target', '/echo:echo:16384:65536:4',
               '--target', '/app:app:4096:4096:2',
               '--target', '/sub:sub:1024:1024:1',
               '--target', '/pub:pub:1024:1024:1',
               '--grace', 3, '--app-grace', 15, '--silent-wait', 4,
               '--header-timeout', 3,
               '--latency', 2, '--pace', 100,
               (defined $seed ? ('-s', $seed) : ()),
               "127.0.0.1:$port");

    my $out = "$Dir/wsabuse.out";
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDOUT, '>', $out or POSIX::_exit(1);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(1);
        { exec { $cmd[0] } @cmd };
        POSIX::_exit(127);
    }

    my $peak = 0;

    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        my $rss = rss_kb(@w);
        $peak = $rss if $rss > $peak;

        # the application logs every request: keep the file small
        if (defined $Test::NgxWs::App::LogFile
            && -s $Test::NgxWs::App::LogFile > 64 << 20)
        {
            truncate $Test::NgxWs::App::LogFile, 0;
        }

        Time::HiRes::sleep(0.5);
    }

    my $rc = $?;
    open my $fh, '<', $out or die "$out: $!";
    local $/;
    my $text = <$fh>;

    return ($rc, $text, $peak);
}

sub result {
    my ($text) = @_;
    my ($line) = $text =~ /^result (.*)$/m;
    return { map { split /=/, $_, 2 } split ' ', ($line // '') };
}

sub abuse {
    my $master = master_pid();
    my @w;
    my $deadline = Time::HiRes::time() + 5;

    until ((@w = workers_of($master)) == 2 || Time::HiRes::time() > $deadline)
    {
        Time::HiRes::sleep(0.05);
    }

    die "expected 2 workers, found @w" unless @w == 2;

    # warm-up: the same mix, so that pools, buffers and the zone are grown
    my $idle = sockets(@w);
    my ($rc, $text) = load(3, $ENV{WS_ABUSE_SEED}, @w);
    die "warm-up failed ($rc):\n$text" if $rc != 0;
    my $base_sockets = settle($idle, 10, @w);
    my ($base_rss, $base_shm) = rss_kb(@w);
    my @base_each = map { scalar rss_kb($_) } @w;

    my $seed = defined $ENV{WS_ABUSE_SEED} ? $ENV{WS_ABUSE_SEED} + 1 : undef;
    my $t0 = Time::HiRes::time();
    ($rc, $text, my $peak) = load($Seconds, $seed, @w);
    my $took = Time::HiRes::time() - $t0;
    my $r = result($text);

    my $sockets = settle($base_sockets, 10, @w);
    my ($rss, $shm) = rss_kb(@w);
    my @each = map { scalar rss_kb($_) } @w;
    my @after = workers_of($master);

    Test::More::ok($rc == 0 && defined $r->{failed} && $r->{failed} eq '0',
                   'the abuse client ran to the end')
        or Test::More::diag($text);

    Test::More::is("@after", "@w", 'the same two workers are still running')
        or Test::More::diag("master $master, now " . master_pid());

    Test::More::is($r->{mismatch}, 0,
                   'every violation got its status or close code in time,'
                   . ' every echo was right')
        or Test::More::diag(join "\n", grep { /^(mismatch|seed)/ }
                                       split /\n/, $text);

    Test::More::ok(($r->{good_msgs} // 0) > 0
                   && $r->{good_ok} == $r->{good_msgs}
                   && $r->{good_bad} == 0 && $r->{good_lost} == 0,
                   "the good clients got all their echoes right"
                   . " ($r->{good_ok} of $r->{good_msgs})");

    Test::More::is($r->{good_late}, 0,
                   sprintf('every good echo within 2 s (slowest %.0f ms)',
                           ($r->{good_max_us} // 0) / 1000));

    Test::More::is($r->{good_closed}, $Good,
                   'the good clients closed cleanly at the end');

    # the mix did what it says: each kind of abuse happened
    my @missing = grep { !($r->{$_} // 0) }
        qw(hs_ok hs_status_ok hs_slow_closed violations close_ok clean_close
           silent_ok eof_ok echo_ok rst half garbage muted srv_pings pongs);

    Test::More::is("@missing", '', 'every kind of abuse was exercised');

    # Memory held after a run can be a new high-water mark (more events or
    # messages in flight at once than during the warm-up, and the heap
    # keeps what it grew to) rather than a leak.  Then a second run
    # decides: a leak grows the RSS again, a high-water mark does not.
    my $grown = $rss - $base_rss;
    my $again = '';

    if ($grown > RSS_BOUND_KB) {
        Test::More::diag("RSS grew by $grown KiB: a second run to tell a"
                         . ' leak from a high-water mark');
        my ($rc2, $text2) = load($Seconds, $seed, @w);
        settle($base_sockets, 10, @w);
        my $rss2 = rss_kb(@w);
        $grown = $rss2 - $rss;
        $again = " after a second run ($rss KiB, then $rss2 KiB)";
        Test::More::diag($text2) if $rc2 != 0;
    }

    Test::More::cmp_ok($grown, '<=', RSS_BOUND_KB,
                       'the workers\' RSS is back within 2 MiB of the'
                       . " baseline$again");

    Test::More::cmp_ok($sockets, '<=', $base_sockets,
                       'the workers hold no more sockets than before');

    open my $log, '<', "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log"
        or die "error.log: $!";
    my %levels;
    while (my $line = <$log>) {
        $levels{$1}++ if $line =~ /\[(\w+)\]/;
    }

    Test::More::ok(!$levels{alert} && !$levels{emerg} && !$levels{crit},
                   'no [alert], [emerg] or [crit] in error.log');

    Test::More::diag(sprintf(
        "seed %s; %d s (%.1f s with the drain), %d+%d connections:"
        . " %s abuse connections, %s frames, %.1f MiB sent, %s violations"
        . " (%s close codes right), %s malformed handshakes, %s resets;"
        . " good: %s echoes, slowest %.0f ms; RSS %d KiB after warm-up,"
        . " %d KiB peak, %d KiB after (%+d; per worker %s), shared memory"
        . " %d KiB, then %d KiB; sockets %d / %d; tool: longest loop turn"
        . " %.0f ms, %s answers read after their wait; log: %s",
        ($text =~ /^seed (\d+)/m)[0] // '?', $Seconds, $took, 2 * $Conns,
        $Good, $r->{conns}, $r->{frames}, ($r->{bytes} // 0) / 1048576,
        $r->{violations}, $r->{close_ok}, $r->{hs_bad}, $r->{rst},
        $r->{good_ok}, ($r->{good_max_us} // 0) / 1000, $base_rss, $peak,
        $rss, $rss - $base_rss,
        join(' ', map { sprintf '%+d', $each[$_] - $base_each[$_] } 0 .. $#w),
        $base_shm, $shm,
        $base_sockets, $sockets,
        ($r->{loop_max_us} // 0) / 1000, $r->{read_late} // 0,
        join(' ', map { "$_=$levels{$_}" } sort keys %levels) || 'empty'));
}

__DATA__

=== TEST 1: hundreds of abusive clients do not hurt the server or the good clients
--- main_config
    worker_rlimit_nofile 16384;
--- http_config
    ws_zone abuse 4m history=16;
--- config
    client_header_timeout 3s;
    ws_max_frame_size 16k;
    ws_max_message_size 64k;
    ws_ping_interval 1s;
    ws_pong_timeout 1s;
    ws_close_timeout 1s;
    ws_send_buffer 256k;
    ws_send_timeout 5s;

    location /echo {
        websocket;
        ws_echo on;
    }

    location /app {
        websocket;
        ws_max_frame_size 4k;
        ws_max_message_size 4k;
        ws_pass /_app/message;
    }

    location = /_app/message {
        internal;
        subrequest_output_buffer_size 16k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/app/message?echo=1&mt=binary;
    }

    location /sub {
        websocket;
        ws_max_frame_size 1k;
        ws_max_message_size 1k;
        ws_subscribe abuse room;
    }

    location /pub {
        websocket;
        ws_max_frame_size 1k;
        ws_max_message_size 1k;
        ws_publish abuse room;
    }

    location = /t {
        return 200 "ok\n";
    }
--- log_level: warn
--- init
main::abuse();
--- request
GET /t
--- response_body
ok
--- no_error_log
exited on signal
[alert]
[emerg]
[crit]
[error]
