#!/usr/bin/env python3
"""A bounded slow-client flood, and the target's memory before, during and after.

Opens CONNECTIONS connections to 127.0.0.1:PORT that each do one thing and
then stall: send half a request head (`head`), a head and all but the last
few bytes of a BODY_BYTES body (`body`), or nothing (`idle`). It holds them
HOLD seconds (or until the server has closed them all), probing /healthz in
the middle, then closes what is left and watches the server's resident
memory settle. Memory comes from /proc/PID/status (VmRSS, and VmHWM for the
peak), so run it on the same machine as the server. Standard library only.

    python3 docs/bench/flood.py --pid $(pgrep -f release/mandala-ingress) \\
        --port 8090 --mode body --connections 2000 --hold 20
    python3 docs/bench/flood.py --pid $(pgrep -f release/mandala-worker) \\
        --port 8081 --path /pubsub/push --mode body --connections 2000 --hold 20
"""

import argparse
import socket
import sys
import time


def status(pid, key):
    """A /proc/PID/status value in KiB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def payload(mode, path, body_bytes):
    if mode == "idle":
        return b""
    if mode == "head":
        return f"POST {path} HTTP/1.1\r\nHost: flood\r\nContent-".encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\n"
        "X-Signature-Ed25519: " + "0" * 128 + "\r\nX-Signature-Timestamp: 1\r\n"
        f"Content-Length: {body_bytes}\r\n\r\n"
    ).encode()
    return head + b"x" * (body_bytes - 16)


def healthz(port, timeout):
    """Status and milliseconds of one GET /healthz on a fresh connection."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            answer = s.recv(64)
        code = answer.split(b" ")[1].decode() if answer else "closed"
    except OSError as e:
        code = type(e).__name__
    return code, (time.monotonic() - started) * 1000


def closed_by_peer(s):
    """Whether the server has closed `s` (reading and dropping any answer it sent first)."""
    try:
        while s.recv(65536, socket.MSG_DONTWAIT):
            pass
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pid", type=int, required=True, help="the server's process id")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["head", "body", "idle"], required=True)
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--hold", type=float, default=20, help="seconds to hold the connections")
    p.add_argument("--path", default="/interactions", help="/pubsub/push for the worker")
    p.add_argument("--body-bytes", type=int, default=65536)
    p.add_argument("--settle", type=float, default=10, help="seconds to watch memory after")
    a = p.parse_args()

    baseline = status(a.pid, "VmRSS")
    print(f"baseline        RSS {mib(baseline)}  (peak so far {mib(status(a.pid, 'VmHWM'))})")
    data = payload(a.mode, a.path, a.body_bytes)
    socks, refused = [], 0
    started = time.monotonic()
    for _ in range(a.connections):
        try:
            s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
            if data:
                s.sendall(data)
            # From here on only polled: reads must not wait out the timeout.
            s.setblocking(False)
            socks.append(s)
        except OSError:
            refused += 1
    opened = time.monotonic() - started
    print(f"opened          {len(socks)} connections in {opened:.1f} s ({refused} failed)")
    peak, probed = baseline, None
    while time.monotonic() - started < a.hold:
        peak = max(peak, status(a.pid, "VmRSS"))
        if probed is None and time.monotonic() - started >= a.hold / 2:
            probed = healthz(a.port, timeout=10)
        if all(closed_by_peer(s) for s in socks):
            break
        time.sleep(0.25)
    held = time.monotonic() - started
    gone = sum(closed_by_peer(s) for s in socks)
    probe = f"; /healthz mid-flood: {probed[0]} in {probed[1]:.0f} ms" if probed else ""
    print(f"during          RSS peak {mib(peak)}{probe}")
    print(f"after {held:4.1f} s    {gone} of {len(socks)} closed by the server")
    for s in socks:
        s.close()
    mark = time.monotonic()
    for at in (1, 5, a.settle):
        time.sleep(max(0.0, at - (time.monotonic() - mark)))
        print(f"closed +{at:4.1f} s  RSS {mib(status(a.pid, 'VmRSS'))}")
    print(f"peak (VmHWM)    {mib(status(a.pid, 'VmHWM'))}; /healthz now: {healthz(a.port, 5)[0]}")


if __name__ == "__main__":
    sys.exit(main())
