"""Core behaviour of mod_tracfcgi: handler forms, CGI params, request and
response bodies, CGI header semantics, stderr, third-party apps."""

import base64
import hashlib
import os
import pwd
import re
import socket
import threading
import time

import pytest

import httpd as H
from httpd import pid_of

TRAC = "ScriptAlias /trac @APPS@/responder.fcgi/\n"
RESPONDER = str(H.APPS / "responder.fcgi")
WWW = pwd.getpwnam("www-data")
MiB = 1024 * 1024


def env_of(h, path, **kw):
    r = h.get(path, **kw)
    assert r.status == 200, (r.status, r.body[:500])
    return H.parse_env_body(r.body)


# --------------------------------------------------------------------------
# the ways to mount an app


@pytest.mark.both_mpms
def test_scriptalias_serves_fastcgi(httpd):
    h = httpd(TRAC)
    params, environ, info = env_of(h, "/trac/?env")
    pid = int(info["pid"])
    assert pid in h.backend_pids(), "the answer did not come from a " \
        "responder.fcgi process of this server"
    assert params["SCRIPT_FILENAME"] == RESPONDER
    assert params["SCRIPT_NAME"] == "/trac"
    assert params["PATH_INFO"] == "/"
    assert params.get("FCGI_ROLE") == "RESPONDER"
    # backends run as the httpd User/Group, not as root
    assert int(info["uid"]) == WWW.pw_uid
    assert int(info["gid"]) == WWW.pw_gid
    # a persistent process: the second request is served by the same one
    _, _, info2 = env_of(h, "/trac/?env")
    assert int(info2["pid"]) == pid
    assert int(info2["requests"]) == 2


def test_backend_inherits_nothing_of_httpd(httpd):
    """Backend hygiene: fd 0 is its listening socket, 1 and 2
    the pipe to the manager's logger, nothing else (no listener, no log
    file, no shm handle); it runs in a session of its own, so httpd's
    signals to its process group never reach it. httpd is started with
    one more descriptor open, not close-on-exec, as a parent process or a
    module may leave one: the backend must not get it either."""
    leak = os.open("/dev/null", os.O_RDONLY)
    try:
        h = httpd(TRAC, pass_fds=(leak,))
        pid = pid_of(h.get("/trac/?pid").body)
    finally:
        os.close(leak)
    assert str(leak) in os.listdir("/proc/%d/fd" % h.pid)

    def open_fds():
        return sorted(int(f) for f in os.listdir("/proc/%d/fd" % pid))
    # the answer can reach us before the backend has closed the
    # connection it came on (fd 3 for a moment); an inherited fd stays
    deadline = time.monotonic() + 5
    while open_fds() != [0, 1, 2] and time.monotonic() < deadline:
        time.sleep(0.05)
    fds = open_fds()
    assert fds == [0, 1, 2], [(f, os.readlink("/proc/%d/fd/%s" % (pid, f)))
                              for f in os.listdir("/proc/%d/fd" % pid)]
    links = [os.readlink("/proc/%d/fd/%d" % (pid, f)) for f in fds]
    assert links[0].startswith("socket:"), links
    assert links[1].startswith("pipe:") and links[1] == links[2], links
    assert os.getsid(pid) == pid
    # what it was spared: httpd holds its listener, logs and more
    assert len(os.listdir("/proc/%d/fd" % h.pid)) > 3


@pytest.mark.both_mpms
def test_scriptalias_root_mount(httpd):
    h = httpd("ScriptAlias / @APPS@/responder.fcgi/\n")
    r = h.get("/?pid")
    assert r.status == 200 and pid_of(r.body) in h.backend_pids()
    params, _, _ = env_of(h, "/wiki/Start?env")
    assert params["SCRIPT_NAME"] == ""
    assert params["PATH_INFO"] == "/wiki/Start"
    assert params["REQUEST_URI"] == "/wiki/Start?env"


def test_addhandler(httpd):
    h = httpd("""
Alias /app @APPS@
<Directory @APPS@>
    Options +ExecCGI
    AddHandler tracfcgi-script .fcgi
</Directory>
""")
    params, _, info = env_of(h, "/app/responder.fcgi/x/y?env")
    assert int(info["pid"]) in h.backend_pids()
    assert params["SCRIPT_NAME"] == "/app/responder.fcgi"
    assert params["PATH_INFO"] == "/x/y"
    assert params["SCRIPT_FILENAME"] == RESPONDER


