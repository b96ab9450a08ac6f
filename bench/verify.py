#!/usr/bin/env python3
"""Check that a pushed list is complete in a registry: the index, every child manifest, every blob.

    verify.py URL_BASE REPO TAG [--cacert CA] [--creds USER:PASS]

Prints one line, `complete: index sha256:<hex>, N children, M blobs` (exit 0) or what is missing
(exit 1). The index digest is the sha256 of the bytes the registry serves for the tag, so two tools
that pushed the same list can be compared byte for byte.
"""
import argparse
import base64
import hashlib
import json
import ssl
import sys
import urllib.error
import urllib.request

ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("repo")
    ap.add_argument("tag")
    ap.add_argument("--cacert")
    ap.add_argument("--creds")
    a = ap.parse_args()
    ctx = ssl.create_default_context(cafile=a.cacert) if a.cacert else None
    headers = {"Accept": ACCEPT}
    if a.creds:
        headers["Authorization"] = "Basic " + base64.b64encode(a.creds.encode()).decode()

    def fetch(path, method="GET"):
        req = urllib.request.Request(f"{a.base}/v2/{a.repo}/{path}", headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, b""

    status, body = fetch(f"manifests/{a.tag}")
    if status != 200:
        print(f"missing: index {a.repo}:{a.tag} (HTTP {status})")
        sys.exit(1)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    children = json.loads(body).get("manifests") or []
    missing, blobs = [], set()
    for child in children:
        status, raw = fetch(f"manifests/{child['digest']}")
        if status != 200:
            missing.append(f"manifest {child['digest']} (HTTP {status})")
            continue
        if "sha256:" + hashlib.sha256(raw).hexdigest() != child["digest"]:
            missing.append(f"manifest {child['digest']} served with other bytes")
        doc = json.loads(raw)
        for d in [doc.get("config")] + (doc.get("layers") or []):
            if d:
                blobs.add(d["digest"])
    for b in sorted(blobs):
        status, _ = fetch(f"blobs/{b}", method="HEAD")
        if status != 200:
            missing.append(f"blob {b} (HTTP {status})")
    if missing:
        print(f"INCOMPLETE: index {digest}, {len(children)} children; missing " + "; ".join(missing[:5]))
        sys.exit(1)
    print(f"complete: index {digest}, {len(children)} children, {len(blobs)} blobs")


if __name__ == "__main__":
    main()
