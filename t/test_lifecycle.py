"""Lifecycle of backends: readiness and capacity, sizing and retirement,
crash loops, graceful restart / graceful-stop / reload on change, the
status pages, and 300 virtual hosts with a pool each.

Backends: t/apps/responder.fcgi (libfcgi, one connection at a time),
t/apps/threaded_app.py (pure-Python threaded FastCGI server answering
FCGI_GET_VALUES with FCGI_MAX_CONNS=8, run as a .fcgi through a symlink
in the instance directory) and t/apps/hello.php.fcgi (php-cgi).

The status page is read as JSON (SetHandler tracfcgi-status, ?json); every
wait polls a condition with a deadline. Timing bounds are loose enough for
a busy 2-core machine and still tell the cases apart (8 requests of 1.5 s
at once vs one after another, etc.).

test_300_vhosts is marked slow (deselect with -m "not slow").
"""

import collections
import concurrent.futures as cf
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

import httpd as H
from httpd import Bg, pid_of, sleeping_backend

RESPONDER = str(H.APPS / "responder.fcgi")
WWW = pwd.getpwnam("www-data")
TRAC = "ScriptAlias /trac @APPS@/responder.fcgi/\n"
STATUS = """
<Location /tf-status>
    SetHandler tracfcgi-status
</Location>
"""
# prefork starts 4 children and adds more only once a second: give it room
# for the concurrent requests of these tests up front
ROOM = """
<IfModule mpm_prefork_module>
    StartServers 16
    MinSpareServers 12
</IfModule>
"""
# the threaded app, reached as a .fcgi (see threaded())
THREADED = """
ScriptAlias /thr @TMP@/app/threaded.fcgi/
<Directory @TMP@/app>
    Require all granted
</Directory>
"""


# --------------------------------------------------------------------------
# helpers


def status(h, timeout=10, **kw):
    r = h.get("/tf-status?json", timeout=timeout, **kw)
    assert r.status == 200, (r.status, r.body[:300])
    assert r.headers.get("Content-Type", "").startswith("application/json")
    return json.loads(r.body.decode("utf-8"))


def pools(h, script=None, **kw):
    """Pools of the status JSON (those of @script, a path, if given)."""
    st = status(h, **kw)
    return [p for p in st["pools"] if script is None or p["script"] == script]


def the_pool(h, script=RESPONDER, **kw):
    ps = pools(h, script, **kw)
    assert len(ps) == 1, "expected one pool of %s, status has %s" % (
        script, [p["name"] for p in pools(h)])
    return ps[0]


def live_pids(pool):
    """Pids of the pool's processes that take requests (starting, idle or
    busy; not stopping or exited)."""
    return sorted(p["pid"] for p in pool["processes"]
                  if p["state"] in ("starting", "idle", "busy"))


def wait_pool(h, cond, timeout, what, script=RESPONDER):
    """Poll the pool of @script until cond(pool) is true; return the pool."""
    last = {}

    def check():
        ps = pools(h, script)
        if len(ps) != 1:
            return None
        last["pool"] = ps[0]
        return ps[0] if cond(ps[0]) else None
    try:
        return H.wait_until(check, timeout, interval=0.1, what=what)
    except TimeoutError as e:
        raise AssertionError("%s; last pool state: %s" % (
            e, json.dumps(last.get("pool"), indent=1))) from None


def parallel(h, paths, timeout=60, **kw):
    with cf.ThreadPoolExecutor(len(paths)) as ex:
        return list(ex.map(lambda p: h.get(p, timeout=timeout, **kw), paths))


def threaded(h):
    """Put the threaded app where THREADED's ScriptAlias points: a .fcgi
    symlink in the instance directory. Returns that path."""
    app = H.APPS / "threaded_app.py"
    app.chmod(app.stat().st_mode | 0o755)
    d = h.tmp / "app"
    d.mkdir(exist_ok=True)
    d.chmod(0o755)
    link = d / "threaded.fcgi"
    if not link.exists():
        link.symlink_to(app)
    return str(link)


def field(body, name):
    m = re.search(rb"^" + name.encode() + rb":(\d+)$", body, re.M)
    assert m, "no %s: in %r" % (name, body[:300])
    return int(m.group(1))


class Load:
    """Client threads sending requests (each on a new connection) until
    stop(); every answer is recorded as (path, status or error text, pid,
    t_start, t_end)."""

    def __init__(self, h, fast_path, fast_threads, slow_path=None,
                 slow_threads=0):
        self.h = h
        self.results = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(fast_path,),
                                         daemon=True)
                        for _ in range(fast_threads)]
        self.threads += [threading.Thread(target=self.run, args=(slow_path,),
                                          daemon=True)
                         for _ in range(slow_threads)]

    def run(self, path):
        while not self.done.is_set():
            t0 = time.monotonic()
            pid = None
            try:
                r = self.h.get(path, timeout=60)
                st = r.status
                if st == 200:
                    pid = pid_of(r.body)
                else:
                    st = "%d %r" % (st, r.body[:200])
            except Exception as e:      # noqa: BLE001 - recorded, asserted
                st = "%s: %s" % (type(e).__name__, e)
            with self.lock:
                self.results.append((path, st, pid, t0, time.monotonic()))

    def count(self):
        with self.lock:
            return len(self.results)

    def wait_count(self, n, timeout=60):
        H.wait_until(lambda: self.count() >= n, timeout, interval=0.02,
                     what="%d requests answered" % n)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(90)
        assert not any(t.is_alive() for t in self.threads), \
            "client threads still running 90 s after stop"

    def __exit__(self, *exc):
        self.stop()

    def failures(self):
        return [r for r in self.results if r[1] != 200]


