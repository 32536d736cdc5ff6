# Worker slots and wake-ups in a ws_zone.  A worker that is killed (or
# crashes) does not leave the zone wrong: its subscribers are no longer
# counted, its connections' push channels are gone, and it does not hold
# messages back from eviction (publishes keep succeeding), within about a
# second.  The wake-up of a worker cannot be taken over by another local
# process (nothing is bound in the abstract namespace any more: a process
# that binds the names the old scheme gave to the pids about to be used
# does not keep a respawned worker from being woken), two instances with
# zones of the same name never wake each other (even with the same worker
# pids, in separate pid namespaces), and a reload that reorders and adds
# ws_zone lines still wakes the old workers for the right zone.
#
# nginx runs with a master and two workers.  The scenarios run in each
# block's --- init and their checks are the first tests of the block.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Channels qw(:DEFAULT gone title reload);

use File::Path ();
use IO::Socket::INET ();
use POSIX ();
use Socket ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 9, 2 => 4, 3 => 3, 4 => 5);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- helpers ------------------------------------------------------------

# SIGKILL to a worker; returns its replacement.
sub kill_worker {
    my ($victim) = @_;
    my $master = master_pid();
    my %before = map { $_ => 1 } workers_of($master);

    kill 'KILL', $victim or die "kill KILL $victim: $!";

    my $deadline = Time::HiRes::time() + 5;

    while (Time::HiRes::time() < $deadline) {
        my @new = grep { !$before{$_} } workers_of($master);
        return $new[0] if @new && gone($victim);
        Time::HiRes::sleep(0.01);
    }

    die "no new worker after killing $victim";
}

