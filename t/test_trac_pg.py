"""Real Trac on PostgreSQL, served by two web nodes.

A "database host" (a network namespace, t/netns.py) runs Debian's
PostgreSQL with password authentication; one Trac environment is created
there with `trac-admin initenv ... postgres://...`; two web nodes, each
an Apache + mod_tracfcgi in a host of its own, serve that environment
(the files/ of one environment directory stand for shared storage). A
login made through node A is valid through node B (Trac keeps its
sessions in the database), and a ticket created through A is shown by B.
TracFcgiCheckEnv at each node's start checks the database server and
never logs the password.

Trac is not a Debian package: the test runs with a Trac source tree named
by TRAC_SRC (Trac 1.6; it is copied, never changed) and is skipped, with
the reason, without one. Also needed: postgresql, python3-psycopg2,
python3-jinja2, python3-setuptools, apache2-utils (htpasswd), and root
for the namespaces.
"""

import base64
import glob
import http.client
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

import netns
import pgserver

TRAC_SRC = os.environ.get("TRAC_SRC", "")
PY = "/usr/bin/python3"
DB_PASSWORD = "Tr4cDbPassw0rd"
USER, PASSWORD = "alice", "secret"


def why_not():
    if not TRAC_SRC:
        return ("no Trac source tree: set TRAC_SRC to one (Trac 1.6) to run "
                "Trac on PostgreSQL")
    if not os.path.isfile(os.path.join(TRAC_SRC, "trac", "__init__.py")):
        return "TRAC_SRC=%s is not a Trac source tree" % TRAC_SRC
    if pgserver.why_not():
        return pgserver.why_not()
    for mod, pkg in (("psycopg2", "python3-psycopg2"),
                     ("jinja2", "python3-jinja2"),
                     ("setuptools", "python3-setuptools")):
        r = subprocess.run([PY, "-c", "import " + mod], capture_output=True)
        if r.returncode != 0:
            return "%s is not installed (Debian: %s)" % (mod, pkg)
    if not shutil.which("htpasswd"):
        return "htpasswd is not installed (Debian: apache2-utils)"
    return netns.why_not()


WHY_NOT = why_not()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    assert r.returncode == 0, "%s: %s%s" % (argv, r.stdout[-2000:],
                                            r.stderr[-2000:])
    return r


class Site:
    """The database host's PostgreSQL, the Trac tree, the environment."""

    def __init__(self, root, db_host):
        self.root = root
        self.db = db_host
        self.pg = None
        self.trac = root / "trac"
        self.env = root / "env"
        self.deploy = root / "deploy"
        self.htpasswd = root / "htpasswd"
        self.uri = None

    def trac_admin(self, *args):
        return run([PY, "-m", "trac.admin.console", str(self.env)] +
                   list(args), env=dict(os.environ, PYTHONPATH=str(
                       self.trac)))

    def make(self):
        # Trac from its source tree: a copy, with its egg-info (Trac finds
        # its own components through the entry points it declares)
        shutil.copytree(TRAC_SRC, self.trac,
                        ignore=shutil.ignore_patterns(".git", "*.pyc"))
        if not glob.glob(str(self.trac / "*.egg-info")):
            run([PY, "setup.py", "-q", "egg_info"], cwd=str(self.trac))
        self.start_postgres()
        self.trac_admin("initenv", "Scale-out", self.uri)
        self.trac_admin("deploy", str(self.deploy))
        run(["htpasswd", "-bc", str(self.htpasswd), USER, PASSWORD])
        run(["chown", "-R", "www-data:www-data", str(self.env)])

    def start_postgres(self):
        self.pg = pgserver.Postgres(self.root / "pg", self.db)
        self.pg.start()
        self.uri = self.pg.database("trac", "trac", DB_PASSWORD)

    def stop(self):
        if self.pg:
            self.pg.stop()

    def web_node_conf(self):
        return ("ScriptAlias /trac %s/cgi-bin/trac.fcgi/\n"
                "TracEnv %s\n"
                "TracFcgiInitEnv PYTHONPATH %s\n"
                "TracFcgiIOTimeout 120\n"
                "<Directory %s/cgi-bin>\n"
                "    Require all granted\n"
                "</Directory>\n"
                "<Location /trac/login>\n"
                "    AuthType Basic\n"
                "    AuthName \"trac\"\n"
                "    AuthUserFile %s\n"
                "    Require valid-user\n"
                "</Location>\n" % (self.deploy, self.env, self.trac,
                                   self.deploy, self.htpasswd))


