"""Hostile clients: header and path tricks that must not change what a
backend is or receives, oversized and truncated requests, clients that
vanish or stop reading, and a thousand connections cut mid-request.

After each: httpd keeps serving, no httpd process crashed, and the status
page shows every backend idle with no connection held and nobody waiting
(no slot leak) within a few seconds."""

import json
import os
import random
import socket
import struct
import threading
import time
import urllib.parse

import pytest

import httpd as H
import hostile_util as U

CONF = """
ScriptAlias /trac @APPS@/responder.fcgi/
ScriptAlias /h @APPS@/hostile.fcgi/
TracFcgiInitEnv HOSTILE_LOG @SCRATCH@/hostile.log
""" + U.STATUS_LOCATION


def raw_exchange(h, head_lines, body=b"", timeout=20):
    """Send a request given as header lines (the first is the request
    line); read the answer to EOF (Connection: close is added)."""
    lines = list(head_lines)
    if not any(ln.lower().startswith(b"connection:") for ln in lines):
        lines.append(b"Connection: close")
    data = b"\r\n".join(lines) + b"\r\n\r\n" + body
    raw, how = h.raw(data, timeout=timeout)
    assert how == "eof", "connection %s" % how
    status, headers, rbody, _, complete = H.parse_response(raw)
    assert status is not None, "no response head: %r" % raw[:300]
    U.check_head_clean(raw)
    return status, headers, rbody, raw


def host(h):
    return b"Host: 127.0.0.1:%d" % h.port


def params_of(h, target, extra=(), expect=200):
    """GET @target (bytes, sent as is) on hostile.fcgi's case=params;
    @return its JSON (params, mark, pid, environ)."""
    status, headers, body, _ = raw_exchange(
        h, [b"GET " + target + b" HTTP/1.1", host(h)] + list(extra))
    assert status == expect, (status, body[:300])
    if status != 200:
        return None
    assert headers.get("content-type") == "application/json", headers
    return json.loads(body.decode("latin-1"))


def hostile_requests(h):
    p = h.scratch / "hostile.log"
    return p.read_text().splitlines() if p.exists() else []


def still_serving(h, since=0):
    """httpd answers, no slot is held or waited for, nothing crashed."""
    r, took = U.elapsed(h.get, "/h/?case=ok", timeout=10)
    assert r.status == 200 and took < 3, (r.status, took, r.body[:200])
    r = h.get("/trac/?pid", timeout=10)
    assert r.status == 200, (r.status, r.body[:200])
    U.wait_quiet(h)
    U.assert_no_crash(h, since=since)


# --------------------------------------------------------------------------
# what reaches the backend


@pytest.mark.both_mpms
def test_proxy_header_never_reaches_the_backend(httpd):
    h = httpd(CONF)
    for name in (b"Proxy", b"PROXY", b"proxy"):
        doc = params_of(h, b"/h/?case=params", [
            name + b": http://evil.invalid:1/", b"X-Other: kept"])
        params = doc["params"]
        assert params.get("HTTP_X_OTHER") == "kept"
        assert "HTTP_PROXY" not in params, name
        assert not [k for k, v in params.items() if "evil.invalid" in v], \
            (name, params)
        assert "HTTP_PROXY" not in doc["environ"]
    # the responder's own view (its ?env lists params as param:NAME=VALUE)
    r = h.get("/trac/?env", headers={"Proxy": "http://evil.invalid:1/"})
    params, environ, _ = H.parse_env_body(r.body)
    assert "HTTP_PROXY" not in params and "HTTP_PROXY" not in environ
    # nor through a local redirect (httpd copies the first request's
    # variables as REDIRECT_*)
    r = h.get("/trac/?redirect=%2Ftrac%2Fx%3Fenv",
              headers={"Proxy": "http://evil.invalid:1/"})
    assert r.status == 200, r.status
    params, _, _ = H.parse_env_body(r.body)
    assert params.get("PATH_INFO") == "/x", params.get("PATH_INFO")
    assert params.get("QUERY_STRING") == "env"
    assert not [k for k, v in params.items() if "evil.invalid" in v], params
    still_serving(h)


