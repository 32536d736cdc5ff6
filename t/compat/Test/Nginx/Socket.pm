package Test::Nginx::Socket;

# Fallback implementation of Test::Nginx::Socket for ngx_ws_module's test
# suite, used only when the CPAN module is not installed (util/run-tests
# adds -It/compat in that case only).  See docs/testing.md, "The test
# runner", for what it supports.
#
# This file is the client side: building the requests of a block, sending
# them over a plain socket, reading until the server closes or the timeout
# passes, parsing the response and running the checks, with the same test
# counts as the real module so that `plan tests => ...` formulas agree.
# The server side (nginx.conf, starting/stopping nginx, logs, mock
# upstreams, the per-block driver) is in Test::Nginx::Util.

use strict;
use warnings;

# Subclassing Test::Base (lower-case -base: no Spiffy source filter on this
# file) gives the .t files blocks(), plan(), the Test::More functions, the
# section filters and the `use strict; use warnings` prologue filter, just
# like the real module.
use Test::Base -base;

our $VERSION = '0.33';

use Digest::MD5 ();
use Digest::SHA ();
use Encode ();
use Errno qw(EAGAIN EWOULDBLOCK EINTR EPIPE);
use HTTP::Response ();
use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use List::Util qw(min);
use Time::HiRes qw(sleep time);

use Test::Nginx::Util;

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers
    master_on master_off log_level no_shuffle no_root_location use_hup
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_test_cleanup_handler
    add_cleanup_handler add_response_body_check
);

our $TotalConnectingTimeouts = 0;
our @ResponseBodyChecks;

$Test::Nginx::Util::RunTestHelper         = \&run_test_helper;
$Test::Nginx::Util::CheckErrorLog         = \&check_error_log;
$Test::Nginx::Util::CheckShutdownErrorLog = \&check_shutdown_error_log;

sub run_test { Test::Nginx::Util::run_test(@_) }

sub set_http_config_filter { $Test::Nginx::Util::FilterHttpConfig = shift }

sub add_response_body_check { push @ResponseBodyChecks, shift }

sub tb { Test::More->builder }

# An extra failure the plan did not count: like the real module, stop
# Test::Builder from complaining about the count at the end.
sub extra_fail {
    my $msg = shift;
    tb()->no_ending(1);
    Test::More::fail($msg);
}

# A check that becomes a skip when nginx could not run the config
# (TEST_NGINX_IGNORE_MISSING_DIRECTIVES).
sub check_or_skip {
    my ($dry_run, $what, $code) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    if ($dry_run) {
        SKIP: { Test::More::skip("$what - tests skipped due to $dry_run", 1) }
        return;
    }
    $code->();
}

# ---------------------------------------------------------------------------
# Requests