def test_sethandler(httpd):
    h = httpd("""
Alias /sh @APPS@/responder.fcgi
<Directory @APPS@>
    Options +ExecCGI
    <Files "responder.fcgi">
        SetHandler tracfcgi-script
    </Files>
</Directory>
""")
    params, _, info = env_of(h, "/sh/p/q?env")
    assert int(info["pid"]) in h.backend_pids()
    assert params["SCRIPT_NAME"] == "/sh"
    assert params["PATH_INFO"] == "/p/q"


# --------------------------------------------------------------------------
# params compared with mod_cgi(d) for the same URL

COMPARED = ["SCRIPT_NAME", "PATH_INFO", "PATH_TRANSLATED", "QUERY_STRING",
            "REQUEST_METHOD", "REQUEST_URI", "SERVER_NAME", "SERVER_PORT",
            "SERVER_PROTOCOL", "SERVER_SOFTWARE", "SERVER_ADDR",
            "SERVER_ADMIN", "SERVER_SIGNATURE", "GATEWAY_INTERFACE",
            "REMOTE_ADDR", "CONTENT_LENGTH", "CONTENT_TYPE", "DOCUMENT_ROOT",
            "REQUEST_SCHEME", "CONTEXT_PREFIX", "AUTH_TYPE", "REMOTE_USER"]

CMP_HEADERS = {"Host": "cmp.example:8123", "X-Test": "abc  def",
               "Accept": "text/html", "Cookie": "a=b; c=d",
               "Proxy": "http://evil.invalid:1/",
               "Authorization": "Basic Zm9vOmJhcg=="}

CMP_CASES = [
    ("/trac", "/trac"),
    ("/trac", "/trac/"),
    ("/trac", "/trac/wiki/Foo%20Bar"),
    ("/trac", "/trac/wiki/Foo%20Bar?a=1&b=%2Fx+y"),
    ("/trac", "/trac/caf%C3%A9/x.html"),
    ("/", "/"),
    ("/", "/wiki/Foo%20Bar?x=1"),
]


def _cmp_server(httpd, prefix, extra=""):
    return httpd("""
<VirtualHost 127.0.0.1:@PORT@>
    ScriptAlias %(p)s @APPS@/responder.fcgi/
    %(x)s
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT2@>
    ScriptAlias %(p)s @APPS@/env.cgi/
    %(x)s
</VirtualHost>
""" % {"p": prefix, "x": extra}, nports=2)


def _compare(h, method, url, body=None, headers=None):
    q = "&env" if "?" in url else "?env"
    hdrs = dict(CMP_HEADERS)
    hdrs.update(headers or {})
    rf = h.request(method, url + q, body=body, headers=hdrs)
    rc = h.request(method, url + q, body=body, headers=hdrs, port=h.ports[1])
    assert rc.status == 200, ("mod_cgi reference failed", rc.status, rc.body)
    assert rf.status == 200, (rf.status, rf.body[:500])
    fparams, _, _ = H.parse_env_body(rf.body)
    # the only expected difference: a root mount maps PATH_INFO through the
    # ScriptAlias itself, so PATH_TRANSLATED names the mounted file
    cparams = {k: v.replace(str(H.APPS / "env.cgi"), RESPONDER)
               for k, v in H.parse_cgi_env(rc.body).items()}
    names = set(COMPARED) | {k for k in list(fparams) + list(cparams)
                             if k.startswith("HTTP_")}
    got = {k: fparams.get(k) for k in sorted(names)}
    want = {k: cparams.get(k) for k in sorted(names)}
    assert got == want
    return fparams


@pytest.mark.both_mpms
@pytest.mark.parametrize("prefix,url", CMP_CASES,
                         ids=["%s:%s" % c for c in CMP_CASES])
def test_params_match_cgi_get(httpd, prefix, url):
    h = _cmp_server(httpd, prefix)
    params = _compare(h, "GET", url)
    assert "HTTP_PROXY" not in params
    assert "HTTP_AUTHORIZATION" not in params
    assert "CONTENT_LENGTH" not in params


def test_params_match_cgi_post(httpd):
    h = _cmp_server(httpd, "/trac")
    params = _compare(h, "POST", "/trac/wiki/x", body=b"a=1&b=2",
                      headers={"Content-Type":
                               "application/x-www-form-urlencoded"})
    assert params["CONTENT_LENGTH"] == "7"