def sock_gens(h):
    """Generation numbers of the backend sockets in the socket directory
    (b-GEN-IDX-SEQ.sock)."""
    d = h.tmp / "run" / "tracfcgi"
    out = []
    for f in (os.listdir(d) if d.is_dir() else ()):
        m = re.match(r"b-(\d+)-", f)
        if m:
            out.append(int(m.group(1)))
    return out


# --------------------------------------------------------------------------
# 1. readiness and capacity


@pytest.mark.both_mpms
@pytest.mark.parametrize("start", ["warm", "cold"])
def test_threaded_app_takes_8_connections(httpd, start):
    """FCGI_MAX_CONNS=8: one process takes 8 requests at once, whether it
    runs already (warm) or the 8 find the pool empty and wait for the
    process their first one starts (cold)."""
    h = httpd(THREADED + STATUS + "TracFcgiMaxProcesses 1\n",
              server_conf=ROOM)
    script = threaded(h)
    if start == "warm":
        r = h.get("/thr/?sleep=1")
        assert r.status == 200, (r.status, r.body)
    t0 = time.monotonic()
    rs = parallel(h, ["/thr/?sleep=1500"] * 8)
    took = time.monotonic() - t0
    assert [r.status for r in rs] == [200] * 8, [(r.status, r.body[:100])
                                                for r in rs]
    pids = {pid_of(r.body) for r in rs}
    assert len(pids) == 1, pids
    pid = pids.pop()
    # all 8 were in the process at once (the app counts them) ...
    peak = max(field(r.body, "peak") for r in rs)
    # ... so they took about 1.5 s, not 8 x 1.5 s (nor 2 x 1.5 s)
    assert peak == 8 and 1.4 <= took < 2.9, \
        "8 requests of 1.5 s on one 8-connection process: %.2fs, at most " \
        "%d at once" % (took, peak)
    pool = the_pool(h, script)
    assert [(p["pid"], p["max_conns"]) for p in pool["processes"]] == \
        [(pid, 8)], pool["processes"]
    assert pool["max_procs"] == 1 and pool["spawns"] == 1, pool
    assert [p.pid for p in H.procs_by_arg(script)] == [pid]
    h.wait_log(r"TF00104: pool \S+: backend pid=%d ready in \d+ ms, "
               r"8 connection\(s\)" % pid)


@pytest.mark.both_mpms
def test_crashed_httpd_child_gives_back_connections(httpd):
    """httpd children killed mid-request (as by a crash) held connections
    of a threaded backend: the manager gives them back, the backend keeps
    its pid and serves with all its connections again."""
    h = httpd(THREADED + STATUS + "TracFcgiMaxProcesses 1\n"
              "TracFcgiConnsPerProcess auto 3\n", server_conf=ROOM)
    script = threaded(h)
    r = h.get("/thr/?sleep=1")
    assert r.status == 200, (r.status, r.body)
    pid = pid_of(r.body)
    pm = status(h)["pm_pid"]
    mark = h.log_mark()
    socks = []
    try:
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", h.port), timeout=10)
            s.sendall(b"GET /thr/?sleep=30000 HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        wait_pool(h, lambda p: [q["conns"] for q in p["processes"]] == [3],
                  10, "3 connections in use", script)
        victims = [c for c in h.httpd_children() if c != pm]
        for c in victims:
            os.kill(c, signal.SIGKILL)
        H.wait_until(lambda: all(not H.alive(c) for c in victims), 5,
                     what="the killed children to be gone")

        def answers():
            try:
                return status(h, timeout=5)
            except OSError:  # a connection a killed child had accepted
                return None
        H.wait_until(answers, 10, what="new httpd children to answer")
        pool = wait_pool(h, lambda p: [q["conns"] for q in p["processes"]]
                         == [0], 10, "the connections given back", script)
    finally:
        for s in socks:
            s.close()
    assert live_pids(pool) == [pid], pool["processes"]
    lines = h.log_lines(r"TF00122: httpd child pid=\d+ died holding \d+ "
                        r"backend connection", since=mark)
    given = sum(int(re.search(r"holding (\d+)", ln).group(1))
                for ln in lines)
    assert given == 3, lines
    # the capacity is whole again: 3 at once on the same process (which
    # still sleeps for the cut requests too: they end when it writes),
    # once httpd has children enough again (prefork: one a request)
    H.wait_until(lambda: len([c for c in h.httpd_children() if c != pm])
                 >= min(len(victims), 4), 15,
                 what="httpd's children to be back")
    t0 = time.monotonic()
    rs = parallel(h, ["/thr/?sleep=800"] * 3)
    took = time.monotonic() - t0
    assert [r.status for r in rs] == [200] * 3, [r.body[:100] for r in rs]
    assert {pid_of(r.body) for r in rs} == {pid}
    assert took < 1.55, "3 requests of 0.8 s on 3 connections: %.2fs" % took


