package Test::NgxWs::App;

# The application side of the ws_pass tests: starts t/backends/app.js (a
# scriptable HTTP app that records every request it gets), and adds the
# block section "--- app_log": the requests the app received during the
# block, one summary line each, compared exactly, in order.
#
#   use lib 't/lib';
#   use Test::Nginx::Socket;
#   use Test::NgxWs::App ();
#   Test::NgxWs::App::start();       # then $TEST_NGINX_APP_PORT in configs
#
# Ports: TEST_NGINX_APP_PORT (default: the server port + 1) for the app;
# TEST_NGINX_DOWN_PORT (default: the server port + 2) is bound but never
# listened on, so connecting to it is refused.  The app is stopped by its
# PID when the file ends.
#
# Every block's http_config gets "proxy_set_header X-Test-Worker $pid": a
# request that carries it and comes from another nginx than the running
# one (an earlier block's, shutting down) is left out.  The header is not
# shown by "--- app_headers: ALL".
#
# Summary line of an event request:
#   PATH EVENT #N [seq=S TYPE "BODY"] [code=C by=WHO] [proto=P] [extra]
# #N numbers the connection ids in order of appearance.  Every line is
# checked against the protocol (POST, one X-WS-Event, a well-formed
# X-WS-Connection-Id (32 hex digits), the headers each event must
# and must not carry, Content-Type/Content-Length matching the body, at
# most one request of a connection at the app at a time); a violation
# adds a "!what" token, so the comparison fails and shows it.  Requests
# without X-WS-Event (ws_auth_request) read "METHOD PATH".
#
# "--- app_headers: name ..." appends name="value" (or name=-) for those
# request headers; "--- app_headers: ALL" appends every header as received.
# "--- app_log" waits (up to "--- app_wait", default 10 s) until as many
# requests as expected lines have arrived, then 0.1 s for any extra one; an
# empty "--- app_log" waits "--- app_wait" (default 0.3 s) and expects none.

use strict;
use warnings;

use Digest::MD5 ();
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use MIME::Base64 ();
use POSIX ();
use Time::HiRes ();

our ($Pid, $ExamplePid, $LogFile, $Reserved, $Dir);
our ($ReadOffset, @Parsed) = (0);        # what records() has decoded

# With master_process on the pid file holds the master's pid, not the
# worker's: set this to accept the requests of any worker.
our $AnyWorker = 0;

# a connection id: 128 random bits in hex
our $IdRe = qr/[0-9a-f]{32}/;

sub server_port {
    return $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;
}

sub start {
    $ENV{TEST_NGINX_APP_PORT} //= server_port() + 1;
    $ENV{TEST_NGINX_DOWN_PORT} //= server_port() + 2;

    # bound, not listening: connections to it are refused
    $Reserved = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $ENV{TEST_NGINX_DOWN_PORT},
                                      Proto => 'tcp', ReuseAddr => 1)
        or die "cannot bind 127.0.0.1:$ENV{TEST_NGINX_DOWN_PORT}: $!";

    $Dir //= File::Temp::tempdir("ngx-ws-app-XXXXXX", TMPDIR => 1,
                                 CLEANUP => 1);
    $LogFile = "$Dir/requests.log";
    open my $fh, '>', $LogFile or die "$LogFile: $!";
    close $fh;

    pipe my $r, my $w or die "pipe: $!";

    $Pid = fork // die "fork: $!";

    if ($Pid == 0) {
        close $r;
        open STDOUT, '>&', $w or POSIX::_exit(1);
        { exec 'node', 't/backends/app.js', $ENV{TEST_NGINX_APP_PORT},
               $LogFile };
        POSIX::_exit(127);
    }

    close $w;

    my $line = '';
    my $sel = IO::Select->new($r);
    my $deadline = Time::HiRes::time() + 10;

    # node may take more than a second to start on a loaded machine: wait
    # for its line until the deadline, or until it exits
    while ($line !~ /\n/ && Time::HiRes::time() < $deadline) {
        next unless $sel->can_read(0.5);
        sysread($r, $line, 64, length $line) or last;
    }

    close $r;

    die "t/backends/app.js did not start on port $ENV{TEST_NGINX_APP_PORT}"
        unless $line =~ /^ready/;

    Test::Nginx::Socket::add_cleanup_handler(\&stop);
    Test::Nginx::Socket::add_block_preprocessor(\&truncate_log);
    Test::Nginx::Socket::add_response_body_check(\&check_app_log);
}

sub stop {
    local $?;

    for my $pid (grep { defined } $Pid, $ExamplePid) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }

    ($Pid, $ExamplePid) = (undef, undef);
}

