# The demo (util/demo, examples/) in headless Chromium: runs
# t/browser/demo.test.mjs (puppeteer-core from build/npm, Debian's
# chromium; util/install-deps installs both), which starts the demo on the
# server port + 40 and + 41 and stops it at the end, and reports each of
# its tests here.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use Test::NgxWs::NodeTest ();

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;

$ENV{TEST_NGINX_SERVER_PORT} = $port;

-f 'build/ngx_ws_module.so' or BAIL_OUT('no build/ngx_ws_module.so: make build');
-d 'build/npm/node_modules/puppeteer-core'
    or BAIL_OUT('no puppeteer-core in build/npm: run util/install-deps');
-x ($ENV{CHROMIUM} // '/usr/bin/chromium')
    or BAIL_OUT('no chromium: run util/install-deps');

my $count = Test::NgxWs::NodeTest::run('t/browser/demo.test.mjs');

is($count, 4, "node ran the browser tests ($count)");

done_testing();
