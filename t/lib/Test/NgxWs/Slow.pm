package Test::NgxWs::Slow;

# Clients that let the server's writes block: a socket with a 4 KiB
# receive buffer (and, with sndbuf =>, a small send buffer too), upgraded
# on a path, that reads only when the test says so.
#
#   my $slow = slow_client('/sub', $port);   # { socket, worker, buf }
#   my ($frames, $eof) = slow_drain($slow, 1);
#   my $s = connect_small('/ws', $port, sndbuf => 16384);
#
# The port defaults to the server's; `X-Worker:` in the 101, when the
# location adds it, is kept as {worker}.

use strict;
use warnings;

use Exporter 'import';
use IO::Select ();
use IO::Socket::INET ();
use Socket qw(SOL_SOCKET SO_RCVBUF SO_SNDBUF inet_aton pack_sockaddr_in);
use WsFrame ();

our @EXPORT = qw(slow_client slow_drain connect_small);

# The socket after the 101: { socket, worker, buf }, buf holding what
# came after the response's head.
sub slow_client {
    my ($path, $port, %opt) = @_;

    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";

    if ($opt{sndbuf}) {
        setsockopt($s, SOL_SOCKET, SO_SNDBUF, $opt{sndbuf})
            or die "SO_SNDBUF: $!";
    }

    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096) or die "SO_RCVBUF: $!";
    connect($s, pack_sockaddr_in($port // $ENV{TEST_NGINX_SERVER_PORT},
                                 inet_aton('127.0.0.1')))
        or die "connect: $!";
    binmode $s;

    my $hs = WsFrame::ws_handshake($path);
    syswrite($s, $hs) == length $hs or die "handshake write: $!";

    my ($resp, $sel) = ('', IO::Select->new($s));

    while (index($resp, "\r\n\r\n") < 0) {
        $sel->can_read(3) or die "no handshake response";
        sysread($s, $resp, 4096, length $resp) or die "handshake read: $!";
    }

    $resp =~ m{^HTTP/1\.1 101 } or die "handshake failed: $resp";
    my ($worker) = $resp =~ /\r\nX-Worker: (\d+)\r\n/i;
    my $end = index($resp, "\r\n\r\n") + 4;

    return { socket => $s, worker => $worker // '?',
             buf => substr($resp, $end) };
}

# The bare socket of a slow client that was sent nothing yet, in
# non-blocking mode.
sub connect_small {
    my ($path, $port, %opt) = @_;

    my $c = slow_client($path, $port, %opt);
    $c->{buf} eq '' or die "early frames";

    $c->{socket}->blocking(0);
    return $c->{socket};
}

# What the slow client was sent, until EOF or $quiet seconds without data:
# (frames, eof); a Close gets its code and reason.
sub slow_drain {
    my ($slow, $quiet) = @_;

    my $s = $slow->{socket};
    my $sel = IO::Select->new($s);
    my $eof = 0;

    while ($sel->can_read($quiet)) {
        my $n = sysread $s, $slow->{buf}, 65536, length $slow->{buf};
        if (!$n) {
            $eof = 1;
            last;
        }
    }

    my @f;
    while (defined(my $size = WsFrame::frame_size($slow->{buf}))) {
        my ($f) = WsFrame::decode(substr $slow->{buf}, 0, $size, '');
        if ($f->{opcode} == 8 && length $f->{payload} >= 2) {
            $f->{code} = unpack 'n', $f->{payload};
            $f->{reason} = substr $f->{payload}, 2;
        }
        push @f, $f;
    }

    return (\@f, $eof);
}

1;
