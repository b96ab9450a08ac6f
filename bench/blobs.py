#!/usr/bin/env python3
"""List the blobs (configs and layers) of the images in OCI layout directories.

    blobs.py LAYOUT_DIR...   ->  one line per distinct blob: DIGEST SIZE PATH

Manifests are not blobs (they are PUT to /manifests/), so they are left out; an index found in
index.json is followed to its manifests.
"""
import json
import os
import sys


def load(layout, digest):
    algo, hexpart = digest.split(":", 1)
    path = os.path.join(layout, "blobs", algo, hexpart)
    with open(path, "rb") as f:
        return json.load(f), path


def main():
    seen = {}
    for layout in sys.argv[1:]:
        with open(os.path.join(layout, "index.json")) as f:
            stack = [d["digest"] for d in json.load(f).get("manifests", [])]
        while stack:
            doc, _ = load(layout, stack.pop())
            if "manifests" in doc:
                stack.extend(d["digest"] for d in doc["manifests"])
                continue
            for d in [doc["config"]] + doc.get("layers", []):
                algo, hexpart = d["digest"].split(":", 1)
                seen.setdefault(d["digest"], (d["size"], os.path.join(layout, "blobs", algo, hexpart)))
    for digest, (size, path) in seen.items():
        print(digest, size, path)


if __name__ == "__main__":
    main()
