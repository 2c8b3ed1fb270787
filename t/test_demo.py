"""The README's main job: `sh t/demo.sh` starts Apache with mod_tracfcgi
serving two projects, prints only URLs that answer, and `sh t/demo.sh
stop` stops everything it started. Run here on a port and in a directory
of the test's own; with the sample app always, with real Trac when
TRAC_SRC names a Trac 1.6 source tree (skipped otherwise, with the
reason).
"""

import base64
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

import httpd as H

# make test-sanitized builds the module with a sanitizer, whose runtime only
# the suite's own httpd instances get preloaded; the demo's script starts
# apache2 itself (the plain run tests it)
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TRACFCGI_HTTPD_PRELOAD")),
    reason="the demo's apache2 cannot load a sanitizer build of the module")


def run_demo(tmp, port, trac_src=None):
    env = dict(os.environ, TMPDIR=str(tmp), PORT=str(port))
    env.pop("TRAC_SRC", None)
    if trac_src:
        env["TRAC_SRC"] = trac_src
    return subprocess.run(["sh", "t/demo.sh"], cwd=str(H.REPO), env=env,
                          capture_output=True, text=True, timeout=600)


def stop_demo(tmp, port):
    env = dict(os.environ, TMPDIR=str(tmp), PORT=str(port))
    subprocess.run(["sh", "t/demo.sh", "stop"], cwd=str(H.REPO), env=env,
                   capture_output=True, timeout=60)
    conf = str(tmp / "tracfcgi-demo" / "httpd.conf")
    H.wait_until(lambda: not [p for p in H.all_procs()
                              if conf in " ".join(p.argv)], 15,
                 what="the demo's httpd to stop")


def get(url, host=None, auth=None):
    req = urllib.request.Request(url)
    if host:
        req.add_header("Host", host)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(
            auth.encode()).decode())
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.read().decode("utf-8", "replace")


@pytest.fixture
def demo_dir():
    tmp = Path(tempfile.mkdtemp(prefix="tf-demo-"))
    os.chmod(tmp, 0o755)
    port = H.free_port()
    yield tmp, port
    stop_demo(tmp, port)
    shutil.rmtree(tmp, ignore_errors=True)


def check_printed(out, port):
    assert "not answering" not in out, out
    urls = re.findall(r"^  curl .*", out, re.M)
    assert len(urls) == 6, out
    assert all(("127.0.0.1:%d" % port) in u for u in urls)


def test_demo_sample_app(demo_dir):
    tmp, port = demo_dir
    r = run_demo(tmp, port)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "the Trac-like sample app" in out and "TRAC_SRC" in out
    check_printed(out, port)
    u = "http://127.0.0.1:%d" % port
    st, body = get(u + "/projects/")
    assert st == 200 and "project: alpha" in body
    st, body = get(u + "/trac/", host="alpha.localhost")
    assert "project: Project Alpha" in body
    st, body = get(u + "/trac/login", host="alpha.localhost",
                   auth="alice:secret")
    assert "user: alice" in body
    # the POST it says takes one
    req = urllib.request.Request(u + "/trac/newticket",
                                 data=b"summary=hello", method="POST")
    req.add_header("Host", "alpha.localhost")
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 200 and b"created: " in resp.read()
    # started again over a running one: it replaces it
    r = run_demo(tmp, port)
    assert r.returncode == 0, r.stdout + r.stderr
    check_printed(r.stdout, port)


@pytest.mark.skipif(not os.environ.get("TRAC_SRC"),
                    reason="no Trac source tree: set TRAC_SRC to one "
                    "(Trac 1.6) to run the demo with real Trac")
def test_demo_real_trac(demo_dir):
    tmp, port = demo_dir
    t0 = time.monotonic()
    r = run_demo(tmp, port, os.environ["TRAC_SRC"])
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "serves real Trac" in out
    check_printed(out, port)
    u = "http://127.0.0.1:%d" % port
    st, body = get(u + "/trac/", host="alpha.localhost")
    assert st == 200 and "Project alpha" in body
    st, body = get(u + "/projects/")
    assert "Project alpha" in body and "Project beta" in body
    print("\ndemo with real Trac ready in %.1f s" % (time.monotonic() - t0))
