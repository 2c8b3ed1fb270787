#!/usr/bin/python3
"""threaded_app.py - a multi-threaded FastCGI responder in pure Python, for
the mod_tracfcgi integration tests (the way Trac's own threaded FastCGI
server behaves: one process, several connections at once).

It accepts on fd 0 (the listening unix socket the process manager hands
it) and serves each connection in a thread of its own. It answers the
FCGI_GET_VALUES management record (FCGI_MAX_CONNS=8, FCGI_MAX_REQS=8,
FCGI_MPXS_CONNS=0) before it reads anything else of that connection, so a
prober that half-closes its side after asking still gets the answer.

What it does for a request is chosen by the QUERY_STRING ('&'-separated
key or key=value):
    sleep=MS    sleep MS milliseconds before replying (waiting, as on a
                database: other threads run meanwhile)
    cpu=MS      then compute for MS milliseconds (holding Python's GIL,
                as Trac's template rendering does)
    env         also print one "environ:NAME=VALUE" line per variable
    act=PATH    append "METHOD LEN pid=N" to PATH once the whole body is in
                (what the application did: a test counts the runs)
    dieonce=FLAG  after act, if FLAG does not exist: create it and SIGKILL
                the whole process before answering (as kill -9 would)
The body always has "pid:N" (this process), "requests:N" (requests
served by this process, this one included), "peak:N" (the most
requests this process has had in progress at once, so far, measured when
this one finished sleeping) and "connreq:N" (requests served on this
connection, this one included: more than 1 when the web server kept it,
FCGI_KEEP_CONN).

Environment: THREADED_APP_MAX_CONNS overrides the FCGI_MAX_CONNS answer.

Standalone (`threaded_app.py --bind unix:/path | HOST:PORT | [V6]:PORT`):
it binds and listens itself, as Trac's own trac.fcgi does with
WSGIServer(bindAddress=...), for TracFcgiExternalServer.
"""

import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 2, 3, 4, 5, 6
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11
KEEP_CONN = 1
HEADER = struct.Struct("!BBHHBB")

MAX_CONNS = os.environ.get("THREADED_APP_MAX_CONNS", "8")
VALUES = {"FCGI_MAX_CONNS": MAX_CONNS, "FCGI_MAX_REQS": MAX_CONNS,
          "FCGI_MPXS_CONNS": "0"}

lock = threading.Lock()
served = 0
active = 0
peak = 0


def nv_len(n):
    return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)


def nv_encode(pairs):
    out = []
    for k, v in pairs:
        k, v = k.encode(), v.encode()
        out.append(nv_len(len(k)) + nv_len(len(v)) + k + v)
    return b"".join(out)


def nv_decode(data):
    out = {}
    i = 0
    while i < len(data):
        lens = []
        for _ in range(2):
            if data[i] & 0x80:
                lens.append(struct.unpack("!I", data[i:i + 4])[0] & 0x7FFFFFFF)
                i += 4
            else:
                lens.append(data[i])
                i += 1
        k = data[i:i + lens[0]]
        i += lens[0]
        v = data[i:i + lens[1]]
        i += lens[1]
        out[k.decode("latin-1")] = v.decode("latin-1")
    return out


def record(rtype, rid, content=b""):
    out = []
    # a record holds at most 65535 bytes
    for off in range(0, max(len(content), 1), 65535):
        piece = content[off:off + 65535]
        pad = -len(piece) % 8
        out.append(HEADER.pack(VERSION, rtype, rid, len(piece), pad, 0) +
                   piece + b"\0" * pad)
    return b"".join(out)


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.requests = 0

    def read_exact(self, n):
        while len(self.buf) < n:
            b = self.sock.recv(65536)
            if not b:
                return None
            self.buf += b
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_record(self):
        head = self.read_exact(HEADER.size)
        if head is None:
            return None
        _ver, rtype, rid, clen, plen, _ = HEADER.unpack(head)
        body = self.read_exact(clen + plen)
        if body is None:
            return None
        return rtype, rid, body[:clen]