sub worker_of { $_[0]->header('X-Worker') // '?' }

# Waits until $cond returns true (at most $secs); returns the time taken,
# or undef.
sub wait_until {
    my ($secs, $cond) = @_;
    my $t0 = Time::HiRes::time();

    until ($cond->()) {
        return undef if Time::HiRes::time() - $t0 > $secs;
        Time::HiRes::sleep(0.02);
    }

    return Time::HiRes::time() - $t0;
}

sub subscribers_of {
    my ($channel) = @_;
    my $r = http('GET', "/pub?channel=$channel");
    return $r->{body} =~ /"subscribers":(\d+)/ ? $1 : "status $r->{status}";
}

sub zone_subscribers {
    my $r = http('GET', '/status');
    return $r->{body} =~ /"zones":\[\{[^}]*"subscribers":(\d+)/ ? $1 : '?';
}

# Publishes through the publisher at $port until both workers of that
# nginx have published at least twice (at most 20 messages); after each
# message every connection must receive it within a second, before the
# next is published: a worker that is not woken only catches up on its own
# next publish.  Returns the first failure, or undef.
sub each_delivered {
    my ($port, $prefix, $conns) = @_;
    local $ENV{TEST_NGINX_SERVER_PORT} = $port;

    my (%by, $bad);

    for my $i (1 .. 20) {
        my $msg = "$prefix $i";
        my $r = publish('room', $msg);
        return "publish $i: " . answer($r) if $r->{status} != 200;
        $by{ $r->{headers}{'x-worker'} // '?' }++;

        my $deadline = Time::HiRes::time() + 1;

        for my $k (0 .. $#$conns) {
            my $got = desc(read_frames($conns->[$k], 1, $deadline));
            $bad //= "message $i (published by "
                     . ($r->{headers}{'x-worker'} // '?') . "), connection $k"
                     . ' in ' . worker_of($conns->[$k]) . ": got '$got'"
                if $got ne "1:$msg";
        }

        return $bad if $bad;
        last if keys %by >= 2 && !grep { $_ < 2 } values %by;
    }

    return keys %by >= 2 ? undef
                         : 'all publishes went to one worker: '
                           . join(', ', keys %by);
}


# --- scenarios ----------------------------------------------------------

# TEST 1: a killed worker's subscribers and push channels are taken back,
# and its slot does not pin messages in the zone.
sub death {
    # slots 0 and 1 are given back by the first generation: the killed
    # worker's replacement then takes a free slot, not the dead one
    reload();
    my $master = master_pid();
    my $until = Time::HiRes::time() + 5;
    Time::HiRes::sleep(0.05)
        while (my @w = workers_of($master)) > 2 && Time::HiRes::time() < $until;

    my @c = spread('/sub', 8, 3);
    my $deadline = Time::HiRes::time() + 3;
    my @id = map { my ($f) = read_frames($_, 1, $deadline);
                   $f ? $f->{payload} : '' } @c;

    both_workers_ok('death', @c);

    Test::More::is(subscribers_of('room'), scalar @c,
                   'before: every subscriber is counted');

    my $victim = worker_of($c[0]);
    my @dead = grep { worker_of($c[$_]) eq $victim } 0 .. $#c;
    my @live = grep { worker_of($c[$_]) ne $victim } 0 .. $#c;

    my $new = kill_worker($victim);
    my $n = @live;

    my $dt = wait_until(3, sub { subscribers_of('room') eq $n });

    Test::More::is(subscribers_of('room')
                   . (defined $dt ? sprintf(' (after %.2f s)', $dt) : ''),
                   $n . (defined $dt ? sprintf(' (after %.2f s)', $dt) : ''),
                   "the killed worker's subscribers are no longer counted");

    Test::More::is(zone_subscribers(), 2 * $n,
                   'ws_status counts the subscribers left (channel and push)');

    my @st = map { http('POST', "/pub?id=$id[$_]", body => 'x',
                        type => 'text/plain')->{status} } @dead, $live[0];

    Test::More::is("@st", join(' ', (404) x @dead, 200),
                   "a push to the killed worker's connections gets 404,"
                   . ' to a live one 200');

    read_frames($c[$live[0]], 1, Time::HiRes::time() + 2);

    close_all_ok('the live subscribers leave', @c[@live]);
    wait_unsubscribed('room');

    # a 64k zone: 200 messages of 1000 bytes need the old ones evicted
    my $bad;

    for my $i (1 .. 200) {
        my $r = publish('room', sprintf('%04d', $i) . ('x' x 996));
        $bad = "publish $i: " . answer($r) if $r->{status} != 200;
        last if $bad;
    }

    Test::More::is($bad // 'all 200', 'all 200',
                   'publishes go on beyond the zone size: no message is held'
                   . ' for the dead worker');

    my @n = spread('/sub', 4, 2);
    $deadline = Time::HiRes::time() + 3;
    read_frames($_, 1, $deadline) for @n;

    Test::More::is(each_delivered($ENV{TEST_NGINX_SERVER_PORT}, 'after', \@n)
                   // 'all delivered', 'all delivered',
                   "the replacement worker's subscribers (in $new) and the"
                   . ' others get every message at once');

    close_all_ok('the new subscribers leave', @n);
}

# TEST 2: no abstract name to take; a process holding the names the old
# scheme would give to the next pids does not keep a respawned worker from
# being woken.
sub squat {
    my $master = master_pid();
    my @workers = workers_of($master);

    open my $fh, '<', '/proc/net/unix' or die "/proc/net/unix: $!";
    my @named = grep { /\@ngx_ws_module/ } <$fh>;
    close $fh;

    Test::More::is(scalar @named, 0,
                   'nothing is bound in the abstract namespace: '
                   . join(' ', map { (split ' ')[-1] } @named));

    my $last = do {
        open my $p, '<', '/proc/sys/kernel/ns_last_pid' or die $!;
        my $v = <$p>;
        $v + 0;
    };

    my @squat;

    for my $pid ($last + 1 .. $last + 400) {
        socket(my $s, Socket::AF_UNIX(), Socket::SOCK_DGRAM(), 0) or die $!;
        bind($s, Socket::pack_sockaddr_un("\0ngx_ws_module/$pid")) or next;
        push @squat, $s;
    }

    my $new = kill_worker($workers[0]);

    my @c = spread('/sub', 6, 2);
    both_workers_ok('squat', @c);

    Test::More::is(each_delivered($ENV{TEST_NGINX_SERVER_PORT}, 'squat', \@c)
                   // 'all delivered', 'all delivered',
                   "the respawned worker $new ("
                   . ($new > $last && $new <= $last + 400 ? 'a squatted pid'
                                                         : 'pid not squatted')
                   . ') is woken by the other one');

    close $_ for @squat;

    close_all_ok('squat: the subscribers leave', @c);
}

# TEST 3: two nginx instances in their own pid namespaces (so that their
# workers have the same pids), with a zone of the same name, on one network
# namespace: each one's subscribers get each one's messages, and only those.
sub instances {
    SKIP: {
        Test::More::skip('needs root and unshare(1) with pid namespaces', 3)
            unless $> == 0
                   && system('unshare -p -f --mount-proc true 2>/dev/null')
                      == 0;

        my $base = $ENV{TEST_NGINX_SERVER_PORT};
        my (@pids, @conns);

        for my $k (1, 2) {
            my $dir = "/tmp/ngx_ws_206_${base}_ns$k";
            File::Path::remove_tree($dir);
            my $port = $base + $k;
            mkdir $dir;
            mkdir "$dir/$_" for qw(conf logs html);

            my $mod = join '', map { "load_module $_;\n" }
                      split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';

            open my $out, '>', "$dir/conf/nginx.conf" or die $!;
            print $out <<"CONF";
$mod
daemon off;
master_process on;
worker_processes 2;
error_log $dir/logs/error.log info;
pid $dir/logs/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    ws_zone chat 1m;
    server {
        listen 127.0.0.1:$port;
        location /sub {
            websocket;
            ws_subscribe chat room;
            add_header X-Worker \$pid always;
        }
        location /pub {
            ws_publisher chat;
            add_header X-Worker \$pid always;
        }
    }
}
CONF
            close $out;

            my $pid = fork // die "fork: $!";

            if ($pid == 0) {
                exec('unshare', '-p', '-f', '--mount-proc',
                     $ENV{TEST_NGINX_BINARY} // 'nginx', '-p', "$dir/", '-c',
                     "$dir/conf/nginx.conf", '-e', "$dir/logs/error.log")
                    or POSIX::_exit(127);
            }

            push @pids, $pid;

            my $ok = wait_until(5, sub {
                IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port)
            });

            die "the nginx in pid namespace $k did not start" unless $ok;
        }

        # subscribers of both instances, 2 in each worker of each (the
        # workers as the host sees them: the master is unshare's child)
        for my $k (1, 2) {
            my ($master) = workers_of($pids[$k - 1]);
            my @workers;
            wait_until(5, sub { @workers = workers_of($master // 0);
                                @workers == 2 })
                or die "instance $k: no 2 workers under unshare's $pids[$k-1]";

            my @c = map { $_->[0] } spread_by(sub {
                Test::NgxWs::Client->new(path => '/sub', port => $base + $k,
                                         timeout => 3)
            }, 4, 2, @workers);

            push @conns, \@c;
        }

        # the same two pids in both namespaces (2 and 3, or more when
        # something else starts first there, as under ASan)
        my @sets = map { my %w; $w{ worker_of($_) }++ for @$_;
                         join ',', sort { $a <=> $b } keys %w } @conns;

        Test::More::ok($sets[0] =~ /\A\d+,\d+\z/ && $sets[0] eq $sets[1],
                       'both instances have subscribers in both their'
                       . " workers, of the same pids ($sets[0] and"
                       . " $sets[1])");

        my $bad = each_delivered($base + 1, 'one', $conns[0])
                  // each_delivered($base + 2, 'two', $conns[1]);

        Test::More::is($bad // 'all delivered', 'all delivered',
                       "each instance's subscribers get its messages at once");

        my @extra = map { desc(read_frames($_, 1, Time::HiRes::time() + 0.3)) }
                    map { @$_ } @conns;

        my @logged;

        for my $k (1, 2) {
            open my $log, '<', "/tmp/ngx_ws_206_${base}_ns$k/logs/error.log"
                or die $!;
            push @logged, grep { /\[(error|alert|crit|emerg)\]/ } <$log>;
        }

        Test::More::is(join('', @extra, @logged), '',
                       'and nothing else; nothing wrong in their error logs');

        $_->close for map { @$_ } @conns;

        for my $pid (@pids) {
            # the master (pid 1 in its namespace) is the child of unshare
            my ($master) = workers_of($pid);
            kill 'QUIT', $master if $master;
        }

        for my $pid (@pids) {
            wait_until(5, sub { waitpid($pid, POSIX::WNOHANG()) != 0 })
                or kill 'KILL', $pid;
        }

        File::Path::remove_tree("/tmp/ngx_ws_206_${base}_ns$_") for 1, 2;
    }
}

# TEST 4: a reload that swaps the ws_zone lines and adds one: the old
# workers' subscribers of either zone get what the new workers publish to
# it, and nothing of the other zone.
sub reorder {
    my @a = spread('/a', 4, 2);
    my @b = spread('/b', 4, 2);

    both_workers_ok('zone alpha', @a);
    both_workers_ok('zone beta', @b);

    my $conf = "$ENV{TEST_NGINX_SERVER_ROOT}/conf/nginx.conf";
    open my $in, '<', $conf or die "$conf: $!";
    my $text = do { local $/; <$in> };
    close $in;
    $text =~ s/ws_zone alpha 1m;\s*ws_zone beta 1m;/ws_zone beta 1m;\n    ws_zone alpha 1m;\n    ws_zone gamma 1m;/
        or die "no ws_zone lines in $conf";
    open my $out, '>', $conf or die "$conf: $!";
    print $out $text;
    close $out;

    reload();

    # the old subscribers have the same uid (1) in both zones
    for my $i (1 .. 3) {
        http('POST', '/pb?channel=room', body => "to beta $i",
             type => 'text/plain');
        http('POST', '/pa?channel=room', body => "to alpha $i",
             type => 'text/plain');
    }

    all_got_ok("zone alpha's old subscribers get its messages only", \@a,
               t(map { "to alpha $_" } 1 .. 3));
    all_got_ok("zone beta's old subscribers get its messages only", \@b,
               t(map { "to beta $_" } 1 .. 3));

    close_all_ok('reorder: the old subscribers leave', @a, @b);
}

__DATA__

=== TEST 1: a killed worker: counts, push channels and pending messages are taken back
--- http_config
    ws_zone chat 64k history=4;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_push chat;
        ws_on_connect /_app/connect;
        add_header X-Worker $pid always;
    }
    location /_app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_id/;
    }
    location /_id/ {
        return 200 $http_x_ws_connection_id;
    }
    location /pub {
        ws_publisher chat;
        add_header X-Worker $pid always;
    }
    location /status {
        ws_status;
    }
--- init
main::death();
--- request
GET /pub?channel=room
--- response_body_like: "subscribers":0,
--- error_log
is gone, its slot and subscribers are taken back
--- no_error_log eval
['[error]', qr/\[alert\](?!.* exited on signal 9)/, '[crit]']



=== TEST 2: a respawned worker is woken whatever local processes bind
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
        add_header X-Worker $pid always;
    }
