#!/usr/bin/python3
"""Where a request's time goes: mod_tracfcgi against mod_proxy_fcgi.

For each configuration of t/bench/run.py named with --only (default
tracfcgi,proxy_fcgi), serving /app/small from the same bench app:

  callgrind  httpd as one process (-DONE_PROCESS -DNO_DETACH) under
             valgrind --tool=callgrind; after a warm-up the counters are
             zeroed, N sequential keep-alive requests are sent, the profile
             is dumped: instructions per request (whole httpd process, every
             thread) and the top functions by inclusive and by self cost.
  strace     the same single process (no valgrind) under strace -c -f
             attached after the warm-up: system calls per request.
  perf       (--perf) the normal event MPM under wrk at 16 clients,
             perf record -e cpu-clock -g on httpd's processes: where the
             CPU time goes, by object and symbol (kernel included).

    /usr/bin/python3 t/bench/profile.py [--requests 2000] [--perf] [--keep]

Needs valgrind, strace (and linux-perf for --perf) besides run.py's
packages. Output: plain text, on stdout.
"""

import argparse
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402


def requests(port, path, n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    bad = 0
    for _ in range(n):
        conn.request("GET", path)
        r = conn.getresponse()
        if r.status != 200 or r.read() != bench.SMALL:
            bad += 1
    conn.close()
    if bad:
        print("  !! %d of %d answers were not the expected 200" % (bad, n))


MODULE_OBJECTS = {"tracfcgi": r"^mod_tracfcgi\.so$",
                  "proxy_fcgi": r"^mod_proxy(_fcgi)?\.so$",
                  "fcgid": r"^mod_fcgid\.so$", "static": r"^$^"}
for _n in bench.ALL:
    MODULE_OBJECTS.setdefault(_n, MODULE_OBJECTS[
        "tracfcgi" if _n in bench.WITH_MODULE else "proxy_fcgi"
        if _n.startswith("proxy_fcgi") else "static"])


def annotate(path, inclusive, top, objects=None):
    """callgrind_annotate's function table as [(Ir, %, "fn [object]")].
    A function whose code comes from several source files (inlined
    headers) is listed once per file: inclusive costs take the largest,
    self costs add up. Unnamed (0x...) functions and the thread start-up
    frames are left out of the inclusive table. @objects: keep only
    functions of these shared objects (regex on the object's name)."""
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=%s" % ("yes" if inclusive
                                                   else "no"),
         "--threshold=100", str(path)],
        capture_output=True, text=True).stdout
    total = None
    m = re.search(r"^\s*([\d,]+).*PROGRAM TOTALS", out, re.M)
    if m:
        total = int(m.group(1).replace(",", ""))
    funcs = {}
    objs = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(?:\S*?:)?(\S+)"
                     r"(?: \[(.*)\])?\s*$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        ir = int(m.group(1).replace(",", ""))
        name = m.group(2)
        if m.group(3):
            objs[name] = os.path.basename(m.group(3))
        if inclusive:
            funcs[name] = max(funcs.get(name, 0), ir)
        else:
            funcs[name] = funcs.get(name, 0) + ir
    rows = []
    for name, ir in funcs.items():
        obj = objs.get(name, "")
        if inclusive and (name.startswith("0x") or name in (
                "clone", "start_thread")):
            continue
        if objects and not re.search(objects, obj):
            continue
        rows.append((ir, 100.0 * ir / total if total else 0.0,
                     "%s [%s]" % (name, obj) if obj else name))
    rows.sort(reverse=True)
    return total, rows[:top]


