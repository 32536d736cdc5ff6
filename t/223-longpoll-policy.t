# Long-poll subscribers (ws_longpoll) and nginx's policies: ws_auth_request
# (allow, 401, 403, and a log line that says a
# long poll or an event stream was refused, not an upgrade), ws_origins
# (403, the CORS headers of an allowed Origin, none), limit_conn and
# limit_req, a reload while polls wait (each is answered at once with an
# empty batch and the last_id it had, and the next poll gets what was
# published meanwhile), and HEAD.
#
# The scenarios run in each block's --- init and their checks are the
# first tests of the block.

use lib 't/lib';
use Test::NgxWs::Client ();
use Test::Nginx::Socket;
use Test::NgxWs::Channels;
use Test::NgxWs::Channels qw(reload);

use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

my %INIT_TESTS = (1 => 6, 2 => 5, 3 => 4, 4 => 4, 5 => 3);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

run_tests();


# --- scenarios ----------------------------------------------------------

# A request sent now, answered later: the socket.
sub start {
    my ($method, $uri, %h) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
                                  Proto => 'tcp', Timeout => 3)
        or die "connect: $!";
    binmode $s;

    my $req = "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
              . "Connection: close\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    syswrite $s, "$req\r\n";

    return $s;
}

# The answer: { status, headers (lower-case), body, json, at (the time) }.
sub finish {
    my ($s, $timeout) = @_;
    my ($buf, $sel) = ('', IO::Select->new($s));
    my $deadline = Time::HiRes::time() + ($timeout // 5);
    my $at;

    while ((my $left = $deadline - Time::HiRes::time()) > 0) {
        last unless $sel->can_read($left);
        $at //= Time::HiRes::time();
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;
    }

    close $s;

    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($st, @lines) = split /\r\n/, $head // '';
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        $h{ lc $k } = $v;
    }
    my ($status) = ($st // '') =~ m{^HTTP/1\.\d (\d{3})};

    return { status => $status // 0, headers => \%h, body => $body // '',
             json => scalar(eval { JSON::PP::decode_json($body // '') }),
             at => $at // 0 };
}

sub req {
    my ($method, $uri, %h) = @_;
    return finish(start($method, $uri, %h));
}

sub datas {
    my ($r) = @_;
    return join ',', map { $_->{data} } @{ $r->{json}{messages} // [] };
}

# TEST 1: ws_auth_request before the poll waits.
sub auth {
    publish('ok', 'm1');

    my $r = req('GET', '/lp-auth?ch=ok&last_id=0');
    Test::More::is("$r->{status} " . datas($r), '200 m1',
                   'ws_auth_request allows: the batch');

    $r = req('GET', '/lp-auth?ch=login&last_id=0');
    Test::More::is($r->{status}, 401, 'ws_auth_request asks to log in: 401');
    Test::More::unlike($r->{body}, qr/"messages"/, 'and no batch');

    my $t0 = Time::HiRes::time();
    $r = req('GET', '/lp-auth?ch=no');
    Test::More::ok($r->{status} == 403 && $r->{at} - $t0 < 0.5,
                   "403 at once, without waiting ($r->{status})");

    $r = req('GET', '/sse-auth?ch=no');
    Test::More::is($r->{status}, 403, 'an event stream refused: 403');

    $r = req('GET', '/lp-auth?ch=ok&last_id=0',
             Origin => 'https://ok.example');
    Test::More::is($r->{status}, 200, 'a long poll allowed again');
}

# TEST 2: ws_origins.
sub origins {
    publish('o', 'm1');

    my $r = req('GET', '/lp-origin?ch=o&last_id=0',
                Origin => 'https://evil.example');
    Test::More::is($r->{status}, 403, 'a refused Origin: 403');

    $r = req('GET', '/lp-origin?ch=o&last_id=0',
             Origin => 'https://ok.example');
    Test::More::is("$r->{status} " . datas($r), '200 m1',
                   'an allowed Origin: the batch');
    Test::More::is(join(' ', map { $r->{headers}{$_} // '-' }
                        'access-control-allow-origin',
                        'access-control-allow-credentials', 'vary'),
                   'https://ok.example true Origin',
                   'with the CORS headers');

    $r = req('GET', '/lp-origin?ch=o&last_id=0');
    Test::More::is($r->{status}, 403, 'no Origin, without "none": 403');

    $r = req('GET', '/lp-none?ch=o&last_id=0');
    Test::More::is("$r->{status} "
                   . ($r->{headers}{'access-control-allow-origin'} // '-'),
                   '200 -', 'no Origin, with "none": no CORS headers');
}

# TEST 3: limit_conn and limit_req apply to polls.
sub limits {
    my $w = start('GET', '/lp-conn?ch=l');
    Time::HiRes::sleep(0.2);
    my $r = req('GET', '/lp-conn?ch=l');
    Test::More::is($r->{status}, 503, 'limit_conn: a second waiting poll');

    publish('l', 'm1');
    my $a = finish($w);
    Test::More::is("$a->{status} " . datas($a), '200 m1',
                   'the first poll is answered');

    my $one = req('GET', '/lp-req?ch=l&last_id=0');
    my $two = req('GET', '/lp-req?ch=l&last_id=0');
    Test::More::is("$one->{status} " . datas($one), '200 m1',
                   'limit_req: the first poll');
    Test::More::is($two->{status}, 503, 'limit_req: the next at once: 503');
}

# TEST 4: a reload answers the waiting polls at once, nothing is lost.
sub reloaded {
    publish('e', 'm1');
    my $last = 'e=' . id_of('e', 1);

    my @s;
    for (1 .. 6) {
        push @s, start('GET', '/lp?ch=e', 'Last-Event-ID' => $last);
        Time::HiRes::sleep(0.13);
    }

    my $t0 = Time::HiRes::time();
    reload();

    my @r = map { finish($_) } @s;
    publish('e', 'm2');
    my @late = grep { $_ > 0.35 }
               map { sprintf '%.2f', $_->{at} - $t0 } @r;

    Test::More::is(join(' ', map { "$_->{status}:" . datas($_) . ':'
                                  . ($_->{json}{last_id} // '-') } @r),
                   join(' ', ("200::$last") x 6),
                   'each waiting poll: an empty batch with its last_id');
    Test::More::is("@late", '', 'all at once after the reload');

    publish('e', 'm3');
    my $n = req('GET', '/lp?ch=e', 'Last-Event-ID' => $r[0]{json}{last_id});
    Test::More::is(datas($n), 'm2,m3',
                   'the next poll gets what was published meanwhile');
    Test::More::is($n->{json}{last_id}, 'e=' . id_of('e', 3),
                   'and goes on from there');
}

# TEST 5: HEAD.
sub head {
    publish('h', 'm1');

    my $t0 = Time::HiRes::time();
    my $r = req('HEAD', '/lp?ch=h');
    Test::More::ok($r->{status} == 200 && $r->{at} - $t0 < 0.5,
                   "HEAD is answered at once, without waiting ($r->{status}, "
                   . sprintf("%.3f s)", $r->{at} - $t0));
    Test::More::is($r->{headers}{'content-type'}, 'application/json',
                   'with the Content-Type of a batch');
    Test::More::is($r->{body}, '', 'and no body');
}

__DATA__

=== TEST 1: ws_auth_request
--- http_config
    ws_zone chat 1m;
--- config
    location /lp-auth {
        ws_auth_request /check;
        ws_longpoll;
        ws_subscribe chat $arg_ch;
        ws_longpoll_timeout 2s;
    }
    location /sse-auth {
        ws_auth_request /check;
        ws_sse;
        ws_subscribe chat $arg_ch;
    }
    location = /check {
        internal;
        if ($http_x_ws_subscribe = ok) {
            return 204;
        }
        if ($http_x_ws_subscribe = login) {
            return 401;
        }
        return 403;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::auth();
--- request
GET /pub?channel=ok
--- response_body_like: ^\{"channel":"ok","subscribers":0,
--- error_log
ws auth request denied the long poll
ws auth request denied the event stream
ws auth request asked for authentication
--- no_error_log
denied the upgrade
[alert]
[crit]



=== TEST 2: ws_origins
--- http_config
    ws_zone chat 1m;
--- config
    location /lp-origin {
        ws_longpoll;
        ws_origins https://ok.example;
        ws_subscribe chat $arg_ch;
    }
    location /lp-none {
        ws_longpoll;
        ws_origins https://ok.example none;
        ws_subscribe chat $arg_ch;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::origins();
--- request
GET /pub?channel=o
--- response_body_like: ^\{"channel":"o","subscribers":0,
--- error_log
client sent disallowed Origin "https://evil.example"
--- no_error_log
[alert]
[crit]



=== TEST 3: limit_conn and limit_req
--- http_config
    ws_zone chat 1m;
    limit_conn_zone $binary_remote_addr zone=perip:1m;
    limit_req_zone $binary_remote_addr zone=polls:1m rate=1r/m;
--- config
    location /lp-conn {
        limit_conn perip 1;
        ws_longpoll;
        ws_subscribe chat $arg_ch;
        ws_longpoll_timeout 3s;
    }
    location /lp-req {
        limit_req zone=polls;
        ws_longpoll;
        ws_subscribe chat $arg_ch;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::limits();
--- request
GET /pub?channel=l
--- response_body_like: ^\{"channel":"l","subscribers":0,
--- error_log
limiting connections by zone "perip"
limiting requests
--- no_error_log
[alert]
[crit]



=== TEST 4: a reload while polls wait
--- http_config
    ws_zone chat 1m;
--- config
    location /lp {
        ws_longpoll;
        ws_subscribe chat $arg_ch;
        ws_longpoll_timeout 30s;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::reloaded();
--- request
GET /pub?channel=e
--- response_body_like: ^\{"channel":"e","subscribers":0,
--- error_log
long poll answered: the worker is shutting down
--- no_error_log
[error]
[alert]
[crit]



=== TEST 5: HEAD
--- http_config
    ws_zone chat 1m;
--- config
    location /lp {
        ws_longpoll;
        ws_subscribe chat $arg_ch;
        ws_longpoll_timeout 5s;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::head();
--- request
GET /pub?channel=h
--- response_body_like: ^\{"channel":"h","subscribers":0,
--- no_error_log
[error]
[alert]
[crit]
