#!/usr/bin/env python3
"""Forges seqlab files as an attacker would (tests/hardening.test): the seals
and checksums detect damage, not forgery, so an edited file with its seal
recomputed must be refused by what it says, not by its checksum.

Usage:
  forge.py seal FILE KIND          re-seal FILE, a sealed script of KIND
                                   (journal, state) edited by hand: drop its
                                   end line and write a correct one
  forge.py meta FILE KEY=VALUE...  set metadata entries of the checkpoint
                                   FILE and recompute its checksum"""
import json
import struct
import sys

FNV_INIT = 0xcbf29ce484222325
DTYPE_ENUM = {"BOOL": 0, "U8": 1, "I8": 2, "F8_E5M2": 3, "F8_E4M3": 4, "I16": 5, "U16": 6, "F16": 7,
              "BF16": 8, "I32": 9, "U32": 10, "F32": 11, "F64": 12, "I64": 13, "U64": 14}


def fnv1a64(h, data):
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def seal(path, kind):
    lines = open(path, "rb").read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if lines and lines[-1].startswith(b"# end of "):
        lines.pop()
    body = b"".join(l + b"\n" for l in lines)
    count = sum(1 for l in lines if l.strip(b" \t\r") and not l.lstrip(b" \t").startswith(b"#"))
    h = fnv1a64(FNV_INIT, body)
    end = b"# end of %s: %d commands, fnv1a64 %016x\n" % (kind.encode(), count, h)
    open(path, "wb").write(body + end)


def meta(path, pairs):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    md = header.pop("__metadata__", {})
    for p in pairs:
        k, v = p.split("=", 1)
        md[k] = v
    md.pop("checksum", None)
    h = FNV_INIT
    for k in sorted(md, key=lambda s: s.encode()):
        h = fnv1a64(h, k.encode() + b"\0")
        h = fnv1a64(h, md[k].encode() + b"\0")
    for name in sorted(header, key=lambda s: s.encode()):
        t = header[name]
        shape = t["shape"]
        h = fnv1a64(h, name.encode() + b"\0")
        h = fnv1a64(h, struct.pack("<%dq" % (2 + len(shape)), DTYPE_ENUM[t["dtype"]], len(shape), *shape))
        b, e = t["data_offsets"]
        h = fnv1a64(h, data[b:e])
    md["checksum"] = "fnv1a64:%016x" % h
    header["__metadata__"] = md
    hj = json.dumps(header).encode()
    hj += b" " * (-len(hj) % 8)
    open(path, "wb").write(len(hj).to_bytes(8, "little") + hj + data)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "seal":
        seal(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "meta":
        meta(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
