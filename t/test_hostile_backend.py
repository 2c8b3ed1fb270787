"""A backend that breaks the FastCGI protocol or the CGI response rules
(t/apps/hostile.fcgi, one case per test).

For every case: the client gets a well-formed HTTP response (a status line;
502/504 when the gateway failed, 500 when the application's output is not a
CGI response, as mod_cgi answers it; 200 for the valid cases; when the header
was already out, the connection is closed without a complete-looking body),
the error log names the violation in one line, no httpd process crashed,
the next request on the same pool answers 200 within a couple of seconds,
and a backend whose stream is suspect is never used again (the next request
is answered by another process; the suspect one is stopped). Afterwards no
backend slot is held or waited for (status page)."""

import collections
import time

import pytest

import httpd as H
import hostile_util as U

HOSTILE = U.load_hostile()

CONF = """
ScriptAlias /h @APPS@/hostile.fcgi/
ScriptAlias /na @APPS@/hostile.fcgi/
ScriptAlias /nr @APPS@/hostile.fcgi/
TracFcgiIOTimeout 2
TracFcgiInitEnv HOSTILE_LOG @SCRATCH@/hostile.log
<Location /na>
    TracFcgiInitEnv HOSTILE_MODE noaccept
</Location>
<Location /nr>
    TracFcgiInitEnv HOSTILE_MODE noread
</Location>
""" + U.STATUS_LOCATION

TF_ERR = r"\[tracfcgi:(warn|error|crit|alert|emerg)\]"

# expect:
#   valid   200, complete, body as the backend sent it, no warning/error
#   fail    a clean error response with one of the statuses in `statuses`
#   abort   a clean 502, or 200 whose body does not look complete and whose
#           connection the server closed
#   any     a well-formed response with one of `statuses` (no framing rule)
Case = collections.namedtuple(
    "Case", "name expect statuses log suspect path method body slow")


def case(name, expect, statuses=(), log=None, suspect=False, path="/h/",
         method="GET", body=None, slow=False):
    return Case(name, expect, set(statuses), log, suspect, path, method, body,
                slow)


PID = r"backend pid={pid}\b"

CASES = [
    # valid, however odd: the whole body arrives, the backend stays
    case("split", "valid"),
    case("unknown-type", "valid"),
    case("maxrec", "valid"),
    case("stderr-flood", "valid"),
    case("two-end", "valid"),      # the answer is whole at the first one
    case("mgmt-record", "valid"),
    case("tiny-records", "valid"),
    case("early-answer", "valid", method="POST", body=b"e" * (1 << 20)),
    # protocol violations: 502, one TF00414 line, the process is dropped
    case("version2", "fail", {502}, r"TF00414: %s broke the FastCGI "
         r"protocol: .*version" % PID, True),
    case("badid", "fail", {502}, r"TF00414: %s broke the FastCGI protocol: "
         r".*request id" % PID, True),
    case("server-type", "fail", {502}, r"TF00414: %s broke the FastCGI "
         r"protocol: .*type" % PID, True),
    case("short-end", "abort", {502}, r"TF00414: %s broke the FastCGI "
         r"protocol: .*END_REQUEST" % PID, True),
    # header blocks: the application's output is not a CGI response (500),
    # unless the connection broke first (502)
    case("hdr9k", "fail", {500}, r"TF00411: %s sent malformed response "
         r"headers .*; answering 500" % PID),
    case("hdr1m", "fail", {500}, r"TF00412: %s sent more than \d+ bytes "
         r"without ending its response headers; answering 500" % PID, True),
    case("hdr-endless", "fail", {500}, r"TF00412: %s sent more than \d+ "
         r"bytes without ending its response headers" % PID, True),
    case("noblank-eof", "fail", {502}, r"TF00420: %s closed the connection "
         r"mid-response; answering 502" % PID, True),
    case("noblank-end", "fail", {500}, r"TF00421: %s ended the request "
         r"without a complete CGI header block .*; answering 500" % PID),
    case("status-abc", "fail", {500}, r"TF004\d\d: %s .*(?i:status).*abc.*"
         r"answering 500" % PID),
    # header values with a raw CR: nothing may be injected into the answer
    case("location-cr", "any", {302, 502}),
    case("location-cr-local", "any", {404, 500}),
    # framing from the backend is not trusted
    case("te-cl-short", "abort", {502}, r"TF00422: %s announced "
         r"Content-Length 1000 but sent 100 bytes" % PID, True),
    case("te-cl-long", "any", {200, 502}, r"TF004\d\d: %s .*Content-Length"
         % PID, True),
    # dead or silent mid-way
    case("mid-record-close", "abort", {502}, r"TF00420: %s closed the "
         r"connection mid-response" % PID, True),
    case("stall-body", "abort", {502}, r"TF00419: %s: nothing happened for "
         r"TracFcgiIOTimeout 2s; aborting the client connection" % PID, True,
         slow=True),
    case("noread", "fail", {504}, r"TF00419: %s: nothing happened for "
         r"TracFcgiIOTimeout 2s; answering 504" % PID, True, method="POST",
         body=b"x" * (1 << 20), slow=True),
    case("noread-at-all", "fail", {504}, r"TF00419: %s: nothing happened "
         r"for TracFcgiIOTimeout 2s; answering 504" % PID, True, path="/nr/",
         slow=True),
    case("noaccept", "fail", {504}, r"TF00419: %s: nothing happened for "
         r"TracFcgiIOTimeout 2s; answering 504" % PID, True, path="/na/",
         slow=True),
    # a refusal is not a violation, but the gateway did not get an answer
    case("refuse", "fail", {502}, r"TF00415: %s refused the request "
         r"\(FastCGI protocol status 1: FCGI_CANT_MPX_CONN\); answering 502"
         % PID),
]


