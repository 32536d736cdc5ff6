# The JavaScript client (clients/js) in headless Chromium: runs
# t/browser/client.test.mjs (puppeteer-core from build/npm, Debian's
# chromium; util/install-deps installs both), which starts its own nginx
# (TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES) on the server port + 25 and a
# ws_pass app on + 27 (slot 5 of clients/js/testlib/harness.js), and
# reports each of its tests here: offline for 30 s, a hidden page with
# throttled and frozen timers, a producer against a slow server, views
# sharing one socket.  About 90 s.

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

-d 'build/npm/node_modules/puppeteer-core'
    or die "no puppeteer-core in build/npm: run util/install-deps\n";
-x ($ENV{CHROMIUM} // '/usr/bin/chromium')
    or die "no chromium: run util/install-deps\n";

my $count = Test::NgxWs::NodeTest::run('t/browser/client.test.mjs');

is($count, 4, "node ran the browser tests ($count)");

done_testing();
