# WebSocket locations asked over HTTP/2 (prior knowledge, with curl): a
# WebSocket needs HTTP/1.1 here, so the module answers 426.  Over HTTP/2
# the 426 must not carry the Upgrade header that the HTTP/1.x refusals
# carry: a connection-specific header makes an HTTP/2 response malformed
# (RFC 9113, 8.2.2), and the client would see a stream error
# (PROTOCOL_ERROR) instead of the status.  The checks run in --- init, the
# block's request is a plain one to the HTTP/1.1 server.

use lib 't/lib';
use Test::Nginx::Socket;

# a second server, with http2 (inside the port range of the server port)
$ENV{TEST_NGINX_H2_PORT} = ($ENV{TEST_NGINX_SERVER_PORT}
                            // $ENV{TEST_NGINX_PORT} // 1984) + 6;

repeat_each(1);

# the checks of the --- init scenarios, per block
my %INIT_TESTS = (1 => 3, 2 => 2);

my $init_tests = 0;
$init_tests += $_ for values %INIT_TESTS;

plan tests => repeat_each() * (blocks() * 4) + $init_tests;

no_shuffle();
no_long_string();

# every block: the http2 server with a WebSocket location, and a plain
# location for the block's own request (200 "ok", no alert, no crit)
add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'EOF_HTTP') unless $block->http_config;
    server {
        listen 127.0.0.1:$TEST_NGINX_H2_PORT http2;
        ws_security_log_level info;
        location /ws {
            websocket;
            ws_echo on;
        }
    }
EOF_HTTP

    $block->set_value('config', <<'EOF_CONFIG') unless $block->config;
    location = /t {
        return 200 "ok\n";
    }
EOF_CONFIG

    $block->set_value('request', 'GET /t') unless $block->request;
    $block->set_value('response_body', "ok\n")
        unless defined $block->response_body;
    $block->set_value('no_error_log', "[alert]\n[crit]")
        unless $block->no_error_log;
});

run_tests();


# The response head of an HTTP/2 request to $path of the http2 server, and
# curl's exit code (0: a well-formed response; 92: a stream error).
sub h2 {
    my ($path, @headers) = @_;
    my $url = "http://127.0.0.1:$ENV{TEST_NGINX_H2_PORT}$path";
    my @h = map { ('-H', $_) } @headers;

    open my $fh, '-|', 'curl', '-s', '-m', '5', '--http2-prior-knowledge',
         '-o', '/dev/null', '-D', '-', @h, $url
        or die "curl: $!";
    local $/;
    my $head = <$fh> // '';
    close $fh;

    return ($? >> 8, $head);
}

my @HANDSHAKE = ('Upgrade: websocket', 'Connection: Upgrade',
                 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
                 'Sec-WebSocket-Version: 13');

sub error_log {
    my $file = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log";
    open my $fh, '<', $file or return '';
    local $/;
    return <$fh> // '';
}

sub status_of { $_[0] =~ m{\AHTTP/2 (\d+)} ? $1 : "no status: '$_[0]'" }

sub handshake_h2 {
    my ($rc, $head) = h2('/ws', @HANDSHAKE);

    Test::More::is("$rc " . status_of($head), '0 426',
                   'a handshake over HTTP/2: a well-formed 426');
    Test::More::unlike($head, qr/^upgrade:/mi, 'without Upgrade');
    Test::More::like(error_log(),
                     qr/\[info\] .*ws security: client sent WebSocket handshake over HTTP\/2 or later, refused with 426/,
                     'the refusal is logged');
}

sub plain_h2 {
    my ($rc, $head) = h2('/ws');

    Test::More::is("$rc " . status_of($head), '0 426',
                   'a plain GET over HTTP/2: a well-formed 426');
    Test::More::unlike($head, qr/^upgrade:/mi, 'without Upgrade');
}

__DATA__

=== TEST 1: a WebSocket handshake over HTTP/2 gets a 426 without Upgrade
--- init
main::handshake_h2();



=== TEST 2: a plain GET to a WebSocket location over HTTP/2 too
--- init
main::plain_h2();
