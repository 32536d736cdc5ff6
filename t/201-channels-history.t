# Channels: history and resume.  A client that connects with the id of the
# last message it saw (ws_last_id, by default $arg_last_id) first receives
# the messages after it that are still in the channel's history, then live
# messages; when some of them were already evicted (history=N, ttl=...) it
# first receives {"event":"history_lost","channel":...,"last_id":N,
# "first_id":M}.  Without last_id a client gets live messages only.
# ws_envelope on wraps text messages in {"channel":...,"id":N,"data":...}.
#
# nginx runs with a master and two workers; resuming clients are opened
# until both workers hold some.  The scenarios run in each block's --- init
# and their checks are the first tests of the block.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;

use Encode ();
use JSON::PP ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 6, 2 => 3, 3 => 4, 4 => 2, 5 => 4, 6 => 7, 7 => 3, 8 => 3, 9 => 3,
                  10 => 5);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

# ids are compared relative to their channel's (Test::NgxWs::Channels)
add_block_preprocessor(\&rel_bodies);

run_tests();


# --- scenarios ----------------------------------------------------------

sub lost {
    my ($channel, $last, $first) = @_;
    return [1, qq({"event":"history_lost","channel":"$channel",)
               . qq("last_id":$last,"first_id":$first})];
}

sub publish_all {
    my ($channel, @msgs) = @_;
    my $bad;
    my $i = 0;

    for my $m (@msgs) {
        my $a = answer(publish($channel, $m));
        $i++;
        $bad //= "publish $i: $a" if $a !~ /^200 application\/json \{"id":\d+,/;
    }

    die "publishing failed: $bad" if $bad;
}

# TEST 1: resume within the history; no last_id means live only.
sub resume {
    publish_all('room', map { "m$_" } 1 .. 6);       # history 4: m3..m6

    my @mid = spread('/sub?last_id=' . id_of('room', 4), 8, 2);
    my $latest = client('/sub?last_id=' . id_of('room', 6));
    my $live = client('/sub');
    my $edge = client('/sub?last_id=' . id_of('room', 2));

    both_workers_ok('resume', @mid);

    my $n = @mid + 3;
    Test::More::is(answer(publish('room', 'm7')),
                   qq(200 application/json {"id":7,"subscribers":$n}),
                   'the resuming clients are subscribers');

    all_got_ok('last_id=4: m5, m6 from the history, then m7 live', \@mid,
               t(qw(m5 m6 m7)));
    all_got_ok('last_id=6 (the last id) and no last_id: only m7',
               [ $latest, $live ], t('m7'));
    all_got_ok('last_id=2: m3 is the oldest in the history, nothing lost',
               [ $edge ], t(qw(m3 m4 m5 m6 m7)));

    close_all_ok('resume', @mid, $latest, $live, $edge);
    wait_unsubscribed('room');
}

# TEST 2: ws_last_id taken from a header.
sub header {
    publish_all('room', map { "m$_" } 1 .. 6);

    my @h = map {
        Test::NgxWs::Client->new(path => '/sse?last_id=' . id_of('room', 1),
                                 timeout => 3,
                                 headers => { 'Last-Event-ID' => id_of('room', 4) })
    } 1 .. 2;
    my $arg = client('/sse?last_id=' . id_of('room', 4));

    publish('room', 'm7');

    all_got_ok('Last-Event-ID: 4 resumes after m4 (the argument is not'
               . ' used)', \@h, t(qw(m5 m6 m7)));
    all_got_ok('?last_id= alone is not used there', [ $arg ], t('m7'));

    close_all_ok('header', @h, $arg);
    wait_unsubscribed('room');
}

