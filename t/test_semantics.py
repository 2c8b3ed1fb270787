"""Request semantics, as mod_cgi has them: a request that a backend may
have acted on never runs twice, the application's invalid output is a 500
(a failed gateway a 502), every method reaches the application, and a
local redirect in an included request fills its place in the page.

The apps record what they did (act=PATH: one line per run, written after
the whole body was read), so the tests count runs the client cannot see.
"""

import gzip
import os
import signal

import pytest

import httpd as H
from httpd import pid_of
from test_lifecycle import threaded

TRAC = "ScriptAlias /trac @APPS@/responder.fcgi/\n"
THREADED = """
ScriptAlias /trac @TMP@/app/threaded.fcgi/
<Directory @TMP@/app>
    Require all granted
</Directory>
"""
KiB = 1024
PM_RX = r"process manager pid=(\d+) started"


def runs(path):
    """The lines the application wrote, one per run: (method, len, pid)."""
    if not path.exists():
        return []
    out = []
    for ln in path.read_text().splitlines():
        m, n, pid = ln.split()
        out.append((m, int(n), int(pid.split("=")[1])))
    return out


# --------------------------------------------------------------------------
# the replay rule

# (buffering, body size): buffered; streamed but read whole before a
# backend is taken (under 64 KiB); streamed, partly sent when it dies
BODIES = [("On", 200 * KiB), ("Off", 1 * KiB), ("Off", 200 * KiB)]


def app_that_dies(httpd, app, buffering):
    """An httpd serving the one-connection or the threaded app at /trac/;
    (h, the file the app records its runs in, the flag it dies once by)."""
    h = httpd((TRAC if app == "one-connection" else THREADED) +
              "TracFcgiRequestBuffering %s\n" % buffering)
    if app == "threaded":
        threaded(h)
    return h, h.scratch / "acts", h.scratch / "died"


@pytest.mark.both_mpms
@pytest.mark.parametrize("app", ["one-connection", "threaded"])
@pytest.mark.parametrize("buffering,size", BODIES,
                         ids=["buffered", "streamed-small", "streamed-big"])
def test_post_killed_after_reading_runs_once(httpd, app, buffering, size):
    """The backend reads the POST, records it and is killed (-9) before it
    answers: the client gets 502, the application ran the POST once, and
    the log says why it was not sent again."""
    h, acts, flag = app_that_dies(httpd, app, buffering)
    mark = h.log_mark()
    r = h.post("/trac/?act=%s&dieonce=%s" % (acts, flag), os.urandom(size))
    assert flag.exists(), "the backend did not get to act"
    assert r.status == 502, (r.status, r.body[:300])
    done = runs(acts)
    assert [(m, n) for m, n, _ in done] == [("POST", size)], \
        "the POST ran %d times: %s" % (len(done), done)
    h.wait_log(r"TF00444: backend pid=%d closed the connection before "
               r"answering; the POST request is not sent to another backend, "
               r"as the first may have acted on it; answering 502"
               % done[0][2], since=mark)
    assert not h.log_lines(r"TF00436", since=mark)
    # the pool serves the next request
    assert h.get("/trac/?pid", timeout=30).status == 200


@pytest.mark.both_mpms
@pytest.mark.parametrize("app", ["one-connection", "threaded"])
@pytest.mark.parametrize("buffering,size", BODIES,
                         ids=["buffered", "streamed-small", "streamed-big"])
def test_put_killed_after_reading_is_replayed(httpd, app, buffering, size):
    """PUT is idempotent: a backend killed after reading it costs the client
    nothing while the whole body is at hand (the second backend answers);
    a body already partly streamed to the dead one cannot be sent again."""
    h, acts, flag = app_that_dies(httpd, app, buffering)
    mark = h.log_mark()
    r = h.request("PUT", "/trac/?act=%s&dieonce=%s&pid" % (acts, flag),
                  body=os.urandom(size), timeout=60)
    assert flag.exists(), "the backend did not get to act"
    done = runs(acts)
    if buffering == "Off" and size > 64 * KiB:
        assert r.status == 502, (r.status, r.body[:300])
        assert len(done) == 1, done
        h.wait_log(r"TF00440: backend pid=\d+ closed the connection before "
                   r"answering, after part of the streamed request body had "
                   r"gone to it", since=mark)
        return
    assert r.status == 200, (r.status, r.body[:300])
    assert [(m, n) for m, n, _ in done] == [("PUT", size)] * 2, done
    first, second = done[0][2], done[1][2]
    assert first != second
    assert b"pid:%d" % second in r.body, r.body
    h.wait_log(r"TF00436: backend pid=%d closed the connection before "
               r"answering; sending the PUT request to another backend"
               % first, since=mark)


@pytest.mark.both_mpms
def test_get_on_dead_backend_still_replayed(httpd):
    h = httpd(TRAC)
    flag, count = h.scratch / "died-once", h.scratch / "count"
    mark = h.log_mark()
    r = h.get("/trac/?count=%s&exitonce=%s&pid" % (count, flag), timeout=30)
    assert r.status == 200, (r.status, r.body[:300])
    assert count.stat().st_size == 2
    h.wait_log(r"TF00436: backend pid=\d+ closed the connection before "
               r"answering; sending the GET request to another backend",
               since=mark)
    assert pid_of(r.body) in h.backend_pids()


def test_extension_method_not_replayed(httpd):
    """A method httpd does not know is not known to be idempotent."""
    h = httpd(TRAC)
    acts, flag = h.scratch / "acts", h.scratch / "died"
    mark = h.log_mark()
    r = h.request("PATCH", "/trac/?act=%s&dieonce=%s" % (acts, flag),
                  body=b"p" * 100)
    assert r.status == 502, (r.status, r.body[:300])
    assert len(runs(acts)) == 1
    h.wait_log(r"TF00444: .* the PATCH request is not sent", since=mark)


