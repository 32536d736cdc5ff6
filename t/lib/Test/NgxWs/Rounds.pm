package Test::NgxWs::Rounds;

# Round trips on a raw blocking socket, for the memory tests (t/030,
# t/064, t/104): write a batch of frames, read back exactly the bytes the
# server must answer, count the batches that came back different.
# Exported on demand.

use strict;
use warnings;

use Exporter 'import';
use IO::Select ();

our $VERSION = '0.01';

our @EXPORT_OK = qw(write_all read_exactly rounds);

# Writes all of $data (a blocking socket).
sub write_all {
    my ($s, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        die "write: $!" unless defined $n;
        $off += $n;
    }
}

# Reads $len bytes, or what came before 5 s without any or the end.
sub read_exactly {
    my ($s, $len, $sel) = @_;
    my $buf = '';
    while (length $buf < $len) {
        $sel->can_read(5) or return $buf;
        my $n = sysread($s, $buf, $len - length $buf, length $buf);
        return $buf unless $n;
    }
    return $buf;
}

# Sends $rounds batches $out and returns how many answers differed from
# $back.
sub rounds {
    my ($s, $rounds, $out, $back) = @_;
    my $sel = IO::Select->new($s);
    my $bad = 0;

    for (1 .. $rounds) {
        write_all($s, $out);
        $bad++ if read_exactly($s, length $back, $sel) ne $back;
    }

    return $bad;
}

1;