def test_threaded_app_conns_capped(httpd):
    """TracFcgiConnsPerProcess auto 3: the app says 8, the cap wins."""
    h = httpd(THREADED + STATUS + "TracFcgiMaxProcesses 1\n"
              "TracFcgiConnsPerProcess auto 3\n")
    script = threaded(h)
    assert h.get("/thr/?sleep=1").status == 200
    t0 = time.monotonic()
    rs = parallel(h, ["/thr/?sleep=1000"] * 6)
    took = time.monotonic() - t0
    assert [r.status for r in rs] == [200] * 6
    assert len({pid_of(r.body) for r in rs}) == 1
    assert max(field(r.body, "peak") for r in rs) == 3
    assert 1.9 <= took < 3.9, "6 requests of 1 s, 3 at a time: %.2fs" % took
    pool = the_pool(h, script)
    assert [p["max_conns"] for p in pool["processes"]] == [3]


@pytest.mark.both_mpms
def test_libfcgi_one_connection_at_a_time(httpd):
    h = httpd(TRAC + STATUS + "TracFcgiMaxProcesses 1\n", server_conf=ROOM)
    r = h.get("/trac/?pid")
    assert r.status == 200
    pid = pid_of(r.body)
    t0 = time.monotonic()
    rs = parallel(h, ["/trac/?sleep=500&pid"] * 4)
    took = time.monotonic() - t0
    assert [r.status for r in rs] == [200] * 4, [(r.status, r.body[:200])
                                                for r in rs]
    assert {pid_of(r.body) for r in rs} == {pid}
    assert took >= 1.95, "4 x 500 ms on a one-connection backend took " \
        "only %.2fs: it got two at once" % took
    assert took < 8, took
    pool = the_pool(h)
    assert [(p["pid"], p["max_conns"]) for p in pool["processes"]] == \
        [(pid, 1)], pool["processes"]


def test_two_connections_to_a_one_connection_backend(httpd):
    """TracFcgiConnsPerProcess 2 on a libfcgi app (README): when every
    process is busy, one more request waits in a busy process's listen
    queue instead of the FIFO. It is served by that process right after
    the current one, and TracFcgiQueueTimeout does not apply to it (it
    is not queued): the trade-off the README states."""
    conf = TRAC + STATUS + "TracFcgiMaxProcesses 1\nTracFcgiQueueTimeout 1\n"
    for conns, want in ((2, [200, 200]), (1, [200, 503])):
        h = httpd(conf + "TracFcgiConnsPerProcess %d\n" % conns)
        pid = pid_of(h.get("/trac/?pid").body)
        t0 = time.monotonic()
        slow = Bg(h.get, "/trac/?sleep=1500&pid")
        slow.start()
        time.sleep(0.3)
        second = h.get("/trac/?pid")
        took = time.monotonic() - t0
        first = slow.get(10)
        assert [first.status, second.status] == want, (conns, took)
        if conns == 2:
            assert pid_of(second.body) == pid_of(first.body) == pid
            assert 1.4 <= took < 3, "served right after the first: %.2fs" % (
                took)
            assert not h.log_lines(r"TF00405")
        h.stop()


@pytest.mark.parametrize("how,code", [
    # exits before accepting anything: the probe cannot connect
    ("RESPONDER_STARTUP_FAIL", 7),
    # takes the probe, closes it unanswered as libfcgi does, and exits: the
    # second probe tells it from a libfcgi app in its accept loop
    ("RESPONDER_ONE_ACCEPT", 8),
])
def test_backend_dies_during_startup(httpd, how, code):
    h = httpd(TRAC + STATUS + "TracFcgiInitEnv %s 1\n" % how)
    r = h.get("/trac/?pid", timeout=40)
    assert r.status == 503, (r.status, r.body[:300])
    m = h.wait_log(r"TF00103: pool \S+: backend pid=(\d+) died during "
                   r"startup \(exit status %d\)" % code)
    assert not H.alive(int(m.group(1)))
    assert not h.log_lines(r"TF00104")  # never called ready
    pool = the_pool(h)
    assert "died during startup (exit status %d)" % code in \
        pool["last_error"], pool
    assert pool["exits"]["startup"] >= 1, pool["exits"]
    assert h.backend_pids() == []


# --------------------------------------------------------------------------
# 2. sizing and retirement


def test_min_processes_started_and_kept(httpd):
    h = httpd(TRAC + STATUS + """
TracFcgiMinProcesses 2
TracFcgiMaxProcesses 3
TracFcgiIdleTimeout 1
""")
    r = h.get("/trac/?pid")
    assert r.status == 200
    first = pid_of(r.body)
    pool = wait_pool(h, lambda p: len(live_pids(p)) == 2 and all(
        q["state"] in ("idle", "busy") for q in p["processes"]), 10,
        "the pool to reach TracFcgiMinProcesses 2")
    assert pool["min_procs"] == 2 and pool["max_procs"] == 3
    pids = live_pids(pool)
    assert first in pids
    assert sorted(h.backend_pids()) == pids
    # idle well past TracFcgiIdleTimeout 1: the minimum stays, the same two
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.5:
        assert live_pids(the_pool(h)) == pids
        time.sleep(0.25)
    assert sorted(h.backend_pids()) == pids
    assert not h.log_lines(r"stopped \(idle timeout\)")


