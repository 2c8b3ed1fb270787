"""Process pool: limits, queueing, idle exit, and a clean stop."""

import concurrent.futures as cf
import os
import re
import signal
import threading
import time

import pytest

import httpd as H
from httpd import Bg, pid_of, sleeping_backend

TRAC = "ScriptAlias /trac @APPS@/responder.fcgi/\n"


def parallel(h, paths, workers, timeout=60, port=None):
    with cf.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(lambda p: h.get(p, timeout=timeout, port=port),
                           paths))


class MaxWatcher:
    """Track the largest number of live backends of @h seen at once."""

    def __init__(self, h):
        self.h, self.max = h, 0
        self.done = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.done.is_set():
            self.max = max(self.max, len(self.h.backend_pids()))
            time.sleep(0.05)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.t.join()


@pytest.mark.both_mpms
def test_64_clients_max_4_processes(httpd):
    h = httpd(TRAC + "TracFcgiMaxProcesses 4\n")
    with MaxWatcher(h) as w:
        rs = parallel(h, ["/trac/?sleep=100&pid"] * 64, 64)
    statuses = [r.status for r in rs]
    assert statuses == [200] * 64, statuses
    pids = {pid_of(r.body) for r in rs}
    assert 1 <= len(pids) <= 4, pids
    assert w.max <= 4, "%d backends at once" % w.max


def test_sections_with_other_limits_are_told(httpd):
    """A pool is keyed by script, identity, virtual host and environment;
    its limits are those of the request that created it. A section that
    sets other limits for the same pool is named in the log, once."""
    h = httpd(TRAC + "<Location /trac/login>\n"
              "    TracFcgiMaxProcesses 2\n    TracFcgiIdleTimeout 60\n"
              "</Location>\n<Location /trac/wiki>\n"
              "    TracFcgiMaxProcesses 4\n</Location>\n")
    assert h.get("/trac/?pid").status == 200
    assert h.get("/trac/wiki/Start?pid").status == 200  # the same limits
    assert not h.log_lines(r"TF00443")
    r = h.get("/trac/login?pid")
    assert r.status == 200
    assert pid_of(r.body) in h.backend_pids()  # served by the same pool
    line = h.wait_log(r"TF00443: pool \S+: this request's configuration "
                      r"sets (.*); the pool keeps the limits").group(1)
    assert line == ("TracFcgiMaxProcesses 2 (the pool's: 4), "
                    "TracFcgiIdleTimeout 60 (the pool's: 300)"), line
    for _ in range(3):
        assert h.get("/trac/login?pid").status == 200
    assert len(h.log_lines(r"TF00443")) == 1


def test_queue_timeout_503(httpd):
    h = httpd(TRAC + """
TracFcgiMaxProcesses 1
TracFcgiQueueTimeout 1
""")
    mark = h.log_mark()
    bg = Bg(h.get, "/trac/?sleep=3000&pid", timeout=30)
    bg.start()
    busy = sleeping_backend(h)
    t0 = time.monotonic()
    r = h.get("/trac/?pid", timeout=30)
    elapsed = time.monotonic() - t0
    assert r.status == 503, (r.status, r.body[:300])
    assert 0.8 <= elapsed <= 2.5, "503 after %.2fs" % elapsed
    assert r.headers.get("Retry-After"), "no Retry-After header"
    assert re.fullmatch(r"\d+", r.headers["Retry-After"].strip())
    first = bg.get(15)
    assert first.status == 200 and pid_of(first.body) == busy
    lines = h.log_lines(r"TracFcgiMaxProcesses", since=mark)
    assert lines, "the queue timeout does not name the limit"
    assert any(re.search(r"\[tracfcgi:(warn|error)\]", ln) for ln in lines)


TWO_POOLS = TRAC + """
TracFcgiMaxProcessesTotal 2
TracFcgiQueueTimeout 5
<VirtualHost 127.0.0.1:@PORT2@>
    ScriptAlias /trac @APPS@/responder.fcgi/
</VirtualHost>
"""


def test_max_processes_total_is_a_cap(httpd):
    h = httpd(TWO_POOLS, nports=2)
    with MaxWatcher(h) as w, cf.ThreadPoolExecutor(8) as ex:
        futs = [ex.submit(h.get, "/trac/?sleep=300&pid", timeout=60,
                          port=h.ports[i % 2]) for i in range(8)]
        results = [f.result() for f in futs]
    assert all(r.status in (200, 503) for r in results), \
        [r.status for r in results]
    assert sum(r.status == 200 for r in results) >= 2
    # processes may be replaced (an idle one of a pool giving way to the
    # other pool): the cap is on processes alive at the same time
    assert w.max <= 2, "%d backends at once" % w.max


def test_max_processes_total_idle_backend_makes_room(httpd):
    """Pool A holds the whole server-wide quota with idle processes; a
    request for pool B must not wait for A's idle timeout (300 s) and get
    a 503: an idle process of A has to give way."""
    h = httpd(TWO_POOLS, nports=2)
    rs = parallel(h, ["/trac/?sleep=300&pid"] * 2, 2)
    assert [r.status for r in rs] == [200, 200]
    assert len(h.backend_pids()) == 2
    t0 = time.monotonic()
    r = h.get("/trac/?pid", port=h.ports[1], timeout=30)
    assert r.status == 200, "pool B starved by pool A's idle processes " \
        "(%d after %.1fs)" % (r.status, time.monotonic() - t0)
    assert len(h.backend_pids()) <= 2


