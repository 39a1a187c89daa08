#!/usr/bin/env python3
"""Writes an OCI image layout for the pull benchmark: one gzip layer per size given.

usage: make-image.py OUT_DIR TAG MEGABYTES...

Each layer holds files of 64 KiB to 1 MiB: half random bytes, half text, so it
compresses about as much as a real userland (roughly 2:1) and unpacks into many files.
"""
import gzip, hashlib, io, json, os, random, sys, tarfile

out, tag, sizes = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
rng = random.Random(7)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(4000)]

def store(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)

def content(size):
    half = size // 2
    text = b" ".join(rng.choice(words) for _ in range(half // 5))[:size - half]
    return os.urandom(half) + text

layers, diff_ids = [], []
for n, megabytes in enumerate(sizes):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        total, i = 0, 0
        while total < megabytes << 20:
            size = rng.randint(64 << 10, 1 << 20)
            info = tarfile.TarInfo("layer%d/dir%03d/file%05d" % (n, i // 100, i))
            info.size, info.mode, info.mtime = size, 0o644, 1700000000
            tar.addfile(info, io.BytesIO(content(size)))
            total, i = total + size, i + 1
    plain = raw.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(plain).hexdigest())
    digest, size = store(gzip.compress(plain, compresslevel=1))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size})

config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
          "rootfs": {"type": "layers", "diff_ids": diff_ids}}
cdigest, csize = store(json.dumps(config).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
            "layers": layers}
mdigest, msize = store(json.dumps(manifest).encode())
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": manifest["mediaType"], "digest": mdigest, "size": msize,
               "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
print(sum(l["size"] for l in layers))
