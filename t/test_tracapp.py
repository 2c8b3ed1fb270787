"""Trac deployments on mod_tracfcgi, with t/apps/tracapp.fcgi (a Trac-like
FastCGI app, see its header) and t/apps/responder.fcgi (?env lists the
FastCGI params and the process environment).

What they show:
- one trac.fcgi behind two virtual hosts, and behind two <Location>s, each
  with its own TracEnv: every request is answered by a process whose
  environment (TRAC_ENV in /proc/PID/environ) and params (trac.env_path)
  carry its own project, the processes of the two projects are distinct,
  and the app shows the right project;
- DefaultInitEnv inside <Location>; a 4 KiB TracFcgiInitEnv value arrives
  intact; TracFcgiParam sends a param under its verbatim name;
- a request header cannot set or change trac.env_path;
- TracEnvParentDir: the project index and /NAME/...;
- Apache's basic auth on /trac/login reaches Trac as REMOTE_USER;
- TracFcgiCheckEnv: warnings for broken environments (no VERSION, database
  not SQLite, db/ not writable by the backend's user), none for a good one,
  at start-up and in `apache2 -t`; Strict makes `apache2 -t` fail; the
  database trac.ini names: another SQLite file, a PostgreSQL or MySQL
  server taking connections or not (its password never logged), a kind it
  does not know (said, not checked), a malformed URI.

Trees of projects are made with t/apps/mkproject.py under /tmp
(tracfcgi-tree-*) and removed afterwards.
"""

import collections
import os
import re
import shutil
import socket
import urllib.parse

import pytest

import httpd as H
import test_conf_samples as C

RESP = "@APPS@/responder.fcgi"
GOOD_PROJECTS = (("alpha", "Alpha"), ("beta", "Beta"))


@pytest.fixture
def tree():
    root = C.make_tree(GOOD_PROJECTS)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def trac_fcgi(tree):
    return "%s/cgi-bin/trac.fcgi" % tree


def cgi_dir(tree):
    return "<Directory %s/cgi-bin>\n    Require all granted\n</Directory>\n" \
        % tree


def env_of(h, path, headers=None):
    r = h.get(path, headers=headers)
    assert r.status == 200, "%s: %d %r" % (path, r.status, r.body[:300])
    return H.parse_env_body(r.body)


def concurrently(fn, args_list, timeout=30):
    """Run fn(*args) for each args at once; results in order."""
    bgs = [H.Bg(fn, *a) for a in args_list]
    for b in bgs:
        b.start()
    return [b.get(timeout) for b in bgs]


def check_projects(h, tree, routes, rounds=4):
    """routes: project dirname -> (Host header or None, trac prefix,
    responder path). Asserts every answer comes from a process of that
    project only; returns {project: set of pids}."""
    pids = collections.defaultdict(set)
    resp_pids = collections.defaultdict(set)
    jobs = []
    for _ in range(rounds):
        for proj, (host, prefix, _resp) in routes.items():
            jobs.append((proj, host, prefix + "/ticket/1"))

    def one(proj, host, path):
        return proj, C.get_page(h, path, host=host)

    # sequential first (one process per pool), then all at once (more)
    results = [one(*j) for j in jobs[:len(routes)]]
    results += concurrently(one, jobs)
    for proj, p in results:
        want = str(tree / "projects" / proj)
        assert p["project"] == dict(GOOD_PROJECTS)[proj], (proj, p)
        assert p["env"] == want, (proj, p)
        assert p["source"] == "param", (proj, p)
        assert p["path_info"] == "/ticket/1", (proj, p)
        pid = int(p["pid"])
        assert C.proc_environ(pid).get("TRAC_ENV") == want, \
            "pid %d answered for %s" % (pid, proj)
        pids[proj].add(pid)

    # the same through the responder: params and environment side by side
    for _ in range(rounds):
        for proj, (host, _prefix, resp) in routes.items():
            want = str(tree / "projects" / proj)
            params, environ, info = env_of(
                h, resp + "?env", headers={"Host": host} if host else None)
            assert params.get("trac.env_path") == want, (proj, params)
            assert environ.get("TRAC_ENV") == want, (proj, environ)
            resp_pids[proj].add(int(info["pid"]))

    for d in (pids, resp_pids):
        a, b = (d[p] for p in routes)
        assert a and b and not a & b, \
            "processes shared between projects: %s" % dict(d)
    return pids


