package Test::NgxWs::Client;

# A multi-step WebSocket client for tests: it performs the opening handshake,
# then sends and reads frames one at a time, so a test can react to what the
# server sends (answer a Ping, send after an echo, wait for a server Close,
# hold several connections).  Blocking socket, IO::Select timeouts; the frame
# bytes are built and decoded by WsFrame.  With tls => 1 it speaks wss
# (IO::Socket::SSL, non-blocking after the TLS handshake).  See
# docs/testing.md, section "The WebSocket client helper".

use strict;
use warnings;

use Carp ();
use Errno ();
use IO::Select ();
use IO::Socket::INET ();
use MIME::Base64 ();
use Socket qw(IPPROTO_TCP TCP_NODELAY SOL_SOCKET SO_RCVBUF);
use Time::HiRes ();

use WsFrame ();

our $VERSION = '0.01';

my %FRAME_KEYS = map { $_ => 1 }
    qw(fin rsv opcode payload masked mask len len_form);


sub new {
    my ($class, %o) = @_;

    my $self = bless {
        host    => $o{host} // '127.0.0.1',
        port    => $o{port}
                   // ($o{tls} ? $ENV{TEST_NGINX_TLS_PORT} : undef)
                   // $ENV{TEST_NGINX_CLIENT_PORT}
                   // $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT}
                   // 1984,
        tls     => $o{tls} ? 1 : 0,
        path    => $o{path} // '/',
        timeout => $o{timeout} // 3,
        buf     => '',
        eof     => 0,
        skipped => [],
    }, $class;

    $self->{socket} = IO::Socket::INET->new(
        PeerAddr => $self->{host},
        PeerPort => $self->{port},
        Proto    => 'tcp',
        Timeout  => $self->{timeout},
    ) or Carp::croak("Test::NgxWs::Client: cannot connect to "
                     . "$self->{host}:$self->{port}: $@");

    binmode $self->{socket};
    setsockopt($self->{socket}, IPPROTO_TCP, TCP_NODELAY, 1);

    if (defined $o{rcvbuf}) {
        setsockopt($self->{socket}, SOL_SOCKET, SO_RCVBUF, $o{rcvbuf})
            or Carp::croak("Test::NgxWs::Client: SO_RCVBUF: $!");
    }

    $self->_start_tls(%o) if $self->{tls};

    $self->handshake(%o) if $o{handshake} // 1;

    return $self;
}


# TLS over the connected socket: the server's certificate is verified
# against tls_ca (default TEST_NGINX_TLS_CA) for the name tls_name (default
# localhost); tls_options are passed on to IO::Socket::SSL.  The socket is
# non-blocking afterwards, so a read or write never waits inside OpenSSL.

sub _start_tls {
    my ($self, %o) = @_;

    require IO::Socket::SSL;

    my $ca = $o{tls_ca} // $ENV{TEST_NGINX_TLS_CA};

    IO::Socket::SSL->start_SSL(
        $self->{socket},
        SSL_hostname        => $o{tls_name} // 'localhost',
        SSL_verifycn_scheme => 'http',
        SSL_verifycn_name   => $o{tls_name} // 'localhost',
        Timeout             => $self->{timeout},
        (defined $ca ? (SSL_ca_file => $ca) : ()),
        %{ $o{tls_options} // {} },
    ) or Carp::croak("Test::NgxWs::Client: TLS handshake with "
                     . "$self->{host}:$self->{port} failed: "
                     . "$IO::Socket::SSL::SSL_ERROR");

    $self->{socket}->blocking(0);
}


# The opening handshake: send the request, read and check the response.

sub handshake {
    my ($self, %o) = @_;

    my $req = $o{request};

    unless (defined $req) {
        $self->{key} = $o{key}
            // MIME::Base64::encode_base64(
                   pack('C16', map { int rand 256 } 1 .. 16), '');

        my @lines;
        my $h = $o{headers};

        if (ref $h eq 'HASH') {
            for my $name (sort keys %$h) {
                my $v = $h->{$name};
                push @lines, map { "$name: $_" } ref $v ? @$v : ($v);
            }

        } elsif (ref $h eq 'ARRAY') {
            for (my $i = 0; $i < @$h; $i += 2) {
                push @lines, "$h->[$i]: $h->[$i + 1]";
            }
        }

        my %hs = (
            key     => $self->{key},
            headers => \@lines,
            map { defined $o{$_} ? ($_ => $o{$_}) : () }
                qw(origin extensions method http version upgrade connection
                   no_key no_version no_upgrade no_connection no_host),
        );

        $hs{host} = $o{host_header} if defined $o{host_header};

        if (defined $o{protocol}) {
            $hs{protocol} = ref $o{protocol} ? join(', ', @{ $o{protocol} })
                                             : $o{protocol};
        }

        $req = WsFrame::ws_handshake($self->{path}, %hs);
    }

    $self->{request} = $req;
    $req .= $o{extra} if defined $o{extra};

    $self->raw_write($req)
        or Carp::croak("Test::NgxWs::Client: cannot send the handshake: "
                       . "$self->{write_error}");

    $self->read_handshake($o{timeout});

    if ($o{check} // 1 and defined $self->{error}) {
        Carp::croak("Test::NgxWs::Client: handshake failed: $self->{error}");
    }

    return $self;
}


