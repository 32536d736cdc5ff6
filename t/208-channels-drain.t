# Draining.  A worker retired by a reload closes its WebSockets with 1012
# (Service Restart), nginx quitting with 1001, both spread uniformly over
# ws_drain_window after ws_shutdown_delay, and worker_shutdown_timeout
# still ends whatever is left.  The close reason is "resume:NAME=ID,...",
# the ws_last_id value that resumes every channel of the connection with
# nothing lost and nothing twice (a name that does not fit leaves only
# the plain reason); a steady publish during a reload, with subscribers
# that come back with it, counts lost and duplicated messages (none) and
# reports the longest gap a subscriber saw.
#
# nginx runs with a master and two workers.  The scenarios run in each
# block's --- init and their checks are the first tests of the block.

use lib 't/lib';
use Test::Nginx::Socket;
use Test::NgxWs::Channels qw(:DEFAULT gone reload start_nginx);

use IO::Select ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

master_on();
workers(2);
worker_connections(1024);
repeat_each(1);

# checks made by the --- init scenarios, per block
my %INIT_TESTS = (1 => 7, 2 => 4, 3 => 3, 4 => 5, 5 => 7);

plan tests => repeat_each() * checks() + sum(values %INIT_TESTS);

no_shuffle();
no_long_string();

# ids are compared relative to their channel's (Test::NgxWs::Channels)
add_block_preprocessor(\&rel_bodies);

run_tests();


# --- helpers ------------------------------------------------------------


# Reads what the connections have, all at once, until $until (a time) or
# until $done->() is true; calls $on_frame->($c, $frame, $now) for each
# frame and $on_eof->($c, $now) once per connection that ends.
sub pump {
    my (%o) = @_;
    my $conns = $o{conns};

    while (Time::HiRes::time() < $o{until}) {
        last if $o{done} && $o{done}->();

        my %by_fd;
        my $sel = IO::Select->new;

        for my $c (grep { !$_->{eof} } @$conns) {
            my $s = $c->socket or next;
            $by_fd{ fileno $s } = $c;
            $sel->add($s);
        }

        last unless $sel->count;

        for my $s ($sel->can_read(0.02)) {
            my $c = $by_fd{ fileno $s };
            my $n = sysread $s, $c->{buf}, 65536, length $c->{buf};
            my $now = Time::HiRes::time();

            while (my $f = $c->_next_frame) {
                $o{on_frame}->($c, $f, $now);
            }

            if (!$n) {
                $c->{eof} = 1;
                $o{on_eof}->($c, $now) if $o{on_eof};
            }
        }
    }
}

# Opens $n subscribers of $path; returns them.
sub subscribers {
    my ($path, $n) = @_;
    return map { client($path) } 1 .. $n;
}

# The times at which each connection got its Close, from $t0; and the
# codes and reasons, "CODE REASON" => count.
sub closes {
    my ($conns, $t0, $timeout) = @_;
    my (@t, %codes);

    pump(conns => $conns, until => $t0 + $timeout,
         done => sub { @t == @$conns },
         on_frame => sub {
             my ($c, $f, $now) = @_;
             return unless $f->{opcode} == 8;
             push @t, $now - $t0;
             $codes{"$f->{code} $f->{reason}"}++;
             $c->send_close(1000);
         });

    return ([ sort { $a <=> $b } @t ], \%codes);
}

sub codes_desc {
    my ($codes) = @_;
    return join ', ', map { "$codes->{$_} x " . rel($_) } sort keys %$codes;
}

sub spread_desc {
    my ($t) = @_;
    return 'none' unless @$t;
    my $half = grep { $_ < ($t->[0] + $t->[-1]) / 2 } @$t;
    return sprintf '%d closes from %.2f s to %.2f s, %d in the first half',
                   scalar @$t, $t->[0], $t->[-1], $half;
}


# --- scenarios ----------------------------------------------------------

