package Test::NgxWs::TLS;

# TLS for the wss tests.  setup() makes a throw-away certificate authority
# and a server certificate for localhost / 127.0.0.1 signed by it (EC
# P-256 keys, openssl CLI), in a temporary directory that goes when the
# test file ends: no key is ever committed.  It exports
#
#   TEST_NGINX_TLS_PORT   the TLS port: the server port + 3, unless set
#   TEST_NGINX_TLS_CERT   the server certificate (PEM)
#   TEST_NGINX_TLS_KEY    its key
#   TEST_NGINX_TLS_CA     the CA certificate the clients trust
#
# so that a block's --- http_config can hold a server of its own:
#
#   server {
#       listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
#       ssl_certificate      $TEST_NGINX_TLS_CERT;
#       ssl_certificate_key  $TEST_NGINX_TLS_KEY;
#       location /ws { websocket; ws_echo on; }
#   }
#
# server($locations) returns such a server block.  The runner's plain
# server stays on the server port for the block's own --- request.

use strict;
use warnings;

use File::Temp ();

our $Dir;

sub server_port {
    return $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;
}

sub setup {
    $ENV{TEST_NGINX_TLS_PORT} //= server_port() + 3;

    return if defined $Dir;

    $Dir = File::Temp::tempdir("ngx-ws-tls-XXXXXX", TMPDIR => 1,
                               CLEANUP => 1);

    my $ec = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

    open my $ext, '>', "$Dir/server.ext" or die "$Dir/server.ext: $!";
    print $ext "subjectAltName = DNS:localhost, IP:127.0.0.1\n",
               "basicConstraints = CA:FALSE\n",
               "keyUsage = digitalSignature\n",
               "extendedKeyUsage = serverAuth\n";
    close $ext;

    for my $cmd (
        "openssl req -x509 $ec -days 2 -subj /CN=ngx_ws_module-test-ca"
        . " -keyout $Dir/ca.key -out $Dir/ca.crt",
        "openssl req $ec -subj /CN=localhost"
        . " -keyout $Dir/server.key -out $Dir/server.csr",
        "openssl x509 -req -in $Dir/server.csr -CA $Dir/ca.crt"
        . " -CAkey $Dir/ca.key -CAcreateserial -days 2"
        . " -extfile $Dir/server.ext -out $Dir/server.crt")
    {
        my $out = `$cmd 2>&1`;
        die "Test::NgxWs::TLS: \"$cmd\" failed: $out" if $?;
    }

    $ENV{TEST_NGINX_TLS_CERT} = "$Dir/server.crt";
    $ENV{TEST_NGINX_TLS_KEY} = "$Dir/server.key";
    $ENV{TEST_NGINX_TLS_CA} = "$Dir/ca.crt";
}

# A TLS server with these locations (and other server directives).
sub server {
    my ($body) = @_;

    return <<"EOF";
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_TLS_PORT} ssl;
        server_name localhost;
        ssl_certificate      $ENV{TEST_NGINX_TLS_CERT};
        ssl_certificate_key  $ENV{TEST_NGINX_TLS_KEY};
$body
    }
EOF
}

1;
