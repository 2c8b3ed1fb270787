"""Helpers shared by test_hostile_backend.py, test_hostile_client.py and
test_faults.py: the status page as JSON, waiting until every pool is quiet
again, crash and zombie checks, and the constants of t/apps/hostile.fcgi."""

import importlib.machinery
import importlib.util
import json
import os
import re
import sys
import time

import httpd as H

STATUS_LOCATION = """
<Location /tfstatus>
    SetHandler tracfcgi-status
</Location>
"""

HOSTILE = H.APPS / "hostile.fcgi"
# a check-out may lose the mode bit; the harness only fixes its own apps
if HOSTILE.exists() and not os.access(HOSTILE, os.X_OK):
    HOSTILE.chmod(HOSTILE.stat().st_mode | 0o755)

PM_RX = r"process manager pid=(\d+) started"
CRASH_RX = r"exit signal|Segmentation fault|AH00052|AH00050|double free|" \
           r"stack smashing|AddressSanitizer"


def load_hostile():
    """t/apps/hostile.fcgi as a module (for its constants)."""
    loader = importlib.machinery.SourceFileLoader("hostile_fcgi",
                                                  str(HOSTILE))
    spec = importlib.util.spec_from_loader("hostile_fcgi", loader)
    mod = importlib.util.module_from_spec(spec)
    old = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        loader.exec_module(mod)
    finally:
        sys.dont_write_bytecode = old
    return mod


def status_json(h, timeout=10):
    r = h.get("/tfstatus?json", timeout=timeout)
    assert r.status == 200, (r.status, r.body[:300])
    return json.loads(r.body.decode("utf-8"))


def procs_of(st):
    return [p for pool in st["pools"] for p in pool["processes"]]


def not_quiet(st):
    """What keeps the table from being quiet (every process idle with no
    connection, nobody waiting), as a list of strings; [] when quiet."""
    bad = []
    if st["waiting"]:
        bad.append("waiting=%d" % st["waiting"])
    for pool in st["pools"]:
        if pool["waiting"]:
            bad.append("pool %s waiting=%d" % (pool["name"], pool["waiting"]))
        for p in pool["processes"]:
            if p["state"] != "idle" or p["conns"]:
                bad.append("pid %d state=%s conns=%d" % (p["pid"], p["state"],
                                                         p["conns"]))
    return bad


def wait_quiet(h, timeout=8):
    """Wait until no slot is held or waited for; fail with what is left.
    The status request itself holds no backend slot."""
    last = [None]

    def quiet():
        st = status_json(h)
        last[0] = st
        return not not_quiet(st)

    try:
        H.wait_until(quiet, timeout, interval=0.1, what="quiet pools")
    except TimeoutError:
        raise AssertionError("backend slots still held or waited for %ss "
                             "later: %s" % (timeout, not_quiet(last[0])))
    return last[0]


def assert_no_crash(h, since=0):
    lines = h.log_lines(CRASH_RX, since=since)
    assert not lines, "an httpd process crashed:\n" + "\n".join(lines[:5])


def pm_pid(h):
    return status_json(h)["pm_pid"]


def zombies(h, parents):
    """Zombie processes whose parent is one of @parents."""
    out = []
    for p in H.all_procs():
        if p.state == "Z" and p.ppid in parents:
            out.append(p)
    return out


def wait_no_zombies(h, extra_parents=(), timeout=5):
    """Wait until no zombie has this httpd, one of its children or its
    process manager (or @extra_parents) as parent."""
    def parents():
        ps = {h.pid} | set(h.httpd_children()) | set(extra_parents)
        try:
            ps.add(pm_pid(h))
        except Exception:       # noqa: BLE001 - the status page may be busy
            pass
        ps.discard(None)
        return ps

    left = []

    def none_left():
        left[:] = zombies(h, parents())
        return not left

    try:
        H.wait_until(none_left, timeout, interval=0.1, what="no zombies")
    except TimeoutError:
        raise AssertionError("zombies left: %s" % [
            (z.pid, z.ppid, z.argv or z.exe) for z in left])


def log_count(h, regex, since=0):
    return len(h.log_lines(regex, since=since))


def head_lines(raw):
    """The status line and header lines of a raw response, as bytes (split
    on CRLF only, so that a bare CR or LF stays visible)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")


def check_head_clean(raw):
    """A response head with no bare CR, LF or NUL inside a line."""
    for ln in head_lines(raw):
        assert b"\r" not in ln and b"\n" not in ln and b"\0" not in ln, \
            "a header line carries a raw CR/LF/NUL: %r" % ln[:200]
    assert re.match(rb"HTTP/1\.[01] \d{3} ", head_lines(raw)[0]), \
        "not a status line: %r" % head_lines(raw)[0][:100]


def wait_gone(pid, timeout=5):
    H.wait_until(lambda: not H.alive(pid), timeout,
                 what="pid %d to be stopped" % pid)


def elapsed(fn, *a, **kw):
    t0 = time.monotonic()
    r = fn(*a, **kw)
    return r, time.monotonic() - t0
