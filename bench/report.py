#!/usr/bin/env python3
"""Turn run.sh's measurements into the Markdown report (stdout).

    report.py --meta META.tsv --results RESULTS.tsv --log-a ACCESS_A --log-b ACCESS_B

RESULTS.tsv rows: scenario tool op size n run rc wall user sys maxrss_kb a_from a_to b_from b_to note
(a_from/a_to: line numbers of registry A's access log before/after the run; -1 when not counted).
"""
import argparse
import collections
import re
import statistics

LINE = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3}) ')


def classify(line):
    m = LINE.search(line)
    if not m:
        return None
    method, path, status = m.group(1), m.group(2), m.group(3)
    path, _, query = path.partition("?")
    if path.rstrip("/") == "/v2":
        kind = "/v2/"
    elif "/blobs/uploads" in path:
        kind = "mount" if "mount=" in query else "upload"
    elif "/blobs/" in path:
        kind = "blob"
    elif "/manifests/" in path:
        kind = "manifest"
    elif path.endswith("/tags/list"):
        kind = "tags"
    else:
        kind = "other"
    return f"{method} {kind} {status}"


class Logs:
    def __init__(self, path):
        try:
            with open(path, errors="replace") as f:
                self.lines = f.readlines()
        except OSError:
            self.lines = []

    def slice(self, a, b):
        if a < 0 or b < 0:
            return None
        c = collections.Counter()
        for line in self.lines[a:b]:
            k = classify(line)
            if k:
                c[k] += 1
        return c


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 15:
                continue
            try:
                rows.append(dict(scen=p[0], tool=p[1], op=p[2], size=p[3], n=int(p[4]), run=int(p[5]),
                                 rc=int(p[6]), wall=float(p[7]), user=float(p[8]), sys=float(p[9]),
                                 rss=int(p[10]), a0=int(p[11]), a1=int(p[12]), b0=int(p[13]),
                                 b1=int(p[14]), note=p[15] if len(p) > 15 else ""))
            except ValueError:
                rows.append(dict(scen=p[0], tool=p[1], op=p[2], size=p[3], n=int(p[4] or 0), run=0,
                                 rc=99, wall=0, user=0, sys=0, rss=0, a0=-1, a1=-1, b0=-1, b1=-1,
                                 note="unparsable timing: " + "|".join(p[7:11])))
    return rows


def med(xs):
    return statistics.median(xs) if xs else None


def fmt_s(x):
    if x is None:
        return "–"
    return f"{x:.2f}" if x >= 1 else f"{x:.3f}"


def fmt_ms(x):
    return "–" if x is None else f"{x * 1000:.1f}"