def test_post_to_unreachable_backend_is_replayed(httpd):
    """A backend that died idle, before the manager saw it: connecting is
    refused, the POST never reached it and goes to another backend."""
    h = httpd(TRAC + "TracFcgiMinProcesses 2\nTracFcgiMaxProcesses 2\n")
    assert h.get("/trac/?pid").status == 200     # the pool is made
    H.wait_until(lambda: len(h.log_lines(r"TF00104: .* ready in")) == 2, 10,
                 what="two backends ready")
    r = h.get("/trac/?pid")     # the backend given back last is the first
    assert r.status == 200      # to be given out again
    victim = pid_of(r.body)
    pm = int(h.wait_log(PM_RX).group(1))
    acts = h.scratch / "acts"
    mark = h.log_mark()
    os.kill(pm, signal.SIGSTOP)   # nobody reaps or respawns
    try:
        os.kill(victim, signal.SIGKILL)
        H.wait_until(lambda: not H.alive(victim), 5,
                     what="the backend to die")
        got = []
        for _ in range(2):   # whichever backend the first one is given
            r = h.post("/trac/?act=%s&pid" % acts, b"order=1", timeout=30)
            assert r.status == 200, (r.status, r.body[:300])
            got.append(pid_of(r.body))
    finally:
        os.kill(pm, signal.SIGCONT)
    assert victim not in got
    assert len(runs(acts)) == 2, runs(acts)     # each POST ran once
    h.wait_log(r"TF00436: backend pid=%d could not be reached; sending "
               r"the POST request to another backend" % victim, since=mark)


# --------------------------------------------------------------------------
# statuses: the application's fault is 500, the gateway's 502

@pytest.mark.parametrize("query,why", [
    ("noheader", r"\d+ bytes of output: no empty line after the headers"),
    ("silent", r"0 bytes of output: nothing on stdout"),
])
def test_output_without_header_block_500(httpd, query, why):
    h = httpd(TRAC)
    mark = h.log_mark()
    r = h.get("/trac/?" + query)
    assert r.status == 500, (r.status, r.body[:300])
    assert b"no header block" not in r.body
    h.wait_log(r"TF00421: backend pid=\d+ ended the request without a "
               r"complete CGI header block \(%s\); answering 500" % why,
               since=mark)
    assert h.get("/trac/?pid").status == 200


def test_bad_status_line_500(httpd):
    h = httpd(TRAC)
    mark = h.log_mark()
    r = h.get("/trac/?status=abc")
    assert r.status == 500, (r.status, r.body[:300])
    h.wait_log(r"TF00437: backend pid=\d+ sent an invalid Status header "
               r".*answering 500", since=mark)


# --------------------------------------------------------------------------
# every method reaches the application

@pytest.mark.both_mpms
def test_options_reaches_the_application(httpd):
    h = httpd(TRAC)
    r = h.request("OPTIONS", "/trac/dav/?method&allow=OPTIONS,GET,PROPFIND",
                  body=b"<propfind/>",
                  headers={"Content-Type": "text/xml"})
    assert r.status == 200, (r.status, r.body[:300])
    assert r.body == b"method:OPTIONS\nlen:11\n"
    assert r.headers.get("Allow") == "OPTIONS,GET,PROPFIND"


@pytest.mark.parametrize("method", ["PROPFIND", "MKCALENDAR", "DELETE"])
def test_other_methods_reach_the_application(httpd, method):
    h = httpd(TRAC)
    r = h.request(method, "/trac/x?method", body=b"abc")
    assert r.status == 200, (r.status, r.body[:300])
    assert r.body == b"method:%s\nlen:3\n" % method.encode()


def test_options_star_stays_the_servers(httpd):
    h = httpd(TRAC)
    data, how = h.raw(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert h.backend_pids() == []


# --------------------------------------------------------------------------
# a local redirect in an included request (httpd-tests t/apache/pr17629.t)

INCLUDE = """
ScriptAlias /cgi/ @APPS@/
Alias /inc @DOCROOT@
<Directory "@DOCROOT@">
    Options +Includes
    AddType text/html .shtml
    AddOutputFilter INCLUDES .shtml
</Directory>
<Location /cgi>
    # the script's own filter: dropped with its request at the redirect
    SetOutputFilter SUBSTITUTE
    Substitute "s/foobar/WRONG/"
</Location>
<Location /inc/deflated.shtml>
    SetOutputFilter DEFLATE
</Location>
"""
INCLUDE_MODULES = [("include_module", "mod_include.so"),
                   ("deflate_module", "mod_deflate.so"),
                   ("filter_module", "mod_filter.so"),
                   ("substitute_module", "mod_substitute.so")]
PAGE = (b'before <!--#include virtual="/cgi/responder.fcgi?'
        b'redirect=/foobar.html" --> after\n')


@pytest.mark.both_mpms
@pytest.mark.parametrize("page", ["plain.shtml", "deflated.shtml"])
def test_local_redirect_in_included_request(httpd, page):
    h = httpd(INCLUDE, extra_modules=INCLUDE_MODULES)
    (h.docroot / "foobar.html").write_bytes(b"foobar content\n")
    (h.docroot / page).write_bytes(PAGE)
    mark = h.log_mark()
    r = h.get("/inc/" + page, headers={"Accept-Encoding": "gzip"})
    assert r.status == 200, (r.status, r.body[:300])
    body = r.body
    if page == "deflated.shtml":
        assert r.headers.get("Content-Encoding") == "gzip", r.headers
        body = gzip.decompress(body)
    assert body == b"before foobar content\n after\n", body
    assert not h.log_lines(r"\[(include|tracfcgi):error\]", since=mark)