def act(params, q, body_len):
    with open(q["act"][0], "a") as f:
        f.write("%s %d pid=%d\n" % (params.get("REQUEST_METHOD", "?"),
                                     body_len, os.getpid()))
    flag = (q.get("dieonce") or [""])[0]
    if flag:
        try:
            os.close(os.open(flag, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)


def respond(conn, rid, params, body_len):
    global served, active, peak
    q = urllib.parse.parse_qs(params.get("QUERY_STRING", ""),
                              keep_blank_values=True)
    if q.get("act"):
        act(params, q, body_len)
    with lock:
        served += 1
        n = served
        active += 1
    try:
        ms = int((q.get("sleep") or ["0"])[0] or 0)
        if ms > 0:
            time.sleep(ms / 1000.0)
        ms = int((q.get("cpu") or ["0"])[0] or 0)
        end = time.thread_time() + ms / 1000.0
        while ms > 0 and time.thread_time() < end:
            sum(range(200))
        with lock:
            peak = max(peak, active)
            p = peak
    finally:
        with lock:
            active -= 1
    conn.requests += 1
    body = "pid:%d\nrequests:%d\npeak:%d\nconnreq:%d\n" % (
        os.getpid(), n, p, conn.requests)
    if "env" in q:
        body += "".join("environ:%s=%s\n" % kv for kv in os.environ.items())
    out = ("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n" +
           body).encode()
    conn.sock.sendall(record(STDOUT, rid, out) + record(STDOUT, rid) +
                      record(END_REQUEST, rid, struct.pack("!IB3x", 0, 0)))


def serve(sock):
    conn = Conn(sock)
    try:
        rid, keep, params, pbuf, blen = None, False, {}, b"", 0
        while True:
            rec = conn.read_record()
            if rec is None:
                return
            rtype, r, body = rec
            if rtype == GET_VALUES:
                asked = nv_decode(body)
                conn.sock.sendall(record(GET_VALUES_RESULT, 0, nv_encode(
                    (k, VALUES[k]) for k in asked if k in VALUES)))
            elif rtype == BEGIN_REQUEST:
                role, flags = struct.unpack("!HB5x", body)
                rid, keep, params, pbuf = r, bool(flags & KEEP_CONN), {}, b""
                blen = 0
            elif rtype == PARAMS and r == rid:
                if body:
                    pbuf += body
                else:
                    params = nv_decode(pbuf)
            elif rtype == STDIN and r == rid:
                blen += len(body)
                if not body:
                    respond(conn, rid, params, blen)
                    rid = None
                    if not keep:
                        return
            elif rtype == ABORT_REQUEST and r == rid:
                conn.sock.sendall(record(END_REQUEST, rid,
                                         struct.pack("!IB3x", 0, 0)))
                rid = None
                if not keep:
                    return
            elif r == 0:
                conn.sock.sendall(record(UNKNOWN_TYPE, 0,
                                         bytes([rtype]) + b"\0" * 7))
    except OSError:
        pass
    finally:
        try:
            sock.close()
        except OSError:
            pass


def bind(addr):
    """A listening socket of its own, as a standalone server (Trac's
    WSGIServer(bindAddress=...)) makes: unix:/path, HOST:PORT, [V6]:PORT."""
    if addr.startswith("unix:"):
        path = addr[5:]
        if os.path.exists(path):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        # httpd's User connects to it (php-fpm's listen.mode does this)
        os.chmod(path, 0o666)
    else:
        host, port = addr.rsplit(":", 1)
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
    s.listen(128)
    return s


def main():
    # --bind ADDR: a standalone server; else the socket on fd 0 (spawned)
    if len(sys.argv) == 3 and sys.argv[1] == "--bind":
        listener = bind(sys.argv[2])
        signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    else:
        listener = socket.socket(fileno=0)
    while True:
        try:
            s, _ = listener.accept()
        except InterruptedError:
            continue
        except OSError as e:
            sys.stderr.write("threaded_app: accept: %s\n" % e)
            return 1
        threading.Thread(target=serve, args=(s,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
