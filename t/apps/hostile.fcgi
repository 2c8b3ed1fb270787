#!/usr/bin/python3
"""hostile.fcgi - a FastCGI backend that breaks the rules on purpose.

Used by t/test_hostile_backend.py and t/test_hostile_client.py. The module
execs it with a LISTENING unix socket as fd 0. It serves one connection at
a time (FCGI_MAX_CONNS 1): reads a whole request (BEGIN_REQUEST, PARAMS up
to the empty record, STDIN up to the empty record), then answers the way
the QUERY_STRING param case=NAME says (table CASES below). The process
manager's readiness probe (FCGI_GET_VALUES followed by a half-close) is
answered with a GET_VALUES_RESULT.

Environment (TracFcgiInitEnv):
  HOSTILE_LOG=PATH   append "CASE PID\\n" to PATH for every request
                     accepted (so a test knows which process served what,
                     replays included).
  HOSTILE_MARK=TEXT  reported by case=params (tells pools apart).
  HOSTILE_MODE=noaccept     after the probe, never accept() again.
  HOSTILE_MODE=noread       accept() requests but never read from them.

Cases (case=NAME in the query string):
  ok              "pid:N\\n", a normal answer.
  params          JSON {"params": {...}, "mark": ..., "pid": N,
                  "environ": {...}}; param names and values are the raw
                  bytes as latin-1.
  split           a valid answer written one byte per send(), 2 ms apart.
  version2        a STDOUT record with version 2.
  badid           a STDOUT record for request id + 1.
  unknown-type    records of type 42 (request id and id 0) between STDOUT
                  records; valid: the body is BODY_A + BODY_B.
  maxrec          STDOUT records with contentLength 65535 and padding 255;
                  valid: the body is maxrec_body() below.
  stderr-flood    one 65535-byte STDERR record of numbered lines, one
                  byte per send(), then "pid:N\\n"; valid.
  hdr9k           a 9 KiB response header line.
  hdr1m           a 1 MiB response header line.
  hdr-endless     header lines, forever (until the module hangs up).
  noblank-eof     header lines, no blank line, then close (no END_REQUEST).
  noblank-end     header lines, no blank line, then END_REQUEST.
  status-abc      "Status: abc".
  location-cr     "Location: http://example.invalid/a<CR>X-Injected: 1".
  location-cr-local  the same with a local path.
  te-cl-short     "Transfer-Encoding: chunked" + "Content-Length: 1000",
                  then 100 bytes of body (headers flushed first).
  te-cl-long      "Transfer-Encoding: chunked" + "Content-Length: 10",
                  then 100 bytes of body.
  two-end         a valid answer followed by a second END_REQUEST.
  short-end       a valid answer whose END_REQUEST has contentLength 7.
  mid-record-close  headers and part of the body, then a STDOUT record
                  header announcing 1000 bytes, 10 of them, and close.
  stall-body      headers and part of the body, then sleep forever.
  noread          stop reading before STDIN (a big body fills the socket),
                  never answer.
  refuse          END_REQUEST with protocolStatus FCGI_CANT_MPX_CONN.
  early-answer    answer BODY_A right after PARAMS, without reading STDIN
                  (a big request body is still being sent), then close.
  mgmt-record     GET_VALUES_RESULT and UNKNOWN_TYPE records (request id
                  0) between STDOUT records; valid: BODY_A + BODY_B.
  tiny-records    tiny_body() as one STDOUT record per byte; valid.
  silent-close    read the whole request, then close without a byte.
  stall-late      headers and BODY_A, 0.5 s later BODY_B, then sleep
                  forever (a client gone by then is noticed at BODY_B).
  trickle         headers, then BODY_A every 0.2 s until a send fails;
                  then close.
  server-type     a BEGIN_REQUEST record (a type only servers send).
"""

import json
import os
import signal
import socket
import struct
import sys
import time
import urllib.parse

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR, \
    DATA, GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = range(1, 12)

BODY_A = b"first part of the body\n"
BODY_B = b"second part of the body\n"
CT = b"Content-Type: text/plain\r\n"


def record(rtype, rid, content=b"", padding=None, version=VERSION,
           clen=None):
    if padding is None:
        padding = (8 - len(content) % 8) % 8
    if clen is None:
        clen = len(content)
    return struct.pack(">BBHHBx", version, rtype, rid, clen, padding) + \
        content + b"\0" * padding


