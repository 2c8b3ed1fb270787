"""Migration from mod_fcgid: its directive and handler names, unchanged,
when mod_fcgid is not loaded (src/compat.c). Its knobs that mean nothing
here are accepted and said at configtest.
"""

import re

import pytest

import httpd as H
import test_conf_samples as C

FCGID_SITE = """
<Directory @TMP@/app>
    Options +ExecCGI
    AddHandler fcgid-script .fcgi
    Require all granted
</Directory>
Alias /app @TMP@/app
FcgidInitialEnv FROM_FCGID yes
FcgidMaxProcessesPerClass 1
FcgidIOTimeout 40
FcgidSpawnScore 1
FcgidTerminationScore 2
FcgidOutputBufferSize 65536
"""


def test_fcgid_site_unchanged(httpd):
    h = httpd(FCGID_SITE)
    d = h.tmp / "app"
    d.mkdir()
    d.chmod(0o755)
    script = d / "responder.fcgi"
    script.write_bytes((H.APPS / "responder.fcgi").read_bytes())
    script.chmod(0o755)
    r = h.get("/app/responder.fcgi?env")
    assert r.status == 200, r.body[:300]
    assert b"environ:FROM_FCGID=yes" in r.body
    # FcgidMaxProcessesPerClass 1: one process for two at once
    pids = {int(re.search(rb"^pid:(\d+)", h.get(
        "/app/responder.fcgi?env").body, re.M).group(1)) for _ in range(3)}
    assert len(pids) == 1


def test_ignored_knobs_said_at_configtest():
    r = C.configtest(FCGID_SITE)
    assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stdout
    lines = [ln for ln in r.stdout.splitlines() if "TF00901" in ln]
    assert len(lines) == 3, r.stdout
    assert re.search(r"FcgidSpawnScore \(.*httpd\.conf:\d+\) is ignored: "
                     r"a process is started", lines[0]), lines


def test_mod_fcgid_loaded_keeps_its_own():
    """With mod_fcgid loaded too, its directives are its own: no
    startup error, no double meaning."""
    so = H.Path(H.MODDIR) / "mod_fcgid.so"
    if not so.exists():
        pytest.skip("mod_fcgid is not installed (Debian: "
                    "libapache2-mod-fcgid)")
    r = C.configtest(FCGID_SITE, extra_modules=[("fcgid_module",
                                                 "mod_fcgid.so")])
    assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stdout
    assert "TF00901" not in r.stdout
