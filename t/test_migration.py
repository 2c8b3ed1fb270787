"""Migration from mod_fcgid: its directive and handler names, unchanged,
when mod_fcgid is not loaded (src/compat.c). Its knobs that mean nothing
here are accepted and said at configtest.
"""

import re

import pytest

import httpd as H
import test_conf_samples as C
from test_conf_samples import tree  # noqa: F401  (the fixture)

# a directory of scripts, as mod_fcgid sites have them
APP_DIR = """
<Directory @TMP@/app>
    Options +ExecCGI
    AddHandler fcgid-script .fcgi
    Require all granted
</Directory>
Alias /app @TMP@/app
"""

FCGID_SITE = APP_DIR + """FcgidInitialEnv FROM_FCGID yes
FcgidMaxProcessesPerClass 1
FcgidIOTimeout 40
FcgidSpawnScore 1
FcgidTerminationScore 2
FcgidOutputBufferSize 65536
"""


def install_app(h, name="app", script="responder.fcgi"):
    """A copy of t/apps/responder.fcgi at @TMP@/<name>/<script> (the
    directory of a site's own scripts)."""
    d = h.tmp / name
    d.mkdir(exist_ok=True)
    d.chmod(0o755)
    f = d / script
    f.write_bytes((H.APPS / "responder.fcgi").read_bytes())
    f.chmod(0o755)
    return f


def test_fcgid_site_unchanged(httpd):
    h = httpd(FCGID_SITE)
    install_app(h)
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


# --------------------------------------------------------------------------
# FcgidPassHeader / TracFcgiPassHeader

PASS_HEADER_SITE = """
<Directory @TMP@/app>
    Options +ExecCGI
    AddHandler fcgid-script .fcgi
    Require all granted
</Directory>
Alias /app @TMP@/app
FcgidPassHeader Authorization
FcgidPassHeader X-Api-Key
<Location /app/responder.fcgi/proxied>
    TracFcgiPassHeader Proxy-Authorization X-Trace-Id
</Location>
"""


def test_pass_header(httpd):
    """The headers httpd withholds from CGI reach the application as
    HTTP_* when named; a header the request lacks gives no param; a
    <Location>'s names add to the server's."""
    h = httpd(PASS_HEADER_SITE)
    install_app(h)
    hd = {"Authorization": "Bearer t0k=n", "X-Api-Key": "k1",
          "Proxy-Authorization": "Basic cHJveHk6cHc=",
          "X-Trace-Id": "abc-123"}
    r = h.get("/app/responder.fcgi?env", headers=hd)
    assert r.status == 200, r.body[:300]
    params, _, _ = H.parse_env_body(r.body)
    assert params["HTTP_AUTHORIZATION"] == "Bearer t0k=n"
    assert params["HTTP_X_API_KEY"] == "k1"
    # not named here: httpd keeps it back, as from any CGI script
    assert "HTTP_PROXY_AUTHORIZATION" not in params
    r = h.get("/app/responder.fcgi/proxied?env", headers=hd)
    assert r.status == 200, r.body[:300]
    params, _, _ = H.parse_env_body(r.body)
    assert params["HTTP_PROXY_AUTHORIZATION"] == "Basic cHJveHk6cHc="
    assert params["HTTP_AUTHORIZATION"] == "Bearer t0k=n"
    assert params["HTTP_X_TRACE_ID"] == "abc-123"
    # absent headers: no param at all, not an empty one
    r = h.get("/app/responder.fcgi/proxied?env")
    params, _, _ = H.parse_env_body(r.body)
    for name in ("HTTP_AUTHORIZATION", "HTTP_PROXY_AUTHORIZATION",
                 "HTTP_X_API_KEY", "HTTP_X_TRACE_ID"):
        assert name not in params, name


def test_pass_header_proxy_refused():
    """Proxy would become HTTP_PROXY (httpoxy): configtest refuses it and
    says why."""
    r = C.configtest("TracFcgiPassHeader Proxy\n")
    assert r.returncode != 0, r.stdout
    assert "httpoxy" in r.stdout, r.stdout


# --------------------------------------------------------------------------
# FcgidMaxRequestLen / TracFcgiMaxRequestLen

def fcgid_site(extra=""):
    return """
<Directory @TMP@/app>
    Options +ExecCGI
    AddHandler fcgid-script .fcgi
    Require all granted
</Directory>
Alias /app @TMP@/app
""" + extra


