"""pytest fixtures for the mod_tracfcgi integration tests.

    def test_x(httpd):
        h = httpd("ScriptAlias /trac @APPS@/responder.fcgi/")
        status, headers, body = h.get("/trac/?pid")

`httpd(body, **kw)` starts an instance (see t/httpd.py: Httpd) and returns
it; it is stopped at teardown, which fails the test when a process, socket
or runtime file of the instance survives the stop.  When a test fails its
error_log is attached to the report.

MPM: tests marked @pytest.mark.both_mpms run under event and prefork, the
others under event.  MPM=event|prefork in the environment runs every test
under that MPM only.  TRACFCGI_KEEP=1 keeps the instance directories.
"""

import os

import pytest

import extsrv
import httpd as H
import netns

LOG_TAIL = 200000   # characters of error_log attached to a failure


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "both_mpms: run the test under the event and prefork MPM")


def _mpms_from_env():
    v = os.environ.get("MPM", "").strip()
    if not v:
        return None
    if v not in H.MPMS:
        raise pytest.UsageError("MPM must be one of %s" % (H.MPMS,))
    return [v]


def pytest_generate_tests(metafunc):
    if "mpm" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("both_mpms") is None:
        return
    metafunc.parametrize("mpm", _mpms_from_env() or list(H.MPMS))


@pytest.fixture
def mpm():
    env = _mpms_from_env()
    return env[0] if env else "event"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for i, h in enumerate(getattr(item, "_httpds", [])):
        log = h.error_log().encode("latin-1").decode("utf-8", "replace")
        if len(log) > LOG_TAIL:
            log = "[... %d characters cut ...]\n" % (len(log) - LOG_TAIL) + \
                log[-LOG_TAIL:]
        rep.sections.append(("httpd #%d error_log (%s, %s)" % (
            i, h.mpm, h.tmp), log))


@pytest.fixture
def httpd(request, mpm):
    """Factory: httpd(body="", **kw) -> started H.Httpd (start=False:
    not yet, e.g. to put files in its directory first)."""
    servers = []
    request.node._httpds = servers

    def factory(body="", start=True, **kw):
        kw.setdefault("mpm", mpm)
        kw.setdefault("name", request.node.name)
        h = H.Httpd(body, **kw)
        servers.append(h)
        if start:
            h.start()
        return h

    yield factory

    problems = []
    keep = bool(os.environ.get("TRACFCGI_KEEP"))
    for h in servers:
        try:
            was_running = h.running()
            h.stop()
            if was_running or h.proc is not None:
                problems += ["%s: %s" % (h.tmp, p)
                             for p in h.check_clean_after_stop()]
            # a sanitizer report anywhere in the instance's output fails
            # the test (make test-sanitized)
            out = h.error_log() + (H._read(h.tmp / "stdout", "r") or "")
            for marker in ("ERROR: AddressSanitizer", "runtime error:"):
                if marker in out:
                    i = out.index(marker)
                    problems.append("%s: sanitizer: %s" % (
                        h.tmp, out[max(0, i - 200):i + 1500]))
        except Exception as e:     # noqa: BLE001 - report, keep cleaning
            problems.append("%s: stop failed: %s" % (h.tmp, e))
        finally:
            h.cleanup(keep=keep)
    if problems:
        pytest.fail("unclean shutdown:\n" + "\n".join(problems),
                    pytrace=False)


@pytest.fixture
def servers():
    """The test's external FastCGI servers (t/extsrv.py): all killed, and
    their directories removed, at teardown."""
    s = extsrv.Servers()
    yield s
    s.stop_all()


@pytest.fixture
def hosts():
    """Two other hosts made of network namespaces (t/netns.py), removed at
    teardown; the test is skipped, with the reason, where they cannot be
    made."""
    why = netns.why_not()
    if why:
        pytest.skip(why)
    made = netns.Hosts(2)
    with made as hs:
        yield hs
    assert made.left() == [], "namespaces or links left: %s" % made.left()

