#!/usr/bin/env python3
"""Time short commands as whole processes, many times, with microsecond wall-clock precision.

    micro.py --runs N --out RESULTS.tsv --errdir DIR --scenario S --size SIZE \
             --step TOOL:OP 'CMD ...' [--step - 'UNTIMED CMD ...'] ...

Each of the N iterations runs every step in order. A step whose label is `-` is set-up or
clean-up and is not timed; its failure is printed but does not stop the loop. A timed step
is exec'd directly (no shell: CMD is split with shlex), stdout to /dev/null, stderr to a file,
and measured by ptime.py (wall time from perf_counter; user, sys and peak RSS from the
child's rusage via wait4, the numbers GNU time prints as %U %S %M). One row per timed run is
appended to RESULTS.tsv in the format of run.sh's `record` function.
"""
import argparse
import os
import shlex
import subprocess
import sys

import ptime  # bench/ptime.py, beside this file


def run_timed(argv, errpath):
    with open(os.devnull, "wb") as devnull, open(errpath, "wb") as err:
        return ptime.run_timed(argv, stdout=devnull.fileno(), stderr=err.fileno())


def first_line(path):
    try:
        with open(path, "r", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line:
                    return line[:200].replace("\t", " ")
    except OSError:
        pass
    return ""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--errdir", required=True)
    p.add_argument("--scenario", required=True)
    p.add_argument("--size", default="-")
    p.add_argument("--step", nargs=2, action="append", metavar=("LABEL", "CMD"), required=True)
    a = p.parse_args()
    os.makedirs(a.errdir, exist_ok=True)
    failed_setup = 0
    with open(a.out, "a") as out:
        for i in range(1, a.runs + 1):
            for label, cmd in a.step:
                if label == "-":
                    r = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE)
                    if r.returncode != 0 and failed_setup < 3:
                        failed_setup += 1
                        sys.stderr.write(f"  set-up step failed ({r.returncode}): {cmd}\n"
                                         f"    {r.stderr.decode(errors='replace').strip()[:300]}\n")
                    continue
                tool, op = label.split(":", 1)
                errpath = os.path.join(a.errdir, f"s{a.scenario}-{tool}-{op}-{a.size}-{i}.err")
                rc, wall, user, sys_, rss = run_timed(shlex.split(cmd), errpath)
                note = first_line(errpath) if rc != 0 else ""
                # scenario tool op size n run rc wall user sys maxrss_kb a_from a_to b_from b_to note
                out.write("\t".join(map(str, [a.scenario, tool, op, a.size, 1, i, rc,
                                              f"{wall:.6f}", f"{user:.6f}", f"{sys_:.6f}", rss,
                                              -1, -1, -1, -1, note])) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
