"""Holds a crowd of idle TCP connections to a TLS server and times new clients.

Usage: idle_crowd.py PORT IDLE PROBES CAFILE

Opens IDLE plain TCP connections to 127.0.0.1:PORT and holds them without
sending a byte (as a port scanner, a stuck client or an attacker would),
then times PROBES HTTPS requests from new connections (handshake,
GET /health, response, verifying against CAFILE). Prints one line:
idle=N probes=N failed=N p50_ms=X p99_ms=X max_ms=X
Used by the end-to-end tests and by `cargo xtask bench idle`.
"""
import resource
import socket
import ssl
import sys
import time

port, idle_n, probes, cafile = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < idle_n + 100:
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
idle = []
for _ in range(idle_n):
    try:
        idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    except OSError as e:
        print(f"idle connection {len(idle)} failed: {e}", file=sys.stderr)
        break
time.sleep(0.5)
ctx = ssl.create_default_context(cafile=cafile)
times, failed = [], 0
for _ in range(probes):
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := tls.recv(4096):
                    data += chunk
        if not data.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(data[:40])
        times.append((time.monotonic() - start) * 1000)
    except Exception as e:
        print(f"probe failed after {time.monotonic() - start:.1f} s: {e!r}", file=sys.stderr)
        failed += 1
        times.append(float("inf"))
times.sort()
p50 = times[len(times) // 2]
p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
print(f"idle={len(idle)} probes={probes} failed={failed} p50_ms={p50:.1f} p99_ms={p99:.1f} max_ms={times[-1]:.1f}")