# --------------------------------------------------------------------------
# one trac.fcgi, several projects


@pytest.mark.both_mpms
def test_vhosts_same_script_different_env(httpd, tree):
    body = cgi_dir(tree)
    for host, proj in (("alpha.test", "alpha"), ("beta.test", "beta")):
        body += """
<VirtualHost *:@PORT@>
    ServerName %s
    ScriptAlias /trac %s/
    ScriptAlias /resp %s
    TracEnv %s/projects/%s
</VirtualHost>
""" % (host, trac_fcgi(tree), RESP, tree, proj)
    h = httpd(body)
    check_projects(h, tree, {"alpha": ("alpha.test", "/trac", "/resp"),
                             "beta": ("beta.test", "/trac", "/resp")})


@pytest.mark.both_mpms
def test_locations_same_script_different_env(httpd, tree):
    body = cgi_dir(tree) + """
ScriptAlias /alpha {app}/
ScriptAlias /beta {app}/
ScriptAlias /resp-alpha {resp}
ScriptAlias /resp-beta {resp}
<Location /alpha>
    TracEnv {tree}/projects/alpha
</Location>
<Location /beta>
    TracEnv {tree}/projects/beta
</Location>
<Location /resp-alpha>
    TracEnv {tree}/projects/alpha
</Location>
<Location /resp-beta>
    TracEnv {tree}/projects/beta
</Location>
""".format(app=trac_fcgi(tree), resp=RESP, tree=tree)
    h = httpd(body)
    check_projects(h, tree, {"alpha": (None, "/alpha", "/resp-alpha"),
                             "beta": (None, "/beta", "/resp-beta")})
    p = C.get_page(h, "/alpha/wiki")
    assert p["script_name"] == "/alpha"
    assert p["path_info"] == "/wiki"


# --------------------------------------------------------------------------
# environment and params


def test_defaultinitenv_in_location(httpd):
    h = httpd("""
ScriptAlias /a @APPS@/responder.fcgi
ScriptAlias /b @APPS@/responder.fcgi
TracFcgiInitEnv LC_TIME en_GB.UTF-8
<Location /b>
    DefaultInitEnv LC_TIME ru_RU.UTF-8
    DefaultInitEnv PYTHON_EGG_CACHE /srv/trac/eggs-b
</Location>
""")
    _p, env_a, info_a = env_of(h, "/a?env")
    _p, env_b, info_b = env_of(h, "/b?env")
    assert env_a.get("LC_TIME") == "en_GB.UTF-8", env_a
    assert "PYTHON_EGG_CACHE" not in env_a, env_a
    assert env_b.get("LC_TIME") == "ru_RU.UTF-8", env_b
    assert env_b.get("PYTHON_EGG_CACHE") == "/srv/trac/eggs-b", env_b
    assert info_a["pid"] != info_b["pid"]


def test_initenv_4k_value(httpd):
    alphabet = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "0123456789-_.:/,+=@%")
    value = "".join(alphabet[(i * 7) % len(alphabet)] for i in range(4096))
    assert len(value) == 4096
    h = httpd("""
ScriptAlias /r @APPS@/responder.fcgi
TracFcgiInitEnv TRAC_BIG_VALUE %s
""" % value)
    _p, environ, info = env_of(h, "/r?env")
    got = environ.get("TRAC_BIG_VALUE")
    assert got is not None, "TRAC_BIG_VALUE missing"
    assert len(got) == 4096, len(got)
    assert got == value
    assert C.proc_environ(int(info["pid"])).get("TRAC_BIG_VALUE") == value


@pytest.mark.parametrize("header", ["Trac-Env-Path", "trac.env_path",
                                    "TRAC_ENV_PATH", "Trac-Env"])
def test_header_cannot_set_env_path(httpd, tree, header):
    h = httpd(cgi_dir(tree) + """
ScriptAlias /trac %s/
ScriptAlias /resp %s
TracEnv %s/projects/alpha
""" % (trac_fcgi(tree), RESP, tree))
    want = str(tree / "projects/alpha")
    evil = {header: "/evil"}
    params, environ, _info = env_of(h, "/resp?env", headers=evil)
    assert params.get("trac.env_path") == want, params
    assert environ.get("TRAC_ENV") == want, environ
    carrying = sorted(k for k, v in params.items() if "/evil" in v)
    if header == "Trac-Env-Path":
        assert carrying == ["HTTP_TRAC_ENV_PATH"], params
    else:
        assert all(k.startswith("HTTP_") for k in carrying), carrying
    assert not any("/evil" in v for v in environ.values()), environ
    p = C.get_page(h, "/trac/wiki", headers=evil)
    assert p["env"] == want
    assert p["project"] == "Alpha"


