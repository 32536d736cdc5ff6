# Channels across reloads, and ws_push.  With ws_shutdown_delay, the
# subscribers held by the old workers after `nginx -s reload` (HUP to the
# master) keep receiving the messages published through the new workers
# until the delay has passed, then get Close 1012 with the id to resume
# from as the reason (1001 on quit); the zone keeps its channels and history across a reload when its
# size is unchanged, and a resized zone starts empty.  With ws_push, POST
# /pub?id=CONNECTION_ID reaches that one connection in whichever worker
# holds it, and answers 404 once it has gone; connection ids and channel
# names do not mix.  The connection id is learnt from ws_on_connect: the
# app (a location of the same server) answers the X-WS-Connection-Id
# header, which the client receives as its first message.
#
# nginx runs with a master and two workers.  The scenarios run in each
# block's --- init and their checks are the first tests of the block.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Channels qw(:DEFAULT gone title reload start_nginx);

use IO::Socket::INET ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 10, 2 => 5, 3 => 10);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

# ids are compared relative to their channel's (Test::NgxWs::Channels)
add_block_preprocessor(\&rel_bodies);

run_tests();


# --- scenarios ----------------------------------------------------------


# TEST 1: with ws_shutdown_delay, subscribers of the old workers keep
# receiving after a reload, also what the new workers publish, then get
# Close 1012 "resume:room=3" when the delay has passed; on quit the same
# happens to the new workers' subscribers, with 1001.
sub across_reload {
    my $master = master_pid();
    my @old = spread('/sub', 6, 2);
    my $n = @old;

    both_workers_ok('reload', @old);

    my %old_workers = map { $_ => 1 } workers_of($master);

    publish('room', 'before');
    all_got_ok('before the reload, all subscribers get a message', \@old,
               t('before'));

    my $t0 = Time::HiRes::time();
    my @new = reload();
    my %new = map { $_ => 1 } @new;

    my $r = publish('room', 'after');
    my $w = $r->{headers}{'x-worker'} // '?';

    Test::More::is(answer($r) . ($new{$w} ? ', by a new worker' : ", by $w"),
                   qq(200 application/json {"id":2,"subscribers":$n})
                   . ', by a new worker',
                   'after the reload a new worker publishes; the old'
                   . ' subscribers are still counted');

    all_got_ok('the subscribers of the old workers get it', \@old,
               t('after'));

    my $fresh = client('/sub');

    Test::More::ok($new{ $fresh->header('X-Worker') // '?' },
                   'a new subscriber is served by a new worker');

    publish('room', 'after 2');
    all_got_ok('old and new subscribers get the next message',
               [ @old, $fresh ], t('after 2'));

    # ws_shutdown_delay 1s: then Close 1012, the id of "after 2" to resume
    my ($bad, $first);

    for my $c (@old) {
        my ($code, $reason) = $c->wait_close(3);
        $first //= Time::HiRes::time() - $t0;
        my @extra = $c->skipped;
        $c->send_close(1001);
        $c->wait_eof(2);
        $c->close;

        my $got = 'close ' . ($code // 'none') . ' "' . rel($reason // '') . '"'
                  . (@extra ? ', before it: ' . desc(@extra) : '');
        $bad //= $got if $got ne 'close 1012 "resume:room=3"';
    }

    Test::More::is(($bad // 'all closed')
                   . ($first >= 0.9 ? '' : sprintf(', after %.2f s', $first)),
                   'all closed',
                   'after ws_shutdown_delay the old subscribers get Close'
                   . sprintf(' 1012 "resume:room=3" (%.2f s)', $first));

    my $deadline = Time::HiRes::time() + 3;
    Time::HiRes::sleep(0.01)
        until !grep({ !gone($_) } keys %old_workers)
              || Time::HiRes::time() > $deadline;

    Test::More::ok(!grep({ !gone($_) } keys %old_workers),
                   'the old workers exit');

    $t0 = Time::HiRes::time();
    kill 'QUIT', $master or die "kill QUIT $master: $!";

    my ($code, $reason) = $fresh->wait_close(3);
    my $dt = Time::HiRes::time() - $t0;
    my @extra = $fresh->skipped;
    $fresh->send_close(1001);
    $fresh->wait_eof(2);
    $fresh->close;

    Test::More::is('close ' . ($code // 'none') . ' "' . rel($reason // '') . '"'
                   . (@extra ? ', before it: ' . desc(@extra) : '')
                   . ($dt >= 0.9 ? '' : sprintf(', after %.2f s', $dt)),
                   'close 1001 "resume:room=3"',
                   'on quit, the new subscriber gets Close 1001 after the'
                   . sprintf(' delay (%.2f s)', $dt));

    $deadline = Time::HiRes::time() + 3;
    Time::HiRes::sleep(0.01)
        until gone($master) || Time::HiRes::time() > $deadline;

    Test::More::ok(gone($master), 'nginx exits');

    start_nginx() if gone($master);
}

# TEST 2: the zone keeps its channels across a reload; a resized zone
# starts empty.
sub zone_reload {
    publish('room', "m$_") for 1 .. 3;

    reload();

    Test::More::is(answer(publish('room', 'm4')),
                   '200 application/json {"id":4,"subscribers":0}',
                   'after a reload, ids go on');

    Test::More::is(answer(http('GET', '/pub?channel=room')),
                   '200 application/json '
                   . '{"channel":"room","subscribers":0,"last_id":4,"history":4}',
                   'and the history is kept');

    my $c = client('/sub?last_id=' . id_of('room', 1));
    all_got_ok('a client resumes from the history kept across the reload',
               [ $c ], t(qw(m2 m3 m4)));
    close_all_ok('zone reload', $c);

    # a different size
    my $conf = "$ENV{TEST_NGINX_SERVER_ROOT}/conf/nginx.conf";
    open my $in, '<', $conf or die "$conf: $!";
    my $text = do { local $/; <$in> };
    close $in;
    $text =~ s/ws_zone chat 1m /ws_zone chat 2m / or die "no ws_zone in $conf";
    open my $out, '>', $conf or die "$conf: $!";
    print $out $text;
    close $out;

    reload();

    Test::More::is(http('GET', '/pub?channel=room')->{status}, 404,
                   'after a reload with a new zone size, the channel is gone');
}

# TEST 3: ws_push.
sub push {
    my @p = spread('/push', 6, 2);
    my $plain = client('/plain');

    my $deadline = Time::HiRes::time() + 3;
    my @id = map { my ($f) = read_frames($_, 1, $deadline); $f ? $f->{payload} : '' }
             @p, $plain;
    my $plain_id = pop @id;

    my %seen;
    Test::More::ok(!grep({ !length || $seen{$_}++ } @id, $plain_id),
                   'every connection learns a distinct id: '
                   . join(', ', @id, $plain_id));

    # a channel subscriber that names a connection id
    my $spy = client("/opt?ch=\@$id[0]");

    my ($bad, %kind);
    my @want = map { [] } @p;

    # at least three rounds, more until some pushes were handled by the
    # target's worker and some by the other one (which worker accepts a
    # request follows patterns: an extra request shifts them)
    my $rounds = 0;

    while ($rounds < 3 || ($rounds < 10 && keys %kind < 2)) {
        my $round = ++$rounds;
        http('GET', '/pub?channel=shift') if $round > 3 && $round % 2;

        for my $i (0 .. $#p) {
            my $msg = "to $i #$round";
            my $binary = $round == 2;
            my $r = http('POST', "/pub?id=$id[$i]", body => $msg,
                         type => $binary ? 'application/octet-stream'
                                         : 'text/plain');
            push @{ $want[$i] }, [ $binary ? 2 : 1, $msg ];

            $bad //= "push to $i: " . answer($r)
                if $r->{status} != 200
                   || ($r->{headers}{'content-type'} // '') ne 'application/json';

            my $from = $r->{headers}{'x-worker'} // '?';
            $kind{ $from eq ($p[$i]->header('X-Worker') // '') ? 'same' : 'other' }++;
        }
    }

    Test::More::is($bad // 'all 200', 'all 200',
                   'POST ?id= answers 200 application/json');

    my $gbad;
    $deadline = Time::HiRes::time() + 3;

    for my $i (0 .. $#p) {
        my $want = desc(map { { opcode => $_->[0], payload => $_->[1] } }
                        @{ $want[$i] });
        my $got = desc(read_frames($p[$i], scalar @{ $want[$i] }, $deadline));
        $gbad //= "connection $i: " . first_diff($got, $want) if $got ne $want;
    }

    Test::More::is($gbad // 'all', 'all',
                   'each connection gets exactly its own messages, text and'
                   . ' binary');

    Test::More::is(join(' ', map { "$_:" . ($kind{$_} ? 'yes' : 'no') } qw(same other)),
                   'same:yes other:yes',
                   'pushes crossed workers and stayed in one ('
                   . join(', ', map { "$_: " . ($kind{$_} // 0) } sort keys %kind)
                   . '; targets in ' . join(', ', map { $_->header('X-Worker') // '?' } @p)
                   . ')');

    # the spy is on an ordinary channel that happens to be called "@ID":
    # it gets what is published to that channel, and none of the pushes
    Test::More::is(answer(http('POST', "/pub?channel=\@$id[0]", body => 'spoof',
                               type => 'text/plain')) . ' '
                   . desc(read_frames($spy, 1, Time::HiRes::time() + 1)),
                   '200 application/json {"id":1,"subscribers":1} 1:spoof',
                   'a channel named "@" + a connection id is an ordinary'
                   . ' channel: its subscriber got no push, only its own'
                   . ' message');

    # the pushed connection must not get the channel message either, nor
    # the spy anything more: close_all_ok below finds any extra frame

    my $unknown = http('POST', '/pub?id=no.such.id', body => 'x',
                       type => 'text/plain');
    my $plain_r = http('POST', "/pub?id=$plain_id", body => 'x',
                       type => 'text/plain');

    Test::More::is("$unknown->{status} $plain_r->{status}", '404 404',
                   'an unknown id and a connection without ws_push get 404');

    close_all_ok('push: a connection leaves', $p[1]);

    Test::More::is(http('POST', "/pub?id=$id[1]", body => 'late',
                        type => 'text/plain')->{status},
                   404, 'a connection that has closed gets 404');

    Test::More::is(http('GET', "/pub?channel=\@$id[2]")->{status} . ' '
                   . http('DELETE', "/pub?channel=\@$id[2]")->{status},
                   '404 404',
                   'GET and DELETE do not see connections as channels');

    close_all_ok('push: the others', @p[0, 2 .. $#p], $plain, $spy);
}

__DATA__

=== TEST 1: ws_shutdown_delay: old workers' subscribers get messages published by new workers, then 1012
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_shutdown_delay 1s;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
        add_header X-Worker $pid always;
    }
--- init
main::across_reload();
--- request
GET /pub?channel=room
--- error_code: 404
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: reload keeps the zone when its size is unchanged; a resized zone starts empty
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
main::zone_reload();
--- request
POST /pub?channel=room
fresh
--- more_headers
Content-Type: text/plain
--- response_body
{"id":1,"subscribers":0}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: ws_push: POST ?id= reaches that connection in any worker, 404 once it is gone
--- http_config
    ws_zone chat 1m;
--- config
    location /push {
        websocket;
        ws_push chat;
        ws_on_connect /_app/connect;
        add_header X-Worker $pid always;
    }
    location /plain {
        websocket;
        ws_on_connect /_app/connect;
    }
    location /opt {
        websocket;
        ws_subscribe chat $arg_ch;
    }
    location /_app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_id/;
    }
    location /_id/ {
        return 200 $http_x_ws_connection_id;
    }
    location /pub {
        ws_publisher chat;
        add_header X-Worker $pid always;
    }
--- init
main::push();
--- request
POST /pub?id=no.such.id
x
--- error_code: 404
--- no_error_log
[error]
[alert]
[crit]