def callees(path, objects, roots=6, top=12):
    """The module's heaviest functions (inclusive, unnamed ones too, from
    the objects matching @objects) and, for each, what it calls:
    [(Ir, "fn [obj]", [(Ir, calls, "callee [obj]")])]."""
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--tree=calling",
         "--threshold=100", str(path)],
        capture_output=True, text=True).stdout
    rx = re.compile(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+([*>])\s+(?:\S*?:)?"
                    r"(\S+)(?: \(([\d,]+)x\))?(?: \[(.*)\])?\s*$")
    incl, objs, calls = {}, {}, {}
    cur = None
    for line in out.splitlines():
        m = rx.match(line)
        if not m:
            if not line.strip():
                cur = None
            continue
        ir = int(m.group(1).replace(",", ""))
        name, obj = m.group(3), m.group(5)
        if obj:
            objs[name] = os.path.basename(obj)
        if m.group(2) == "*":
            cur = name
            incl[name] = max(incl.get(name, 0), ir)
        elif cur:
            n = int(m.group(4).replace(",", "")) if m.group(4) else 0
            d = calls.setdefault(cur, {})
            a, b = d.get(name, (0, 0))
            d[name] = (a + ir, b + n)

    def label(fn):
        return "%s [%s]" % (fn, objs[fn]) if fn in objs else fn

    mine = sorted(((ir, fn) for fn, ir in incl.items()
                   if re.search(objects, objs.get(fn, ""))), reverse=True)
    res = []
    for ir, fn in mine[:roots]:
        cs = sorted(((a, b, label(c)) for c, (a, b) in
                     calls.get(fn, {}).items()), reverse=True)[:top]
        res.append((ir, label(fn), cs))
    return res


def callgrind_run(name, root, app, n):
    """httpd under callgrind, collecting only inside
    ap_run_process_connection (a worker reading, handling and answering
    requests: no start-up, no idle threads), for @n requests; @return
    (total Ir, the profile file)."""
    srv = bench.Server(name, root, app)
    # the profile is written when httpd exits, by then as its User: a
    # directory anyone may write to, and the file that valgrind created at
    # start (as root) handed over to that User
    prof = srv.dir / "prof"
    prof.mkdir()
    os.chmod(prof, 0o1777)
    try:
        srv.start(prefix=["valgrind",
                          "--tool=callgrind", "--quiet", "--vgdb=no",
                          "--collect-atstart=no",
                          "--toggle-collect=ap_run_process_connection",
                          "--callgrind-out-file=%s" % (
                              prof / "callgrind.out.%p"),
                          "--trace-children=no"],
                  args=["-DONE_PROCESS", "-DNO_DETACH", "-DFOREGROUND"],
                  timeout=180)
        for f in prof.iterdir():
            shutil.chown(f, bench.USER, bench.USER)
        pid = srv.proc.pid
        t = time.monotonic()
        requests(srv.port, srv.urls[0], n)
        secs = time.monotonic() - t
    finally:
        srv.stop(timeout=120)
    out = prof / ("callgrind.out.%d" % pid)
    total, _ = annotate(out, False, 0)
    return total, out, secs


def callgrind(name, root, app, n, warm):
    """Ir per request from two runs (warm, warm + n requests), so that the
    first requests' one-time costs cancel out; the function tables come
    from the longer run."""
    t0, _, _ = callgrind_run(name, root / "a", app, warm)
    t1, out, secs = callgrind_run(name, root / "b", app, warm + n)
    per = (t1 - t0) / n
    res = {"secs": secs, "per": per, "total_warm": t0, "total": t1}
    m = warm + n
    _, res["incl"] = annotate(out, True, 40)
    _, res["self"] = annotate(out, False, 25)
    _, res["mine"] = annotate(out, True, 30, MODULE_OBJECTS[name])
    res["callees"] = callees(out, MODULE_OBJECTS[name])
    res["n_profile"] = m
    return res


def strace(name, root, app, n, warm):
    srv = bench.Server(name, root, app)
    res = {}
    try:
        srv.start(args=["-DONE_PROCESS", "-DNO_DETACH", "-DFOREGROUND"])
        requests(srv.port, srv.urls[0], warm)
        # a pool tops itself up to its minimum in the background: let it
        # finish, so that no spawn (fork, closing every descriptor) is
        # counted as the requests' cost
        deadline = time.monotonic() + 15
        while (len(srv.pids()[1]) < bench.BACKENDS
               and time.monotonic() < deadline):
            time.sleep(0.2)
        time.sleep(0.5)
        httpd, back = srv.pids()
        res["backends"] = len(back)
        outf = srv.dir / "strace.txt"
        cmd = ["strace", "-c", "-f", "-o", str(outf)]
        for p in httpd:
            cmd += ["-p", str(p)]
        st = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # attached to every thread
        requests(srv.port, srv.urls[0], n)
        time.sleep(0.2)
        st.send_signal(signal.SIGINT)
        st.wait(timeout=30)
        rows = []
        for line in outf.read_text().splitlines():
            f = line.split()
            if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
                calls = int(f[3])
                errors = int(f[4]) if len(f) == 6 else 0
                rows.append((calls, errors, f[-1]))
        rows.sort(reverse=True)
        res.update(rows=rows, procs=len(httpd))
    finally:
        srv.stop()
    return res


