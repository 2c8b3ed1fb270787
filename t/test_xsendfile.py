"""X-Sendfile (TracFcgiXSendfile, TracFcgiXSendfilePath): the application
names a file, Apache sends it as a static file (length, ETag,
Last-Modified, Range, conditional requests) with the application's
Content-Type and Content-Disposition, and the backend is free at once.
Only files under the allowed directories, after `..` and symbolic links
are resolved; the hostile cases get 403/404/500 and a log line; the
client never sees the header. With TracFcgiXSendfile Off the header goes
on to whatever follows: mod_xsendfile (Debian's libapache2-mod-xsendfile)
when a site uses it.
"""

import collections
import concurrent.futures as cf
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

import httpd as H

BIG = 5 * 1024 * 1024 + 123
XSENDFILE_SO = Path(H.MODDIR) / "mod_xsendfile.so"


@pytest.fixture
def files():
    """allowed/ (big.bin, small.txt, sub/, link-out -> the secret,
    dirlink -> outside/), outside/secret.txt."""
    root = Path(tempfile.mkdtemp(prefix="tf-xsendfile-"))
    os.chmod(root, 0o755)
    allowed, outside = root / "allowed", root / "outside"
    for d in (allowed, outside, allowed / "sub"):
        d.mkdir()
        os.chmod(d, 0o755)
    (allowed / "big.bin").write_bytes(H.pattern_bytes(0, BIG))
    (allowed / "small.txt").write_text("small attachment\n")
    (outside / "secret.txt").write_text("the secret\n")
    os.symlink("../outside/secret.txt", allowed / "link-out")
    os.symlink("../outside", allowed / "dirlink")
    for f in (allowed / "big.bin", allowed / "small.txt",
              outside / "secret.txt"):
        os.chmod(f, 0o644)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def conf(files, extra=""):
    return ("ScriptAlias /trac @APPS@/responder.fcgi/\n"
            "TracFcgiXSendfile On\n"
            "TracFcgiXSendfilePath %s\n" % (files / "allowed") + extra)


def xs(path):
    return "/trac/attachment?xsendfile=" + urllib.parse.quote(str(path),
                                                               safe="")


