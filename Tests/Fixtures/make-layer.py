#!/usr/bin/env python3
"""Writes a tar layer from a JSON list of entries, for the image store's tests.

usage: make-layer.py SPEC.json OUT(.tar|.tar.gz|.tar.zst)
Entry fields: name, type (file, dir, symlink, hardlink, char, block, fifo), data,
target, mode, uid, gid, mtime, major, minor, xattrs. Names are written exactly as
given, so tests can make the hostile ones a real layer would never contain.
"""
import io, json, subprocess, sys, tarfile

TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE,
         "fifo": tarfile.FIFOTYPE}

spec, out = json.load(open(sys.argv[1])), sys.argv[2]
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for e in spec:
        info = tarfile.TarInfo(e["name"])
        info.type = TYPES[e.get("type", "file")]
        info.mode = e.get("mode", 0o755 if info.type == tarfile.DIRTYPE else 0o644)
        info.uid, info.gid = e.get("uid", 0), e.get("gid", 0)
        info.mtime = e.get("mtime", 1700000000)
        info.linkname = e.get("target", "")
        info.devmajor, info.devminor = e.get("major", 0), e.get("minor", 0)
        if e.get("xattrs"):
            info.pax_headers = {"SCHILY.xattr." + k: v for k, v in e["xattrs"].items()}
        data = e.get("data", "").encode()
        if info.type == tarfile.REGTYPE:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        else:
            tar.addfile(info)
body = raw.getvalue()
if out.endswith(".gz"):
    import gzip
    body = gzip.compress(body)
elif out.endswith(".zst"):
    body = subprocess.run(["zstd", "-q", "-c"], input=body, stdout=subprocess.PIPE, check=True).stdout
open(out, "wb").write(body)
