# The example of docs/events.md, as written: examples/app.js runs, and the
# http-level upstream and the server's locations of examples/chat.conf are
# the blocks' config (with the app's port changed).  "--- example_out"
# lines are what the app prints (one line per disconnect event), with the
# connection id written as ID.

use lib 't/lib';
use WsFrame ();
use Test::Nginx::Socket;
use Test::NgxWs::App ();

use Time::HiRes ();

our $Out = Test::NgxWs::App::start_example();

# the pieces of examples/chat.conf that go into a Test::Nginx config

our ($Upstream, $Locations);

{
    open my $fh, '<', 'examples/chat.conf' or die "examples/chat.conf: $!";
    local $/;
    my $conf = <$fh>;

    ($Upstream) = $conf =~ /^(    upstream chat_app \{.*?^    \})$/ms
        or die 'no "upstream chat_app" in examples/chat.conf';
    ($Locations) = $conf =~ /listen 127\.0\.0\.1:8080;\n(.*)\n    \}\n\}\s*\z/s
        or die 'no server locations in examples/chat.conf';

    $Upstream =~ s/127\.0\.0\.1:3000/127.0.0.1:\$TEST_NGINX_EXAMPLE_PORT/
        or die 'no app address in examples/chat.conf';
}

repeat_each(1);

# 2 for the quotes in docs/events.md, then the blocks and their example_out
plan tests => 2 + repeat_each() * (Test::NgxWs::App::count_tests(blocks())
                                   + grep { defined $_->example_out }
                                          blocks());

# docs/events.md quotes examples/app.js whole and examples/chat.conf from
# "http {" on, verbatim

{
    my $slurp = sub {
        open my $fh, '<', $_[0] or die "$_[0]: $!";
        local $/;
        return scalar <$fh>;
    };

    my $doc = $slurp->('docs/events.md');
    my $app = $slurp->('examples/app.js');
    my ($conf) = $slurp->('examples/chat.conf') =~ /^(http \{.*)\z/ms;

    my @js = $doc =~ /^```js\n(.*?)^```$/msg;
    my @nginx = $doc =~ /^```nginx\n(.*?)^```$/msg;

    Test::More::ok((grep { $_ eq $app } @js),
                   'docs/events.md quotes examples/app.js as it is');
    Test::More::ok((grep { $_ eq $conf } @nginx),
                   'docs/events.md quotes examples/chat.conf as it is');
}

no_shuffle();
no_long_string();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => $Upstream);
    $block->set_value(config => $Locations);

    open my $fh, '>', $Out or die "$Out: $!";      # a fresh output
    close $fh;
});

add_response_body_check(sub {
    my ($block, $body) = @_;
    my $want = $block->example_out;
    return unless defined $want;

    my $n = () = $want =~ /\n/g;
    my $deadline = Time::HiRes::time() + 10;
    my $got = '';

    Time::HiRes::sleep(0.3) if $n == 0;         # nothing may come

    while (Time::HiRes::time() < $deadline) {
        open my $fh, '<', $Out or die "$Out: $!";
        local $/;
        $got = <$fh> // '';
        last if (() = $got =~ /\n/g) >= $n;
        Time::HiRes::sleep(0.02);
    }

    $got =~ s/^[0-9a-f]{32} /ID /mg;
    Test::More::is($got, $want, $block->name . ' - example_out');
});

run_tests();

__DATA__

=== TEST 1: alice: welcome, text and binary replies, /quit closes with 4000
--- raw_request eval
[WsFrame::ws_handshake('/chat', headers => ['Authorization: Bearer alice-token'])
 . WsFrame::ws_text('hi') . WsFrame::ws_binary("\x00\x01\xff") . WsFrame::ws_text('/quit'),
 WsFrame::ws_close(4000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body eval
qr/\A\x81.\{"hello":"alice","id":"[0-9a-f]{32}"\}\x81\x0calice #1: hi\x82\x03\x00\x01\xff\x88\x0b\x0f\xa0bye alice\z/s
--- example_out
ID (alice) left: 4000 by server, 3 messages



=== TEST 2: no token: 401 with the app's WWW-Authenticate, no event
--- raw_request eval
WsFrame::ws_handshake('/chat')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="chat"
--- example_out eval
""



=== TEST 3: bob leaves at once: the disconnect event still counts his message
--- raw_request eval
WsFrame::ws_handshake('/chat', headers => ['Authorization: Bearer bob-token'])
. WsFrame::ws_text('x') . WsFrame::ws_close(1000)
--- error_code: 101
--- response_body eval
WsFrame::srv_close(1000)
--- example_out
ID (bob) left: 1000 by client, 1 messages



=== TEST 4: a disallowed Origin is refused by the handshake, after authentication
--- raw_request eval
WsFrame::ws_handshake('/chat', origin => 'https://evil.example',
                      headers => ['Authorization: Bearer bob-token'])
--- error_code: 403
--- example_out eval
""
