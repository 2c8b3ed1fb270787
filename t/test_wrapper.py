"""TracFcgiWrapper, and mod_fcgid's FcgidWrapper mapped onto it: PHP the
way mod_fcgid sites run it. Debian's php-cgi serves .php files that are
not executable, from one pool for all of them; SCRIPT_FILENAME, PATH_INFO
and cgi.fix_pathinfo as under mod_fcgid; php-cgi's own request limit
(PHP_FCGI_MAX_REQUESTS) fails no request; "virtual" files; the wrapper's
arguments; .htaccess; configtest's errors.
"""

import re
import shutil

import pytest

import httpd as H
import test_conf_samples as C

PHP_CGI = shutil.which("php-cgi") or "/usr/bin/php-cgi"

pytestmark = pytest.mark.skipif(not shutil.which("php-cgi"),
                                reason="php-cgi not installed "
                                       "(Debian package php-cgi)")

# what every test page prints: who served it, and what PHP was told
PAGE = """<?php
header('Content-Type: text/plain');
echo "page=%s\\n";
echo "pid=", getmypid(), "\\n";
foreach (['SCRIPT_FILENAME', 'SCRIPT_NAME', 'PATH_INFO', 'PATH_TRANSLATED',
          'PHP_SELF', 'REQUEST_URI', 'FROM_WRAPPER_ENV'] as $k) {
    echo $k, "=", $_SERVER[$k] ?? '(unset)', "\\n";
}
echo "memory_limit=", ini_get('memory_limit'), "\\n";
"""

PHP_SITE = """
Alias /php @TMP@/www
<Directory @TMP@/www>
    Options +ExecCGI
    AddHandler tracfcgi-script .php
    TracFcgiWrapper %s .php
    TracFcgiMaxProcesses 1
    Require all granted
</Directory>
""" % PHP_CGI


def make_site(h, names=("a", "b", "c"), where="www"):
    """PHP pages, mode 0644 (not executable), in @TMP@/<where>."""
    d = h.tmp / where
    d.mkdir(exist_ok=True)
    d.chmod(0o755)
    for n in names:
        f = d / ("%s.php" % n)
        f.write_text(PAGE % n)
        f.chmod(0o644)
    return d


def fields(body):
    return dict(ln.split("=", 1) for ln in body.decode().splitlines()
                if "=" in ln)


def test_php_files_served_by_one_pool(httpd):
    h = httpd(PHP_SITE, start=False)
    d = make_site(h)
    h.start()
    pids = set()
    for n in ("a", "b", "c", "a"):
        r = h.get("/php/%s.php" % n)
        assert r.status == 200, r.body[:300]
        f = fields(r.body)
        assert f["page"] == n
        assert f["SCRIPT_FILENAME"] == str(d / ("%s.php" % n))
        assert f["SCRIPT_NAME"] == "/php/%s.php" % n
        pids.add(int(f["pid"]))
    # one pool (TracFcgiMaxProcesses 1), one php-cgi for the three pages
    assert len(pids) == 1, pids
    assert pids <= set(h.backend_pids(PHP_CGI))
    ready = h.log_lines(r"TF00104: pool %s@" % re.escape(PHP_CGI))
    assert len(ready) == 1, h.log_lines("TF00104")


def test_path_info_as_under_mod_fcgid(httpd):
    h = httpd(PHP_SITE, start=False)
    d = make_site(h)
    h.start()
    r = h.get("/php/b.php/extra/info?x=1")
    assert r.status == 200, r.body[:300]
    f = fields(r.body)
    # cgi.fix_pathinfo=1 (php-cgi's default), as with mod_fcgid
    assert f["SCRIPT_FILENAME"] == str(d / "b.php")
    assert f["SCRIPT_NAME"] == "/php/b.php"
    assert f["PATH_INFO"] == "/extra/info"
    assert f["PHP_SELF"] == "/php/b.php/extra/info"
    assert f["REQUEST_URI"] == "/php/b.php/extra/info?x=1"


def test_missing_file_is_404_without_a_backend(httpd):
    h = httpd(PHP_SITE, start=False)
    make_site(h)
    h.start()
    r = h.get("/php/nope.php")
    assert r.status == 404
    assert h.log_lines(r"TF00431: script not found.*nope\.php")
    assert h.backend_pids(PHP_CGI) == []


def test_fcgid_wrapper_site_unchanged(httpd):
    """A PHP vhost as mod_fcgid users write it; php-cgi exits after
    PHP_FCGI_MAX_REQUESTS requests and no request fails for it."""
    h = httpd("""
Alias /php @TMP@/www
<Directory @TMP@/www>
    Options +ExecCGI
    AddHandler fcgid-script .php
    FcgidWrapper %s .php
    Require all granted
</Directory>
FcgidInitialEnv PHP_FCGI_MAX_REQUESTS 5
FcgidMaxProcessesPerClass 1
FcgidMaxRequestsPerProcess 0
""" % PHP_CGI, start=False)
    make_site(h)
    h.start()
    pids = []
    for i in range(23):
        r = h.get("/php/%s.php?n=%d" % ("abc"[i % 3], i))
        assert r.status == 200, (i, r.status, r.body[:300])
        pids.append(int(fields(r.body)["pid"]))
    # 5 requests a process: at least 5 processes, each serving at most 5
    assert len(set(pids)) >= 5, pids
    assert max(pids.count(p) for p in set(pids)) <= 5, pids


