package Test::NgxWs::TLSRelay;

# Runs an unchanged Test::Nginx file over TLS (util/run-tests-tls).
# Test::Nginx's client sends raw requests over plain TCP only, so this
# module, loaded through PERL5OPT before the test file, puts a relay in
# between:
#
#   runner/client --plain--> relay 127.0.0.1:(server port + 4)
#                 --TLS----> nginx 127.0.0.1:(server port), "listen ... ssl"
#
# - TEST_NGINX_CLIENT_PORT is set to the relay's port, which both runners
#   (and Test::NgxWs::Client) connect to;
# - every block that has a --- config gets, in the generated server,
#   "listen 127.0.0.1:<server port> ssl;" and the certificate made by
#   Test::NgxWs::TLS.  nginx then serves 127.0.0.1 with TLS, so a client
#   that bypasses the relay fails instead of silently testing plain TCP;
# - the relay verifies nginx's certificate against the test CA, forwards
#   each read as it comes (a packet of a raw request stays a TLS record of
#   its own), and passes the ends on: the client's EOF becomes close_notify
#   and a write shutdown towards nginx, nginx's end (close_notify or EOF)
#   becomes a FIN towards the client, a reset on either side a reset on
#   the other.
#
# Loaded by any other perl (prove itself) it does nothing.

use strict;
use warnings;

use Errno ();
use IO::Select ();
use IO::Socket::INET ();
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER IPPROTO_TCP TCP_NODELAY);
use Time::HiRes ();

use Test::NgxWs::TLS ();

our ($Pid, $Port, $Listener);

my $active = $ENV{TEST_NGINX_WS_TLS} && $0 =~ /\.t\z/;

if ($active) {
    Test::NgxWs::TLS::setup();

    $Port = $ENV{TEST_NGINX_TLS_RELAY_PORT}
            //= Test::NgxWs::TLS::server_port() + 4;

    # the runners read TEST_NGINX_CLIENT_PORT when they are loaded
    $ENV{TEST_NGINX_CLIENT_PORT} = $Port;

    start();
}

INIT {
    return unless $active;

    my $add = Test::Nginx::Util->can('add_block_preprocessor')
        or return;

    # added before the test file's own preprocessors, so it runs after
    # them and sees the config they set
    $add->(\&preprocess);
}

END {
    stop() if $active;
}


sub preprocess {
    my ($block) = @_;

    my $config = $block->config;
    return unless defined $config;

    my $port = Test::NgxWs::TLS::server_port();

    $block->set_value('config', <<"_EOC_" . $config);
    listen 127.0.0.1:$port ssl;
    ssl_certificate      $ENV{TEST_NGINX_TLS_CERT};
    ssl_certificate_key  $ENV{TEST_NGINX_TLS_KEY};
_EOC_
}


sub start {
    $Listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $Port, Proto => 'tcp',
                                      Listen => 64, ReuseAddr => 1)
        or die "Test::NgxWs::TLSRelay: cannot listen on 127.0.0.1:$Port: $!";

    my $parent = $$;

    $Pid = fork // die "fork: $!";

    if ($Pid == 0) {
        $SIG{PIPE} = 'IGNORE';
        $SIG{TERM} = sub { POSIX::_exit(0) };
        eval { relay($parent); 1 } or print STDERR "TLS relay: $@";
        POSIX::_exit(0);
    }

    close $Listener;
}

sub stop {
    return unless $Pid && $$ != 0;

    local ($?, $!);

    kill 'TERM', $Pid;
    waitpid $Pid, 0;
    $Pid = undef;
}


# One pair per client connection: c (plain) and s (TLS), with what waits
# to be written each way, and whether each side has ended.