# TEST 3: resume beyond the history: history_lost first.
sub beyond {
    publish_all('room', map { "m$_" } 1 .. 6);       # history 4: m3..m6

    my @one = spread('/sub?last_id=' . id_of('room', 1), 8, 2);
    my $zero = client('/sub?last_id=0');

    both_workers_ok('beyond', @one);

    publish('room', 'm7');

    all_got_ok('last_id=1: history_lost (first_id 3), m3..m6, then m7',
               \@one, lost('room', 1, 3), t(qw(m3 m4 m5 m6 m7)));
    all_got_ok('last_id=0: history_lost (last_id 0), m3..m6, then m7',
               [ $zero ], lost('room', 0, 3), t(qw(m3 m4 m5 m6 m7)));

    close_all_ok('beyond', @one, $zero);
    wait_unsubscribed('room');
}

# TEST 4: last_id=0 with nothing evicted: the whole history, no loss.
sub from_zero {
    publish_all('room', qw(m1 m2 m3));

    my @c = (client('/sub?last_id=0'), client('/sub?last_id=0'));
    publish('room', 'm4');

    all_got_ok('last_id=0: m1..m3 from the history, then m4', \@c,
               t(qw(m1 m2 m3 m4)));

    close_all_ok('from zero', @c);
    wait_unsubscribed('room');
}

# Turns enveloped text frames into "ENV id channel: data" (data decoded from
# JSON, as UTF-8 bytes) after checking the exact key order; other frames
# are left as they are.
sub unwrap {
    my @out;

    for my $f (@_) {
        my $p = $f->{payload};

        if ($f->{opcode} == 1
            && $p =~ /\A\{"channel":"([^"]*)","id":(\d+),"data":(".*")\}\z/s)
        {
            my ($ch, $id, $json) = ($1, $2, $3);
            my $data = eval {
                JSON::PP->new->utf8->allow_nonref->decode($json)
            };
            $p = defined $data
                 ? "ENV $id $ch: " . Encode::encode('UTF-8', $data)
                 : "ENV $id $ch: invalid JSON $json";
        }

        push @out, { %$f, payload => $p };
    }

    return @out;
}

# TEST 5: ws_envelope on: ids and channel in JSON, binary as is, also in
# the history; history_lost is sent as it is.
sub envelope {
    my $special = qq(say "hi" \\ / </script>\n\t\x01\x1f caf\xc3\xa9 \xe2\x82\xac);

    publish_all('room', 'first', 'hello');
    publish('room', "\x00\x01\xff", type => 'application/octet-stream')
        ->{status} == 200 or die 'publishing failed';
    publish_all('room', $special, 'fifth');          # history 4: 2..5

    my @env = spread('/env?last_id=0', 6, 2);
    my @plain = spread('/sub?last_id=' . id_of('room', 3), 6, 2);

    both_workers_ok('envelope', @env, @plain);

    publish_all('room', 'live');

    my $deadline = Time::HiRes::time() + 5;
    my ($bad_env, $bad_plain);

    my $want_env = desc(unwrap(
        map { { opcode => $_->[0], payload => $_->[1] } }
        lost('room', 0, 2),
        [1, '{"channel":"room","id":2,"data":"hello"}'],
        [2, "\x00\x01\xff"],
        [1, '{"channel":"room","id":4,"data":'
            . JSON::PP->new->ascii->allow_nonref->encode(
                  Encode::decode('UTF-8', $special)) . '}'],
        [1, '{"channel":"room","id":5,"data":"fifth"}'],
        [1, '{"channel":"room","id":6,"data":"live"}']));

    for my $i (0 .. $#env) {
        my $got = desc(unwrap(map { { %$_, payload => rel($_->{payload}) } }
                              read_frames($env[$i], 6, $deadline)));
        $bad_env //= "connection $i got: $got" if $got ne $want_env;
    }

    Test::More::is($bad_env // $want_env, $want_env,
                   'envelope: history_lost, then ids 2..6 wrapped (binary'
                   . ' as is), in both workers');

    all_got_ok('without the envelope, in the same workers: raw messages',
               \@plain, t($special, 'fifth', 'live'));

    close_all_ok('envelope', @env, @plain);
    wait_unsubscribed('room');
}

