# WebSocket over TLS (wss://): a server with "listen ... ssl" in each
# block's http_config, on TEST_NGINX_TLS_PORT (the server port + 3), with a
# certificate made at run time by Test::NgxWs::TLS.  Test::Nginx's own
# client speaks plain TCP only, so the wss exchanges run from each block's
# --- init through Test::NgxWs::Client->new(tls => 1, ...) (IO::Socket::SSL,
# the CA verified), and the block's plain request checks that the plain
# server answers next to it.
#
# Covered: the handshake and echo of small and large messages (up to
# 5 MB), frames cut into many TLS records, fragmentation with a ping in the
# middle, the close handshake with codes and the TLS close_notify that
# follows it, 1002, 1007 and 1009 failures, the idle timeout, clients that
# read slowly so that SSL_write cannot finish (the record must be retried
# as it was; every byte must arrive, in order), and clients that vanish
# mid-message or mid-write.

use lib 't/lib';
use WsFrame ();
use Test::NgxWs::Client ();
use Test::NgxWs::TLS ();
use Test::NgxWs::Proc qw(master_pid gone);
use Test::Nginx::Socket;

use Digest::MD5 ();
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

Test::NgxWs::TLS::setup();

repeat_each(1);

# per block: the init checks it names in --- init_checks, the status, the
# body and one per error_log / no_error_log line
plan tests => repeat_each() * checks();

no_shuffle();
no_long_string();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location = /t {
        return 200 "ok\n";
    }
_EOC_

    $block->set_value('request', "GET /t\n") unless defined $block->request;
    $block->set_value('response_body', "ok\n")
        unless defined $block->response_body;
});

run_tests();