sub relay {
    my ($parent) = @_;

    require IO::Socket::SSL;

    my @pairs;

    # a relay whose test was killed goes with it, rather than hold the
    # port for the runs that follow
    while (getppid() == $parent) {
        my $rsel = IO::Select->new($Listener);
        my $wsel = IO::Select->new;
        my $pending = 0;

        for my $p (@pairs) {
            $rsel->add($p->{c}) unless $p->{c_eof} || length $p->{to_s};
            $rsel->add($p->{s}) unless $p->{s_eof} || length $p->{to_c};
            $wsel->add($p->{c}) if length $p->{to_c};
            $wsel->add($p->{s}) if length $p->{to_s};
            $pending = 1 if !$p->{s_eof} && $p->{s}->pending;
        }

        my ($r, $w) = IO::Select->select($rsel, $wsel, undef,
                                         $pending ? 0 : 1);
        my %ready = map { ($_ => 1) } @{ $r // [] }, @{ $w // [] };

        if ($ready{$Listener}) {
            my $p = accept_pair();
            push @pairs, $p if $p;
        }

        for my $p (@pairs) {
            pump($p, \%ready);
        }

        @pairs = grep { !$_->{done} } @pairs;
    }
}

sub accept_pair {
    my $c = $Listener->accept or return undef;

    setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);

    my $s = IO::Socket::SSL->new(
        PeerAddr        => '127.0.0.1',
        PeerPort        => Test::NgxWs::TLS::server_port(),
        SSL_hostname    => 'localhost',
        SSL_ca_file     => $ENV{TEST_NGINX_TLS_CA},
        SSL_verifycn_scheme => 'http',
        SSL_verifycn_name   => 'localhost',
        Timeout         => 5,
    );

    unless ($s) {
        print STDERR "TLS relay: cannot connect to nginx: ",
                     "$IO::Socket::SSL::SSL_ERROR\n";
        reset_socket($c);
        return undef;
    }

    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    $c->blocking(0);
    $s->blocking(0);

    return { c => $c, s => $s, to_c => '', to_s => '' };
}

sub pump {
    my ($p, $ready) = @_;

    my ($c, $s) = @$p{qw(c s)};

    # client -> nginx

    if (!$p->{c_eof} && $ready->{$c}) {
        my $n = sysread $c, $p->{to_s}, 65536, length $p->{to_s};

        if (!defined $n) {
            return abort($p) unless $!{EAGAIN} || $!{EINTR};

        } elsif ($n == 0) {
            $p->{c_eof} = 1;
        }
    }

    if (length $p->{to_s}) {
        # a TLS write that could not finish is retried with the same bytes
        my $n = syswrite $s, $p->{to_s};

        if (defined $n) {
            substr($p->{to_s}, 0, $n) = '';

        } elsif (!$!{EAGAIN} && !$!{EINTR}) {
            return abort($p);
        }
    }

    if ($p->{c_eof} && !length $p->{to_s} && !$p->{s_shut}) {
        $p->{s_shut} = 1;
        Net::SSLeay::shutdown($s->_get_ssl_object);
        shutdown $s, 1;
    }

    # nginx -> client

    if (!$p->{s_eof} && ($ready->{$s} || $s->pending)) {
        my $n = sysread $s, $p->{to_c}, 65536, length $p->{to_c};

        if (!defined $n) {
            unless ($!{EAGAIN} || $!{EINTR}) {
                # a reset, or an end without close_notify
                $p->{s_eof} = 1;
                $p->{s_reset} = 1 if $!{ECONNRESET};
            }

        } elsif ($n == 0) {
            $p->{s_eof} = 1;
        }
    }

    if (length $p->{to_c}) {
        my $n = syswrite $c, $p->{to_c};

        if (defined $n) {
            substr($p->{to_c}, 0, $n) = '';

        } elsif (!$!{EAGAIN} && !$!{EINTR}) {
            return abort($p);
        }
    }

    if ($p->{s_eof} && !length $p->{to_c}) {
        if ($p->{s_reset}) {
            return abort($p);
        }

        shutdown $c, 1 unless $p->{c_shut}++;

        if ($p->{c_eof}) {
            close_pair($p);
        }
    }
}

sub reset_socket {
    my ($sock) = @_;
    setsockopt($sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    CORE::close $sock;
}

sub abort {
    my ($p) = @_;

    reset_socket($p->{c});
    $p->{s}->close(SSL_no_shutdown => 1);
    $p->{done} = 1;
}

sub close_pair {
    my ($p) = @_;

    CORE::close $p->{c};
    $p->{s}->close(SSL_fast_shutdown => 1);
    $p->{done} = 1;
}

1;
