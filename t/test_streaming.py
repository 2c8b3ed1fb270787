"""TracFcgiRequestBuffering Off: a request body with a Content-Length goes
to the backend while the client still sends it (its first 64 KiB are read
before a backend is taken). What changes for the user: the backend is held
by a slow uploader, a body partly sent cannot be replayed, and a client
that gives up mid-body costs the backend nothing."""

import os
import socket
import subprocess
import time

import pytest

import httpd as H
import hostile_util as U
import test_conf_samples as C

TRAC = "ScriptAlias /trac @APPS@/responder.fcgi/\n"
OFF = "TracFcgiRequestBuffering Off\n"
MiB = 1024 * 1024


def echo_of(data):
    return b"len:%d\nfnv:%016x\n" % (len(data), H.fnv1a64(data))


def head(h, length, path="/trac/?echo"):
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n" % (path, h.port, length)).encode()


def read_all(s):
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            return data
        data += b


@pytest.mark.both_mpms
def test_streamed_bodies_arrive_whole(httpd):
    """Every size around the 64 KiB first piece and the record size."""
    h = httpd(TRAC + OFF)
    for n in (1, 1000, 65535, 65536, 65537, 131072, 131073, MiB + 5,
              10 * MiB):
        data = os.urandom(n)
        r = h.post("/trac/?echo", data, timeout=120)
        assert r.status == 200, (n, r.status, r.body[:300])
        assert r.body == echo_of(data), n
    # a body of unknown length is read first, as with On: the app is told
    # its length (CGI has no other way)
    pieces = [os.urandom(n) for n in (1, 65536, 100000, 7)]
    data = b"".join(pieces)
    r = h.post("/trac/?env", iter(pieces), encode_chunked=True,
               headers={"Transfer-Encoding": "chunked"})
    params, _, _ = H.parse_env_body(r.body)
    assert params.get("CONTENT_LENGTH") == str(len(data))
    r = h.post("/trac/?echo", iter(pieces), encode_chunked=True,
               headers={"Transfer-Encoding": "chunked"})
    assert r.body == echo_of(data)


