# Other implementations' clients against the echo route: Node's "ws" (Debian
# node-ws) and Python's "websockets" (Debian python3-websockets). Each client
# script (t/clients/) runs its own checks: handshake and subprotocol, no
# extension answered to their permessage-deflate offers, UTF-8 text, large
# binary, fragmented messages, ping/pong and the close handshake; then the
# same against a location with ws_deflate on, where their offer must be
# accepted; its lines are printed with diag when it fails.

use lib 't/lib';
use Test::Nginx::Socket;

repeat_each(1);

# the client's verdict in --- init, then status, body and no_error_log
plan tests => repeat_each() * (blocks() * 4);

no_shuffle();
no_long_string();

sub run_client {
    my ($name, @cmd) = @_;
    my $url = "ws://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/chat";

    local $ENV{NODE_PATH} = '/usr/share/nodejs';
    my $out = `timeout 20 @cmd $url $url-deflate 2>&1`;
    my $rc = $?;

    Test::More::ok($rc == 0 && $out =~ /^done$/m,
                   "$name: every check passed")
        or Test::More::diag($out);
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'EOF_CONFIG') unless $block->config;
    location /chat {
        websocket;
        ws_echo on;
        ws_subprotocols chat.v2 chat.v1;
        ws_max_frame_size 16m;
        ws_max_message_size 16m;
    }

    location /chat-deflate {
        websocket;
        ws_echo on;
        ws_deflate on;
        ws_subprotocols chat.v2 chat.v1;
        ws_max_frame_size 16m;
        ws_max_message_size 16m;
    }

    location = /t {
        return 200 "ok\n";
    }
EOF_CONFIG
});

run_tests();

__DATA__

=== TEST 1: Node's ws client
--- init
main::run_client('node ws', 'node', 't/clients/node-client.js');
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 2: Python's websockets client
--- init
main::run_client('python websockets', '/usr/bin/python3',
                 't/clients/python-client.py');
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