def test_max_request_len(httpd):
    """FcgidMaxRequestLen N: a body of N bytes is served, N + 1 gets 413
    before any backend is taken (with a Content-Length at once, chunked
    once the count passes N), with one log line naming the limit."""
    h = httpd(fcgid_site("FcgidMaxRequestLen 1000\n"))
    install_app(h)
    url = "/app/responder.fcgi?echo"
    mark = h.log_mark()
    r = h.post(url, b"x" * 1001)
    assert r.status == 413, (r.status, r.body[:300])
    line = h.wait_log(r"TF00206: .*", since=mark).group(0)
    assert "of 1001 bytes" in line and "TracFcgiMaxRequestLen" in line \
        and "1000" in line, line
    r = h.post(url, (b"y" * 500 for _ in range(3)), encode_chunked=True)
    assert r.status == 413, (r.status, r.body[:300])
    assert h.backend_pids() == [], "a backend was taken for a 413"
    lines = h.log_lines(r"TF00206", since=mark)
    assert len(lines) == 2, lines
    assert "of at least 1" in lines[1], lines
    # at the limit, both ways
    r = h.post(url, b"z" * 1000)
    assert r.status == 200, r.body[:300]
    assert r.body.startswith(b"len:1000\n"), r.body
    r = h.post(url, (b"w" * 250 for _ in range(4)), encode_chunked=True)
    assert r.status == 200, r.body[:300]
    assert r.body.startswith(b"len:1000\n"), r.body
    assert len(h.log_lines(r"TF00206", since=mark)) == 2


def test_no_request_len_limit_when_unset(httpd):
    """mod_fcgid's own default is 131072 bytes; a site that never set
    FcgidMaxRequestLen gets no limit from mod_tracfcgi."""
    h = httpd(fcgid_site())
    install_app(h)
    body = b"a" * (300 * 1024)
    r = h.post("/app/responder.fcgi?echo", body)
    assert r.status == 200, r.body[:300]
    assert r.body.startswith(b"len:%d\n" % len(body)), r.body
    r = h.post("/app/responder.fcgi?echo", iter([body]), encode_chunked=True)
    assert r.status == 200, r.body[:300]
    assert r.body.startswith(b"len:%d\n" % len(body)), r.body
    assert h.log_lines(r"TF00206") == []


# --------------------------------------------------------------------------
# mod_fastcgi's names (not loaded: Debian 12 no longer ships it)

FASTCGI_SITE = """
<Directory @TMP@/app>
    Options +ExecCGI
    AddHandler fastcgi-script .fcgi
    Require all granted
</Directory>
Alias /app @TMP@/app
FastCgiIpcDir @TMP@/fastcgi
FastCgiWrapper Off
FastCgiConfig -initial-env DYNAMIC=yes -maxClassProcesses 1 -killInterval 60 -gainValue 0.5
FastCgiServer @APPS@/responder.fcgi -processes 2 -initial-env FOO=bar -pass-header Authorization -port 9000
Alias /static @APPS@/responder.fcgi
"""


