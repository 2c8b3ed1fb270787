"""The configuration samples conf/*.conf.sample: each passes `apache2 -t`
and, where this machine can serve it, answers as its comment says.

Every sample writes its paths under /srv/trac (Trac's usual place). A test
builds that tree in a fresh directory TREE under /tmp with
t/apps/mkproject.py's make_site() and rewrites the sample's text before
handing it to the t/httpd.py harness (which wraps it in its own httpd.conf:
ServerRoot, Listen 127.0.0.1:<free port>, PidFile, ErrorLog,
DefaultRuntimeDir, the LoadModule lines, mod_tracfcgi.so of this
repository). The mapping:

    /srv/trac                    -> TREE
      cgi-bin/trac.fcgi          -> a copy of t/apps/tracapp.fcgi
      htdocs/common/css/trac.css -> a small static file
      projects/main, alpha, beta -> make_project() environments named
                                    Main, Alpha, Beta, owned by www-data
      eggs/                      -> a directory www-data may write
      htpasswd                   -> user alice, password secret
    <VirtualHost *:80>           -> <VirtualHost *:<the test port>>
    SuexecUserGroup trac trac    -> SuexecUserGroup nobody nogroup
                                    (configtest only: it looks them up)
    10.0.x.y (other hosts)       -> 127.0.0.1 (configtest probes an
                                    external server's addresses)

Host names of the samples (trac.example.org, dev.example.org) are sent as
Host headers. The suEXEC sample gets `apache2 -t` only (suexec runs nothing
under /tmp); status.conf.sample is served together with
trac-single.conf.sample.
"""

import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import httpd as H

sys.path.insert(0, str(H.APPS))
import mkproject  # noqa: E402  (t/apps is not a package)

CONF = H.REPO / "conf"
SRV = "/srv/trac"
TRACAPP = H.APPS / "tracapp.fcgi"
TREE_PREFIX = "tracfcgi-tree-"
SUEXEC_BIN = "/usr/lib/apache2/suexec"
PROJECTS = (("main", "Main"), ("alpha", "Alpha"), ("beta", "Beta"))
USER, PASSWORD = "alice", "secret"

EXPECTED = [
    "php-fpm-external.conf.sample",
    "php-wrapper.conf.sample",
    "status.conf.sample",
    "trac-auth.conf.sample",
    "trac-env.conf.sample",
    "trac-external.conf.sample",
    "trac-locations.conf.sample",
    "trac-parentdir.conf.sample",
    "trac-rootmount.conf.sample",
    "trac-scaleout.conf.sample",
    "trac-single.conf.sample",
    "trac-static.conf.sample",
    "trac-suexec.conf.sample",
    "trac-vhosts.conf.sample",
]
SAMPLES = sorted(p.name for p in CONF.glob("*.conf.sample"))
# samples that are not about a Trac environment under /srv/trac
NOT_TRAC = ("status.conf.sample", "php-fpm-external.conf.sample",
            "php-wrapper.conf.sample")

# Modules a sample needs beyond the harness's base set.
BALANCER_MODULES = [
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
    ("slotmem_shm_module", "mod_slotmem_shm.so"),
    ("proxy_balancer_module", "mod_proxy_balancer.so"),
    ("lbmethod_byrequests_module", "mod_lbmethod_byrequests.so"),
    ("proxy_hcheck_module", "mod_proxy_hcheck.so"),
]

EXTRA_MODULES = {
    "trac-suexec.conf.sample": [("suexec_module", "mod_suexec.so")],
    "status.conf.sample": [("authz_host_module", "mod_authz_host.so")],
}


# --------------------------------------------------------------------------
# helpers (also used by test_tracapp.py)


def need_tracapp():
    src = H.APPS / "tracapp.c"
    if not TRACAPP.exists() or \
            TRACAPP.stat().st_mtime < src.stat().st_mtime:
        pytest.fail("t/apps/tracapp.fcgi is missing or older than "
                    "tracapp.c: run make apps", pytrace=False)