def test_dash_and_underscore_headers(httpd):
    """Headers that differ only by - and _ map to the same CGI name; httpd
    drops the ones with an underscore, so only the - form arrives, in
    whichever order they come."""
    h = httpd(CONF)
    for order in (0, 1):
        hdrs = [b"X-Foo-Bar: dash", b"X_Foo_Bar: underscore"]
        if order:
            hdrs.reverse()
        hdrs += [b"X_Only_Under: u", b"X-Mixed_Name: m"]
        doc = params_of(h, b"/h/?case=params", hdrs)
        params = doc["params"]
        assert params.get("HTTP_X_FOO_BAR") == "dash", params
        assert "HTTP_X_ONLY_UNDER" not in params
        assert "HTTP_X_MIXED_NAME" not in params
        assert not [k for k, v in params.items()
                    if v in ("underscore", "u", "m")], params
    # the responder agrees
    r = h.get("/trac/?env", headers={"X_Foo_Bar": "underscore",
                                     "X-Foo-Bar": "dash"})
    params, _, _ = H.parse_env_body(r.body)
    assert params.get("HTTP_X_FOO_BAR") == "dash"
    still_serving(h)


CTL_TARGETS = [
    b"/h/a%0ab?case=params",
    b"/h/a%0d%0aX-Evil:%201/b?case=params",
    b"/h/%0d/%0a/?case=params&q=%0d%0aX-Evil:%201",
    b"/h/?case=params&q=%00%0a%0d",
    b"/h/caf%C3%A9/%09tab?case=params",
]


@pytest.mark.parametrize("target", CTL_TARGETS,
                         ids=[t.decode() for t in CTL_TARGETS])
def test_control_chars_in_path_and_query(httpd, target):
    """Params are length-framed: a decoded CR/LF in the path stays inside
    PATH_INFO (as mod_cgi passes it) and never makes a param of its own;
    SCRIPT_NAME comes from the configuration; SCRIPT_NAME + PATH_INFO is
    the decoded URI; QUERY_STRING and REQUEST_URI stay encoded."""
    h = httpd(CONF)
    doc = params_of(h, target)
    params = doc["params"]
    path, _, query = target.partition(b"?")
    decoded = urllib.parse.unquote_to_bytes(path).decode("latin-1")
    assert params["SCRIPT_NAME"] == "/h"
    assert params["SCRIPT_NAME"] + params["PATH_INFO"] == decoded
    assert params["QUERY_STRING"] == query.decode()
    assert params["REQUEST_URI"] == target.decode()
    for k in ("SCRIPT_NAME", "QUERY_STRING", "REQUEST_URI"):
        assert not set(params[k]) & set("\r\n\0"), (k, params[k])
    for k in params:
        assert not set(k) & set("\r\n\0:"), "param name %r" % k
        assert "EVIL" not in k.upper(), "a param came from the path: %r" % k
    still_serving(h)


def test_nul_in_path_is_refused_before_the_backend(httpd):
    h = httpd(CONF)
    before = len(hostile_requests(h))
    status, _, _, _ = raw_exchange(h, [b"GET /h/x%00y?case=params HTTP/1.1",
                                       host(h)])
    assert status in (400, 404), status
    assert len(hostile_requests(h)) == before, "the backend got the request"
    still_serving(h)


TWO_APPS = """
ScriptAlias /a @APPS@/hostile.fcgi/
ScriptAlias /b @APPS@/hostile.fcgi/
ScriptAlias /secret @APPS@/hostile.fcgi/
<Location /a>
    TracFcgiInitEnv HOSTILE_MARK A
</Location>
<Location /b>
    TracFcgiInitEnv HOSTILE_MARK B
</Location>
<Location /secret>
    TracFcgiInitEnv HOSTILE_MARK S
    Require all denied
</Location>
""" + U.STATUS_LOCATION

