package Test::NgxWs::Instances;

# Two nginx instances for the Redis tests (t/231-t/237): instance A is the
# suite's nginx, instance B a second one (a master, two workers) that a
# file starts with the http block of its own, on TEST_NGINX_B_PORT, and
# stops by PID (at the latest when the file ends).  With it, the plain
# HTTP and WebSocket clients those files share.  Nothing is exported
# unless asked for.
#
#   use Test::NgxWs::Instances qw(start_b stop_b b_log req post client);
#
#   sub start_b {                         # a file's own, usually
#       Test::NgxWs::Instances::start_b(<<"EOF", connections => 1024);
#       ws_zone ...;  server { listen ...$ENV{TEST_NGINX_B_PORT}; ... }
#   EOF
#   }
#   kill 'HUP', b_pid();  my $log = b_log();  stop_b();  # or kill_b()
#   my $r = req($port, 'GET', '/pub?channel=a');   # "STATUS BODY"
#   my $r = post($port, 'room', 'hi');             # POST /pub?channel=
#   my $c = client($port, '/sub');  my $s = got($c, 3);   # "p1|p2|p3"
#   wait_subscribed($port, 'room', 2) or die;
#   my $r = again(5, sub { req(...) }, qr/^200 /);  # retried, 0.1 s apart

use strict;
use warnings;

use Exporter 'import';
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use POSIX ();
use Test::More ();
use Test::NgxWs::Client ();
use Test::NgxWs::Redis ();
use Time::HiRes ();

our @EXPORT_OK = qw(start_b stop_b kill_b b_log b_pid b_reader
                    req get post again post_again req_found count_is
                    members_are wait_subscribed wait_for client frames got
                    next_frame rel_ids free_port sum client_not_on
                    push_both_ways);

our ($B_pid, $B_dir, %Taken);


# --- instance B ---------------------------------------------------------

# starts B unless it runs; $http is the text inside its "http { }" (after
# "access_log off;"); connections => worker_connections (256)
sub start_b {
    my ($http, %opt) = @_;

    return if $B_pid;

    $B_dir = File::Temp::tempdir('ngx-ws-b-XXXXXX', TMPDIR => 1,
                                 CLEANUP => 1);
    mkdir "$B_dir/logs";

    my $module = $ENV{TEST_NGINX_LOAD_MODULES} // '';
    my $load = join '', map { "load_module $_;\n" } split ' ', $module;
    my $conns = $opt{connections} // 256;

    open my $fh, '>', "$B_dir/nginx.conf" or die "$B_dir/nginx.conf: $!";
    print $fh <<"EOF";
$load
daemon off;
master_process on;
worker_processes 2;
pid $B_dir/logs/nginx.pid;
error_log $B_dir/logs/error.log info;
events { worker_connections $conns; }
http {
    access_log off;
$http}
EOF
    close $fh;

    $B_pid = fork // die "fork: $!";

    if ($B_pid == 0) {
        { exec $ENV{TEST_NGINX_BINARY} // 'nginx', '-p', "$B_dir/", '-c',
               "$B_dir/nginx.conf" };
        POSIX::_exit(127);
    }

    Test::NgxWs::Redis::wait_port($ENV{TEST_NGINX_B_PORT}, 5)
        or die "instance B did not start";
}

sub stop_b {
    return unless $B_pid;
    kill 'QUIT', $B_pid;
    waitpid $B_pid, 0;
    undef $B_pid;
}

# B dies at once, master and workers (by their PIDs): nothing is told to
# Redis, the others must find out by its heartbeat's ttl
sub kill_b {
    return unless $B_pid;
    my @workers = children($B_pid);
    kill 'KILL', $B_pid, @workers;
    waitpid $B_pid, 0;
    undef $B_pid;
}

sub children {
    my ($ppid) = @_;
    my @pids;

    opendir my $dh, '/proc' or return ();

    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh> // '';
        close $fh;
        push @pids, $pid if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $ppid;
    }

    return @pids;
}

sub b_log {
    open my $fh, '<', "$B_dir/logs/error.log" or return '';
    local $/;
    return <$fh>;
}

sub b_pid { $B_pid }

# the PID of B's worker that reads the Redis streams (the last one that
# said so in its log), or 0
sub b_reader {
    my @pids = b_log() =~ /\[info\] (\d+)#\d+: .*this worker reads the Redis/g;
    return $pids[-1] // 0;
}

END { stop_b() }


# --- HTTP ---------------------------------------------------------------