# TEST 6: ttl: expired messages are not replayed and count as lost.  The
# zone's clock counts whole seconds: with ttl=1s a message is gone 2 s after
# it was published at the latest, and still there less than 1 s after.
sub ttl {
    publish_all('room', qw(m1 m2));
    Time::HiRes::sleep(2.1);
    publish_all('room', 'm3');

    my $r = http('GET', '/pub?channel=room');
    Test::More::is(answer($r), '200 application/json '
                   . '{"channel":"room","subscribers":0,"last_id":3,"history":1}',
                   'GET: the expired messages are not in the history');

    my $two = client('/sub?last_id=' . id_of('room', 2));
    my $one = client('/sub?last_id=' . id_of('room', 1));

    all_got_ok('last_id=2: m3 only, nothing lost', [ $two ], t('m3'));
    all_got_ok('last_id=1: m2 expired: history_lost, then m3', [ $one ],
               lost('room', 1, 3), t('m3'));

    Time::HiRes::sleep(2.1);                            # m3 expires too

    # the history is empty: first_id is the id of the next message
    my $three = client('/sub?last_id=' . id_of('room', 3));
    my $late = client('/sub?last_id=' . id_of('room', 2));
    publish_all('room', 'm4');

    all_got_ok('later messages are live', [ $two, $one ], t('m4'));
    all_got_ok('last_id=3, all expired: nothing was lost, m4 live',
               [ $three ], t('m4'));
    all_got_ok('last_id=2, m3 expired: history_lost (first_id 4), m4 live',
               [ $late ], lost('room', 2, 4), t('m4'));

    close_all_ok('ttl', $two, $one, $three, $late);
    wait_unsubscribed('room');
}

# TEST 7: a long history (100) is replayed in full.
sub long_history {
    publish_all('room', map { "m$_" } 1 .. 100);

    my @all = (client('/sub?last_id=0'), client('/sub?last_id=0'));
    my $ten = client('/sub?last_id=' . id_of('room', 10));

    publish_all('room', 'm101');

    all_got_ok('last_id=0: all 100 messages, then m101', \@all,
               t(map { "m$_" } 1 .. 101));
    all_got_ok('last_id=10: m11..m100, then m101', [ $ten ],
               t(map { "m$_" } 11 .. 101));

    close_all_ok('long history', @all, $ten);
    wait_unsubscribed('room');
}

# TEST 8: a last_id above the channel's last id cannot come from this
# channel (it was deleted, evicted or the zone resized or restarted since):
# the client is told, and gets the whole history.
sub stale {
    publish_all('room', qw(m1 m2 m3));

    my $c = client('/sub?last_id=' . id_of('room', 50));
    my $bad = client('/sub?last_id=abc');
    publish_all('room', 'm4');

    all_got_ok('last_id=50 on a channel at id 3: history_lost (last_id 50,'
               . ' first_id 1), m1..m3, then m4', [ $c ],
               lost('room', 50, 1), t(qw(m1 m2 m3 m4)));
    all_got_ok('a last_id that is not a number is ignored: live only',
               [ $bad ], t('m4'));

    close_all_ok('stale', $c, $bad);
    wait_unsubscribed('room');
}

# TEST 9: history_lost and the envelope name a long channel in full.
sub long_name {
    my $name = 'n' x 200;

    publish_all($name, qw(m1 m2));                   # history 1: m2

    my $c = client("/sub?ch=$name&last_id=0");
    my $e = client("/env?ch=$name&last_id=" . id_of($name, 1));

    all_got_ok('history_lost names the 200-byte channel', [ $c ],
               lost($name, 0, 2), t('m2'));
    all_got_ok('so does the envelope', [ $e ],
               [1, qq({"channel":"$name","id":2,"data":"m2"})]);

    close_all_ok('long name', $c, $e);
}

