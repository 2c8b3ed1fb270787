"""Process faults under load: backends SIGKILLed at random, the process
manager SIGKILLed, a backend SIGSTOPped mid-request. Requests fail only
when they were on a killed process, and only with 502 (or 504 for the
stopped one); the pool recovers; nothing is left as a zombie."""

import collections
import os
import random
import signal
import threading
import time

import pytest

import httpd as H
from httpd import Bg, pid_of, sleeping_backend
import hostile_util as U

TRAC = "ScriptAlias /trac @APPS@/responder.fcgi/\n" + U.STATUS_LOCATION


class Load:
    """@n client threads sending small requests until stopped; every
    outcome is recorded (status, or the exception's class name)."""

    def __init__(self, h, n=4, path="/trac/?pid"):
        self.h, self.path = h, path
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.outcomes = []
        self.threads = [threading.Thread(target=self.run, daemon=True)
                        for _ in range(n)]

    def run(self):
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            try:
                r = self.h.get(self.path, timeout=30)
                out = r.status
                if r.status == 200 and not self.good(r.body):
                    out = "bad body %r" % r.body[:60]
            except Exception as e:      # noqa: BLE001 - counted
                out = type(e).__name__
            with self.lock:
                self.outcomes.append((out, time.monotonic() - t0))

    def good(self, body):
        if "stream=" in self.path:
            n = int(self.path.split("stream=")[1].split("&")[0])
            return body == b"".join(b"line %d\n" % i for i in range(n))
        return pid_of(body) > 0

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for t in self.threads:
            t.join(60)
        assert not any(t.is_alive() for t in self.threads), \
            "a client thread hangs"

    def statuses(self):
        with self.lock:
            return [o for o, _ in self.outcomes]

    def failures(self):
        return [s for s in self.statuses() if s != 200]


def ready_pids(h, busy_only=False):
    """Pids of backends the status page shows ready (idle or busy)."""
    return [p["pid"] for p in U.procs_of(U.status_json(h))
            if p["state"] in (("busy",) if busy_only else ("idle", "busy"))]


def warm_up(h, n=4):
    """Get @n processes started by @n parallel slow requests."""
    bgs = [Bg(h.get, "/trac/?sleep=300&pid", timeout=30) for _ in range(n)]
    for b in bgs:
        b.start()
    for b in bgs:
        assert b.get(30).status == 200


