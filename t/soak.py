#!/usr/bin/python3
"""Soak test of mod_tracfcgi (make soak; not part of the default suite).

    /usr/bin/python3 t/soak.py [--requests N] [--clients C] [--mpm event]
                               [--external]

Runs N requests (default 1,000,000) through 4 backends retired every 1000
requests (TracFcgiMaxRequestsPerProcess 1000), mixed: small answers, 1 MiB
answers, POSTs, 404s from the backend, slow answers. Every answer is
checked. httpd's resident memory (parent and children) and open file
descriptors are sampled after the first 10,000 requests and at the end;
the run fails if any request failed or if either figure grew by more than
5% (or 2 MiB / 8 descriptors, below which the noise of a few pages or
a keep-alive socket is not growth). Prints the figures for the README.

--external: the same mix through TracFcgiExternalServer to four
responders that spawn-fcgi started (one process each, on TCP), with
keepalive=30: the kept connections' descriptors are counted too.
"""

import argparse
import http.client
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import httpd as H  # noqa: E402

CONF = """
ScriptAlias /app @APPS@/responder.fcgi/
TracFcgiMaxProcesses 4
TracFcgiMaxRequestsPerProcess 1000
TracFcgiIdleTimeout 600
"""

MIX = [  # (weight, method, path, body, expected status, expected size)
    (70, "GET", "/app/?pid", None, 200, None),
    (10, "POST", "/app/?echo", b"p" * 20000, 200, None),
    (8, "GET", "/app/?status=404", None, 404, None),
    (1, "GET", "/app/?big=1024", None, 200, 1024 * 1024),
    (1, "GET", "/app/?sleep=20&pid", None, 200, None),
    (10, "GET", "/app/missing?pid", None, 200, None),
]


def httpd_usage(h):
    """(RSS in KiB, open fds) of the httpd parent and its children."""
    pids = [h.pid] + list(h.httpd_children())
    rss = fds = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            fds += len(os.listdir("/proc/%d/fd" % pid))
        except OSError:
            pass
    return rss, fds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--mpm", default="event", choices=H.MPMS)
    ap.add_argument("--external", action="store_true")
    a = ap.parse_args()
    conf = CONF
    servers = None
    if a.external:
        import extsrv

        servers = extsrv.Servers()
        addrs = [servers.spawn_fcgi("tcp").addr for _ in range(4)]
        conf = ("TracFcgiExternalServer /app %s conns=1 keepalive=30\n"
                % " ".join(addrs))

    weights = []
    for item in MIX:
        weights += [item] * item[0]
    h = H.Httpd(conf, mpm=a.mpm, loglevel="warn", name="soak")
    failures = []
    done = [0]
    lock = threading.Lock()
    baseline = {}
    series = []   # (requests, (RSS KiB, fds)) every tenth of the run
    t0 = time.monotonic()
    try:
        h.start()

        def client(seed):
            rnd = random.Random(seed)
            conn = http.client.HTTPConnection("127.0.0.1", h.port,
                                              timeout=60)
            while True:
                with lock:
                    if done[0] >= a.requests:
                        return
                    done[0] += 1
                    n = done[0]
                _, method, path, body, want, size = rnd.choice(weights)
                try:
                    conn.request(method, path, body=body)
                    r = conn.getresponse()
                    data = r.read()
                    ok = r.status == want and (size is None
                                               or len(data) == size)
                    if body is not None and ok:
                        ok = data.startswith(b"len:%d\n" % len(body))
                    if not ok:
                        failures.append((n, path, r.status, len(data)))
                    if r.getheader("Connection", "") == "close":
                        conn.close()
                except (OSError, http.client.HTTPException) as e:
                    failures.append((n, path, repr(e)))
                    conn.close()
                if n == 10000:
                    baseline["usage"] = httpd_usage(h)
                    baseline["t"] = time.monotonic() - t0
                if n % (a.requests // 10 or 1) == 0:
                    series.append((n, httpd_usage(h)))

        threads = [threading.Thread(target=client, args=(i,))
                   for i in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - t0
        end = httpd_usage(h)
    finally:
        h.stop()
        leftovers = h.check_clean_after_stop()
        h.cleanup()
        if servers:
            servers.stop_all()
    start = baseline.get("usage", end)
    # the bound, as it is: within 5% of the 10k figures
    rss_ok = end[0] <= start[0] * 1.05
    fd_ok = end[1] <= start[1] * 1.05
    print("| requests | clients | failed | req/s | httpd RSS after 10k "
          "| at end | fds after 10k | at end |")
    print("|---|---|---|---|---|---|---|---|")
    print("| %d | %d | %d | %.0f | %.1f MiB | %.1f MiB | %d | %d |" % (
        a.requests, a.clients, len(failures), a.requests / took,
        start[0] / 1024.0, end[0] / 1024.0, start[1], end[1]))
    print("httpd RSS MiB / fds by requests served: " + ", ".join(
        "%dk: %.1f/%d" % (n // 1000, u[0] / 1024.0, u[1])
        for n, u in sorted(series)))
    if failures:
        print("failures (first 10):", failures[:10])
    if leftovers:
        print("left after stop:", leftovers)
    ok = not failures and rss_ok and fd_ok and not leftovers
    print("soak: %s" % ("1 passed, 0 failed" if ok else "0 passed, 1 failed"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
