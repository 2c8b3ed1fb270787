"""TracFcgiExternalServer: FastCGI servers that something else starts.

Real servers (t/extsrv.py): the project's responder under Debian's
spawn-fcgi, the threaded app standing alone on a socket it binds itself
(the pattern of Trac's own trac.fcgi with WSGIServer(bindAddress=...)),
and Debian's php-fpm with a pool of the test's own; over unix sockets,
TCP and IPv6. What the client sees (statuses, Retry-After, bodies), what
the application recorded, what the log says and what the status page
shows.
"""

import json
import os
import re
import socket
import subprocess
import time

import pytest

import httpd as H
from httpd import Bg

STATUS = ("<Location /tracfcgi-status>\n SetHandler tracfcgi-status\n"
          "</Location>\n")


def params(body):
    """The responder's "param:NAME=VALUE" lines (mode env) as a dict."""
    out = {}
    for ln in body.decode("latin-1").splitlines():
        if ln.startswith("param:"):
            k, _, v = ln[6:].partition("=")
            out[k] = v
    return out


def body_field(body, name):
    m = re.search(r"^%s:(\d+)$" % name, body.decode("latin-1"), re.M)
    return int(m.group(1)) if m else None


def status_json(h):
    r = h.get("/tracfcgi-status?json")
    assert r.status == 200
    return json.loads(r.body)


def external_pool(h, script):
    for p in status_json(h)["pools"]:
        if p["external"] and p["script"] == script:
            return p
    raise AssertionError("no external pool %s on the status page" % script)


def has_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# the way in: which requests, which CGI variables


@pytest.mark.both_mpms
def test_unix_socket_spawn_fcgi_cgi_variables(httpd, servers):
    srv = servers.spawn_fcgi("unix")
    h = httpd("TracFcgiExternalServer /trac %s\n"
              "TracEnv /srv/trac/project\n"
              "TracFcgiParam trac.base_url http://example.org/trac\n"
              % srv.addr)
    r = h.get("/trac/wiki/WikiStart?env")
    assert r.status == 200, r.body[:300]
    p = params(r.body)
    assert p["SCRIPT_NAME"] == "/trac"
    assert p["PATH_INFO"] == "/wiki/WikiStart"
    assert p["QUERY_STRING"] == "env"
    assert p["REQUEST_URI"] == "/trac/wiki/WikiStart?env"
    assert p["SCRIPT_FILENAME"] == str(h.docroot) + "/trac"
    assert p["trac.env_path"] == "/srv/trac/project"
    assert p["trac.base_url"] == "http://example.org/trac"
    assert p["GATEWAY_INTERFACE"] == "CGI/1.1"
    # served by the server that spawn-fcgi started, not by a process of
    # httpd's
    assert body_field(r.body, "pid") == srv.pid   # spawn-fcgi -n execs it
    assert h.backend_pids() == []
    # the mount point itself, and a trailing slash
    r = h.get("/trac?env")
    assert r.status == 200
    p = params(r.body)
    assert p["SCRIPT_NAME"] == "/trac" and p.get("PATH_INFO", "") == ""
    r = h.get("/trac/?env")
    assert params(r.body)["PATH_INFO"] == "/"
    # a path that only starts like it is not under it
    r = h.get("/tracker")
    assert r.status == 404


def test_root_mount_and_longest_path(httpd, servers):
    a = servers.spawn_fcgi("unix")
    b = servers.threaded("unix")
    h = httpd("TracFcgiExternalServer / %s\n"
              "TracFcgiExternalServer /app/ %s\n" % (a.addr, b.addr))
    r = h.get("/wiki/Start?env")
    assert r.status == 200, r.body[:300]
    p = params(r.body)
    assert p["SCRIPT_NAME"] == "" and p["PATH_INFO"] == "/wiki/Start"
    # the longer URL-PATH wins, whatever the order
    r = h.get("/app/x?pid")
    assert r.status == 200
    assert body_field(r.body, "pid") == b.pid