def test_idle_timeout_shrinks_to_min(httpd):
    h = httpd(TRAC + STATUS + """
TracFcgiMinProcesses 1
TracFcgiMaxProcesses 3
TracFcgiIdleTimeout 2
""")
    rs = parallel(h, ["/trac/?sleep=800&pid"] * 3)
    assert [r.status for r in rs] == [200] * 3
    burst = {pid_of(r.body) for r in rs}
    assert len(burst) == 3, "the burst did not make 3 processes: %s" % burst
    t_idle = time.monotonic()
    pool = wait_pool(h, lambda p: len(p["processes"]) == 1, 12,
                     "the pool to shrink to 1 process")
    took = time.monotonic() - t_idle
    assert took >= 1.0, "idle processes stopped after only %.1fs" % took
    kept = live_pids(pool)
    assert len(kept) == 1 and kept[0] in burst, \
        "the pool went below TracFcgiMinProcesses 1: all of %s were " \
        "stopped, then %s started; log:\n%s" % (
            sorted(burst), kept, "\n".join(h.log_lines(r"TF0010[48]")))
    for pid in burst - set(kept):
        H.wait_until(lambda: not H.alive(pid), 5, what="pid %d gone" % pid)
    lines = h.log_lines(r"backend pid=\d+ stopped \(idle timeout\)")
    assert len(lines) == 2, lines
    assert pool["exits"]["idle_timeout"] == 2, pool["exits"]
    # and it stays at the minimum
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3:
        assert live_pids(the_pool(h)) == kept
        time.sleep(0.25)
    r = h.get("/trac/?pid")
    assert r.status == 200 and pid_of(r.body) == kept[0]


def test_max_requests_per_process(httpd):
    h = httpd(TRAC + STATUS + "TracFcgiMaxRequestsPerProcess 5\n")
    served = collections.Counter()
    for i in range(12):
        r = h.get("/trac/?env")
        assert r.status == 200, "request %d: %d %r" % (i, r.status,
                                                       r.body[:300])
        _, _, info = H.parse_env_body(r.body)
        pid = int(info["pid"])
        served[pid] += 1
        assert int(info["requests"]) <= 5, \
            "pid %d served its request #%s" % (pid, info["requests"])
    assert len(served) >= 3, served
    assert max(served.values()) <= 5, served
    h.wait_log(r"backend pid=\d+ stopped \(retired\)")
    pool = wait_pool(h, lambda p: p["exits"]["retired"] >= 2, 10,
                     "2 retirements in the status")
    assert pool["exits"]["died"] == 0 and pool["exits"]["broken"] == 0


def test_process_lifetime(httpd):
    h = httpd(TRAC + STATUS + "TracFcgiProcessLifetime 2\n")
    # a request longer than the lifetime, on a fresh process: never cut
    mark = h.log_mark()
    bg = Bg(h.get, "/trac/?sleep=3000&pid", timeout=30)
    bg.start()
    first = sleeping_backend(h)
    r = bg.get(30)
    assert r.status == 200, (r.status, r.body[:300])
    assert pid_of(r.body) == first, "answered by %d, started on %d" % (
        pid_of(r.body), first)
    # over its lifetime and idle now: retired at once
    H.wait_until(lambda: not H.alive(first), 5,
                 what="pid %d (past its lifetime, idle) to stop" % first)
    h.wait_log(r"backend pid=%d stopped \(retired\)" % first, since=mark)
    # a new process, idle: replaced about 2 s after its start
    t0 = time.monotonic()
    r = h.get("/trac/?pid")
    assert r.status == 200
    second = pid_of(r.body)
    assert second != first
    H.wait_until(lambda: not H.alive(second), 10,
                 what="pid %d to be retired" % second)
    took = time.monotonic() - t0
    assert 1.8 <= took < 6, "lifetime 2 s: retired after %.1fs" % took
    r = h.get("/trac/?pid")
    assert r.status == 200 and pid_of(r.body) not in (first, second)
    assert the_pool(h)["exits"]["retired"] >= 2


def test_php_max_requests_never_fails_a_client(httpd):
    if not shutil.which("php-cgi"):
        pytest.skip("php-cgi not installed")
    h = httpd("""
ScriptAlias /php @APPS@/hello.php.fcgi/
TracFcgiInitEnv PHP_FCGI_MAX_REQUESTS 3
TracFcgiMaxProcesses 2
""" + STATUS)
    pids = collections.Counter()
    for i in range(20):
        r = h.get("/php/?n=%d" % i)
        assert r.status == 200, "request %d: %d %r" % (i, r.status,
                                                       r.body[:300])
        assert b"php ok" in r.body
        pids[int(re.search(rb"pid=(\d+)", r.body).group(1))] += 1
    assert max(pids.values()) <= 3, pids
    assert len(pids) >= 7, pids


# --------------------------------------------------------------------------
# 3. crash loops


