#!/usr/bin/env python3
"""A TCP proxy that drops the connection when the bytes sent through it reach given offsets.

    dropproxy.py --port-file FILE --upstream HOST:PORT --drop-at BYTES[,BYTES...] --stats FILE

Listens on a free 127.0.0.1 port (written to --port-file), forwards every connection to
--upstream, and counts the bytes clients send (all connections together). The first time the
count passes each --drop-at offset, the connection that carried those bytes is closed both ways
(what a flaky link or a proxy timeout does to an upload). On SIGTERM it writes
`SENT DROPS` (client bytes forwarded, connections dropped) to --stats and exits.
"""
import argparse
import signal
import socket
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--drop-at", default="")
    ap.add_argument("--stats", required=True)
    a = ap.parse_args()
    host, port = a.upstream.rsplit(":", 1)
    upstream = (host, int(port))
    offsets = sorted(int(x) for x in a.drop_at.split(",") if x)
    state = {"sent": 0, "drops": 0, "next": 0}
    lock = threading.Lock()

    def write_stats(*_):
        with open(a.stats, "w") as f:
            f.write(f"{state['sent']} {state['drops']}\n")
        sys.exit(0)

    signal.signal(signal.SIGTERM, write_stats)

    def pipe(src, dst, counted, pair):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if counted:
                    with lock:
                        state["sent"] += len(data)
                        i = state["next"]
                        drop = i < len(offsets) and state["sent"] >= offsets[i]
                        if drop:
                            state["next"] += 1
                            state["drops"] += 1
                    if drop:
                        for s in pair:
                            try:
                                s.shutdown(socket.SHUT_RDWR)
                            except OSError:
                                pass
                        break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    with open(a.port_file, "w") as f:
        f.write(f"{server.getsockname()[1]}\n")
    while True:
        client, _ = server.accept()
        try:
            up = socket.create_connection(upstream)
        except OSError:
            client.close()
            continue
        pair = (client, up)
        threading.Thread(target=pipe, args=(client, up, True, pair), daemon=True).start()
        threading.Thread(target=pipe, args=(up, client, False, pair), daemon=True).start()


if __name__ == "__main__":
    main()