def fmt_mib(kb):
    return "–" if kb is None else f"{kb / 1024:.0f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def breakdown(c):
    if not c:
        return "–"
    return ", ".join(f"{k} ×{v}" for k, v in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


class Group:
    """Measurements of one (scenario, tool, op, size, n)."""

    def __init__(self, rows, logs_a, logs_b):
        self.rows = rows
        self.ok = [r for r in rows if r["rc"] == 0]
        self.wall = med([r["wall"] for r in self.ok])
        self.cpu = med([r["user"] + r["sys"] for r in self.ok])
        self.rss = med([r["rss"] for r in self.ok])
        self.min = min((r["wall"] for r in self.ok), default=None)
        self.max = max((r["wall"] for r in self.ok), default=None)
        self.req_a = med([r["a1"] - r["a0"] for r in self.ok if r["a0"] >= 0])
        self.req_b = med([r["b1"] - r["b0"] for r in self.ok if r["b0"] >= 0])
        last = self.ok[-1] if self.ok else None
        self.kinds_a = logs_a.slice(last["a0"], last["a1"]) if last else None
        self.kinds_b = logs_b.slice(last["b0"], last["b1"]) if last else None
        bad = [r for r in rows if r["rc"] != 0]
        self.failure = f"{len(bad)}/{len(rows)} failed: {bad[0]['note']}" if bad else ""

    def runs(self):
        return f"{len(self.ok)}/{len(self.rows)}"

    def wall_cell(self, unit=fmt_s):
        if not self.ok:
            return "FAILED"
        return f"{unit(self.wall)} ({unit(self.min)}–{unit(self.max)})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meta", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--log-a", required=True)
    ap.add_argument("--log-b", required=True)
    a = ap.parse_args()
    meta = collections.defaultdict(list)
    with open(a.meta) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            meta[k].append(v)
    m1 = lambda k, d="?": meta[k][0] if meta.get(k) else d
    rows = load(a.results)
    la, lb = Logs(a.log_a), Logs(a.log_b)
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["scen"], r["tool"], r["op"], r["size"], r["n"])].append(r)
    G = {k: Group(v, la, lb) for k, v in groups.items()}
    G_ALL.update(G)
    get = lambda *k: G.get(tuple(k))
    sizes = sorted({r["size"] for r in rows if r["scen"] in ("1", "2")}, key=lambda s: int(s))
    out = []
    p = out.append
    failures = []

    p("# `manifest` benchmark against buildah, skopeo and an upload baseline")
    p("")
    p(f"Run {m1('start')} – {m1('end')} with `bench/run.sh` ({m1('args')}).")
    for n in meta.get("note", []):
        p("")
        p(f"> {n}")
    try:
        cpus = int(float(m1("nproc", "0")))
        loadavg = [float(m1(k, "0").split()[0]) for k in ("loadavg_start", "loadavg_end")]
        if cpus and max(loadavg) >= 0.5:
            p("")
            p(f"> The machine was not idle: load average {loadavg[0]:g} at the start and {loadavg[1]:g} at the end, "
              f"on {cpus} CPUs (the benchmark's own registries and tools count in the latter). Timings "
              "include that contention; the tools took turns within each run, so it hit them alike.")
    except ValueError:
        pass
    p("")
    p("| machine | |")
    p("|---|---|")
    p(f"| CPUs (`nproc`) | {m1('nproc')} ({m1('cpu')}) |")
    p(f"| memory | {m1('memory')} |")
    p(f"| kernel | {m1('kernel')} |")
    p(f"| load average (1/5/15 min) | start {m1('loadavg_start')}, end {m1('loadavg_end')} |")
    for k, name in [("version_manifest", "manifest"), ("version_buildah", "buildah"),
                    ("version_skopeo", "skopeo"), ("version_registry", "registry"), ("version_curl", "curl")]:
        if meta.get(k):
            p(f"| {name} | `{m1(k)}` |")
    p(f"| registries | {m1('registries')} |")
    p("")
    for s in meta.get("skip", []):
        p(f"- skipped: {s}")
    for s in meta.get("problem", []):
        p(f"- problem: {s}")
    if meta.get("skip") or meta.get("problem"):
        p("")
    p("Times are wall-clock seconds, median (min–max) over the successful runs; CPU is user+sys of the "
      "process and its children; RSS is the peak resident set (the rusage of `wait4`, what GNU time prints as `%U %S %M`, "
      "to the microsecond). "
      "Requests are lines of the registry's access log during the run (median), with a breakdown "
      "`METHOD kind status ×count` of the last successful run.")
    p("")

    def g_of(scen, tool, op, size):
        for k, v in G.items():
            if k[0] == scen and k[1] == tool and k[2] == op and k[3] == size:
                return v
        return None

    def table(title, tools, reg):
        p(title)
        p("")
        for s in sizes:
            mib = int(float(m1(f"bytes_{s}", "0"))) / 1048576
            p(f"**{s} MiB layers** — {m1(f'blobs_{s}')} blobs, {mib:.1f} MiB in all")
            p("")
            extra = " | requests to A" if reg == "B" else ""
            p(f"| tool | ok runs | wall s | MiB/s | CPU s | peak RSS MiB{extra} | requests to {reg} | request kinds ({reg}) |")
            p("|---|---|---|---|---|---" + ("|---" if extra else "") + "|---|---|")
            for scen, tool, op, label in tools:
                g = g_of(scen, tool, op, s)
                if not g:
                    continue
                if g.failure:
                    failures.append(f"scenario {scen}, {label}, {s} MiB: {g.failure}")
                tput = f"{mib / g.wall:.0f}" if g.ok and g.wall else "–"
                req = g.req_a if reg == "A" else g.req_b
                kinds = g.kinds_a if reg == "A" else g.kinds_b
                cnt = lambda x: "–" if x is None else f"{x:.0f}"
                p(f"| {label} | {g.runs()} | {g.wall_cell()} | {tput} | {fmt_s(g.cpu)} | {fmt_mib(g.rss)}"
                  + (f" | {cnt(g.req_a)}" if extra else "")
                  + f" | {cnt(req)} | {breakdown(kinds)} |")
            p("")

    table("## Scenario 1: `push --all` of the 5-arch list to a new repository on the same registry A",
          [("1", "manifest", "push", "manifest push"), ("1", "buildah", "push", "buildah manifest push --all"),
           ("1", "docker", "push", "docker manifest push")], "A")
    table("## Scenarios 2 and 3: `push --all` to registry B (TLS + htpasswd): every byte moves, and the ingest references",
          [("2", "manifest", "push", "manifest push"), ("2", "buildah", "push", "buildah manifest push --all"),
           ("2", "skopeo", "copy", "skopeo copy --all A→B"),
           ("3", "curl", "put", "scenario 3: curl POST+PUT per blob, `xargs -P 8`"),
           ("3", "python", "put", "scenario 3: `ingest.py`, 8 keep-alive connections")], "B")
    p("Scenario 3 uploads the same blobs from the OCI layouts into an empty repository of B and nothing "
      "else (no reads from A, no manifests). curl pays two process starts, a TLS handshake and a bcrypt "
      "password check per blob; `ingest.py` keeps 8 TLS connections open and writes 1 MiB at a time, so it "
      "is the closer estimate of what registry B can take in on this machine.")
    p("")

    p("## Ratios")
    p("")
    lines = []
    for s in sizes:
        m, b = g_of("1", "manifest", "push", s), g_of("1", "buildah", "push", s)
        if m and b and m.ok and b.ok:
            lines.append(f"- scenario 1, {s} MiB: buildah/manifest wall **{ratio(b.wall, m.wall)}**, "
                         f"CPU {ratio(b.cpu, m.cpu)}, peak RSS {ratio(b.rss, m.rss)}")
        m2, b2 = g_of("2", "manifest", "push", s), g_of("2", "buildah", "push", s)
        s2, c2 = g_of("2", "skopeo", "copy", s), g_of("3", "curl", "put", s)
        p2 = g_of("3", "python", "put", s)
        if m2 and m2.ok:
            parts = []
            if p2 and p2.ok:
                parts.append(f"manifest/ingest.py wall **{ratio(m2.wall, p2.wall)}**")
            if c2 and c2.ok:
                parts.append(f"manifest/curl×8 wall {ratio(m2.wall, c2.wall)}")
            if b2 and b2.ok:
                parts.append(f"buildah/manifest wall **{ratio(b2.wall, m2.wall)}**, CPU {ratio(b2.cpu, m2.cpu)}")
            if s2 and s2.ok:
                parts.append(f"skopeo/manifest wall **{ratio(s2.wall, m2.wall)}**, CPU {ratio(s2.cpu, m2.cpu)}")
            if parts:
                lines.append(f"- scenario 2, {s} MiB: " + "; ".join(parts))
        else:
            peers = []
            if p2 and p2.ok and b2 and b2.ok:
                peers.append(f"buildah/ingest.py {ratio(b2.wall, p2.wall)}")
            if p2 and p2.ok and s2 and s2.ok:
                peers.append(f"skopeo/ingest.py {ratio(s2.wall, p2.wall)}")
            lines.append(f"- scenario 2, {s} MiB: manifest has no successful run" +
                         (f" (peers: {', '.join(peers)})" if peers else ""))
    ops4 = ["create", "annotate", "inspect", "remove", "add-oci"]
    size4 = next((k[3] for k in G if k[0] == "4"), None)
    for op in ops4:
        m, b = get("4", "manifest", op, size4, 1), get("4", "buildah", op, size4, 1)
        if m and b and m.ok and b.ok:
            lines.append(f"- scenario 4, `{op}`: buildah/manifest wall **{ratio(b.wall, m.wall)}**, "
                         f"CPU {ratio(b.cpu, m.cpu)}")
    for tool in ("manifest", "buildah"):
        per = s5_requests(G, tool)
        if per is not None:
            lines.append(f"- scenario 5, {tool}: **{per:.1f}** HTTP requests to A per added image")
    p("\n".join(lines) if lines else "(no pair of successful measurements to compare)")
    p("")

    if size4 is not None:
        p(f"## Scenario 4: local commands on a 5-entry list (whole process, ms)")
        p("")
        p("| command | manifest ms | buildah ms | buildah/manifest | manifest CPU ms | buildah CPU ms | manifest RSS MiB | buildah RSS MiB |")
        p("|---|---|---|---|---|---|---|---|")
        for op in ops4:
            m, b = get("4", "manifest", op, size4, 1), get("4", "buildah", op, size4, 1)
            if not m and not b:
                continue
            for x, t in ((m, "manifest"), (b, "buildah")):
                if x and x.failure:
                    failures.append(f"scenario 4, {t} {op}: {x.failure}")
            cell = lambda x: x.wall_cell(fmt_ms) if x else "–"
            p(f"| `{op}` | {cell(m)} | {cell(b)} | {ratio(b.wall if b else None, m.wall if m else None)} | "
              f"{fmt_ms(m.cpu) if m else '–'} | {fmt_ms(b.cpu) if b else '–'} | "
              f"{fmt_mib(m.rss) if m else '–'} | {fmt_mib(b.rss) if b else '–'} |")
        n4 = next((len(v.rows) for k, v in G.items() if k[0] == "4"), 0)
        p("")
        p(f"{n4} repetitions of each; `remove` and `add-oci` alternate (remove the arm/v7 entry, add it back "
          "from its `oci:` layout); `create` is followed by an untimed `rm`.")
        p("")

    s5 = [(k, v) for k, v in G.items() if k[0] == "5"]
    if s5:
        p("## Scenario 5: `add` ×5 from registry A")
        p("")
        p("| tool | ok adds | wall per add ms | 5 adds s (median run) | CPU per add ms | peak RSS MiB | requests per image | request kinds (one add) |")
        p("|---|---|---|---|---|---|---|---|")
        for tool in ("manifest", "buildah"):
            rows5 = [r for r in rows if r["scen"] == "5" and r["tool"] == tool]
            if not rows5:
                continue
            g = Group(rows5, la, lb)
            if g.failure:
                failures.append(f"scenario 5, {tool} add: {g.failure}")
            per_run = collections.defaultdict(float)
            for r in g.ok:
                per_run[r["run"]] += r["wall"]
            full = [v for run, v in per_run.items() if sum(1 for r in g.ok if r["run"] == run) == 5]
            per = s5_requests(G, tool)
            p(f"| {tool} | {g.runs()} | {g.wall_cell(fmt_ms)} | {fmt_s(med(full))} | {fmt_ms(g.cpu)} | "
              f"{fmt_mib(g.rss)} | {'–' if per is None else f'{per:.1f}'} | {breakdown(g.kinds_a)} |")
        p("")

    s6 = [r for r in rows if r["scen"] == "6"]
    if s6:
        p("## Scenario 6: scale — one list of many single-arch images")
        p("")
        p("Adds one tiny image at a time from registry A; at each checkpoint, `inspect` the list and "
          "`push --all` it into the repository that already holds every child (only the index is new).")
        p("")
        p("| tool | entries | add ms (median of the 10 adds before) | all adds so far s | inspect ms | push s | push CPU s | push RSS MiB | push requests | push request kinds |")
        p("|---|---|---|---|---|---|---|---|---|---|")
        lin = []
        for tool in ("manifest", "buildah"):
            adds = sorted([r for r in s6 if r["tool"] == tool and r["op"] == "add"], key=lambda r: r["n"])
            if not adds:
                continue
            bad = [r for r in adds if r["rc"] != 0]
            if bad:
                failures.append(f"scenario 6, {tool} add: {len(bad)}/{len(adds)} failed: {bad[0]['note']}")
            checks = sorted({r["n"] for r in s6 if r["tool"] == tool and r["op"] in ("inspect", "push")})
            base = None
            for n in checks:
                window = [r["wall"] for r in adds if n - 10 < r["n"] <= n and r["rc"] == 0]
                total = sum(r["wall"] for r in adds if r["n"] <= n)
                gi, gp = get("6", tool, "inspect", "-", n), get("6", tool, "push", "-", n)
                for x, what in ((gi, "inspect"), (gp, "push")):
                    if x and x.failure:
                        failures.append(f"scenario 6, {tool} {what} at {n}: {x.failure}")
                p(f"| {tool} | {n} | {fmt_ms(med(window))} | {total:.2f} | {gi.wall_cell(fmt_ms) if gi else '–'} | "
                  f"{gp.wall_cell() if gp else '–'} | {fmt_s(gp.cpu) if gp else '–'} | {fmt_mib(gp.rss) if gp else '–'} | "
                  f"{'–' if not gp or gp.req_a is None else f'{gp.req_a:.0f}'} | {breakdown(gp.kinds_a) if gp else '–'} |")
                if base is None and gp and gp.ok:
                    base = (n, gp.wall, gi.wall if gi and gi.ok else None, med(window), total)
                elif base and gp and gp.ok:
                    f = n / base[0]
                    msg = (f"- {tool}, {base[0]}→{n} entries (×{f:g}): push ×{gp.wall / base[1]:.2f}")
                    if gi and gi.ok and base[2]:
                        msg += f", inspect ×{gi.wall / base[2]:.2f}"
                    if window and base[3]:
                        msg += f", one add ×{med(window) / base[3]:.2f}"
                    if base[4]:
                        msg += f", all adds so far ×{total / base[4]:.2f}"
                    lin.append(msg)
        p("")
        if lin:
            p("Growth (linear would be push and all-adds ×N, inspect ×N or less, one add ≈×1 plus the cost of "
              "rewriting a larger list):")
            p("")
            p("\n".join(lin))
            p("")

    local_mib = m1("local_mib", "")
    if local_mib:
        p(f"## Scenario 7: `push --all` of a local image (containers-storage, one {local_mib} MiB layer) to registry A")
        p("")
        p("Both tools read buildah's store, regenerate the layer's tar, gzip it and upload it; the "
          "child manifest is rewritten with the compressed layer. Target for `manifest`: peak RSS ≤ 50 MB.")
        p("")
        p("| tool | ok runs | wall s | MiB/s | CPU s | peak RSS MiB |")
        p("|---|---|---|---|---|---|")
        for tool, label in (("manifest", "manifest push"), ("buildah", "buildah manifest push --all")):
            g = g_of("7", tool, "push", local_mib)
            if not g:
                continue
            if g.failure:
                failures.append(f"scenario 7, {label}: {g.failure}")
            tput = f"{int(local_mib) / g.wall:.0f}" if g.ok and g.wall else "–"
            p(f"| {label} | {g.runs()} | {g.wall_cell()} | {tput} | {fmt_s(g.cpu)} | {fmt_mib(g.rss)} |")
        m7, b7 = g_of("7", "manifest", "push", local_mib), g_of("7", "buildah", "push", local_mib)
        if m7 and b7 and m7.ok and b7.ok:
            p("")
            p(f"buildah/manifest wall **{ratio(b7.wall, m7.wall)}**, CPU {ratio(b7.cpu, m7.cpu)}, "
              f"peak RSS {ratio(b7.rss, m7.rss)}.")
        p("")

    big_sections(p, meta, m1, g_of, failures)

    verify_mib = m1("verify_mib", "")
    if verify_mib:
        p(f"## Scenario 11: `verify --deep` of one {verify_mib} MiB image (4 layers) in registry A")
        p("")
        p("`manifest verify --deep` reads every layer from A, hashes it, decompresses it and reads the "
          "header of every file; `skopeo copy` of the same image from A to an OCI layout reads and "
          "hashes the same bytes and writes them to disk. Target for `manifest`: peak RSS under 50 MB.")
        p("")
        p("| tool | ok runs | wall s | MiB/s | CPU s | peak RSS MiB |")
        p("|---|---|---|---|---|---|")
        for tool, op, label in (("manifest", "verify-deep", "manifest verify --deep"),
                                ("skopeo", "copy", "skopeo copy docker:// oci:")):
            g = g_of("11", tool, op, verify_mib)
            if not g:
                continue
            if g.failure:
                failures.append(f"scenario 11, {label}: {g.failure}")
            tput = f"{int(verify_mib) / g.wall:.0f}" if g.ok and g.wall else "–"
            p(f"| {label} | {g.runs()} | {g.wall_cell()} | {tput} | {fmt_s(g.cpu)} | {fmt_mib(g.rss)} |")
        v, c = g_of("11", "manifest", "verify-deep", verify_mib), g_of("11", "skopeo", "copy", verify_mib)
        if v and c and v.ok and c.ok:
            p("")
            p(f"skopeo/manifest wall **{ratio(c.wall, v.wall)}**, CPU {ratio(c.cpu, v.cpu)}, "
              f"peak RSS {ratio(c.rss, v.rss)}.")
        p("")

    if meta.get("check"):
        p("## Checks")
        p("")
        p("After the runs, `verify.py` reads back the first run's destination of each tool: the index, "
          "every child manifest (digest re-computed) and every blob (HEAD).")
        p("")
        for c in meta["check"]:
            p(f"- {c}")
        p("")
    if failures:
        p("## Failures")
        p("")
        for f in failures:
            p(f"- {f}")
        p("")
    print("\n".join(out))