def make_tree(projects=PROJECTS):
    need_tracapp()
    root = Path(tempfile.mkdtemp(prefix=TREE_PREFIX))
    try:
        mkproject.make_site(root, TRACAPP, projects=projects,
                            users=((USER, PASSWORD),))
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root


def render(text, tree):
    """The sample's text for this machine (see the module docstring)."""
    text = text.replace(SRV, str(tree))
    # the hosts of the samples (10.0.x.y) become the loopback: configtest
    # probes a TracFcgiExternalServer's addresses, and the tests send
    # nothing to any other address
    text = re.sub(r"\b10\.0\.\d{1,3}\.\d{1,3}\b", "127.0.0.1", text)
    text = re.sub(r"<VirtualHost \*:80>", "<VirtualHost *:@PORT@>", text)
    text = re.sub(r"(?m)^(\s*SuexecUserGroup)\s+trac\s+trac\s*$",
                  r"\1 nobody nogroup", text)
    return text


def configtest(body, mpm="event", extra_modules=(), args=()):
    """Write the harness's httpd.conf around @body and run apache2 -t on
    it. Returns the CompletedProcess (stdout and stderr merged)."""
    h = H.Httpd(body, mpm=mpm, extra_modules=extra_modules)
    try:
        h.ports = [H.free_port()]
        h.conf.write_text(h.config_text())
        env = h.httpd_env()
        return subprocess.run([H.APACHE, "-t", "-f", str(h.conf)] +
                              list(args),
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              cwd=str(h.tmp), env=env, timeout=60)
    finally:
        # never started: nothing to stop, only the directory to remove
        shutil.rmtree(h.tmp, ignore_errors=True)


def page(resp):
    """tracapp's "key: value" lines -> dict; "ticket" and "projects" (every
    "project:" line, for the index) are lists."""
    out = {"ticket": [], "projects": []}
    for ln in resp.body.decode("utf-8", "replace").split("\n"):
        k, sep, v = ln.partition(": ")
        if not sep:
            continue
        if k == "ticket":
            out["ticket"].append(v)
        else:
            if k == "project":
                out["projects"].append(v)
            out.setdefault(k, v)
    return out


def basic(user, password):
    tok = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return {"Authorization": "Basic " + tok}