def test_params_match_cgi_basic_auth(httpd):
    h = _cmp_server(httpd, "/trac", extra="""
    <Location /trac>
        AuthType Basic
        AuthName "tf test"
        AuthBasicProvider file
        AuthUserFile "@TMP@/htpasswd"
        Require valid-user
    </Location>""")
    sha = base64.b64encode(hashlib.sha1(b"bar").digest()).decode()
    (h.tmp / "htpasswd").write_text("foo:{SHA}%s\n" % sha)
    os.chmod(h.tmp / "htpasswd", 0o644)
    assert h.get("/trac/?pid").status == 401
    params = _compare(h, "GET", "/trac/login")
    assert params["REMOTE_USER"] == "foo"
    assert params["AUTH_TYPE"] == "Basic"
    assert "HTTP_AUTHORIZATION" not in params


def test_no_proxy_no_authorization_no_content_length(httpd):
    h = httpd(TRAC)
    params, _, _ = env_of(h, "/trac/?env", headers={
        "Proxy": "http://evil.invalid:1/",
        "Authorization": "Basic Zm9vOmJhcg==", "X-Other": "kept"})
    assert params["HTTP_X_OTHER"] == "kept"
    assert "HTTP_PROXY" not in params
    assert "HTTP_AUTHORIZATION" not in params
    assert "CONTENT_LENGTH" not in params
    r = h.post("/trac/?env", b"12345", headers={"Content-Type": "x/y"})
    params, _, _ = H.parse_env_body(r.body)
    assert params.get("CONTENT_LENGTH") == "5"
    assert params.get("CONTENT_TYPE") == "x/y"


# --------------------------------------------------------------------------
# methods and bodies


@pytest.mark.both_mpms
def test_get_head_post_put(httpd):
    h = httpd(TRAC)
    r = h.get("/trac/?pid")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    r = h.head("/trac/?pid")
    assert r.status == 200 and r.body == b""
    assert r.headers["Content-Type"].startswith("text/plain")
    params, _, _ = env_of(h, "/trac/?env")
    assert params["REQUEST_METHOD"] == "GET"
    data = b"hello world\x00\xff" * 100
    r = h.post("/trac/?echo", data)
    assert r.status == 200
    assert r.body == b"len:%d\nfnv:%016x\n" % (len(data), H.fnv1a64(data))
    r = h.request("PUT", "/trac/?echo=raw", body=data)
    assert r.status == 200 and r.body == data


@pytest.mark.both_mpms
def test_upload_10mib(httpd):
    h = httpd(TRAC)
    data = os.urandom(10 * MiB)
    r = h.post("/trac/?echo", data, timeout=120)
    assert r.status == 200, r.body[:300]
    assert r.body == b"len:%d\nfnv:%016x\n" % (len(data), H.fnv1a64(data))


def test_spooled_body_sizes(httpd):
    """Bodies past TracFcgiBodyInMemory go to a file in 64 KiB writes (with
    a Content-Length, as STDIN records of 65535 bytes, headers included;
    chunked, as plain bytes after the first ones in memory): every size
    around the memory, write and record boundaries arrives intact."""
    h = httpd(TRAC + "TracFcgiBodyInMemory 1000\n")
    for n in (999, 1000, 1001, 65534, 65535, 65536, 65537, 66535, 66536,
              66537, 2 * 65535, 2 * 65535 + 1, 3 * 65536 + 1000,
              3 * 65536 + 1001, 16 * 65535, 1 * MiB + 5):
        data = os.urandom(n)
        r = h.post("/trac/?echo", data)
        assert r.status == 200, (n, r.body[:300])
        assert r.body == b"len:%d\nfnv:%016x\n" % (n, H.fnv1a64(data)), n
        pieces = [data[i:i + 7000] for i in range(0, n, 7000)]
        r = h.post("/trac/?echo", iter(pieces), encode_chunked=True,
                   headers={"Transfer-Encoding": "chunked"})
        assert r.body == b"len:%d\nfnv:%016x\n" % (n, H.fnv1a64(data)), n


def _spooled_while_in_flight(h, n):
    """POST @n bytes to an app that records it has read them, then sleeps;
    @return the sizes of the (unlinked) spool files open meanwhile."""
    rec = h.scratch / ("acted-%d" % n)
    out = {}
    t = threading.Thread(target=lambda: out.update(
        r=h.post("/trac/?act=%s&sleep=800" % rec, os.urandom(n))))
    t.start()
    H.wait_until(lambda: rec.exists() and rec.read_text(), 5,
                 what="the app to read the body")
    files = h.temp_files("tracfcgi-body.")
    assert all(t.endswith(" (deleted)") for t, _ in files), files
    assert not os.listdir(h.tmp / "tmp"), "a spool file has a name"
    t.join(10)
    assert out["r"].status == 200, out["r"].body[:300]
    assert rec.read_text().startswith("POST %d " % n), rec.read_text()
    return [size for _, size in files]


