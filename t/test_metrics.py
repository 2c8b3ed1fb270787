"""The status handler in Prometheus's text exposition format (?prometheus
or Accept: text/plain; version=0.0.4), read by a strict parser written
here (format 0.0.4: HELP and TYPE before a metric's samples, valid names,
label values escaped, counters, histograms with cumulative buckets up to
+Inf equal to _count), after a known number of requests and failures.
The JSON carries the same figures.
"""

import json
import math
import re

import pytest

import httpd as H

STATUS = ("<Location /tracfcgi-status>\n SetHandler tracfcgi-status\n"
          "</Location>\n")
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")


def parse(text):
    """{(name, frozenset(labels)): value} and {family: type}; raises on
    anything that is not the 0.0.4 text format."""
    types, helps, samples = {}, {}, {}
    seen_families = []
    for n, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        if line.startswith("# HELP "):
            name, _, txt = line[7:].partition(" ")
            assert NAME.match(name) and txt, (n, line)
            assert name not in helps, ("HELP twice", line)
            helps[name] = txt
            continue
        if line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            assert typ in ("counter", "gauge", "histogram", "summary",
                           "untyped"), (n, line)
            assert name not in types and name not in seen_families, line
            types[name] = typ
            continue
        assert not line.startswith("#"), (n, line)
        m = SAMPLE.match(line)
        assert m, ("not a sample", n, line)
        name, labels, value = m.group(1), m.group(3) or "", m.group(4)
        family = re.sub(r"_(bucket|sum|count)$", "", name) \
            if re.sub(r"_(bucket|sum|count)$", "", name) in types else name
        assert family in types, ("no TYPE before", line)
        if not seen_families or seen_families[-1] != family:
            assert family not in seen_families, ("family split", line)
            seen_families.append(family)
        pairs = LABEL.findall(labels)
        rebuilt = ",".join('%s="%s"' % p for p in pairs)
        assert rebuilt == labels, ("labels", line)
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), line
        v = float(value)
        assert not math.isnan(v)
        key = (name, frozenset(pairs))
        assert key not in samples, ("duplicate", line)
        samples[key] = v
    return samples, types


def pick(samples, name, **want):
    return [v for (n, labels), v in samples.items() if n == name
            and all((k, str(w)) in labels for k, w in want.items())]


def test_prometheus_after_known_traffic(httpd):
    h = httpd("ScriptAlias /trac @APPS@/responder.fcgi/\n"
              "TracEnv @SCRATCH@/proj\nTracFcgiCheckEnv Off\n"
              "TracFcgiMaxProcesses 2\n"
              "TracFcgiIOTimeout 1\n" + STATUS)
    for _ in range(10):
        assert h.get("/trac/?pid").status == 200
    for _ in range(3):                  # the backend closes: 502
        assert h.get("/trac/?exit=3").status == 502
    assert h.get("/trac/?sleep=3000").status == 504
    for _ in range(2):
        assert h.get("/trac/?sleep=300").status == 200
    r = h.get("/tracfcgi-status?prometheus")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith(
        "text/plain; version=0.0.4")
    samples, types = parse(r.body.decode())
    assert types["tracfcgi_requests_total"] == "counter"
    assert types["tracfcgi_request_duration_seconds"] == "histogram"
    env = str(h.scratch / "proj")
    assert pick(samples, "tracfcgi_requests_total", trac_env=env) == [12.0]
    assert pick(samples, "tracfcgi_errors_total", status=502) == [3.0]
    assert pick(samples, "tracfcgi_errors_total", status=504) == [1.0]
    assert pick(samples, "tracfcgi_errors_total", status=503) == [0.0]
    # the histogram: cumulative, +Inf = count = every request that held
    # a backend (the 502s replayed once each: still one request)
    buckets = sorted(((float(dict(l)["le"]), v) for (n, l), v in
                      samples.items()
                      if n == "tracfcgi_request_duration_seconds_bucket"))
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    count = pick(samples, "tracfcgi_request_duration_seconds_count")[0]
    assert buckets[-1][0] == math.inf and buckets[-1][1] == count == 16
    le_025 = dict(buckets)[0.25]
    assert le_025 >= 13          # the quick ones; 2 slept 0.3 s, 1 timed out
    assert dict(buckets)[0.5] - le_025 >= 2
    total = pick(samples, "tracfcgi_request_duration_seconds_sum")[0]
    assert 1.6 < total < 30
    rss = pick(samples, "tracfcgi_process_resident_memory_bytes")
    assert rss and all(v > 100 * 1024 for v in rss)
    assert sum(pick(samples, "tracfcgi_processes")) >= 1
    # the Accept header asks for the same
    r2 = h.get("/tracfcgi-status", headers={
        "Accept": "text/plain; version=0.0.4"})
    assert r2.headers["Content-Type"].startswith("text/plain")
    parse(r2.body.decode())
    # and the JSON carries the same figures
    pool = json.loads(h.get("/tracfcgi-status?json").body)["pools"][0]
    assert pool["errors"] == {"502": 3, "503": 0, "504": 1}
    assert sum(pool["duration"]["buckets"]) == 16
    assert all(p["rss_bytes"] > 0 for p in pool["processes"])