def proc_environ(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        raw = f.read()
    out = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            k, _, v = item.partition(b"=")
            out[k.decode()] = v.decode("utf-8", "replace")
    return out


def get_page(h, path, host=None, headers=None, status=200):
    hd = dict(headers or {})
    if host:
        hd["Host"] = host
    r = h.get(path, headers=hd)
    assert r.status == status, "%s (Host %s): %d %r" % (
        path, host, r.status, r.body[:500])
    return page(r)


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture
def tree():
    root = make_tree()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def sample_text(name):
    return (CONF / name).read_text()


# --------------------------------------------------------------------------
# the set of samples and their form


def test_all_samples_present():
    missing = [n for n in EXPECTED if n not in SAMPLES]
    assert not missing, "conf samples missing: %s" % missing


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_form(name):
    text = sample_text(name)
    lines = text.splitlines()
    assert lines and lines[0].startswith("# "), \
        "%s must start with a header comment" % name
    header = []
    for ln in lines:
        if not ln.startswith("#"):
            break
        header.append(ln)
    assert len(header) >= 4, "%s: header comment too short" % name
    for ln in lines:
        assert len(ln) <= 79, "%s: line longer than 79: %r" % (name, ln)
    # no machine paths: Trac-typical and system ones only
    for bad in ("/tmp/", "/home/", "/root/", "/opt/"):
        assert bad not in text, "%s mentions %s" % (name, bad)
    assert SRV in text or name in NOT_TRAC, \
        "%s: no %s path for the tests to map" % (name, SRV)


# --------------------------------------------------------------------------
# apache2 -t


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_configtest(name, tree):
    if name == "trac-suexec.conf.sample" and not os.path.exists(SUEXEC_BIN):
        pytest.skip("suEXEC is not installed (%s; Debian: apt-get install "
                    "apache2-suexec-pristine): SuexecUserGroup is refused"
                    % SUEXEC_BIN)
    body = render(sample_text(name), tree)
    r = configtest(body, extra_modules=EXTRA_MODULES.get(name, ()))
    assert r.returncode == 0 and "Syntax OK" in r.stdout, \
        "apache2 -t on %s (exit %d):\n%s" % (name, r.returncode, r.stdout)


# --------------------------------------------------------------------------
# serving


def serve(httpd, name, tree, **kw):
    return httpd(render(sample_text(name), tree),
                 extra_modules=EXTRA_MODULES.get(name, ()), **kw)


def test_single(httpd, tree):
    h = serve(httpd, "trac-single.conf.sample", tree)
    p = get_page(h, "/trac/wiki/WikiStart")
    assert p["project"] == "Main"
    assert p["env"] == str(tree / "projects/main")
    assert p["source"] == "param"
    assert p["script_name"] == "/trac"
    assert p["path_info"] == "/wiki/WikiStart"
    assert p["ticket"] == ["1 First sample ticket", "2 Second sample ticket"]
    env = proc_environ(int(p["pid"]))
    assert env.get("TRAC_ENV") == str(tree / "projects/main")


def test_vhosts(httpd, tree):
    h = serve(httpd, "trac-vhosts.conf.sample", tree)
    pids = {"alpha": set(), "beta": set()}
    for _ in range(3):
        for host, proj in (("trac.example.org", "alpha"),
                           ("dev.example.org", "beta")):
            p = get_page(h, "/trac/timeline", host=host)
            assert p["project"] == proj.capitalize(), host
            assert p["env"] == str(tree / "projects" / proj), host
            assert p["source"] == "param", host
            pid = int(p["pid"])
            assert proc_environ(pid).get("TRAC_ENV") == \
                str(tree / "projects" / proj), host
            pids[proj].add(pid)
    assert not pids["alpha"] & pids["beta"], pids


def test_locations(httpd, tree):
    h = serve(httpd, "trac-locations.conf.sample", tree)
    pids = {"alpha": set(), "beta": set()}
    for _ in range(3):
        for prefix, proj in (("/first", "alpha"), ("/second", "beta")):
            p = get_page(h, prefix + "/report/1")
            assert p["project"] == proj.capitalize(), prefix
            assert p["env"] == str(tree / "projects" / proj), prefix
            assert p["script_name"] == prefix
            assert p["path_info"] == "/report/1"
            pid = int(p["pid"])
            assert proc_environ(pid).get("TRAC_ENV") == \
                str(tree / "projects" / proj), prefix
            pids[proj].add(pid)
    assert not pids["alpha"] & pids["beta"], pids


def test_parentdir(httpd, tree):
    h = serve(httpd, "trac-parentdir.conf.sample", tree)
    idx = get_page(h, "/projects/")
    assert idx["index"] == str(tree / "projects")
    assert idx["projects"] == ["alpha", "beta", "main"], idx
    p = get_page(h, "/projects/alpha/wiki/WikiStart")
    assert p["project"] == "Alpha"
    assert p["env"] == str(tree / "projects/alpha")
    assert p["script_name"] == "/projects/alpha"
    assert p["path_info"] == "/wiki/WikiStart"
    assert p["user"] == "-"
    env = proc_environ(int(p["pid"]))
    assert env.get("TRAC_ENV_PARENT_DIR") == str(tree / "projects")
    assert "TRAC_ENV" not in env
    # the login page of every project asks for a password
    r = h.get("/projects/beta/login")
    assert r.status == 401, r
    p = get_page(h, "/projects/beta/login", headers=basic(USER, PASSWORD))
    assert p["project"] == "Beta"
    assert p["user"] == USER
    assert p["auth_type"] == "Basic"


def test_auth(httpd, tree):
    h = serve(httpd, "trac-auth.conf.sample", tree)
    r = h.get("/trac/login")
    assert r.status == 401, r
    assert "basic" in r.headers.get("WWW-Authenticate", "").lower()
    assert b"project:" not in r.body
    r = h.get("/trac/login", headers=basic(USER, "wrong"))
    assert r.status == 401, r
    p = get_page(h, "/trac/login", headers=basic(USER, PASSWORD))
    assert p["project"] == "Main"
    assert p["user"] == USER
    assert p["auth_type"] == "Basic"
    assert p["path_info"] == "/login"
    # the rest of Trac is open; the user is anonymous there
    p = get_page(h, "/trac/wiki")
    assert p["user"] == "-"
    assert p["auth_type"] == "-"


def test_static(httpd, tree):
    h = serve(httpd, "trac-static.conf.sample", tree)
    before = set(h.backend_pids(str(tree / "cgi-bin/trac.fcgi")))
    r = h.get("/trac/chrome/common/css/trac.css")
    assert r.status == 200, r
    assert r.body == mkproject.STATIC_CSS.encode()
    assert r.headers.get("Content-Type", "").startswith("text/css")
    assert r.headers.get("ETag"), "no ETag: not served by Apache's core"
    assert set(h.backend_pids(str(tree / "cgi-bin/trac.fcgi"))) == before, \
        "a static file started a trac.fcgi backend"
    # only common/ is Apache's; the rest of chrome is Trac's
    p = get_page(h, "/trac/chrome/site/logo.png")
    assert p["project"] == "Main"
    assert p["path_info"] == "/chrome/site/logo.png"
    p = get_page(h, "/trac/wiki")
    assert p["project"] == "Main"


def test_env(httpd, tree):
    h = serve(httpd, "trac-env.conf.sample", tree,
              env={"TZ": "Europe/Berlin"})
    p = get_page(h, "/trac/wiki")
    assert p["project"] == "Main"
    assert p["egg_cache"] == str(tree / "eggs")
    assert p["locale"] == "ru"
    env = proc_environ(int(p["pid"]))
    assert env.get("LC_TIME") == "ru_RU.UTF-8"
    assert env.get("PYTHON_EGG_CACHE") == str(tree / "eggs")
    assert env.get("TZ") == "Europe/Berlin"
    assert env.get("TRAC_ENV") == str(tree / "projects/main")
    assert "trac.locale" not in env


def test_rootmount(httpd, tree):
    h = serve(httpd, "trac-rootmount.conf.sample", tree)
    p = get_page(h, "/wiki/WikiStart", host="trac.example.org")
    assert p["project"] == "Main"
    assert p["script_name"] == ""
    assert p["path_info"] == "/wiki/WikiStart"
    p = get_page(h, "/", host="trac.example.org")
    assert p["script_name"] == ""
    assert p["path_info"] == "/"
    r = h.get("/chrome/common/css/trac.css",
              headers={"Host": "trac.example.org"})
    assert r.status == 200 and r.body == mkproject.STATIC_CSS.encode(), r


def test_scaleout_balancer_configtest(tree):
    """trac-scaleout.conf.sample as the balancer node reads it."""
    r = configtest(render(sample_text("trac-scaleout.conf.sample"), tree),
                   extra_modules=BALANCER_MODULES,
                   args=("-D", "TracBalancer"))
    assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stdout


def unit_command(tree):
    """conf/trac-fcgi.service.sample for this machine: its environment,
    ExecStartPre and ExecStart (continuation lines joined)."""
    text = render((CONF / "trac-fcgi.service.sample").read_text(), tree)
    text = re.sub(r"\\\n\s*", "", text)
    env, pre, start = {}, None, None
    for ln in text.splitlines():
        key, _, val = ln.partition("=")
        if key == "Environment":
            k, _, v = val.partition("=")
            env[k] = v
        elif key == "ExecStartPre":
            pre = val.split()
        elif key == "ExecStart":
            start = val.split()
    return env, pre, start


def test_external_sample_and_its_unit(httpd, servers, tree):
    """trac-external.conf.sample, with the FastCGI server started exactly
    as trac-fcgi.service.sample says (its ExecStartPre, ExecStart and
    environment): Apache reaches it by its socket."""
    unit = (CONF / "trac-fcgi.service.sample").read_text()
    for section in ("[Unit]", "[Service]", "[Install]"):
        assert section in unit
    env, pre, start = unit_command(tree)
    assert start[0] == "/usr/bin/spawn-fcgi" and "-n" in start
    sock = start[start.index("-s") + 1]
    assert sock == str(tree / "run/trac.sock")
    assert ("unix:" + SRV + "/run/trac.sock") in \
        sample_text("trac-external.conf.sample")
    subprocess.run(pre, check=True)
    srv = servers._start("spawn-fcgi", start, ("unix", sock), "unix:" + sock,
                         servers._dir("unit"),
                         env=dict(os.environ, **env))
    h = serve(httpd, "trac-external.conf.sample", tree)
    p = get_page(h, "/trac/wiki/WikiStart", host="trac.example.org")
    assert p["project"] == "Main"
    assert p["script_name"] == "/trac"
    assert p["path_info"] == "/wiki/WikiStart"
    assert int(p["pid"]) == srv.pid        # spawn-fcgi -n: the same process
    assert h.backend_pids(str(tree / "cgi-bin/trac.fcgi")) == []
    r = h.get("/trac/login", headers={"Host": "trac.example.org"})
    assert r.status == 401, r


def test_status(httpd, tree):
    """The status page, next to a Trac: it lists the trac.fcgi pool and the
    process that answered."""
    body = sample_text("status.conf.sample") + \
        sample_text("trac-single.conf.sample")
    h = httpd(render(body, tree),
              extra_modules=EXTRA_MODULES["status.conf.sample"])
    p = get_page(h, "/trac/wiki")
    r = h.get("/tracfcgi-status")
    assert r.status == 200, r
    text = r.body.decode("utf-8", "replace")
    assert str(tree / "cgi-bin/trac.fcgi") in text, text
    assert re.search(r"\b%s\b" % p["pid"], text), \
        "backend pid %s not on the status page:\n%s" % (p["pid"], text)


# --------------------------------------------------------------------------
# the README's configurations: each one pasted as it stands

README = H.REPO / "README"


def readme_configs():
    """The README's indented blocks that are Apache configuration (a
    section or a LoadModule line), in order."""
    blocks, cur = [], []
    for ln in README.read_text().split("\n") + [""]:
        if ln.startswith("    ") or (cur and not ln.strip()):
            cur.append(ln)
            continue
        if cur:
            blocks.append("\n".join(cur).strip("\n") + "\n")
        cur = []
    return [b for b in blocks
            if re.search(r"(?m)^\s*(<[A-Za-z]|LoadModule\b)", b)]


README_CONFIGS = readme_configs()


def test_readme_has_configs():
    assert len(README_CONFIGS) >= 3, README_CONFIGS


@pytest.mark.parametrize("i", range(len(README_CONFIGS)))
def test_readme_config_configtest(i, tree):
    body = render(README_CONFIGS[i], tree)
    r = configtest(body, extra_modules=[("authz_host_module",
                                         "mod_authz_host.so")])
    assert r.returncode == 0 and "Syntax OK" in r.stdout, \
        "apache2 -t on the README's block %d (exit %d):\n%s\n%s" % (
            i, r.returncode, README_CONFIGS[i], r.stdout)


def test_readme_trac_config_serves(httpd, tree):
    """The README's first Trac configuration, pasted into a server that
    denies every directory it does not grant (as Debian's apache2.conf):
    Trac answers, and its login asks for a password."""
    text = next(b for b in README_CONFIGS if "TracEnv " in b)
    h = httpd(render(text, tree))
    p = get_page(h, "/trac/wiki/WikiStart", host="trac.example.org")
    assert p["project"] == "Main"
    assert p["path_info"] == "/wiki/WikiStart"
    r = h.get("/trac/login", headers={"Host": "trac.example.org"})
    assert r.status == 401, r
