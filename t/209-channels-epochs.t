# Channels: message ids carry their channel's epoch.  A channel's ids start
# from the time it was made ((ms since 2024-01-01) * 4096 + 1, then one
# more per message), so that after a restart, a zone resize or a DELETE a
# client resuming with an id of the former channel is told history_lost,
# with the first id of the channel as it is now, and then gets its history:
# never the new messages after its old id as if they followed it.
#
# nginx runs with a master and two workers.  The scenarios run in each
# block's --- init and their checks are the first tests of the block; they
# compare the ids as the module sends them, not relative ones.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Channels qw(:DEFAULT gone start_nginx reload);

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 6, 2 => 5, 3 => 6);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

# ids are compared relative to their channel's (Test::NgxWs::Channels)
add_block_preprocessor(\&rel_bodies);

run_tests();


# --- scenarios ----------------------------------------------------------

# Publishes the messages; returns their ids, from the publisher's answers.
sub publish_ids {
    my ($channel, @msgs) = @_;
    my @ids;

    for my $m (@msgs) {
        my $r = publish($channel, $m);
        my ($id) = $r->{body} =~ /^\{"id":(\d+),/
            or die "publishing $m failed: " . answer($r);
        push @ids, $id;
    }

    return @ids;
}

# The ids are those of docs/channels.md: consecutive, of this millisecond
# (give or take the test's own time), and exact JSON numbers.
sub ids_ok {
    my ($name, @ids) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    my $now = (Time::HiRes::time() - 1704067200) * 1000;
    my $ms = int($ids[0] / 4096);
    my $bad;

    $bad //= "not consecutive: @ids"
        if grep { $ids[$_] != $ids[0] + $_ } 0 .. $#ids;
    $bad //= "not made now ($ms ms, now $now)"
        if $ms > $now + 1000 || $ms < $now - 60_000;
    $bad //= "the first is not 4096 * ms + 1: $ids[0]"
        if $ids[0] % 4096 != 1;
    $bad //= "above 2^53: $ids[-1]" if $ids[-1] >= 2**53;

    Test::More::is($bad // 'as documented', 'as documented', $name);
}

# After the channel was made anew: the new channel's ids are above the
# former ones, and a client resuming with $old (an id of the former
# channel) gets history_lost with the new first id, the new history and
# then a live message, and nothing else.
sub resume_old_ok {
    my ($name, $old, @before) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    my @new = publish_ids('room', map { "n$_" } 1 .. 5);

    ids_ok("$name: the new channel's ids", @new);
    Test::More::ok($new[0] > $before[-1],
                   "$name: its first id $new[0] is above the former last"
                   . " id $before[-1]");

    my $c = client("/sub?last_id=$old");
    my ($live) = publish_ids('room', 'live');

    my @want = ([1, '{"event":"history_lost","channel":"room",'
                    . qq("last_id":$old,"first_id":$new[0]})],
                (map { [1, qq({"channel":"room","id":$new[$_ - 1],)
                           . qq("data":"n$_"})] } 1 .. 5),
                [1, qq({"channel":"room","id":$live,"data":"live"})]);
    my $want = desc(map { { opcode => $_->[0], payload => $_->[1] } } @want);
    my $got = desc(read_frames($c, scalar @want + 1,
                               Time::HiRes::time() + 2));

    Test::More::is($got, $want,
                   "$name: resuming with $old gives history_lost (first id"
                   . " $new[0]), then the new history, nothing as a"
                   . " follower of $old");

    close_all_ok("$name: the client leaves", $c);
}

# TEST 1: stop and start nginx: the zone is made again.
sub restart {
    my @before = publish_ids('room', map { "m$_" } 1 .. 3);
    ids_ok('restart: the ids before', @before);

    my $sub = client('/sub');
    publish_ids('room', 'm4');
    push @before, $before[-1] + 1;
    read_frames($sub, 1, Time::HiRes::time() + 2);

    my $master = master_pid();
    kill 'QUIT', $master or die "kill QUIT $master: $!";

    my ($code, $reason) = $sub->wait_close(3);
    $sub->send_close(1000);
    $sub->close;

    Test::More::is(($code // 'none') . ' ' . ($reason // ''),
                   "1001 resume:room=$before[-1]",
                   'restart: the subscriber is told its last id on the way'
                   . ' out');

    my $deadline = Time::HiRes::time() + 5;
    Time::HiRes::sleep(0.02)
        until gone($master) || Time::HiRes::time() > $deadline;
    die "nginx did not exit" unless gone($master);

    start_nginx();

    my ($old) = ($reason // '') =~ /^resume:room=(\d+)$/;
    resume_old_ok('restart', $old // $before[-1], @before);
}

# TEST 2: a reload with another zone size: the zone starts empty.
sub resize {
    my @before = publish_ids('room', map { "m$_" } 1 .. 3);
    ids_ok('resize: the ids before', @before);

    my $conf = "$ENV{TEST_NGINX_SERVER_ROOT}/conf/nginx.conf";
    open my $in, '<', $conf or die "$conf: $!";
    my $text = do { local $/; <$in> };
    close $in;
    $text =~ s/ws_zone chat 1m /ws_zone chat 2m / or die "no ws_zone in $conf";
    open my $out, '>', $conf or die "$conf: $!";
    print $out $text;
    close $out;

    reload();

    die "the channel survived the resize"
        unless http('GET', '/pub?channel=room')->{status} == 404;

    resume_old_ok('resize', $before[-1], @before);
}

# TEST 3: DELETE, and a publish at once makes the channel again.
sub delete_channel {
    my @before = publish_ids('room', map { "m$_" } 1 .. 3);
    ids_ok('delete: the ids before', @before);

    my $sub = client('/sub');
    my $r = http('DELETE', '/pub?channel=room');
    my ($code, $reason) = $sub->wait_close(3);
    $sub->send_close(1000);
    $sub->close;

    Test::More::is("$r->{status} " . ($code // 'none') . ' ' . ($reason // ''),
                   '200 1000 channel deleted',
                   'delete: deleted, its subscriber closed');

    resume_old_ok('delete', $before[-1], @before);
}

__DATA__

=== TEST 1: a restart: an id of the former channel gets history_lost with the new first id
--- http_config
    ws_zone chat 1m history=8;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::restart();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":6,"history":6}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: a resized zone: an id of the former channel gets history_lost with the new first id
--- http_config
    ws_zone chat 1m history=8;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::resize();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":6,"history":6}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: DELETE then publish: an id of the former channel gets history_lost with the new first id
--- http_config
    ws_zone chat 1m history=8;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::delete_channel();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":6,"history":6}
--- no_error_log
[error]
[alert]
[crit]
