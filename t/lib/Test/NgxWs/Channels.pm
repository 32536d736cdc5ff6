package Test::NgxWs::Channels;

# Helpers shared by the channel tests (t/200-channels-*.t to
# t/204-channels-*.t): the plan count of a file's blocks, the master and
# worker pids (from Test::NgxWs::Proc, exported again), a plain HTTP client for the ws_publisher endpoint, opening
# subscribers until both workers hold some, and checks on the frames the
# subscribers receive and on their closing.  All are exported, so the .t
# files call them unqualified; what only one file needs stays in that file.

use strict;
use warnings;

use Digest::MD5 ();
use Exporter 'import';
use IO::Select ();
use IO::Socket::INET ();
use Test::More ();
use Time::HiRes ();

use Test::NgxWs::Client ();
use Test::NgxWs::Proc qw(master_pid workers_of gone in_worker);
use WsFrame ();

our $VERSION = '0.01';

our @EXPORT = qw(
    sum checks master_pid workers_of http publish answer client spread
    spread_by both_workers_ok wait_unsubscribed desc first_diff read_frames
    all_got_ok close_all_ok t rel id_of rel_bodies
);

# on demand: t/120 has a reload() of its own
our @EXPORT_OK = qw(gone title reload start_nginx);

# The sum of the numbers.
sub sum { my $n = 0; $n += $_ for @_; $n }

# The tests the blocks of the calling file make: one per request for the
# status, plus one per response_body, grep_error_log_out, response_headers
# line and error_log / no_error_log pattern.  The blocks are the caller's
# (blocks() of Test::Base, exported into the .t file by
# Test::Nginx::Socket).
sub checks {
    my $pkg = caller;
    my $blocks = $pkg->can('blocks') or die "checks: $pkg has no blocks()\n";
    my $n = 0;

    for my $block ($blocks->()) {
        my $req = $block->request;
        my $reqs = ref $req eq 'ARRAY' ? @$req : 1;
        my $per = 1 + (defined $block->response_body
                       || defined $block->response_body_like ? 1 : 0)
                  + (defined $block->grep_error_log_out ? 1 : 0);

        for my $v (grep { defined } $block->response_headers,
                   $block->error_log, $block->no_error_log)
        {
            $per += ref $v eq 'ARRAY' ? @$v
                  : ref $v ? 1
                  : scalar(my @l = split /\n/, $v);
        }

        $n += $reqs * $per;
    }

    return $n;
}

# The command line of a process, as ps shows it ("... shutting down").
sub title {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/cmdline" or return '';
    local $/;
    my $t = <$fh> // '';
    $t =~ s/\0+/ /g;
    return $t;
}

# Starts the suite's nginx again (after a quit) and waits for its port.
sub start_nginx {
    my $root = $ENV{TEST_NGINX_SERVER_ROOT};

    system($ENV{TEST_NGINX_BINARY}, '-p', "$root/", '-c',
           "$root/conf/nginx.conf", '-e', "$root/logs/error.log") == 0
        or die "cannot start nginx again";

    my $deadline = Time::HiRes::time() + 3;

    until (Time::HiRes::time() > $deadline) {
        last if IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ENV{TEST_NGINX_SERVER_PORT});
        Time::HiRes::sleep(0.02);
    }
}

# HUP to the master; waits until two new workers run and every old one
# that is still alive has closed its listening sockets (its title says
# "shutting down").  Returns the new workers.
sub reload {
    my $master = master_pid();
    my %old = map { $_ => 1 } workers_of($master);

    kill 'HUP', $master or die "kill HUP $master: $!";

    my $deadline = Time::HiRes::time() + 5;
    my @new;

    while (Time::HiRes::time() < $deadline) {
        @new = grep { !$old{$_} } workers_of($master);
        last if @new == 2
                && !grep { !gone($_) && title($_) !~ /shutting down/ }
                        keys %old;
        Time::HiRes::sleep(0.01);
    }

    die "no new workers after the reload" unless @new == 2;

    return @new;
}


# A plain HTTP/1.1 request on a new connection; returns a hash with status,
# headers (lower-case names) and body.  Options: body, type (Content-Type),
# accept (Accept).
sub http {
    my ($method, $uri, %o) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
                                  Proto => 'tcp', Timeout => 3)
        or die "connect: $!";
    binmode $s;

    my $body = $o{body} // '';
    my $req = "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
              . "Connection: close\r\n";
    $req .= "Content-Type: $o{type}\r\n" if defined $o{type};
    $req .= "Accept: $o{accept}\r\n" if defined $o{accept};
    $req .= 'Content-Length: ' . length($body) . "\r\n"
        if $method eq 'POST' || length $body;
    $req .= "\r\n" . $body;

    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite $s, $req, length($req) - $off, $off;
        die "write: $!" unless defined $n;
        $off += $n;
    }

    my ($buf, $sel) = ('', IO::Select->new($s));
    my $deadline = Time::HiRes::time() + 3;

    while ((my $left = $deadline - Time::HiRes::time()) > 0) {
        last unless $sel->can_read($left);
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;
    }

    close $s;

    my $end = index $buf, "\r\n\r\n";
    return { status => 0, headers => {}, body => $buf } if $end < 0;

    my ($status_line, @lines) = split /\r\n/, substr($buf, 0, $end);
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        $h{lc $k} = $v;
    }

    my $rbody = substr $buf, $end + 4;

    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($rbody =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr $rbody, 0, $len, '';
            $rbody =~ s/\A\r\n//;
        }
        $rbody = $out;
    }

    my ($status) = $status_line =~ m{^HTTP/1\.\d (\d{3})};

    return { status => $status // 0, headers => \%h, body => $rbody };
}

