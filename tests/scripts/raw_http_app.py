"""An HTTP/1.1 app written on bare sockets, to behave as frameworks rarely
do but the protocol allows (tests/e2e/server_proxy.rs):

- GET /until-close: a body with neither Content-Length nor chunks, ended by
  closing the connection (RFC 9112 section 6.3);
- /once: answers the first request on a connection and keeps it open, then
  closes it at the next request without answering, as an app whose
  keep-alive timeout has just run out does. Prints `dropped METHOD` then.
- GET /http10: an HTTP/1.0 answer with a length and no keep-alive offered,
  the connection left open; a request that comes on it anyway prints
  `reused an HTTP/1.0 connection` and gets a 500.
- GET /http10-redirect: an HTTP/1.0 301 with `Content-Length: 0`, then the
  close (Python's http.server for a directory without its slash).
- GET /kept: answered, the connection kept; when the proxy closes it,
  prints `the proxy closed a kept connection`.
- GET /closes-when-idle: answered, then the connection is closed after
  0.3 s without a request, as an app with a short keep-alive timeout does,
  printing `closed an idle connection`.
- POST /too-large: refuses an upload as Go's MaxBytesReader does: 413 with
  `Connection: close` before reading the body, then half a second to let
  the answer be read before the close (which unread bytes make a reset).
  Prints `refused an upload`.
- POST /too-large-now: the same 413, and the close at once (a reset, as
  most synchronous servers do). Prints `refused an upload`.
- POST /too-large-http10: an HTTP/1.0 413 with a length and no keep-alive
  offered, then the connection held open, unread, for 30 s. Prints
  `refused an upload`.
- GET /http10-chunked: an HTTP/1.0 answer with Transfer-Encoding, faulty
  framing (RFC 9112 section 6.1).
- GET /upgrade-short: a 426 with `Upgrade: websocket` beside a length of
  100, then 50 bytes and the close.

Usage: python3 raw_http_app.py PORT
"""

import socket
import sys
import threading
import time

UNTIL_CLOSE_LINES = 20000


def serve(conn):
    answered = 0
    http10 = False
    kept = False
    buf = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buf:
                try:
                    more = conn.recv(65536)
                except socket.timeout:
                    print("closed an idle connection", flush=True)
                    return
                if not more:
                    if kept:
                        print("the proxy closed a kept connection", flush=True)
                    return
                buf += more
            head, buf = buf.split(b"\r\n\r\n", 1)
            method, target = head.split(b"\r\n")[0].split(b" ")[:2]
            if http10:
                print("reused an HTTP/1.0 connection", flush=True)
                conn.sendall(b"HTTP/1.1 500 Reused\r\nContent-Length: 0\r\n\r\n")
                continue
            if target == b"/http10":
                http10 = True
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n")
                continue
            if target == b"/http10-redirect":
                conn.sendall(
                    b"HTTP/1.0 301 Moved Permanently\r\nLocation: /http10/\r\n"
                    b"Content-Length: 0\r\n\r\n"
                )
                return
            if target == b"/until-close":
                body = b"".join(b"line %d\n" % i for i in range(UNTIL_CLOSE_LINES))
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    b"Connection: close\r\n\r\n" + body
                )
                return
            if target == b"/kept":
                kept = True
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nkept\n")
                continue
            if target == b"/closes-when-idle":
                conn.settimeout(0.3)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nidle\n")
                continue
            if target.startswith(b"/too-large"):
                print("refused an upload", flush=True)
                if target == b"/too-large-http10":
                    conn.sendall(
                        b"HTTP/1.0 413 Content Too Large\r\n"
                        b"Content-Length: 10\r\n\r\ntoo large\n"
                    )
                    time.sleep(30)
                    return
                conn.sendall(
                    b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n"
                    b"Content-Length: 10\r\n\r\ntoo large\n"
                )
                if target == b"/too-large":
                    conn.shutdown(socket.SHUT_WR)
                    time.sleep(0.5)
                return
            if target == b"/http10-chunked":
                conn.sendall(
                    b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"6\r\nhello\n\r\n0\r\n\r\n"
                )
                return
            if target == b"/upgrade-short":
                conn.sendall(
                    b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n"
                    b"Content-Length: 100\r\n\r\n" + b"x" * 50
                )
                return
            if target == b"/once":
                if answered:
                    print("dropped", method.decode(), flush=True)
                    return
                answered += 1
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\none\n")
                continue
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


def main():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(sys.argv[1])))
    listener.listen()
    print("READY", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