def test_crash_loop_backoff(httpd):
    h = httpd("""
ScriptAlias /bad @APPS@/responder.fcgi/
ScriptAlias /good @APPS@/responder.fcgi/
<Location /bad>
    TracFcgiInitEnv RESPONDER_STARTUP_FAIL 1
</Location>
""" + STATUS)
    mark = h.log_mark()
    bad = []
    good = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 5 or len(bad) < 20:
        r = h.get("/bad/?pid", timeout=40)
        bad.append((r.status, r.headers.get("Retry-After")))
        r = h.get("/good/?pid", timeout=40)
        good.append(r.status)
        time.sleep(0.1)
    assert all(s == 503 for s, _ in bad), bad
    missing = [i for i, (_, ra) in enumerate(bad) if ra is None]
    assert not missing, "503s without Retry-After (request #): %s" % missing
    assert all(re.fullmatch(r"\d+", ra) and 1 <= int(ra) <= 60
               for _, ra in bad), bad
    assert good == [200] * len(good), good
    warns = h.log_lines(r"\[tracfcgi:warn\].*TF00119: .*crash-loop back-off",
                        since=mark)
    assert warns, "no crash-loop back-off warning"
    # one per back-off step, not one per request
    assert len(warns) <= len(bad) // 4, "%d warnings for %d requests" % (
        len(warns), len(bad))
    spawns = [p for p in pools(h) if "RESPONDER_STARTUP_FAIL" in p["env"]]
    assert len(spawns) == 1
    assert spawns[0]["spawns"] < len(bad), \
        "a spawn per request: no back-off (%d spawns, %d requests)" % (
            spawns[0]["spawns"], len(bad))
    assert h.backend_pids()   # the good pool's process


# --------------------------------------------------------------------------
# 4. graceful restart, graceful-stop, reload on change


@pytest.mark.both_mpms
def test_graceful_restart_under_load(httpd):
    h = httpd(TRAC + STATUS + "TracFcgiMaxProcesses 4\n", server_conf=ROOM)
    gen0 = status(h)["generation"]
    at_graceful = set()
    gracefuls = []
    with Load(h, "/trac/?pid", 6, "/trac/?sleep=300&pid", 2) as load:
        for i in range(3):
            load.wait_count(400 * (i + 1))
            at_graceful |= set(h.backend_pids())
            t = time.monotonic()
            h.graceful()
            gracefuls.append((t, time.monotonic()))
        load.wait_count(max(2000, load.count() + 400), timeout=90)
        # and a while past the last restart
        H.wait_until(lambda: time.monotonic() > gracefuls[-1][1] + 2, 5)
    res = load.results
    assert len(res) >= 2000
    fails = load.failures()
    assert not fails, "%d of %d requests failed, e.g. %s" % (
        len(fails), len(res), fails[:5])
    # slow requests in flight at each graceful completed
    for t, _ in gracefuls:
        spanning = [r for r in res if "sleep" in r[0] and r[3] < t < r[4]]
        assert spanning, "no sleep=300 request was in flight at a graceful"
    st = status(h)
    assert st["generation"] >= gen0 + 3, (gen0, st["generation"])
    cur = set(live_pids(the_pool(h)))
    assert cur, "no backend in the current generation's table"
    assert not (at_graceful & cur), \
        "backends of old generations in the new table: %s" % (
            at_graceful & cur)
    # every backend that ever answered and is not the new generation's
    # goes away
    seen = {r[2] for r in res if r[2]} | at_graceful
    old = seen - cur
    assert at_graceful <= old
    H.wait_until(lambda: not [p for p in old if H.alive(p)], 10,
                 what="old-generation backends %s to exit" % sorted(
                     p for p in old if H.alive(p)))
    assert set(h.backend_pids()) <= cur | set(live_pids(the_pool(h)))
    H.wait_until(lambda: set(sock_gens(h)) <= {st["generation"]}, 10,
                 what="only generation %d sockets (have %s)" % (
                     st["generation"], sock_gens(h)))
    # requests that began well after the last restart met new backends only
    late = {r[2] for r in res if r[3] > gracefuls[-1][1] + 1 and r[2]}
    assert late and late <= cur, (late, cur)


@pytest.mark.both_mpms
def test_graceful_stop_finishes_requests(httpd):
    h = httpd(TRAC + STATUS + "TracFcgiMaxProcesses 4\n", server_conf=ROOM)
    bgs = [Bg(h.get, "/trac/?sleep=2500&pid", timeout=30) for _ in range(3)]
    for b in bgs:
        b.start()
    H.wait_until(lambda: len([p for p in h.backend_pids()
                              if H.in_nanosleep(p)]) == 3,
                 10, what="3 backends in their sleep")
    pids = set(h.backend_pids())
    h.own_procs()           # remember the tree
    r = subprocess.run([H.APACHE, "-f", str(h.conf), "-k", "graceful-stop"],
                       capture_output=True, text=True, cwd=str(h.tmp),
                       env=h.httpd_env())
    assert r.returncode == 0, r.stdout + r.stderr
    for b in bgs:
        resp = b.get(30)
        assert resp.status == 200, (resp.status, resp.body[:200])
        assert pid_of(resp.body) in pids
    h.proc.wait(30)
    H.wait_until(lambda: not h.leftovers(), 10,
                 what="every process to exit after graceful-stop (left: %s)"
                 % [(p.pid, p.argv) for p in h.leftovers()])
    assert not any(H.alive(p) for p in pids)


