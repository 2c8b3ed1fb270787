"""Backends and the process manager dying, timeouts, replay, aborted
responses."""

import os
import signal
import time

import pytest

import httpd as H
from httpd import Bg, pid_of, sleeping_backend

TRAC = "ScriptAlias /trac @APPS@/responder.fcgi/\n"
PM_RX = r"process manager pid=(\d+) started"
WARN_RX = r"\[tracfcgi:(warn|error|crit|alert|emerg)\]"


# --------------------------------------------------------------------------
# backends killed


@pytest.mark.both_mpms
def test_backend_killed_while_idle(httpd):
    h = httpd(TRAC)
    r = h.get("/trac/?pid")
    assert r.status == 200
    old = pid_of(r.body)
    os.kill(old, signal.SIGKILL)
    H.wait_until(lambda: not H.alive(old), 5, what="backend to die")
    r = h.get("/trac/?pid", timeout=20)
    assert r.status == 200, r.body[:300]
    new = pid_of(r.body)
    assert new != old
    assert new in h.backend_pids()


@pytest.mark.both_mpms
def test_backend_killed_while_busy(httpd):
    h = httpd(TRAC)
    bg = Bg(h.get, "/trac/?sleep=2000&pid", timeout=30)
    bg.start()
    victim = sleeping_backend(h)
    os.kill(victim, signal.SIGKILL)
    r = bg.get(25)
    assert r.status in (200, 502), (r.status, r.body[:300])
    if r.status == 200:
        assert pid_of(r.body) != victim
    # the pool recovers
    r = h.get("/trac/?pid", timeout=20)
    assert r.status == 200
    assert pid_of(r.body) != victim


@pytest.mark.both_mpms
def test_process_manager_killed(httpd):
    h = httpd(TRAC)
    assert h.get("/trac/?pid").status == 200
    pm = int(h.wait_log(PM_RX).group(1))
    assert H.alive(pm)
    mark = h.log_mark()
    os.kill(pm, signal.SIGKILL)
    H.wait_until(lambda: not H.alive(pm), 5, what="manager to die")
    r = h.get("/trac/?pid", timeout=30)
    assert r.status == 200, r.body[:300]
    new_pm = int(h.wait_log(PM_RX, timeout=15, since=mark).group(1))
    assert new_pm != pm
    assert H.alive(new_pm)
    for _ in range(3):
        r = h.get("/trac/?pid", timeout=30)
        assert r.status == 200


# --------------------------------------------------------------------------
# dead before sending anything: replay once


@pytest.mark.both_mpms
def test_dead_backend_replayed_once(httpd):
    h = httpd(TRAC)
    flag = h.scratch / "died-once"
    mark = h.log_mark()
    count = h.scratch / "count"
    r = h.get("/trac/?count=%s&exitonce=%s&pid" % (count, flag), timeout=30)
    assert flag.exists(), "the first backend did not run the request"
    assert count.stat().st_size == 2
    assert r.status == 200, (r.status, r.body[:300])
    assert pid_of(r.body) in h.backend_pids()
    assert h.log_lines(WARN_RX, since=mark), \
        "the dead backend was not logged at warn or above"


@pytest.mark.both_mpms
def test_backend_always_dies_502(httpd):
    h = httpd(TRAC)
    mark = h.log_mark()
    t0 = time.monotonic()
    count = h.scratch / "count"
    r = h.get("/trac/?count=%s&exit=1" % count, timeout=30)
    assert r.status == 502, (r.status, r.body[:300])
    assert time.monotonic() - t0 < 10
    assert count.stat().st_size == 2, \
        "the request reached %d backends, not 2 (replayed once)" % \
        count.stat().st_size
    assert h.log_lines(WARN_RX, since=mark)
    # and the pool still serves
    assert h.get("/trac/?pid").status == 200


def test_backend_fails_at_startup(httpd):
    h = httpd(TRAC + """
TracFcgiInitEnv RESPONDER_STARTUP_FAIL 1
TracFcgiStartupTimeout 5
""")
    mark = h.log_mark()
    t0 = time.monotonic()
    r = h.get("/trac/?pid", timeout=40)
    elapsed = time.monotonic() - t0
    assert r.status == 503, (r.status, r.body[:300])
    assert r.headers.get("Retry-After"), r.headers
    assert elapsed < 10, "answer took %.1fs" % elapsed
    assert h.log_lines(WARN_RX, since=mark)


