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

With a Trac 1.6 source tree (--trac DIR, or TRAC_SRC), real Trac too: a
copy of the tree, an environment made by trac-admin initenv (SQLite) and
the trac.fcgi of trac-admin deploy, its /timeline under both modules with
the same number of Trac processes (Trac's own FastCGI server, threaded)
and with each module's defaults; mod_tracfcgi both with
TracFcgiConnsPerProcess auto (its default) and 1. Trac needs
python3-jinja2 and python3-setuptools.

With --db postgres the environment is on PostgreSQL, on a database host
of its own (a network namespace, t/netns.py, reached over a veth pair;
Debian's postgresql and python3-psycopg2), and --db-rtt MS puts a relay
there that delays each piece of the database's traffic by MS/2 each way
(t/bench/delay_relay.py: a network's round trip; this kernel may have no
netem).

    /usr/bin/python3 t/bench/trac_shaped.py [--procs 2] [--duration 10]
        [--sleep 3] [--cpu 2] [--clients 16] [--trac DIR]
        [--db sqlite|postgres] [--db-rtt MS]

Needs what t/bench/run.py needs (apache2, libapache2-mod-fcgid, wrk,
mod_tracfcgi.so built). Runs as root; everything in a temporary directory.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
import run as bench  # noqa: E402
import netns  # noqa: E402
import pgserver  # noqa: E402

APP = bench.REPO / "t" / "apps" / "threaded_app.py"
RELAY = bench.BENCH_DIR / "delay_relay.py"
DB_PASSWORD = "Tr4cBenchPw"
RELAY_PORT = 6432

# mod_fcgid serving the app, and holding it to {n} processes
FCGID = """\
LoadModule fcgid_module {moddir}/mod_fcgid.so
FcgidIPCDir "{dir}/fcgid"
FcgidProcessTableFile "{dir}/fcgid/shm"
FcgidIOTimeout 300
FcgidBusyTimeout 300
ScriptAlias /app "{appdir}/trac_app.fcgi/"
<Directory "{appdir}">
    SetHandler fcgid-script
    Options +ExecCGI
</Directory>
"""
FCGID_PROCS = """\
FcgidMaxProcesses {n}
FcgidMaxProcessesPerClass {n}
FcgidMinProcessesPerClass {n}
FcgidMaxRequestsPerProcess 0
FcgidIdleTimeout 3600
FcgidProcessLifeTime 3600
"""

EXTRA = {
    "trac_tracfcgi": """\
LoadModule tracfcgi_module "{module}"
ScriptAlias /app "{appdir}/trac_app.fcgi/"
TracFcgiMinProcesses {n}
TracFcgiMaxProcesses {n}
TracFcgiIOTimeout 300
""",
    "trac_fcgid": FCGID + FCGID_PROCS,
}
LABELS = {"trac_tracfcgi": "mod_tracfcgi", "trac_fcgid": "mod_fcgid"}

# real Trac: its environment named as each module's users name it
# (@PYPATH@, @ENV@: the copy of the tree, the environment), first with
# the same number of processes, then with each module's defaults (each
# starts what it decides to: the set-up an administrator gets)
TRAC_TRACFCGI = """\
LoadModule tracfcgi_module "{module}"
ScriptAlias /app "{appdir}/trac_app.fcgi/"
TracEnv "@ENV@"
TracFcgiInitEnv PYTHONPATH "@PYPATH@"
TracFcgiIOTimeout 300
"""
TRAC_FCGID = FCGID + """\
FcgidInitialEnv TRAC_ENV "@ENV@"
FcgidInitialEnv PYTHONPATH "@PYPATH@"
"""
PROCS = """\
TracFcgiMinProcesses {n}
TracFcgiMaxProcesses {n}
"""
ONE = "TracFcgiConnsPerProcess 1\n"
REAL = {
    "real_tracfcgi": TRAC_TRACFCGI + PROCS,
    "real_one": TRAC_TRACFCGI + PROCS + ONE,
    "real_fcgid": TRAC_FCGID + FCGID_PROCS,
    "dflt_tracfcgi": TRAC_TRACFCGI,
    "dflt_one": TRAC_TRACFCGI + ONE,
    "dflt_fcgid": TRAC_FCGID,
}
LABELS.update(real_tracfcgi="mod_tracfcgi",
              real_one="mod_tracfcgi, ConnsPerProcess 1",
              real_fcgid="mod_fcgid", dflt_tracfcgi="mod_tracfcgi",
              dflt_one="mod_tracfcgi, ConnsPerProcess 1",
              dflt_fcgid="mod_fcgid")


def measure(name, root, app, lua, args, path):
    srv = bench.make_server(name, root, app)
    res = {"name": name}
    try:
        srv.start()
        url = srv.url(path)
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


def trac_site(root, src, db="sqlite:db/trac.db"):
    """A copy of the Trac tree at @src and an environment made with it, its
    database @db (a Trac database URI): (the app, i.e. the deployed
    trac.fcgi; PYTHONPATH; the environment)."""
    tree = root / "trac"
    shutil.copytree(src, tree, ignore=shutil.ignore_patterns(".git"))
    if not list(tree.glob("*.egg-info")):
        # the entry points Trac finds its components by
        subprocess.run([sys.executable, "setup.py", "-q", "egg_info"],
                       cwd=tree, check=True, capture_output=True)
    env = root / "env"
    admin = [sys.executable, "-m", "trac.admin.console", str(env)]
    penv = dict(os.environ, PYTHONPATH=str(tree))
    for cmd in (["initenv", "Bench", db],
                ["deploy", str(root / "deploy")]):
        r = subprocess.run(admin + cmd, env=penv, capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError("trac-admin %s: %s%s" % (
                cmd[0], r.stdout[-1000:], r.stderr[-1000:]))
    appdir = root / "trac-app"
    appdir.mkdir()
    os.chmod(appdir, 0o755)
    app = appdir / "trac_app.fcgi"
    shutil.copy(root / "deploy" / "cgi-bin" / "trac.fcgi", app)
    os.chmod(app, 0o755)
    for d, _, files in os.walk(env):
        shutil.chown(d, bench.USER, bench.USER)
        for f in files:
            shutil.chown(os.path.join(d, f), bench.USER, bench.USER)
    return app, tree, env


def why_no_trac(src, db):
    if not src:
        return "no Trac source tree (--trac DIR or TRAC_SRC)"
    if not os.path.isfile(os.path.join(src, "trac", "__init__.py")):
        return "%s is not a Trac source tree" % src
    mods = [("jinja2", "python3-jinja2"), ("setuptools", "python3-setuptools")]
    if db == "postgres":
        why = netns.why_not() or pgserver.why_not()
        if why:
            return why
        mods.append(("psycopg2", "python3-psycopg2"))
    for mod, pkg in mods:
        r = subprocess.run([sys.executable, "-c", "import " + mod],
                           capture_output=True)
        if r.returncode != 0:
            return "%s is not installed (Debian: %s)" % (mod, pkg)
    return None


def table(results, title, clients):
    print(title)
    print()
    # wrk's percentiles are of the requests answered within the run; a
    # request left waiting past its end counts in none, so the mean by
    # Little's law (clients / req/s) is printed too
    print("| | req/s | p50 ms | p99 ms | mean ms | backends | "
          "backend PSS MiB | req/s per MiB |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    per = {}
    for r in results:
        label = LABELS[r["name"]]
        if "failed" in r:
            print("| %s | failed: %s |" % (label,
                                           " ".join(r["failed"].split())))
            continue
        per[label] = r["rps"] / r["back_pss"] if r["back_pss"] else 0
        print("| %s | %.0f | %.1f | %.1f | %.0f | %d | %.1f | %.3g |" % (
            label, r["rps"], r["p50"], r["p99"],
            clients * 1e3 / r["rps"] if r["rps"] else 0, r["procs_after"],
            r["back_pss"], per[label]))
    print()
    for label, v in per.items():
        if label == "mod_fcgid" or not per.get("mod_fcgid"):
            continue
        ratio = v / per["mod_fcgid"]
        print("- [%s] 6: req/s per MiB of backend memory >= 1.5x mod_fcgid's "
              "at %d clients (%s): %.2fx%s" % (
                  "x" if ratio >= 1.5 else " ", clients, label, ratio,
                  "" if ratio >= 1.5 else "  **MISSED**"))
    print()


def database_host(root, args, hosts, stop):
    """PostgreSQL on a database host of its own, behind the delaying relay
    with --db-rtt: the Trac database URI. What it starts goes on @stop
    (callables) as it starts, whatever fails after."""
    host = hosts[0]
    pg = pgserver.Postgres(root / "pg", host)
    stop.append(pg.stop)
    pg.start()
    uri = pg.database("trac", "trac", DB_PASSWORD)
    if args.db_rtt > 0:
        relay = subprocess.Popen(
            list(host.prefix) + [sys.executable, str(RELAY),
                                 "%s:%d" % (host.addr, RELAY_PORT),
                                 "%s:%d" % (host.addr, pg.port),
                                 str(args.db_rtt)],
            start_new_session=True)
        stop.insert(0, lambda: (relay.kill(), relay.wait()))
        uri = "postgres://trac:%s@%s:%d/trac" % (DB_PASSWORD, host.addr,
                                                 RELAY_PORT)
        end = time.monotonic() + 10
        while not pg_reachable(host.addr, RELAY_PORT):
            if relay.poll() is not None or time.monotonic() > end:
                raise RuntimeError("the delaying relay did not start")
            time.sleep(0.1)
    return uri


def db_round_trip(uri):
    """The median of 30 round trips (SELECT 1) to @uri, idle, in ms."""
    import psycopg2
    u = urllib.parse.urlsplit(uri)
    try:
        conn = psycopg2.connect(host=u.hostname, port=u.port,
                                user=u.username, password=u.password,
                                dbname=u.path[1:])
    except psycopg2.Error as e:
        raise RuntimeError("the database host: %s" % e) from e
    try:
        cur = conn.cursor()
        times = []
        for _ in range(30):
            t = time.perf_counter()
            cur.execute("SELECT 1")
            cur.fetchall()
            times.append((time.perf_counter() - t) * 1e3)
        return sorted(times)[len(times) // 2]
    finally:
        conn.close()


def pg_reachable(addr, port):
    try:
        socket.create_connection((addr, port), timeout=1).close()
        return True
    except OSError:
        return False


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
    ap.add_argument("--trac", default=os.environ.get("TRAC_SRC", ""),
                    help="a Trac 1.6 source tree: real Trac's /timeline "
                         "too (default: $TRAC_SRC)")
    ap.add_argument("--conf", action="append", default=[],
                    metavar="NAME:TEXT",
                    help="append a line to one configuration's httpd.conf "
                         "(names: %s); repeatable" % ", ".join(
                             list(EXTRA) + list(REAL)))
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite",
                    help="real Trac's database: SQLite in the environment "
                         "(default), or PostgreSQL on a database host")
    ap.add_argument("--db-rtt", type=float, default=0, metavar="MS",
                    help="with --db postgres: the round trip to the "
                         "database host, emulated (default 0: the veth "
                         "pair's own)")
    ap.add_argument("--trac-only", action="store_true",
                    help="real Trac only, without the stand-in")
    args = ap.parse_args()
    if args.db_rtt and args.db != "postgres":
        ap.error("--db-rtt needs --db postgres")
    bench.check_tools(["fcgid", "tracfcgi"], args.module)
    for c in args.conf:
        name, _, text = c.partition(":")
        if name not in EXTRA and name not in REAL:
            ap.error("--conf %s: no such configuration" % name)
        bench.EXTRA_CONF.setdefault(name, []).append(text)
    bench.BACKENDS = args.procs
    no_trac = why_no_trac(args.trac, args.db)
    for n in list(EXTRA) + list(REAL):
        bench.LABELS[n] = LABELS[n]
        bench.URLS[n] = ("/small.txt", None, None, None)
    bench.EXTRA.update(EXTRA)
    bench.set_subreaper()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="tracfcgi-trac-shaped-"))
    os.chmod(root, 0o755)
    hosts = netns.Hosts(1) if args.db == "postgres" and not no_trac else None
    stop = []
    results, real = [], []
    rtt = None
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
        shaped = "/app/page?sleep=%d&cpu=%d" % (args.sleep, args.cpu)
        if not args.trac_only:
            results = [measure(n, root, app, lua, args, shaped)
                       for n in EXTRA]
        if not no_trac:
            try:
                db = "sqlite:db/trac.db"
                if hosts:
                    db = database_host(root, args, hosts.__enter__(), stop)
                    rtt = db_round_trip(db)
                trac_app, pypath, env = trac_site(root, args.trac, db)
            except (OSError, RuntimeError,
                    subprocess.CalledProcessError) as e:
                no_trac = "the site could not be made: %s" % e
        if not no_trac:
            for n, text in REAL.items():
                bench.EXTRA[n] = text.replace("@ENV@", str(env)).replace(
                    "@PYPATH@", str(pypath))
            real = [measure(n, root, trac_app, lua, args, "/app/timeline")
                    for n in REAL]
    finally:
        for f in stop:
            f()
        bench.reap()
        if hosts:
            hosts.remove()
        shutil.rmtree(root, ignore_errors=True)
    if results:
        table(results, "Trac-shaped: %d Python processes each, %d clients, %d "
              "s, each request waits %d ms and computes %d ms "
              "(t/apps/threaded_app.py)" % (args.procs, args.clients,
                                            args.duration, args.sleep,
                                            args.cpu), args.clients)
    if no_trac:
        print("Real Trac: not measured: %s" % no_trac)
    else:
        where = ("SQLite" if args.db == "sqlite" else
                 "PostgreSQL on a database host, %s: SELECT 1 takes %.2f "
                 "ms, idle" % ("--db-rtt %g" % args.db_rtt if args.db_rtt
                              else "over a veth pair", rtt))
        about = ("Real Trac (%s), /timeline of a new environment (%s), "
                 "%d clients, %d s" % (args.trac, where, args.clients,
                                       args.duration))
        table(real[:3], "%s: %d Trac processes each" % (about, args.procs),
              args.clients)
        table(real[3:], "%s: each module's defaults (the processes it "
              "starts by itself)" % about, args.clients)
    bad = [r for r in results + real if r.get("errors") or r.get("failed")
           or r.get("leftovers")]
    # a tree named but not measured is a failure; none named is not
    return 1 if bad or (args.trac and no_trac) else 0


if __name__ == "__main__":
    sys.exit(main())
