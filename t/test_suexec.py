"""SuEXEC: backends of a virtual host with SuexecUserGroup run as that user,
started through httpd's own suexec binary, so suexec's checks apply. Every
test runs once with each flavour Debian has (apache2-suexec-pristine, whose
document root is compiled in, and apache2-suexec-custom, which reads it
from /etc/apache2/suexec/www-data): as root the test points the "suexec"
alternative at the flavour and puts it back afterwards; a flavour that is
not installed is skipped with that reason.

The scripts live in a fresh directory under suexec's document root, owned by
the target user (nobody:nogroup), and are removed afterwards.
"""

import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import httpd as H

SUEXEC = "/usr/lib/apache2/suexec"     # what httpd runs: an alternative
FLAVOURS = ("pristine", "custom")
TARGET_USER, TARGET_GROUP = "nobody", "nogroup"
CUSTOM_CONF = Path("/etc/apache2/suexec/www-data")   # httpd's User


def flavour_bin(flavour):
    return "/usr/lib/apache2/suexec-" + flavour


def suexec_docroot(flavour):
    """The document root suexec accepts scripts under."""
    if flavour == "custom":
        first = CUSTOM_CONF.read_text().splitlines()[0].strip()
        assert first and not first.startswith("#"), \
            "%s disables suexec's document root: %r" % (CUSTOM_CONF, first)
        return Path(first)
    out = subprocess.run([flavour_bin(flavour), "-V"], capture_output=True,
                         text=True)
    m = re.search(r'AP_DOC_ROOT="([^"]+)"', out.stdout + out.stderr)
    assert m, "cannot read suexec's document root: %r" % (out.stderr,)
    return Path(m.group(1))


def alternative():
    """(status, value) of the "suexec" alternative: ("auto", path), ..."""
    out = subprocess.run(["update-alternatives", "--query", "suexec"],
                         capture_output=True, text=True).stdout
    status = re.search(r"^Status: (\S+)", out, re.M)
    return (status.group(1) if status else None,
            os.path.realpath(SUEXEC))


def restore_alternative(status, value):
    """Put the alternative back: its value first; auto again only where
    auto chooses that value (two flavours of equal priority tie)."""
    def ua(*args):
        subprocess.run(("update-alternatives", "--quiet") + args, check=True)
    ua("--set", "suexec", value)
    if status == "auto":
        ua("--auto", "suexec")
        if os.path.realpath(SUEXEC) != value:
            ua("--set", "suexec", value)


@pytest.fixture(params=FLAVOURS)
def suexec_flavour(request):
    """httpd's suexec is this flavour for the test; the alternative is put
    back as it was (auto or manual) afterwards."""
    flavour = request.param
    path = flavour_bin(flavour)
    if not os.path.exists(path):
        pytest.skip("apache2-suexec-%s is not installed" % flavour)
    status, before = alternative()
    if before == path:
        yield flavour
        return
    if os.geteuid() != 0:
        pytest.skip("httpd's suexec is %s; switching to %s needs root"
                    % (before, path))
    subprocess.run(["update-alternatives", "--quiet", "--set", "suexec",
                    path], check=True)
    try:
        yield flavour
    finally:
        restore_alternative(status, before)


@pytest.fixture
def suexec_tree(suexec_flavour):
    """A directory under suexec's docroot with a copy of the responder owned
    by nobody:nogroup (accepted), and one owned by root (refused)."""
    root = suexec_docroot(suexec_flavour)
    root.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="tracfcgi-suexec-", dir=str(root)))
    uid = pwd.getpwnam(TARGET_USER).pw_uid
    gid = grp.getgrnam(TARGET_GROUP).gr_gid
    os.chmod(d, 0o755)
    os.chown(d, uid, gid)
    good = d / "app.fcgi"
    shutil.copyfile(str(H.APPS / "responder.fcgi"), str(good))
    os.chmod(good, 0o755)
    os.chown(good, uid, gid)
    bad = d / "rootowned.fcgi"
    shutil.copyfile(str(H.APPS / "responder.fcgi"), str(bad))
    os.chmod(bad, 0o755)          # owned by root: suexec refuses it
    yield d, uid, gid
    shutil.rmtree(str(d), ignore_errors=True)


