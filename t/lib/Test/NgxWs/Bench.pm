package Test::NgxWs::Bench;

# The programs of bench/ in a test's --- init (t/050, t/051): built by
# make, then run with their result line read back.
#
#   return unless Test::NgxWs::Bench::built($name, qw(wsbench echo-epoll));
#   my ($rc, $out, %r) = Test::NgxWs::Bench::run("bench/wsbench echo ...");
#
# built() is a failing check that shows make's output when they do not
# build (the block's verdict then).  run() gives the command's exit
# status, its output (stdout and stderr) and the key=value fields of its
# last "result" line.  echo_ok($name, $url, @args) runs "wsbench echo
# @args $url" and checks its result: no error of any kind, every
# connection established and closed with the close handshake, messages
# echoed, and with --smoke a Pong for each connection's Ping.

use strict;
use warnings;

use Test::More ();

our $VERSION = '0.01';

sub built {
    my ($name, @targets) = @_;

    @targets = ('wsbench') unless @targets;

    my $out = `make -s -C bench @targets 2>&1`;
    return 1 if $? == 0;

    Test::More::ok(0, "$name: bench builds @targets")
        or Test::More::diag($out);
    return 0;
}

sub run {
    my ($cmd) = @_;

    my $out = `$cmd 2>&1`;
    my $rc = $?;
    my ($res) = $out =~ /^result (.*)$/m;

    return ($rc, $out, map { split /=/, $_, 2 } split ' ', ($res // ''));
}

sub echo_ok {
    my ($name, $url, @args) = @_;

    my ($rc, $out, %r) = run("timeout 30 bench/wsbench echo @args $url");
    my $conns = $r{conns} // -1;

    Test::More::ok($rc == 0
                   && defined $r{errors} && $r{errors} eq '0'
                   && ($r{messages} // 0) > 0
                   && ($r{established} // -1) == $conns
                   && ($r{close_clean} // -1) == $conns
                   && (!grep({ $_ eq '--smoke' } @args)
                       || ($r{pongs} // -1) == $conns),
                   "$name: no error, messages echoed")
        or Test::More::diag($out);
}

1;