def test_fcgiparam_verbatim(httpd):
    h = httpd("""
ScriptAlias /r @APPS@/responder.fcgi
TracFcgiParam trac.base_url http://trac.example.org/trac
<Location /r>
    TracFcgiParam Mixed.Case_name "two words"
</Location>
""")
    params, environ, _info = env_of(h, "/r?env")
    assert params.get("trac.base_url") == "http://trac.example.org/trac", \
        params
    assert params.get("Mixed.Case_name") == "two words", params
    for k in ("TRAC.BASE_URL", "HTTP_TRAC_BASE_URL", "MIXED.CASE_NAME"):
        assert k not in params, k
    assert "trac.base_url" not in environ
    assert "Mixed.Case_name" not in environ


# --------------------------------------------------------------------------
# TracEnvParentDir, auth, the app itself


def test_parentdir(httpd, tree):
    h = httpd(cgi_dir(tree) + """
ScriptAlias /projects %s/
ScriptAlias /resp %s
<Location /projects>
    TracEnvParentDir %s/projects
    TracEnvIndexTemplate %s/index.html
</Location>
<Location /resp>
    TracEnvParentDir %s/projects
</Location>
""" % (trac_fcgi(tree), RESP, tree, tree, tree))
    parent = str(tree / "projects")
    for path in ("/projects/", "/projects"):
        idx = C.get_page(h, path)
        assert idx["index"] == parent, idx
        assert idx["index_template"] == str(tree / "index.html"), idx
        assert idx["projects"] == ["alpha", "beta"], idx
    p = C.get_page(h, "/projects/alpha/ticket/2")
    assert p["project"] == "Alpha"
    assert p["env"] == str(tree / "projects/alpha")
    assert p["source"] == "param"
    assert p["script_name"] == "/projects/alpha"
    assert p["path_info"] == "/ticket/2"
    assert p["ticket"][1] == "2 Second sample ticket"
    p = C.get_page(h, "/projects/beta/")
    assert p["project"] == "Beta"
    environ = C.proc_environ(int(p["pid"]))
    assert environ.get("TRAC_ENV_PARENT_DIR") == parent
    assert environ.get("TRAC_ENV_INDEX_TEMPLATE") == str(tree / "index.html")
    assert "TRAC_ENV" not in environ
    r = h.get("/projects/gamma/wiki")
    assert r.status == 404 and b"Environment not found" in r.body, r
    params, environ, _info = env_of(h, "/resp?env")
    assert params.get("trac.env_parent_dir") == parent, params
    assert "trac.env_path" not in params, params