sub read_handshake {
    my ($self, $timeout) = @_;

    my $deadline = Time::HiRes::time() + ($timeout // $self->{timeout});
    my $end;

    until (($end = index $self->{buf}, "\r\n\r\n") >= 0) {
        unless ($self->_fill($deadline)) {
            $self->{error} = $self->{eof}
                ? 'connection closed before the response header'
                : 'timed out reading the response header';
            return undef;
        }
    }

    my $head = substr $self->{buf}, 0, $end + 4, '';
    $self->{raw_headers} = substr $head, 0, $end;

    my ($status_line, @lines) = split /\r\n/, $self->{raw_headers};
    $self->{status_line} = $status_line;
    ($self->{status}) = $status_line =~ m{^HTTP/\d\.\d (\d{3})};

    my %h;
    for (@lines) {
        my ($name, $value) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        push @{ $h{lc $name} }, $value;
    }

    $self->{headers} = \%h;
    $self->{error} = undef;

    if (!defined $self->{status} || $self->{status} != 101) {
        $self->_read_body($deadline);
        $self->{error} = 'status ' . ($self->{status} // '(none)')
                         . ", not 101: $status_line";
        return $self->{status};
    }

    $self->{leftover} = $self->{buf};

    my $upgrade = $self->header('Upgrade') // '';
    my $conn = $self->header('Connection') // '';
    my $accept = $self->header('Sec-WebSocket-Accept');

    if ($upgrade !~ /^\s*websocket\s*$/i) {
        $self->{error} = "bad Upgrade header \"$upgrade\"";

    } elsif (!grep { /^\s*upgrade\s*$/i } split /,/, $conn) {
        $self->{error} = "no upgrade token in Connection \"$conn\"";

    } elsif (defined $self->{key}
             && (!defined $accept
                 || $accept ne WsFrame::ws_accept($self->{key})))
    {
        $self->{error} = 'bad Sec-WebSocket-Accept "' . ($accept // '') . '"';
    }

    return $self->{status};
}


sub _read_body {
    my ($self, $deadline) = @_;

    my $len = $self->header('Content-Length');

    if (defined $len && $len =~ /^\d+$/) {
        while (length $self->{buf} < $len) {
            last unless $self->_fill($deadline);
        }
        $self->{body} = substr $self->{buf}, 0, $len, '';
        return;
    }

    1 while $self->_fill($deadline);

    $self->{body} = $self->{buf};
    $self->{buf} = '';
}


# Accessors.

sub socket      { $_[0]{socket} }
sub status      { $_[0]{status} }
sub status_line { $_[0]{status_line} }
sub raw_headers { $_[0]{raw_headers} }
sub headers     { $_[0]{headers} }
sub body        { $_[0]{body} }
sub leftover    { $_[0]{leftover} }
sub error       { $_[0]{error} }
sub key         { $_[0]{key} }
sub request     { $_[0]{request} }
sub close_frame { $_[0]{close_frame} }
sub is_closed   { $_[0]{eof} }
sub timed_out   { $_[0]{timed_out} }
sub reset       { $_[0]{reset} }
sub tls         { $_[0]{tls} }

# TLS: the protocol version ("TLSv1_3"), and whether the server's
# close_notify alert came before the end of the connection
sub tls_version { $_[0]{tls} && $_[0]{socket} ? $_[0]{socket}->get_sslversion
                                              : undef }
sub tls_close_notify { $_[0]{close_notify} }

sub header {
    my ($self, $name) = @_;
    my $v = $self->{headers}{lc $name} or return wantarray ? () : undef;
    return wantarray ? @$v : join ', ', @$v;
}

sub subprotocol { scalar $_[0]->header('Sec-WebSocket-Protocol') }

sub skipped {
    my ($self) = @_;
    my @f = @{ $self->{skipped} };
    $self->{skipped} = [];
    return @f;
}


# Sending.

sub raw_write {
    my ($self, $data) = @_;

    local $SIG{PIPE} = 'IGNORE';

    my $s = $self->{socket};
    my $sel = IO::Select->new($s);
    my $deadline = Time::HiRes::time() + $self->{timeout};
    my $off = 0;

    $self->{write_error} = undef;

    while ($off < length $data) {
        my $left = $deadline - Time::HiRes::time();

        if ($left <= 0 || !$sel->can_write($left)) {
            $self->{write_error} = 'timed out';
            return 0;
        }

        # a TLS write that could not finish is retried with the same
        # bytes: IO::Socket::SSL returns how much of them went out
        my $n = syswrite $s, $data, length($data) - $off, $off;

        unless (defined $n) {
            next if $!{EINTR} || $!{EAGAIN};
            $self->{write_error} = $self->{tls} && !$!
                                   ? "$IO::Socket::SSL::SSL_ERROR" : "$!";
            return 0;
        }

        $off += $n;
    }

    return 1;
}

sub send_frame {
    my $self = shift;
    my %f;

    if (@_ && defined $_[0] && $FRAME_KEYS{ $_[0] }) {
        %f = @_;

    } else {
        my ($fin, $rsv, $opcode, $payload, $masked, $mask) = @_;
        %f = (fin => $fin, rsv => $rsv, opcode => $opcode,
              payload => $payload, masked => $masked, mask => $mask);
        defined $f{$_} or delete $f{$_} for keys %f;
    }

    return $self->raw_write(WsFrame::frame(%f));
}

sub send_text   { my ($s, $p, %o) = @_; $s->send_frame(%o, opcode => 1, payload => $p) }
sub send_binary { my ($s, $p, %o) = @_; $s->send_frame(%o, opcode => 2, payload => $p) }
sub send_cont   { my ($s, $p, %o) = @_; $s->send_frame(%o, opcode => 0, payload => $p) }
sub send_ping   { my ($s, $p, %o) = @_; $s->send_frame(%o, opcode => 9, payload => $p // '') }
sub send_pong   { my ($s, $p, %o) = @_; $s->send_frame(%o, opcode => 10, payload => $p // '') }

sub send_close {
    my ($self, $code, $reason, %o) = @_;
    return $self->send_frame(%o, opcode => 8,
                             payload => WsFrame::close_payload($code, $reason));
}

# With TLS a close_notify alert goes first, as the end of the TLS stream.
sub shutdown_write {
    my ($self) = @_;

    if ($self->{tls}) {
        Net::SSLeay::shutdown($self->{socket}->_get_ssl_object);
    }

    return shutdown $self->{socket}, 1;
}

# close(abort => 1): with TLS, drop the connection without close_notify,
# as a client that goes away abruptly does.
sub close {
    my ($self, %o) = @_;
    if ($self->{socket}) {
        if ($self->{tls}) {
            $self->{socket}->close($o{abort} ? (SSL_no_shutdown => 1)
                                             : (SSL_fast_shutdown => 1));
        } else {
            CORE::close $self->{socket};
        }
        $self->{socket} = undef;
    }
    $self->{eof} = 1;
}

sub DESTROY {
    my ($self) = @_;
    CORE::close $self->{socket} if $self->{socket};
}


# Reading.

# Reads more bytes into the buffer; false on EOF or when the deadline passes.
sub _fill {
    my ($self, $deadline) = @_;

    return 0 if $self->{eof};

    my $s = $self->{socket};
    my $sel = IO::Select->new($s);

    while (1) {
        my $left = $deadline - Time::HiRes::time();

        # decrypted bytes OpenSSL holds are not seen by select()
        unless ($self->{tls} && $s->pending) {
            if ($left <= 0 || !$sel->can_read($left)) {
                $self->{timed_out} = 1;
                return 0;
            }
        }

        my $n = sysread $s, $self->{buf}, 65536, length $self->{buf};

        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN};
            $self->{reset} = $self->{tls} && !$!
                             ? "$IO::Socket::SSL::SSL_ERROR" : "$!";
            $self->_seen_close_notify;
            $self->{eof} = 1;
            return 0;
        }

        if ($n == 0) {
            $self->_seen_close_notify;
            $self->{eof} = 1;
            return 0;
        }

        return 1;
    }
}

sub _seen_close_notify {
    my ($self) = @_;

    return unless $self->{tls};

    my $ssl = $self->{socket}->_get_ssl_object or return;

    $self->{close_notify} =
        Net::SSLeay::get_shutdown($ssl) & Net::SSLeay::RECEIVED_SHUTDOWN()
        ? 1 : 0;
}

sub _next_frame {
    my ($self) = @_;

    my $size = WsFrame::frame_size($self->{buf});
    return undef unless defined $size;

    my ($f) = WsFrame::decode(substr $self->{buf}, 0, $size, '');
    $f->{length} = length $f->{payload};

    if ($f->{opcode} == 8 && $f->{length} >= 2) {
        $f->{code} = unpack 'n', $f->{payload};
        $f->{reason} = substr $f->{payload}, 2;
    }

    return $f;
}

sub read_frame {
    my ($self, $timeout) = @_;

    my $deadline = Time::HiRes::time() + ($timeout // $self->{timeout});
    $self->{timed_out} = 0;

    while (1) {
        my $f = $self->_next_frame;
        return $f if $f;
        return undef unless $self->_fill($deadline);
    }
}

# The next frame that is not a Ping or a Pong, answering Pings (the
# server's heartbeat may come between messages when a test runs long).
sub read_data {
    my ($self, $timeout) = @_;

    my $deadline = Time::HiRes::time() + ($timeout // $self->{timeout});

    while (my $f = $self->read_frame($deadline - Time::HiRes::time())) {
        $self->send_pong($f->{payload}) if $f->{opcode} == 9;
        return $f unless $f->{opcode} == 9 || $f->{opcode} == 10;
    }

    return undef;
}

sub read {
    my ($self, %o) = @_;

    my $deadline = Time::HiRes::time() + ($o{timeout} // $self->{timeout});
    my @want = $o{all} ? @{ $o{all} } : ();
    my @got;

    $self->{timed_out} = 0;

    while (!$o{all} || @want) {
        my $f = $self->_next_frame;

        unless ($f) {
            last unless $self->_fill($deadline);
            next;
        }

        push @got, $f;

        for my $i (0 .. $#want) {
            if (_matches($f, $want[$i])) {
                splice @want, $i, 1;
                last;
            }
        }
    }

    return wantarray ? @got : \@got;
}

sub _matches {
    my ($f, $want) = @_;

    for my $k (keys %$want) {
        my ($w, $g) = ($want->{$k}, $f->{$k});
        return 0 unless defined $w ? defined $g && $g eq $w : !defined $g;
    }

    return 1;
}

sub wait_close {
    my ($self, $timeout) = @_;

    my $deadline = Time::HiRes::time() + ($timeout // $self->{timeout});

    while (1) {
        my $f = $self->read_frame($deadline - Time::HiRes::time());
        return wantarray ? () : undef unless $f;

        if ($f->{opcode} == 8) {
            $self->{close_frame} = $f;
            my $code = $f->{code} // 1005;
            return wantarray ? ($code, $f->{reason} // '') : $code;
        }

        push @{ $self->{skipped} }, $f;
    }
}

sub wait_eof {
    my ($self, $timeout) = @_;

    my $deadline = Time::HiRes::time() + ($timeout // $self->{timeout});

    while (!$self->{eof}) {
        while (my $f = $self->_next_frame) {
            push @{ $self->{skipped} }, $f;
        }
        last unless $self->_fill($deadline);
    }

    while (my $f = $self->_next_frame) {
        push @{ $self->{skipped} }, $f;
    }

    return $self->{eof} ? 1 : 0;
}

1;
