#!/usr/bin/env python3
"""Run a command and record its wall time, CPU and peak RSS, like GNU time but to the microsecond.

    ptime.py TIMEFILE CMD [ARG...]

Runs CMD with this process's stdin/stdout/stderr, waits for it with wait4, writes one line
`WALL_S USER_S SYS_S MAXRSS_KIB` to TIMEFILE and exits with CMD's exit status. The numbers are the
ones GNU `time -f '%e %U %S %M'` prints (user and system time and peak RSS of the process and of
the children it waited for), without GNU time's 10 ms steps.
"""
import os
import sys
import time


def run_timed(argv, stdout=None, stderr=None):
    """(exit code, wall s, user s, sys s, peak RSS KiB) of one run of argv."""
    actions = []
    if stdout is not None:
        actions.append((os.POSIX_SPAWN_DUP2, stdout, 1))
    if stderr is not None:
        actions.append((os.POSIX_SPAWN_DUP2, stderr, 2))
    t0 = time.perf_counter()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    except OSError as e:
        print(f"ptime: cannot run {argv[0]}: {e}", file=sys.stderr)
        return 127, time.perf_counter() - t0, 0.0, 0.0, 0
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    return os.waitstatus_to_exitcode(status), wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    rc, wall, user, sys_, rss = run_timed(sys.argv[2:])
    with open(sys.argv[1], "w") as f:
        f.write(f"{wall:.6f} {user:.6f} {sys_:.6f} {rss}\n")
    sys.exit(rc if rc >= 0 else 128 - rc)


if __name__ == "__main__":
    main()
