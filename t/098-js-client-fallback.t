# The demo's chat where WebSockets do not get through, in headless
# Chromium: runs t/browser/fallback.test.mjs (puppeteer-core from
# build/npm, Debian's chromium; util/install-deps installs both), which
# starts the demo on the server port + 60 and + 61 (TEST_NGINX_BINARY,
# TEST_NGINX_LOAD_MODULES) and a plain nginx in front of it on + 62 ...
# + 64 that refuses or strips the upgrade (and on + 64 refuses event
# streams too), and reports each of its tests here: the pages fall back
# to EventSource and POST, or to long-polling, chat, and one that goes
# offline gets exactly what it missed.  About 30 s.

use strict;
use warnings;

use lib 't/lib';

use Cwd ();
use Test::More;
use Test::NgxWs::NodeTest ();

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;

$ENV{TEST_NGINX_SERVER_PORT} = $port;

# the nginx and modules of the suite (make test-asan: its own nginx, with
# the module compiled in); the nginx in front needs no module
$ENV{NGINX_BIN} = $ENV{TEST_NGINX_BINARY} // '/usr/sbin/nginx';
$ENV{DEMO_MODULES} = join ' ', map {
    -f $_ or die "no module $_: run make build\n";
    Cwd::abs_path($_);
} split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // 'build/ngx_ws_module.so';

-d 'build/npm/node_modules/puppeteer-core'
    or die "no puppeteer-core in build/npm: run util/install-deps\n";
-x ($ENV{CHROMIUM} // '/usr/bin/chromium')
    or die "no chromium: run util/install-deps\n";

my $count = Test::NgxWs::NodeTest::run('t/browser/fallback.test.mjs');

is($count, 3, "node ran the browser tests ($count)");

done_testing();
