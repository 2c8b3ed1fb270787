"""Debian's PostgreSQL on a database host of the tests (a namespace of
t/netns.py), with password authentication over TCP: for Trac on
PostgreSQL (t/test_trac_pg.py, t/bench/trac_shaped.py --db postgres).

    pg = Postgres(root / "pg", host)       # host: a netns.Host
    pg.start()                              # initdb, postgres, waits
    uri = pg.database("trac", "trac", pw)   # a user and its database
    ...
    pg.stop()

Everything lives under the directory given (made here, owned by the
postgres user); the server listens on the host's address only.
`why_not()` says why it cannot run here.
"""

import glob
import os
import shutil
import subprocess
import time

BINS = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
ADMIN_PW = "admin-pw"


def why_not():
    """None when PostgreSQL can be started here, else the reason."""
    if not BINS:
        return "PostgreSQL is not installed (Debian: postgresql)"
    if not shutil.which("psql"):
        return "psql is not installed (Debian: postgresql-client)"
    return None


def _run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s: %s%s" % (" ".join(argv), r.stdout[-2000:],
                                         r.stderr[-2000:]))
    return r


class Postgres:
    def __init__(self, where, host, port=5432):
        self.dir = where
        self.host = host
        self.port = port
        self.proc = None
        self.bindir = os.path.dirname(BINS[-1]) if BINS else ""

    def psql(self, sql):
        return _run(["psql", "-h", self.host.addr, "-p", str(self.port),
                     "-U", "postgres", "-c", sql],
                    env=dict(os.environ, PGPASSWORD=ADMIN_PW))

    def start(self, timeout=30):
        self.dir.mkdir()
        (self.dir / "pw").write_text(ADMIN_PW + "\n")
        shutil.chown(self.dir, "postgres", "postgres")
        shutil.chown(self.dir / "pw", "postgres", "postgres")
        data = self.dir / "data"
        _run(["runuser", "-u", "postgres", "--", self.bindir + "/initdb",
              "-D", str(data), "-A", "scram-sha-256", "-U", "postgres",
              "--pwfile", str(self.dir / "pw")])
        # the host's own network: this side of its veth pair or bridge
        net = self.host.addr.rsplit(".", 1)[0] + ".0/24"
        with open(data / "pg_hba.conf", "a") as f:
            f.write("host all all %s scram-sha-256\n" % net)
        log = open(self.dir / "postgres.log", "ab")
        self.proc = subprocess.Popen(
            list(self.host.prefix) +
            ["runuser", "-u", "postgres", "--", self.bindir + "/postgres",
             "-D", str(data), "-k", str(self.dir), "-c",
             "listen_addresses=" + self.host.addr, "-p", str(self.port)],
            stdout=log, stderr=log, start_new_session=True)
        log.close()
        end = time.monotonic() + timeout
        while True:
            try:
                self.psql("select 1")
                return
            except RuntimeError:
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(
                        "PostgreSQL on %s did not start: %s" % (
                            self.host.addr, self.log_tail()))
                time.sleep(0.2)

    def log_tail(self):
        try:
            return (self.dir / "postgres.log").read_text()[-2000:]
        except OSError as e:
            return str(e)

    def database(self, name, user, password):
        """Make @user (with @password) and its database @name; the URI
        Trac takes for it."""
        self.psql("create user %s password '%s'" % (user, password))
        self.psql("create database %s owner %s" % (name, user))
        return "postgres://%s:%s@%s:%d/%s" % (user, password, self.host.addr,
                                              self.port, name)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)