def test_sends_the_file_as_apache_would(httpd, files):
    h = httpd(conf(files))
    big = files / "allowed/big.bin"
    r = h.get(xs(big))
    assert r.status == 200, r.body[:300]
    assert len(r.body) == BIG and r.body == big.read_bytes()
    assert r.headers["Content-Length"] == str(BIG)
    assert r.headers["Content-Type"] == "application/x-test"
    assert r.headers["Content-Disposition"] == \
        "attachment; filename=file.bin"
    assert r.headers.get("ETag") and r.headers.get("Last-Modified")
    assert r.headers.get("Accept-Ranges") == "bytes"
    assert "X-Sendfile" not in r.headers
    assert b"backend body" not in r.body
    etag = r.headers["ETag"]
    # a range, and conditional requests, as for a static file
    r = h.get(xs(big), headers={"Range": "bytes=1000-1999"})
    assert r.status == 206
    assert r.body == big.read_bytes()[1000:2000]
    assert r.headers["Content-Range"] == "bytes 1000-1999/%d" % BIG
    r = h.get(xs(big), headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b""
    r = h.get(xs(big), headers={"If-Modified-Since":
                                r.headers.get("Last-Modified") or
                                "Sun, 06 Dec 2099 00:00:00 GMT"})
    assert r.status == 304
    r = h.head(xs(files / "allowed/small.txt"))
    assert r.status == 200 and r.body == b""
    assert r.headers["Content-Length"] == "17"


def test_backend_free_at_once(httpd, files):
    """One backend process: while a slow client takes a large file, the
    next request is served at once (the backend was given back before
    the file went out)."""
    big = files / "allowed/big.bin"
    with open(big, "ab") as f:
        f.write(H.pattern_bytes(BIG, 40 * 1024 * 1024))
    h = httpd(conf(files, "TracFcgiMaxProcesses 1\n"))
    conn = h.connection(timeout=60)
    conn.request("GET", xs(big))
    resp = conn.getresponse()
    assert resp.status == 200
    resp.read(1024)                   # and then nothing for a while
    t0 = time.monotonic()
    r = h.get("/trac/?pid", timeout=10)
    assert r.status == 200
    assert time.monotonic() - t0 < 2.0
    rest = resp.read()
    conn.close()
    assert len(rest) + 1024 == os.path.getsize(big)


@pytest.mark.parametrize("case, status, rule", [
    ("dotdot", 403, r"outside every TracFcgiXSendfilePath"),
    ("symlink", 403, r"resolves to .*outside/secret\.txt, outside"),
    ("dirlink", 403, r"outside every TracFcgiXSendfilePath"),
    ("relative", 500, r"must name an absolute path"),
    ("tab", 500, r"control character"),
    # httpd's CGI header parser drops a lone CR: another name, not found
    ("cr", 404, r"small\.txtX not sent: no such file"),
    ("crlf", 403, r"outside every TracFcgiXSendfilePath"),
    ("missing", 404, r"no such file"),
    ("directory", 403, r"it is a directory"),
])
def test_hostile_paths(httpd, files, case, status, rule):
    allowed = files / "allowed"
    path = {
        "dotdot": "%s/../outside/secret.txt" % allowed,
        "symlink": "%s/link-out" % allowed,
        "dirlink": "%s/dirlink/secret.txt" % allowed,
        "relative": "allowed/small.txt",
        "tab": "%s/small.txt\tX" % allowed,
        "cr": "%s/small.txt\rX" % allowed,
        # a header of its own after the line break: the X-Sendfile value
        # ends there, and names a directory outside
        "crlf": "%s\r\nX-Evil: 1" % files,
        "missing": "%s/nothing.bin" % allowed,
        "directory": "%s/sub" % allowed,
    }[case]
    h = httpd(conf(files))
    mark = h.log_mark()
    r = h.get(xs(path))
    assert r.status == status, (r.status, r.body[:200])
    assert b"the secret" not in r.body and b"backend body" not in r.body
    assert "X-Sendfile" not in r.headers
    lines = h.log_lines(r"TF00801: X-Sendfile .* not sent: ", mark)
    assert len(lines) == 1 and re.search(rule, lines[0]), lines
    assert "answering %d" % status in lines[0]


def test_a_directory_swapped_for_a_link_leads_nowhere(httpd, files):
    """Whoever may write under the allowed directory swaps one of its
    directories for a symbolic link to outside/ and back, again and
    again, while files under it are asked for: a request finds the
    directory (its file is sent), the link (refused) or neither (404),
    and never sends what lies outside, even when the swap falls between
    resolving the name and opening it."""
    allowed, outside = files / "allowed", files / "outside"
    (allowed / "real").mkdir()
    (allowed / "real" / "note.txt").write_text("inside\n")
    (outside / "note.txt").write_text("the secret\n")
    for p in (allowed / "real", allowed / "real" / "note.txt",
              outside / "note.txt"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    os.symlink(str(outside), allowed / "link")
    swap = allowed / "swap"
    os.rename(allowed / "real", swap)
    h = httpd(conf(files, "TracFcgiMaxProcesses 4\n"))
    stop = threading.Event()
    flips = [0]

    def flip():
        while not stop.is_set():
            os.rename(swap, allowed / "real")
            os.rename(allowed / "link", swap)
            os.rename(swap, allowed / "link")
            os.rename(allowed / "real", swap)
            flips[0] += 1

    got = collections.Counter()
    t = threading.Thread(target=flip)
    t.start()
    try:
        end = time.monotonic() + 4
        with cf.ThreadPoolExecutor(4) as ex:
            while time.monotonic() < end:
                for r in ex.map(lambda _: h.get(xs(swap / "note.txt")),
                                range(16)):
                    assert b"the secret" not in r.body, \
                        "a file outside was sent"
                    got[r.status] += 1
                    if r.status == 200:
                        assert r.body == b"inside\n"
    finally:
        stop.set()
        t.join()
    assert set(got) <= {200, 403, 404}, got
    assert got[200] > 0 and flips[0] > 100, (got, flips)


def test_error_answer_keeps_its_body(httpd, files):
    h = httpd(conf(files))
    r = h.get(xs(files / "allowed/small.txt") + "&status=404")
    assert r.status == 404
    assert r.body == b"backend body, not to be sent\n"
    assert "X-Sendfile" not in r.headers


def test_on_without_a_path_is_refused(httpd, files):
    h = httpd("ScriptAlias /trac @APPS@/responder.fcgi/\n"
              "TracFcgiXSendfile On\n")
    r = h.get(xs(files / "allowed/small.txt"))
    assert r.status == 500
    assert h.log_lines(r"TF00801: .*no TracFcgiXSendfilePath")


def test_off_leaves_the_header(httpd, files):
    h = httpd("ScriptAlias /trac @APPS@/responder.fcgi/\n")
    small = files / "allowed/small.txt"
    r = h.get(xs(small))
    assert r.status == 200
    assert r.headers["X-Sendfile"] == str(small)
    assert r.body == b"backend body, not to be sent\n"


@pytest.mark.skipif(not XSENDFILE_SO.exists(),
                    reason="mod_xsendfile is not installed (Debian: "
                    "libapache2-mod-xsendfile)")
def test_off_with_mod_xsendfile(httpd, files):
    """A site that already uses mod_xsendfile keeps it: with
    TracFcgiXSendfile Off, its output filter sends the file."""
    h = httpd("ScriptAlias /trac @APPS@/responder.fcgi/\n"
              "XSendFile On\n"
              "XSendFilePath %s\n" % (files / "allowed"),
              extra_modules=[("xsendfile_module", "mod_xsendfile.so")])
    big = files / "allowed/big.bin"
    r = h.get(xs(big))
    assert r.status == 200
    assert r.body == big.read_bytes()
    assert "X-Sendfile" not in r.headers
    r = h.get(xs(big), headers={"Range": "bytes=0-99"})
    assert r.status == 206 and r.body == big.read_bytes()[:100]