# TEST 1: a reload with ws_drain_window 2s: 200 subscribers (more if
# needed to have 20 in each worker) get 1012
# with the resume point, spread over the window, not all at once.
sub spread_on_reload {
    my @c = spread('/sub', 200, 20);
    my $n = @c;
    both_workers_ok('drain', @c);

    publish('room', 'one');
    all_got_ok('the subscribers get a message', \@c, t('one'));

    my $t0 = Time::HiRes::time();
    my @new = reload();

    my ($t, $codes) = closes(\@c, $t0, 5);

    Test::More::is(codes_desc($codes), "$n x 1012 resume:room=1",
                   'on reload every subscriber gets 1012 "resume:room=1"');

    Test::More::ok(@$t == $n && $t->[-1] - $t->[0] >= 1.0,
                   'the closes are spread, not all at once: '
                   . spread_desc($t));

    my $half = grep { $_ < 1.0 } @$t;

    Test::More::ok(@$t == $n && $t->[-1] < 2.0 + 1.0
                   && $half >= $n / 5 && $half <= $n * 4 / 5,
                   'all within the window and a margin, about half in'
                   . " each half ($half in the first second)");

    $_->wait_eof(2), $_->close for @c;

    my $fresh = client('/sub');
    Test::More::ok(grep({ $_ == ($fresh->header('X-Worker') // 0) } @new),
                   'a new subscriber is served by a new worker');
    close_all_ok('the new subscriber leaves', $fresh);
}

# TEST 2: nginx -s quit (QUIT to the master): 1001, spread too, with the
# resume point; nginx exits after the window.
sub spread_on_quit {
    my $master = master_pid();
    my @c = subscribers('/sub', 60);

    publish('room', 'x') for 1 .. 3;
    all_got_ok('the subscribers get the messages', \@c, t(('x') x 3));

    my $t0 = Time::HiRes::time();
    kill 'QUIT', $master or die "kill QUIT $master: $!";

    my ($t, $codes) = closes(\@c, $t0, 5);

    Test::More::is(codes_desc($codes), '60 x 1001 resume:room=3',
                   'on quit every subscriber gets 1001 "resume:room=3"');

    Test::More::ok(@$t == 60 && $t->[-1] - $t->[0] >= 0.4
                   && $t->[-1] < 1.0 + 1.0,
                   'spread over the window: ' . spread_desc($t));

    $_->wait_eof(2), $_->close for @c;

    my $deadline = Time::HiRes::time() + 3;
    Time::HiRes::sleep(0.01)
        until gone($master) || Time::HiRes::time() > $deadline;

    Test::More::ok(gone($master), 'nginx exits');

    start_nginx() if gone($master);
}

# TEST 3: worker_shutdown_timeout 1s ends a drain window of 30s: every
# connection ends by then, those not yet closed without a Close.
sub shutdown_timeout_wins {
    my @c = subscribers('/sub', 40);

    my $t0 = Time::HiRes::time();
    reload();

    my (%eof, $closes);

    pump(conns => \@c, until => $t0 + 5,
         done => sub { keys %eof == @c },
         on_frame => sub { $closes++ if $_[1]{opcode} == 8 },
         on_eof => sub { $eof{ $_[0] } = $_[1] - $t0 });

    my @t = sort { $a <=> $b } values %eof;

    Test::More::is(scalar @t, 40, 'every connection ends');
    Test::More::ok(@t && $t[-1] < 2.5,
                   sprintf('by worker_shutdown_timeout (last at %.2f s)',
                           $t[-1] // -1));
    Test::More::ok(($closes // 0) < 20,
                   'most never got their turn in the window ('
                   . ($closes // 0) . ' Close frames)');

    $_->close for @c;
}

# TEST 4: a steady publish through a reload; subscribers come back at
# once with the reason as last_id: nothing lost, nothing twice.
sub resume_across_reload {
    my $n = 100;
    my @c = subscribers('/sub?ch=feed', $n);
    $c[$_]{slot} = $_ for 0 .. $n - 1;
    my (%seen, %dup, %last_at, %last_id, %gap, @bad_reason, $closed, $hl);
    my $all = [ @c ];

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        # the publisher: 300 messages, 5 ms apart (1.5 s at the least):
        # a count, so that a busy machine makes the test longer, not weaker
        for my $i (1 .. 300) {
            publish('feed', "m$i");
            Time::HiRes::sleep(0.005);
        }
        POSIX::_exit(0);
    }

    my $t0 = Time::HiRes::time();
    my $reloaded;
    my $k;

    pump(conns => $all, until => $t0 + 30,
         done => sub {
             if (!$reloaded && Time::HiRes::time() > $t0 + 0.5) {
                 $reloaded = 1;
                 reload();
             }

             return 0 unless waitpid($pid, POSIX::WNOHANG()) == $pid
                             || defined $k;

             $k //= do {
                 my ($id) = rel(http('GET', '/pub?channel=feed')->{body})
                            =~ /"last_id":(\d+)/;
                 $id // 0;
             };

             return !grep { ($last_id{ $_->{slot} } // 0) < $k } @$all[0 .. $n - 1];
         },
         on_frame => sub {
             my ($c, $f, $now) = @_;
             my $s = $c->{slot};

             if ($f->{opcode} == 8) {
                 $closed++;
                 my $want = 'resume:feed=' . ($last_id{$s} // 0);
                 push @bad_reason, "$f->{code} $f->{reason} (want $want)"
                     if "$f->{code} " . rel($f->{reason}) ne "1012 $want";

                 $c->send_close(1000);

                 my ($v) = $f->{reason} =~ /^resume:(.*)/;
                 my $new = client('/sub?ch=feed&last_id=' . ($v // ''));
                 $new->{slot} = $s;
                 $all->[$s] = $new;
                 push @$all, $c;          # still read until its EOF
                 return;
             }

             $hl++ if $f->{payload} =~ /^\{"event":"history_lost"/;

             my ($id) = rel($f->{payload}) =~ /"id":(\d+)/ or return;

             $dup{$s}++ if $seen{$s}{$id}++;

             if (defined $last_at{$s}) {
                 my $g = $now - $last_at{$s};
                 $gap{$s} = $g if $g > ($gap{$s} // 0);
             }

             $last_at{$s} = $now;
             $last_id{$s} = $id if $id > ($last_id{$s} // 0);
         });

    waitpid $pid, 0;

    my $lost = 0;
    for my $s (0 .. $n - 1) {
        $lost += grep { !$seen{$s}{$_} } 1 .. ($k // 0);
    }
    my $dups = sum(values %dup);
    my $longest = (sort { $b <=> $a } values %gap)[0] // 0;

    Test::More::is($k // 0, 300, 'the publisher published 300 messages');
    Test::More::is($closed // 0, $n, 'every subscriber got a Close');
    Test::More::is(join('; ', @bad_reason[0 .. ($#bad_reason > 2 ? 2 : $#bad_reason)])
                   || 'all right', 'all right',
                   'each Close is 1012 "resume:feed=ID", ID the last one it got');
    Test::More::is("lost $lost, duplicated $dups, history_lost " . ($hl // 0),
                   'lost 0, duplicated 0, history_lost 0',
                   sprintf('coming back with the reason: nothing lost, nothing'
                           . ' twice (%d x %d messages; longest gap %.0f ms)',
                           $n, $k // 0, $longest * 1000));
    Test::More::ok($longest < 1.5,
                   sprintf('the longest gap (%.0f ms) is within the drain'
                           . ' window and a margin', $longest * 1000));

    for my $c (@$all) {
        $c->send_close(1000) unless $c->{eof};
        $c->close;
    }
}

# TEST 5: the reason for several channels, names percent-encoded; a list
# that does not fit leaves the plain reason; ids resume exactly.
sub reason_format {
    publish('a:1', 'p') for 1 .. 2;
    publish('x,y=z', 'q');

    my $two = client('/two');
    my $long = client('/long');
    my $push = client('/push');

    reload();

    my ($code, $reason) = $two->wait_close(3);
    Test::More::is("$code " . rel($reason), '1012 resume:a:1=2,x%2Cy%3Dz=1',
                   'two channels: both ids, the names percent-encoded');

    ($code, $reason) = $long->wait_close(3);
    Test::More::is("$code $reason", '1012 server restarting',
                   'a list longer than 123 bytes: the plain reason');

    ($code, $reason) = $push->wait_close(3);
    Test::More::is("$code $reason", '1012 server restarting',
                   'a ws_push channel is not listed');

    $_->send_close(1000), $_->wait_eof(2), $_->close for $two, $long, $push;

    publish('a:1', 'after');
    publish('x,y=z', 'after 2');

    my $v = 'a:1=' . id_of('a:1', 2) . ',x%2Cy%3Dz=' . id_of('x,y=z', 1);
    my $back = client("/two?last_id=$v");
    all_got_ok('coming back with it gets only what followed', [ $back ],
               t('after', 'after 2'));
    close_all_ok('the client leaves', $back);

    my $again = client('/two?last_id=a:1=0,x%2Cy%3Dz=0');
    all_got_ok('the ids are those of the channels',
               [ $again ], t('p', 'p', 'after', 'q', 'after 2'));
    close_all_ok('the client leaves again', $again);
}

__DATA__

=== TEST 1: reload: 1012 "resume:room=N", spread over ws_drain_window
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_drain_window 2s;
        ws_close_timeout 1s;
        add_header X-Worker $pid always;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::spread_on_reload();
--- request
GET /pub?channel=room
--- response_body
{"channel":"room","subscribers":0,"last_id":1,"history":1}
--- error_log
worker is shutting down, closing with 1012
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: quit: 1001 "resume:room=N", spread too
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_drain_window 1s;
        ws_close_timeout 1s;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::spread_on_quit();
--- request
GET /pub?channel=room
--- error_code: 404
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: worker_shutdown_timeout wins over ws_drain_window
--- main_config
    worker_shutdown_timeout 1s;
--- http_config
    ws_zone chat 1m;
--- config
    location /sub {
        websocket;
        ws_subscribe chat room;
        ws_drain_window 30s;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::shutdown_timeout_wins();
--- request
GET /pub?channel=room
--- error_code: 200
--- no_error_log
[error]
[alert]
[crit]



=== TEST 4: steady publish through a reload, subscribers resume with the reason
--- http_config
    ws_zone chat 8m history=4096;
--- config
    location /sub {
        websocket;
        ws_subscribe chat $arg_ch;
        ws_envelope on;
        ws_drain_window 500ms;
        ws_close_timeout 1s;
        ws_send_buffer 4m;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::resume_across_reload();
--- request
GET /pub?channel=nothing
--- error_code: 404
--- no_error_log
[error]
[alert]
[crit]



=== TEST 5: the reason: several channels, percent-encoding, the fallback
--- http_config
    ws_zone chat 1m;
--- config
    location /two {
        websocket;
        ws_subscribe chat a:1;
        ws_subscribe chat "x,y=z";
    }
    location /long {
        websocket;
        ws_subscribe chat room;
        ws_subscribe chat aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;
    }
    location /push {
        websocket;
        ws_push chat;
    }
    location /pub {
        ws_publisher chat;
    }
--- init
main::reason_format();
--- request
GET /pub?channel=a:1
--- response_body
{"channel":"a:1","subscribers":0,"last_id":3,"history":3}
--- no_error_log
[error]
[alert]
[crit]
