# The connections API (ws_connections): a page of the connections of a
# ws_push zone with a cursor and filters (location, channel, an identity
# header kept from ws_auth_request), one connection's details (address,
# URI, identity headers, channels, start, counters), a message POSTed to
# it and a DELETE that has its owner worker close it with a code and a
# reason, for connections held by either worker.  The location is
# protected with allow/deny like ws_status.
#
# nginx runs with a master and two workers.  The scenarios run in each
# block's --- init and their checks are the first tests of the block.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Channels;

use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (2 => 17, 3 => 4, 4 => 3);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- helpers ------------------------------------------------------------

sub worker_of { $_[0]->header('X-Worker') // '?' }

# Opens a connection to $path as $user; returns it and its id (the first
# frame: the ws_on_connect reply).
sub conn {
    my ($path, $user) = @_;
    my $c = Test::NgxWs::Client->new(path => $path, timeout => 3,
                                     headers => { 'X-Test-User' => $user });
    my $f = $c->read_frame(3);
    return ($c, $f ? $f->{payload} : '');
}

# The ids of a page, in order, and its "next" cursor.
sub page {
    my ($args) = @_;
    my $r = http('GET', "/conns?$args");
    my @ids = $r->{body} =~ /\{"id":"([0-9a-f]+)"/g;
    my ($next) = $r->{body} =~ /"next":(?:"(\d+)"|null)/;
    my ($count) = $r->{body} =~ /"count":(\d+)/;
    return { status => $r->{status}, ids => \@ids, next => $next,
             count => $count // -1, body => $r->{body} };
}

sub wait_until {
    my ($secs, $cond) = @_;
    my $t0 = Time::HiRes::time();

    until ($cond->()) {
        return undef if Time::HiRes::time() - $t0 > $secs;
        Time::HiRes::sleep(0.02);
    }

    return Time::HiRes::time() - $t0;
}


# --- scenarios ----------------------------------------------------------

# TEST 2: list, details, filters, POST and DELETE across the workers.
sub api {
    # connections in both workers (2 or more each), two users, two
    # locations
    my @r = spread_by(sub {
        my ($i) = @_;
        my $path = $i % 3 == 2 ? '/lobby' : '/sub';
        my $user = $i % 2 ? 'bob' : 'alice';
        return (conn($path, $user), $user, $path);
    }, 6, 2);

    my @c = map { $_->[0] } @r;
    my @id = map { $_->[1] } @r;
    my @user = map { $_->[2] } @r;
    my @path = map { $_->[3] } @r;

    both_workers_ok('api', @c);

    my $all = page('limit=1000');
    my %seen;
    $seen{$_}++ for @{ $all->{ids} };

    Test::More::is(join(' ', $all->{status}, $all->{count},
                        scalar(grep { $seen{$_} == 1 } @id),
                        $all->{next} // 'null'),
                   join(' ', 200, scalar @c, scalar @c, 'null'),
                   'the list has every connection once, and no next page');

    # messages from the client: the counters of its record
    $c[0]->send_text('hello');
    $c[0]->send_text('there!');
    Time::HiRes::sleep(0.2);

    # one connection of each worker, asked of any worker
    my %first;
    $first{ worker_of($c[$_]) } //= $_ for 0 .. $#c;
    my @pick = sort { $a <=> $b } values %first;

    my @details = map {
        my $r = http('GET', "/conns?id=$id[$_]");
        my $b = $r->{body};
        join ',', $r->{status},
             ($b =~ /"worker":(\d+)/ ? $1 eq worker_of($c[$_]) : 0) ? 'pid'
                                                                  : 'bad pid',
             $b =~ /"remote_addr":"127\.0\.0\.1"/ ? 'addr' : 'no addr',
             $b =~ m{"uri":"/(sub|lobby)"} ? 'uri' : "no uri: $b",
             $b =~ /"headers":\{"X-User":"$user[$_]"\}/ ? 'user' : 'no user',
             $b =~ /"channels":\["(room|lobby)"\]/ ? 'channels'
                                                    : 'no channels',
             $b =~ /"start":(\d+)/ && abs($1 - time) < 30 ? 'start'
                                                          : 'no start'
    } @pick;

    Test::More::is("@details",
                   join(' ', ('200,pid,addr,uri,user,channels,start') x 2),
                   'GET ?id= tells a connection of either worker');

    my $d = http('GET', "/conns?id=$id[0]")->{body};
    Test::More::like($d, qr/"messages_in":2,.*"bytes_in":11,/,
                     'its counters: the messages and bytes it sent');

    # filters
    my @lobby = grep { $path[$_] eq '/lobby' } 0 .. $#c;
    my @alice = grep { $user[$_] eq 'alice' } 0 .. $#c;

    Test::More::is(join(',', sort @{ page('location=/lobby')->{ids} }),
                   join(',', sort @id[@lobby]),
                   'location= keeps the connections of that location');
    Test::More::is(join(',', sort @{ page('channel=lobby')->{ids} }),
                   join(',', sort @id[@lobby]),
                   'channel= keeps the subscribers of that channel');
    Test::More::is(join(',', sort @{ page('header=x-user:alice')->{ids} }),
                   join(',', sort @id[@alice]),
                   'header=NAME:VALUE keeps the connections with that'
                   . ' identity');
    Test::More::is(page('header=X-User:carol')->{count}, 0,
                   'an identity nobody has: an empty page');

    # POST to a connection of each worker, many times (both workers answer)
    my $bad;

    for my $k (1 .. 6) {
        for my $i (@pick) {
            my $r = http('POST', "/conns?id=$id[$i]", body => "to $i #$k",
                         type => 'text/plain');
            $bad //= "POST $k to $i: " . answer($r) if $r->{status} != 200;
            my $f = $c[$i]->read_frame(2);
            my $got = $f ? "$f->{opcode}:$f->{payload}" : 'nothing';
            $bad //= "connection $i got '$got'" if $got ne "1:to $i #$k";
        }
    }

    Test::More::is($bad // 'all delivered', 'all delivered',
                   'POST ?id= reaches a connection of either worker');

    my $bin = http('POST', "/conns?id=$id[$pick[1]]", body => "\x01\x02",
                   type => 'application/octet-stream');
    my $f = $c[$pick[1]]->read_frame(2);
    Test::More::is(join(' ', $bin->{status}, $f ? $f->{opcode} : '-'),
                   '200 2', 'binary when the Content-Type says so');

    # refusals
    my @st = map { http(@$_)->{status} }
        ['DELETE', "/conns?id=$id[0]&code=1005"],
        ['DELETE', "/conns?id=$id[0]&code=999"],
        ['DELETE', "/conns?id=$id[0]&code=1006"],
        ['DELETE', "/conns?id=$id[0]&code=4000&reason=" . ('x' x 124)],
        ['DELETE', "/conns?id=$id[0]&code=4000&reason=%ff"],
        ['DELETE', '/conns'],
        ['GET', '/conns?id=not-an-id'],
        ['GET', '/conns?limit=0'],
        ['PUT', "/conns?id=$id[0]"];

    Test::More::is("@st", '400 400 400 400 400 400 400 400 405',
                   'bad codes, reasons, ids and methods are refused');

    # DELETE a connection of each worker, from either worker
    my @closed;

    for my $i (@pick) {
        my $r = http('DELETE', "/conns?id=$id[$i]&code=4001&reason=bye%20now");
        my ($code, $reason) = $c[$i]->wait_close(3);
        push @closed, join ',', $r->{status}, $code // '-', $reason // '-';
        $c[$i]->send_close(4001);
    }

    Test::More::is("@closed", join(' ', ('202,4001,bye now') x 2),
                   'DELETE ?id= has the owner close it with the code and'
                   . ' reason');

    my $gone = wait_until(3, sub {
        !grep { http('GET', "/conns?id=$id[$_]")->{status} != 404 } @pick
    });

    @st = map { my $i = $_;
                (http('GET', "/conns?id=$id[$i]")->{status},
                 http('POST', "/conns?id=$id[$i]", body => 'x',
                      type => 'text/plain')->{status},
                 http('DELETE', "/conns?id=$id[$i]")->{status}) } @pick;

    Test::More::is("@st", join(' ', (404) x 6),
                   'a closed connection: GET, POST and DELETE get 404');

    Test::More::is(page('limit=1000')->{count}, @c - 2,
                   'the list no longer has them');

    Test::More::is(http('GET', '/conns?id=0123456789abcdef0123456789abcdef')
                   ->{status}, 404, 'an unknown id: 404');

    my @rest = grep { my $i = $_; !grep { $_ == $i } @pick } 0 .. $#c;
    close_all_ok('api: the others leave', @c[@rest]);

    Test::More::ok(wait_until(3, sub { page('limit=10')->{count} == 0 }),
                   'and the registry is empty');
}

# TEST 3: 250 connections, pages of 100: three pages, every id once.
sub paging {
    my (@c, @id);

    for (1 .. 250) {
        my ($c, $id) = conn('/sub', 'pager');
        push @c, $c;
        push @id, $id;
    }

    my (@pages, %seen, $after);

    for (1 .. 5) {
        my $p = page('limit=100' . (defined $after ? "&after=$after" : ''));
        push @pages, $p->{count};
        $seen{$_}++ for @{ $p->{ids} };
        $after = $p->{next};
        last unless defined $after;
    }

    Test::More::is(join(',', @pages), '100,100,50',
                   'three pages of 100, 100 and 50');
    Test::More::is(scalar(grep { ($seen{$_} // 0) == 1 } @id), 250,
                   'every connection once');

    # a page with a filter that matches few: limit is the matches
    my $p = page('limit=2&header=X-User:pager');
    Test::More::is(join(',', $p->{count}, defined $p->{next} ? 'next' : '-'),
                   '2,next', 'a filtered page has a next cursor');

    $_->close for @c;

    Test::More::ok(wait_until(5, sub { page('limit=10')->{count} == 0 }),
                   'closed connections leave the registry');
}

# TEST 4: the channels of a record follow the joins and leaves the
# application asks for (X-WS-Subscribe, X-WS-Unsubscribe).
sub joins {
    my ($c, $id) = conn('/join', 'joiner');

    my $channels = sub {
        my $b = http('GET', "/conns?id=$id")->{body};
        return $b =~ /"channels":\[([^\]]*)\]/ ? $1 : "none: $b";
    };

    $c->send_text('join');
    $c->read_frame(2);                     # the reply

    Test::More::is($channels->(), '"room","extra"',
                   'X-WS-Subscribe: the record lists the channel joined');
    Test::More::is(join(',', @{ page('channel=extra')->{ids} }), $id,
                   'and channel= finds it');

    $c->send_text('part');
    $c->read_frame(2);

    Test::More::is($channels->(), '"room"',
                   'X-WS-Unsubscribe: the record no longer lists it');

    $c->close;
}

__DATA__

=== TEST 1: the API is protected like any internal page
--- http_config
    ws_zone chat 1m;
--- config
    location /conns {
        ws_connections chat;
        allow 192.0.2.1;
        deny all;
    }
--- request
GET /conns
--- error_code: 403
--- no_error_log
[alert]



=== TEST 2: list, details, filters, POST and DELETE across the workers
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_subscribe chat room;
        ws_publish chat nobody;
        ws_push chat;
        ws_on_connect /_app/connect;
        add_header X-Worker $pid always;
    }
    location /lobby {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_subscribe chat lobby;
        ws_push chat;
        ws_on_connect /_app/connect;
        add_header X-Worker $pid always;
    }
    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_auth;
    }
    location = /_auth {
        add_header X-User $http_x_test_user;
        return 204;
    }
    location /_app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_id/;
    }
    location /_id/ {
        return 200 $http_x_ws_connection_id;
    }
    location /conns {
        ws_connections chat;
        allow 127.0.0.1;
        deny all;
    }
--- init
main::api();
--- request
GET /conns
--- response_body_like: \A\{"connections":\[\],"count":0,"next":null\}$
--- no_error_log
[error]
[alert]



=== TEST 3: paging through 250 connections
--- http_config
    ws_zone chat 4m;
--- config
    location /sub {
        websocket;
        ws_auth_request /auth;
        ws_auth_pass_header X-User;
        ws_push chat;
        ws_on_connect /_app/connect;
    }
    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_auth;
    }
    location = /_auth {
        add_header X-User $http_x_test_user;
        return 204;
    }
    location /_app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_id/;
    }
    location /_id/ {
        return 200 $http_x_ws_connection_id;
    }
    location /conns {
        ws_connections chat;
    }
--- init
main::paging();
--- request
GET /conns?limit=5
--- response_body_like: "count":0
--- no_error_log
[error]
[alert]



=== TEST 4: a record's channels follow joins and leaves
--- http_config
    ws_zone chat 1m;
    map $http_x_ws_seq $ws_join {
        1        extra;
        default  "";
    }
    map $http_x_ws_seq $ws_part {
        2        extra;
        default  "";
    }
--- config
    location /join {
        websocket;
        ws_subscribe chat room;
        ws_push chat;
        ws_on_connect /_app/connect;
        ws_pass /_app/message;
    }
    location /_app/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_be/;
    }
    location = /_be/connect {
        return 200 $http_x_ws_connection_id;
    }
    location = /_be/message {
        add_header X-WS-Subscribe $ws_join;
        add_header X-WS-Unsubscribe $ws_part;
        return 200 "seq $http_x_ws_seq";
    }
    location /conns {
        ws_connections chat;
    }
--- init
main::joins();
--- request
GET /conns?channel=extra
--- response_body_like: "count":0,
--- no_error_log
[error]
[alert]