TRAVERSALS = [
    # (target, what may answer: a mark, or None for an error status)
    (b"/a/x?case=params", "A"),
    (b"/b/x?case=params", "B"),
    (b"/a/../b/x?case=params", "B"),
    (b"/a/%2e%2e/b/x?case=params", "B"),
    (b"/a/%2E%2E/secret/x?case=params", None),
    (b"/a/..%2Fb/x?case=params", None),
    (b"/a/..%2fsecret/x?case=params", None),
    (b"/a/%2F..%2F..%2Fsecret/x?case=params", None),
    (b"/a/x/../../secret/x?case=params", None),
    (b"/a/./../secret/x?case=params", None),
    (b"/a/%252e%252e/secret/x?case=params", "A"),
    (b"/b/..;/secret/x?case=params", "B"),
    (b"/a/..\\secret/x?case=params", "A"),
    (b"//a/../secret/x?case=params", None),
    (b"/secret/x?case=params", None),
    (b"http://127.0.0.1/a/../secret/x?case=params", None),
]


def test_dotdot_and_encoded_slash_cannot_cross_pools(httpd):
    """Which backend serves comes from the configuration of the final URI
    only: the answer's pool (its HOSTILE_MARK) always matches its
    SCRIPT_NAME, and no trick reaches the denied /secret pool."""
    h = httpd(TWO_APPS)
    seen = []
    for target, want in TRAVERSALS:
        status, _, body, _ = raw_exchange(
            h, [b"GET " + target + b" HTTP/1.1", host(h)])
        if want is None:
            assert status in (400, 403, 404), (target, status, body[:200])
            continue
        assert status == 200, (target, status, body[:200])
        doc = json.loads(body.decode("latin-1"))
        sn = doc["params"]["SCRIPT_NAME"]
        assert doc["mark"] == want, (target, doc["mark"], sn)
        assert sn == "/" + want.lower(), (target, sn)
        seen.append(doc["mark"])
    marks = set()
    for pool in U.status_json(h)["pools"]:
        for p in pool["processes"]:
            env = H._read("/proc/%d/environ" % p["pid"]) or b""
            marks |= {e.split(b"=", 1)[1] for e in env.split(b"\0")
                      if e.startswith(b"HOSTILE_MARK=")}
    assert b"S" not in marks, "a backend of the denied pool was started"
    assert set(seen) == {"A", "B"}
    U.wait_quiet(h)
    U.assert_no_crash(h)


# What AllowEncodedSlashes changes in TRAVERSALS (targets not listed
# answer as there). On: the %2F is decoded before the URI is mapped, so
# the dot-dot it forms is resolved like a plain one (and /secret is still
# denied). NoDecode: it stays "%2F" in the path, under /a, and reaches
# /a's backend in PATH_INFO.
ENCODED_SLASH_ANSWERS = {
    "On": {b"/a/..%2Fb/x?case=params": "B"},
    "NoDecode": {b"/a/..%2Fb/x?case=params": "A",
                 b"/a/..%2fsecret/x?case=params": "A",
                 b"/a/%2F..%2F..%2Fsecret/x?case=params": "A"},
}


def backend_marks(h):
    """HOSTILE_MARK of every live hostile.fcgi backend of @h."""
    marks = []
    for pid in h.backend_pids("hostile.fcgi"):
        env = H._read("/proc/%d/environ" % pid) or b""
        marks += [e.split(b"=", 1)[1].decode() for e in env.split(b"\0")
                  if e.startswith(b"HOSTILE_MARK=")]
    return marks


