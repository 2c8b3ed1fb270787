"""Beyond one machine: web nodes behind a balancer, hosts made of network
namespaces (t/netns.py; skipped with the reason where they cannot be
made).

- two web nodes, each an Apache + mod_tracfcgi with its own pools, in
  hosts of their own, behind a balancer node (Debian's Apache with
  mod_proxy_balancer and mod_proxy_hcheck, here): one web node's httpd is
  killed (SIGKILL, parent and children) under a client loop; only the
  requests the balancer sent it before taking it out can fail (those in
  flight, and any on a connection the balancer kept to it), and once it
  is started again it takes requests again;
- the module keeps nothing that nodes must share: two nodes with the same
  configuration give the same answers.

The figures (requests sent, answered, failed, how long the fail-over
took) are printed (pytest -s shows them) for the README's "Scaling out".
"""

import os
import re
import signal
import time

import httpd as H
import test_conf_samples as C

WEB_NODE = "ScriptAlias /trac @APPS@/responder.fcgi/\n"


def balancer_conf(nodes):
    members = "".join(
        "    BalancerMember http://%s:%d/trac route=%s retry=1 "
        "hcmethod=GET hcuri=/trac/?pid hcinterval=1 hcfails=1 hcpasses=1\n"
        % (n.host, n.port, name) for name, n in nodes)
    return ("<Proxy balancer://web>\n" + members +
            "</Proxy>\n"
            "ProxyPass /trac balancer://web\n"
            "ProxyPassReverse /trac balancer://web\n"
            "<Location /balancer-manager>\n"
            "    SetHandler balancer-manager\n"
            "</Location>\n"
            "ProxyPass /balancer-manager !\n")


def node_of(body):
    m = re.search(rb"^param:SERVER_ADDR=(\S+)$", body, re.M)
    return m.group(1).decode() if m else None


def member_status(bal, host):
    """The balancer-manager's status text of the member at @host."""
    r = bal.get("/balancer-manager")
    assert r.status == 200
    for row in re.findall(rb"<tr>(.*?)</tr>", r.body, re.S):
        if host.encode() in row:
            cells = re.findall(rb"<td>(.*?)</td>", row, re.S)
            return b" ".join(cells).decode("latin-1")
    return ""


def start_nodes(httpd, hosts):
    return [httpd(WEB_NODE, host=hs.addr, prefix=hs.prefix)
            for hs in hosts]


def test_two_web_nodes_behind_a_balancer(httpd, hosts):
    a_host, b_host = hosts
    a, b = start_nodes(httpd, hosts)
    bal = httpd(balancer_conf([("a", a), ("b", b)]), load_tracfcgi=False,
                extra_modules=C.BALANCER_MODULES)
    seen = {node_of(bal.get("/trac/?env").body) for _ in range(8)}
    assert seen == {a_host.addr, b_host.addr}

    events = {}
    with H.ClientLoop(bal, "/trac/?env", extra=node_of) as load:
        load.wait_count(300)
        ports = list(a.ports)
        victims = [a.proc.pid] + a.httpd_children()
        events["kill"] = time.monotonic()
        # the parent and its children (and the process manager) are one
        # process group; the backends live in sessions of their own
        os.killpg(a.proc.pid, signal.SIGKILL)
        a.proc.wait(10)
        H.wait_until(lambda: not any(H.alive(p) for p in victims), 10,
                     what="node a's httpd processes to die")
        events["killed"] = time.monotonic()
        # out: the balancer-manager page says Err (the connections it
        # refuses) or HcFl (its health check failed), whichever came first
        H.wait_until(lambda: re.search(r"\b(Err|HcFl)\b", member_status(
            bal, a_host.addr)), 10, what="the balancer to take node a out")
        events["out"] = time.monotonic()
        load.wait_count(500)
        # node a again, on its port
        a._kill_all()                # its orphaned backends, if any
        events["restart"] = time.monotonic()
        a.start(ports=ports)
        H.wait_until(lambda: any(r[3] == a_host.addr for r in load.results
                                 if r[0] > events["restart"]), 15,
                     what="node a to take requests again")
        events["back"] = time.monotonic()
        load.wait_count(200)
    results = load.results
    # until the balancer has the node out, it may send a request to the
    # dead node, on a connection it kept to it: that one fails (reset
    # reading the status line: mod_proxy's, whatever the node runs); so
    # may one under way when the node died. Nothing after.
    in_flight = [r for r in results if r[0] < events["out"]
                 and r[1] > events["kill"]]
    later = [r for r in results if r[0] > events["out"]]
    failed_later = [r for r in later if r[2] != 200]
    failed_before = [r for r in results if r[1] < events["kill"]
                     and r[2] != 200]
    print("\nscale-out: 2 web nodes behind mod_proxy_balancer: %d requests, "
          "%d answered, %d failed (%d of them between the kill and the "
          "balancer taking the node out, %d later); it had the node out "
          "%.1f s after "
          "the kill; it took requests %.1f s after its restart" % (
              len(results), sum(r[2] == 200 for r in results),
              sum(r[2] != 200 for r in results),
              len([r for r in in_flight if r[2] != 200]),
              len(failed_later), events["out"] - events["killed"],
              events["back"] - events["restart"]))
    assert failed_before == []
    assert failed_later == [], failed_later[:5]
    # what failed was sent before the balancer knew, nothing else
    assert all(r in in_flight for r in results if r[2] != 200)
    assert events["out"] - events["killed"] < 5
    assert events["back"] - events["restart"] < 10


def test_nodes_share_nothing(httpd, hosts):
    """Two nodes with the same configuration answer the same: the module
    holds no state of its own that a request depends on."""
    a, b = start_nodes(httpd, hosts)
    for path in ("/trac/wiki/Start?env", "/trac/?method",
                 "/trac/x?status=404&nobody"):
        ra, rb = a.get(path), b.get(path)
        assert ra.status == rb.status, path

        def same(body):
            return sorted(ln for ln in body.decode("latin-1").splitlines()
                          if ln.startswith("param:") and not re.match(
                              r"param:(SERVER_ADDR|SERVER_NAME|HTTP_HOST|"
                              r"SERVER_PORT|REMOTE_|SERVER_SIGNATURE|"
                              r"SCRIPT_FILENAME|DOCUMENT_ROOT|"
                              r"CONTEXT_DOCUMENT_ROOT|PATH_TRANSLATED)", ln))
        assert same(ra.body) == same(rb.body), path
