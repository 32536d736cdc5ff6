# permessage-deflate on channels: subscribers that negotiated the extension
# get channel messages compressed (RSV1) and those that did not get them
# plain; a worker compresses each message once for all its subscribers
# with the same parameters (counted through the debug line "ws deflate
# shared frame", per worker pid), a subscriber with other parameters gets
# its own; replayed history is compressed too; messages from a ws_publish
# client are inflated before they are stored.
#
# nginx runs with a master and two workers; the scenarios run in each
# block's --- init and their checks are the first tests of the block.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

my %INIT_TESTS = (1 => 6, 2 => 3, 3 => 3);

our $PD = 'permessage-deflate';

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

# ids are compared relative to their channel's (Test::NgxWs::Channels)
add_block_preprocessor(\&rel_bodies);

run_tests();


sub msg { "channel message $_[0]: " . ('the same words again and again ' x 10) }

sub deflate_client {
    my ($path, $ext) = @_;
    my $c = Test::NgxWs::Client->new(path => $path, timeout => 3,
                                     extensions => $ext // $PD);
    $c->{inflate} = WsFrame::inflater();
    return $c;
}

# Opens $n subscribers with deflate, two or more in each worker, and
# $plain without.
sub spread_deflate {
    my ($path, $n, $plain) = @_;
    my @z = map { $_->[0] } spread_by(sub { deflate_client($path) }, $n, 2);
    my @p = map { client($path) } 1 .. $plain;

    return (\@z, \@p);
}

# The frames a connection receives, as "rsv:opcode:payload" with
# compressed payloads inflated.
sub got {
    my ($c, $n) = @_;
    my $deadline = Time::HiRes::time() + 5;
    return join ' | ', map {
        my $p = $_->{rsv} & 4 ? $c->{inflate}->($_->{payload})
                              : $_->{payload};
        "$_->{rsv}:$_->{opcode}:$p"
    } read_frames($c, $n, $deadline);
}

# "ws deflate shared frame" lines of the error log, per worker pid
sub shared_frames {
    my ($from) = @_;
    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log";
    open my $fh, '<', $log or die "$log: $!";
    seek $fh, $from, 0;
    my %n;
    while (<$fh>) {
        $n{$1}++ if /\[debug\] (\d+)#\d+: .*ws deflate shared frame/;
    }
    return \%n;
}

sub log_size { -s "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log" }

# TEST 1: 5 messages to 20 deflate and 4 plain subscribers in two workers;
# one deflate frame per message and worker.
sub fanout {
    my ($z, $p) = spread_deflate('/sub', 20, 4);

    both_workers_ok('deflate fan-out', @$z);

    my $from = log_size();
    my @want = map { msg($_) } 1 .. 5;

    my $bad;
    for my $i (1 .. 5) {
        my $r = publish('room', msg($i));
        $bad //= "publish $i: " . answer($r) if $r->{status} != 200;
    }

    Test::More::is($bad // 'published', 'published', 'the 5 messages published');

    my $zwant = join ' | ', map { "4:1:$_" } @want;
    my $pwant = join ' | ', map { "0:1:$_" } @want;

    my ($zbad, $pbad);
    for my $i (0 .. $#$z) {
        my $g = got($z->[$i], 5);
        $zbad //= "deflate subscriber $i: $g" if $g ne $zwant;
    }
    for my $i (0 .. $#$p) {
        my $g = got($p->[$i], 5);
        $pbad //= "plain subscriber $i: $g" if $g ne $pwant;
    }

    Test::More::is($zbad // 'all compressed', 'all compressed',
                   'deflate subscribers get the messages compressed');
    Test::More::is($pbad // 'all plain', 'all plain',
                   'plain subscribers get them plain');

    # the debug lines are written when the frames are made
    my $n = shared_frames($from);
    my @workers = workers_of(master_pid());
    Test::More::is(join(' ', map { $n->{$_} // 0 } @workers),
                   join(' ', map { 5 } @workers),
                   'each worker compressed each message once');

    close_all_ok('deflate fan-out', @$z, @$p);

    wait_unsubscribed('room');
}

# TEST 2: a subscriber with other parameters (server_max_window_bits=10)
# gets its own compressed frames; replayed history is compressed.
sub keys_and_history {
    my $a = deflate_client('/sub');
    my $b = deflate_client('/sub', "$PD; server_max_window_bits=10");
    my $c = deflate_client('/sub', "$PD; client_no_context_takeover");

    publish('room', msg($_)) for 1 .. 3;

    my $want = join ' | ', map { "4:1:" . msg($_) } 1 .. 3;
    my @got = map { got($_, 3) } $a, $b, $c;

    Test::More::is(join("\n", @got), join("\n", ($want) x 3),
                   'three parameter sets, all compressed and right');

    # a late subscriber asks for what it missed
    my $late = deflate_client('/sub?last_id=0');

    Test::More::is(got($late, 3), $want, 'replayed history is compressed');

    close_all_ok('keys and history', $a, $b, $c, $late);

    wait_unsubscribed('room');
}

# TEST 3: a ws_publish client sends compressed messages; subscribers with
# and without deflate get them right.
sub publish_compressed {
    my $zs = deflate_client('/sub');
    my $ps = client('/sub');
    my $pub = deflate_client('/say');

    $pub->raw_write(WsFrame::ws_text_z(msg(1)) . WsFrame::ws_text_z(msg(2)));

    my $want = join ' | ', map { "4:1:" . msg($_) } 1 .. 2;
    (my $pwant = $want) =~ s/(^| \| )4:/${1}0:/g;

    Test::More::is(got($zs, 2), $want, 'the deflate subscriber');
    Test::More::is(got($ps, 2), $pwant, 'the plain subscriber');

    $pub->send_close(1000);
    $pub->wait_close(3);

    close_all_ok('publish compressed', $zs, $ps);

    wait_unsubscribed('room');
}

__DATA__

=== TEST 1: one compressed frame per message and worker for all deflate subscribers
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_deflate on;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::fanout();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":5,"history":5}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: other parameters get their own frame; history replays compressed
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_deflate on;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::keys_and_history();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":3,"history":3}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: a ws_publish client's compressed messages are stored inflated
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_deflate on;
        ws_subscribe chat room;
    }
    location /say {
        websocket;
        ws_deflate on;
        ws_publish chat room;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::publish_compressed();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":2,"history":2}
--- no_error_log
[error]
[alert]
[crit]