sub publish {
    my ($channel, $body, %o) = @_;
    my $r = http('POST', "/pub?channel=$channel" . ($o{args} // ''),
                 body => $body,
                 exists $o{type} ? (type => $o{type})
                                 : (type => 'text/plain'));

    learn($channel, $1) if $r->{body} =~ /^\{"id":(\d+),/;

    return $r;
}

# Message ids carry the time their channel was made (docs/channels.md,
# "Messages and ids"): (ms since 2024-01-01) * 4096 + N for the channel's
# N-th message.  The tests compare N: rel() turns every id of a channel
# made within the last hour (and not in the future) into its N, and any
# other number in an id's place into "raw:NUMBER", which no expectation
# has (0, the id a client may send, stays 0).  id_of() makes an id from N
# with the base of a channel learnt from its last publisher answer.

my $IDS_EPOCH = 1704067200;
my %BASE;

sub epoch_seq {
    my ($id) = @_;
    my $ms = int($id / 4096);
    my $now = int(Time::HiRes::time() * 1000) - $IDS_EPOCH * 1000;

    return undef if $ms > $now + 1000 || $ms < $now - 3600 * 1000;
    return $id - $ms * 4096;
}

sub rel_id {
    my ($id) = @_;
    return $id if $id eq '0';
    my $n = epoch_seq($id);
    return defined $n ? $n : "raw:$id";
}

sub rel {
    my ($s) = @_;
    $s =~ s/("(?:id|last_id|first_id)":)(\d+)/$1 . rel_id($2)/ge;
    $s =~ s/(resume:\S*)/my $r = $1; $r =~ s{=(\d+)}{'=' . rel_id($1)}ge; $r/ge;
    return $s;
}

# rel() on the payloads of a stream of server frames: a frame whose payload
# changes is framed again (unfragmented, no RSV bits), the others are kept
# byte for byte.
sub rel_frames {
    my ($data) = @_;
    my $out = '';

    while (length $data) {
        my $size = WsFrame::frame_size($data);
        return $out . $data unless defined $size;

        my $raw = substr $data, 0, $size, '';
        my ($f) = WsFrame::decode($raw);
        my $p = rel($f->{payload});

        $out .= ($p eq $f->{payload} || !$f->{fin} || $f->{rsv})
                ? $raw : WsFrame::srv_frame($f->{opcode}, $p);
    }

    return $out;
}

# A block preprocessor: the response bodies of a block without filters of
# its own are compared with their ids made relative by rel(), in the
# payloads of the frames for a raw WebSocket request.
sub rel_bodies {
    my ($block) = @_;

    return if defined $block->response_body_filters;

    $block->set_value('response_body_filters',
                      defined $block->raw_request ? \&rel_frames : \&rel);
}

# A frame (from read_frames()) with rel() applied to its payload and reason.
sub rel_frame {
    my ($f) = @_;
    my %r = %$f;

    $r{payload} = rel($r{payload}) if defined $r{payload};
    $r{reason} = rel($r{reason}) if defined $r{reason};

    return \%r;
}

sub learn {
    my ($channel, $id) = @_;
    my $n = epoch_seq($id);
    $BASE{$channel} = $id - $n if defined $n;
}

sub id_of {
    my ($channel, $n) = @_;
    die "id_of: no id of channel $channel seen yet\n"
        unless defined $BASE{$channel};
    return $BASE{$channel} + $n;
}

# "200 application/json BODY", to compare publisher answers in one string;
# the body ends with a newline, which is left out.
sub answer {
    my ($r) = @_;
    my $body = rel($r->{body});
    $body =~ s/\n\z// or $body .= ' (no final newline)';
    return "$r->{status} " . ($r->{headers}{'content-type'} // '-')
           . " $body";
}

sub client {
    my ($path) = @_;
    return Test::NgxWs::Client->new(path => $path, timeout => 3);
}

# Opens connections to $path until there are at least $n and each worker
# holds at least $min of them; returns them.  See spread_by().
sub spread {
    my ($path, $n, $min) = @_;
    return map { $_->[0] } spread_by(sub { client($path) }, $n, $min);
}

# Opens $n connections or more with $open->($i) ($i counts from 0; it
# returns the connection, then whatever else the test wants kept), $min of
# them in each worker; returns [what $open returned] per connection, in
# the order opened.  Each worker's $min are opened while the other workers
# are stopped (in_worker()): which idle worker the kernel wakes for a new
# connection is not a thing to count on (one of two workers took every
# connection of a burst under ASan, even a burst of 200).  The rest are
# spread by the kernel.  The workers are the test's master's, or @workers
# (pids as the host sees them).
sub spread_by {
    my ($open, $n, $min, @workers) = @_;
    @workers = workers_of(master_pid()) unless @workers;
    my @r;

    for my $w (@workers) {
        in_worker($w, sub { push @r, [ $open->(scalar @r) ] for 1 .. $min },
                  @workers);
    }

    push @r, [ $open->(scalar @r) ] while @r < $n;

    return @r;
}

# Checks that the connections are spread over exactly the master's workers.
sub both_workers_ok {
    my ($name, @c) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    my @workers = workers_of(master_pid());
    my %per;
    $per{ $_->header('X-Worker') // '?' }++ for @c;

    Test::More::is(join(' ', sort keys %per), join(' ', @workers),
                   "$name: the connections are in both workers ("
                   . join(', ', map { "$_: $per{$_}" } sort keys %per) . ')');
}

# Waits (at most 2 s) until the channels count no subscribers, so that the
# block's GET sees the final state; presence itself is tested in
# 203-channels-publisher.t.
sub wait_unsubscribed {
    my $deadline = Time::HiRes::time() + 2;

    for my $ch (@_) {
        while (Time::HiRes::time() < $deadline) {
            last if http('GET', "/pub?channel=$ch")->{body}
                    =~ /"subscribers":0[,}]/;
            Time::HiRes::sleep(0.01);
        }
    }
}

# A one-line description of frames, to compare sequences.
sub desc {
    return join ' | ', map {
        $_->{opcode} == 8
            ? 'close ' . ($_->{code} // '-') . ' ' . ($_->{reason} // '')
            : "$_->{opcode}:" . (length $_->{payload} > 120
                                 ? 'len=' . length($_->{payload})
                                          . ' md5=' . Digest::MD5::md5_hex($_->{payload})
                                 : WsFrame::_escape($_->{payload}))
    } @_;
}

# Where two desc() strings differ: the frame counts, the first differing
# frame, and the whole got string when it is short.
sub first_diff {
    my ($got, $want) = @_;
    my @g = split / \| /, $got;
    my @w = split / \| /, $want;
    my $k = 0;
    $k++ while $k < @g && $k < @w && $g[$k] eq $w[$k];

    return sprintf 'got %d frames, want %d; frame %d is "%s", want "%s"%s',
           scalar @g, scalar @w, $k, $g[$k] // '(none)', $w[$k] // '(none)',
           length $got < 600 ? "; got: $got" : '';
}

# Reads up to $n frames from a connection, until the common deadline.
sub read_frames {
    my ($c, $n, $deadline) = @_;
    my @f;

    while (@f < $n) {
        my $left = $deadline - Time::HiRes::time();
        $left = 0.05 if $left < 0.05;
        my $f = $c->read_frame($left) or last;
        push @f, $f;
    }

    return @f;
}

# Each connection must have received exactly @want (frames given as
# [opcode, payload]); reports the first connection that did not.
sub all_got_ok {
    my ($name, $conns, @want) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    my $want = desc(map { { opcode => $_->[0], payload => $_->[1] } } @want);
    my $deadline = Time::HiRes::time() + 5;
    my $bad;

    for my $i (0 .. $#$conns) {
        my @got = read_frames($conns->[$i], scalar @want, $deadline);
        my $got = desc(map { rel_frame($_) } @got);
        $bad //= "connection $i: " . first_diff($got, $want) if $got ne $want;
    }

    Test::More::is($bad // $want, $want, $name);
}

# Closes the connections (Close 1000 each); every one must answer Close 1000
# with nothing else before it, then close TCP.
sub close_all_ok {
    my ($name, @c) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    $_->send_close(1000) for @c;

    my $bad;

    for my $i (0 .. $#c) {
        my ($code) = $c[$i]->wait_close(3);
        my @extra = $c[$i]->skipped;
        my $eof = $c[$i]->wait_eof(2);
        $c[$i]->close;

        if (($code // 0) != 1000 || @extra || !$eof) {
            $bad //= "connection $i: close " . ($code // 'none')
                     . ', eof ' . $eof . ', extra frames: ' . desc(@extra);
        }
    }

    Test::More::is($bad // 'all closed cleanly', 'all closed cleanly', $name);
}

# Text frames, as [opcode, payload] for all_got_ok.
sub t { map { [1, $_] } @_ }

1;