def app_script(h, name):
    """@name in an app/ directory of @h's own (made here)."""
    d = h.tmp / "app"
    d.mkdir()
    d.chmod(0o755)
    return d / name


def touch_later(path):
    """A newer mtime for @path (five seconds on), as an edit gives it."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))


def test_reload_on_change(httpd):
    h = httpd("""
ScriptAlias /app @TMP@/app/responder.fcgi/
<Directory @TMP@/app>
    Require all granted
</Directory>
TracFcgiReloadOnChange On
TracFcgiMaxProcesses 2
""" + STATUS)
    script = app_script(h, "responder.fcgi")
    shutil.copy2(RESPONDER, script)
    script.chmod(0o755)
    mark = h.log_mark()
    with Load(h, "/app/?pid", 4, "/app/?sleep=200&pid", 1) as load:
        load.wait_count(500)
        before = set(h.backend_pids(str(script)))
        t_touch = time.monotonic()
        touch_later(script)
        h.wait_log(r"TF00120: pool \S+: its script changed", since=mark)
        t_changed = time.monotonic()
        load.wait_count(max(1000, load.count() + 300))
    res = load.results
    assert len(res) >= 1000
    fails = load.failures()
    assert not fails, "%d of %d requests failed, e.g. %s" % (
        len(fails), len(res), fails[:5])
    early = {r[2] for r in res if r[4] < t_touch}
    late = {r[2] for r in res if r[3] > t_changed}
    assert early and late and not (early & late), (early, late)
    H.wait_until(lambda: not any(H.alive(p) for p in before), 10,
                 what="the processes of the old script to exit")
    assert len(h.log_lines(r"its script changed", since=mark)) == 1


def test_reload_replaces_a_process_that_was_starting(httpd):
    """The script changes while the pool's process is still starting (it
    may have read what was there before): it serves the request it was
    started for, then stops, and a new one serves the next."""
    h = httpd("""
ScriptAlias /app @TMP@/app/slow.fcgi/
<Directory @TMP@/app>
    Require all granted
</Directory>
TracFcgiReloadOnChange On
TracFcgiMaxProcesses 1
TracFcgiQueueTimeout 20
""", start=False)
    script = app_script(h, "slow.fcgi")
    # three seconds of start-up (an application importing its code)
    script.write_text("#!/bin/sh\nsleep 3\nexec %s\n" % RESPONDER)
    script.chmod(0o755)
    h.start()
    mark = h.log_mark()
    asked = Bg(h.get, "/app/?pid", timeout=30)
    asked.start()
    # the shell that sleeps, then execs the responder: the same pid
    first = H.wait_until(lambda: h.backend_pids(str(script)), 10,
                         what="the process starting")[0]
    touch_later(script)
    h.wait_log(r"TF00120: pool \S+: its script changed; replacing its 1 "
               r"process", since=mark)
    assert not h.log_lines(r"backend pid=%d ready" % first, since=mark), \
        "the process was ready before the change was seen"
    r = asked.get(30)
    assert r.status == 200 and pid_of(r.body) == first
    H.wait_until(lambda: not H.alive(first), 10, what="the first process")
    r = h.get("/app/?pid", timeout=30)
    assert r.status == 200 and pid_of(r.body) != first


def test_reload_stops_many_idle_processes_with_sigterm(httpd):
    """A graceful restart stops more idle processes at once than one scan
    of the manager used to signal (64): every one of them gets its SIGTERM
    at once; none waits out the grace for a SIGKILL (16 of 80 did)."""
    n = 80
    h = httpd(TRAC + STATUS + """
TracFcgiServer @APPS@/responder.fcgi
TracFcgiMinProcesses %d
TracFcgiMaxProcesses %d
""" % (n, n), server_conf="TracFcgiMaxProcessesTotal 100\n")
    pool = wait_pool(h, lambda p: len([q for q in p["processes"]
                                       if q["state"] == "idle"]) == n, 30,
                     "%d idle processes" % n)
    old = live_pids(pool)
    assert len(old) == n
    mark = h.log_mark()
    t0 = time.monotonic()
    h.graceful()
    # the old generation's manager drains: each of its idle processes is
    # told to stop (libfcgi's SIGTERM handler exits 0)
    rx = re.compile(r"TF00108: pool \S+: backend pid=(\d+) stopped "
                    r"\(shutdown\), (.*)$")
    lines = H.wait_until(
        lambda: (lambda ls: ls if len(ls) >= n else None)(
            h.log_lines(rx.pattern, since=mark)),
        30, what="%d processes stopped" % n)
    took = time.monotonic() - t0
    assert not any(H.alive(p) for p in old)
    stopped = [rx.search(ln).groups() for ln in lines]
    assert sorted(int(p) for p, _ in stopped) == old, stopped[:3]
    how = collections.Counter(text for _, text in stopped)
    assert how == {"exit status 0": n}, how
    # the grace before a SIGKILL is 10 s
    assert took < 8, "the old processes took %.1f s to go" % took
    r = h.get("/trac/?pid")
    assert r.status == 200 and pid_of(r.body) not in old


def test_reload_watches_plugins(httpd):
    """TracFcgiReloadOnChange watches what a Trac upgrade or a new plugin
    changes: the TracEnv's plugins/, the [inherit] plugins_dir of its
    trac.ini (relative to conf/), and the paths the directive names."""
    h = httpd("""