def test_wrapper_arguments_and_environment(httpd):
    h = httpd("""
Alias /php @TMP@/www
<Directory @TMP@/www>
    Options +ExecCGI
    AddHandler tracfcgi-script .php
    TracFcgiWrapper "%s -d memory_limit=77M" .php
    TracFcgiInitEnv FROM_WRAPPER_ENV yes
    Require all granted
</Directory>
""" % PHP_CGI, start=False)
    make_site(h)
    h.start()
    f = fields(h.get("/php/a.php").body)
    assert f["memory_limit"] == "77M"
    assert f["FROM_WRAPPER_ENV"] == "yes"
    # the pool is named by the whole command
    assert h.log_lines(r"TF00104: pool %s -d memory_limit=77M@"
                       % re.escape(PHP_CGI))


def test_inner_section_overrides_and_other_files_run_themselves(httpd):
    """A <Directory> inside another replaces the wrapper of its suffix; a
    .fcgi file beside the .php ones still runs itself."""
    h = httpd("""
Alias /site @TMP@/site
<Directory @TMP@/site>
    Options +ExecCGI
    AddHandler tracfcgi-script .php .fcgi
    TracFcgiWrapper %s .php
    Require all granted
</Directory>
<Directory @TMP@/site/lowmem>
    TracFcgiWrapper "%s -d memory_limit=33M" .php
</Directory>
""" % (PHP_CGI, PHP_CGI), start=False)
    d = make_site(h, where="site")
    make_site(h, where="site/lowmem")
    app = d / "app.fcgi"
    app.write_bytes((H.APPS / "responder.fcgi").read_bytes())
    app.chmod(0o755)
    h.start()
    outer = fields(h.get("/site/a.php").body)
    inner = fields(h.get("/site/lowmem/a.php").body)
    assert inner["memory_limit"] == "33M"
    assert outer["memory_limit"] != "33M"
    assert outer["pid"] != inner["pid"]
    params, _, info = H.parse_env_body(h.get("/site/app.fcgi?env").body)
    assert params["SCRIPT_FILENAME"] == str(app)
    assert int(info["pid"]) not in (int(outer["pid"]), int(inner["pid"]))


def test_virtual_files_reach_the_wrapper(httpd):
    """'virtual': the file need not exist; without it, 404."""
    h = httpd("""
Alias /v @TMP@/v
Alias /nv @TMP@/nv
<Directory @TMP@/v>
    Options +ExecCGI
    SetHandler tracfcgi-script
    TracFcgiWrapper @APPS@/responder.fcgi virtual
    Require all granted
</Directory>
<Directory @TMP@/nv>
    Options +ExecCGI
    SetHandler tracfcgi-script
    TracFcgiWrapper @APPS@/responder.fcgi
    Require all granted
</Directory>
""", start=False)
    for n in ("v", "nv"):
        (h.tmp / n).mkdir()
        (h.tmp / n).chmod(0o755)
    h.start()
    r = h.get("/v/no/such/page.html?env")
    assert r.status == 200, r.body[:300]
    params, _, _ = H.parse_env_body(r.body)
    assert params["SCRIPT_FILENAME"].startswith(str(h.tmp / "v") + "/")
    r = h.get("/nv/no-such-page.html?env")
    assert r.status == 404


def test_wrapper_in_htaccess(httpd):
    """mod_fcgid allows FcgidWrapper in .htaccess under AllowOverride
    FileInfo; so do we, and not without it."""
    h = httpd("""
Alias /ht @TMP@/ht
Alias /locked @TMP@/locked
<Directory @TMP@/ht>
    Options +ExecCGI
    AllowOverride FileInfo
    Require all granted
</Directory>
<Directory @TMP@/locked>
    Options +ExecCGI
    AllowOverride None
    AddHandler tracfcgi-script .php
    Require all granted
</Directory>
""", start=False)
    for where in ("ht", "locked"):
        d = make_site(h, names=("a",), where=where)
        (d / ".htaccess").write_text(
            "AddHandler fcgid-script .php\nFcgidWrapper %s .php\n" % PHP_CGI)
        (d / ".htaccess").chmod(0o644)
    h.start()
    r = h.get("/ht/a.php")
    assert r.status == 200, r.body[:300]
    assert fields(r.body)["page"] == "a"
    # not read at all: the .php file is run itself, and cannot be
    r = h.get("/locked/a.php")
    assert r.status == 503, (r.status, r.body[:300])
    assert h.log_lines(r"TF00101: pool .*locked/a\.php@.*(denied|cannot)")


@pytest.mark.parametrize("line,message", [
    ("TracFcgiWrapper php-cgi .php", "must be an absolute path"),
    ("TracFcgiWrapper /nonexistent/php-cgi .php", "no such file"),
    ("TracFcgiWrapper /etc/passwd .php", "not an executable file"),
    ("TracFcgiWrapper %s php" % PHP_CGI, "starts with a dot"),
    ("TracFcgiWrapper %s -c /etc .php" % PHP_CGI, "quote a command"),
    ("FcgidWrapper %s .php virtal" % PHP_CGI, "'virtal'"),
])
def test_configtest_errors(line, message):
    r = C.configtest("<Directory /srv>\n%s\n</Directory>\n" % line)
    assert r.returncode != 0, r.stdout
    first = line.split()[0]
    assert re.search(r"%s: .*%s" % (first if first.startswith("Trac")
                                    else "TracFcgiWrapper",
                                    re.escape(message)), r.stdout), r.stdout