STAT_EVENTS = ("context-switches", "cpu-migrations", "raw_syscalls:sys_enter",
               "syscalls:sys_enter_futex")


def perf_stat(srv, conns, secs, lua, url=None, body=0):
    """Events per request of httpd + backends under wrk at @conns."""
    httpd, back = srv.pids()
    outf = srv.dir / ("perfstat-%d-%d.txt" % (conns, time.monotonic_ns()))
    st = subprocess.Popen(
        ["perf", "stat", "-x", ",", "-o", str(outf), "-e",
         ",".join(STAT_EVENTS), "-p", ",".join(map(str, httpd + back))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    w = bench.run_wrk(srv.url(url or srv.urls[0]), conns, secs, lua,
                      body=body)
    st.send_signal(signal.SIGINT)
    st.wait(timeout=60)
    counts = {}
    for line in outf.read_text().splitlines():
        f = line.split(",")
        if len(f) > 3 and f[0].strip().isdigit():
            counts[f[2]] = int(f[0])
    return w, {k: v / w["requests"] for k, v in counts.items()}


def perf(name, root, app, secs, lua):
    srv = bench.Server(name, root, app)
    res = {}
    try:
        srv.start()
        bench.warm_up(srv, lua, 2)
        res["stat"] = {}
        for c in (1, 16, 64):
            res["stat"][c] = perf_stat(srv, c, secs, lua)
        res["stat_get"] = perf_stat(srv, 8, secs, lua, srv.urls[1])
        res["stat_post"] = perf_stat(srv, 8, secs, lua, srv.urls[2],
                                     bench.MIB)
        httpd, back = srv.pids()
        data = srv.dir / "perf.data"
        rec = subprocess.Popen(
            ["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "-g",
             "-o", str(data), "-p", ",".join(map(str, httpd + back))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        w = bench.run_wrk(srv.url(srv.urls[0]), 16, secs, lua)
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=60)
        rep = subprocess.run(
            ["perf", "report", "-i", str(data), "--no-children", "--stdio",
             "-g", "none", "--sort", "comm,dso,sym", "--percent-limit",
             "0.7"],
            capture_output=True, text=True).stdout
        rows = [ln.rstrip() for ln in rep.splitlines()
                if ln.strip() and not ln.startswith("#")]
        rep = subprocess.run(
            ["perf", "report", "-i", str(data), "--no-children", "--stdio",
             "-g", "none", "--sort", "comm,dso"],
            capture_output=True, text=True).stdout
        dsos = [ln.rstrip() for ln in rep.splitlines()
                if ln.strip() and not ln.startswith("#")][:12]
        res.update(rows=rows[:40], dsos=dsos, rps=w["rps"])
    finally:
        srv.stop()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warm", type=int, default=200)
    ap.add_argument("--only", default="tracfcgi,proxy_fcgi")
    ap.add_argument("--perf", action="store_true")
    ap.add_argument("--perf-secs", type=int, default=5)
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--module", default=str(bench.MODULE),
                    help="the mod_tracfcgi.so to profile")
    args = ap.parse_args()
    names = args.only.split(",")
    for tool in ("valgrind", "strace", "callgrind_annotate"):
        if not shutil.which(tool):
            sys.exit("missing %s (apt-get install -y valgrind strace)" % tool)
    bench.check_tools(names, args.module)
    bench.set_subreaper()
    root = Path(tempfile.mkdtemp(prefix="tracfcgi-prof-"))
    os.chmod(root, 0o755)
    n = args.requests
    try:
        if set(bench.WITH_MODULE) & set(names):
            print("mod_tracfcgi: %s" % bench.snapshot_module(root,
                                                             args.module))
        app = bench.build_app(root)
        lua = root / "wrk.lua"
        lua.write_text(bench.WRK_LUA)
        totals = {}
        for name in names:
            label = bench.LABELS[name]
            if not args.no_callgrind:
                # short names: the socket directory under them must fit sun_path
                r = callgrind(name, root / ("cg%d" % names.index(name)), app,
                              n, args.warm)
                per = r["per"]
                totals[name] = per
                m = r["n_profile"]
                print("== %s: callgrind, /small, keep-alive, one client; "
                      "collected inside ap_run_process_connection" % label)
                print("instructions per request: %.0f  (= (Ir of %d requests "
                      "- Ir of %d) / %d)" % (per, args.warm + n, args.warm,
                                             n))
                print("-- top inclusive (Ir per request over the %d-request "
                      "run, %% of its total):" % m)
                for ir, pct, fn in r["incl"]:
                    print("%10.0f %5.1f%%  %s" % (ir / m, pct, fn))
                print("-- top self:")
                for ir, pct, fn in r["self"]:
                    print("%10.0f %5.1f%%  %s" % (ir / m, pct, fn))
                print("-- the module's own functions, inclusive:")
                for ir, pct, fn in r["mine"]:
                    print("%10.0f %5.1f%%  %s" % (ir / m, pct, fn))
                print("-- what the module's heaviest functions call "
                      "(Ir per request, calls per request):")
                for ir, fn, cs in r["callees"]:
                    print("%10.0f  %s" % (ir / m, fn))
                    for cir, ncalls, cfn in cs:
                        print("%10.0f    %5.2fx  > %s" % (cir / m,
                                                         ncalls / m, cfn))
                print()
            if not args.no_strace:
                r = strace(name, root / "st", app, n, args.warm)
                tot = sum(c for c, _, _ in r["rows"])
                print("== %s: strace -c -f on httpd's %d process(es) "
                      "(%d backends running), %d requests /small, one "
                      "keep-alive client: %.1f syscalls per request" % (
                          label, r["procs"], r["backends"], n, tot / n))
                for calls, errs, sc in r["rows"][:20]:
                    print("%8.2f  %s%s" % (calls / n, sc,
                                           "  (%.2f failed)" % (errs / n)
                                           if errs else ""))
                print()
            if args.perf:
                r = perf(name, root / "perf", app, args.perf_secs, lua)
                print("== %s: perf stat on httpd + backends, per request "
                      "(wrk /small, %d s each)" % (label, args.perf_secs))
                print("%8s %8s %s" % ("clients", "req/s", "  ".join(
                    "%14s" % e.split(":")[-1] for e in STAT_EVENTS)))
                for c, (w, per) in sorted(r["stat"].items()):
                    print("%8d %8.0f %s" % (c, w["rps"], "  ".join(
                        "%14.2f" % per.get(e, float("nan"))
                        for e in STAT_EVENTS)))
                for what, k in (("1 MiB GET", "stat_get"),
                                ("1 MiB POST", "stat_post")):
                    w, per = r[k]
                    print("%s, 8 clients: %.0f req/s; per request: %s" % (
                        what, w["rps"], ", ".join(
                            "%s %.1f" % (e.split(":")[-1],
                                         per.get(e, float("nan")))
                            for e in STAT_EVENTS)))
                print("== %s: perf record -e cpu-clock, wrk 16 clients: "
                      "%.0f req/s while recording" % (label, r["rps"]))
                print("\n".join(r["dsos"]))
                print("--")
                print("\n".join(r["rows"]))
                print()
        if len(totals) > 1:
            ref = totals[names[-1]]
            print("instructions per request (httpd, inside "
                  "ap_run_process_connection): " + ", ".join(
                      "%s %.0f (%.2fx %s)" % (bench.LABELS[k], v, v / ref,
                                              bench.LABELS[names[-1]])
                      for k, v in totals.items()))
    finally:
        bench.reap()
        if args.keep:
            print("kept %s" % root, file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
