#!/usr/bin/env python3
"""A lean blob uploader: the registry's ingest reference for scenario 3, next to curl.

    ingest.py --base https://127.0.0.1:PORT --repo REPO --cacert CA --creds USER:PASS \
              [--jobs 8] JOBS_FILE

JOBS_FILE lines: `DIGEST SIZE PATH` (blobs.py output). Each of --jobs threads keeps one TLS
connection open and uploads blobs with one POST /v2/REPO/blobs/uploads/ and one PUT
<location>&digest=... carrying the file in 1 MiB writes: no process start, no TLS handshake and
no new connection per blob. Exits non-zero if any upload was not answered 201.
"""
import argparse
import base64
import http.client
import os
import queue
import ssl
import sys
import threading
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--cacert", required=True)
    ap.add_argument("--creds", required=True)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("jobs_file")
    a = ap.parse_args()
    base = urllib.parse.urlsplit(a.base)
    ctx = ssl.create_default_context(cafile=a.cacert)
    auth = "Basic " + base64.b64encode(a.creds.encode()).decode()
    work = queue.Queue()
    with open(a.jobs_file) as f:
        for line in f:
            digest, size, path = line.split()[:3]
            work.put((digest, int(size), path))
    errors = []

    def worker():
        conn = None
        while True:
            try:
                digest, size, path = work.get_nowait()
            except queue.Empty:
                break
            try:
                if conn is None:
                    conn = http.client.HTTPSConnection(base.hostname, base.port, context=ctx,
                                                       blocksize=1 << 20, timeout=300)
                conn.request("POST", f"/v2/{a.repo}/blobs/uploads/",
                             headers={"Authorization": auth, "Content-Length": "0"})
                r = conn.getresponse()
                r.read()
                if r.status != 202:
                    raise RuntimeError(f"POST {r.status}")
                loc = urllib.parse.urlsplit(r.getheader("Location"))
                target = loc.path + "?" + (loc.query + "&" if loc.query else "") + "digest=" + digest
                with open(path, "rb") as body:
                    conn.request("PUT", target, body=body,
                                 headers={"Authorization": auth, "Content-Length": str(size),
                                          "Content-Type": "application/octet-stream"})
                    r = conn.getresponse()
                    r.read()
                if r.status != 201:
                    raise RuntimeError(f"PUT {r.status}")
            except Exception as e:  # noqa: BLE001 - report every failure, keep going
                errors.append(f"{digest}: {e}")
                conn = None

    threads = [threading.Thread(target=worker) for _ in range(max(1, a.jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        print(f"Error: upload failed: {e}", file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
