package Test::NgxWs::Numbered;

# Numbered echoes over a raw non-blocking socket, for the backpressure
# tests (t/018, t/070): message i is pack('N', i) repeated, so a lost,
# doubled or reordered echo is seen.  finish() writes what is left of the
# client's data while reading the echoes, then closes with 1000 and reads
# until the server's Close and EOF (at most $timeout seconds).

use strict;
use warnings;

use IO::Select ();
use Time::HiRes ();

use WsFrame ();

our $VERSION = '0.01';

# Payload of message $i: the 4-byte number repeated $repeat times.
sub payload {
    my ($i, $repeat) = @_;
    return pack('N', $i) x $repeat;
}

# Returns (echoes received, echoes that differ, 2 when the server's Close
# came, 1 when only ours went, 0 before).
sub finish {
    my ($s, $data, $off, $repeat, $timeout) = @_;

    my $sel = IO::Select->new($s);
    my ($in, $got, $bad, $closing) = ('', 0, 0, 0);
    my $deadline = Time::HiRes::time() + ($timeout // 10);

    while (Time::HiRes::time() < $deadline) {
        if ($off < length $data) {
            my $w = syswrite($s, $data, length($data) - $off, $off);
            $off += $w if defined $w;

        } elsif (!$closing) {
            $s->blocking(1);
            syswrite($s, WsFrame::ws_close(1000));
            $s->blocking(0);
            $closing = 1;
        }

        $sel->can_read(0.05) or next;

        my $r = sysread($s, $in, 65536, length $in);
        last if defined $r && $r == 0;
        next unless defined $r;

        while (defined(my $size = WsFrame::frame_size($in))) {
            my ($f) = WsFrame::decode(substr($in, 0, $size, ''));

            if ($f->{opcode} == 2) {
                $got++;
                $bad++ if $f->{payload} ne payload($got, $repeat);

            } elsif ($f->{opcode} == 8) {
                $closing = 2;
            }
        }
    }

    return ($got, $bad, $closing);
}

1;
