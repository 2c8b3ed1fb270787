"""Across hosts: application hosts made of network namespaces (t/netns.py),
each running the threaded test app (the stand-in for Trac's threaded
trac.fcgi) on TCP; the web host's httpd reaches them with
TracFcgiExternalServer. Skipped, with the reason in pytest's summary,
where namespaces cannot be made; CI runs as root and runs them.
"""

import time

import pytest

import httpd as H
import netns
from test_external import STATUS, body_field, external_pool

WHY_NOT = netns.why_not()
pytestmark = pytest.mark.skipif(WHY_NOT is not None,
                                reason=WHY_NOT or "")


def test_hosts_made_and_removed():
    made = netns.Hosts(1)
    with made as (h,):
        r = netns._ip("netns", "exec", h.ns, "ip", "-o", "addr", "show",
                      h.there)
        assert h.addr + "/24" in r.stdout
    assert made.left() == []


def test_link_down_under_load(httpd, servers, hosts):
    a, b = hosts
    sa = servers.threaded("tcp", host=a.addr, port=9000, prefix=a.prefix)
    sb = servers.threaded("tcp", host=b.addr, port=9000, prefix=b.prefix)
    h = httpd("TracFcgiExternalServer /trac %s %s check=1\n"
              "TracFcgiConnectTimeout 1\n"
              "TracFcgiIOTimeout 3\n" % (sa.addr, sb.addr) + STATUS)
    assert sa.addr == "198.18.1.2:9000"
    # both hosts serve
    pids = {body_field(h.get("/trac/?pid").body, "pid") for _ in range(6)}
    assert pids == {sa.pid, sb.pid}

    events = {}
    with H.ClientLoop(h, "/trac/?sleep=5") as load:
        load.wait_count(400)
        a.link_down()
        events["down"] = time.monotonic()   # from here on, it is off
        load.wait_count(1600)
        p = external_pool(h, "/trac")
        states = {x["address"]: x["state"] for x in p["addresses"]}
        assert states == {sa.addr: "down", sb.addr: "up"}
        served_a = next(x["requests"] for x in p["addresses"]
                        if x["address"] == sa.addr)
        mark = h.log_mark()
        events["up"] = time.monotonic()
        a.link_up()
        # the host takes requests again within the health-check interval
        H.wait_until(lambda: next(x["requests"] for x in external_pool(
            h, "/trac")["addresses"] if x["address"] == sa.addr) > served_a,
            4, what="the host back in service")
        events["back"] = time.monotonic()
        load.wait_count(200)
    results = load.results
    down = events["down"]
    # in flight on the host when its link went: may fail (504 after
    # TracFcgiIOTimeout); started later: every one answered
    later = [r for r in results if r[0] > down]
    failed_later = [r for r in later if r[2] != 200]
    print("\nacross hosts: %d requests, %d answered, %d failed (in flight "
          "when the link went down); the host took requests again %.1f s "
          "after its link came back" % (
              len(results), sum(r[2] == 200 for r in results),
              sum(r[2] != 200 for r in results),
              events["back"] - events["up"]))
    assert len(results) >= 2000
    assert events["back"] - events["up"] < 3.0
    assert failed_later == [], failed_later[:5]
    in_flight = [r for r in results if r[0] <= down < r[1]]
    assert len(in_flight) <= 4
    assert all(r[2] == 200 for r in results if r[1] < down)
    assert h.log_lines(r"TF00449: TracFcgiExternalServer /trac: FastCGI "
                       r"server 198\.18\.1\.2:9000 is down")
    h.wait_log(r"TF00701: TracFcgiExternalServer /trac: FastCGI server "
               r"198\.18\.1\.2:9000 is up again", since=mark)


def test_host_off_the_network_while_idle(httpd, servers, hosts):
    """Nothing in flight when the host goes: the first request that picks
    it cannot connect (TracFcgiConnectTimeout, or no route), marks it
    down and is answered by the other host; no request fails."""
    a, b = hosts
    sa = servers.threaded("tcp", host=a.addr, port=9000, prefix=a.prefix)
    sb = servers.threaded("tcp", host=b.addr, port=9000, prefix=b.prefix)
    h = httpd("TracFcgiExternalServer /trac %s %s check=1\n"
              "TracFcgiConnectTimeout 1\n" % (sa.addr, sb.addr) + STATUS)
    assert h.get("/trac/?pid").status == 200
    a.link_down()
    for _ in range(8):
        r = h.get("/trac/?pid", timeout=30)
        assert r.status == 200
        assert body_field(r.body, "pid") == sb.pid
    line = h.log_lines(r"TF00449: .*198\.18\.1\.2:9000 is down")
    assert len(line) == 1
    assert "TracFcgiConnectTimeout" in line[0] or "route" in line[0], line
    assert h.log_lines(r"TF00436: FastCGI server 198\.18\.1\.2:9000 could "
                       r"not be reached; sending the GET request to "
                       r"another backend")
    a.link_up()
    H.wait_until(lambda: {x["address"]: x["state"] for x in external_pool(
        h, "/trac")["addresses"]}[sa.addr] == "up", 4, what="back up")