def test_label_values_escaped(httpd):
    """A TracEnv path with a double quote and a backslash: the exposition
    stays parseable."""
    h = httpd('ScriptAlias /trac @APPS@/responder.fcgi/\n'
              'TracEnv "@SCRATCH@/odd \\"name\\\\x"\n'
              'TracFcgiCheckEnv Off\n' + STATUS)
    assert h.get("/trac/?pid").status == 200
    samples, _ = parse(h.get("/tracfcgi-status?prometheus").body.decode())
    envs = {dict(l).get("trac_env") for (_n, l) in samples}
    assert any(e and '\\"name\\\\x' in e for e in envs), envs


def test_status_page_is_html5_with_a_summary(httpd):
    """The page parses as HTML5 with no error (html5lib, strict), starts
    with one summary row per pool, the busiest first, and shows what a
    busy process is serving (no query string) and each process's RSS."""
    html5lib = pytest.importorskip(
        "html5lib", reason="python3-html5lib is not installed (Debian)")

    h = httpd("ScriptAlias /trac @APPS@/responder.fcgi/\n"
              "ScriptAlias /other @APPS@/responder.fcgi/\n"
              "<Location /other>\n TracFcgiInitEnv OTHER 1\n</Location>\n"
              + STATUS)
    assert h.get("/other/?pid").status == 200
    slow = H.Bg(h.get, "/trac/ticket/1?sleep=2000&secret=x", timeout=30)
    slow.start()
    H.wait_until(lambda: b"for " in h.get("/tracfcgi-status").body, 10,
                 what="a busy process on the page")
    body = h.get("/tracfcgi-status").body
    html5lib.HTMLParser(strict=True).parse(body)
    text = body.decode()
    summary = text.index("<caption>Pools, the busiest first</caption>")
    assert summary < text.index("<h2")
    rows = re.findall(r'<tr class="(\w+)"><td><a href="#pool(\d+)">', text)
    assert len(rows) == 2
    busy = re.findall(r'<td class="busy">(\d+)</td>', text)
    assert busy[0] == "1" and busy[1] == "0"       # the busy pool first
    assert re.search(r"GET /trac/ticket/1 for \d+ ms", text), text
    assert "secret" not in text
    rss = [int(v) for v in re.findall(
        r"</td><td>(\d+)</td><td>(?:GET|</td>)", text)]
    assert rss and all(v > 100 for v in rss), rss
    assert slow.get(30).status == 200
    # the last minute: the two requests so far, one 502 more
    assert h.get("/other/?exit=3").status == 502
    text = h.get("/tracfcgi-status").body.decode()
    recent = re.findall(r'</td><td>(\d+)</td><td class="failed">(\d+)</td>',
                        text)
    assert sorted(recent) == [("1", "0"), ("2", "1")], recent
    assert '<tr class="failing">' in text