# examples/app.js on TEST_NGINX_EXAMPLE_PORT (default: the server port + 3),
# its standard output in a file: returns the file's name.
sub start_example {
    $ENV{TEST_NGINX_EXAMPLE_PORT} //= server_port() + 3;
    $Dir //= File::Temp::tempdir('ngx-ws-app-XXXXXX', TMPDIR => 1,
                                 CLEANUP => 1);
    my $out = "$Dir/example.out";

    $ExamplePid = fork // die "fork: $!";

    if ($ExamplePid == 0) {
        $ENV{PORT} = $ENV{TEST_NGINX_EXAMPLE_PORT};
        # O_APPEND: the tests truncate the file
        open STDOUT, '>>', $out or POSIX::_exit(1);
        { exec 'node', 'examples/app.js' };
        POSIX::_exit(127);
    }

    my $deadline = Time::HiRes::time() + 10;

    until (IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                 PeerPort => $ENV{TEST_NGINX_EXAMPLE_PORT},
                                 Proto => 'tcp'))
    {
        die "examples/app.js did not start" if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }

    Test::Nginx::Socket::add_cleanup_handler(\&stop);

    return $out;
}

END { stop() }

sub truncate_log {
    my ($block) = @_;

    if ($block) {
        $block->set_value('http_config',
                          "    proxy_set_header X-Test-Worker \$pid;\n"
                          . ($block->http_config // ''));
    }

    open my $fh, '>', $LogFile or die "$LogFile: $!";
    close $fh;
    ($ReadOffset, @Parsed) = (0);
    get('/_reset');
}

# An HTTP GET to the app, for /_release; returns the body.
sub get {
    my ($path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_APP_PORT},
                                  Proto => 'tcp', Timeout => 5)
        or die "cannot connect to the app: $!";
    print $s "GET $path HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n";
    local $/;
    my $res = <$s> // '';
    $res =~ s/\A.*?\r\n\r\n//s;
    $res =~ s/\A[0-9a-f]+\r\n(.*?)\r\n0\r\n\r\n\z/$1/s;
    return $res;
}

sub release { get('/_release') }
sub open_gate { get('/_open') }

sub nginx_pid {
    my $f = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid";
    open my $fh, '<', $f or return undef;
    my $pid = <$fh>;
    chomp $pid if defined $pid;
    return $pid;
}

# The requests received since the block started, from the running nginx.
# The log is read incrementally: only new complete lines are decoded.

sub records {
    my $pid = nginx_pid();

    open my $fh, '<', $LogFile or die "$LogFile: $!";
    my $size = -s $fh;

    if ($size < $ReadOffset) {              # truncated: a new block
        ($ReadOffset, @Parsed) = (0);
    }

    seek $fh, $ReadOffset, 0;

    while (my $line = <$fh>) {
        last unless $line =~ /\n\z/;        # being written
        $ReadOffset += length $line;

        my $rec = JSON::PP::decode_json($line);
        $rec->{body} = MIME::Base64::decode_base64($rec->{body});
        ($rec->{worker}) = map { $_->[1] }
                            grep { lc $_->[0] eq 'x-test-worker' }
                            @{ $rec->{headers} };
        push @Parsed, $rec;
    }

    return @Parsed if $AnyWorker;

    # leave out the requests of an earlier block's nginx, shutting down
    return grep {
        !(defined $_->{worker} && defined $pid && $_->{worker} ne $pid)
    } @Parsed;
}

# Waits until $n requests arrived (or $timeout passes), then a little for
# any unexpected one; returns them all.
sub wait_records {
    my ($n, $timeout) = @_;
    my @r;

    if ($n == 0) {
        # nothing may arrive: give it the time it would need
        Time::HiRes::sleep($timeout // 0.3);
        return records();
    }

    my $deadline = Time::HiRes::time() + ($timeout // 10);

    while (1) {
        @r = records();
        last if @r >= $n || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.02);
    }

    Time::HiRes::sleep(0.1);
    return records();
}

sub escape {
    my ($s) = @_;
    return 'len=' . length($s) . ' md5=' . Digest::MD5::md5_hex($s)
        if length $s > 64;
    $s =~ s/([^\x20-\x7e]|["\\])/sprintf '\\x%02x', ord $1/ge;
    return qq{"$s"};
}

sub summary {
    my ($recs, $extra) = @_;
    my (%ids, @lines);
    my $nid = 0;

    for my $rec (@$recs) {
        my (%h, @t, @bad);

        for my $kv (@{ $rec->{headers} }) {
            push @{ $h{lc $kv->[0]} }, $kv->[1];
        }

        my $one = sub {
            my $v = $h{$_[0]};
            push @bad, "!dup-$_[0]" if $v && @$v > 1;
            return $v ? $v->[0] : undef;
        };

        my $event = $one->('x-ws-event');
        my ($path) = $rec->{url} =~ m{^([^?]*)};

        if (!defined $event) {
            push @t, $rec->{method}, $path;

        } else {
            push @t, $path, $event;
            push @bad, "!method=$rec->{method}" if $rec->{method} ne 'POST';

            my $id = $one->('x-ws-connection-id') // '';
            if ($id =~ /^$IdRe$/) {
                $ids{$id} //= ++$nid;
                push @t, "#$ids{$id}";

            } else {
                push @t, "!id=$id";
            }

            my $seq = $one->('x-ws-seq');
            my $type = $one->('x-ws-message-type');
            my $ct = $one->('content-type');
            my $len = $one->('content-length') // 0;
            my $code = $one->('x-ws-close-code');
            my $by = $one->('x-ws-closed-by');

            if ($event eq 'message') {
                push @t, defined $seq && $seq =~ /^[1-9]\d*$/ ? "seq=$seq"
                                                             : '!seq';
                push @t, $type // '!type';

                my $want = ($type // '') eq 'text'
                           ? 'text/plain; charset=utf-8'
                           : 'application/octet-stream';
                push @bad, '!ct=' . ($ct // '-') if ($ct // '') ne $want;
                push @t, escape($rec->{body});

            } else {
                push @bad, '!seq' if defined $seq;
                push @bad, '!type' if defined $type;
                push @bad, '!ct' if defined $ct;
                push @bad, '!body' if length $rec->{body};
            }

            push @bad, "!content-length=$len" if $len ne length $rec->{body};

            if ($event eq 'disconnect') {
                push @t, 'code=' . ($code // '-'), 'by=' . ($by // '-');

            } else {
                push @bad, '!code' if defined $code;
                push @bad, '!by' if defined $by;
            }

            if (defined(my $p = $one->('x-ws-subprotocol'))) {
                push @t, "proto=$p";
            }

            push @bad, "!inflight=$rec->{inflight}" if $rec->{inflight} > 1;
        }

        if (defined $extra && $extra =~ /^\s*ALL\s*$/) {
            push @t, map {
                my $v = $_->[1];
                $v = '#' . $ids{$v} if lc $_->[0] eq 'x-ws-connection-id'
                                       && $ids{$v};
                "[$_->[0]: $v]"
            } grep { lc $_->[0] ne 'x-test-worker' } @{ $rec->{headers} };

        } elsif (defined $extra) {
            for my $name (split ' ', $extra) {
                my $v = $h{lc $name};
                push @t, $v ? join(' ', map { lc($name) . qq{="$_"} } @$v)
                            : lc($name) . '=-';
            }
        }

        push @lines, join(' ', @t, @bad) . "\n";
    }

    return join '', @lines;
}

sub check_app_log {
    my ($block, $body, $req_idx, $rep_idx, $dry_run) = @_;

    my $expected = $block->app_log;
    return unless defined $expected;

    my @want = grep { /\S/ } split /\n/, $expected;
    my @recs = wait_records(scalar @want, $block->app_wait);
    my $got = summary(\@recs, $block->app_headers);

    $expected = join '', map { "$_\n" } @want;

    Test::More::is($got, $expected, $block->name . ' - app_log');
}

# The number of tests the blocks make, per repetition: the status, the
# body check, the app_log, one per response_headers line and log pattern,
# grep_error_log_out, and "--- init_tests: N" for checks an init makes.
sub count_tests {
    my (@blocks) = @_;
    my $n = 0;

    my $lines = sub {
        my ($v) = @_;
        return 0 unless defined $v;
        return scalar @$v if ref $v eq 'ARRAY';
        return 1 if ref $v;
        return scalar grep { /\S/ } split /\n/, $v;
    };

    for my $b (@blocks) {
        $n += 1;
        $n += 1 if defined $b->response_body
                   || defined $b->response_body_like
                   || defined $b->response_body_unlike;
        $n += 1 if defined $b->app_log;
        $n += 1 if defined $b->grep_error_log_out;
        $n += 1 if defined $b->raw_response_headers_like;
        $n += $lines->(scalar $b->response_headers);
        $n += $lines->(scalar $b->error_log);
        $n += $lines->(scalar $b->no_error_log);
        $n += $b->init_tests // 0;
    }

    return $n;
}

1;