def test_inner_trac_setting_replaces_the_outer(httpd, tree):
    """TracEnv and TracEnvParentDir are alternatives: the one of the
    innermost section decides. A <Location> with TracEnvParentDir under a
    virtual host's TracEnv serves the projects below it (Trac would take
    an inherited TracEnv first and show that one project everywhere), and
    a TracEnv inside a TracEnvParentDir serves its one project."""
    vhost = """
<VirtualHost 127.0.0.1:@PORT@>
    ServerName %(name)s
    ScriptAlias /projects %(app)s/
    ScriptAlias /one %(app)s/
    %(outer)s
    <Location %(loc)s>
        %(inner)s
    </Location>
</VirtualHost>
"""
    conf = cgi_dir(tree) + vhost % {
        "name": "a.test", "app": trac_fcgi(tree), "loc": "/projects",
        "outer": "TracEnv %s/projects/alpha" % tree,
        "inner": "TracEnvParentDir %s/projects" % tree,
    } + vhost % {
        "name": "b.test", "app": trac_fcgi(tree), "loc": "/one",
        "outer": "TracEnvParentDir %s/projects" % tree,
        "inner": "TracEnv %s/projects/beta" % tree,
    }
    h = httpd(conf)
    a, b = {"Host": "a.test"}, {"Host": "b.test"}
    parent = str(tree / "projects")
    # a.test: the vhost's TracEnv outside the Location ...
    p = C.get_page(h, "/one/wiki", headers=a)
    assert p["project"] == "Alpha" and p["source"] == "param", p
    # ... the Location's TracEnvParentDir inside it
    idx = C.get_page(h, "/projects/", headers=a)
    assert idx["index"] == parent and idx["projects"] == ["alpha", "beta"], \
        idx
    p = C.get_page(h, "/projects/beta/ticket/2", headers=a)
    assert p["project"] == "Beta" and p["env"] == str(tree / "projects/beta")
    environ = C.proc_environ(int(p["pid"]))
    assert environ.get("TRAC_ENV_PARENT_DIR") == parent
    assert "TRAC_ENV" not in environ, environ.get("TRAC_ENV")
    # b.test: the other way round
    p = C.get_page(h, "/projects/alpha/wiki", headers=b)
    assert p["project"] == "Alpha" and p["script_name"] == "/projects/alpha"
    p = C.get_page(h, "/one/wiki", headers=b)
    assert p["project"] == "Beta" and p["script_name"] == "/one", p
    environ = C.proc_environ(int(p["pid"]))
    assert environ.get("TRAC_ENV") == str(tree / "projects/beta")
    assert "TRAC_ENV_PARENT_DIR" not in environ, \
        environ.get("TRAC_ENV_PARENT_DIR")


def test_basic_auth_login(httpd, tree):
    h = httpd(cgi_dir(tree) + """
ScriptAlias /trac {app}/
<Location /trac>
    TracEnv {tree}/projects/alpha
</Location>
<Location /trac/login>
    AuthType Basic
    AuthName "Trac"
    AuthUserFile {tree}/htpasswd
    Require valid-user
</Location>
""".format(app=trac_fcgi(tree), tree=tree))
    r = h.get("/trac/login")
    assert r.status == 401, r
    r = h.get("/trac/login", headers=C.basic(C.USER, "nope"))
    assert r.status == 401, r
    p = C.get_page(h, "/trac/login", headers=C.basic(C.USER, C.PASSWORD))
    assert p["user"] == C.USER
    assert p["auth_type"] == "Basic"
    assert p["project"] == "Alpha"
    p = C.get_page(h, "/trac/timeline")
    assert p["user"] == "-"


