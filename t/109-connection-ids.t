# Connection ids ($ws_connection_id, X-WS-Connection-Id, the push channel
# "@id") cannot be guessed: 128 bits from the kernel's random generator in
# 32 hex digits.  Many connections, served by two workers, get ids that
# are all distinct, of that form, and without structure: no common prefix,
# no counter (each of the 32 positions takes many of the 16 digits).
# The ws_on_connect reply tells each client its own id.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Client ();

master_on();
workers(2);
repeat_each(1);

use constant CONNS => 300;

plan tests => repeat_each() * (blocks() * 4 + 5);

no_shuffle();
no_long_string();

run_tests();


sub ids {
    my @ids;

    for (1 .. CONNS) {
        my $c = Test::NgxWs::Client->new(path => '/ws', timeout => 3);
        my $f = $c->read_frame(3);
        push @ids, $f ? $f->{payload} : '(none)';
        $c->send_close(1000);
        $c->wait_eof(3);
        $c->close;
    }

    my @bad = grep { !/\A[0-9a-f]{32}\z/ } @ids;
    Test::More::is(scalar @bad, 0, 'every id is 32 hex digits'
                                   . (@bad ? " (not: $bad[0])" : ''));

    my %seen;
    $seen{$_}++ for @ids;
    Test::More::is(scalar keys %seen, CONNS, 'every id is different');

    # the fewest different digits any position takes
    my $min = 16;

    for my $i (0 .. 31) {
        my %d = map { substr($_, $i, 1) => 1 } @ids;
        my $n = keys %d;
        $min = $n if $n < $min;
    }

    Test::More::cmp_ok($min, '>=', 12,
                       'every position of the ids takes many digits'
                       . ' (no prefix, no counter)');

    my $prefix = 0;
    $prefix++ while $prefix < 32
                    && !grep { substr($_, 0, $prefix + 1)
                               ne substr($ids[0], 0, $prefix + 1) } @ids;
    Test::More::is($prefix, 0, 'the ids share no prefix');

    # consecutive ids of one worker do not differ by a small step
    my $steps = grep {
        my ($a, $b) = (hex substr($ids[$_ - 1], 24), hex substr($ids[$_], 24));
        abs($b - $a) < 1000
    } 1 .. $#ids;
    Test::More::cmp_ok($steps, '<', 3, 'no counter in the last digits');
}

__DATA__

=== TEST 1: ids are random, 128 bits in hex
--- config
    location /ws {
        websocket;
        ws_on_connect /id;
    }

    location = /id {
        internal;
        default_type text/plain;
        return 200 $http_x_ws_connection_id;
    }
--- init
main::ids();
--- raw_request eval
WsFrame::ws_handshake('/ws') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body_like: \A\x81\x20[0-9a-f]{32}\x88\x02\x03\xe8\z
--- no_error_log
[error]
[alert]
