# Other implementations' clients over wss://: Node's "ws" and Python's
# "websockets" run the same checks as in t/040-clients.t (handshake and
# subprotocol, no extension answered, UTF-8 text, large binary, fragmented
# messages, ping/pong, the close handshake), here against a "listen ...
# ssl" server whose certificate is made at run time by Test::NgxWs::TLS.
# The clients verify it: the test CA is trusted through NODE_EXTRA_CA_CERTS
# (Node) and SSL_CERT_FILE (OpenSSL's default CA file, used by Python's
# default SSL context).

use lib 't/lib';
use Test::NgxWs::TLS ();
use Test::Nginx::Socket;

Test::NgxWs::TLS::setup();

repeat_each(1);

# the client's verdict in --- init, then status, body and no_error_log
plan tests => repeat_each() * (blocks() * 4);

no_shuffle();
no_long_string();

sub run_client {
    my ($name, @cmd) = @_;
    my $url = "wss://127.0.0.1:$ENV{TEST_NGINX_TLS_PORT}/chat";

    local $ENV{NODE_PATH} = '/usr/share/nodejs';
    local $ENV{NODE_EXTRA_CA_CERTS} = $ENV{TEST_NGINX_TLS_CA};
    local $ENV{SSL_CERT_FILE} = $ENV{TEST_NGINX_TLS_CA};

    my $out = `timeout 20 @cmd $url 2>&1`;
    my $rc = $?;

    Test::More::ok($rc == 0 && $out =~ /^done$/m,
                   "$name over wss: every check passed")
        or Test::More::diag($out);
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', Test::NgxWs::TLS::server(<<'_EOC_'))
        location /chat {
            websocket;
            ws_echo on;
            ws_subprotocols chat.v2 chat.v1;
            ws_max_frame_size 16m;
            ws_max_message_size 16m;
        }
_EOC_
        unless $block->http_config;

    $block->set_value('config', <<'_EOC_') unless $block->config;
    location = /t {
        return 200 "ok\n";
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: Node's ws client over wss
--- init
main::run_client('node ws', 'node', 't/clients/node-client.js');
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 2: Python's websockets client over wss
--- init
main::run_client('python websockets', '/usr/bin/python3',
                 't/clients/python-client.py');
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