# --------------------------------------------------------------------------
# dead after a partial response: the client must see a broken response


@pytest.mark.both_mpms
@pytest.mark.parametrize("cl", [False, True], ids=["chunked", "content-length"])
def test_partial_response_aborted(httpd, cl):
    h = httpd(TRAC)
    count = h.scratch / "count"
    path = "/trac/?count=%s&die-mid-body" % count + ("&cl" if cl else "")
    status, headers, body, _raw, complete, how = h.raw_get(path, timeout=30)
    assert how != "timeout", "the connection hung"
    assert count.stat().st_size == 1, "replayed after a partial response"
    if status == 502:
        return      # nothing had reached the client yet: a clean error
    assert status == 200, (status, headers)
    assert complete is False, \
        "the client got a complete-looking response (%s, %d bytes)" % (
            headers, len(body))
    if cl:
        assert headers.get("content-length") == str(1024 * 1024)
        assert len(body) < 1024 * 1024
    else:
        assert "chunked" in headers.get("transfer-encoding", "")
    assert body == H.pattern_bytes(0, len(body))


# --------------------------------------------------------------------------
# timeouts


def test_busy_timeout_504_and_backend_stopped(httpd):
    """TracFcgiBusyTimeout bounds a request that takes too long even though
    its backend is never silent for TracFcgiIOTimeout."""
    h = httpd(TRAC + "TracFcgiBusyTimeout 1\nTracFcgiIOTimeout 30\n")
    victim = pid_of(h.get("/trac/?pid").body)
    mark = h.log_mark()
    t0 = time.monotonic()
    r = h.get("/trac/?sleep=4000&pid", timeout=30)
    elapsed = time.monotonic() - t0
    assert r.status == 504, (r.status, r.body[:300])
    assert 0.8 <= elapsed < 3, "504 after %.2fs" % elapsed
    assert h.log_lines(r"TF00451: .*pid=%d.*not done after "
                       r"TracFcgiBusyTimeout 1s.*stopping the backend; "
                       r"answering 504" % victim, since=mark), \
        h.log_since(mark)
    H.wait_until(lambda: not H.alive(victim), 5, what="the backend to stop")
    r = h.get("/trac/?pid")
    assert r.status == 200 and pid_of(r.body) != victim


def test_busy_timeout_cuts_a_trickling_answer(httpd):
    """An answer that keeps coming (a line every 100 ms, so the I/O
    timeout never fires) is cut at TracFcgiBusyTimeout: the client has
    part of it and an aborted connection; mod_fcgid's name works too."""
    h = httpd(TRAC + "FcgidBusyTimeout 1\nTracFcgiIOTimeout 30\n")
    mark = h.log_mark()
    t0 = time.monotonic()
    status, _, body, _, complete, _ = h.raw_get(
        "/trac/?stream=100&interval=100", timeout=30)
    elapsed = time.monotonic() - t0
    assert status == 200
    assert 0.8 <= elapsed < 3, "cut after %.2fs" % elapsed
    assert not complete    # no final chunk: the client sees the cut
    assert b"line 0" in body and b"line 99" not in body, body[-200:]
    assert h.log_lines(r"TF00451: .*TracFcgiBusyTimeout 1s \(FcgidBusyTimeout"
                       r"\).*aborting the client connection", since=mark)


@pytest.mark.both_mpms
def test_io_timeout_504(httpd):
    h = httpd(TRAC + "TracFcgiIOTimeout 1\n")
    mark = h.log_mark()
    t0 = time.monotonic()
    r = h.get("/trac/?sleep=4000&pid", timeout=30)
    elapsed = time.monotonic() - t0
    assert r.status == 504, (r.status, r.body[:300])
    assert 0.8 <= elapsed < 3.5, "504 after %.2fs" % elapsed
    assert h.log_lines(WARN_RX, since=mark)
    assert h.get("/trac/?pid").status == 200