def test_expect_100_continue(httpd, tmp_path):
    """curl sends Expect: 100-continue with a large body and waits for
    the 100 before sending it: the first 64 KiB read asks for it."""
    h = httpd(TRAC + OFF)
    data = os.urandom(3 * MiB)
    f = tmp_path / "body"
    f.write_bytes(data)
    out = subprocess.run(
        ["curl", "-sS", "-v", "--data-binary", "@%s" % f, "-H",
         "Expect: 100-continue", "-H", "Content-Type: application/x-foo",
         "http://127.0.0.1:%d/trac/?echo" % h.port],
        capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr[-500:]
    assert b"HTTP/1.1 100 Continue" in out.stderr, out.stderr[-800:]
    assert out.stdout == echo_of(data)


def test_slow_upload_holds_the_backend(httpd):
    """The opposite of the default (test_core.py's
    test_slow_upload_does_not_hold_a_backend): past its first 64 KiB, a
    trickling body keeps the only backend, and others wait for it."""
    h = httpd(TRAC + OFF + "TracFcgiMaxProcesses 1\nTracFcgiQueueTimeout 1\n")
    r = h.get("/trac/?pid")
    assert r.status == 200
    pid = H.pid_of(r.body)
    data = os.urandom(200000)
    s = socket.create_connection(("127.0.0.1", h.port), timeout=30)
    try:
        s.sendall(head(h, len(data)) + data[:100000])
        time.sleep(0.5)
        mark = h.log_mark()
        r = h.get("/trac/?pid", timeout=30)
        assert r.status == 503, (r.status, r.body[:200])
        h.wait_log(r"TF00405: pool .*TracFcgiQueueTimeout 1s", since=mark)
        s.sendall(data[100000:])
        status, _, body, _, _ = H.parse_response(read_all(s))
    finally:
        s.close()
    assert status == 200 and body == echo_of(data), (status, body[:200])
    r = h.get("/trac/?pid")
    assert r.status == 200 and H.pid_of(r.body) == pid


def test_client_gone_mid_body_keeps_the_backend(httpd):
    """A client that stops halfway: one info line, the backend is not
    blamed (the same process serves the next request), nothing waits."""
    h = httpd(TRAC + OFF + "TracFcgiMaxProcesses 1\n" + U.STATUS_LOCATION)
    r = h.get("/trac/?pid")
    pid = H.pid_of(r.body)
    mark = h.log_mark()
    s = socket.create_connection(("127.0.0.1", h.port), timeout=30)
    try:
        s.sendall(head(h, MiB) + b"x" * 300000)
        time.sleep(0.3)
    finally:
        s.close()
    h.wait_log(r"\[tracfcgi:info\].*TF00205: error reading the request body "
               r"from the client while streaming it to a backend", since=mark)
    r = h.get("/trac/?pid")
    assert r.status == 200 and H.pid_of(r.body) == pid
    assert not h.log_lines(r"\[tracfcgi:(warn|error)", since=mark)
    U.wait_quiet(h)
    U.assert_no_crash(h, since=mark)


HOSTILE = """
ScriptAlias /h @APPS@/hostile.fcgi/
TracFcgiInitEnv HOSTILE_LOG @SCRATCH@/hostile.log
TracFcgiMaxProcesses 2
"""


def served(h, case):
    path = h.scratch / "hostile.log"
    text = path.read_text() if path.exists() else ""
    return [ln for ln in text.splitlines() if ln.split()[0] == case]


@pytest.mark.parametrize("method,buffering,size,tries", [
    # PUT is idempotent: sent once more while the whole body is at hand
    ("PUT", "On", 200000, 2),    # the default: to another backend
    ("PUT", "Off", 1000, 2),     # small: read whole before, so it can be
    ("PUT", "Off", 200000, 1),   # part went out streamed: not again
    # POST: the backend may have acted on it, never again
    ("POST", "On", 200000, 1),
    ("POST", "Off", 1000, 1),
])
def test_replay_needs_the_whole_body(httpd, method, buffering, size, tries):
    h = httpd(HOSTILE + "TracFcgiRequestBuffering %s\n" % buffering)
    mark = h.log_mark()
    data = os.urandom(size)
    r = h.request(method, "/h/?case=silent-close", body=data, timeout=60)
    assert r.status == 502, (r.status, r.body[:200])
    assert len(served(h, "silent-close")) == tries
    if method == "POST":
        h.wait_log(r"TF00444: backend pid=\d+ closed the connection before "
                   r"answering; the POST request is not sent to another "
                   r"backend, as the first may have acted on it; answering "
                   r"502", since=mark)
    elif tries == 1:
        h.wait_log(r"TF00440: backend pid=\d+ closed the connection before "
                   r"answering, after part of the streamed request body had "
                   r"gone to it .*answering 502", since=mark)
    else:
        h.wait_log(r"TF00435: backend pid=\d+ closed the connection before "
                   r"answering, as did the one before it", since=mark)
    U.assert_no_crash(h, since=mark)


def test_early_answer_while_streaming(httpd):
    """A backend that answers without reading the body: the client gets
    the answer, the unsent rest of its body is dropped."""
    h = httpd(HOSTILE + OFF)
    r = h.post("/h/?case=early-answer", b"e" * MiB)
    assert r.status == 200
    assert r.body == U.load_hostile().BODY_A


def test_limit_request_body_before_a_backend(httpd):
    h = httpd(TRAC + OFF + "LimitRequestBody 100000\n")
    r = h.post("/trac/?echo", b"x" * 200000)
    assert r.status == 413
    assert h.backend_pids() == [], "a backend was taken for a request " \
        "whose body was refused"
    data = os.urandom(100000)
    r = h.post("/trac/?echo", data)
    assert r.status == 200 and r.body == echo_of(data)


def test_configtest_names_a_bad_value():
    r = C.configtest(TRAC + "<Location /trac>\n"
                     "    TracFcgiRequestBuffering Sometimes\n</Location>\n")
    assert r.returncode != 0 and "Syntax OK" not in r.stdout, r.stdout
    assert "TracFcgiRequestBuffering" in r.stdout, r.stdout
    r = C.configtest(TRAC + "<Location /trac>\n"
                     "    TracFcgiRequestBuffering Off\n</Location>\n")
    assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stdout