def conf(d):
    return """
ScriptAlias /plain @APPS@/responder.fcgi/
<Directory "%(d)s">
    Require all granted
</Directory>
<VirtualHost 127.0.0.1:@PORT2@>
    ServerName suexec.test
    SuexecUserGroup %(u)s %(g)s
    TracFcgiCheckEnv Off
    TracEnv /srv/trac/projects/suexec
    TracFcgiInitEnv SEEN_BY_BACKEND yes
    ScriptAlias /app %(d)s/app.fcgi/
    ScriptAlias /refused %(d)s/rootowned.fcgi/
    <Location /tfstatus>
        SetHandler tracfcgi-status
    </Location>
</VirtualHost>
""" % {"d": d, "u": TARGET_USER, "g": TARGET_GROUP}


def lines(body, prefix):
    return dict(l[len(prefix):].split("=", 1) for l in
                body.decode("latin-1").splitlines() if l.startswith(prefix)
                and "=" in l)


def field(body, name):
    m = re.search(r"^%s:(\d+)$" % name, body.decode("latin-1"), re.M)
    return int(m.group(1)) if m else None


def test_suexec_identity_and_params(httpd, suexec_tree):
    d, uid, gid = suexec_tree
    h = httpd(conf(d), nports=2, extra_modules=[("suexec_module",
                                                 "mod_suexec.so")])
    r = h.get("/app/wiki/Start?env", port=h.ports[1])
    assert r.status == 200, r.body
    assert (field(r.body, "uid"), field(r.body, "gid")) == (uid, gid)
    params = lines(r.body, "param:")
    environ = lines(r.body, "environ:")
    # suexec keeps only its safe list: TRAC_ENV is gone from the process
    # environment, and the FastCGI param is what carries it to Trac
    assert params.get("trac.env_path") == "/srv/trac/projects/suexec"
    assert "TRAC_ENV" not in environ
    assert "SEEN_BY_BACKEND" not in environ
    # ... and the administrator is told, once, when the pool is created
    warned = h.log_lines(r"TF00442: pool \S+ runs through suexec")
    assert len(warned) == 1, warned
    assert "SEEN_BY_BACKEND will not reach it" in warned[0], warned
    assert "TRAC_ENV" not in warned[0]
    assert params["SCRIPT_NAME"] == "/app"
    assert params["PATH_INFO"] == "/wiki/Start"
    suexec_pid = field(r.body, "pid")

    # the main server has no suexec identity: www-data, another pool
    r2 = h.get("/plain/?env")
    assert r2.status == 200
    www = pwd.getpwnam("www-data")
    assert (field(r2.body, "uid"), field(r2.body, "gid")) == \
        (www.pw_uid, www.pw_gid)
    assert field(r2.body, "pid") != suexec_pid
    assert h.get("/app/?pid", port=h.ports[1]).status == 200
    assert len(h.log_lines(r"TF00442")) == 1  # that pool only, once

    # the status page shows the identity of each pool
    import json
    st = json.loads(h.get("/tfstatus?json", port=h.ports[1]).body)
    ids = {(p["uid"], p["gid"]) for p in st["pools"]}
    assert (uid, gid) in ids and (www.pw_uid, www.pw_gid) in ids


def test_suexec_refusal_is_reported(httpd, suexec_tree):
    d, uid, gid = suexec_tree
    h = httpd(conf(d), nports=2, extra_modules=[("suexec_module",
                                                 "mod_suexec.so")])
    r = h.get("/refused/?pid", port=h.ports[1])
    assert r.status == 503
    line = h.wait_log(r"suexec refused to run \S*rootowned\.fcgi as "
                      r"nobody:nogroup .*suexec\.log", timeout=5)
    assert line
    # the accepted script of the same host still works
    assert h.get("/app/?pid", port=h.ports[1]).status == 200