def test_fastcgi_site_unchanged(httpd):
    """A mod_fastcgi site: FastCgiServer starts its -processes with httpd,
    with its -initial-env, and every request for its file goes to them
    (no handler, no ExecCGI needed, as in mod_fastcgi); the
    fastcgi-script handler serves the other scripts, with FastCgiConfig's
    settings, which the FastCgiServer's do not get."""
    h = httpd(FASTCGI_SITE)
    pids = H.wait_until(lambda: len(h.backend_pids()) == 2 and
                        h.backend_pids(), 10,
                        what="FastCgiServer's 2 processes")
    seen = set()
    for _ in range(6):
        r = h.get("/static/wiki/Start?env",
                  headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert r.status == 200, r.body[:300]
        params, environ, info = H.parse_env_body(r.body)
        assert environ.get("FOO") == "bar"
        assert "DYNAMIC" not in environ
        assert params["SCRIPT_NAME"] == "/static"
        assert params["PATH_INFO"] == "/wiki/Start"
        assert params["HTTP_AUTHORIZATION"] == "Basic dXNlcjpwdw=="
        seen.add(int(info["pid"]))
    assert seen <= set(pids), (seen, pids)
    assert h.backend_pids() == pids, "-processes 2 is a maximum too"
    # a dynamic application: FastCgiConfig's settings, none of the
    # FastCgiServer's
    script = install_app(h)
    for _ in range(3):
        r = h.get("/app/responder.fcgi?env",
                  headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert r.status == 200, r.body[:300]
        params, environ, info = H.parse_env_body(r.body)
        assert environ.get("DYNAMIC") == "yes"
        assert "FOO" not in environ
        assert "HTTP_AUTHORIZATION" not in params
    assert len(h.backend_pids(str(script))) == 1   # -maxClassProcesses 1
    # the IPC directory holds the backends' sockets
    assert any(p.name.endswith(".sock")
               for p in (h.tmp / "fastcgi").iterdir())


def test_fastcgi_ignored_options_said_at_configtest():
    r = C.configtest(FASTCGI_SITE)
    assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stdout
    lines = [ln for ln in r.stdout.splitlines() if "TF00901" in ln]
    assert len(lines) == 4, r.stdout
    assert re.search(r"FastCgiWrapper Off \(.*httpd\.conf:\d+\) is "
                     r"ignored: .*suexec", lines[0]), lines
    assert re.search(r"FastCgiConfig -killInterval \(.*\) is ignored: "
                     r"there is no load-based kill policy", lines[1]), lines
    assert "FastCgiConfig -gainValue" in lines[2], lines
    assert re.search(r"FastCgiServer -port \(.*\) is ignored: .*own unix "
                     r"socket", lines[3]), lines


@pytest.mark.parametrize("line, says", [
    ("FastCgiServer @APPS@/responder.fcgi -processes 2 -bogus 1",
     "FastCgiServer @APPS@/responder.fcgi: invalid option: -bogus"),
    ("FastCgiConfig -idle-timeout 30 -processes 2",
     "FastCgiConfig: invalid option: -processes"),
    ("FastCgiExternalServer /srv/www/php.fcgi -socket php.sock -weight 2",
     "FastCgiExternalServer /srv/www/php.fcgi: invalid option: -weight"),
    ("FastCgiExternalServer /srv/www/php.fcgi -idle-timeout 30",
     "-socket or -host option missing"),
    ("FastCgiServer @APPS@/responder.fcgi -processes none",
     "invalid value for -processes"),
    ("FastCgiWrapper /usr/sbin/cgiwrap",
     "a wrapper other than httpd's suexec is not supported"),
])
def test_fastcgi_bad_line_fails_configtest(line, says):
    r = C.configtest(line + "\n")
    assert r.returncode != 0, r.stdout
    assert says.replace("@APPS@", str(H.APPS)) in r.stdout, r.stdout


def test_fastcgi_external_server(httpd, servers):
    """FastCgiExternalServer FILE: the requests whose file is FILE (which
    need not exist) go to the server at -socket or -host; PATH_INFO and
    SCRIPT_NAME are those of any script; also through mod_actions, as
    the usual php-fpm recipe of mod_fastcgi does. FastCgiConfig is not
    theirs."""
    unix = servers.spawn_fcgi("unix")
    tcp = servers.spawn_fcgi("tcp")
    h = httpd("""
<Directory @TMP@/ext>
    Require all granted
</Directory>
FastCgiConfig -pass-header Authorization -idle-timeout 5
FastCgiExternalServer @TMP@/ext/app.fcgi -socket %s -pass-header Authorization -idle-timeout 20
Alias /ext @TMP@/ext/app.fcgi
FastCgiExternalServer @TMP@/ext/php.fcgi -host %s -flush
Alias /php.fcgi @TMP@/ext/php.fcgi
<Directory @DOCROOT@>
    AddHandler php-fcgi .php
    Action php-fcgi /php.fcgi
</Directory>
""" % (unix.listen[1], tcp.addr), extra_modules=[("actions_module",
                                                  "mod_actions.so")])
    (h.tmp / "ext").mkdir()
    (h.tmp / "ext").chmod(0o755)
    r = h.get("/ext/wiki/Start?env",
              headers={"Authorization": "Bearer abc"})
    assert r.status == 200, r.body[:300]
    params, _, info = H.parse_env_body(r.body)
    assert int(info["pid"]) == unix.pid
    assert params["SCRIPT_NAME"] == "/ext"
    assert params["PATH_INFO"] == "/wiki/Start"
    assert params["SCRIPT_FILENAME"] == str(h.tmp / "ext/app.fcgi")
    assert params["HTTP_AUTHORIZATION"] == "Bearer abc"
    r = h.get("/ext?env")
    assert r.status == 200 and int(H.parse_env_body(r.body)[2]["pid"]) == \
        unix.pid
    # the php-fpm recipe: .php files handed to the external server by
    # mod_actions, through the Alias of its file
    (h.docroot / "index.php").write_text("<?php\n")
    r = h.get("/index.php?env", headers={"Authorization": "Bearer abc"})
    assert r.status == 200, r.body[:300]
    params, _, info = H.parse_env_body(r.body)
    assert int(info["pid"]) == tcp.pid
    assert params["SCRIPT_NAME"] == "/php.fcgi"
    assert params["PATH_INFO"] == "/index.php"
    assert params["PATH_TRANSLATED"] == str(h.docroot / "index.php")
    assert "HTTP_AUTHORIZATION" not in params
    # no process of httpd's serves them
    assert h.backend_pids() == []
    # a URL-PATH like the file's is not taken
    assert h.get("/tmp").status == 404


def test_readme_fastcgi_site_serves(httpd, tree):
    """The README's mod_fastcgi Trac site, as it stands: Trac answers
    through the FastCgiServer's two processes, started with httpd."""
    text = next(b for b in C.README_CONFIGS if "FastCgiServer" in b)
    h = httpd(C.render(text, tree))
    app = str(tree / "cgi-bin/trac.fcgi")
    pids = H.wait_until(lambda: len(h.backend_pids(app)) == 2 and
                        h.backend_pids(app), 10, what="2 trac.fcgi")
    p = C.get_page(h, "/trac/wiki/WikiStart", host="trac.example.org")
    assert p["project"] == "Main"
    assert p["script_name"] == "/trac"
    assert p["path_info"] == "/wiki/WikiStart"
    assert int(p["pid"]) in pids
    assert C.proc_environ(int(p["pid"])).get("TRAC_ENV") == \
        str(tree / "projects/main")


def test_fcgid_cmd_options(httpd):
    """FcgidCmdOptions: one command's settings, over its sections', and
    only for that command (a copy of the same program elsewhere keeps the
    sections' settings)."""
    h = httpd(APP_DIR + """FcgidIOTimeout 30
FcgidCmdOptions @TMP@/app/tuned.fcgi InitialEnv FROM_CMD=yes \\
    IOTimeout 1 MaxProcesses 1
""", start=False)
    install_app(h, script="tuned.fcgi")
    install_app(h, script="plain.fcgi")
    h.start()
    r = h.get("/app/tuned.fcgi?env")
    assert r.status == 200, r.body[:300]
    assert b"environ:FROM_CMD=yes" in r.body
    r = h.get("/app/plain.fcgi?env")
    assert r.status == 200 and b"FROM_CMD" not in r.body
    # IOTimeout 1 for tuned.fcgi only
    r = h.get("/app/tuned.fcgi?sleep=2500", timeout=30)
    assert r.status == 504
    assert h.log_lines(r"TF00419: .*TracFcgiIOTimeout 1s")
    assert h.get("/app/plain.fcgi?sleep=1500").status == 200


@pytest.mark.parametrize("line,message", [
    ("FcgidCmdOptions relative/php-cgi MaxProcesses 2", "absolute path"),
    ("FcgidCmdOptions /nonexistent/php-cgi MaxProcesses 2", "no such file"),
    ("FcgidCmdOptions /bin/sh", "expected an option"),
    ("FcgidCmdOptions /bin/sh MaxProcesess 2", "invalid option: MaxProcesess"),
    ("FcgidCmdOptions /bin/sh IOTimeout", "IOTimeout: expected a value"),
    ("FcgidCmdOptions /bin/sh MaxProcesses 0", "MaxProcesses"),
])
def test_fcgid_cmd_options_errors(line, message):
    r = C.configtest(line + "\n")
    assert r.returncode != 0, r.stdout
    assert "FcgidCmdOptions" in r.stdout and message in r.stdout, r.stdout


def test_fix_pathinfo_accepted_and_said():
    r = C.configtest("FcgidFixPathinfo 1\nFcgidWin32PreventOrphans On\n")
    assert r.returncode == 0, r.stdout
    assert re.search(r"TF00901: FcgidFixPathinfo \(.*\) is ignored: "
                     r"SCRIPT_NAME stays", r.stdout), r.stdout
    assert re.search(r"TF00901: FcgidWin32PreventOrphans .* is ignored",
                     r.stdout), r.stdout