# "Name: value" lines of --- more_headers -> (CRLF header text, chunked?)
sub parse_more_headers {
    my $text = shift;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $text) {
        next if $line =~ /^\s*#/;
        my ($k, $v) = split /:\s*/, $line, 2;
        $v //= '';
        $chunked = 1 if lc($k) eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

# Turn "METHOD [URI [VERSION]]\nbody" (given as one or more packets) into a
# full HTTP request, keeping the packet boundaries where they fall.
sub build_request {
    my ($name, $more_headers, $chunked, $conn, $packets) = @_;
    my $src = join '', @$packets;

    $src =~ /\A(\s*)(\S+)( *)(?:(\S+)( *))?(?:(\S+)( *))?([^\S\n]*(?:\n|\z))/
        or bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' "
                    . "but got \"$src\".");
    my ($lead, $meth, $sp1, $url, $sp2, $ver, $sp3, $eol) = ($1, $2, $3, $4, $5, $6, $7, $8);
    my $content = substr($src, $+[0]);
    my $orig_content_len = length $content;

    my $len_header = '';
    if (!$chunked && $content ne '' && $more_headers !~ /(?:^|\n)Content-Length:/) {
        $content =~ s/^\s+|\s+$//g;
        $len_header = "Content-Length: " . length($content) . "\r\n";
    }

    $more_headers =~ s/(?<!\r)\n/\r\n/g;
    my $headers = '';
    $headers .= "Host: $ServerName\r\n"  if $more_headers !~ /(?:^|\n)Host:/i;
    $headers .= "Connection: $conn\r\n" if $more_headers !~ /(?:^|\n)Connection/i;
    $headers .= "$more_headers$len_header\r\n";

    # (length in the source, replacement text) for each piece, in order
    my @pieces = (
        [length $lead, ''],
        [length $meth, "$meth "],
        [length $sp1, ''],
        [length($url // ''), ($url // '/') . ' '],
        [length($sp2 // ''), ''],
        [length($ver // ''), ($ver // 'HTTP/1.1') . "\r\n"],
        [length($sp3 // '') + length $eol, ''],
        [0, $headers],
        [$orig_content_len, $content],
    );
    my $new = join '', map { $_->[1] } @pieces;
    return [$new] if @$packets <= 1;

    # map each packet boundary of the source into the new text
    my $map = sub {
        my $off = shift;
        my ($src_pos, $new_pos) = (0, 0);
        for my $p (@pieces) {
            my ($len, $text) = @$p;
            if ($off < $src_pos + $len) {
                return $new_pos + min($off - $src_pos, length $text);
            }
            $src_pos += $len;
            $new_pos += length $text;
        }
        return $new_pos;
    };
    my (@out, $off);
    my $prev = 0;
    $off = 0;
    for my $i (0 .. $#$packets - 1) {
        $off += length $packets->[$i];
        my $cut = $map->($off);
        push @out, substr($new, $prev, $cut - $prev);
        $prev = $cut;
    }
    push @out, substr($new, $prev);
    return \@out;
}

sub headers_for {
    my ($name, $more_headers, $i) = @_;
    if (ref $more_headers eq 'ARRAY') {
        my $h = $more_headers->[$i];
        bail_out("$name - --- more_headers lacks data for request $i") unless defined $h;
        return parse_more_headers($h);
    }
    return parse_more_headers($more_headers);
}

# The block's requests: a list of requests, each a list of packets
# { value => bytes [, delay_before => seconds] }.
sub get_req_from_block {
    my $block = shift;
    my $name = $block->name;

    if (defined(my $raw = $block->raw_request)) {
        my @packets = ref $raw eq 'ARRAY' ? @$raw : ($raw);
        return [[map { { value => $_ } } @packets]];
    }

    my $request = $block->request;
    if (defined $request && !ref $request) {
        1 while $request =~ s/^\s*#[^\n]+\s+|^\s+//gs;    # leading comment lines
    }
    my $more_headers = $block->more_headers // '';

    if (my $reqs = $block->pipelined_requests) {
        bail_out("$name - invalid entries in --- pipelined_requests") unless ref $reqs eq 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$reqs) {
            my $r = expand_env_in_text($reqs->[$i], $name, $Test::Nginx::Util::RandPorts);
            my ($hdr, $chunked) = headers_for($name, $more_headers, $i);
            my $conn = $i == $#$reqs ? 'close' : 'keep-alive';
            $all .= build_request($name, $hdr, $chunked, $conn, [$r])->[0];
        }
        return [[{ value => $all }]];
    }

    bail_out("$name - request empty") unless defined $request;

    if (!ref $request) {
        my ($hdr, $chunked) = headers_for($name, $more_headers, 0);
        return [[{ value => build_request($name, $hdr, $chunked, 'close', [$request])->[0] }]];
    }

    bail_out("$name - invalid ---request : MUST be string or array of requests")
        unless ref $request eq 'ARRAY';

    my @list;
    for my $i (0 .. $#$request) {
        my $one = $request->[$i];
        my ($hdr, $chunked) = headers_for($name, $more_headers, $i);
        if (!ref $one) {
            push @list, [{ value => build_request($name, $hdr, $chunked, 'close', [$one])->[0] }];
        } elsif (ref $one eq 'ARRAY') {
            my @src = map {
                !ref $_ ? $_
                : ref $_ eq 'HASH' ? $_->{value}
                : bail_out("$name - Invalid syntax. $_ should be a string or hash with value.")
            } @$one;
            my $pk = build_request($name, $hdr, $chunked, 'close', \@src);
            push @list, [map {
                my %p = ref $one->[$_] eq 'HASH' ? %{ $one->[$_] } : ();
                $p{value} = $pk->[$_] // '';
                \%p;
            } 0 .. $#$pk];
        } else {
            bail_out("$name - Invalid syntax. $one should be a string or an array of packets.");
        }
    }
    return \@list;
}

# ---------------------------------------------------------------------------
# Talking to nginx

sub connect_to_server {
    my ($block, $timeout) = @_;
    my $name = $block->name;
    my $addr = $block->server_addr_for_client // $ServerAddr;
    my $max_tries = $TotalConnectingTimeouts ? 20 : 50;
    my $err;
    for my $try (1 .. $max_tries + 1) {
        my $sock = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $ServerPortForClient,
                                         Proto => 'tcp', Timeout => $timeout);
        if ($sock) {
            $sock->blocking(0);
            return $sock;
        }
        $err = $!;
        last if $try > $max_tries;
        my $wait = (sleep_time() + sleep_time() * $try) * $try / 2;
        $wait = 1 if $wait > 1;
        warn "$name - Can't connect to $addr:$ServerPortForClient: $err\n" if $wait >= 0.6;
        sleep $wait;
    }
    my $msg = "$name - Can't connect to $addr:$ServerPortForClient: $err (aborted)\n";
    bail_out($msg) if ++$TotalConnectingTimeouts >= 3;
    extra_fail($msg);
    return undef;
}

# Write all packets (sleeping between them), then read until the server
# closes the connection or $timeout passes without any event.
sub send_request {
    my ($packets, $middle_delay, $timeout, $block) = @_;
    my $name = $block->name;

    my $all = join '', map { $_->{value} } @$packets;
    my $head_req = $all =~ /^\s*HEAD\s+/ ? 1 : 0;

    my $sock = connect_to_server($block, $timeout) or return (undef, $head_req);
    my $sel = IO::Select->new($sock);
    my $resp = '';
    local $SIG{PIPE} = 'IGNORE';

    # writing
    my $first = 1;
    for my $p (@$packets) {
        if (!$first) {
            my $delay = $p->{delay_before} // $middle_delay;
            sleep $delay if $delay;
        }
        $first = 0;
        my ($buf, $off) = ($p->{value} // '', 0);
        while ($off < length $buf) {
            my $n = syswrite($sock, $buf, length($buf) - $off, $off);
            if (defined $n) {
                $off += $n;
                next;
            }
            if ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR) {
                # let the server drain: wait for writability, reading meanwhile
                my ($r) = IO::Select->select($sel, $sel, undef, $timeout);
                return (timed_out($block, $sock, $resp), $head_req) unless defined $r;
                if (@$r && !read_some($sock, \$resp)) {    # the server closed
                    close $sock;
                    return ($resp, $head_req);
                }
                next;
            }
            my $err = $!;
            if ($err == EPIPE) {
                # The real module does not ignore SIGPIPE and would be
                # killed here; report it as a failure instead.
                extra_fail("$name - write failed: $err (the CPAN Test::Nginx dies of SIGPIPE here)");
            } else {
                warn "write failed: $err\n";
            }
            $resp = "write failed: $err" if $resp eq '';
            close $sock;
            return ($resp, $head_req);
        }
    }

    if (defined(my $how = $block->shutdown)) {
        $how = 1 if $how =~ /^\s*$/;
        shutdown($sock, $how);
    }

    # reading
    while (1) {
        my @ready = $sel->can_read($timeout);
        if (!@ready) {
            return (timed_out($block, $sock, $resp), $head_req);
        }
        last unless read_some($sock, \$resp);
    }
    close $sock;
    return ($resp, $head_req);
}

# Read what is available.  False when the connection is finished.
sub read_some {
    my ($sock, $resp_ref) = @_;
    while (1) {
        my $n = sysread($sock, my $buf, 65536);
        if (!defined $n) {
            return 1 if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            warn "WARNING: HTTP response read failure: $!\n";
            return 0;
        }
        return 0 if $n == 0;
        $$resp_ref .= $buf;
    }
}

sub timed_out {
    my ($block, $sock, $resp) = @_;
    close $sock;
    if (defined $block->abort) {
        sleep 0.005;
    } else {
        extra_fail("ERROR: client socket timed out - " . $block->name . "\n");
    }
    return $resp;
}

# ---------------------------------------------------------------------------
# Responses

# Returns (HTTP::Response or undef, raw header block, bytes left over).
sub parse_response {
    my ($name, $raw, $head_req) = @_;

    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';
    my $res = HTTP::Response->parse($raw);

    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        $res->code(undef);
        $code = undef;
    }

    # 101 and 304: everything after the header block is the body, as is
    return ($res, $raw_headers) if $code && ($code == 101 || $code == 304);

    my $left;
    my $te  = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');

    if (defined $te && $te eq 'chunked') {
        my @trailers = $res->header('Trailer');
        my $body = $res->content // '';
        my $decoded = '';
        pos($body) = 0;
        while (1) {
            if ($body =~ /\G0[ \t]*\r\n/gc) {
                for my $t (@trailers) {
                    $body =~ /\G\Q$t\E: [^\n]*\r\n/gc
                        or return bad_chunked("$name - invalid trailer data received (expected $t).");
                }
                $body =~ /\G\r\n/gc
                    or return bad_chunked("$name - invalid chunked data received (expected CRLF).");
                $left = $1 if $body =~ /\G(.+)/gcs;
                last;
            }
            if ($body =~ /\G[ \t]*([0-9A-Fa-f]+)[ \t]*\r\n/gc) {
                my $size = hex $1;
                my $start = pos $body;
                return bad_chunked("$name - invalid chunked data received "
                                   . "(not enought octets for the data section)")
                    if length($body) - $start < $size;
                $decoded .= substr($body, $start, $size);
                pos($body) = $start + $size;
                $body =~ /\G\r\n/gc
                    or return bad_chunked("$name - invalid chunked data received (expected CRLF).");
                next;
            }
            if ($body =~ /\G(.+)/gcs) {
                return bad_chunked("$name - invalid chunked body received: $1");
            }
            return bad_chunked("$name - no last chunk found - $body");
        }
        $res->content($decoded);

    } elsif (defined $len && $len ne '' && $len =~ /^\d+$/) {
        my $body = $res->content // '';
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got "
                 . length($body) . "\n" unless $head_req;
        } elsif (length $body > $len) {
            $left = substr($body, $len);
            $res->content(substr($body, 0, $len));
        }
    }

    return ($res, $raw_headers, $left);
}

sub bad_chunked {
    extra_fail(shift);
    return;
}

sub get_indexed_value {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results should be arrays as well.");
    }
    return $value->[0] if ref $value eq 'ARRAY';
    return $value;
}

sub run_test_helper {
    my ($block, $dry_run, $rep_idx) = @_;
    my $name = $block->name;

    my $reqs = get_req_from_block($block);
    bail_out("$name - request empty") unless @$reqs;

    if (defined $block->curl) {
        warn "# ", curl_command($block, $reqs->[0]), "\n";
    }

    my $timeout = parse_time($block->timeout) // timeout();
    my $pipelined = $block->pipelined_requests;
    my $need_array = $pipelined ? 1 : @$reqs > 1;
    my $res;
    my $req_idx = 0;

    for my $r (0 .. $#$reqs) {
        my ($raw, $head_req) = $dry_run
            ? ("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0)
            : send_request($reqs->[$r], scalar $block->raw_request_middle_delay, $timeout, $block);

        # pipelined: one connection, several responses one after the other
        my $remaining = $pipelined ? scalar @$pipelined : 1;
        while ($remaining-- > 0) {
            $raw //= '';
            my ($raw_headers, $left);
            if (!defined $block->ignore_response) {
                if (defined $block->http09) {
                    $res = HTTP::Response->new(200, 'OK', [], $raw);
                    $raw_headers = '';
                } else {
                    ($res, $raw_headers, $left) = parse_response($name, $raw, $head_req);
                }

                if (!$pipelined && defined $left && $left ne '') {
                    (my $shown = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/ge;
                    warn "WARNING: $name - unexpected extra bytes after last chunk in "
                         . "response: \"$shown\"\n";
                }

                check_error_code($block, $res, $dry_run, $req_idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $dry_run, $req_idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $dry_run, $req_idx, $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $dry_run, $req_idx, $rep_idx, $need_array);
            }
            $raw = $left;

            if ($remaining > 0 || $r < $#$reqs) {
                sleep $block->wait if $block->wait;
                check_error_log($block, $res, $dry_run, $rep_idx, $need_array);
                check_access_log($block, $dry_run, $rep_idx) unless defined $block->ignore_response;
            }
            $req_idx++;
        }
    }

    sleep $block->wait if $block->wait;

    if ($block->{stap}) {
        SKIP: { Test::More::skip("$name - stap_out - tests skipped due to "
                                 . "env TEST_NGINX_USE_STAP is not set", 1) }
    }

    check_error_log($block, $res, $dry_run, $rep_idx, $need_array);
    check_access_log($block, $dry_run, $rep_idx) unless defined $block->ignore_response;
}

sub curl_command {
    my ($block, $packets) = @_;
    my $req = join '', map { $_->{value} } @$packets;
    my ($head, $body) = split /\r\n\r\n/, $req, 2;
    my ($line, @hdrs) = split /\r\n/, $head;
    my ($meth, $uri) = split / /, $line;
    my @cmd = ('curl', '-i', '-sS');
    push @cmd, '-X', $meth if $meth ne 'GET' && $meth ne 'HEAD';
    push @cmd, '-I' if $meth eq 'HEAD';
    push @cmd, map { ('-H', $_) } grep { !/^(?:Host|Connection|Content-Length):/i } @hdrs;
    push @cmd, '--data-binary', $body if defined $body && $body ne '';
    push @cmd, "http://$ServerAddr:$ServerPortForClient$uri";
    return join ' ', map { /^[-\w.:\/=]+$/ ? $_ : "'" . s/'/'\\''/gr . "'" } @cmd;
}

# ---------------------------------------------------------------------------
# Response checks (one test each unless noted)

sub check_error_code {
    my ($block, $res, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->code) || '';
    check_or_skip($dry_run, $name, sub {
        if (defined $block->error_code_like) {
            my $pat = get_indexed_value($name, scalar $block->error_code_like, $idx, $need_array);
            Test::More::like($got, qr/$pat/sm, "$name - status code ok");
        } elsif (defined $block->error_code) {
            Test::More::is($got, get_indexed_value($name, scalar $block->error_code, $idx, $need_array),
                           "$name - status code ok");
        } else {
            Test::More::is($got, 200, "$name - status code ok");
        }
    });
}

sub check_raw_response_headers {
    my ($block, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    for my $kind (qw(like unlike)) {
        my $spec = $kind eq 'like' ? scalar $block->raw_response_headers_like
                                   : scalar $block->raw_response_headers_unlike;
        next unless defined $spec;
        my $pat = get_indexed_value($name, $spec, $idx, $need_array);
        check_or_skip($dry_run, "$name - raw_response_headers_$kind", sub {
            if ($kind eq 'like') {
                Test::More::like($raw_headers, qr/$pat/s, "$name - raw resp headers like");
            } else {
                Test::More::unlike($raw_headers, qr/$pat/s, "$name - raw resp headers unlike");
            }
        });
    }
}

# ordered unique header names of a --- response_headers(_like) value
sub header_specs {
    my $text = shift;
    my $h = parse_headers($text);
    my (@order, %seen);
    for my $line (split /\n/, $text) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        my $key = $line =~ /^!\s*(.*)/ ? $1 : (split /\s*:\s*/, $line, 2)[0];
        push @order, $key unless $seen{$key}++;
    }
    return map { [$_, $h->{$_}] } @order;
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $spec = get_indexed_value($name, scalar $block->response_headers, $idx, $need_array);
        for my $h (header_specs($spec)) {
            my ($key, $val) = @$h;
            if (!defined $val) {
                check_or_skip($dry_run, "$name - response_headers", sub {
                    Test::More::unlike($raw_headers // '', qr/^\s*\Q$key\E\s*:/ms,
                                       "$name - header $key not present in the raw headers");
                });
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $got = $res ? $res->header($key) : undef;
            check_or_skip($dry_run, "$name - response_headers", sub {
                Test::More::is($got // '', $val, "$name - header $key ok");
            });
        }

    } elsif (defined $block->response_headers_like) {
        my $spec = get_indexed_value($name, scalar $block->response_headers_like, $idx, $need_array);
        for my $h (header_specs($spec)) {
            my ($key, $val) = @$h;
            my $got = $res ? $res->header($key) : undef;
            check_or_skip($dry_run, "$name - response_headers_like", sub {
                Test::More::like($got // '', qr/^$val$/, "$name - header $key like ok");
            });
        }
    }
}

sub body_filter {
    my ($name, $f, $content) = @_;
    return $f->($content) if ref $f eq 'CODE';
    bail_out("$name - the --- response_body_filters section only supports "
             . "subroutine reference values and string values") if ref $f;
    my %by_name = (
        md5_hex  => \&Digest::MD5::md5_hex,
        sha1_hex => \&Digest::SHA::sha1_hex,
        uc       => sub { uc shift },
        lc       => sub { lc shift },
        ucfirst  => sub { ucfirst shift },
        lcfirst  => sub { lcfirst shift },
        length   => sub { length shift },
    );
    my $code = $by_name{$f}
        or bail_out("$name - unknown filter, \"$f\", specified in the --- response_body_filters section");
    return $code->($content);
}

sub transform_response_body {
    my ($block, $res, $idx) = @_;
    my $filters = $block->response_body_filters;
    return unless defined $res && defined $filters && defined $res->content;
    my $name = $block->name;

    if (!ref $filters) {
        $filters = [split ' ', $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    if (ref $filters->[0] eq 'ARRAY') {    # one list per request
        $filters = $filters->[$idx];
        bail_out("$name - the ---response_body_filters two-dimensional array "
                 . "unmatch the specified request($idx)") unless defined $filters;
    }
    my $content = $res->content;
    $content = body_filter($name, $_, $content) for ref $filters eq 'ARRAY' ? @$filters : ($filters);
    $res->content($content);
}

sub check_response_body {
    my ($block, $res, $dry_run, $idx, $rep_idx, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;

    if (defined(my $file = $block->write_resp_body_file)) {
        if ($res && open my $out, '>', $file) {
            print $out $content // '';
            close $out;
        }
    }

    if (defined $block->response_body || defined $block->response_body_eval) {
        if (defined $block->response_body_json_sort && defined $content) {
            my $js = JSON::PP->new->canonical(1);
            my $obj = eval { $js->loose(1)->decode($content) };
            $content = $js->encode($obj) . "\n" if defined $obj;
        }
        my $expected;
        if ($block->response_body_eval) {
            Test::More::diag("$name - response_body_eval is DEPRECATED. Use response_body eval instead.");
            $expected = eval get_indexed_value($name, scalar $block->response_body_eval, $idx, $need_array);
            warn $@ if $@;
        } else {
            $expected = get_indexed_value($name, scalar $block->response_body, $idx, $need_array);
        }
        Encode::from_to($expected, 'UTF-8', $block->charset) if $block->charset;
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected = expand_env_in_text($expected, $name, $Test::Nginx::Util::RandPorts);
        }
        my $desc = "$name - response_body - response is expected (repeated req $rep_idx, req $idx)";
        check_or_skip($dry_run, "$name - response_body", sub {
            if (ref $expected) {
                Test::More::like($content, $expected,
                                 "$name - response_body - like (repeated req $rep_idx, req $idx)");
            } else {
                is_str($content, $expected, $desc);
            }
        });

    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $spec = $type eq 'like' ? scalar $block->response_body_like : scalar $block->response_body_unlike;
        my $pat = get_indexed_value($name, $spec, $idx, $need_array);
        if (!ref $pat) {
            $pat =~ s/\$ServerPort\b/$ServerPort/g;
            $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        my $summary = trim($content) // '';
        check_or_skip($dry_run, "$name - response_body_$type", sub {
            my $desc = "$name - response_body_$type - response is expected ($summary)";
            if ($type eq 'like') {
                Test::More::like($content, qr/$pat/s, $desc);
            } else {
                Test::More::unlike($content, qr/$pat/s, $desc);
            }
        });
    }

    $_->($block, $content, $idx, $rep_idx, $dry_run) for @ResponseBodyChecks;
}

# ---------------------------------------------------------------------------
# Log checks

# A pattern section: plain text = one substring per line; eval may give a
# qr// or an array of strings/qr//.
sub pattern_list {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [split /\n+/, $pats];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub fmt_str {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub value_contains {
    my ($val, $needle) = @_;
    return 0 unless defined $val;
    return index("$val", $needle) >= 0 if !ref $val || ref $val eq 'Regexp';
    if (ref $val eq 'ARRAY') {
        for (@$val) { return 1 if value_contains($_, $needle) }
    }
    return 0;
}

# Each pattern must match some line: one test per pattern.
sub expect_lines {
    my ($lines, $pats, $dry_run, $what, $file, $suffix) = @_;
    my @left = @$pats;
    for my $line (@$lines) {
        for my $p (@left) {
            next unless defined $p && line_matches($line, $p);
            check_or_skip($dry_run, $what, sub {
                Test::More::pass("$what - pattern \"$p\" matches a line in $file$suffix");
            });
            undef $p;
        }
    }
    for my $p (grep { defined } @left) {
        check_or_skip($dry_run, $what, sub {
            Test::More::fail("$what - pattern \"$p\" should match a line in $file$suffix");
        });
    }
}

# No pattern may match: one test per pattern, plus one more failure for
# every further matching line (an extra, uncounted test).
sub forbid_lines {
    my ($lines, $pats, $dry_run, $what, $file, $suffix) = @_;
    my %found;
    for my $i (0 .. $#$lines) {
        my $line = $lines->[$i];
        for my $p (@$pats) {
            next unless defined $p && line_matches($line, $p);
            tb()->no_ending(1) if $found{$p}++;
            check_or_skip($dry_run, $what, sub {
                my $context = join '', @{$lines}[$i + 1 .. min($i + 9, $#$lines - 1)];
                Test::More::fail("$what - pattern \"" . fmt_str($p) . "\" should not match any "
                                 . "line in $file but matches line \"" . fmt_str($line)
                                 . "\"$suffix\n$context");
            });
        }
    }
    for my $p (@$pats) {
        next if !defined $p || $found{$p};
        check_or_skip($dry_run, $what, sub {
            Test::More::pass("$what - pattern \"" . fmt_str($p) . "\" does not match a line in $file$suffix");
        });
    }
}

sub check_error_log {
    my ($block, $res, $dry_run, $rep_idx, $need_array) = @_;
    my $name = $block->name;
    my $lines;
    my $suffix = " (req $rep_idx)";

    my $grep_pat = $block->grep_error_log;
    $grep_pat = $grep_pat->[$rep_idx] if ref $grep_pat eq 'ARRAY';
    if (!defined $block->grep_error_log && defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined");
    }
    if (defined $grep_pat) {
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            unless defined $expected;
        $expected = expand_env_in_text($expected, $name, $Test::Nginx::Util::RandPorts)
            unless ref $expected;
        $expected = $expected->[$rep_idx] if ref $expected eq 'ARRAY';
        check_or_skip($dry_run, "$name - error_log", sub {
            $lines ||= error_log_data();
            my $out = '';
            for my $line (@{ $lines || [] }) {
                my $m;
                if (ref $grep_pat) {
                    $m = $& if $line =~ $grep_pat;
                } elsif ((my $at = index($line, $grep_pat)) >= 0) {
                    $m = $grep_pat;
                }
                $out .= "$m\n" if defined $m && $m !~ /\n/;
            }
            is_str($out, $expected, "$name - grep_error_log_out$suffix");
        });
    }

    my %warn_about = map { $_ => 1 } qw(alert crit emerg);
    for my $section (qw(error_log no_error_log)) {
        my $pats = $block->$section;
        next unless defined $pats;
        for my $level (qw(alert crit emerg)) {
            delete $warn_about{$level} if value_contains($pats, "[$level");
        }
        $lines ||= error_log_data() || [];
        if ($section eq 'error_log') {
            expect_lines($lines, pattern_list($pats), $dry_run, $name, 'error.log', $suffix);
        } else {
            forbid_lines($lines, pattern_list($pats), $dry_run, $name, 'error.log', $suffix);
        }
    }

    return if $dry_run;
    $lines ||= error_log_data() || [];
    for my $line (@$lines) {
        for my $level (sort keys %warn_about) {
            warn "WARNING: $name - " . fmt_str($line) . "\n" if $line =~ /\[$level\]/;
        }
        if ($line =~ /\bAssertion .*?failed\b/) {
            (my $l = $line) =~ s/\n\z//;
            extra_fail("$name - $l\n");
        }
    }
}

sub check_access_log {
    my ($block, $dry_run, $rep_idx) = @_;
    my $name = $block->name;
    my $lines;
    if (defined(my $pats = $block->access_log)) {
        $lines ||= access_log_data() || [];
        expect_lines($lines, pattern_list($pats), $dry_run, $name, 'access.log', " (req $rep_idx)");
    }
    if (defined(my $pats = $block->no_access_log)) {
        $lines ||= access_log_data() || [];
        forbid_lines($lines, pattern_list($pats), $dry_run, $name, 'access.log', " (req $rep_idx)");
    }
}

# Called once nginx of the block has stopped (next block start or END).
sub check_shutdown_error_log {
    my ($block, $dry_run) = @_;
    my $name = $block->name;
    my $lines;
    if (defined(my $pats = $block->shutdown_error_log)) {
        $lines ||= error_log_data() || [];
        expect_lines($lines, pattern_list($pats), $dry_run, $name, 'error.log', '');
        for my $line (@$lines) {
            if ($line =~ /\bAssertion .*? failed\.$/) {
                (my $l = $line) =~ s/\n\z//;
                extra_fail("$name - $l");
            }
        }
    }
    if (defined(my $pats = $block->no_shutdown_error_log)) {
        $lines ||= error_log_data() || [];
        forbid_lines($lines, pattern_list($pats), $dry_run, $name, 'error.log', '');
    }
}

1;