def test_bodies_past_64kib_wait_in_a_file(httpd):
    """By default (TracFcgiBodyInMemory 65536, mod_fcgid's default) a body
    past 64 KiB waits for its backend in a temporary file, all of it (not
    a MiB of httpd's memory per upload in flight), as the STDIN records
    the backend is sent in one sendfile(), unlinked at once (a
    child that dies leaves nothing behind), and is sent from there whole;
    64 KiB and less stay in memory."""
    def records(n):  # STDIN records of 65535 bytes, 8-byte headers
        return n + -(-n // 65535) * 8

    h = httpd(TRAC)
    assert _spooled_while_in_flight(h, MiB) == [records(MiB)]
    assert _spooled_while_in_flight(h, 65536) == []
    assert _spooled_while_in_flight(h, 65537) == [records(65537)]
    H.wait_until(lambda: not h.temp_files("tracfcgi-body."), 5,
                 what="the spool files to be closed")


@pytest.mark.both_mpms
def test_backend_gone_while_a_spooled_body_goes_out(httpd):
    """The backend exits without reading a 2 MiB body that is being sent
    from its spool file with sendfile(): the client gets 502, no httpd
    child dies of it (sendfile() has no MSG_NOSIGNAL), and the next
    request is served."""
    h = httpd(TRAC)
    assert h.get("/trac/?pid").status == 200
    children = h.settled_children()
    mark = h.log_mark()
    r = h.post("/trac/?exit=3", os.urandom(2 * MiB))
    assert r.status == 502, (r.status, r.body[:300])
    assert h.get("/trac/?pid").status == 200
    assert h.httpd_children() == children
    assert not h.log_lines(r"exit signal|Broken pipe", since=mark)


@pytest.mark.both_mpms
def test_chunked_upload(httpd):
    h = httpd(TRAC)
    pieces = [os.urandom(n) for n in (1, 65536, 100000, 7, 1 * MiB, 3333)]
    data = b"".join(pieces)
    r = h.post("/trac/?echo", iter(pieces), encode_chunked=True,
               headers={"Transfer-Encoding": "chunked"})
    assert r.status == 200, r.body[:300]
    assert r.body == b"len:%d\nfnv:%016x\n" % (len(data), H.fnv1a64(data))
    # the body is read before the backend is taken: the app is told its
    # length like for any other body
    r = h.post("/trac/?env", iter(pieces), encode_chunked=True,
               headers={"Transfer-Encoding": "chunked"})
    params, _, _ = H.parse_env_body(r.body)
    assert params.get("CONTENT_LENGTH") == str(len(data))


def test_limit_request_body(httpd):
    h = httpd(TRAC + """
<Location /trac>
    LimitRequestBody 1000
</Location>
""")
    r = h.post("/trac/?echo", b"x" * 2000)
    assert r.status == 413
    r = h.post("/trac/?echo", iter([b"y" * 600, b"y" * 600]),
               encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
    assert r.status == 413
    assert h.backend_pids() == [], "a backend was taken for a request " \
        "whose body was refused"
    r = h.post("/trac/?echo", b"z" * 1000)
    assert r.status == 200
    assert r.body.startswith(b"len:1000\n")


def test_slow_upload_does_not_hold_a_backend(httpd):
    """The body is read before a backend is taken: a client trickling its
    body must not keep the only backend from others."""
    h = httpd(TRAC + "TracFcgiMaxProcesses 1\nTracFcgiQueueTimeout 5\n")
    assert h.get("/trac/?pid").status == 200
    s = socket.create_connection(("127.0.0.1", h.port), timeout=30)
    try:
        s.sendall(b"POST /trac/?echo HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 1000\r\nConnection: close\r\n\r\n" +
                  b"a" * 500)
        time.sleep(0.5)   # let httpd start on it; nothing to observe
        t0 = time.monotonic()
        r = h.get("/trac/?pid", timeout=30)
        elapsed = time.monotonic() - t0
        assert r.status == 200 and elapsed < 3, (r.status, elapsed)
        s.sendall(b"a" * 500)
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    status, _, body, _, _ = H.parse_response(data)
    assert status == 200
    assert body == b"len:1000\nfnv:%016x\n" % H.fnv1a64(b"a" * 1000)


@pytest.mark.both_mpms
def test_download_100mib_streamed(httpd):
    h = httpd(TRAC)
    total = 100 * 1024          # KiB
    conn, resp = h.open_stream("/trac/?big=%d" % total, timeout=120)
    try:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/octet-stream"
        n = 0
        while True:
            b = resp.read(MiB)
            if not b:
                break
            if b != H.pattern_bytes(n, len(b)):
                pytest.fail("body differs from the pattern in bytes %d-%d"
                            % (n, n + len(b)))
            n += len(b)
    finally:
        conn.close()
    assert n == total * 1024
    # with the backend's Content-Length, which the module checks against
    # what really comes (the body bytes that arrive in the same read as
    # the headers count too: a miscount aborted correct answers)
    for _ in range(5):
        r = h.get("/trac/?big=1024&cl")
        assert r.status == 200
        assert r.headers["Content-Length"] == str(MiB)
        assert r.body == H.pattern_bytes(0, MiB)
    assert "announced Content-Length" not in h.error_log()
    # and the connection stays usable (no abort after a good answer)
    assert h.get("/trac/?pid").status == 200


def test_response_is_streamed(httpd):
    h = httpd(TRAC)
    conn, resp = h.open_stream("/trac/?stream=4&interval=700")
    try:
        t0 = time.monotonic()
        assert resp.status == 200
        first = resp.read1(100) if hasattr(resp, "read1") else resp.read(7)
        t_first = time.monotonic() - t0
        rest = resp.read()
        t_all = time.monotonic() - t0
    finally:
        conn.close()
    assert (first + rest) == b"line 0\nline 1\nline 2\nline 3\n"
    assert t_all >= 2.0
    assert t_first < 1.0, "first line came after %.2fs: the response is " \
        "buffered, not streamed" % t_first


def test_params_over_64k(httpd):
    h = httpd(TRAC)
    hdrs = {"X-Long-%d" % i: (("%d-" % i) + "abcdefghij" * 700)[:7000]
            for i in range(10)}
    params, _, _ = env_of(h, "/trac/?env", headers=hdrs)
    for i in range(10):
        assert params.get("HTTP_X_LONG_%d" % i) == hdrs["X-Long-%d" % i], i


def test_many_response_headers(httpd):
    h = httpd(TRAC)
    r = h.get("/trac/?headers=50&hsize=1000&pid")
    assert r.status == 200
    val = "".join(chr(ord("A") + i % 26) for i in range(1000))
    for i in range(50):
        assert r.headers["X-Big-%d" % i] == val, i
    assert pid_of(r.body)


# --------------------------------------------------------------------------
# CGI response header semantics


@pytest.mark.both_mpms
def test_local_redirect(httpd):
    h = httpd(TRAC)
    r = h.get("/trac/?redirect=/index.html")
    assert r.status == 200
    assert r.body == b"static index\n"
    assert "Location" not in r.headers
    r = h.get("/trac/?redirect=%2Ftrac%2Fother%3Fpid")
    assert r.status == 200
    assert pid_of(r.body) in h.backend_pids()


def test_absolute_location_is_302(httpd):
    h = httpd(TRAC)
    r = h.get("/trac/?location=http%3A%2F%2Fexample.invalid%2Fx%3Fy%3D1")
    assert r.status == 302
    assert r.headers["Location"] == "http://example.invalid/x?y=1"


def test_status_from_backend(httpd):
    h = httpd(TRAC)
    r = h.get("/trac/?status=404")
    assert r.status == 404
    assert r.body.startswith(b"hello from pid ")
    r = h.get("/trac/?status=201&pid")
    assert r.status == 201
    r = h.get("/trac/?nobody")
    assert r.status == 200 and r.body == b""


def test_headers_without_content_type_match_cgi(httpd):
    h = httpd(TRAC + """
ScriptAlias /cgi/ @TMP@/cgi/
<Directory @TMP@/cgi>
    Require all granted
</Directory>
""")
    d = h.tmp / "cgi"
    d.mkdir()
    os.chmod(d, 0o755)
    (d / "status-only.cgi").write_text(
        "#!/bin/sh\nprintf 'Status: 200\\r\\n\\r\\nbody\\n'\n")
    os.chmod(d / "status-only.cgi", 0o755)
    rc = h.get("/cgi/status-only.cgi")
    assert rc.status == 200 and rc.body == b"body\n"
    rf = h.get("/trac/?noct&status=200")
    assert rf.status == rc.status
    assert rf.body.startswith(b"hello from pid ")
    assert rf.headers.get("Content-Type") == rc.headers.get("Content-Type")


# --------------------------------------------------------------------------
# stderr


@pytest.mark.both_mpms
def test_stderr_to_error_log(httpd):
    h = httpd(TRAC)
    mark = h.log_mark()
    r = h.get("/trac/?stderr=marker%20from%20the%20app%2042&pid")
    assert r.status == 200
    pid = pid_of(r.body)
    m = h.wait_log(r"^.*marker from the app 42.*$", since=mark)
    line = m.group(0)
    assert "stderr" in line
    assert re.search(r"pid[= ]%d\b" % pid, line), \
        "the stderr line does not name the backend pid %d" % pid


# --------------------------------------------------------------------------
# third-party app


def test_php_cgi(httpd):
    h = httpd("ScriptAlias /php @APPS@/hello.php.fcgi/\n")
    r = h.get("/php/foo/bar?x=1")
    assert r.status == 200, r.body[:500]
    text = r.body.decode()
    assert text.startswith("php ok\n"), text
    assert "SCRIPT_NAME=/php\n" in text
    assert "PATH_INFO=/foo/bar\n" in text
    assert "QUERY_STRING=x=1\n" in text
    assert "sapi=cgi-fcgi\n" in text
    pid = int(re.search(r"pid=(\d+)", text).group(1))
    assert pid in h.backend_pids("hello.php.fcgi")
    r = h.get("/php/again")
    assert r.status == 200
    assert int(re.search(rb"pid=(\d+)", r.body).group(1)) == pid


# --------------------------------------------------------------------------
# TracFcgiInitEnv / DefaultInitEnv


@pytest.mark.both_mpms
def test_spawn_env_never_mixed_up(httpd):
    """Each httpd child keeps the spawn spec of a script per configuration
    (src/spec_cache.c): sections that differ only in a variable's value,
    or whose merged variables are made anew for every request, must still
    reach their own pools, request after request, in every child."""
    h = httpd("""
TracFcgiInitEnv TF_OUTER outer
ScriptAlias /a @APPS@/responder.fcgi/
ScriptAlias /b @APPS@/responder.fcgi/
ScriptAlias /c @APPS@/responder.fcgi/
<Location /a>
    TracFcgiInitEnv TF_WHICH a
</Location>
<Location /b>
    TracFcgiInitEnv TF_WHICH b
</Location>
<Location /c>
    TracFcgiInitEnv TF_WHICH c
</Location>
<Location /c/sub>
    TracFcgiInitEnv TF_WHICH c-sub
</Location>
""")
    pids = {}
    for _ in range(15):
        for loc, which in (("a", "a"), ("b", "b"), ("c", "c"),
                           ("c/sub", "c-sub")):
            _, env, info = env_of(h, "/%s/?env" % loc)
            assert env.get("TF_WHICH") == which, loc
            assert env.get("TF_OUTER") == "outer", loc
            pids.setdefault(which, set()).add(info["pid"])
    seen = [p for v in pids.values() for p in v]
    assert len(seen) == len(set(seen)), pids  # no process serves two


def test_init_env(httpd):
    h = httpd("""
TracFcgiInitEnv TF_SERVER_A alpha
DefaultInitEnv TF_SERVER_B "beta gamma"
TracFcgiInitEnv TF_PASS
ScriptAlias /trac @APPS@/responder.fcgi/
ScriptAlias /loc @APPS@/responder.fcgi/
<Location /loc>
    TracFcgiInitEnv TF_LOC here
</Location>
<VirtualHost 127.0.0.1:@PORT2@>
    TracFcgiInitEnv TF_VHOST v1
    DefaultInitEnv TF_VHOST_B v2
    ScriptAlias /trac @APPS@/responder.fcgi/
</VirtualHost>
""", nports=2, env={"TF_PASS": "from-httpd"})
    _, env, info = env_of(h, "/trac/?env")
    assert env.get("TF_SERVER_A") == "alpha"
    assert env.get("TF_SERVER_B") == "beta gamma"
    assert "TF_PASS" in env
    assert "TF_VHOST" not in env and "TF_LOC" not in env
    _, venv, vinfo = env_of(h, "/trac/?env", port=h.ports[1])
    assert venv.get("TF_VHOST") == "v1"
    assert venv.get("TF_VHOST_B") == "v2"
    assert venv.get("TF_SERVER_A") == "alpha"
    assert vinfo["pid"] != info["pid"]
    _, lenv, _ = env_of(h, "/loc/?env")
    assert lenv.get("TF_LOC") == "here"
