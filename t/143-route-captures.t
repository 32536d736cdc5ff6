# Route arguments are evaluated per message into the message's own pool
# (ngx_ws_route.c, ngx_ws_route_value()).  A regex with captures run there
# (a map, an "if" in a map's value) makes nginx allocate r->captures in
# the pool of the time: the message's, freed once it is done.  The
# request's captures are put back after each evaluation, so no later match
# writes into a freed message.
#
# TEST 1: a map with numbered captures in a reply route, 300 messages of
# sizes that take both kept and freed message pools: every reply has its
# own message's capture.
# TEST 2: the same with named captures, in a publish route's channel name
# and a conflation key, the replies coming back through the channel.
#
# The messages' sizes also cover the pools made for payloads of 513 to
# 2048 bytes, whose sizes were not aligned: an aligned allocation after an
# odd-sized one could then be placed past the block's end (garbage in a
# reply, then a crash, on the stock build).
#
# A write through a stale r->captures lands in freed memory, which only a
# sanitizer sees at once: under make test-asan this file has ASan keep
# freed blocks aside for a while (a quarantine; the suite's default has
# none, for its RSS checks), so that such a write is reported.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::Client ();

$SIG{PIPE} = 'IGNORE';

# under make test-asan: freed blocks stay poisoned until 64 MB more are
$ENV{ASAN_OPTIONS} .= ':quarantine_size_mb=64:thread_local_quarantine_size_kb=256'
    if $ENV{ASAN_OPTIONS};

repeat_each(1);

# the init's check, then status and two no_error_log lines
plan tests => repeat_each() * (blocks() * 4);

no_shuffle();
no_long_string();

# the plain GET of each block is refused with 426: a security event, info
config_preamble('ws_security_log_level info;');

run_tests();


# $n messages "chat.ROOM" padded to sizes from 30 to 760 bytes; each
# answer must carry its own ROOM
sub rooms {
    my ($path, $want) = @_;

    my $c = Test::NgxWs::Client->new(path => $path, timeout => 5);
    my ($bad, $first) = (0, '');

    for my $i (1 .. 300) {
        my $room = 'r' x (1 + $i % 37);
        my $pad = 'p' x (($i * 7) % 700);
        $c->send_text(qq({"type":"chat.$room","pad":"$pad"}));
        my $f = $c->read_frame(5);
        my $ok = $want->($room);
        next if $f && $f->{payload} =~ $ok;
        $bad++;
        $first ||= "message $i: " . ($f ? substr($f->{payload}, 0, 80)
                                        : 'nothing');
    }

    $c->send_close(1000);
    $c->wait_close(5);
    Test::More::is($bad, 0, '300 answers with their own captures'
                   . ($first ? " (first wrong: $first)" : ''));
}

__DATA__

=== TEST 1: numbered captures in a reply route's map
--- http_config
    map $ws_message_type $room_of {
        ~^chat\.(.+)$  $1;
        default        "none";
    }
--- config
    location /ws {
        websocket;
        ws_route default reply '{"room":"$room_of","u":"$uri"}';
    }
--- init
main::rooms('/ws', sub { qr/^\{"room":"$_[0]","u":"\/ws"\}$/ });
--- request
GET /ws
--- error_code: 426
--- no_error_log
[error]
[alert]



=== TEST 2: named captures in a publish route's channel and conflation key
--- http_config
    ws_zone rooms 1m;

    map $ws_message_type $room_of {
        ~^chat\.(?<name>.+)$  $name;
        default               "none";
    }
--- config
    location /ws {
        websocket;
        ws_subscribe rooms all;
        ws_route default publish rooms all conflate=$room_of;
    }
--- init
main::rooms('/ws', sub { qr/^\{"type":"chat\.$_[0]","pad":"p*"\}$/ });
--- request
GET /ws
--- error_code: 426
--- no_error_log
[error]
[alert]