def test_suexec_declared_pool_warns(httpd, suexec_tree):
    """A TracFcgiServer pool under suexec is created at startup, not by a
    request: the manager names what suexec will strip (TF00123), once."""
    d, uid, gid = suexec_tree
    text = conf(d).replace(
        "    ScriptAlias /app",
        "    TracFcgiServer %s/app.fcgi DECLARED_TOO=yes\n"
        "    ScriptAlias /app" % d)
    h = httpd(text, nports=2, extra_modules=[("suexec_module",
                                              "mod_suexec.so")])
    line = h.wait_log(r"TF00123: pool \S+ runs through suexec.*: (.*) will "
                      r"not reach it").group(1)
    assert sorted(line.split()) == ["DECLARED_TOO", "SEEN_BY_BACKEND"], line
    assert h.get("/app/?pid", port=h.ports[1]).status == 200
    h.graceful()  # a new generation creates its pools anew: said again
    assert h.get("/app/?pid", port=h.ports[1]).status == 200
    H.wait_until(lambda: len(h.log_lines(r"TF00123")) == 2, 10,
                 what="TF00123 from the new generation's manager")
    assert len(h.log_lines(r"TF00123")) == 2


PHP_PAGE = """<?php
header('Content-Type: text/plain');
echo "uid=", posix_getuid(), "\\n";
echo "pid=", getmypid(), "\\n";
echo "script=", $_SERVER['SCRIPT_FILENAME'], "\\n";
echo "max=", getenv('PHP_FCGI_MAX_REQUESTS'), "\\n";
"""


def test_php_starter_under_suexec(httpd, suexec_tree):
    """mod_fcgid's per-user PHP set-up, unchanged: FcgidWrapper names the
    user's own php-fcgi-starter (under suexec's document root, owned by
    the user), which sets what suexec would strip and execs php-cgi; the
    .php files are plain files. php-cgi runs as the user, one pool for
    every page. /usr/bin/php-cgi itself, outside the document root, is
    refused by suexec, and the log says so."""
    php_cgi = shutil.which("php-cgi")
    if not php_cgi:
        pytest.skip("php-cgi not installed (Debian package php-cgi)")
    d, uid, gid = suexec_tree
    starter = d / "php-fcgi-starter"
    starter.write_text("#!/bin/sh\nPHP_FCGI_MAX_REQUESTS=200\n"
                       "export PHP_FCGI_MAX_REQUESTS\n"
                       "exec %s \"$@\"\n" % php_cgi)
    os.chmod(starter, 0o755)
    os.chown(starter, uid, gid)
    www = d / "www"
    www.mkdir()
    os.chmod(www, 0o755)
    os.chown(www, uid, gid)
    for n in ("a", "b"):
        (www / ("%s.php" % n)).write_text(PHP_PAGE)
        os.chmod(www / ("%s.php" % n), 0o644)
        os.chown(www / ("%s.php" % n), uid, gid)
    h = httpd("""
<VirtualHost 127.0.0.1:@PORT2@>
    ServerName php.suexec.test
    SuexecUserGroup %(u)s %(g)s
    Alias /php %(www)s
    Alias /direct %(www)s
    <Directory "%(www)s">
        Options +ExecCGI
        AddHandler fcgid-script .php
        FcgidWrapper %(starter)s .php
        FcgidMaxProcessesPerClass 1
        Require all granted
    </Directory>
    <Location /direct>
        FcgidWrapper %(php)s .php
    </Location>
</VirtualHost>
""" % {"u": TARGET_USER, "g": TARGET_GROUP, "www": www,
       "starter": starter, "php": php_cgi}, nports=2,
        extra_modules=[("suexec_module", "mod_suexec.so")])
    pids = set()
    for n in ("a", "b", "a"):
        r = h.get("/php/%s.php" % n, port=h.ports[1])
        assert r.status == 200, (r.status, r.body[:300])
        got = lines(r.body, "")
        assert int(got["uid"]) == uid
        assert got["script"] == str(www / ("%s.php" % n))
        assert got["max"] == "200"   # set by the starter, past suexec
        pids.add(int(got["pid"]))
    assert len(pids) == 1, pids
    r = h.get("/direct/a.php", port=h.ports[1])
    assert r.status == 503
    assert h.wait_log(r"suexec refused to run \S*php-cgi as "
                      r"nobody:nogroup .*suexec\.log", timeout=5)