def test_sigkill_random_backends_under_load(httpd):
    h = httpd(TRAC + "TracFcgiMaxProcesses 4\n")
    warm_up(h)
    mark = h.log_mark()
    rnd = random.Random(7)
    kills = []
    with Load(h, n=2) as quick, \
            Load(h, n=2, path="/trac/?sleep=30&pid") as slow, \
            Load(h, n=1, path="/trac/?stream=3&interval=30") as streams:
        time.sleep(0.5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            # every other kill hits a busy process when there is one
            pids = ready_pids(h, busy_only=len(kills) % 2 == 0) or \
                ready_pids(h)
            if pids:
                victim = rnd.choice(pids)
                try:
                    os.kill(victim, signal.SIGKILL)
                    kills.append(victim)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        time.sleep(0.5)
    statuses = quick.statuses() + slow.statuses() + streams.statuses()
    failures = quick.failures() + slow.failures()
    # a stream cut after its header went out is aborted, not answered 502
    aborted = [f for f in streams.failures() if f != 502]
    failures += streams.failures()
    ok = statuses.count(200)
    summary = "%d kills, %d answered, failures %s" % (
        len(kills), ok, collections.Counter(map(str, failures)))
    assert len(kills) >= 30, summary
    assert ok >= 100, summary
    assert set(failures) - set(aborted) <= {502}, summary
    assert set(aborted) <= {"IncompleteRead"}, summary
    assert len(failures) <= len(kills), summary
    # the pool is whole again: no back-off, no leaked slot, no zombie
    r, took = U.elapsed(h.get, "/trac/?pid", timeout=15)
    assert r.status == 200 and took < 3, (r.status, took)
    U.wait_quiet(h)
    U.wait_no_zombies(h)
    U.assert_no_crash(h, since=mark)
    for victim in kills:
        assert not H.alive(victim)


@pytest.mark.both_mpms
def test_sigkill_process_manager_under_load(httpd):
    h = httpd(TRAC + "TracFcgiMaxProcesses 4\n")
    warm_up(h)
    st = U.status_json(h)
    old_pm = st["pm_pid"]
    assert int(h.wait_log(U.PM_RX).group(1)) == old_pm
    starts = st["pm_starts"]
    mark = h.log_mark()
    with Load(h, n=4) as load:
        time.sleep(0.5)
        os.kill(old_pm, signal.SIGKILL)
        H.wait_until(lambda: not H.alive(old_pm), 5, what="manager to die")
        m = h.wait_log(U.PM_RX, since=mark, timeout=15)
        new_pm = int(m.group(1))
        assert new_pm != old_pm and H.alive(new_pm)
        time.sleep(1)
        # the new manager manages: a killed backend is replaced
        victim = ready_pids(h)[0]
        os.kill(victim, signal.SIGKILL)
        time.sleep(1.5)
    statuses = load.statuses()
    assert statuses.count(200) >= 20, statuses
    failures = load.failures()
    assert set(failures) <= {502} and len(failures) <= 1, \
        "requests failed around the manager's death: %s" % failures
    st = U.status_json(h)
    assert st["pm_pid"] == new_pm
    assert st["pm_starts"] == starts + 1
    r = h.get("/trac/?pid", timeout=15)
    assert r.status == 200
    assert pid_of(r.body) != victim
    U.wait_quiet(h)
    H.wait_until(lambda: victim not in ready_pids(h), 5,
                 what="the killed backend to leave the table")
    U.wait_no_zombies(h, extra_parents=(old_pm,))
    U.assert_no_crash(h, since=mark)


def _stopped_backend_gets_504(h, victim, bg, t0):
    try:
        r = bg.get(20)
        took = bg.elapsed
        assert r.status == 504, (r.status, r.body[:300])
        assert 1.5 <= took < 5, "504 after %.2fs (IOTimeout 2)" % took
        # the stopped process is never used again, and goes
        for _ in range(3):
            r, took = U.elapsed(h.get, "/trac/?pid", timeout=15)
            assert r.status == 200 and took < 3, (r.status, took)
            assert pid_of(r.body) != victim
        U.wait_gone(victim, 5)
    finally:
        if H.alive(victim):
            os.kill(victim, signal.SIGCONT)
            os.kill(victim, signal.SIGKILL)


def test_sigstop_backend_mid_request(httpd):
    """SIGSTOP a backend while it runs a request (sleep=1000: long enough
    to catch it inside its sleep): that request gets 504 after
    TracFcgiIOTimeout, later requests 200 from another process."""
    h = httpd(TRAC + "TracFcgiIOTimeout 2\n")
    assert h.get("/trac/?pid").status == 200
    mark = h.log_mark()
    t0 = time.monotonic()
    bg = Bg(h.get, "/trac/?sleep=1000&pid", timeout=30)
    bg.start()
    victim = sleeping_backend(h)
    os.kill(victim, signal.SIGSTOP)
    _stopped_backend_gets_504(h, victim, bg, t0)
    h.wait_log(r"TF00419: backend pid=%d: nothing happened for "
               r"TracFcgiIOTimeout 2s; answering 504" % victim, since=mark)
    U.wait_quiet(h)
    U.wait_no_zombies(h)
    U.assert_no_crash(h, since=mark)


def test_sigstop_idle_backend(httpd):
    """A stopped idle backend still accepts connections (the kernel queues
    them): the request it gets times out with 504, the next is served."""
    h = httpd(TRAC + "TracFcgiIOTimeout 2\n")
    r = h.get("/trac/?sleep=100&pid")
    assert r.status == 200
    victim = pid_of(r.body)
    os.kill(victim, signal.SIGSTOP)
    t0 = time.monotonic()
    bg = Bg(h.get, "/trac/?sleep=100&pid", timeout=30)
    bg.start()
    _stopped_backend_gets_504(h, victim, bg, t0)
    U.wait_quiet(h)
    U.wait_no_zombies(h)