def test_idle_timeout(httpd):
    h = httpd(TRAC + "TracFcgiIdleTimeout 1\n")
    r = h.get("/trac/?pid")
    assert r.status == 200
    pid = pid_of(r.body)
    H.wait_until(lambda: not H.alive(pid), 15,
                 what="idle backend %d to exit" % pid)
    r = h.get("/trac/?pid")
    assert r.status == 200 and pid_of(r.body) != pid


def test_min_processes_kept_when_idle(httpd):
    h = httpd(TRAC + "TracFcgiMinProcesses 2\nTracFcgiIdleTimeout 1\n")
    rs = parallel(h, ["/trac/?sleep=500&pid"] * 3, 3)
    assert [r.status for r in rs] == [200] * 3
    assert len({pid_of(r.body) for r in rs}) == 3
    # idle processes above the minimum go, the minimum stays
    H.wait_until(lambda: len(h.backend_pids()) == 2, 15,
                 what="the pool to shrink to TracFcgiMinProcesses")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3:
        assert len(h.backend_pids()) == 2
        time.sleep(0.2)


# --------------------------------------------------------------------------
# stop and restart


def _spawn_three(h):
    rs = parallel(h, ["/trac/?sleep=300&pid"] * 3, 3)
    assert [r.status for r in rs] == [200] * 3
    return {pid_of(r.body) for r in rs}


@pytest.mark.both_mpms
def test_nothing_left_after_stop(httpd):
    h = httpd(TRAC)
    pids = _spawn_three(h)
    assert pids <= set(h.backend_pids())
    pm = int(h.wait_log(r"process manager pid=(\d+) started").group(1))
    # the sockets live under DefaultRuntimeDir by default
    assert h.sockets_left(), "no backend socket under DefaultRuntimeDir"
    took = h.stop()
    assert took < 10, "stop took %.1fs" % took
    assert h.check_clean_after_stop() == []
    for pid in pids | {pm}:
        assert not H.alive(pid), pid


def test_nothing_left_after_stop_socket_dir(httpd):
    h = httpd(TRAC, server_conf="TracFcgiSocketDir @TMP@/socks\n")
    _spawn_three(h)
    socks = h.sockets_left()
    assert socks and all(s.startswith(str(h.tmp / "socks") + "/")
                         for s in socks), socks
    h.stop()
    assert h.check_clean_after_stop() == []


def test_sockets_of_a_killed_httpd_removed_at_start(httpd):
    """kill -9 of httpd leaves the backends' sockets behind: the next
    start removes them (and only at a first start, not a restart)."""
    h = httpd(TRAC, server_conf="TracFcgiSocketDir @TMP@/socks\n")
    _spawn_three(h)
    ports = list(h.ports)
    h._kill_all()
    stale = h.sockets_left()
    assert len(stale) >= 3, stale
    mark = h.log_mark()
    h.start(ports=ports)
    # the port opens before post_config sweeps: wait for the new manager
    h.wait_log(r"process manager pid=\d+ started", since=mark)
    kept = [s for s in h.sockets_left() if os.path.basename(s).startswith("b-")]
    assert kept == [], "stale sockets kept at start"
    assert h.get("/trac/?pid").status == 200
    h.stop()
    assert h.check_clean_after_stop() == []


def test_backends_of_a_killed_httpd_stopped_at_start(httpd):
    """kill -9 of httpd's process group (httpd, its children, the
    manager) leaves the backends, which live in sessions of their own;
    the next start stops them, found by their sockets, and says so."""
    h = httpd(TRAC)
    pids = _spawn_three(h)
    ports = list(h.ports)
    os.killpg(h.proc.pid, signal.SIGKILL)
    h.proc.wait(10)
    time.sleep(0.3)
    assert all(H.alive(p) for p in pids), "backends died with httpd"
    mark = h.log_mark()
    h.start(ports=ports)
    line = h.wait_log(r"TF01200: stopped (\d+) backend\(s\) that an "
                      r"earlier httpd left running on \S+ \(pid ([\d ]+)\)",
                      since=mark)
    assert int(line.group(1)) == len(pids)
    assert {int(p) for p in line.group(2).split()} == pids
    H.wait_until(lambda: not any(H.alive(p) for p in pids), 5,
                 what="the orphaned backends to end")
    r = h.get("/trac/?pid")
    assert r.status == 200 and pid_of(r.body) not in pids
    h.stop()
    assert h.check_clean_after_stop() == []


@pytest.mark.both_mpms
def test_stop_while_busy(httpd):
    h = httpd(TRAC)
    bg = Bg(h.get, "/trac/?sleep=5000&pid", timeout=30)
    bg.start()
    victim = sleeping_backend(h)
    took = h.stop()
    assert took < 12, "stop took %.1fs" % took
    assert h.check_clean_after_stop() == []
    assert not H.alive(victim)
    bg.join(10)


@pytest.mark.both_mpms
def test_graceful_restart(httpd):
    h = httpd(TRAC)
    assert h.get("/trac/?pid").status == 200
    h.graceful()
    for _ in range(3):
        r = h.get("/trac/?pid", timeout=30)
        assert r.status == 200
    assert len(h.backend_pids()) <= 4
    h.stop()
    assert h.check_clean_after_stop() == []