def raw_request(h, method, path, body=None, timeout=30):
    head = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % h.port,
            "Connection: close"]
    if body is not None:
        head.append("Content-Length: %d" % len(body))
    data = ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")
    raw, how = h.raw(data, timeout=timeout)
    return H.parse_response(raw) + (how, raw)


def served_by(h, name):
    """Pid of the last hostile.fcgi process that logged case @name."""
    path = h.scratch / "hostile.log"
    pids = [int(ln.split()[1]) for ln in path.read_text().splitlines()
            if ln.split()[0] == name]
    assert pids, "no hostile.fcgi process got case %s" % name
    return pids[-1]


def expected_body(name, pid):
    if name == "split":
        return HOSTILE.BODY_A + b"pid:%d\n" % pid
    if name == "unknown-type":
        return HOSTILE.BODY_A + HOSTILE.BODY_B
    if name == "maxrec":
        return HOSTILE.maxrec_body()
    if name == "stderr-flood":
        return b"pid:%d\n" % pid
    if name in ("two-end", "early-answer"):
        return HOSTILE.BODY_A
    if name == "mgmt-record":
        return HOSTILE.BODY_A + HOSTILE.BODY_B
    if name == "tiny-records":
        return HOSTILE.tiny_body()
    raise KeyError(name)


def check_stderr_flood(h, pid, mark):
    """Every line of the 64 KiB STDERR record is one log line, whole."""
    text = HOSTILE.stderr_flood_text().decode()
    sent = [ln for ln in text.split("\n") if ln]
    # logged before the answer went out: nothing to wait for
    got = [ln.split(" stderr: ", 1)[1] for ln in
           h.log_lines(r"TF00410: backend pid=%d stderr: " % pid, since=mark)]
    missing = [ln for ln in sent if ln not in set(got)]
    assert not missing, \
        "%d of %d stderr lines did not reach the log whole (e.g. %r); the " \
        "log got %d lines for them, e.g. %r" % (
            len(missing), len(sent), missing[:2], len(got),
            [g for g in got if g not in set(sent)][:5])
    assert len(got) == len(sent), \
        "%d stderr lines became %d log lines" % (len(sent), len(got))


