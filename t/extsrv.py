"""FastCGI servers that something other than httpd starts, for the
TracFcgiExternalServer tests: the project's responder under Debian's
spawn-fcgi, the threaded app standing alone (Trac's own trac.fcgi pattern:
WSGIServer(bindAddress=...)), and Debian's php-fpm with a pool file of the
test's own.

    def test_x(httpd, servers):
        a = servers.threaded("unix")          # unix socket in its own dir
        b = servers.spawn_fcgi("tcp")         # 127.0.0.1:PORT
        h = httpd("TracFcgiExternalServer /trac %s %s" % (a.addr, b.addr))
        servers.kill(a)

Every server lives in a directory of its own, outside the httpd
instance's (so that the harness's check that httpd left nothing behind is
not about them), runs in a process group of its own, and is killed at the
end of the test whatever happened. A command prefix (for example
`ip netns exec NAME`) puts a server on another "host".
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import httpd as H

PYTHON = "/usr/bin/python3"
SPAWN_FCGI = "/usr/bin/spawn-fcgi"
PHP_FPM = shutil.which("php-fpm8.2") or "/usr/sbin/php-fpm8.2"


class Server:
    def __init__(self, kind, addr, proc, workdir, listen, argv, prefix, env):
        self.kind = kind          # "threaded", "spawn-fcgi", "php-fpm"
        self.addr = addr          # as TracFcgiExternalServer takes it
        self.proc = proc
        self.workdir = workdir
        self.listen = listen      # ("unix", path) or (host, port)
        self.argv, self.prefix, self.env = argv, prefix, env

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None


def _connectable(listen):
    if listen[0] == "unix":
        fam, target = socket.AF_UNIX, listen[1]
    else:
        fam = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
        target = (listen[0], listen[1])
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(target)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Servers:
    """The external servers of one test."""

    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="tf-ext-"))
        os.chmod(self.base, 0o755)     # httpd's User reaches the sockets
        self.all = []

    def _dir(self, name):
        d = Path(tempfile.mkdtemp(prefix=name + "-", dir=self.base))
        os.chmod(d, 0o755)
        return d

    def _listen(self, where, d, host="127.0.0.1", port=None, path=None):
        if where == "unix":
            path = path or str(d / "app.sock")
            return ("unix", path), "unix:" + path
        port = port or H.free_port()
        text = "[%s]:%d" % (host, port) if ":" in host else \
            "%s:%d" % (host, port)
        return (host, port), text

    def _start(self, kind, argv, listen, addr, d, prefix=(), env=None,
               wait=True):
        log = open(d / "output.log", "ab")
        proc = subprocess.Popen(list(prefix) + argv, stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, cwd=str(d),
                                env=env, start_new_session=True)
        log.close()
        srv = Server(kind, addr, proc, d, listen, argv, prefix, env)
        self.all.append(srv)
        if wait:
            self.wait_listening(srv)
        return srv

    def wait_listening(self, srv, timeout=10):
        """Until @srv takes connections (asked from here: another "host"
        is reached through its veth link)."""
        H.wait_until(lambda: not srv.alive() or _connectable(srv.listen),
                     timeout, what="%s at %s" % (srv.kind, srv.addr))
        assert srv.alive(), "%s exited: %s" % (srv.kind, self.output(srv))

    def threaded(self, where="unix", host="127.0.0.1", port=None, prefix=(),
                 max_conns=None, wait=True, path=None):
        """threaded_app.py --bind ADDR: one process, many connections (at
        @path, for a unix socket where the test says)."""
        d = self._dir("threaded")
        listen, addr = self._listen(where, d, host, port, path)
        env = dict(os.environ)
        if max_conns is not None:
            env["THREADED_APP_MAX_CONNS"] = str(max_conns)
        return self._start("threaded",
                           [PYTHON, str(H.APPS / "threaded_app.py"),
                            "--bind", addr], listen, addr, d, prefix, env,
                           wait)

    def spawn_fcgi(self, where="unix", host="127.0.0.1", port=None,
                   app="responder.fcgi", prefix=()):
        """Debian's spawn-fcgi running a t/apps program (one process,
        one connection at a time), in the foreground (-n)."""
        d = self._dir("spawn-fcgi")
        listen, addr = self._listen(where, d, host, port)
        if where == "unix":
            where_args = ["-s", listen[1], "-M", "0666"]
        else:
            where_args = ["-a", host, "-p", str(listen[1])]
        return self._start("spawn-fcgi",
                           [SPAWN_FCGI, "-n"] + where_args +
                           ["--", str(H.APPS / app)], listen, addr, d, prefix)

    def php_fpm(self, where="unix", children=2):
        """Debian's php-fpm with a pool of the test's own (static, run
        as www-data)."""
        d = self._dir("php-fpm")
        listen, addr = self._listen(where, d)
        target = listen[1] if where == "unix" else "127.0.0.1:%d" % listen[1]
        (d / "fpm.conf").write_text(
            "[global]\n"
            "pid = %(d)s/fpm.pid\n"
            "error_log = %(d)s/fpm.log\n"
            "daemonize = no\n"
            "[test]\n"
            "user = www-data\n"
            "group = www-data\n"
            "listen = %(t)s\n"
            "listen.mode = 0666\n"
            "pm = static\n"
            "pm.max_children = %(n)d\n"
            "clear_env = yes\n"
            "catch_workers_output = yes\n" % {"d": d, "t": target,
                                              "n": children})
        return self._start("php-fpm",
                           [PHP_FPM, "-F", "-n", "-y", str(d / "fpm.conf")],
                           listen, addr, d)

    def output(self, srv):
        try:
            return (srv.workdir / "output.log").read_text(errors="replace")
        except OSError:
            return ""

    def kill(self, srv, sig=signal.SIGKILL):
        """Kill a server and everything in its process group."""
        try:
            os.killpg(srv.proc.pid, sig)
        except OSError:
            pass
        try:
            srv.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def restart(self, srv):
        """Kill @srv and start the same command again, at the same
        address. @return the new Server."""
        self.kill(srv)
        return self._start(srv.kind, srv.argv, srv.listen, srv.addr,
                           srv.workdir, srv.prefix, srv.env)

    def stop_all(self):
        for srv in self.all:
            if srv.alive():
                self.kill(srv)
        shutil.rmtree(self.base, ignore_errors=True)

