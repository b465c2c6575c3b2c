#!/usr/bin/env python3
"""Cross-checks seqlab's safetensors files with numpy alone (Debian has no
python3-safetensors).

Usage: safetensors_numpy.py IN OUT
Reads IN, which test_safetensors wrote, and checks its tensors and metadata
against the values the test put there, printing one "ok: ..." or "fail: ..."
line per check (exit status 1 if any failed); then writes OUT with a numpy
writer of its own (json.dumps: \\u escapes, ", " separators, tensors in
insertion order, so one is unaligned) for test_safetensors to read back."""
import json
import sys

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1", "U64": "<u8"}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}


def read(path):
    """The ~10-line reader: {name: array}, metadata, header length, data length."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
    return tensors, meta, header, raw[8:8 + n], len(data)


def write(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode("ascii")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


failed = 0


def check(cond, what):
    global failed
    print(("ok: " if cond else "fail: ") + what)
    failed += not cond


def same(a, b, dtype):
    return a.dtype == np.dtype(dtype) and a.shape == b.shape and np.array_equal(a, b)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    t, meta, header, hbytes, dlen = read(src)
    check(len(hbytes) % 8 == 0, "header length %d is a multiple of 8" % len(hbytes))
    check(hbytes.decode("utf-8").rstrip(" ").endswith("}"), "header padded with spaces")
    ranges = sorted(tuple(v["data_offsets"]) for v in header.values())
    covered = all(a[1] == b[0] for a, b in zip(ranges, ranges[1:])) and ranges[0][0] == 0 and ranges[-1][1] == dlen
    check(covered, "tensors cover the data buffer exactly")
    aligned = all(v["data_offsets"][0] % np.dtype(DTYPES[v["dtype"]]).itemsize == 0 for v in header.values())
    check(aligned, "every tensor aligned to its element size")
    i = np.arange
    want = {
        "w": ((i(12, dtype=np.float32) * np.float32(0.25) - np.float32(1)).reshape(3, 4), "<f4"),
        "mask": ((i(8) * 37 % 256).astype(np.uint8).reshape(2, 2, 2), "u1"),
        "bias": (np.array([0.5, -1, 1e-30, 3.25, -0.0], dtype=np.float32), "<f4"),
        "ids": ((i(6) * i(6) * 1000 - 7).astype(np.int32).reshape(2, 3), "<i4"),
        "step": (np.array(1234567890123, dtype=np.int64), "<i8"),
        "empty": (np.zeros((0, 3), dtype=np.float32), "<f4"),
        'x."q"/\u00e9': (np.array([1.5, -2.5], dtype=np.float32), "<f4"),
        "rng": (np.array([1, 2**64 - 1, 0x0123456789ABCDEF, 42], dtype=np.uint64), "<u8"),
        "r4": ((i(8, dtype=np.float32) / np.float32(3)).reshape(2, 1, 2, 2), "<f4"),
    }
    check(sorted(t) == sorted(want), "tensor names %s" % sorted(t))
    for name, (value, dtype) in want.items():
        if name in t:
            a = t[name]
            check(same(a, value, dtype), "%s: %s %s equal" % (name.encode("unicode_escape").decode(), a.dtype, a.shape))
    check(np.signbit(t["bias"][4]), "bias[4] is -0.0")
    check(meta == {"model": 'gpt "layers"=2 back\\slash', "unicode": "\u03c0\u22483.14 \U0001f642", "tab": "a\tb\nc\x01"},
          "metadata %r" % meta)

    write(dst, {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3) / np.float32(4),
        "b": np.array([-1, 2**40, 7], dtype=np.int64),
        "c": np.array([0, 128, 255], dtype=np.uint8),
        "d": np.array([[0.1]], dtype=np.float64),
        "\u00e9/\u00fc": np.array(3.5, dtype=np.float32),
    }, {"by": "numpy", "snow": '\u2603 "quoted"', "emoji": "\U0001f642"})
    t2, meta2, _, _, _ = read(dst)
    check(len(t2) == 5 and meta2["emoji"] == "\U0001f642", "numpy reads back its own file")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # one line for the TAP log, not a traceback
        print("fail: %s: %s" % (type(e).__name__, e))
        sys.exit(1)
