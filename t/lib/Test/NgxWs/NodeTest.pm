package Test::NgxWs::NodeTest;

# Runs a node --test suite and reports each of its top-level tests as a
# Test::More test ("js: NAME"), with the failures' details as diagnostics;
# then one test for node's exit status.  Returns the number of node's
# tests.
#
#   use lib 't/lib';
#   use Test::More;
#   use Test::NgxWs::NodeTest ();
#   my $n = Test::NgxWs::NodeTest::run('clients/js/test/');

use strict;
use warnings;

use Test::More ();

sub run {
    my @paths = @_;

    # one file at a time where node can be told so (>= 20.10): the machine
    # is shared, and timing tests stay honest
    my @one = `node --help` =~ /--test-concurrency/
              ? ('--test-concurrency=1') : ();

    # a suite that hangs fails (its tests have their own timeouts too)
    open my $node, '-|', 'timeout', '-k', '10', '600',
         'node', '--test', '--test-reporter=tap', @one, @paths
        or die "node: $!";

    my ($count, $failing) = (0, 0);

    while (my $line = <$node>) {
        if ($line =~ /^(not )?ok \d+ - (.*)$/) {
            $count++;
            $failing = defined $1;
            Test::More::ok(!$failing, "js: $2");
        } elsif ($line =~ /^\S/) {
            $failing = 0;
            Test::More::diag($line) if $line =~ /^# (fail|cancelled) [1-9]/;
        } elsif ($failing) {
            Test::More::diag($line);         # the failure's details
        }
    }

    close $node;
    Test::More::is($?, 0, "node --test @paths exits with 0");

    return $count;
}

1;