def test_newticket_and_errors(httpd, tree):
    h = httpd(cgi_dir(tree) + """
ScriptAlias /trac {app}/
ScriptAlias /missing {app}/
<Location /trac>
    TracEnv {tree}/projects/alpha
</Location>
<Location /missing>
    TracEnv {tree}/projects/missing
</Location>
""".format(app=trac_fcgi(tree), tree=tree))
    summary = "Crash on \u00fcnicode & 100% more"
    body = urllib.parse.urlencode({"summary": summary}).encode()
    r = h.post("/trac/newticket", body, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r
    p = C.page(r)
    assert p["created"] == "3"
    assert p["ticket"][-1] == "3 " + summary
    p = C.get_page(h, "/trac/report")
    assert p["ticket"] == ["1 First sample ticket", "2 Second sample ticket",
                           "3 " + summary]
    r = h.post("/trac/newticket", b"summary=x",
               headers={"Content-Type": "text/plain"})
    assert r.status == 415, r

    mark = h.log_mark()
    r = h.get("/missing/wiki")
    assert r.status == 500, r
    want = "error: No Trac environment found at %s" % (
        tree / "projects/missing")
    assert r.body.decode().strip() == want
    h.wait_log(re.escape("tracapp: " + want), since=mark)


# --------------------------------------------------------------------------
# TracFcgiCheckEnv


def break_envs(tree):
    """Three broken environments next to the good alpha and beta:
    noversion, notsqlite, notwritable (db/ owned by root)."""
    make_project = C.mkproject.make_project
    make_project(tree / "projects/noversion", "NoVersion", "www-data")
    os.unlink(tree / "projects/noversion/VERSION")
    make_project(tree / "projects/notsqlite", "NotSqlite", "www-data")
    (tree / "projects/notsqlite/db/trac.db").write_bytes(
        b"this is not an SQLite database\n" * 100)
    make_project(tree / "projects/notwritable", "NotWritable", None)
    os.chmod(tree / "projects/notwritable/db", 0o755)
    os.chmod(tree / "projects/notwritable/db/trac.db", 0o644)


BROKEN = {
    "noversion": r"VERSION",
    "notsqlite": r"(?i)sqlite|database",
    "notwritable": r"(?i)writ.*www-data|www-data.*writ",
}


def env_body(tree, names, check=None):
    body = cgi_dir(tree)
    if check:
        body += "TracFcgiCheckEnv %s\n" % check
    for n in names:
        body += """
ScriptAlias /{n} {app}/
<Location /{n}>
    TracEnv {tree}/projects/{n}
</Location>
""".format(n=n, app=trac_fcgi(tree), tree=tree)
    return body


def warn_lines(text, path):
    """Lines of a log at warn level (or worse) that mention @path as a whole
    path (not as the prefix of a longer one)."""
    rx = re.compile(r"\[[\w.]*:(warn|error|crit|alert|emerg)\]")
    pr = re.compile(re.escape(str(path)) + r"(?![\w.-])")
    return [ln for ln in text.splitlines() if rx.search(ln) and pr.search(ln)]


def check_warnings(text, tree, where):
    for n, reason in BROKEN.items():
        lines = warn_lines(text, tree / "projects" / n)
        assert lines, "%s: no warning for broken env %s:\n%s" % (
            where, n, text[-3000:])
        assert any(re.search(reason, ln) for ln in lines), \
            "%s: warnings for %s do not say /%s/: %s" % (
                where, n, reason, lines)
    for n, _ in GOOD_PROJECTS:
        lines = warn_lines(text, tree / "projects" / n)
        assert not lines, "%s: warning for the good env %s: %s" % (
            where, n, lines)


def test_checkenv_warns_for_broken_envs(httpd, tree):
    break_envs(tree)
    names = ["alpha", "beta"] + list(BROKEN)
    body = env_body(tree, names)

    r = C.configtest(body)
    assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stdout
    check_warnings(r.stdout, tree, "apache2 -t")

    h = httpd(body)
    h.wait_log(r"resuming normal operations")
    check_warnings(h.error_log(), tree, "start-up error_log")
    # the good ones serve; Trac itself fails on the broken ones
    assert C.get_page(h, "/alpha/wiki")["project"] == "Alpha"
    assert h.get("/noversion/wiki").status == 500


def test_checkenv_parentdir_checks_each_project(tree):
    break_envs(tree)
    os.unlink(tree / "projects/noversion/db/trac.db")  # not a project at all
    body = cgi_dir(tree) + """
ScriptAlias /projects {app}/
<Location /projects>
    TracEnvParentDir {tree}/projects
</Location>
""".format(app=trac_fcgi(tree), tree=tree)
    r = C.configtest(body)
    assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stdout
    for n in ("notsqlite", "notwritable"):
        lines = warn_lines(r.stdout, tree / "projects" / n)
        assert lines and any(re.search(BROKEN[n], ln) for ln in lines), \
            "no warning for project %s under TracEnvParentDir:\n%s" % (
                n, r.stdout)
    for n, _ in GOOD_PROJECTS:
        assert not warn_lines(r.stdout, tree / "projects" / n), r.stdout


def test_checkenv_strict_fails_configtest(tree):
    break_envs(tree)
    r = C.configtest(env_body(tree, ["alpha", "notsqlite"], "Strict"))
    assert r.returncode != 0, "apache2 -t passed with Strict:\n" + r.stdout
    assert "Syntax OK" not in r.stdout, r.stdout
    assert str(tree / "projects/notsqlite") in r.stdout, r.stdout
    # Strict with good environments only passes, with no warning
    r = C.configtest(env_body(tree, ["alpha", "beta"], "Strict"))
    assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stdout
    assert not warn_lines(r.stdout, tree / "projects/alpha"), r.stdout


def test_checkenv_in_location(tree):
    """TracFcgiCheckEnv is not one of the two server-only directives: a
    <Location> may turn the check off for its own TracEnv."""
    break_envs(tree)
    body = env_body(tree, ["notsqlite"]) + env_body(tree, ["notwritable"])
    body = body.replace("    TracEnv %s/projects/notsqlite\n" % tree,
                        "    TracEnv %s/projects/notsqlite\n"
                        "    TracFcgiCheckEnv Off\n" % tree)
    assert "TracFcgiCheckEnv Off" in body
    r = C.configtest(body)
    assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stdout
    assert not warn_lines(r.stdout, tree / "projects/notsqlite"), r.stdout
    assert warn_lines(r.stdout, tree / "projects/notwritable"), r.stdout


def test_checkenv_off_is_silent(tree):
    break_envs(tree)
    r = C.configtest(env_body(tree, list(BROKEN), "Off"))
    assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stdout
    for n in BROKEN:
        assert not warn_lines(r.stdout, tree / "projects" / n), r.stdout


# --------------------------------------------------------------------------
# TracFcgiCheckEnv: the database trac.ini names


SECRET = "Sup3rSecretPw"


def with_database(env, uri):
    ini = env / "conf/trac.ini"
    ini.write_text(ini.read_text() + "\n[trac]\nbase_url =\n"
                   "database = %s\n" % uri)


def test_checkenv_database_server(httpd, tree):
    """An environment on PostgreSQL (or MySQL): only that the server takes
    connections is checked; the password never reaches the log."""
    make_project = C.mkproject.make_project
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(8)
    up_port = listening.getsockname()[1]
    down_port = H.free_port()
    for name, uri in (
            ("pgup", "postgres://trac:%s@127.0.0.1:%d/trac?schema=t"
             % (SECRET, up_port)),
            ("pgdown", "postgres://trac:%s@127.0.0.1:%d/trac"
             % (SECRET, down_port)),
            ("mydown", "mysql://trac:%s@127.0.0.1:%d/trac"
             % (SECRET, down_port)),
            ("othersqlite", "sqlite:db/other.db"),
            ("plugin", "odbc://trac:%s@dsn/trac" % SECRET),
            ("badport", "postgres://trac:%s@host:port/trac" % SECRET)):
        env = make_project(tree / "projects" / name, name, "www-data")
        with_database(env, uri)
        if name in ("pgup", "pgdown", "mydown", "plugin", "badport"):
            os.unlink(env / "db/trac.db")      # not used: no SQLite file
        if name == "othersqlite":
            os.rename(env / "db/trac.db", env / "db/other.db")
    try:
        names = ["pgup", "pgdown", "mydown", "othersqlite", "plugin",
                 "badport"]
        body = env_body(tree, names)
        r = C.configtest(body)
        assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stdout
        h = httpd(body)
        h.wait_log(r"resuming normal operations")
        for text in (r.stdout, h.error_log()):
            assert SECRET not in text
            for ok in ("pgup", "othersqlite", "plugin"):
                assert not warn_lines(text, tree / "projects" / ok), text
            down = warn_lines(text, tree / "projects/pgdown")
            assert down and "127.0.0.1:%d" % down_port in down[0], down
            assert "postgres://trac@127.0.0.1:%d/trac" % down_port in down[0]
            assert "PostgreSQL" in down[0]
            down = warn_lines(text, tree / "projects/mydown")
            assert down and "MySQL" in down[0], down
            bad = warn_lines(text, tree / "projects/badport")
            assert bad and "not a database URI" in bad[0], bad
        # what was checked, and what not, at info
        assert h.log_lines(r"TF00507: TracEnv %s .*takes connections at "
                           r"127\.0\.0\.1:%d; the user, password and "
                           r"schema are not checked" % (
                               re.escape(str(tree / "projects/pgup")),
                               up_port))
        assert h.log_lines(r"TF00509: TracEnv %s .*odbc:\.\.\..*not "
                           r"checked" % re.escape(str(tree /
                                                      "projects/plugin")))
    finally:
        listening.close()


def test_checkenv_attachments_dir(tree):
    """files/ (attachments) not writable by the backend's user: a
    warning; missing, with the environment writable: none (Trac makes
    it)."""
    make_project = C.mkproject.make_project
    env = make_project(tree / "projects/nofiles", "NoFiles", "www-data")
    env = make_project(tree / "projects/rootfiles", "RootFiles", "www-data")
    (env / "files").mkdir()
    os.chmod(env / "files", 0o755)          # root's
    r = C.configtest(env_body(tree, ["nofiles", "rootfiles"]))
    assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stdout
    assert not warn_lines(r.stdout, tree / "projects/nofiles"), r.stdout
    lines = warn_lines(r.stdout, tree / "projects/rootfiles/files")
    assert lines and "attachments cannot be stored" in lines[0], r.stdout