@pytest.mark.parametrize("aes", ["On", "NoDecode"])
def test_encoded_slash_allowed_stays_in_its_pool(httpd, aes):
    """With AllowEncodedSlashes a %2F survives into the path: whatever
    answers is still the pool its SCRIPT_NAME's configuration names, and
    the denied pool is never reached."""
    h = httpd("AllowEncodedSlashes %s\n" % aes + TWO_APPS)
    answers = ENCODED_SLASH_ANSWERS[aes]
    for target, want in TRAVERSALS:
        want = answers.get(target, want)
        status, _, body, _ = raw_exchange(
            h, [b"GET " + target + b" HTTP/1.1", host(h)])
        if want is None:
            assert status in (400, 403, 404), (target, status, body[:200])
            continue
        assert status == 200, (target, status, body[:200])
        doc = json.loads(body.decode("latin-1"))
        sn = doc["params"]["SCRIPT_NAME"]
        assert doc["mark"] == want, (target, doc["mark"], sn)
        assert sn == "/" + want.lower(), (target, sn)
        if target in answers and aes == "NoDecode":
            # the premise: the encoded slash really reached the backend
            assert "%2f" in doc["params"]["PATH_INFO"].lower(), \
                (target, doc["params"]["PATH_INFO"])
    # one backend for /a and one for /b; none for /secret, not even one
    # that started and is gone again: its pool would be listed
    assert sorted(backend_marks(h)) == ["A", "B"], backend_marks(h)
    pools = U.status_json(h)["pools"]
    assert len(pools) == 2, [(p["name"], p["spawns"]) for p in pools]
    U.wait_quiet(h)
    U.assert_no_crash(h)


def test_trac_env_path_header_cannot_change_the_env(httpd):
    h = httpd("""
ScriptAlias /h @APPS@/hostile.fcgi/
TracEnv @SCRATCH@/proj
TracFcgiCheckEnv Off
""" + U.STATUS_LOCATION)
    proj = str(h.scratch / "proj")
    doc = params_of(h, b"/h/?case=params", [
        b"Trac-Env-Path: /etc/evil1", b"Trac_Env_Path: /etc/evil2",
        b"trac.env_path: /etc/evil3", b"Trac-Env: /etc/evil4",
        b"Trac-Env-Parent-Dir: /etc/evil5"])
    params = doc["params"]
    assert params.get("trac.env_path") == proj, params.get("trac.env_path")
    assert params.get("HTTP_TRAC_ENV_PATH") == "/etc/evil1"
    assert params.get("HTTP_TRAC_ENV") == "/etc/evil4"
    assert params.get("HTTP_TRAC_ENV_PARENT_DIR") == "/etc/evil5"
    for k, v in params.items():
        if k.startswith("HTTP_"):
            continue
        assert "evil" not in v, "%s=%s came from a request header" % (k, v)
    assert doc["environ"].get("TRAC_ENV") == proj
    assert not [k for k, v in doc["environ"].items() if "evil" in v]
    # the request headers did not change the pool either
    doc2 = params_of(h, b"/h/?case=params")
    assert doc2["pid"] == doc["pid"]
    assert len(U.status_json(h)["pools"]) == 1
    U.wait_quiet(h)


# --------------------------------------------------------------------------
# oversized and truncated requests


def test_80k_of_headers_refused_by_httpd(httpd):
    h = httpd(CONF)
    assert h.get("/h/?case=ok").status == 200
    before = len(hostile_requests(h))
    mark = h.log_mark()
    big = b"X-Big: " + b"a" * (80 * 1024)
    status, _, _, _ = raw_exchange(h, [b"GET /h/?case=ok HTTP/1.1", host(h),
                                       big])
    assert status in (400, 431), status
    many = [b"X-Many-%d: %s" % (i, b"b" * 400) for i in range(200)]
    status, _, _, _ = raw_exchange(h, [b"GET /h/?case=ok HTTP/1.1",
                                       host(h)] + many)
    assert status in (400, 431), status
    status, _, _, _ = raw_exchange(
        h, [b"GET /h/?case=ok&" + b"q" * (80 * 1024) + b" HTTP/1.1", host(h)])
    assert status in (400, 414), status
    assert len(hostile_requests(h)) == before, "the backend got a request"
    assert not h.log_lines(r"\[tracfcgi:", since=mark)
    still_serving(h, since=mark)


