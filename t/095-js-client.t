# The JavaScript client (clients/js) against the module: runs its node
# --test suite (unit tests, and tests that start their own nginx with the
# built module on the server port + 10 ... + 39, see
# clients/js/testlib/harness.js) and reports each of its tests here; then
# type-checks the hand-written declarations with tsc.

use strict;
use warnings;

use lib 't/lib';

use Cwd ();
use Test::More;
use Test::NgxWs::NodeTest ();

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;

$ENV{TEST_NGINX_SERVER_PORT} = $port;
$ENV{TEST_NGINX_BINARY} //= '/usr/sbin/nginx';
# set but empty: the module is compiled into TEST_NGINX_BINARY (test-asan)
$ENV{TEST_NGINX_LOAD_MODULES} = join ' ', map {
    -f $_ or die "no module $_: run make build\n";
    Cwd::abs_path($_);
} split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // 'build/ngx_ws_module.so';

my $count = Test::NgxWs::NodeTest::run('clients/js/test/');

cmp_ok($count, '>=', 25, "node ran the client's tests ($count)");

# tsc --strict compiles a program that uses the declared API
my $tsc = system('tsc', '--noEmit', '--strict', '--target', 'es2020',
                 '--module', 'es2020', '--moduleResolution', 'node',
                 '--lib', 'es2020,dom', 'clients/js/testlib/types-check.ts');

is($tsc, 0, 'tsc --strict accepts clients/js/ws-client.d.ts in use');

done_testing();