def test_vhost_own_and_inherited(httpd, servers):
    main = servers.spawn_fcgi("unix")
    own = servers.threaded("unix")
    h = httpd("TracFcgiExternalServer /trac %s\n"
              "<VirtualHost 127.0.0.1:@PORT@>\n"
              " ServerName one.example\n"
              " TracFcgiExternalServer /trac %s\n"
              " TracEnv /srv/trac/one\n"
              "</VirtualHost>\n"
              "<VirtualHost 127.0.0.1:@PORT@>\n"
              " ServerName two.example\n"
              " TracEnv /srv/trac/two\n"
              "</VirtualHost>\n" % (main.addr, own.addr))
    r = h.get("/trac/?pid", headers={"Host": "one.example"})
    assert r.status == 200 and body_field(r.body, "pid") == own.pid
    # the other virtual host has none of its own: the main server's, with
    # its own TracEnv
    r = h.get("/trac/?env", headers={"Host": "two.example"})
    assert r.status == 200
    assert body_field(r.body, "pid") == main.pid
    assert params(r.body)["trac.env_path"] == "/srv/trac/two"


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_tcp_ipv4_and_ipv6_post_body(httpd, servers):
    v4 = servers.spawn_fcgi("tcp")
    v6 = servers.spawn_fcgi("tcp", host="::1")
    assert v6.addr.startswith("[::1]:")
    h = httpd("TracFcgiExternalServer /four %s\n"
              "TracFcgiExternalServer /six %s\n" % (v4.addr, v6.addr))
    data = H.pattern_bytes(0, 3 * 1024 * 1024 + 17)
    for path, srv in (("/four", v4), ("/six", v6)):
        r = h.post(path + "/?echo", data)
        assert r.status == 200, r.body[:300]
        assert ("len:%d" % len(data)).encode() in r.body
        assert ("fnv:%016x" % H.fnv1a64(data)).encode() in r.body
        r = h.get(path + "/?env")
        assert body_field(r.body, "pid") == srv.pid


# --------------------------------------------------------------------------
# connections per address


def test_threaded_standalone_conns_auto(httpd, servers):
    srv = servers.threaded("unix", max_conns=6)
    h = httpd("TracFcgiExternalServer /trac %s check=1\n" % srv.addr + STATUS)
    # the manager's first probe learns FCGI_MAX_CONNS
    H.wait_until(lambda: external_pool(h, "/trac")["addresses"][0]
                 ["max_conns"] == 6, 10, what="FCGI_MAX_CONNS learnt")
    bgs = [Bg(h.get, "/trac/?sleep=800", timeout=30) for _ in range(6)]
    t0 = time.monotonic()
    for b in bgs:
        b.start()
    peaks = [body_field(b.get(30).body, "peak") for b in bgs]
    assert time.monotonic() - t0 < 3.0     # in parallel, not one by one
    assert max(peaks) >= 4, peaks


def test_conns_limit_queues_then_503(httpd, servers):
    srv = servers.threaded("tcp")
    h = httpd("TracFcgiExternalServer /trac %s conns=1\n"
              "TracFcgiQueueTimeout 2\n" % srv.addr + STATUS)
    slow = Bg(h.get, "/trac/?sleep=1200", timeout=30)
    slow.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    r = h.get("/trac/?pid")          # waits for the one connection
    assert r.status == 200
    assert time.monotonic() - t0 > 0.6
    assert slow.get(30).status == 200
    # a request that cannot get the connection within the queue timeout
    hold = Bg(h.get, "/trac/?sleep=4000", timeout=30)
    hold.start()
    time.sleep(0.3)
    r = h.get("/trac/?pid")
    assert r.status == 503
    assert r.headers.get("Retry-After")
    assert h.log_lines(r"TF00448: TracFcgiExternalServer /trac: no "
                       r"connection free within TracFcgiQueueTimeout 2s")
    assert hold.get(30).status == 200
    # one address, one connection, never more at once
    assert external_pool(h, "/trac")["addresses"][0]["max_conns"] == 1


# --------------------------------------------------------------------------
# health: down, up, all down


