# Long-poll subscribers (ws_longpoll): a GET with a last id answers at once
# the messages after it as one JSON batch (at most 64), or waits until one
# arrives, or answers an empty batch after ws_longpoll_timeout; the next
# GET continues from the batch's last_id, so that nothing is lost or
# twice; history_lost and binary messages are entries of the batch.
#
# The scenarios run in each block's --- init and their checks are the
# first tests of the block.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;

use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use MIME::Base64 ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

my %INIT_TESTS = (1 => 9, 2 => 2);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- scenarios ----------------------------------------------------------

# A poll sent now, answered later: the socket.
sub poll_start {
    my ($uri, %h) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
                                  Proto => 'tcp', Timeout => 3)
        or die "connect: $!";
    binmode $s;

    my $req = "GET $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    syswrite $s, "$req\r\n";

    return $s;
}

# The answer of a poll: [status, decoded JSON or undef, seconds waited].
sub poll_end {
    my ($s, $t0) = @_;
    my ($buf, $sel) = ('', IO::Select->new($s));
    my $deadline = Time::HiRes::time() + 5;

    while ((my $left = $deadline - Time::HiRes::time()) > 0) {
        last unless $sel->can_read($left);
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;
    }

    close $s;

    my ($status) = $buf =~ m{^HTTP/1\.\d (\d{3})};
    my ($body) = $buf =~ /\r\n\r\n(.*)\z/s;
    my $json = eval { JSON::PP::decode_json($body // '') };

    return [$status // 0, $json, Time::HiRes::time() - $t0];
}

sub poll {
    my ($uri, %h) = @_;
    my $t0 = Time::HiRes::time();
    return poll_end(poll_start($uri, %h), $t0);
}

# "data@N,data@N last=N" with ids relative to the channel's
sub show {
    my ($channel, $j) = @_;
    return 'no JSON' unless $j;
    my $rel = sub {
        my ($id) = @_;
        for my $k (0 .. 1000) { return $k if $id == id_of($channel, $k) }
        return "raw:$id";
    };
    my @m = map {
        ($_->{event} ? "$_->{event}:" . JSON::PP->new->canonical
                                               ->encode($_->{data})
                     : $_->{binary} ? 'b64:' . MIME::Base64::decode_base64(
                                                   $_->{data})
                     : $_->{data})
        . '@' . $rel->($_->{id})
    } @{ $j->{messages} };
    my ($last) = ($j->{last_id} // '') =~ /=(\d+)$/;
    return join(',', @m) . ' last=' . (defined $last ? $rel->($last) : '-');
}

sub basic {
    publish('a', "a$_") for 1 .. 3;

    my $r = poll('/lp?ch=a&last_id=' . id_of('a', 1));
    Test::More::is(show('a', $r->[1]), 'a2@2,a3@3 last=3',
                   'messages after the last id, at once');
    Test::More::ok($r->[2] < 0.4, 'without waiting');
    Test::More::is($r->[1]{last_id}, 'a=' . id_of('a', 3),
                   'last_id is a ws_last_id value');

    my $last = $r->[1]{last_id};
    my $t0 = Time::HiRes::time();
    my $s = poll_start('/lp?ch=a', 'Last-Event-ID' => $last);
    Time::HiRes::sleep(0.3);
    publish('a', 'a4');
    $r = poll_end($s, $t0);
    Test::More::ok(show('a', $r->[1]) eq 'a4@4 last=4' && $r->[2] >= 0.3,
                   'a poll waits for the next message (' . show('a', $r->[1])
                   . ", $r->[2]s)");

    $r = poll('/lp?ch=a&last_id=' . id_of('a', 4));
    Test::More::ok(show('a', $r->[1]) eq ' last=4' && $r->[2] >= 0.45,
                   'the timeout answers an empty batch, the same last_id ('
                   . show('a', $r->[1]) . ", $r->[2]s)");

    publish('a', "m$_") for 5 .. 74;
    $r = poll('/lp?ch=a&last_id=' . id_of('a', 4));
    my $n = @{ $r->[1]{messages} // [] };
    Test::More::is("$n " . show('a', { messages => [], %{ $r->[1] // {} },
                                      messages => [] }),
                   '64  last=68', 'a batch holds at most 64 messages');

    $r = poll('/lp?ch=a&last_id=' . id_of('a', 68));
    Test::More::is(scalar @{ $r->[1]{messages} // [] } . ' '
                   . $r->[1]{messages}[0]{data},
                   '6 m69', 'the next poll continues from its last_id');

    publish('b', "\x00\x01bin", type => 'application/octet-stream');
    $r = poll('/lp?ch=b&last_id=0');
    Test::More::is(show('b', $r->[1]), "b64:\x00\x01bin\@1 last=1",
                   'a binary message: base64, "binary":true');

    $t0 = Time::HiRes::time();
    $s = poll_start('/lp?ch=c');
    Time::HiRes::sleep(0.2);
    publish('c', 'new');
    $r = poll_end($s, $t0);
    Test::More::is(show('c', $r->[1]), 'new@1 last=1',
                   'no last id: the next message');
}

sub lost {
    publish('h', "h$_") for 1 .. 8;

    my $r = poll('/lp?ch=h&last_id=' . id_of('h', 1));
    Test::More::is(show('h', $r->[1]),
                   'history_lost:{"channel":"h","event":"history_lost",'
                   . '"first_id":' . id_of('h', 5) . ',"last_id":'
                   . id_of('h', 1) . '}@4,h5@5,h6@6,h7@7,h8@8 last=8',
                   'history_lost is an entry, then what is left');
    Test::More::is($r->[0], 200, 'status 200');
}

__DATA__

=== TEST 1: batches, waiting, timeout, continuation, binary
--- http_config
    ws_zone chat 1m history=100;
--- config
    location /lp {
        ws_longpoll;
        ws_subscribe chat $arg_ch;
        ws_longpoll_timeout 500ms;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::basic();
--- request
GET /pub?channel=a
--- response_body_like: ^\{"channel":"a","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: history_lost
--- http_config
    ws_zone chat 1m history=4;
--- config
    location /lp {
        ws_longpoll;
        ws_subscribe chat $arg_ch;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::lost();
--- request
GET /pub?channel=h
--- response_body_like: ^\{"channel":"h","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]