def big_sections(p, meta, m1, g_of, failures):
    """Scenarios 8 (big layers), 9 (connection drops) and 10 (start-up)."""
    bigs = sorted({k.split("_")[-1] for k in meta if k.startswith("bytes_big_")}, key=int)
    if bigs:
        p("## Scenario 8: one big layer from A to B (TLS + htpasswd)")
        p("")
        p("Targets for `manifest`: wall within 1.05× of the `ingest.py` upload baseline; peak RSS ≤ 50 MB "
          "whatever the layer size.")
        p("")
        p("| layer | tool | ok runs | wall s | MiB/s | CPU s | peak RSS MiB |")
        p("|---|---|---|---|---|---|---|")
        for bs in bigs:
            mib = int(float(m1(f"bytes_big_{bs}", "0"))) / 1048576
            for tool, op, label in (("manifest", "push", "manifest push"),
                                    ("manifest", "push-layout", "manifest push, source an OCI layout"),
                                    ("buildah", "push", "buildah manifest push --all"),
                                    ("skopeo", "copy", "skopeo copy"),
                                    ("python", "put", "`ingest.py` (upload only)")):
                g = g_of("8", tool, op, bs)
                if not g:
                    continue
                if g.failure:
                    failures.append(f"scenario 8, {label}, {bs} MiB: {g.failure}")
                tput = f"{mib / g.wall:.0f}" if g.ok and g.wall else "–"
                p(f"| {bs} MiB | {label} | {g.runs()} | {g.wall_cell()} | {tput} | {fmt_s(g.cpu)} | {fmt_mib(g.rss)} |")
        p("")
        for bs in bigs:
            m, i = g_of("8", "manifest", "push", bs), g_of("8", "python", "put", bs)
            if m and i and m.ok and i.ok:
                p(f"- {bs} MiB: manifest / ingest baseline wall **{m.wall / i.wall:.2f}×**; "
                  f"peak RSS {fmt_mib(m.rss)} MiB")
            lay = g_of("8", "manifest", "push-layout", bs)
            if lay and i and lay.ok and i.ok:
                p(f"- {bs} MiB, source the layout (what the baseline reads): "
                  f"**{lay.wall / i.wall:.2f}×** the baseline; the difference to the row above is "
                  "reading every byte from A on the same cores")
        p("")
    sent = meta.get("s9_sent", [])
    if sent:
        layer = int(float(m1("s9_layer", "0")))
        p("## Scenario 9: the connection drops during the big layer's upload")
        p("")
        p(f"The layer is {layer / 1048576:.0f} MiB. The registry sits behind nginx (request buffering, its "
          "default); the drop is between the tool and nginx, once, at the given share of the layer. "
          "Retries: `manifest --retry 3`, `skopeo --retry-times 3`; buildah 1.28's `manifest push` has no "
          "retry option. Target for `manifest`: at most one chunk (128 MiB, `--upload-chunk-size`) sent again.")
        p("")
        p("| drop at | tool | finished | wall s | sent in all MiB | sent again MiB |")
        p("|---|---|---|---|---|---|")
        for line in sent:
            tool, pct, total, drops, rc = line.split()
            op = "copy" if tool == "skopeo" else "push"
            g = g_of_any("9", tool, f"{op}-{pct}")
            total = int(total)
            again = max(0, total - layer) / 1048576
            wall = g.wall_cell() if g and g.ok else "–"
            if rc != "0" and g and g.failure:
                failures.append(f"scenario 9, {tool}, drop at {pct} %: {g.failure}")
            p(f"| {pct} % | {tool} | {'yes' if rc == '0' else 'no (see Failures)'} | "
              f"{wall} | {total / 1048576:.0f} | {again:.0f} |")
        p("")
    v, t = g_of("10", "manifest", "version", "0"), g_of("10", "true", "true", "0")
    if v and t and v.ok and t.ok:
        p("## Scenario 10: start-up")
        p("")
        p(f"`manifest --version` {fmt_ms(v.wall)} ms against `/bin/true` {fmt_ms(t.wall)} ms (median of "
          f"{len(v.ok)} runs each, exec'd directly): **{v.wall / t.wall:.2f}×** (target 1.3×); peak RSS "
          f"{fmt_mib(v.rss)} MiB.")
        p("")


G_ALL = {}


def g_of_any(scen, tool, op):
    for k, v in G_ALL.items():
        if k[0] == scen and k[1] == tool and k[2] == op:
            return v
    return None


def s5_requests(G, tool):
    g = [v for k, v in G.items() if k[0] == "5" and k[1] == tool]
    reqs = [r["a1"] - r["a0"] for v in g for r in v.ok if r["a0"] >= 0]
    return med(reqs)


if __name__ == "__main__":
    main()