ScriptAlias /trac @APPS@/responder.fcgi/
TracEnv @SCRATCH@/proj
TracFcgiCheckEnv Off
TracFcgiReloadOnChange On @SCRATCH@/extra
""")
    proj, shared, extra = (h.scratch / "proj", h.scratch / "shared",
                           h.scratch / "extra")
    for d in (proj / "plugins", proj / "conf", shared, extra):
        d.mkdir(parents=True)
    (proj / "conf" / "trac.ini").write_text(
        "[inherit]\nplugins_dir = ../../shared\n")
    pid = int(h.get("/trac/?pid").body.split(b":")[1])
    later = time.time() + 5
    for n, path in enumerate((proj / "plugins" / "new-1.0.egg",
                              shared / "shared_plugin.py",
                              extra / "site.cfg")):
        mark = h.log_mark()
        path.write_text("x\n")
        later += 5
        os.utime(path, (later, later))
        h.wait_log(r"TF00120: pool \S+: %s changed; replacing its 1 "
                   r"process" % re.escape(str(path)), since=mark)
        H.wait_until(lambda: not H.alive(pid), 10, what="the old process")
        new = int(h.get("/trac/?pid").body.split(b":")[1])
        assert new != pid, path
        pid = new


# --------------------------------------------------------------------------
# 5. status


def test_status_contents(httpd):
    h = httpd(TRAC + STATUS + """
TracEnv @SCRATCH@/proj
TracFcgiCheckEnv Off
TracFcgiMinProcesses 1
TracFcgiMaxProcesses 2
TracFcgiQueueTimeout 20
<Location /server-status>
    SetHandler server-status
</Location>
""", extra_modules=[("status_module", "mod_status.so")])
    r = h.get("/trac/?env")
    assert r.status == 200
    _, environ, _ = H.parse_env_body(r.body)
    assert environ["TRAC_ENV"] == str(h.scratch / "proj")
    # four slow requests on two processes: two run, two wait
    bgs = [Bg(h.get, "/trac/?sleep=2500&pid", timeout=30) for _ in range(4)]
    for b in bgs:
        b.start()
    busy = wait_pool(h, lambda p: p["waiting"] == 2 and sorted(
        q["state"] for q in p["processes"]) == ["busy", "busy"], 10,
        "2 busy processes and 2 waiting requests")
    # the status page answers at once meanwhile, in every form
    for path, hdrs in (("/tf-status?json", {}), ("/tf-status", {}),
                       ("/tf-status", {"Accept": "application/json"}),
                       ("/server-status", {}), ("/server-status?auto", {})):
        t0 = time.monotonic()
        r = h.get(path, headers=hdrs)
        took = time.monotonic() - t0
        assert r.status == 200, (path, r.status)
        assert took < 0.5, "%s took %.2fs under load" % (path, took)
    assert [q["conns"] for q in busy["processes"]] == [1, 1]
    for b in bgs:
        assert b.get(30).status == 200
    st = status(h)
    for k in ("generation", "pm_pid", "total_procs", "max_total", "waiting"):
        assert k in st, k
    assert H.alive(st["pm_pid"])
    pool = the_pool(h)
    assert pool["script"] == RESPONDER
    assert pool["vhost"]
    assert (pool["uid"], pool["gid"]) == (WWW.pw_uid, WWW.pw_gid)
    assert "TRAC_ENV=%s" % (h.scratch / "proj") in pool["env"], pool["env"]
    assert pool["min_procs"] == 1 and pool["max_procs"] == 2
    assert pool["procs"] == 2
    assert pool["waiting"] == 0
    assert 1000 <= pool["longest_wait_ms"] < 10000, pool["longest_wait_ms"]
    assert pool["spawns"] == 2
    assert set(pool["exits"]) >= {"idle_timeout", "died", "startup",
                                  "retired", "shutdown"}, pool["exits"]
    assert pool["last_error"] == ""
    pids = sorted(q["pid"] for q in pool["processes"])
    assert pids == h.backend_pids()
    for q in pool["processes"]:
        assert q["state"] == "idle" and q["conns"] == 0
        assert q["max_conns"] == 1
        assert q["requests"] >= 2
        assert 0 <= q["idle_s"] <= q["age_s"] < 60
    assert sum(q["requests"] for q in pool["processes"]) == 5
    # HTML: the same pids
    r = h.get("/tf-status")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/html")
    html = r.body.decode()
    assert RESPONDER in html
    assert sorted(int(x) for x in re.findall(r"<tr><td>(\d+)</td>", html)) \
        == pids
    # Accept: application/json
    r = h.get("/tf-status", headers={"Accept": "application/json"})
    assert r.headers["Content-Type"].startswith("application/json")
    assert sorted(q["pid"] for q in json.loads(r.body)["pools"][0][
        "processes"]) == pids
    # mod_status
    r = h.get("/server-status")
    assert r.status == 200 and b"mod_tracfcgi" in r.body, r.body[-2000:]
    r = h.get("/server-status?auto")
    m = re.search(rb"^TracFcgiProcesses: (\d+)$", r.body, re.M)
    assert m, r.body[-1000:]
    assert int(m.group(1)) == 2


# --------------------------------------------------------------------------
# 6. scale


NV = 300


@pytest.mark.slow
def test_300_vhosts(httpd):
    vhosts = "".join("""