@pytest.mark.both_mpms
@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_hostile_backend(httpd, c, mpm):
    h = httpd(CONF)
    env_mode = c.path != "/h/"
    if not env_mode:
        # the pool's one process exists and served: the case hits it
        r = h.get("/h/?case=ok", timeout=10)
        assert r.status == 200, (r.status, r.body[:300])
    children = h.settled_children()
    mark = h.log_mark()
    t0 = time.monotonic()
    status, headers, body, raw_body, complete, how, raw = raw_request(
        h, c.method, "%s?case=%s" % (c.path, c.name), c.body)
    took = time.monotonic() - t0
    pid = served_by(h, c.name)

    # a well-formed answer, and the server closed the connection
    assert how == "eof", "the connection %s after %.1fs" % (how, took)
    assert status is not None, "no complete response head: %r" % raw[:300]
    U.check_head_clean(raw)
    assert "x-injected" not in headers, headers
    assert not ("content-length" in headers and
                "transfer-encoding" in headers), \
        "both Content-Length and Transfer-Encoding: %s" % headers
    if c.slow:
        assert 1.5 <= took < 6, "answered after %.2fs (IOTimeout 2)" % took
    else:
        assert took < 5, "answered after %.2fs" % took

    if c.expect == "valid":
        assert status == 200, (status, body[:300])
        assert complete is True, "valid answer not complete: %s" % headers
        want = expected_body(c.name, pid)
        assert body == want, "body differs: got %d bytes %r, want %d %r" % (
            len(body), body[:60], len(want), want[:60])
        if c.name == "stderr-flood":
            check_stderr_flood(h, pid, mark)
        bad = [ln for ln in h.log_lines(TF_ERR, since=mark)
               if "TF00410" not in ln]
        # a second END_REQUEST may be noticed (and the process dropped)
        assert not bad or c.name == "two-end", \
            "a valid answer was logged as a problem:\n" + "\n".join(bad[:5])
    elif c.expect == "fail":
        assert status in c.statuses, "got %s, want one of %s; headers %s, " \
            "body %r" % (status, sorted(c.statuses), headers, body[:200])
        if status == 503:
            assert headers.get("retry-after"), headers
    elif c.expect == "abort":
        if status not in c.statuses:
            assert status == 200, (status, headers, body[:300])
            assert complete is False, \
                "a broken answer looks complete to the client (%s, %d " \
                "bytes)" % (headers, len(body))
    else:
        assert status in c.statuses, (status, headers, body[:300])

    if c.name == "te-cl-long" and status == 200:
        assert headers.get("content-length") == "10" and body == b"b" * 10, \
            (headers, body)
    if c.name == "te-cl-short" and status == 200:
        assert headers.get("content-length") == "1000", headers
        assert len(body) == 100

    # the log names the violation, once
    if c.log:
        rx = c.log.format(pid=pid)
        try:
            h.wait_log(rx, since=mark, timeout=5)
        except TimeoutError:
            raise AssertionError(
                "no log line /%s/; tracfcgi lines since the request:\n%s" % (
                    rx, "\n".join(ln[:300] for ln in h.log_lines(
                        r"\[tracfcgi|\[core|\[cgi", since=mark)[:10])))
        lines = [ln for ln in h.log_lines(
            r"%s.*TF004\d\d: backend pid=%d\b" % (TF_ERR, pid), since=mark)
            if "TF00410" not in ln]
        assert len(lines) == 1, "%d log lines for one violation:\n%s" % (
            len(lines), "\n".join(ln[:300] for ln in lines[:5]))

    # no httpd process died; the pool serves again, soon
    U.assert_no_crash(h, since=mark)
    if mpm == "event":
        assert h.httpd_children() == children, "httpd children changed"
    if c.suspect:
        U.wait_gone(pid, 5)
    ok_path = "/h/?case=ok"
    r, took = U.elapsed(h.get, ok_path, timeout=10)
    assert r.status == 200, (r.status, r.body[:300])
    assert took < 3, "the next request took %.2fs" % took
    next_pid = H.pid_of(r.body)
    if c.suspect:
        assert next_pid != pid, "the suspect backend served again"
    elif c.expect == "valid" and c.name != "two-end":
        assert next_pid == pid and H.alive(pid), \
            "a backend that did nothing wrong was dropped"
    if env_mode:
        # the same pool again: not the process that hung
        mark2 = h.log_mark()
        r = h.get(c.path + "?case=ok", timeout=15)
        assert r.status == 504, (r.status, r.body[:300])
        m = h.wait_log(r"TF00419: backend pid=(\d+)", since=mark2)
        assert int(m.group(1)) != pid, "the hung backend was used again"
    U.wait_quiet(h)
    U.assert_no_crash(h)
