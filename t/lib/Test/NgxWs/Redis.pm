package Test::NgxWs::Redis;

# Redis servers for the backplane tests: Debian's redis-server, run in the
# foreground (--daemonize no) on a given port, without persistence, in a
# temporary directory; stopped by PID (every one still running when the
# file ends).
#
#   my $pid = Test::NgxWs::Redis::start($port, '--requirepass', 'secret');
#   Test::NgxWs::Redis::stop($pid);
#   Test::NgxWs::Redis::start_later($port, 0.5);       # not waited for
#   Test::NgxWs::Redis::restart_later($pid, $port, 0.5, 0.3);
#   use Test::NgxWs::Redis qw(cli cli_line);
#   my $out = cli($port, 'PING');                 # redis-cli's output
#   my $line = cli_line($port, '--raw', 'GET', 'k');    # without its \n

use strict;
use warnings;

use Exporter 'import';
use File::Temp ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();

our @EXPORT_OK = qw(cli cli_line);

our (%Pids, $Dir);

sub dir {
    $Dir //= File::Temp::tempdir('ngx-ws-redis-XXXXXX', TMPDIR => 1,
                                 CLEANUP => 1);
    return $Dir;
}

sub exec_redis {
    my ($port, @args) = @_;
    my $dir = dir();

    { exec 'redis-server', '--port', $port, '--bind', '127.0.0.1',
           '--save', '', '--appendonly', 'no', '--daemonize', 'no',
           '--dir', $dir, '--logfile', "$dir/redis-$port.log", @args };
    POSIX::_exit(127);
}

# waits until the port accepts connections (or $timeout seconds)
sub wait_port {
    my ($port, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 10);

    until (IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                 Proto => 'tcp'))
    {
        return 0 if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.02);
    }

    return 1;
}

sub start {
    my ($port, @args) = @_;

    dir();                              # before the fork: one for all
    my $pid = fork // die "fork: $!";
    exec_redis($port, @args) if $pid == 0;

    $Pids{$pid} = 1;
    wait_port($port) or die "redis-server did not start on port $port";

    return $pid;
}

# a server that starts in $delay seconds, from a process of its own
sub start_later {
    my ($port, $delay, @args) = @_;

    dir();
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        Time::HiRes::sleep($delay);
        exec_redis($port, @args);
    }

    $Pids{$pid} = 1;
    return $pid;
}

# in $delay seconds, the server $old (a child of ours) is killed, and
# another one started on its port $pause seconds after it is gone; returns
# the pid of the new one
sub restart_later {
    my ($old, $port, $delay, $pause, @args) = @_;

    dir();
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        Time::HiRes::sleep($delay);
        kill 'KILL', $old;

        while (IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Proto => 'tcp'))
        {
            Time::HiRes::sleep(0.01);
        }

        Time::HiRes::sleep($pause);
        exec_redis($port, @args);
    }

    $Pids{$pid} = 1;
    return $pid;
}

# redis-cli's output, as it is
sub cli {
    my ($port, @args) = @_;

    open my $fh, '-|', 'redis-cli', '-p', $port, @args
        or die "redis-cli: $!";
    local $/;
    my $out = <$fh> // '';
    close $fh;

    return $out;
}

# the same without its last newline
sub cli_line {
    my $out = cli(@_);
    $out =~ s/\n\z//;
    return $out;
}

sub stop {
    my ($pid) = @_;
    local $?;

    return unless delete $Pids{$pid};

    kill 'TERM', $pid;
    waitpid $pid, 0;
}

sub stop_all {
    stop($_) for keys %Pids;
}

END { stop_all() }

1;
