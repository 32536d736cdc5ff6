package Test::NgxWs::Sse;

# A raw-socket EventSource client for the ws_sse tests: sends a GET with
# the given headers, reads the response header, then decodes the chunked
# (or close-delimited) stream as it comes and parses its events.

use strict;
use warnings;

use IO::Select ();
use IO::Socket::INET ();
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Time::HiRes ();

our $VERSION = '0.01';

# new(path => '/sse?ch=a', headers => { 'Last-Event-ID' => 'x' },
#     rcvbuf => bytes, http10 => 1)
sub new {
    my ($class, %o) = @_;

    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, $o{rcvbuf}) if $o{rcvbuf};
    my $addr = Socket::pack_sockaddr_in($o{port}
                                        // $ENV{TEST_NGINX_SERVER_PORT},
                                        Socket::inet_aton('127.0.0.1'));
    connect($s, $addr) or die "connect: $!";
    binmode $s;

    my $proto = $o{http10} ? 'HTTP/1.0' : 'HTTP/1.1';
    my $req = "GET $o{path} $proto\r\nHost: localhost\r\n"
              . "Accept: text/event-stream\r\n";
    my $h = $o{headers} // {};
    $req .= "$_: $h->{$_}\r\n" for sort keys %$h;
    $req .= "\r\n";
    syswrite $s, $req;

    my $self = bless { sock => $s, raw => '', body => '', head => undef,
                       status => 0, headers => {}, eof => 0, done => 0,
                       pos => 0 }, $class;

    $self->wait_head($o{timeout} // 3) unless $o{no_read};

    return $self;
}

sub fill {
    my ($self, $timeout) = @_;
    return 0 if $self->{eof};

    my $sel = IO::Select->new($self->{sock});
    return 0 unless $sel->can_read($timeout);

    my $n = sysread $self->{sock}, $self->{raw}, 65536, length $self->{raw};

    if (!$n) {
        $self->{eof} = 1;
        return 0;
    }

    $self->decode;
    return 1;
}

sub decode {
    my ($self) = @_;

    unless (defined $self->{head}) {
        my $end = index $self->{raw}, "\r\n\r\n";
        return if $end < 0;

        $self->{head} = substr $self->{raw}, 0, $end + 4, '';
        my ($st, @lines) = split /\r\n/, $self->{head};
        ($self->{status}) = $st =~ m{^HTTP/1\.\d (\d{3})};
        for (@lines) {
            my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
            $self->{headers}{ lc $k } = $v;
        }
        $self->{chunked} =
            ($self->{headers}{'transfer-encoding'} // '') =~ /chunked/i;
    }

    unless ($self->{chunked}) {
        $self->{body} .= $self->{raw};
        $self->{raw} = '';
        return;
    }

    while ($self->{raw} =~ /\A([0-9a-fA-F]+)[^\r\n]*\r\n/) {
        my $len = hex $1;
        my $hl = length($&);
        last if length($self->{raw}) < $hl + $len + 2;
        $self->{body} .= substr $self->{raw}, $hl, $len;
        substr($self->{raw}, 0, $hl + $len + 2, '');
        if ($len == 0) {
            $self->{done} = 1;
            last;
        }
    }
}

sub wait_head {
    my ($self, $timeout) = @_;
    my $deadline = Time::HiRes::time() + $timeout;

    while (!defined $self->{head}) {
        my $left = $deadline - Time::HiRes::time();
        last if $left <= 0 || $self->{eof};
        $self->fill($left);
    }

    return $self->{status};
}

# The events of the stream so far: hashes { id, event, data } (data lines
# joined with "\n"), comments as { comment => text }, retry as
# { retry => N }; only complete ones (ended by a blank line).
sub events {
    my ($self) = @_;
    my @ev;

    for my $block (split /\n\n/, $self->{body} . "\0") {
        last if $block =~ /\0\z/ && $block ne "\0";
        next if $block eq "\0" || $block eq '';
        my %e;
        for my $line (split /\n/, $block) {
            if ($line =~ /^:\s?(.*)/) { $e{comment} = $1; next }
            my ($k, $v) = $line =~ /^([^:]*):\s?(.*)$/ or next;
            if ($k eq 'data') {
                $e{data} = defined $e{data} ? "$e{data}\n$v" : $v;
            } else {
                $e{$k} = $v;
            }
        }
        push @ev, \%e;
    }

    return @ev;
}

# Only the message events (with data), from the n-th one on.
sub messages {
    my ($self) = @_;
    return grep { defined $_->{data} } $self->events;
}

# Reads until $cond->($self) is true, the stream ends or $timeout passes;
# returns the condition's last value.
sub wait_for {
    my ($self, $cond, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 3);

    until ($cond->($self)) {
        my $left = $deadline - Time::HiRes::time();
        return $cond->($self) if $left <= 0 || $self->{eof};
        $self->fill($left);
    }

    return 1;
}

sub wait_messages {
    my ($self, $n, $timeout) = @_;
    $self->wait_for(sub { scalar($_[0]->messages) >= $n }, $timeout);
    return $self->messages;
}

# Reads until the server ends the stream (the last chunk, or EOF).
sub wait_end {
    my ($self, $timeout) = @_;
    return $self->wait_for(sub { $_[0]{done} || $_[0]{eof} }, $timeout);
}

sub close { my ($self) = @_; close $self->{sock}; }

1;
