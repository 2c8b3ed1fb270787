#!/usr/bin/python3
"""A Trac-shaped row: a threaded Python FastCGI app behind mod_tracfcgi and
behind mod_fcgid, with the same number of Python processes.

Trac's own FastCGI server (flup's threaded WSGIServer) serves several
requests at once in one process; mod_fcgid gives each process one request
at a time, so a site needs as many Python processes (each tens of MiB) as
requests in flight. mod_tracfcgi asks the app how many connections it
takes (FCGI_MAX_CONNS) and sends that many. The stand-in is
t/apps/threaded_app.py with ?sleep=MS&cpu=MS: a wait (a database round
trip: other threads run meanwhile) and computing under Python's GIL
(template rendering). The figure the performance issue asks for: req/s per
MiB of backend memory (PSS) at 16 clients, mod_tracfcgi against mod_fcgid.

    /usr/bin/python3 t/bench/trac_shaped.py [--procs 2] [--duration 10]
        [--sleep 3] [--cpu 2] [--clients 16]

Needs what t/bench/run.py needs (apache2, libapache2-mod-fcgid, wrk,
mod_tracfcgi.so built). Runs as root; everything in a temporary directory.
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402

APP = bench.REPO / "t" / "apps" / "threaded_app.py"

EXTRA = {
    "trac_tracfcgi": """\
LoadModule tracfcgi_module "{module}"
ScriptAlias /app "{appdir}/trac_app.fcgi/"
TracFcgiMinProcesses {n}
TracFcgiMaxProcesses {n}
TracFcgiIOTimeout 300
""",
    "trac_fcgid": """\
LoadModule fcgid_module {moddir}/mod_fcgid.so
FcgidIPCDir "{dir}/fcgid"
FcgidProcessTableFile "{dir}/fcgid/shm"
FcgidMaxProcesses {n}
FcgidMaxProcessesPerClass {n}
FcgidMinProcessesPerClass {n}
FcgidMaxRequestsPerProcess 0
FcgidIdleTimeout 3600
FcgidProcessLifeTime 3600
FcgidIOTimeout 300
FcgidBusyTimeout 300
ScriptAlias /app "{appdir}/trac_app.fcgi/"
<Directory "{appdir}">
    SetHandler fcgid-script
    Options +ExecCGI
</Directory>
""",
}
LABELS = {"trac_tracfcgi": "mod_tracfcgi", "trac_fcgid": "mod_fcgid"}


def measure(name, root, app, lua, args):
    srv = bench.make_server(name, root, app)
    res = {"name": name}
    try:
        srv.start()
        url = srv.url("/app/page?sleep=%d&cpu=%d" % (args.sleep, args.cpu))
        bench.run_wrk(url, args.clients, max(2, args.duration // 2), lua)
        _, back = srv.pids()
        res["procs"] = len(back)
        mem = bench.MemSampler(srv)
        mem.start()
        r = bench.run_wrk(url, args.clients, args.duration, lua)
        mem.stop()
        _, back = srv.pids()
        res.update(rps=r["rps"], p50=r["p50_us"] / 1e3, p99=r["p99_us"] / 1e3,
                   errors=r["errors"],
                   back_pss=sum(bench.pss_bytes(p) for p in back) / bench.MIB,
                   back_rss=sum(bench.rss_bytes(p) for p in back) / bench.MIB,
                   procs_after=len(back))
        bench.log("%s: %.0f req/s, p50 %.1f ms, p99 %.1f ms, %d backends, "
                  "%.1f MiB PSS%s" % (name, res["rps"], res["p50"],
                                      res["p99"], len(back), res["back_pss"],
                                      " errors %d" % r["errors"]
                                      if r["errors"] else ""))
    except Exception as e:  # report it
        res["failed"] = str(e)
        bench.log("%s: FAILED: %s" % (name, e))
    finally:
        left = srv.stop()
        if left:
            res["leftovers"] = left
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, default=2,
                    help="Python processes, for both (default 2)")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--sleep", type=int, default=3,
                    help="ms each request waits (default 3)")
    ap.add_argument("--cpu", type=int, default=2,
                    help="ms each request computes (default 2)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--module", default=str(bench.MODULE))
    args = ap.parse_args()
    bench.check_tools(["fcgid", "tracfcgi"], args.module)
    bench.BACKENDS = args.procs
    for n, text in EXTRA.items():
        bench.EXTRA[n] = text
        bench.LABELS[n] = LABELS[n]
        bench.URLS[n] = ("/small.txt", None, None, None)
    bench.set_subreaper()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="tracfcgi-trac-shaped-"))
    os.chmod(root, 0o755)
    try:
        bench.snapshot_module(root, args.module)
        appdir = root / "app"
        appdir.mkdir()
        os.chmod(appdir, 0o755)
        app = appdir / "trac_app.fcgi"
        shutil.copy(APP, app)
        os.chmod(app, 0o755)
        lua = root / "wrk.lua"
        lua.write_text(bench.WRK_LUA)
        results = [measure(n, root, app, lua, args) for n in EXTRA]
    finally:
        bench.reap()
        shutil.rmtree(root, ignore_errors=True)
    print("Trac-shaped: %d Python processes each, %d clients, %d s, each "
          "request waits %d ms and computes %d ms (t/apps/threaded_app.py)"
          % (args.procs, args.clients, args.duration, args.sleep, args.cpu))
    print()
    print("| | req/s | p50 ms | p99 ms | backends | backend PSS MiB | "
          "req/s per MiB |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    per = {}
    for r in results:
        if "failed" in r:
            print("| %s | failed: %s |" % (LABELS[r["name"]], r["failed"]))
            continue
        per[r["name"]] = r["rps"] / r["back_pss"] if r["back_pss"] else 0
        print("| %s | %.0f | %.1f | %.1f | %d | %.1f | %.1f |" % (
            LABELS[r["name"]], r["rps"], r["p50"], r["p99"],
            r["procs_after"], r["back_pss"], per[r["name"]]))
    if len(per) == 2 and per["trac_fcgid"]:
        ratio = per["trac_tracfcgi"] / per["trac_fcgid"]
        print()
        print("- [%s] 6: req/s per MiB of backend memory >= 1.5x mod_fcgid's "
              "at %d clients: %.2fx%s" % ("x" if ratio >= 1.5 else " ",
                                          args.clients, ratio,
                                          "" if ratio >= 1.5
                                          else "  **MISSED**"))
    bad = [r for r in results if r.get("errors") or r.get("failed")
           or r.get("leftovers")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
