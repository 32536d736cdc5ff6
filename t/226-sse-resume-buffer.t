# EventSource (ws_sse): a resume (last_id, Last-Event-ID) whose replay is
# larger than ws_send_buffer gets 200 and the newest events of the history
# that fit, after a history_lost event for the older ones (its id the last
# one dropped); the stream then goes on, and a reconnect from its last id
# gets nothing twice.  Before, such a resume got no answer at all, every
# time it was tried.
#
# nginx runs with a master and two workers.  The scenarios run in each
# block's --- init and their checks are the first tests of the block.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;
use Test::NgxWs::Sse ();

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

my %INIT_TESTS = (1 => 8, 2 => 3);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- scenarios ----------------------------------------------------------

sub sse { Test::NgxWs::Sse->new(@_) }

sub n_of {
    my ($channel, $id) = @_;
    for my $k (0 .. 1000) {
        return $k if $id eq id_of($channel, $k);
    }
    return "raw:$id";
}

# TEST 1: 40 events of 1 KB in the history, ws_send_buffer 32k.
sub big {
    my $kb = 'k' x 1000;
    publish('b', "$_ $kb") for 1 .. 40;

    my $s = sse(path => '/sse?ch=b&last_id=0');
    Test::More::is($s->{status}, 200, 'a resume from 0 answers 200');

    my @ev = $s->wait_for(sub { my @m = $_[0]->messages;
                                @m && ($m[-1]{data} // '') =~ /^40 / }, 3);
    my @m = $s->messages;
    my ($lost, @rest) = @m;
    my @n = map { ($_->{data} // '') =~ /^(\d+) / ? $1 : '?' } @rest;

    Test::More::is($lost->{event}, 'history_lost',
                   'a history_lost event comes first');
    # a 1 KB event holds some 2.3 KB: its bytes, its pool, its entry
    Test::More::ok(@n >= 5 && @n < 40
                   && join(' ', @n) eq join(' ', 41 - @n .. 40),
                   'then the newest events, in order, up to the last ('
                   . scalar(@n) . ')');
    Test::More::is(rel($lost->{data} // ''),
                   '{"event":"history_lost","channel":"b","last_id":0,'
                   . '"first_id":' . (41 - @n) . '}',
                   'its JSON: from the id asked for to the first one sent');
    Test::More::is(n_of('b', $lost->{id}), 40 - @n,
                   'its id is the last one dropped');
    Test::More::cmp_ok(length $s->{body}, '<=', 32768,
                       'what was replayed fits in ws_send_buffer');

    publish('b', 'live');
    @m = $s->wait_messages(@n + 2, 3);
    Test::More::is($m[-1]{data}, 'live', 'the stream goes on');

    my $last = $m[-1]{id};
    $s->close;
    wait_unsubscribed('b');

    publish('b', 'next');
    my $t = sse(path => '/sse?ch=b', headers => { 'Last-Event-ID' => $last });
    @m = $t->wait_messages(1, 2);
    $t->wait_for(sub { 0 }, 0.3);
    @m = $t->messages;
    Test::More::is(join(' ', map { "$_->{event}:$_->{data}" } @m),
                   'message:next', 'a reconnect gets nothing twice');

    $t->close;
    wait_unsubscribed('b');
}

# TEST 2: the same with Last-Event-ID, and a small retry line first.
sub header {
    my $kb = 'h' x 1000;
    publish('c', "$_ $kb") for 1 .. 40;

    my $s = sse(path => '/sse?ch=c',
                headers => { 'Last-Event-ID' => id_of('c', 2) });
    Test::More::is($s->{status}, 200, 'Last-Event-ID: 200');

    $s->wait_for(sub { my @m = $_[0]->messages;
                       @m && ($m[-1]{data} // '') =~ /^40 / }, 3);
    my @m = $s->messages;

    Test::More::like($s->{body}, qr/\Aretry: 2000\n\n/,
                     'the retry line stays first');
    Test::More::ok($m[0]{event} eq 'history_lost'
                   && rel($m[0]{data}) =~ /"last_id":2,/
                   && ($m[-1]{data} // '') =~ /^40 /,
                   'history_lost from the id asked for, then up to the last');

    $s->close;
    wait_unsubscribed('c');
}

__DATA__

=== TEST 1: a replay larger than ws_send_buffer
--- http_config
    ws_zone chat 4m history=100;
--- config
    location /sse {
        ws_sse;
        ws_subscribe chat $arg_ch;
        ws_send_buffer 32k;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::big();
--- request
GET /pub?channel=b
--- response_body_like: ^\{"channel":"b","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]
too slow



=== TEST 2: by Last-Event-ID, after the retry line
--- http_config
    ws_zone chat 4m history=100;
--- config
    location /sse {
        ws_sse;
        ws_subscribe chat $arg_ch;
        ws_send_buffer 32k;
        ws_sse_retry 2s;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::header();
--- request
GET /pub?channel=c
--- response_body_like: ^\{"channel":"c","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]
too slow