def _send_and_close(h, data, rst=False):
    s = socket.create_connection(("127.0.0.1", h.port), timeout=10)
    try:
        s.sendall(data)
        time.sleep(0.2)
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
    finally:
        s.close()


@pytest.mark.both_mpms
def test_body_stops_early(httpd):
    """The body is read before a backend is taken: a client that sends
    less than it announced and goes away costs no backend and leaves no
    spool file."""
    h = httpd(CONF + "TracFcgiBodyInMemory 65536\n")
    assert h.get("/h/?case=ok").status == 200
    before = len(hostile_requests(h))
    head = b"POST /h/?case=ok HTTP/1.1\r\nHost: x\r\n"
    _send_and_close(h, head + b"Content-Length: 1000\r\n\r\n" + b"a" * 10)
    _send_and_close(h, head + b"Content-Length: 1000\r\n\r\n" + b"a" * 10,
                    rst=True)
    # past TracFcgiBodyInMemory: spooled to a file, which must go
    _send_and_close(h, head + b"Content-Length: 1048576\r\n\r\n" +
                    b"s" * 300000)
    _send_and_close(h, head + b"Transfer-Encoding: chunked\r\n\r\n" +
                    b"20000\r\n" + b"c" * 131072 + b"\r\n4000\r\nxx")
    U.wait_quiet(h)
    H.wait_until(lambda: not os.listdir(h.tmp / "tmp"), 5,
                 what="spooled bodies to be removed")
    assert len(hostile_requests(h)) == before, "a backend got a request " \
        "whose body never arrived"
    still_serving(h)


