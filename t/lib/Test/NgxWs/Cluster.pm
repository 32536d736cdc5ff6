package Test::NgxWs::Cluster;

# A Redis Cluster for the tests: Debian's redis-server started on given
# ports with --cluster-enabled yes (Test::NgxWs::Redis::start, stopped by
# PID when the file ends), joined by redis-cli --cluster create, and the
# resharding steps the tests make by hand.
#
#   use Test::NgxWs::Cluster ();
#   Test::NgxWs::Cluster::start(\@ports, replicas => 1, bus => \&free_port,
#                               args => sub { my ($port) = @_; ... });
#   my $raw = Test::NgxWs::Cluster::cli($port, 'CLUSTER', 'INFO');
#   my $port = Test::NgxWs::Cluster::owner('{ws:chat:a}:s', @masters);
#   my ($from, $to, $slot) = Test::NgxWs::Cluster::migrate($key, @masters);
#   Test::NgxWs::Cluster::kill_node($port);  # SIGKILL
#   Test::NgxWs::Cluster::restart($port);    # with the same arguments

use strict;
use warnings;

use POSIX ();
use Test::NgxWs::Redis ();
use Time::HiRes ();

our (%Pids, %Args);

# redis-cli's answer, one line per element (--raw), without its newline
sub cli {
    my ($port, @args) = @_;
    return Test::NgxWs::Redis::cli_line($port, '--raw', @args);
}

# a node's arguments: the cluster bus on a port of its own (from $bus),
# the slots of the others served while one is down, a short node timeout,
# and $more->($port)'s if given
sub node_args {
    my ($port, $bus, $more) = @_;
    my $dir = Test::NgxWs::Redis::dir();

    $Args{$port} //= [
        '--cluster-enabled', 'yes',
        '--cluster-config-file', "$dir/nodes-$port.conf",
        '--cluster-port', $bus->(),
        '--cluster-node-timeout', 2000,
        '--cluster-require-full-coverage', 'no',
        $more ? $more->($port) : (),
    ];

    return @{ $Args{$port} };
}

# until every node answers cluster_state:ok (up to 15 s)
sub wait_ok {
    my @ports = @_;
    my $deadline = Time::HiRes::time() + 15;

    for my $port (@ports) {
        until (cli($port, 'CLUSTER', 'INFO') =~ /^cluster_state:ok/m) {
            die "cluster not ok on $port" if Time::HiRes::time() > $deadline;
            Time::HiRes::sleep(0.1);
        }
    }
}

# the nodes on @$ports, the first ones masters, replicas => N each
sub start {
    my ($ports, %opt) = @_;
    my $dir = Test::NgxWs::Redis::dir();

    for my $port (@$ports) {
        unlink "$dir/nodes-$port.conf";
        $Pids{$port} = Test::NgxWs::Redis::start($port,
                           node_args($port, $opt{bus}, $opt{args}));
    }

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        { exec 'redis-cli', '--cluster', 'create',
               (map { "127.0.0.1:$_" } @$ports),
               '--cluster-replicas', $opt{replicas} // 0, '--cluster-yes' };
        POSIX::_exit(127);
    }

    waitpid $pid, 0;
    die "redis-cli --cluster create failed" if $?;

    wait_ok(@$ports);
}

# a node killed (SIGKILL) and reaped
sub kill_node {
    my ($port) = @_;
    my $pid = delete $Pids{$port} or return;

    kill 'KILL', $pid;
    waitpid $pid, 0;
    delete $Test::NgxWs::Redis::Pids{$pid};
}

# a node killed started again, with its arguments
sub restart {
    my ($port) = @_;
    $Pids{$port} = Test::NgxWs::Redis::start($port, @{ $Args{$port} });
}

# the masters among @ports, as their CLUSTER NODES says (myself)
sub masters {
    my @ports = @_;
    return grep { cli($_, 'ROLE') =~ /^master/ } @ports;
}

# the port of the master that holds a key's slot, by its key count
sub owner {
    my ($key, @masters) = @_;
    my $slot = cli($masters[0], 'CLUSTER', 'KEYSLOT', $key);

    return join ',', grep {
        cli($_, 'CLUSTER', 'COUNTKEYSINSLOT', $slot) > 0
    } @masters;
}

sub node_id {
    my ($port) = @_;
    return cli($port, 'CLUSTER', 'MYID');
}

# a key's slot (with its keys) from its master to another one, the end of
# the migration told to the target first (so that no node sends a client
# back where it came from): ($from, $to, $slot)
sub migrate {
    my ($key, @masters) = @_;
    my ($from, $to, $slot, $tid) = move($key, @masters);

    finish($slot, $to, $tid, @masters);

    return ($from, $to, $slot);
}

# the same, left half way: MIGRATING on the source, IMPORTING on the
# target, the keys on the target (the source answers ASK) until finish():
# ($from, $to, $slot, the target's id)
sub move {
    my ($key, @masters) = @_;
    my $slot = cli($masters[0], 'CLUSTER', 'KEYSLOT', $key);
    my $from = owner($key, @masters);
    my ($to) = grep { $_ != $from } @masters;
    my ($fid, $tid) = (node_id($from), node_id($to));

    cli($to, 'CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $fid);
    cli($from, 'CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $tid);

    my @keys = split /\n/,
               cli($from, 'CLUSTER', 'GETKEYSINSLOT', $slot, 100);
    cli($from, 'MIGRATE', '127.0.0.1', $to, '', 0, 5000, 'KEYS', @keys)
        if @keys;

    return ($from, $to, $slot, $tid);
}

sub finish {
    my ($slot, $to, $tid, @masters) = @_;

    cli($_, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $tid)
        for $to, grep { $_ != $to } @masters;
}

# the calls of a command the nodes served since their CONFIG RESETSTAT
sub calls {
    my ($cmd, @ports) = @_;
    my $n = 0;

    for my $port (@ports) {
        $n += $1 if cli($port, 'INFO', 'commandstats')
                    =~ /^cmdstat_\Q$cmd\E:calls=(\d+)/m;
    }

    return $n;
}

1;
