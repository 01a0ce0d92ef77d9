#!/usr/bin/env python3
"""Checks Tether's OCI image tarball (make image) with nothing but Python's
standard library, independently of the Go code that wrote it, and prints
each platform's config.

    check-image.py IMAGE.tar VERSION BINARY_DIR

The layout must have oci-layout and index.json; index.json one image index
named VERSION (org.opencontainers.image.ref.name) whose manifests are
linux/amd64 and linux/arm64 OCI images; every blob's sha256 must match its
name and every descriptor's size its blob. Each config must run
/usr/bin/tether as a non-root user with the exposed ports below, and each
layer hold that binary (the very bytes of BINARY_DIR's release binary for the
platform), the CA certificates, and a passwd entry for the user.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

WANT_PORTS = {"8080/tcp", "8443/tcp", "7946/tcp", "7946/udp", "7947/tcp"}
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def fail(msg):
    print("check-image: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 4:
        fail("usage: check-image.py IMAGE.tar VERSION BINARY_DIR")
    path, version, bindir = sys.argv[1:]
    with tarfile.open(path) as tf:
        files = {m.name.rstrip("/"): m for m in tf.getmembers()}

        def read(name):
            if name not in files:
                fail(f"{name} missing from {path}")
            return tf.extractfile(files[name]).read()

        def blob(desc, media_type):
            if desc.get("mediaType") != media_type:
                fail(f"descriptor {desc.get('digest')}: media type {desc.get('mediaType')}, want {media_type}")
            algo, _, hexd = desc["digest"].partition(":")
            if algo != "sha256":
                fail(f"digest {desc['digest']}: want sha256")
            data = read(f"blobs/sha256/{hexd}")
            if hashlib.sha256(data).hexdigest() != hexd:
                fail(f"blob {hexd}: content does not match its digest")
            if len(data) != desc["size"]:
                fail(f"blob {hexd}: {len(data)} bytes, descriptor says {desc['size']}")
            return data

        layout = json.loads(read("oci-layout"))
        if layout.get("imageLayoutVersion") != "1.0.0":
            fail(f"oci-layout {layout}: want imageLayoutVersion 1.0.0")
        index = json.loads(read("index.json"))
        if len(index.get("manifests", [])) != 1:
            fail(f"index.json has {len(index.get('manifests', []))} entries, want 1 (the image index)")
        top = index["manifests"][0]
        ref = top.get("annotations", {}).get("org.opencontainers.image.ref.name")
        if ref != version:
            fail(f"index.json entry named {ref!r}, want {version!r}")
        print(f"index.json: {top['mediaType']} {top['digest']} ref.name={ref}")
        images = json.loads(blob(top, OCI_INDEX))
        platforms = {}
        for m in images["manifests"]:
            p = m.get("platform", {})
            platforms[f"{p.get('os')}/{p.get('architecture')}"] = m
        if sorted(platforms) != ["linux/amd64", "linux/arm64"]:
            fail(f"image index platforms {sorted(platforms)}, want linux/amd64 and linux/arm64")

        for plat, desc in sorted(platforms.items()):
            manifest = json.loads(blob(desc, OCI_MANIFEST))
            config = json.loads(blob(manifest["config"], OCI_CONFIG))
            c = config.get("config", {})
            print(f"{plat}: manifest {desc['digest']}")
            print(f"  os/arch     {config.get('os')}/{config.get('architecture')}")
            print(f"  created     {config.get('created')}")
            print(f"  entrypoint  {c.get('Entrypoint')}")
            print(f"  cmd         {c.get('Cmd')}")
            print(f"  user        {c.get('User')}")
            print(f"  ports       {sorted(c.get('ExposedPorts', {}))}")
            print(f"  env         {c.get('Env')}")
            print(f"  volumes     {sorted(c.get('Volumes', {}))}")
            print(f"  version     {c.get('Labels', {}).get('org.opencontainers.image.version')}")
            if f"{config.get('os')}/{config.get('architecture')}" != plat:
                fail(f"{plat}: config says {config.get('os')}/{config.get('architecture')}")
            if c.get("Entrypoint") != ["/usr/bin/tether"]:
                fail(f"{plat}: entrypoint {c.get('Entrypoint')}, want ['/usr/bin/tether']")
            if c.get("Cmd") != ["run", "/etc/tether/Caddyfile"]:
                fail(f"{plat}: cmd {c.get('Cmd')}, want ['run', '/etc/tether/Caddyfile']")
            user = c.get("User", "")
            uid = user.split(":")[0]
            if uid in ("", "0", "root"):
                fail(f"{plat}: user {user!r}: the container must not run as root")
            if set(c.get("ExposedPorts", {})) != WANT_PORTS:
                fail(f"{plat}: exposed ports {sorted(c.get('ExposedPorts', {}))}, want {sorted(WANT_PORTS)}")
            if c.get("Labels", {}).get("org.opencontainers.image.version") != version:
                fail(f"{plat}: version label {c.get('Labels')}, want {version}")
            if len(manifest["layers"]) != len(config["rootfs"]["diff_ids"]):
                fail(f"{plat}: {len(manifest['layers'])} layers but {len(config['rootfs']['diff_ids'])} diff_ids")

            entries = {}
            for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"]):
                raw = gzip.decompress(blob(layer, OCI_LAYER))
                if "sha256:" + hashlib.sha256(raw).hexdigest() != diff_id:
                    fail(f"{plat}: layer {layer['digest']}: uncompressed content does not match diff_id {diff_id}")
                with tarfile.open(fileobj=io.BytesIO(raw)) as lt:
                    for e in lt.getmembers():
                        entries[e.name.rstrip("/")] = (e, lt.extractfile(e).read() if e.isfile() else None)
            binary = entries.get("usr/bin/tether")
            if binary is None or not binary[0].isfile() or binary[0].mode & 0o111 == 0:
                fail(f"{plat}: no executable usr/bin/tether in the layers")
            arch = plat.split("/")[1]
            want = [f for f in os.listdir(bindir) if f.startswith("tether_") and f.endswith("_linux_" + arch)]
            if len(want) != 1:
                fail(f"{plat}: want one release binary for {arch} in {bindir}, found {want}")
            with open(os.path.join(bindir, want[0]), "rb") as f:
                if f.read() != binary[1]:
                    fail(f"{plat}: usr/bin/tether is not {want[0]}")
            passwd = entries.get("etc/passwd", (None, b""))[1].decode()
            if not any(line.split(":")[2] == uid for line in passwd.splitlines() if line.count(":") >= 6):
                fail(f"{plat}: /etc/passwd has no entry for uid {uid}")
            certs = entries.get("etc/ssl/certs/ca-certificates.crt", (None, b""))[1]
            if certs.count(b"BEGIN CERTIFICATE") < 10:
                fail(f"{plat}: /etc/ssl/certs/ca-certificates.crt holds {certs.count(b'BEGIN CERTIFICATE')} certificates")
            data = entries.get("data")
            if data is None or not data[0].isdir() or str(data[0].uid) != uid:
                fail(f"{plat}: /data is not a directory owned by {uid}")
            print(f"  layer       {len(entries)} entries: usr/bin/tether = {want[0]}, "
                  f"{certs.count(b'BEGIN CERTIFICATE')} CA certificates, passwd entry for {uid}, /data owned by {uid}")
    print("check-image: ok")


main()