<VirtualHost 127.0.0.1:@PORT@>
    ServerName v%03d.test
    ScriptAlias /trac @APPS@/responder.fcgi/
    TracEnv @SCRATCH@/env%03d
    TracFcgiMaxProcesses 1
</VirtualHost>
""" % (i, i) for i in range(NV))
    t_start = time.monotonic()
    h = httpd(STATUS + vhosts, server_conf="""
TracFcgiMaxProcessesTotal 500
TracFcgiCheckEnv Off
""")

    def one(i):
        r = h.get("/trac/?env", headers={"Host": "v%03d.test" % i}, timeout=60)
        return i, r

    with cf.ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(one, range(NV)))
    pids = {}
    for i, r in rs:
        assert r.status == 200, (i, r.status, r.body[:300])
        _, environ, info = H.parse_env_body(r.body)
        assert environ.get("TRAC_ENV") == str(h.scratch / ("env%03d" % i)), \
            (i, environ.get("TRAC_ENV"))
        pids[i] = int(info["pid"])
    assert len(set(pids.values())) == NV
    own = pools(h, RESPONDER, timeout=30)
    assert len(own) == NV, len(own)
    assert sorted(p["env"] for p in own) == \
        ["TRAC_ENV=%s" % (h.scratch / ("env%03d" % i)) for i in range(NV)]
    assert len({p["vhost"] for p in own}) == NV
    assert sorted(q["pid"] for p in own for q in p["processes"]) == \
        sorted(pids.values())
    assert set(h.backend_pids()) == set(pids.values())
    took = time.monotonic() - t_start
    assert took < 60, "300 virtual hosts took %.0fs" % took


def test_declared_server_starts_with_httpd(httpd):
    """TracFcgiServer: the pool exists and has its TracFcgiMinProcesses
    before any request, and the first request through ScriptAlias to the
    same script uses one of them (same pool key: no new process)."""
    h = httpd(STATUS + """
TracFcgiServer @APPS@/responder.fcgi DECLARED=yes
ScriptAlias /trac @APPS@/responder.fcgi/
TracFcgiInitEnv DECLARED yes
TracFcgiMinProcesses 2
""")

    def two_ready():
        st = status(h)
        procs = [q for p in st["pools"] for q in p["processes"]
                 if q["state"] == "idle"]
        return (st, procs) if len(procs) == 2 else None

    st, procs = H.wait_until(two_ready, 10, what="2 idle processes")
    assert len(st["pools"]) == 1 and st["pools"][0]["spawns"] == 2
    r = h.get("/trac/?pid")
    assert r.status == 200
    assert pid_of(r.body) in {q["pid"] for q in procs}
    st = status(h)
    assert len(st["pools"]) == 1 and st["pools"][0]["spawns"] == 2


MASS_VHOSTS = int(os.environ.get("TF_MASS_VHOSTS", "200"))


@pytest.mark.slow
def test_mass_vhosting_recycles_pools(httpd):
    """More virtual hosts, each a pool of its own (its TracEnv), than the
    pool table holds (TracFcgiMaxProcessesTotal 8: 64 entries), served
    one after another: every request is answered, idle processes of
    other pools give way, and empty pools' entries are given to new
    ones; the first hosts, whose pools were given away, are served again
    (TF_MASS_VHOSTS=2000 for the issue's figure)."""
    vhosts = "".join("""
<VirtualHost 127.0.0.1:@PORT@>
    ServerName m%04d.test
    ScriptAlias /trac @APPS@/responder.fcgi/
    TracEnv @SCRATCH@/env%04d
    TracFcgiMaxProcesses 1
</VirtualHost>
""" % (i, i) for i in range(MASS_VHOSTS))
    h = httpd(STATUS + vhosts, server_conf="""
TracFcgiMaxProcessesTotal 8
TracFcgiCheckEnv Off
""")
    t0 = time.monotonic()
    for i in list(range(MASS_VHOSTS)) + list(range(10)):
        r = h.get("/trac/?env", headers={"Host": "m%04d.test" % i},
                  timeout=60)
        assert r.status == 200, (i, r.status, r.body[:300])
        _, environ, _ = H.parse_env_body(r.body)
        assert environ.get("TRAC_ENV") == str(h.scratch / ("env%04d" % i))
    took = time.monotonic() - t0
    print("\n%d virtual hosts one after another, 8 processes at most: "
          "%.1f s, %.1f ms a request" % (MASS_VHOSTS, took,
                                         1000 * took / (MASS_VHOSTS + 10)))
    assert not h.log_lines(r"TF00403"), "the pool table filled up"
    st = status(h)
    assert len(st["pools"]) <= st["pool_entries"] == 64
    # every host after the 64th took an entry another pool had left
    assert st["pools_recycled"] >= MASS_VHOSTS - 64, st["pools_recycled"]
    assert len(h.backend_pids()) <= 8