@pytest.mark.both_mpms
def test_two_addresses_one_killed_under_load(httpd, servers):
    a = servers.threaded("tcp")
    b = servers.threaded("unix")
    h = httpd("TracFcgiExternalServer /trac %s %s check=1\n"
              "TracFcgiConnectTimeout 2\n" % (a.addr, b.addr) + STATUS)
    with H.ClientLoop(h, "/trac/?sleep=20") as load:
        time.sleep(1.5)
        killed_at = time.monotonic()
        servers.kill(a)
        time.sleep(2.0)
    results = load.results
    before = [r for r in results if r[1] < killed_at]
    after = [r for r in results if r[0] > killed_at]
    assert len(before) > 20 and len(after) > 20, (len(before), len(after))
    # only requests in flight at the kill may fail; every later one is
    # answered by the other address
    assert all(r[2] == 200 for r in after), \
        [r for r in after if r[2] != 200][:5]
    assert all(r[2] == 200 for r in before)
    assert len(h.log_lines(r"TF00449: TracFcgiExternalServer /trac: "
                           r"FastCGI server %s is down" %
                           re.escape(a.addr))) == 1
    p = external_pool(h, "/trac")
    states = {x["address"]: x["state"] for x in p["addresses"]}
    assert states == {a.addr: "down", b.addr: "up"}
    dead = next(x for x in p["addresses"] if x["address"] == a.addr)
    assert dead["failures"] >= 1 and dead["last_error"]
    html = h.get("/tracfcgi-status").body.decode()
    assert re.search(r"<td>%s</td><td>down</td>" % re.escape(a.addr), html)
    assert re.search(r"<td>%s</td><td>up</td>" % re.escape(b.addr), html)

    # both down: 503 at once, with Retry-After (the check interval)
    servers.kill(b)
    t0 = time.monotonic()
    r = h.get("/trac/?pid")
    assert r.status == 503
    assert r.headers.get("Retry-After") == "1"
    assert time.monotonic() - t0 < 2.0       # within the connect timeout
    r = h.get("/trac/?pid")
    assert r.status == 503
    assert h.log_lines(r"TF00446: TracFcgiExternalServer /trac: no address "
                       r"is up")

    # one back: served again within the check interval
    mark = h.log_mark()
    a2 = servers.restart(a)
    t0 = time.monotonic()
    H.wait_until(lambda: h.get("/trac/?pid").status == 200, 5,
                 what="served again")
    assert time.monotonic() - t0 < 3.0
    assert body_field(h.get("/trac/?pid").body, "pid") == a2.pid
    h.wait_log(r"TF00701: TracFcgiExternalServer /trac: FastCGI server "
               r"%s is up again" % re.escape(a.addr), since=mark)


def test_waiting_requests_refused_when_last_address_goes(httpd, servers):
    srv = servers.threaded("tcp", max_conns=1)
    h = httpd("TracFcgiExternalServer /trac %s conns=1 check=30\n"
              "TracFcgiQueueTimeout 20\n" % srv.addr)
    busy = Bg(h.get, "/trac/?sleep=3000", timeout=30)
    busy.start()
    time.sleep(0.3)
    queued = [Bg(h.get, "/trac/?pid", timeout=30) for _ in range(3)]
    for q in queued:
        q.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    servers.kill(srv)
    # the request in flight fails; the queued ones go to the dead address
    # one by one or are refused: none waits for the queue timeout
    assert busy.get(30).status in (502, 503)
    for q in queued:
        assert q.get(30).status == 503
    assert time.monotonic() - t0 < 5.0


def test_not_listening_at_start(httpd, servers):
    d = servers._dir("later")
    sock = str(d / "app.sock")
    port = H.free_port()
    body = ("TracFcgiExternalServer /trac unix:%s 127.0.0.1:%d check=1\n"
            % (sock, port))
    # configtest: a warning per address, not an error
    h0 = H.Httpd(body, name="configtest")
    try:
        h0.ports = [H.free_port()]
        h0.conf.write_text(h0.config_text())
        r = subprocess.run([H.APACHE, "-t", "-f", str(h0.conf)],
                           capture_output=True, text=True,
                           env=h0.httpd_env())
        assert r.returncode == 0, r.stderr
        assert "Syntax OK" in r.stderr + r.stdout
        assert len(re.findall(r"TF00601: TracFcgiExternalServer /trac .*"
                              r"nothing answers at", r.stderr)) == 2
    finally:
        h0.cleanup()
    h = httpd(body)
    r = h.get("/trac/?pid")
    assert r.status == 503 and r.headers.get("Retry-After") == "1"
    h.wait_log(r"TF00702: .*FastCGI server unix:%s is down" % re.escape(sock))
    servers.threaded("unix", path=sock)
    H.wait_until(lambda: h.get("/trac/?pid").status == 200, 5,
                 what="served once it listens")


