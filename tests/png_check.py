#!/usr/bin/env python3
"""png_check.py FILE [RRGGBB...] - checks that FILE is a valid PNG (signature,
every chunk's CRC, IHDR first, IDAT data that inflates to exactly the image's
filtered scanlines, IEND last), prints 'png WIDTHxHEIGHT', and, for each colour
given, how many pixels have it exactly ('colour RRGGBB N'). Exit status 1 on
an invalid file. Standard library only (Debian has no python3-pil here)."""
import struct
import sys
import zlib


def fail(msg):
    print("invalid: " + msg)
    sys.exit(1)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def main():
    data = open(sys.argv[1], "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("no PNG signature")
    pos, chunks = 8, []
    while pos < len(data):
        if pos + 8 > len(data):
            fail("truncated chunk header")
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc = data[pos + 8 + n:pos + 12 + n]
        if len(body) != n or len(crc) != 4:
            fail("truncated chunk")
        if zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            fail("bad CRC in " + kind.decode("latin-1"))
        chunks.append((kind, body))
        pos += 12 + n
    if not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        fail("IHDR must come first and IEND last")
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or ctype not in (2, 6) or interlace:
        fail("expected 8-bit RGB or RGBA, not interlaced (depth %d type %d)" % (depth, ctype))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    stride = w * bpp
    if len(raw) != h * (stride + 1):
        fail("image data is %d bytes, not %d" % (len(raw), h * (stride + 1)))
    print("png %dx%d" % (w, h))
    want = {c.lower(): 0 for c in sys.argv[2:]}
    if not want:
        return
    prev = bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                line[i] = (line[i] + paeth(a, b, c)) & 255
            elif f != 0:
                fail("unknown filter %d" % f)
        for x in range(0, stride, bpp):
            key = "%02x%02x%02x" % (line[x], line[x + 1], line[x + 2])
            if key in want:
                want[key] += 1
        prev = line
    for c, n in want.items():
        print("colour %s %d" % (c, n))


main()
