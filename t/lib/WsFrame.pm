package WsFrame;

# Byte builders for WebSocket tests in Test::Nginx::Socket blocks.
#
# Client frames (ws_*) are masked with a fixed key unless told otherwise, so
# requests are reproducible; server frames (srv_*) are unmasked, as the module
# must send them. Call these fully qualified from "--- raw_request eval" and
# "--- response_body eval" sections: WsFrame::ws_text("hi").

use strict;
use warnings;

use MIME::Base64 ();
use Digest::SHA ();
use Digest::MD5 ();
use Compress::Raw::Zlib ();

our $KEY  = 'dGhlIHNhbXBsZSBub25jZQ==';
our $MASK = "\x37\xfa\x21\x3d";

# The opening handshake.  Options: key, version, host, origin, protocol
# (string), extensions, headers (array ref of "Name: value" lines),
# method, http (version string), no_key, no_version, no_upgrade,
# no_connection, connection (value), upgrade (value).
sub ws_handshake {
    my ($path, %o) = @_;

    my $method = $o{method} // 'GET';
    my $http = $o{http} // 'HTTP/1.1';
    my @h = ("$method $path $http");

    push @h, 'Host: ' . ($o{host} // 'localhost') unless $o{no_host};
    push @h, 'Upgrade: ' . ($o{upgrade} // 'websocket') unless $o{no_upgrade};
    push @h, 'Connection: ' . ($o{connection} // 'Upgrade')
        unless $o{no_connection};
    push @h, 'Sec-WebSocket-Key: ' . ($o{key} // $KEY) unless $o{no_key};
    push @h, 'Sec-WebSocket-Version: ' . ($o{version} // 13)
        unless $o{no_version};
    push @h, "Origin: $o{origin}" if defined $o{origin};
    push @h, "Sec-WebSocket-Protocol: $o{protocol}" if defined $o{protocol};
    push @h, "Sec-WebSocket-Extensions: $o{extensions}"
        if defined $o{extensions};
    push @h, @{ $o{headers} } if $o{headers};

    return join("\r\n", @h) . "\r\n\r\n";
}

sub ws_accept {
    my ($key) = @_;
    return MIME::Base64::encode_base64(
        Digest::SHA::sha1(($key // $KEY) . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'),
        '');
}

# A frame.  Options: fin (default 1), rsv (0..7), opcode, payload,
# mask (4 bytes; default $MASK), masked (default 1), len (announced length,
# default the payload's), len_form (7, 16 or 64: force a length encoding).
sub frame {
    my (%o) = @_;

    my $payload = $o{payload} // '';
    my $fin = $o{fin} // 1;
    my $rsv = $o{rsv} // 0;
    my $masked = $o{masked} // 1;
    my $len = $o{len} // length $payload;
    my $form = $o{len_form}
               // ($len < 126 ? 7 : $len < 65536 ? 16 : 64);

    my $b = pack 'C', ($fin ? 0x80 : 0) | (($rsv & 7) << 4)
                      | ($o{opcode} & 0x0f);
    my $m = $masked ? 0x80 : 0;

    if ($form == 7) {
        $b .= pack 'C', $m | $len;

    } elsif ($form == 16) {
        $b .= pack 'Cn', $m | 126, $len;

    } else {
        $b .= pack 'CNN', $m | 127, int($len / 4294967296), $len % 4294967296;
    }

    if ($masked) {
        my $key = $o{mask} // $MASK;
        $b .= $key . mask_bytes($payload, $key);

    } else {
        $b .= $payload;
    }

    return $b;
}

sub mask_bytes {
    my ($data, $key) = @_;
    my $k = substr($key x (int(length($data) / 4) + 1), 0, length $data);
    return $data ^ $k;
}

sub ws_text   { my $p = shift; frame(opcode => 1, payload => $p, @_) }
sub ws_binary { my $p = shift; frame(opcode => 2, payload => $p, @_) }
sub ws_cont   { my $p = shift; frame(opcode => 0, payload => $p, @_) }
sub ws_ping   { my $p = shift; frame(opcode => 9, payload => $p // '', @_) }
sub ws_pong   { my $p = shift; frame(opcode => 10, payload => $p // '', @_) }

sub close_payload {
    my ($code, $reason) = @_;
    return '' unless defined $code;
    return pack('n', $code) . ($reason // '');
}

sub ws_close {
    my ($code, $reason, %o) = @_;
    frame(opcode => 8, payload => close_payload($code, $reason), %o);
}

# Server frames, as the module sends them (unmasked).
sub srv_frame {
    my ($opcode, $payload, %o) = @_;
    frame(opcode => $opcode, payload => $payload, masked => 0, %o);
}

sub srv_text   { srv_frame(1, @_) }
sub srv_binary { srv_frame(2, @_) }
sub srv_pong   { srv_frame(10, $_[0] // '') }
sub srv_ping   { srv_frame(9, $_[0] // '') }
sub srv_close  { srv_frame(8, close_payload(@_)) }

# Splits a byte string into frames: a list of hashes with fin, rsv, opcode,
# masked, payload (unmasked); a trailing incomplete frame is returned with
# incomplete => 1.
sub decode {
    my ($data) = @_;
    my @frames;

    while (length $data) {
        my $n = length $data;
        last if $n < 2;
        my ($b0, $b1) = unpack 'CC', $data;
        my $len = $b1 & 0x7f;
        my $off = 2;

        if ($len == 126) {
            last if $n < 4;
            $len = unpack 'n', substr($data, 2, 2);
            $off = 4;

        } elsif ($len == 127) {
            last if $n < 10;
            my ($hi, $lo) = unpack 'NN', substr($data, 2, 8);
            $len = $hi * 4294967296 + $lo;
            $off = 10;
        }

        my $key;
        if ($b1 & 0x80) {
            last if $n < $off + 4;
            $key = substr($data, $off, 4);
            $off += 4;
        }

        if ($n < $off + $len) {
            push @frames, { incomplete => 1 };
            last;
        }

        my $payload = substr($data, $off, $len);
        $payload = mask_bytes($payload, $key) if defined $key;

        push @frames, {
            fin     => ($b0 >> 7) & 1,
            rsv     => ($b0 >> 4) & 7,
            opcode  => $b0 & 0x0f,
            masked  => defined $key ? 1 : 0,
            payload => $payload,
        };

        substr($data, 0, $off + $len) = '';
    }

    return @frames;
}

# The size in bytes of the first frame in a byte string, header included, or
# undef while that frame is incomplete.  With decode() it splits a stream:
# decode(substr($buf, 0, frame_size($buf), '')).
sub frame_size {
    my ($data) = @_;
    my $n = length $data;
    return undef if $n < 2;

    my $b1 = unpack 'C', substr($data, 1, 1);
    my $len = $b1 & 0x7f;
    my $off = 2;

    if ($len == 126) {
        return undef if $n < 4;
        $len = unpack 'n', substr($data, 2, 2);
        $off = 4;

    } elsif ($len == 127) {
        return undef if $n < 10;
        my ($hi, $lo) = unpack 'NN', substr($data, 2, 8);
        $len = $hi * 4294967296 + $lo;
        $off = 10;
    }

    $off += 4 if $b1 & 0x80;

    return $n < $off + $len ? undef : $off + $len;
}


# --- Helpers for the Autobahn-equivalent tests (t/020-029) ---------------

# A payload of exactly $len bytes made by repeating $pattern.
sub repeat_to {
    my ($pattern, $len) = @_;
    return substr($pattern x (int($len / length $pattern) + 1), 0, $len);
}

# Splits a byte string into pieces of $size bytes (the last may be shorter),
# e.g. to send a frame as separate writes: raw_request eval [..., chop_bytes(...)].
sub chop_bytes {
    my ($data, $size) = @_;
    my @pieces;
    for (my $off = 0; $off < length $data; $off += $size) {
        push @pieces, substr($data, $off, $size);
    }
    return @pieces;
}

# A message as masked client frames of at most $size payload bytes each: the
# first with $opcode, the others continuation frames, FIN on the last.  An
# empty payload gives one frame.
sub ws_fragments {
    my ($opcode, $payload, $size, %o) = @_;
    my $n = length $payload;
    my @frames;
    my $off = 0;
    do {
        my $chunk = substr($payload, $off, $size);
        $off += length $chunk;
        push @frames, frame(%o, opcode => @frames ? 0 : $opcode,
                            fin => $off >= $n ? 1 : 0, payload => $chunk);
    } while ($off < $n);
    return join '', @frames;
}

# A one-line-per-frame summary of a byte stream, for comparing large responses
# without multi-megabyte diagnostics: header bits, header size (shows the
# length encoding), payload length, and the payload itself when short
# (escaped) or its MD5 when long; a Close shows its code and reason.  Trailing
# bytes that do not form a whole frame are reported as "incomplete: N bytes"
# with those bytes (or their MD5 when long), and a run of identical frames is
# one line ending in " xCOUNT".
sub describe {
    my ($data) = @_;
    my ($pos, $n, @out) = (0, length $data);

    while ($pos < $n) {
        my $rest = $n - $pos;
        my ($len, $hlen);

        if ($rest >= 2) {
            my $b1 = unpack 'C', substr($data, $pos + 1, 1);
            $len = $b1 & 0x7f;
            $hlen = 2 + ($b1 & 0x80 ? 4 : 0);

            if ($len == 126) {
                $hlen += 2;
                $len = $rest >= 4 ? unpack('n', substr($data, $pos + 2, 2))
                                  : undef;

            } elsif ($len == 127) {
                $hlen += 8;
                if ($rest >= 10) {
                    my ($hi, $lo) = unpack 'NN', substr($data, $pos + 2, 8);
                    $len = $hi * 4294967296 + $lo;
                } else {
                    $len = undef;
                }
            }
        }

        if (!defined $len || $rest < $hlen + $len) {
            my $tail = substr($data, $pos);
            push @out, "incomplete: $rest bytes "
                        . ($rest <= 64 ? '"' . _escape($tail) . '"'
                                        : 'md5:' . Digest::MD5::md5_hex($tail));
            last;
        }

        my ($b0, $b1) = unpack 'CC', substr($data, $pos, 2);
        my $payload = substr($data, $pos + $hlen, $len);
        $payload = mask_bytes($payload, substr($data, $pos + $hlen - 4, 4))
            if $b1 & 0x80;
        my $op = $b0 & 0x0f;

        my $what;
        if ($op == 8 && $len >= 2) {
            $what = 'code:' . unpack('n', $payload) . ' reason:"'
                    . _escape(substr($payload, 2)) . '"';
        } elsif ($len <= 64) {
            $what = '"' . _escape($payload) . '"';
        } else {
            $what = 'md5:' . Digest::MD5::md5_hex($payload);
        }

        push @out, sprintf 'fin:%d rsv:%d op:%d mask:%d hdr:%d len:%d %s',
                   $b0 >> 7, ($b0 >> 4) & 7, $op, $b1 >> 7, $hlen, $len,
                   $what;
        $pos += $hlen + $len;
    }

    # runs of identical frames are shown once, with a count
    my @lines;
    for my $line (@out) {
        if (@lines && $lines[-1][0] eq $line) {
            $lines[-1][1]++;
        } else {
            push @lines, [$line, 1];
        }
    }

    return join '', map { $_->[0] . ($_->[1] > 1 ? " x$_->[1]" : '') . "\n" }
                   @lines;
}


# --- permessage-deflate (RFC 7692) ---------------------------------------

# A compressor for client messages.  With context (the default) every call
# continues the same DEFLATE stream, as a client with context takeover does;
# each result is the message's compressed payload without the final
# 0x00 0x00 0xff 0xff.  Options: window_bits (8..15; zlib uses 9 for 8),
# level, no_context (a fresh stream for every message).
sub deflater {
    my %o = @_;
    my $bits = $o{window_bits} // 15;
    $bits = 9 if $bits == 8;
    my $new = sub {
        my ($z, $st) = Compress::Raw::Zlib::Deflate->new(
            -WindowBits => -$bits, -Level => $o{level} // 6,
            -AppendOutput => 1);
        die "deflate init: $st" unless $st == Compress::Raw::Zlib::Z_OK();
        return $z;
    };
    my $z = $new->();

    return sub {
        my ($data) = @_;
        $z->deflateReset if $o{no_context};
        my $out = '';
        $z->deflate($data, $out) == Compress::Raw::Zlib::Z_OK()
            or die "deflate failed";
        $z->flush($out, Compress::Raw::Zlib::Z_SYNC_FLUSH())
            == Compress::Raw::Zlib::Z_OK() or die "flush failed";
        $out =~ s/\x00\x00\xff\xff\z// or die "no sync flush tail";
        return $out;
    };
}

# One message compressed with a fresh context.
sub deflate_payload {
    my ($data, %o) = @_;
    return deflater(%o, no_context => 1)->($data);
}

# Compressed client frames: RSV1 set, the payload compressed.  Options as
# for frame(); deflater => a deflater() to continue its stream.
sub ws_text_z {
    my ($p, %o) = @_;
    my $d = delete $o{deflater};
    frame(rsv => 4, %o, opcode => 1,
          payload => $d ? $d->($p) : deflate_payload($p));
}

sub ws_binary_z {
    my ($p, %o) = @_;
    my $d = delete $o{deflater};
    frame(rsv => 4, %o, opcode => 2,
          payload => $d ? $d->($p) : deflate_payload($p));
}

# A compressed message as frames of at most $size compressed bytes each:
# RSV1 on the first only.
sub ws_fragments_z {
    my ($opcode, $payload, $size, %o) = @_;
    my $d = delete $o{deflater};
    my $z = $d ? $d->($payload) : deflate_payload($payload);
    my $frames = ws_fragments($opcode, $z, $size, %o);
    # RSV1 goes on the first frame only
    substr($frames, 0, 1) = chr(ord(substr($frames, 0, 1)) | 0x40);
    return $frames;
}

# A decompressor for one connection's server messages (context kept).
sub inflater {
    my ($z, $st) = Compress::Raw::Zlib::Inflate->new(
        -WindowBits => -15, -AppendOutput => 1, -ConsumeInput => 1);
    die "inflate init: $st" unless $st == Compress::Raw::Zlib::Z_OK();

    return sub {
        my ($data) = @_;
        $data .= "\x00\x00\xff\xff";
        my $out = '';
        my $st = $z->inflate($data, $out);
        die "inflate: $st"
            unless $st == Compress::Raw::Zlib::Z_OK()
                   || $st == Compress::Raw::Zlib::Z_BUF_ERROR();
        return $out;
    };
}

# The server's byte stream with every compressed message replaced by one
# plain frame of its inflated payload, that keeps RSV1 to show it was
# compressed: describe(inflate_stream($bytes)) reads like a plain session.
sub inflate_stream {
    my ($data) = @_;
    my $inflate = inflater();
    my ($out, @msg) = ('');

    for my $f (decode($data)) {
        if ($f->{incomplete}) {
            $out .= '<incomplete>';
            last;
        }

        if (@msg || ($f->{rsv} & 4 && $f->{opcode} < 8)) {
            if ($f->{opcode} >= 8) {
                $out .= frame(%$f, masked => 0);
                next;
            }

            push @msg, $f;
            next unless $f->{fin};

            my $z = join '', map { $_->{payload} } @msg;
            $out .= frame(opcode => $msg[0]{opcode}, rsv => $msg[0]{rsv},
                          masked => 0, payload => $inflate->($z));
            @msg = ();
            next;
        }

        $out .= frame(%$f, masked => 0);
    }

    return $out;
}

# describe() of inflate_stream(): for --- response_body_filters eval
# \&WsFrame::describe_inflated.
sub describe_inflated { describe(inflate_stream($_[0])) }

sub _escape {
    my ($s) = @_;
    $s =~ s/([^\x20-\x7e]|["\\])/sprintf '\\x%02x', ord $1/ge;
    return $s;
}

1;
