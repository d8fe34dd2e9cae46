#!/usr/bin/python3
"""Rewrites a safetensors file with its F32 tensors stored as F16 (half the bytes).

kbert reads F16 (and BF16) weights and computes in F32, so a model directory
shipped this way loads and fine-tunes as before; the weights lose precision
below about 1e-3 relative, far under what fine-tuning changes.

Usage: /usr/bin/python3 examples/fault_reports/to_float16.py IN.safetensors OUT.safetensors
"""
import json
import os
import struct
import sys

import numpy as np


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1:]
    with open(src, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        sys.exit(f"{src}: not a safetensors file ({len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        sys.exit(f"{src}: header of {n} bytes runs past the end of the file")
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    out_header, chunks, offset = {}, [], 0
    for name, d in header.items():
        if name == "__metadata__":
            out_header[name] = d
            continue
        b, e = d["data_offsets"]
        data = body[b:e]
        dtype = d["dtype"]
        if dtype == "F32":
            data = np.frombuffer(data, dtype="<f4").astype("<f2").tobytes()
            dtype = "F16"
        out_header[name] = {"dtype": dtype, "shape": d["shape"], "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(out_header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(tmp, dst)
    print(f"{dst}: {os.path.getsize(dst)} bytes (from {len(raw)})")


if __name__ == "__main__":
    main()