def stdout(rid, data):
    """@data as STDOUT records (no end-of-stream record)."""
    out = b""
    for i in range(0, len(data), 65535):
        out += record(STDOUT, rid, data[i:i + 65535])
    return out


def end_request(rid, app_status=0, proto=0):
    return record(END_REQUEST, rid, struct.pack(">IB3x", app_status, proto))


def finish(rid):
    """Empty STDOUT (end of stream) and END_REQUEST."""
    return record(STDOUT, rid) + end_request(rid)


def nv_len(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def nv_pairs(buf):
    out = {}
    pos = 0
    while pos < len(buf):
        lens = []
        for _ in range(2):
            if buf[pos] & 0x80:
                lens.append(struct.unpack(">I", buf[pos:pos + 4])[0] &
                            0x7FFFFFFF)
                pos += 4
            else:
                lens.append(buf[pos])
                pos += 1
        name = buf[pos:pos + lens[0]]
        pos += lens[0]
        out[name] = buf[pos:pos + lens[1]]
        pos += lens[1]
    return out


def maxrec_body():
    """Body of case=maxrec."""
    head = CT + b"\r\n"
    first = 65535 - len(head)
    return bytes((i * 7) % 251 for i in range(first + 65535))


def stderr_flood_text():
    """65535 bytes of numbered lines, the last one shortened to fit."""
    lines = []
    n = 0
    size = 0
    while True:
        ln = b"hostile-stderr-line %05d %s\n" % (n, b"x" * 30)
        if size + len(ln) > 65535:
            break
        lines.append(ln)
        size += len(ln)
        n += 1
    left = 65535 - size
    if left:
        lines.append(b"t" * (left - 1) + b"\n")
    return b"".join(lines)


class Closed(Exception):
    pass


class Conn:
    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def read(self, n):
        while len(self.buf) < n:
            b = self.s.recv(65536)
            if not b:
                raise Closed()
            self.buf += b
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def record(self):
        h = self.read(8)
        version, rtype, rid, clen, pad = struct.unpack(">BBHHBx", h)
        content = self.read(clen)
        self.read(pad)
        return rtype, rid, content

    def send(self, data):
        self.s.sendall(data)

    def trickle(self, data, delay=0.002, every=1):
        for i in range(len(data)):
            self.s.sendall(data[i:i + 1])
            if delay and i % every == every - 1:
                time.sleep(delay)


def sleep_forever():
    while True:
        time.sleep(3600)


def log_case(case):
    path = os.environ.get("HOSTILE_LOG")
    if path:
        with open(path, "a") as f:
            f.write("%s %d\n" % (case, os.getpid()))


# --------------------------------------------------------------------------
# the cases: fn(conn, rid, params) writes the answer


def c_ok(c, rid, params):
    c.send(stdout(rid, CT + b"\r\npid:%d\n" % os.getpid()) + finish(rid))


def c_params(c, rid, params):
    doc = {"params": {k.decode("latin-1"): v.decode("latin-1")
                      for k, v in params.items()},
           "mark": os.environ.get("HOSTILE_MARK"), "pid": os.getpid(),
           "environ": dict(os.environ)}
    body = json.dumps(doc).encode()
    c.send(stdout(rid, b"Content-Type: application/json\r\n\r\n" + body) +
           finish(rid))


def c_split(c, rid, params):
    data = stdout(rid, CT + b"\r\n") + stdout(rid, BODY_A) + \
        stdout(rid, b"pid:%d\n" % os.getpid()) + finish(rid)
    c.trickle(data)


def c_version2(c, rid, params):
    c.send(record(STDOUT, rid, CT + b"\r\n" + BODY_A, version=2) +
           finish(rid))


def c_badid(c, rid, params):
    c.send(record(STDOUT, rid + 1, CT + b"\r\n" + BODY_A) + finish(rid))


def c_unknown_type(c, rid, params):
    c.send(stdout(rid, CT + b"\r\n" + BODY_A) +
           record(42, rid, b"junk" * 100) +
           record(42, 0, b"more junk") +
           record(42, rid, b"", padding=7) +
           stdout(rid, BODY_B) + finish(rid))


def c_maxrec(c, rid, params):
    body = maxrec_body()
    head = CT + b"\r\n"
    first = head + body[:65535 - len(head)]
    second = body[65535 - len(head):]
    assert len(first) == 65535 and len(second) == 65535
    c.send(record(STDOUT, rid, first, padding=255) +
           record(STDOUT, rid, second, padding=255) + finish(rid))


def c_stderr_flood(c, rid, params):
    c.send(struct.pack(">BBHHBx", VERSION, STDERR, rid, 65535, 1))
    c.trickle(stderr_flood_text() + b"\0", delay=0.0005, every=64)
    c.send(stdout(rid, CT + b"\r\npid:%d\n" % os.getpid()) + finish(rid))


def c_hdr9k(c, rid, params):
    c.send(stdout(rid, CT + b"X-Long: " + b"a" * 9216 + b"\r\n\r\n" +
                  BODY_A) + finish(rid))


def c_hdr1m(c, rid, params):
    c.send(stdout(rid, CT + b"X-Long: " + b"a" * (1 << 20) + b"\r\n\r\n" +
                  BODY_A) + finish(rid))


def c_hdr_endless(c, rid, params):
    c.send(stdout(rid, CT))
    i = 0
    while True:
        c.send(stdout(rid, b"".join(b"X-Endless-%d: %s\r\n" % (i + k,
                                                                b"v" * 50)
                                    for k in range(100))))
        i += 100


def c_noblank_eof(c, rid, params):
    c.send(stdout(rid, CT + b"X-A: b\r\n"))
    time.sleep(0.2)
    c.s.close()


def c_noblank_end(c, rid, params):
    c.send(stdout(rid, CT + b"X-A: b\r\n") + finish(rid))


def c_status_abc(c, rid, params):
    c.send(stdout(rid, b"Status: abc\r\n" + CT + b"\r\n" + BODY_A) +
           finish(rid))


def c_location_cr(c, rid, params):
    c.send(stdout(rid, b"Location: http://example.invalid/a\rX-Injected: 1"
                       b"\r\n" + CT + b"\r\n" + BODY_A) + finish(rid))


def c_location_cr_local(c, rid, params):
    c.send(stdout(rid, b"Location: /index.html\rX-Injected: 1\r\n" + CT +
                  b"\r\n" + BODY_A) + finish(rid))


def c_te_cl_short(c, rid, params):
    c.send(stdout(rid, CT + b"Transfer-Encoding: chunked\r\n"
                       b"Content-Length: 1000\r\n\r\n"))
    time.sleep(0.3)
    c.send(stdout(rid, b"b" * 100))
    time.sleep(0.3)
    c.send(finish(rid))


def c_te_cl_long(c, rid, params):
    c.send(stdout(rid, CT + b"Transfer-Encoding: chunked\r\n"
                       b"Content-Length: 10\r\n\r\n"))
    time.sleep(0.3)
    c.send(stdout(rid, b"b" * 100))
    time.sleep(0.3)
    c.send(finish(rid))


def c_two_end(c, rid, params):
    c.send(stdout(rid, CT + b"\r\n" + BODY_A) + finish(rid) +
           end_request(rid))


def c_short_end(c, rid, params):
    c.send(stdout(rid, CT + b"\r\n" + BODY_A) + record(STDOUT, rid))
    time.sleep(0.3)
    c.send(record(END_REQUEST, rid, b"\0" * 7))


def c_mid_record_close(c, rid, params):
    c.send(stdout(rid, CT + b"\r\n" + BODY_A))
    time.sleep(0.3)
    c.send(struct.pack(">BBHHBx", VERSION, STDOUT, rid, 1000, 0) +
           b"c" * 10)
    time.sleep(0.2)
    c.s.close()


def c_stall_body(c, rid, params):
    c.send(stdout(rid, CT + b"\r\n" + BODY_A))
    sleep_forever()


def tiny_body():
    """Body of case=tiny-records."""
    return bytes(ord("a") + i % 26 for i in range(16384))


def c_tiny_records(c, rid, params):
    body = tiny_body()
    c.send(stdout(rid, CT + b"\r\n") +
           b"".join(record(STDOUT, rid, body[i:i + 1])
                    for i in range(len(body))) + finish(rid))


def c_mgmt_record(c, rid, params):
    c.send(stdout(rid, CT + b"\r\n" + BODY_A) +
           record(GET_VALUES_RESULT, 0, nv_len(14) + nv_len(1) +
                  b"FCGI_MAX_CONNS9") +
           record(UNKNOWN_TYPE, 0, bytes([200]) + b"\0" * 7) +
           stdout(rid, BODY_B) + finish(rid))


def c_early_answer(c, rid, params):
    c.send(stdout(rid, CT + b"\r\n" + BODY_A) + finish(rid))
    time.sleep(0.2)


def c_refuse(c, rid, params):
    c.send(end_request(rid, 0, 1))


def c_stall_late(c, rid, params):
    c.send(stdout(rid, CT + b"\r\n" + BODY_A))
    time.sleep(0.5)
    c.send(stdout(rid, BODY_B))
    sleep_forever()


def c_trickle(c, rid, params):
    c.send(stdout(rid, CT + b"\r\n"))
    while True:
        c.send(stdout(rid, BODY_A))  # OSError (EPIPE) ends it: serve()
        time.sleep(0.2)              # closes the connection


def c_silent_close(c, rid, params):
    pass  # serve()'s caller closes the connection


def c_server_type(c, rid, params):
    c.send(record(BEGIN_REQUEST, rid, struct.pack(">HB5x", 1, 0)) +
           finish(rid))


CASES = {
    "ok": c_ok, "params": c_params, "split": c_split,
    "version2": c_version2, "badid": c_badid,
    "unknown-type": c_unknown_type, "maxrec": c_maxrec,
    "stderr-flood": c_stderr_flood, "hdr9k": c_hdr9k, "hdr1m": c_hdr1m,
    "hdr-endless": c_hdr_endless, "noblank-eof": c_noblank_eof,
    "noblank-end": c_noblank_end, "status-abc": c_status_abc,
    "location-cr": c_location_cr, "location-cr-local": c_location_cr_local,
    "te-cl-short": c_te_cl_short, "te-cl-long": c_te_cl_long,
    "two-end": c_two_end, "short-end": c_short_end,
    "mid-record-close": c_mid_record_close, "stall-body": c_stall_body,
    "refuse": c_refuse, "server-type": c_server_type,
    "early-answer": c_early_answer, "mgmt-record": c_mgmt_record,
    "tiny-records": c_tiny_records, "silent-close": c_silent_close,
    "stall-late": c_stall_late, "trickle": c_trickle,
}


# --------------------------------------------------------------------------


def answer_probe(c, content):
    names = list(nv_pairs(content))
    vals = {b"FCGI_MAX_CONNS": b"1", b"FCGI_MAX_REQS": b"1",
            b"FCGI_MPXS_CONNS": b"0"}
    body = b"".join(nv_len(len(n)) + nv_len(len(vals.get(n, b""))) + n +
                    vals.get(n, b"") for n in names)
    c.send(record(GET_VALUES_RESULT, 0, body))


def serve(c, mode):
    """One connection. @return True if it was the probe."""
    if mode == "noread":
        log_case("noread-at-all")
        sleep_forever()
    rtype, rid, content = c.record()
    if rtype == GET_VALUES:
        answer_probe(c, content)
        return True
    if rtype != BEGIN_REQUEST:
        return False
    raw = b""
    while True:
        rtype, _, content = c.record()
        if rtype != PARAMS:
            return False
        if not content:
            break
        raw += content
    params = nv_pairs(raw)
    q = urllib.parse.parse_qs(params.get(b"QUERY_STRING", b"").decode(
        "latin-1"), keep_blank_values=True)
    case = (q.get("case") or ["ok"])[0]
    log_case(case)
    if case == "noread":
        sleep_forever()
    if case == "early-answer":
        c_early_answer(c, rid, params)
        return False
    while True:
        rtype, _, content = c.record()
        if rtype == STDIN and not content:
            break
    fn = CASES.get(case)
    if fn is None:
        c.send(stdout(rid, b"Status: 404 No Such Case\r\n" + CT + b"\r\n" +
                      b"no case %r\n" % case.encode()) + finish(rid))
        return False
    fn(c, rid, params)
    return False


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    mode = os.environ.get("HOSTILE_MODE", "")
    lsock = socket.socket(fileno=0)
    probed = False
    while True:
        if probed and mode == "noaccept":
            log_case("noaccept")
            sleep_forever()
        s, _ = lsock.accept()
        c = Conn(s)
        try:
            probed = serve(c, "" if not probed else mode) or probed
        except (Closed, OSError):
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(1)