@pytest.fixture
def site():
    root = Path(tempfile.mkdtemp(prefix="tf-tracpg-"))
    os.chmod(root, 0o755)
    made = netns.Hosts(3, lan=True)
    s = None
    try:
        with made as hs:
            s = Site(root, hs[0])
            s.make()
            s.nodes = hs[1:]
            yield s
            s.stop()
    finally:
        if s:
            s.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert made.left() == []


class Browser:
    """Cookies across nodes, as one user's browser behind a balancer."""

    def __init__(self):
        self.cookies = {}

    def request(self, node, method, path, body=None, headers=None):
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv
                                    for kv in self.cookies.items())
        c = http.client.HTTPConnection(node.host, node.port, timeout=120)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name.strip()] = rest.split(";")[0]
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), \
            data.decode("utf-8", "replace")


def test_trac_on_postgresql_two_web_nodes(httpd, site):
    a_host, b_host = site.nodes
    a = httpd(site.web_node_conf(), host=a_host.addr, prefix=a_host.prefix)
    b = httpd(site.web_node_conf(), host=b_host.addr, prefix=b_host.prefix)
    for node in (a, b):
        log = node.error_log()
        assert DB_PASSWORD not in log
        assert re.search(r"TF00507: TracEnv %s .*postgres://trac@%s:5432/"
                         r"trac.*takes connections" % (
                             re.escape(str(site.env)),
                             re.escape(site.db.addr)), log), log[-3000:]
    t0 = time.monotonic()
    me = Browser()
    st, hd, page = me.request(a, "GET", "/trac/wiki/WikiStart")
    assert st == 200, page[-2000:] + a.error_log()[-3000:]
    assert "Scale-out" in page
    first = time.monotonic() - t0

    # log in through node A (Apache's basic auth on /trac/login)
    auth = "Basic " + base64.b64encode(
        ("%s:%s" % (USER, PASSWORD)).encode()).decode()
    st, hd, page = me.request(a, "GET", "/trac/login",
                              headers={"Authorization": auth})
    assert st in (302, 303), (st, page[-1000:])
    assert "trac_auth" in me.cookies
    # node B knows the login: Trac's session is in the database
    st, hd, page = me.request(b, "GET", "/trac/prefs")
    assert st == 200, page[-2000:]
    assert re.search(r"logged in as\s*<span[^>]*>\s*%s" % USER, page) or \
        ("logged in as" in page and USER in page), page[-3000:]

    # a ticket created through node A, shown by node B
    st, hd, page = me.request(a, "GET", "/trac/newticket")
    assert st == 200, page[-2000:]
    token = re.search(r'name="__FORM_TOKEN" value="([^"]+)"', page).group(1)
    summary = "created through node A %d" % os.getpid()
    form = urllib.parse.urlencode({
        "__FORM_TOKEN": token, "field_summary": summary,
        "field_type": "defect", "field_description": "over PostgreSQL",
        "submit": "Create ticket"})
    st, hd, page = me.request(a, "POST", "/trac/newticket", body=form,
                              headers={"Content-Type":
                                       "application/x-www-form-urlencoded"})
    assert st in (302, 303), (st, page[-2000:])
    m = re.search(r"/trac/ticket/(\d+)", hd.get("location", ""))
    assert m, hd
    st, hd, page = Browser().request(b, "GET", "/trac/ticket/" + m.group(1))
    assert st == 200, page[-2000:]
    assert summary in page
    print("\nTrac on PostgreSQL, two web nodes: first page %.2f s; login "
          "through A valid through B; ticket #%s through A shown by B"
          % (first, m.group(1)))