def test_client_never_reads_a_big_response(httpd):
    h = httpd(CONF)
    assert h.get("/trac/?pid").status == 200
    mark = h.log_mark()
    s = socket.create_connection(("127.0.0.1", h.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        s.sendall(b"GET /trac/?big=65536 HTTP/1.1\r\nHost: x\r\n\r\n")
        # the answer is streaming and stuck on the client: a slot is held
        H.wait_until(lambda: U.not_quiet(U.status_json(h)), 5,
                     what="the big answer to hold its backend")
        time.sleep(1)
        busy = U.not_quiet(U.status_json(h))
        assert busy, "the backend was let go while its answer was stuck"
    finally:
        s.close()
    st = U.wait_quiet(h, timeout=8)
    assert all(p["state"] == "idle" for p in U.procs_of(st))
    still_serving(h, since=mark)


def read_part_then_reset(h, target, want):
    """GET @target, read until @want has arrived, then close the
    connection with a reset (as a browser tab that is closed)."""
    s = socket.create_connection(("127.0.0.1", h.port), timeout=10)
    try:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while want not in got:
            b = s.recv(65536)
            assert b, "the answer ended early: %r" % got[:300]
            got += b
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
    finally:
        s.close()


def served_by(h, case):
    lines = (h.scratch / "hostile.log").read_text().splitlines()
    return [int(ln.split()[1]) for ln in lines if ln.split()[0] == case][-1]


@pytest.mark.both_mpms
def test_client_gone_mid_answer_backend_that_writes_on(httpd):
    """The client goes away while a one-connection backend is still
    answering: we hang up, its next write fails, it ends the request, and
    once it accepts a connection again (FCGI_GET_VALUES) it is idle again.
    It keeps serving: the next request goes to the same process, at once,
    and nothing is logged as a problem."""
    h = httpd(CONF + "TracFcgiMaxProcesses 1\n")
    assert h.get("/h/?case=ok").status == 200
    pid = served_by(h, "ok")
    mark = h.log_mark()
    read_part_then_reset(h, b"/h/?case=trickle",
                         U.load_hostile().BODY_A)
    U.wait_quiet(h, timeout=5)
    r, took = U.elapsed(h.get, "/h/?case=ok", timeout=10)
    assert r.status == 200 and took < 1, (r.status, took)
    assert served_by(h, "ok") == pid, "the backend was stopped"
    assert not h.log_lines(r"TF00441|TF00419", since=mark)
    U.assert_no_crash(h, since=mark)


@pytest.mark.both_mpms
def test_client_gone_mid_answer_backend_that_stalls(httpd):
    """The client goes away and the backend, busy with nothing it shows,
    does not accept a connection within 2 s: it counts as cut (TF00441)
    and is stopped (it takes one connection at a time), and the next
    request gets a new process instead of being sent to it and waiting
    until TracFcgiIOTimeout (the 504 this used to be)."""
    h = httpd(CONF + "TracFcgiMaxProcesses 1\nTracFcgiIOTimeout 20\n")
    assert h.get("/h/?case=ok").status == 200
    mark = h.log_mark()
    read_part_then_reset(h, b"/h/?case=stall-late",
                         U.load_hostile().BODY_A)
    pid = served_by(h, "stall-late")
    h.wait_log(r"\[tracfcgi:info\].*TF00441: the client went away; backend "
               r"pid=%d was not free again within 2 s: it is stopped" % pid,
               since=mark, timeout=8)
    U.wait_gone(pid, 5)
    r, took = U.elapsed(h.get, "/h/?case=ok", timeout=10)
    assert r.status == 200 and took < 3, (r.status, took)
    assert served_by(h, "ok") != pid
    U.wait_quiet(h, timeout=5)
    U.assert_no_crash(h, since=mark)


TEMPLATES = [
    b"GET /h/?case=ok HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n",
    b"GET /trac/?big=2048 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /trac/?sleep=50&pid HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /h/?case=ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
    + b"p" * 5000,
    b"POST /trac/?echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
    b"\r\n\r\n1000\r\n" + b"q" * 4096 + b"\r\n10\r\n" + b"r" * 16 +
    b"\r\n0\r\n\r\n",
    b"GET /h/?case=stall-body HTTP/1.1\r\nHost: x\r\n\r\n",
]


def test_1000_connections_cut_mid_request(httpd):
    h = httpd(CONF + "TracFcgiIOTimeout 3\nTracFcgiMaxProcesses 4\n")
    assert h.get("/h/?case=ok").status == 200
    assert h.get("/trac/?pid").status == 200
    children = h.settled_children()
    mark = h.log_mark()
    errors = []
    rnd = random.Random(4242)
    jobs = []
    for i in range(1000):
        t = rnd.choice(TEMPLATES[:-1]) if i % 50 else TEMPLATES[-1]
        # mostly a cut, sometimes the whole request (then cut mid-answer)
        cut = len(t) if rnd.random() < 0.2 else rnd.randrange(1, len(t))
        jobs.append((t[:cut], rnd.random() < 0.3))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not jobs:
                    return
                data, rst = jobs.pop()
            try:
                s = socket.create_connection(("127.0.0.1", h.port),
                                             timeout=10)
                try:
                    s.sendall(data)
                    if rst:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
                finally:
                    s.close()
            except OSError as e:
                errors.append(repr(e))

    threads = [threading.Thread(target=worker, daemon=True)
               for _ in range(8)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[:5]
    took = time.monotonic() - t0
    # the stalled answers end by TracFcgiIOTimeout; then all is quiet
    st = U.wait_quiet(h, timeout=15)
    for pool in st["pools"]:
        assert pool["procs"] <= 4, pool
    assert h.httpd_children() == children, "httpd children changed"
    still_serving(h, since=mark)
    r = h.post("/trac/?echo", b"z" * 100000)
    assert r.status == 200 and r.body.startswith(b"len:100000\n")
    assert took < 60