sub checks {
    my $n = 0;

    for my $block (blocks()) {
        $n += 2 + ($block->init_checks // 0);

        for my $v (grep { defined } $block->error_log, $block->no_error_log) {
            $n += ref $v eq 'ARRAY' ? @$v
                : ref $v ? 1
                : scalar(my @l = split /\n/, $v);
        }
    }

    return $n;
}


sub client {
    my (%o) = @_;
    return Test::NgxWs::Client->new(tls => 1, path => '/ws', timeout => 5,
                                    %o);
}

sub md5 { Digest::MD5::md5_hex($_[0]) }

# a payload that differs from byte to byte and from message to message
sub pattern {
    my ($seed, $len) = @_;
    my $unit = join '', map { chr(($seed * 131 + $_ * 7) % 256) } 0 .. 1020;
    return substr($unit x (int($len / length $unit) + 1), 0, $len);
}

# reads until EOF; the close frame, if any, and whether close_notify came
sub expect_close {
    my ($ws, $name, $code, $reason) = @_;

    my @close = $ws->wait_close(3);
    Test::More::is_deeply(\@close, [ $code, $reason ],
                          "$name: close frame $code");

    Test::More::ok($ws->wait_eof(3) && $ws->tls_close_notify,
                   "$name: TLS close_notify, then EOF")
        or Test::More::diag("eof " . ($ws->is_closed // 0) . ", reset "
                            . ($ws->reset // '-'));
}


# Sends $out and reads the echoes of $want data messages at the same time,
# both non-blocking: reading starts only after $o{pause} seconds, then takes
# $o{chunk} bytes at a time with $o{delay} seconds between reads, so the
# server's writes block.  Returns the data messages read, in order.
sub pump {
    my ($ws, $out, $want, %o) = @_;

    my $s = $ws->socket;
    my ($off, $buf, @got) = (0, $ws->leftover // '');
    my $start = Time::HiRes::time();
    my $deadline = $start + ($o{timeout} // 20);

    while (@got < $want && Time::HiRes::time() < $deadline) {
        my $reading = Time::HiRes::time() >= $start + ($o{pause} // 0);
        my $writing = $off < length $out;


        unless ($reading && $s->pending) {
            my $sel = IO::Select->new($s);
            IO::Select->select($reading ? $sel : undef,
                               $writing ? $sel : undef, undef, 0.05);
        }

        if ($writing) {
            # after a write that could not finish, the same bytes again
            my $n = syswrite $s, $out, 65536 < length($out) - $off
                                       ? 65536 : length($out) - $off, $off;

            if (defined $n) {
                $off += $n;

            } elsif (!$!{EAGAIN} && !$!{EINTR}) {
                die "write: $! $IO::Socket::SSL::SSL_ERROR";
            }
        }

        next unless $reading;

        my $n = sysread $s, $buf, $o{chunk} // 65536, length $buf;

        if (defined $n && $n == 0) {
            last;

        } elsif (!defined $n) {
            next if $!{EAGAIN} || $!{EINTR};
            die "read: $! $IO::Socket::SSL::SSL_ERROR";
        }

        while (defined(my $size = WsFrame::frame_size($buf))) {
            my ($f) = WsFrame::decode(substr $buf, 0, $size, '');
            push @got, $f if $f->{opcode} == 1 || $f->{opcode} == 2;
        }

        Time::HiRes::sleep($o{delay}) if $o{delay};
    }

    return \@got;
}


sub compare_messages {
    my ($name, $got, $sent) = @_;

    my $bad = 0;

    for my $i (0 .. $#$sent) {
        my $g = $got->[$i];

        next if $g && $g->{fin} && $g->{opcode} == $sent->[$i][0]
                && $g->{payload} eq $sent->[$i][1];

        Test::More::diag("$name: message $i differs: "
                         . ($g ? "op $g->{opcode}, " . length($g->{payload})
                                 . " bytes, md5 " . md5($g->{payload})
                               : "missing")
                         . "; sent " . length($sent->[$i][1]) . " bytes, md5 "
                         . md5($sent->[$i][1]));
        last if ++$bad > 3;
    }

    Test::More::ok(!$bad && @$got == @$sent,
                   "$name: " . @$sent . " messages intact and in order")
        or Test::More::diag("got " . @$got . " messages");
}


sub test_small_echo {
    my $ws = client();

    Test::More::like($ws->tls_version, qr/^TLSv1_[23]$/,
                     'small: TLS 1.2 or 1.3 negotiated');

    $ws->send_text("hello");
    my $f = $ws->read_frame;
    Test::More::is_deeply([ $f && @$f{qw(fin opcode payload)} ],
                          [ 1, 1, 'hello' ], 'small: text echoed');

    $ws->send_binary("\x00\xff\x01bin");
    $f = $ws->read_frame;
    Test::More::is_deeply([ $f && @$f{qw(fin opcode payload)} ],
                          [ 1, 2, "\x00\xff\x01bin" ], 'small: binary echoed');

    $ws->send_ping("are you there");
    $f = $ws->read_frame;
    Test::More::is_deeply([ $f && @$f{qw(opcode payload)} ],
                          [ 10, 'are you there' ], 'small: pong');

    $ws->send_text("");
    $f = $ws->read_frame;
    Test::More::is_deeply([ $f && @$f{qw(opcode payload)} ], [ 1, '' ],
                          'small: empty text echoed');

    $ws->send_close(1000, 'bye');
    expect_close($ws, 'small', 1000, '');
}


sub test_large_echo {
    my $ws = client();

    my @sent = ([ 1, "\x{e9}t\x{e9} " x 20000 ],
                [ 2, pattern(1, 1 << 20) ],
                [ 2, pattern(2, 5 * (1 << 20) + 3) ]);

    utf8::encode($sent[0][1]);

    $ws->send_frame(opcode => $_->[0], payload => $_->[1]) for @sent;

    my @got = $ws->read(all => [ map { { opcode => $_->[0] } } @sent ],
                        timeout => 15);

    compare_messages('large', \@got, \@sent);

    $ws->send_close(1000);
    expect_close($ws, 'large', 1000, '');
}


# every byte of the handshake and of a frame in a TLS record of its own
sub test_records {
    my $ws = client(handshake => 0);
    my $s = $ws->socket;

    $s->setsockopt(Socket::IPPROTO_TCP(), Socket::TCP_NODELAY(), 1);

    my $bytes = WsFrame::ws_handshake('/ws')
                . WsFrame::ws_text('r' x 300) . WsFrame::ws_ping('p');

    for my $byte (split //, $bytes) {
        $ws->raw_write($byte) or die "write: $ws->{write_error}";
    }

    $ws->read_handshake;
    Test::More::is($ws->status, 101, 'records: 101');

    my @got = $ws->read(all => [ { opcode => 1 }, { opcode => 10 } ]);
    Test::More::is_deeply([ map { [ $_->{opcode}, $_->{payload} ] } @got ],
                          [ [ 1, 'r' x 300 ], [ 10, 'p' ] ],
                          'records: echo and pong');

    $ws->send_close(1000);
    expect_close($ws, 'records', 1000, '');
}


sub test_fragments {
    my $ws = client();

    $ws->send_text('frag', fin => 0);
    $ws->send_cont('men', fin => 0);
    $ws->send_ping('mid');
    $ws->send_cont('ted');

    my $big = pattern(3, 4 * 262144);

    for my $i (0 .. 3) {
        my $part = substr $big, $i * 262144, 262144;
        $i == 0 ? $ws->send_binary($part, fin => 0)
                : $ws->send_cont($part, fin => $i == 3 ? 1 : 0);
    }

    my @got = $ws->read(all => [ { opcode => 10 }, { opcode => 1 },
                                 { opcode => 2 } ], timeout => 10);

    Test::More::is_deeply([ map { [ $_->{opcode}, $_->{fin},
                                    md5($_->{payload}) ] } @got ],
                          [ [ 10, 1, md5('mid') ], [ 1, 1, md5('fragmented') ],
                            [ 2, 1, md5($big) ] ],
                          'fragments: pong first, then the messages whole');

    $ws->send_close(1000);
    expect_close($ws, 'fragments', 1000, '');
}


# many small messages in one write: one TLS record holds many frames, and
# the echoes go out in records that hold many frames
sub test_many {
    my $ws = client();

    my @sent = map { my $p = pattern($_, 1 + ($_ * 37) % 300);
                     $_ % 2 ? [ 2, $p ] : [ 1, unpack 'H*', $p ] } 0 .. 1999;

    $ws->raw_write(join '', map { WsFrame::frame(opcode => $_->[0],
                                                 payload => $_->[1]) } @sent)
        or die "write: $ws->{write_error}";

    my @got = $ws->read(all => [ map { {} } @sent ], timeout => 10);
    compare_messages('many', \@got, \@sent);

    $ws->send_close(1000);
    expect_close($ws, 'many', 1000, '');
}


sub test_close_codes {
    my $ws = client();
    $ws->send_close(3000, 'done here');
    expect_close($ws, 'code 3000', 3000, '');

    $ws = client();
    $ws->send_close();
    expect_close($ws, 'empty close', 1005, '');
}


sub test_idle {
    my $ws = client();

    my ($code, $reason) = $ws->wait_close(3);
    Test::More::is_deeply([ $code, $reason ], [ 1000, 'idle timeout' ],
                          'idle: the server closes with 1000');

    $ws->send_close(1000);
    Test::More::ok($ws->wait_eof(3) && $ws->tls_close_notify,
                   'idle: TLS close_notify, then EOF');
}


sub test_failures {
    my $ws = client();

    # an unmasked frame, and then data the server must not read
    $ws->send_text('no mask', masked => 0);
    $ws->send_binary(pattern(4, 200000));
    expect_close($ws, 'unmasked', 1002, '');

    $ws = client();
    $ws->send_text('rsv', rsv => 2);
    expect_close($ws, 'reserved bits', 1002, '');

    $ws = client();
    $ws->send_text("bad \xc3\x28 utf-8");
    expect_close($ws, 'bad UTF-8', 1007, '');

    $ws = client();
    $ws->send_text('x' x 1024);
    my $f = $ws->read_frame;
    Test::More::is($f && $f->{length}, 1024, 'limit: 1024 bytes pass');

    $ws->send_binary('y' x 1025);
    expect_close($ws, 'message over the limit', 1009, '');
}


# The client reads nothing for a while (small receive buffer), so the
# server's socket fills and SSL_write stops mid-record: the rest must go out
# later as the same record, and every echo must arrive whole and in order.
# Meanwhile more than ws_send_buffer waits, so the server stops reading
# too, with decrypted bytes possibly still inside OpenSSL.
sub test_slow_reader {
    my $ws = client(rcvbuf => 65536, timeout => 20);

    my @sent = map { [ 2, pattern($_ + 10, 131072 + $_ * 1021) ] } 0 .. 39;
    my $out = join '', map { WsFrame::frame(opcode => 2,
                                            payload => $_->[1]) } @sent;

    my $got = pump($ws, $out, scalar @sent, pause => 0.5, chunk => 16384,
                     delay => 0.0005, timeout => 25);

    compare_messages('slow reader', $got, \@sent);

    $ws->send_close(1000);
    expect_close($ws, 'slow reader', 1000, '');
}


# a few big messages to a client that reads 4 KB at a time, slowly
sub test_slow_big {
    my $ws = client(rcvbuf => 65536, timeout => 20);

    my @sent = map { [ 2, pattern($_ + 50, 2 * (1 << 20) + $_) ] } 0 .. 2;
    my $out = join '', map { WsFrame::frame(opcode => 2,
                                            payload => $_->[1]) } @sent;

    my $got = pump($ws, $out, scalar @sent, pause => 0.3, chunk => 4096,
                     delay => 0.0002, timeout => 25);

    compare_messages('slow big', $got, \@sent);

    $ws->send_close(1000);
    expect_close($ws, 'slow big', 1000, '');
}


sub echo_works {
    my ($name) = @_;

    my $ws = client();
    $ws->send_text('still here');
    my $f = $ws->read_frame;
    Test::More::is($f && $f->{payload}, 'still here',
                   "$name: another connection is served");
    $ws->send_close(1000);
    $ws->wait_eof(3);
}


sub test_vanish {
    # half of a 1 MB frame, then the TCP connection goes without close_notify
    my $ws = client();
    my $frame = WsFrame::ws_binary(pattern(5, 1 << 20));
    $ws->raw_write(substr $frame, 0, length($frame) / 2);
    $ws->close(abort => 1);

    echo_works('vanish mid-message');

    # a 4 MB echo the client stops reading after a part
    $ws = client(rcvbuf => 65536);
    $ws->send_binary(pattern(6, 4 << 20));
    $ws->read_frame(0.3);          # a part of it: the frame is not whole
    $ws->close(abort => 1);

    # a client that ends TLS (close_notify) without a Close frame
    my $ws2 = client();
    $ws2->send_text('half');
    $ws2->read_frame;
    $ws2->shutdown_write;
    Test::More::ok($ws2->wait_eof(3), 'close_notify without a Close: EOF');

    Time::HiRes::sleep(0.2);

    echo_works('vanish mid-write');
}

# nginx -s stop (TERM): the Close 1001 is written at once over TLS too,
# one SSL_write, before nginx exits; then nginx is started again for the
# block's request.
sub test_stop {
    my $ws = client();
    $ws->send_text('before');
    $ws->read_frame;

    my $pid = master_pid();
    kill 'TERM', $pid or die "kill TERM $pid: $!";

    my @close = $ws->wait_close(3);
    Test::More::is_deeply(\@close, [ 1001, 'server shutting down' ],
                          'stop: close frame 1001');
    $ws->close;

    my $deadline = Time::HiRes::time() + 3;
    Time::HiRes::sleep(0.02) until gone($pid) || Time::HiRes::time() > $deadline;
    Test::More::ok(gone($pid), 'stop: nginx exits');

    my $root = $ENV{TEST_NGINX_SERVER_ROOT};
    system($ENV{TEST_NGINX_BINARY}, '-p', "$root/", '-c',
           "$root/conf/nginx.conf", '-e', "$root/logs/error.log") == 0
        or die "cannot start nginx again";

    $deadline = Time::HiRes::time() + 3;

    until (Time::HiRes::time() > $deadline) {
        last if IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ENV{TEST_NGINX_SERVER_PORT});
        Time::HiRes::sleep(0.02);
    }
}

__DATA__

=== TEST 1: handshake, small echoes, ping, close, close_notify
--- http_config eval
Test::NgxWs::TLS::server(<<'_EOC_');
        location /ws {
            websocket;
            ws_echo on;
        }
_EOC_
--- init
main::test_small_echo();
--- init_checks: 7
--- no_error_log
[error]
[crit]
[alert]



=== TEST 2: large messages, up to 5 MB
--- http_config eval
Test::NgxWs::TLS::server(<<'_EOC_');
        location /ws {
            websocket;
            ws_echo on;
            ws_max_frame_size 8m;
            ws_max_message_size 8m;
        }
_EOC_
--- init
main::test_large_echo();
--- init_checks: 3
--- no_error_log
[error]
[crit]
[alert]



=== TEST 3: a TLS record per byte
--- http_config eval
Test::NgxWs::TLS::server(<<'_EOC_');
        location /ws {
            websocket;
            ws_echo on;
        }
_EOC_
--- init
main::test_records();
--- init_checks: 4
--- no_error_log
[error]
[crit]
[alert]



=== TEST 4: fragmented messages with a ping in the middle
--- http_config eval
Test::NgxWs::TLS::server(<<'_EOC_');
        location /ws {
            websocket;
            ws_echo on;
            ws_max_message_size 2m;
        }
_EOC_
--- init
main::test_fragments();
--- init_checks: 3
--- no_error_log
[error]
[crit]
[alert]



=== TEST 5: 2000 small messages in one write
--- http_config eval
Test::NgxWs::TLS::server(<<'_EOC_');
        location /ws {
            websocket;
            ws_echo on;
        }
_EOC_
--- init
main::test_many();
--- init_checks: 3
--- no_error_log
[error]
[crit]
[alert]



=== TEST 6: close codes
--- http_config eval
Test::NgxWs::TLS::server(<<'_EOC_');
        location /ws {
            websocket;
            ws_echo on;
        }
_EOC_
--- init
main::test_close_codes();
--- init_checks: 4
--- no_error_log
[error]
[crit]
[alert]



=== TEST 7: idle timeout: the server's Close, answered, then close_notify
--- http_config eval
Test::NgxWs::TLS::server(<<'_EOC_');
        location /ws {
            websocket;
            ws_echo on;
            ws_idle_timeout 300ms;
        }
_EOC_
--- init
main::test_idle();
--- init_checks: 2
--- error_log
idle timeout, closing with 1000
--- no_error_log
[error]
[crit]
[alert]



=== TEST 8: 1002, 1007 and 1009 over TLS
--- http_config eval
Test::NgxWs::TLS::server(<<'_EOC_');
        location /ws {
            websocket;
            ws_echo on;
            ws_max_message_size 1k;
            ws_security_log_level warn;
        }
_EOC_
--- init
main::test_failures();
--- init_checks: 9
--- error_log
client sent unmasked frame, closing with 1002
closing with 1007
closing with 1009
--- no_error_log
[error]
[crit]
[alert]



=== TEST 9: a slow reader: SSL_write blocks, reading stops, all arrives
--- http_config eval
Test::NgxWs::TLS::server(<<'_EOC_');
        location /ws {
            websocket;
            ws_echo on;
            ws_send_buffer 64k;
            ws_max_message_size 1m;
        }
_EOC_
--- init
main::test_slow_reader();
--- init_checks: 3
--- error_log
ws reading paused
ws reading resumed
SSL_get_error: 3
--- no_error_log
[error]
[crit]
[alert]



=== TEST 10: big messages to a client that reads 4 KB at a time
--- http_config eval
Test::NgxWs::TLS::server(<<'_EOC_');
        ssl_buffer_size 4k;

        location /ws {
            websocket;
            ws_echo on;
            ws_max_frame_size 4m;
            ws_max_message_size 4m;
        }
_EOC_
--- init
main::test_slow_big();
--- init_checks: 3
--- error_log
SSL_get_error: 3
--- no_error_log
[error]
[crit]
[alert]



=== TEST 11: clients that vanish mid-message and mid-write
--- http_config eval
Test::NgxWs::TLS::server(<<'_EOC_');
        location /ws {
            websocket;
            ws_echo on;
            ws_max_message_size 8m;
            ws_max_frame_size 8m;
        }
_EOC_
--- init
main::test_vanish();
--- init_checks: 3
--- error_log
client closed connection without a close frame
--- no_error_log
[error]
[crit]
[alert]



=== TEST 12: nginx -s stop: Close 1001 over TLS before nginx exits
--- http_config eval
Test::NgxWs::TLS::server(<<'_EOC_');
        location /ws {
            websocket;
            ws_echo on;
        }
_EOC_
--- init
main::test_stop();
--- init_checks: 2
--- error_log
worker is terminating, closed with 1001
--- no_error_log
[error]
[crit]
[alert]