def test_post_never_sent_twice(httpd, servers):
    a = servers.threaded("tcp")
    b = servers.threaded("tcp")
    h = httpd("TracFcgiExternalServer /trac %s %s\n" % (a.addr, b.addr))
    ran = servers.base / "ran"
    ran.touch()
    os.chmod(ran, 0o666)
    # the GET's server dies: the other answers; then the POST's server
    # (whichever is left, maybe after the dead one refused it) dies
    for i, method in enumerate(("GET", "POST")):
        flag = servers.base / ("died-%d" % i)
        path = "/trac/?act=%s&dieonce=%s" % (ran, flag)
        r = h.request(method, path, body=b"x" * 100 if method == "POST"
                      else None)
        lines = ran.read_text().splitlines()
        if method == "POST":
            # reached one server, which died: 502, and it ran once
            assert r.status == 502
            assert len([ln for ln in lines if ln.startswith("POST")]) == 1
            # not sent again: said as the first refusal (TF00444) or,
            # after the dead address refused it, as the second (00435)
            assert h.log_lines(r"TF00444: FastCGI server .* the POST "
                               r"request is not sent to another backend"
                               r"|TF00435: FastCGI server .* closed the "
                               r"connection before answering, as did")
        else:
            # idempotent: the other address answers it
            assert r.status == 200, r.body[:200]
            assert len([ln for ln in lines if ln.startswith("GET")]) == 2


# --------------------------------------------------------------------------
# php-fpm


PHP_SCRIPT = """<?php
header('Content-Type: text/plain');
if (isset($_GET['sleep'])) usleep((int)$_GET['sleep'] * 1000);
echo "script:", $_SERVER['SCRIPT_FILENAME'], "\\n";
echo "name:", $_SERVER['SCRIPT_NAME'], "\\n";
echo "path_info:", isset($_SERVER['PATH_INFO']) ? $_SERVER['PATH_INFO'] : '', "\\n";
echo "pid:", getmypid(), "\\n";
echo "post:", file_get_contents('php://input'), "\\n";
"""


@pytest.mark.skipif(not os.path.exists("/usr/sbin/php-fpm8.2"),
                    reason="php-fpm (Debian php8.2-fpm) is not installed")
@pytest.mark.parametrize("where", ["unix", "tcp"])
def test_php_fpm(httpd, servers, where):
    fpm = servers.php_fpm(where, children=2)
    # php-fpm answers FCGI_MAX_CONNS 1 (per worker): conns= says how many
    # its pool has (pm.max_children)
    h = httpd("TracFcgiExternalServer /app.php %s conns=2\n" % fpm.addr
              + STATUS)
    (h.docroot / "app.php").write_text(PHP_SCRIPT)
    os.chmod(h.docroot / "app.php", 0o644)
    r = h.get("/app.php/some/where?x=1")
    assert r.status == 200, (r.body[:300], servers.output(fpm))
    text = r.body.decode()
    assert "script:%s/app.php\n" % h.docroot in text
    assert "name:/app.php\n" in text
    assert "path_info:/some/where\n" in text
    r = h.post("/app.php", b"hello=fpm")
    assert r.status == 200 and b"post:hello=fpm\n" in r.body
    assert external_pool(h, "/app.php")["addresses"][0]["max_conns"] == 2
    # both children in use, and no stall with more requests than children
    bgs = [Bg(h.get, "/app.php?sleep=300", timeout=30) for _ in range(6)]
    for b in bgs:
        b.start()
    res = [b.get(30) for b in bgs]
    assert all(r.status == 200 for r in res)
    assert len({body_field(r.body, "pid") for r in res}) == 2


# --------------------------------------------------------------------------
# configuration checks, graceful restart


def test_spawn_env_warned(httpd, servers):
    srv = servers.spawn_fcgi("unix")
    h = httpd("TracFcgiExternalServer /trac %s\n"
              "TracFcgiInitEnv PYTHON_EGG_CACHE /tmp/eggs\n"
              "TracFcgiPassEnv LANG\n"
              "TracEnv /srv/trac/x\n" % srv.addr)
    lines = h.log_lines(r"TF00602")
    assert len(lines) == 1
    assert "TracFcgiInitEnv PYTHON_EGG_CACHE, TracFcgiPassEnv LANG" in \
        lines[0]
    assert "TRAC_ENV" not in lines[0]
    assert h.get("/trac/?pid").status == 200