# TEST 10: one id per channel: "NAME=N" entries (NAME percent-encoded)
# and a plain "N" for the channels not named.
sub per_channel {
    publish_all('a:1', map { "a$_" } 1 .. 4);
    publish_all('b,2', map { "b$_" } 1 .. 4);
    publish_all('c', map { "c$_" } 1 .. 4);

    my ($a1, $b1, $c1) = map { id_of($_, 0) } 'a:1', 'b,2', 'c';
    my $named = client('/multi?last_id=a%3A1=' . ($a1 + 2)
                       . ',b%2C2=' . ($b1 + 3));
    # ids of several channels differ: the plain entry is b,2's
    my $mixed = client('/multi?last_id=' . ($b1 + 1) . ',a%3A1=' . ($a1 + 1)
                       . ',c=' . ($c1 + 4));
    my $bad = client('/multi?last_id=a%3A1=x,' . ($a1 + 3) . ',=2,b%2C2='
                     . ($b1 + 3) . ',c=' . ($c1 + 3));
    my $none = client('/multi?last_id=zzz=1');

    publish('c', 'c5');

    all_got_ok('a:1 from 2, b,2 from 3, c live only', [ $named ],
               t(qw(a3 a4 b4 c5)));
    all_got_ok('c named (nothing missed), the others from 1', [ $mixed ],
               t(qw(a2 a3 a4 b2 b3 b4 c5)));
    all_got_ok('entries that do not parse are ignored; 3 for all', [ $bad ],
               t(qw(a4 b4 c4 c5)));
    all_got_ok('an entry for another channel resumes none', [ $none ],
               t(qw(c5)));

    close_all_ok('per channel', $named, $mixed, $bad, $none);
    wait_unsubscribed('c');
}

__DATA__

=== TEST 1: resume with last_id inside the history: the missed messages, then live ones
--- http_config
    ws_zone chat 1m history=4;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::resume();
--- request
GET /pub?channel=room
--- response_headers
Content-Type: application/json
--- response_body
{"channel":"room","subscribers":0,"last_id":7,"history":4}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: ws_last_id $http_last_event_id: the id comes from a header
--- http_config
    ws_zone chat 1m history=4;
--- config
    location /sse {
        websocket;
        ws_subscribe chat room;
        ws_last_id $http_last_event_id;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::header();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":7,"history":4}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: resume beyond the history: history_lost, the rest of the history, then live
--- http_config
    ws_zone chat 1m history=4;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::beyond();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":7,"history":4}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 4: last_id=0 with a complete history replays it all without history_lost
--- http_config
    ws_zone chat 1m history=4;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::from_zero();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":4,"history":4}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 5: ws_envelope on: JSON with channel, id and escaped data; binary as is
--- http_config
    ws_zone chat 1m history=4;
--- config
    location /env {
        websocket;
        ws_subscribe chat room;
        ws_envelope on;
        add_header X-Worker $pid always;
    }
    location /sub {
        websocket;
        ws_subscribe chat room;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::envelope();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":6,"history":4}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 6: ttl: expired messages are neither replayed nor counted in the history
--- http_config
    ws_zone chat 1m history=8 ttl=1s;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::ttl();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":4,"history":1}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 7: history=100: a resuming client gets all 100 missed messages
--- http_config
    ws_zone chat 1m history=100;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::long_history();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":101,"history":100}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 8: a last_id from a former channel of the same name gets history_lost and the whole history
--- http_config
    ws_zone chat 1m history=8;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::stale();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":4,"history":4}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 9: a 200-byte channel name appears in full in history_lost and in the envelope
--- http_config
    ws_zone chat 1m history=1;
--- config
    location /sub {
        websocket;
        ws_subscribe chat $arg_ch;
    }
    location /env {
        websocket;
        ws_subscribe chat $arg_ch;
        ws_envelope on;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::long_name();
--- request
GET /pub?channel=nope
--- error_code: 404
--- no_error_log
[error]
[alert]
[crit]



=== TEST 10: last_id with one id per channel
--- http_config
    ws_zone chat 1m history=8;
--- config
    location /multi {
        websocket;
        ws_subscribe chat a:1;
        ws_subscribe chat b,2;
        ws_subscribe chat c;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::per_channel();
--- request
GET /pub?channel=c
--- response_body
{"channel":"c","subscribers":0,"last_id":5,"history":5}
--- no_error_log
[error]
[alert]
[crit]