--- init
main::squat();
--- request
GET /pub?channel=room
--- response_body_like: "subscribers":0,
--- no_error_log eval
['[error]', qr/\[alert\](?!.* exited on signal 9)/, '[crit]']



=== TEST 3: two instances with the same zone name and the same worker pids
--- http_config
    ws_zone chat 1m;
--- config
    location /pub {
        ws_publisher chat;
    }
--- init
main::instances();
--- request
GET /pub?channel=room
--- error_code: 404
--- no_error_log eval
['[error]', qr/\[alert\](?!.* exited on signal 9)/, '[crit]']



=== TEST 4: a reload that reorders and adds ws_zone lines wakes old workers for the right zone
--- http_config
    ws_zone alpha 1m;
    ws_zone beta 1m;
--- config
    location /a {
        websocket;
        ws_subscribe alpha room;
        ws_shutdown_delay 10s;
        add_header X-Worker $pid always;
    }
    location /b {
        websocket;
        ws_subscribe beta room;
        ws_shutdown_delay 10s;
        add_header X-Worker $pid always;
    }
    location /pa {
        ws_publisher alpha;
    }
    location /pb {
        ws_publisher beta;
    }
--- init
main::reorder();
--- request
GET /pb?channel=room
--- response_body_like: "subscribers":0,
--- no_error_log eval
['[error]', qr/\[alert\](?!.* exited on signal 9)/, '[crit]']