# a request: "STATUS BODY" (the body without its newline); nginx's HTML
# error pages are dropped unless keep_html => 1; headers => more header
# lines; refused => what to return when the connect fails (else it dies)
sub req {
    my ($port, $method, $uri, $body, %opt) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 3);

    unless ($s) {
        return $opt{refused} if defined $opt{refused};
        die "connect: $!";
    }

    print $s "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\nContent-Type: text/plain\r\n"
             . ($opt{headers} // '')
             . (defined $body ? 'Content-Length: ' . length($body)
                                . "\r\n\r\n$body"
                              : "\r\n");

    my ($buf, $sel) = ('', IO::Select->new($s));
    my $deadline = Time::HiRes::time() + 3;

    while ((my $left = $deadline - Time::HiRes::time()) > 0) {
        last unless $sel->can_read($left);
        last unless sysread $s, $buf, 65536, length $buf;
    }

    my ($status) = $buf =~ m{^HTTP/1\.1 (\d+)};
    my ($rbody) = $buf =~ /\r\n\r\n(.*?)\n?\z/s;

    $rbody = '' if !$opt{keep_html} && ($status // 0) >= 400
                   && ($rbody // '') =~ /<html>/;

    return ($status // 0) . ' ' . ($rbody // '');
}

# the whole response to a GET ('' when the connect fails)
sub get {
    my ($port, $uri) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 3)
        or return '';

    print $s "GET $uri HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\n\r\n";

    local $/;
    return <$s> // '';
}

# POST to a publisher: "STATUS BODY"
sub post {
    my ($port, $channel, $body, $headers) = @_;

    return req($port, 'POST', "/pub?channel=$channel", $body,
               headers => $headers, keep_html => 1);
}

# $try->() again, 0.1 s apart, until its answer matches $done (a regex or
# a sub) or $secs pass; the last answer
sub again {
    my ($secs, $try, $done) = @_;
    my $deadline = Time::HiRes::time() + $secs;
    my $r;

    do {
        $r = $try->();
        return $r if ref $done eq 'CODE' ? $done->($r) : $r =~ $done;
        Time::HiRes::sleep(0.1);
    } while (Time::HiRes::time() < $deadline);

    return $r;
}

# post() again while Redis refuses it (503), for up to $secs (8)
sub post_again {
    my ($port, $channel, $body, $secs) = @_;
    return again($secs // 8, sub { post($port, $channel, $body) }, qr/^200 /);
}

# req() again while it is 404 (not found), for up to 3 s
sub req_found {
    my @args = @_;
    return again(3, sub { req(@args) }, sub { $_[0] !~ /^404 / });
}

# the subscribers a publisher counts on a channel, until $n (up to $secs)
sub count_is {
    my ($port, $channel, $n, $secs) = @_;

    return again($secs // 3, sub {
        my $r = req($port, 'GET', "/pub?channel=$channel");
        $r =~ /"subscribers":(\d+)/ ? $1 : $r;
    }, sub { $_[0] eq $n });
}

# a channel's members, "id:connections" sorted, until $want (up to 3 s)
sub members_are {
    my ($port, $channel, $want) = @_;

    return again(3, sub {
        my $r = req($port, 'GET', "/pub?channel=$channel&members");
        join ' ', sort map { "$_->[0]:$_->[1]" }
                  map { [ /"id":"([^"]*)","connections":(\d+)/ ] }
                  $r =~ /(\{"id":"[^"]*","connections":\d+\})/g;
    }, sub { $_[0] eq $want });
}

# until $check->() is true, every $pause (0.1) s for up to $secs (10)
sub wait_for {
    my ($check, $secs, $pause) = @_;
    my $deadline = Time::HiRes::time() + ($secs // 10);

    until ($check->()) {
        return 0 if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep($pause // 0.1);
    }

    return 1;
}

# until a channel has $n subscribers on an instance as its publisher
# counts them, up to 3 s (at_least => 1: $n or more, those of the other
# instance too with t/235's zones)
sub wait_subscribed {
    my ($port, $channel, $n, %opt) = @_;
    my $deadline = Time::HiRes::time() + 3;

    while (Time::HiRes::time() < $deadline) {
        my $r = get($port, "/pub?channel=$channel");

        if ($r =~ /"subscribers":(\d+)/) {
            return 1 if $opt{at_least} ? $1 >= $n : $1 == $n;
        }

        Time::HiRes::sleep(0.05);
    }

    return 0;
}


# --- WebSocket ----------------------------------------------------------

sub client {
    my ($port, $path) = @_;
    return Test::NgxWs::Client->new(port => $port, path => $path,
                                    timeout => 3);
}

# a client on a worker other than $pid (by the X-Worker: its location
# adds), in up to 40 tries: (it or undef, the clients opened on the way)
sub client_not_on {
    my ($port, $path, $pid) = @_;
    my @others;

    for (1 .. 40) {
        my $c = client($port, $path);
        return ($c, @others) if ($c->header('X-Worker') // 0) != $pid;
        push @others, $c;
    }

    return (undef, @others);
}

# the payloads of up to $n frames read within $secs (3)
sub frames {
    my ($c, $n, $secs) = @_;
    my $deadline = Time::HiRes::time() + ($secs // 3);
    my @p;

    while (@p < $n) {
        my $left = $deadline - Time::HiRes::time();
        last if $left <= 0;
        my $f = $c->read_frame($left) or last;
        push @p, $f->{payload};
    }

    return @p;
}

# the same, joined by "|"
sub got { join '|', frames(@_) }

# the next frame's payload, "close CODE REASON" for a close, '' for none
sub next_frame {
    my ($c) = @_;
    my $f = $c->read_frame(3) or return '';
    return $f->{payload} unless $f->{opcode} == 8;
    my ($code, $reason) = unpack 'n a*', $f->{payload};
    return "close $code $reason";
}

# ids relative to the first one given: "N" for the Nth after it
sub rel_ids {
    my ($base, $s) = @_;
    $s =~ s/"id":(\d+)/'"id":' . ($1 - $base)/ge;
    return $s;
}


# --- scenarios ----------------------------------------------------------

# pushes across the instances (10 checks): a message, a message through
# the connections API and a Close from A to a connection of B, 404 once it
# is gone and for an id no instance has; a message from B to a connection
# of A.  Both have ws_push at /push (X-Id: the connection's id) and
# ws_connections at /conns.  $t: the tests' prefix ("TEST 1:"); the
# requests are made with %how's first (the first one to a connection of
# the other instance), conns (the connections API's POST) and then (the
# others), req() where not given.
sub push_both_ways {
    my ($t, %how) = @_;
    my ($first, $conns, $then) = map { $how{$_} // \&req }
                                 qw(first conns then);

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my $bport = $ENV{TEST_NGINX_B_PORT};

    my $c = client($bport, '/push');
    my $id = $c->header('X-Id') // '';

    Test::More::is($first->($port, 'POST', "/pub?id=$id", 'hello'),
                   '200 {"id":null,"subscribers":1}',
                   "$t POST ?id= on A to a connection of B");
    Test::More::is(next_frame($c), 'hello', "$t which gets it");

    Test::More::is($conns->($port, 'POST', "/conns?id=$id", 'second'),
                   '200 {"id":null,"subscribers":1}',
                   "$t the connections API of A, POST ?id=");
    Test::More::is(next_frame($c), 'second', "$t which gets it too");

    Test::More::is($then->($port, 'DELETE', "/conns?id=$id&code=4001"
                                            . '&reason=moved'),
                   '202 {"closing":true,"code":4001}',
                   "$t DELETE ?id= on A of a connection of B");
    Test::More::is(next_frame($c), 'close 4001 moved',
                   "$t B closes it with that code and reason");
    $c->close;

    Time::HiRes::sleep(0.5);

    Test::More::is($then->($port, 'POST', "/pub?id=$id", 'late'), '404 ',
                   "$t 404 when it is gone from B");
    Test::More::is($then->($port, 'DELETE',
                           '/conns?id=0123456789abcdef0123456789abcdef'),
                   '404 ', "$t 404 for an id that no instance has");

    my $a = client($port, '/push');
    my $aid = $a->header('X-Id') // '';

    Test::More::is($first->($bport, 'POST', "/pub?id=$aid", 'from b'),
                   '200 {"id":null,"subscribers":1}',
                   "$t POST ?id= on B to a connection of A");
    Test::More::is(next_frame($a), 'from b', "$t which gets it");
    $a->close;
}


# --- misc ---------------------------------------------------------------

# a port from $from on (up to 90 more) that nobody listens on, not given
# before
sub free_port {
    my ($from) = @_;

    for my $p ($from .. $from + 90) {
        next if $Taken{$p};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $p, Proto => 'tcp',
                                      Listen => 1)
            or next;
        close $s;
        $Taken{$p} = 1;
        return $p;
    }

    die "no free port from $from";
}

sub sum { my $n = 0; $n += $_ for @_; $n }

1;