def test_bad_directive_is_a_configtest_error():
    for args, msg in (("/trac", "no address"),
                      ("trac 127.0.0.1:9", "URL-PATH starting with /"),
                      ("/trac 127.0.0.1:9 conns=100", "conns=100"),
                      ("/trac 127.0.0.1:9 weight=2", "unknown option"),
                      ("/trac unix:rel.sock", "unix:"),
                      ("/trac 127.0.0.1:9\nTracFcgiExternalServer /trac/ "
                       "127.0.0.1:10", "already declared")):
        h0 = H.Httpd("TracFcgiExternalServer %s\n" % args, name="bad")
        try:
            h0.ports = [H.free_port()]
            h0.conf.write_text(h0.config_text())
            r = subprocess.run([H.APACHE, "-t", "-f", str(h0.conf)],
                               capture_output=True, text=True,
                               env=h0.httpd_env())
        finally:
            h0.cleanup()
        assert r.returncode != 0, args
        assert "TracFcgiExternalServer" in r.stderr and msg in r.stderr, \
            (args, r.stderr)


@pytest.mark.both_mpms
def test_graceful_restart_under_load(httpd, servers):
    a = servers.threaded("tcp")
    b = servers.spawn_fcgi("unix")
    h = httpd("TracFcgiExternalServer /trac %s %s conns=1\n"
              % (a.addr, b.addr))
    with H.ClientLoop(h, "/trac/?sleep=10") as load:
        time.sleep(1.0)
        h.graceful()
        time.sleep(1.5)
        h.graceful()
        time.sleep(1.0)
    results = load.results
    bad = [r for r in results if r[2] != 200]
    assert len(results) > 50
    assert bad == [], bad[:5]
    # the managers of old generations exit: nothing holds them
    H.wait_until(lambda: len(h.log_lines(r"TF00117")) >= 2, 15,
                 what="old managers to exit")


# --------------------------------------------------------------------------
# keepalive= (FCGI_KEEP_CONN)


def test_keepalive_reuses_connections(httpd, servers):
    srv = servers.threaded("tcp")
    h = httpd("TracFcgiExternalServer /trac %s keepalive=2\n" % srv.addr
              + STATUS)
    reused = 0
    for _ in range(40):
        r = h.get("/trac/?pid")
        assert r.status == 200
        reused += body_field(r.body, "connreq") > 1
    # the requests of one client land on a few httpd children, each of
    # which reuses the connection it kept
    assert reused >= 20, reused
    kept = external_pool(h, "/trac")["addresses"][0]["kept"]
    assert kept >= 1
    # idle past keepalive=: closed, and the places given back
    H.wait_until(lambda: external_pool(h, "/trac")["addresses"][0]
                 ["kept"] == 0, 6, what="kept connections to be closed")
    assert external_pool(h, "/trac")["addresses"][0]["conns"] == 0


def test_keepalive_off_by_default(httpd, servers):
    srv = servers.threaded("tcp")
    h = httpd("TracFcgiExternalServer /trac %s\n" % srv.addr)
    for _ in range(10):
        r = h.get("/trac/?pid")
        assert body_field(r.body, "connreq") == 1


@pytest.mark.both_mpms
def test_keepalive_never_stalls_one_request_servers(httpd, servers):
    """Two one-request-at-a-time servers (libfcgi under spawn-fcgi), one
    connection each, and more clients than that: a request never waits
    behind an idle kept connection (mod_proxy_fcgi's enablereuse gives 0
    req/s here, t/bench)."""
    a = servers.spawn_fcgi("tcp")
    b = servers.spawn_fcgi("tcp")
    h = httpd("TracFcgiExternalServer /trac %s %s conns=1 keepalive=30\n"
              "TracFcgiQueueTimeout 10\n" % (a.addr, b.addr) + STATUS)
    with H.ClientLoop(h, "/trac/?pid", n=8) as load:
        time.sleep(3)
    results = load.results
    assert len(results) > 300, len(results)
    assert all(r[2] == 200 for r in results), \
        [r for r in results if r[2] != 200][:5]
    lat = sorted(r[1] - r[0] for r in results)
    assert lat[int(len(lat) * 0.99)] < 0.5, lat[-5:]
    # and with idle kept connections in one child, a request of another
    # gets through at once
    for _ in range(20):
        t0 = time.monotonic()
        assert h.get("/trac/?pid").status == 200
        assert time.monotonic() - t0 < 0.5
