package Test::NgxWs::Proc;

# The test's nginx processes as /proc shows them: the pid in nginx.pid,
# the workers of a master, whether a process has exited, and resident
# memory.  Exported on demand (use Test::NgxWs::Proc qw(nginx_rss)).
#
# With master_process off (the default of Test::Nginx) the pid in
# nginx.pid is nginx's only process, the one that serves connections.

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes ();

our $VERSION = '0.01';

our @EXPORT_OK = qw(master_pid workers_of gone in_worker nginx_rss rss_kb);

# The pid in the test's nginx.pid: the master, or with master_process off
# the only nginx process.
sub master_pid {
    my $file = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid";
    open my $fh, '<', $file or die "$file: $!";
    chomp(my $pid = <$fh>);
    return $pid;
}

# The live (neither zombie nor dead) child processes of $ppid, in pid
# order: the workers of a master.
sub workers_of {
    my ($ppid) = @_;
    my @pids;

    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $state, $parent) = $line =~ /^(\d+) \(.*\) (\S) (\d+) /s
            or next;
        push @pids, $pid if $parent == $ppid && $state !~ /[ZX]/;
    }

    return sort { $a <=> $b } @pids;
}

# A process that has exited, even if nobody has reaped it yet.
sub gone {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$fh> // return 1;     # exited while we read
    return $stat =~ /^\d+ \(.*\) [ZX] /s ? 1 : 0;
}

# Runs $code while $worker is the only worker of the master that can accept
# a connection: the others are stopped (SIGSTOP) and seen stopped first,
# since one woken for the connection before it stops would hold it, then
# continued whatever $code does.  Returns what $code returns; dies with its
# error.  How the kernel spreads accepts between idle workers is not for
# a test to rely on: one of them may get every connection.  The workers are
# those of the test's master, or @workers (pids as the host sees them) for
# an nginx of the test's own.
sub in_worker {
    my ($worker, $code, @workers) = @_;
    @workers = workers_of(master_pid()) unless @workers;
    my @others = grep { $_ != $worker } @workers;

    kill 'STOP', @others;

    my $deadline = Time::HiRes::time() + 3;

    while (grep { state_of($_) !~ /^[TZX]?$/ } @others) {
        last if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.005);
    }

    my @r = eval { $code->() };
    my $err = $@;

    kill 'CONT', @others;
    die $err if $err;

    return wantarray ? @r : $r[0];
}

# The state letter of a process (R, S, T...), '' when it is gone.
sub state_of {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return '';
    my $stat = <$fh> // return '';
    return $stat =~ /^\d+ \(.*\) (\S) /s ? $1 : '';
}

# The fields of /proc/PID/status counted in kB, or undef if the process is
# gone.
sub status_kb {
    my ($pid) = @_;
    open my $st, '<', "/proc/$pid/status" or return undef;
    my %kb;
    while (my $line = <$st>) {
        $kb{$1} = $2 if $line =~ /^(\w+):\s+(\d+) kB/;
    }
    return \%kb;
}

# The VmRSS of the process in nginx.pid (with master_process off: the one
# that serves), in KiB; with private => 1 without its RssShmem (see
# rss_kb()).  Dies if it cannot be read.
sub nginx_rss {
    my (%opt) = @_;
    my $pid = master_pid();
    my $kb = status_kb($pid);
    die "no VmRSS for $pid" unless $kb && defined $kb->{VmRSS};
    return $kb->{VmRSS} - ($opt{private} ? $kb->{RssShmem} // 0 : 0);
}

# The resident memory of the processes without the shared memory they
# have touched (VmRSS - RssShmem), summed, in KiB: the pages of a shared
# zone count in a process's VmRSS as it reaches them, which is not a leak.
# In list context also the summed RssShmem.  -1 if a process is gone.
sub rss_kb {
    my ($kb, $shm) = (0, 0);

    for my $pid (@_) {
        my $f = status_kb($pid) or return -1;
        $kb += $f->{VmRSS} // 0;
        $shm += $f->{RssShmem} // 0;
    }

    return wantarray ? ($kb - $shm, $shm) : $kb - $shm;
}

1;
