#!/usr/bin/python3
"""Benchmark mod_tracfcgi against mod_fcgid, mod_proxy_fcgi, nginx, lighttpd
and static files.

On one machine and in one run: build t/bench/bench_app.c (a libfcgi
responder), serve it with 4 backend processes through

  tracfcgi    Apache + mod_tracfcgi (ScriptAlias, Min=Max=4, 1 conn/process)
  tracfcgi_tuned  the same with two documented settings for an app like
              this one (uniformly short requests, trusted clients):
              TracFcgiConnsPerProcess 2 (a request may wait in a busy
              process's listen queue) and TracFcgiRequestBuffering Off
  tracfcgi_conns2  (only with --only) TracFcgiConnsPerProcess 2 alone
  fcgid       Apache + mod_fcgid (4 processes per class, large bodies allowed)
  proxy_fcgi  Apache + mod_proxy_fcgi over a unix socket to spawn-fcgi -F 4
              (no connection reuse)
  nginx       nginx (2 workers) + the same spawn-fcgi server, a new
              connection per request (nginx_keep, only with --only: upstream
              keepalive, which stalls these one-connection-at-a-time
              backends)
  lighttpd    lighttpd (one process) starting the app's 4 processes itself
              (mod_fastcgi "bin-path", "max-procs")
  static      Apache serving a 20-byte file (and a 1 MiB one): the ceiling

(and the variants in CONFIGS and OPTIONAL), one server at a time, every
Apache with the same event MPM settings, on 127.0.0.1 only, and print one
markdown table with every figure's ratio to the mod_fcgid, the static and
the nginx rows, then the performance issue's targets, met or missed.

Clients: wrk (req/s, latency, MiB/s; a Lua script sends the POST bodies and
prints wrk's summary as JSON) and, for the queueing test and the mixed
test (short requests beside two clients asking for 500 ms ones: does a
short request ever wait for a long one?), Python threads that see every
request. Memory: the sum of the RSS (and PSS) of the
server's processes (httpd's; nginx's master and workers; lighttpd) and
the backends, sampled from /proc during the whole scenario.

    /usr/bin/python3 t/bench/run.py [--quick] [--only tracfcgi,fcgid,...]
                                    [--duration S] [--json FILE] [--keep]

Needs (Debian 12): apache2 libapache2-mod-fcgid spawn-fcgi libfcgi-dev wrk
curl gcc, nginx-light and lighttpd for their rows, and mod_tracfcgi.so
built (make). Runs as root (httpd, nginx's workers and lighttpd drop to
www-data). Everything lives in a fresh /tmp/tracfcgi-bench-* directory,
removed at the end unless --keep.
"""

import argparse
import collections
import ctypes
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent.parent
MODULE = REPO / "mod_tracfcgi.so"
APACHE = "/usr/sbin/apache2"
MODDIR = "/usr/lib/apache2/modules"
SPAWN_FCGI = "/usr/bin/spawn-fcgi"
NGINX = "/usr/sbin/nginx"
NGINX_FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"
LIGHTTPD = "/usr/sbin/lighttpd"
WRK = "wrk"
USER = "www-data"

CONFIGS = ("tracfcgi", "tracfcgi_tuned", "fcgid", "proxy_fcgi",
           "tracfcgi_ext", "tracfcgi_ext_tcp", "proxy_fcgi_tcp", "nginx",
           "lighttpd", "static")
TRACFCGI = ("tracfcgi", "tracfcgi_tuned", "tracfcgi_conns2")
# measured only when named with --only: mod_proxy_fcgi keeping its
# connections (enablereuse=on), which stalls one-request-at-a-time
# backends once httpd's threads outnumber them; so does nginx's upstream
# keepalive (nginx_keep: an idle connection one worker keeps holds a
# backend that another worker's request waits for; with keepalive 8, 4
# or 2 the queue test runs into its 60 s deadline, with 1 nothing fails
# but it takes 2.2-2.6 s, p99 0.5-0.7 s)
OPTIONAL = ("proxy_fcgi_tcp_reuse", "tracfcgi_ext_tcp_keep",
            "nginx_keep", "tracfcgi_conns2", "tracfcgi_ext_wide")
ALL = CONFIGS + OPTIONAL
# the configurations that load mod_tracfcgi; those whose backends
# spawn-fcgi starts (over TCP: the TCP ones)
WITH_MODULE = TRACFCGI + ("tracfcgi_ext", "tracfcgi_ext_tcp",
                          "tracfcgi_ext_tcp_keep", "tracfcgi_ext_wide")
SPAWNED = ("proxy_fcgi", "tracfcgi_ext", "tracfcgi_ext_wide",
           "tracfcgi_ext_tcp",
           "proxy_fcgi_tcp", "proxy_fcgi_tcp_reuse", "tracfcgi_ext_tcp_keep",
           "nginx", "nginx_keep")
OVER_TCP = ("tracfcgi_ext_tcp", "proxy_fcgi_tcp", "proxy_fcgi_tcp_reuse",
            "tracfcgi_ext_tcp_keep")
LABELS = {"tracfcgi": "mod_tracfcgi", "tracfcgi_tuned": "mod_tracfcgi tuned",
          "fcgid": "mod_fcgid",
          "proxy_fcgi": "mod_proxy_fcgi",
          "tracfcgi_conns2": "mod_tracfcgi ConnsPerProcess 2",
          "tracfcgi_ext": "mod_tracfcgi external unix",
          "tracfcgi_ext_wide": "mod_tracfcgi external unix conns=64",
          "tracfcgi_ext_tcp": "mod_tracfcgi external TCP",
          "proxy_fcgi_tcp": "mod_proxy_fcgi TCP",
          "proxy_fcgi_tcp_reuse": "mod_proxy_fcgi TCP enablereuse",
          "tracfcgi_ext_tcp_keep": "mod_tracfcgi external TCP keepalive",
          "nginx": "nginx + spawn-fcgi",
          "nginx_keep": "nginx + spawn-fcgi keepalive",
          "lighttpd": "lighttpd (spawns)",
          "static": "static file"}
BACKENDS = 4
SMALL = b"small reply 20 bytes"
MIB = 1 << 20
GIB = 1 << 30

# --------------------------------------------------------------------------
# configuration

BASE_CONF = """\
# generated by t/bench/run.py ({name})
ServerRoot "{dir}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{dir}/run/httpd.pid"
DefaultRuntimeDir "{dir}/run"
# no Mutex line: the platform's default (pthread on Debian), as deployed;
# "Mutex file:" (fcntl) makes mod_fcgid fail under load with EDEADLK
ErrorLog "{dir}/error_log"
LogLevel warn
User {user}
Group {user}
Timeout 300
KeepAlive On
KeepAliveTimeout 30
MaxKeepAliveRequests 0
LimitRequestBody 0

# the same MPM settings for every configuration
LoadModule mpm_event_module {moddir}/mod_mpm_event.so
StartServers 2
ServerLimit 2
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 128
MinSpareThreads 25
MaxSpareThreads 128
MaxConnectionsPerChild 0

LoadModule authz_core_module {moddir}/mod_authz_core.so
LoadModule alias_module {moddir}/mod_alias.so
LoadModule mime_module {moddir}/mod_mime.so
TypesConfig /etc/mime.types
DocumentRoot "{dir}/htdocs"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{dir}/htdocs">
    Require all granted
</Directory>
<Directory "{appdir}">
    Require all granted
</Directory>

{extra}
"""

EXTRA = {
    "tracfcgi": """\
LoadModule tracfcgi_module "{module}"
ScriptAlias /app "{appdir}/bench_app.fcgi/"
TracFcgiMinProcesses {n}
TracFcgiMaxProcesses {n}
TracFcgiConnsPerProcess 1
TracFcgiIOTimeout 300
""",
    # TracFcgiConnsPerProcess 2 alone: one request per busy process
    # waits in that process's listen queue instead of the FIFO
    "tracfcgi_conns2": """\
LoadModule tracfcgi_module "{module}"
ScriptAlias /app "{appdir}/bench_app.fcgi/"
TracFcgiMinProcesses {n}
TracFcgiMaxProcesses {n}
TracFcgiConnsPerProcess 2
TracFcgiIOTimeout 300
""",
    "tracfcgi_tuned": """\
LoadModule tracfcgi_module "{module}"
ScriptAlias /app "{appdir}/bench_app.fcgi/"
TracFcgiMinProcesses {n}
TracFcgiMaxProcesses {n}
TracFcgiConnsPerProcess 2
TracFcgiRequestBuffering Off
TracFcgiIOTimeout 300
""",
    "fcgid": """\
LoadModule fcgid_module {moddir}/mod_fcgid.so
FcgidIPCDir "{dir}/fcgid"
FcgidProcessTableFile "{dir}/fcgid/shm"
FcgidMaxProcesses {n}
FcgidMaxProcessesPerClass {n}
FcgidMinProcessesPerClass {n}
FcgidMaxRequestsPerProcess 0
FcgidMaxRequestLen 1100000000
FcgidIdleTimeout 3600
FcgidProcessLifeTime 3600
FcgidIOTimeout 300
FcgidBusyTimeout 300
FcgidSpawnScoreUpLimit 100
ScriptAlias /app "{appdir}/bench_app.fcgi/"
<Directory "{appdir}">
    SetHandler fcgid-script
    Options +ExecCGI
</Directory>
""",
    "proxy_fcgi": """\
LoadModule proxy_module {moddir}/mod_proxy.so
LoadModule proxy_fcgi_module {moddir}/mod_proxy_fcgi.so
# no enablereuse: one-request-at-a-time backends stall with it
ProxyPass /app/ "unix:{dir}/run/app.sock|fcgi://localhost/"
ProxyTimeout 300
""",
    # the same spawn-fcgi -F 4 server as proxy_fcgi, reached by
    # TracFcgiExternalServer: 4 connections at once, one per process
    "tracfcgi_ext": """\
LoadModule tracfcgi_module "{module}"
TracFcgiExternalServer /app unix:{dir}/run/app.sock conns={n}
TracFcgiIOTimeout 300
""",
    # the same server with more connections allowed than it has
    # processes: requests wait in its one listen queue, not in the FIFO
    "tracfcgi_ext_wide": """\
LoadModule tracfcgi_module "{module}"
TracFcgiExternalServer /app unix:{dir}/run/app.sock conns=64
TracFcgiIOTimeout 300
""",
    "tracfcgi_ext_tcp": """\
LoadModule tracfcgi_module "{module}"
TracFcgiExternalServer /app 127.0.0.1:{bport} conns={n}
TracFcgiIOTimeout 300
""",
    "proxy_fcgi_tcp": """\
LoadModule proxy_module {moddir}/mod_proxy.so
LoadModule proxy_fcgi_module {moddir}/mod_proxy_fcgi.so
ProxyPass /app/ "fcgi://127.0.0.1:{bport}/"
ProxyTimeout 300
""",
    "tracfcgi_ext_tcp_keep": """\
LoadModule tracfcgi_module "{module}"
TracFcgiExternalServer /app 127.0.0.1:{bport} conns={n} keepalive=30
TracFcgiIOTimeout 300
""",
    "proxy_fcgi_tcp_reuse": """\
LoadModule proxy_module {moddir}/mod_proxy.so
LoadModule proxy_fcgi_module {moddir}/mod_proxy_fcgi.so
ProxyPass /app/ "fcgi://127.0.0.1:{bport}/" enablereuse=on
ProxyTimeout 300
""",
    "static": "",
}

# nginx (nginx_keep: with upstream keepalive) in front of the same
# spawn-fcgi -F 4 server as proxy_fcgi, over its unix socket
NGINX_CONF = """\
# generated by t/bench/run.py ({name})
# in the foreground, as httpd -DFOREGROUND: the process started is the
# master, and it stops when told to
daemon off;
master_process on;
# 2 workers: the machine has 2 cores (and Apache's event MPM 2 children)
worker_processes 2;
user {user} {user};
pid "{dir}/run/nginx.pid";
# not warn: that logs every request body buffered to a file (each 1 MiB
# POST), burying real errors in the tail the report shows
error_log "{dir}/error_log" error;

events {{
    worker_connections 1024;
}}

http {{
    # no access log, as in the Apache configurations
    access_log off;
    # every temporary file in this configuration's directory (nginx
    # creates these, owned by the workers' user)
    client_body_temp_path "{dir}/tmp/client_body";
    fastcgi_temp_path "{dir}/tmp/fastcgi";
    proxy_temp_path "{dir}/tmp/proxy";
    uwsgi_temp_path "{dir}/tmp/uwsgi";
    scgi_temp_path "{dir}/tmp/scgi";
    # as Apache's Timeout 300, KeepAliveTimeout 30, MaxKeepAliveRequests 0
    # (no limit) and LimitRequestBody 0
    client_header_timeout 300s;
    client_body_timeout 300s;
    send_timeout 300s;
    keepalive_timeout 30s;
    keepalive_requests 1000000000;
    client_max_body_size 0;
    default_type application/octet-stream;
{upstream}
    server {{
        listen 127.0.0.1:{port};
        server_name 127.0.0.1;
        root "{dir}/htdocs";
        # SCRIPT_NAME /app, PATH_INFO the rest, as ScriptAlias /app
        location /app/ {{
            fastcgi_split_path_info ^(/app)(/.*)$;
{params}
            fastcgi_param PATH_INFO $fastcgi_path_info;
            fastcgi_pass {backend};
            fastcgi_connect_timeout 300s;
            fastcgi_send_timeout 300s;
            fastcgi_read_timeout 300s;
{keep}
        }}
    }}
{extra}
}}
"""

# nginx_keep: connections to the backends kept (up to 8 idle ones per
# worker); a libfcgi process serves one connection at a time, until it
# is closed
NGINX_UPSTREAM = """\
    upstream app {{
        server unix:{dir}/run/app.sock;
        keepalive 8;
    }}
"""

# when /etc/nginx/fastcgi_params is missing: what the app and the
# comparison need (bench_app routes on REQUEST_URI)
NGINX_PARAMS = """\
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param CONTENT_TYPE $content_type;
            fastcgi_param CONTENT_LENGTH $content_length;
            fastcgi_param SCRIPT_NAME $fastcgi_script_name;
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
            fastcgi_param REMOTE_ADDR $remote_addr;
            fastcgi_param SERVER_NAME $server_name;
            fastcgi_param SERVER_PORT $server_port;"""

# lighttpd starting the app itself (as mod_fcgid and mod_tracfcgi do)
LIGHTTPD_CONF = """\
# generated by t/bench/run.py ({name})
# mod_fastcgi is built into Debian's lighttpd 1.4.69 (no mod_fastcgi.so)
# but loaded only when named. No mod_accesslog: no access log, as in the
# Apache configurations. One process, lighttpd's model (one event loop;
# server.max-worker is discouraged upstream)
server.modules = ( "mod_fastcgi" )
server.bind = "127.0.0.1"
server.port = {port}
server.document-root = "{dir}/htdocs"
# lighttpd drops to this user altogether: it opens the error log, and
# creates the backends' sockets, as that user
server.username = "{user}"
server.groupname = "{user}"
server.pid-file = "{dir}/run/lighttpd.pid"
server.errorlog = "{dir}/error_log"
# where request bodies are buffered before they go to the app
server.upload-dirs = ( "{dir}/tmp" )
# as Apache's LimitRequestBody 0 (KiB here; 0: no limit), Timeout 300,
# KeepAliveTimeout 30 and MaxKeepAliveRequests 0 (a short here: 65535
# is the most; 0 would turn keep-alive off)
server.max-request-size = 0
server.max-keep-alive-requests = 65535
server.max-keep-alive-idle = 30
server.max-read-idle = 300
server.max-write-idle = 300
# {n} processes, each listening on its own socket (app.sock-0, ...); a new
# connection per request. A prefix key with check-local disabled:
# SCRIPT_NAME /app, PATH_INFO the rest
fastcgi.server = ( "/app" => ((
    "bin-path" => "{appdir}/bench_app.fcgi",
    "socket" => "{dir}/run/app.sock",
    "max-procs" => {n},
    "check-local" => "disable",
    "connect-timeout" => 300,
    "read-timeout" => 300,
    "write-timeout" => 300,
)))
{extra}
"""

# more configuration text per configuration, from --conf NAME:TEXT
EXTRA_CONF = {}

# per configuration: (small URL, 1 MiB GET URL, POST URL, sleep URL)
URLS = {
    "static": ("/small.txt", "/big.bin", "/small.txt", None),
}
APP_URLS = ("/app/small", "/app/big?kib=1024", "/app/count",
            "/app/sleep?ms=50")

WRK_LUA = """\
-- generated by t/bench/run.py: POST body from BENCH_BODY, summary as JSON
local size = tonumber(os.getenv("BENCH_BODY") or "0")
if size > 0 then
    wrk.method = "POST"
    wrk.body = string.rep("x", size)
    wrk.headers["Content-Type"] = "application/octet-stream"
end
done = function(s, lat, req)
    io.write(string.format(
        'BENCHJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
        '"connect": %d, "read": %d, "write": %d, "status": %d, ' ..
        '"timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
        '"mean_us": %.1f}\\n',
        s.requests, s.duration, s.bytes, s.errors.connect, s.errors.read,
        s.errors.write, s.errors.status, s.errors.timeout,
        lat:percentile(50), lat:percentile(99), lat.max, lat.mean))
end
"""


def log(*a):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr,
          flush=True)


def free_port():
    for _ in range(200):
        port = random.randrange(20000, 30000)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        return port
    raise RuntimeError("no free port in 20000-29999")


def set_subreaper():
    """Orphans of what we start (spawn-fcgi's children) become ours, so
    that we can reap them and none outlives the run as a zombie."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except OSError:
        pass


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# --------------------------------------------------------------------------
# processes and memory

def _read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pid):
    s = _read("/proc/%d/statm" % pid)
    if not s:
        return 0
    return int(s.split()[1]) * PAGE


def pss_bytes(pid):
    s = _read("/proc/%d/smaps_rollup" % pid)
    if not s:
        return 0
    for line in s.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def scan(conf, app, sid=None):
    """(server pids, backend pids) of one configuration: backends run the
    bench app binary (whoever started them: spawn-fcgi, the server); the
    server's processes carry the config path in their argv (httpd's
    children and managers inherit it) or, with @sid, are in that session
    (the server is started as a session leader; nginx's processes rewrite
    their argv, "nginx: worker process")."""
    conf_b, app_s = str(conf).encode(), str(app)
    httpd, back = [], []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        st = _read("/proc/%d/stat" % pid)
        if not st or st[st.rfind(")") + 2] in "ZX":
            continue
        # after the command: state, ppid, process group, session
        session = int(st[st.rfind(")") + 2:].split()[3])
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            exe = ""
        if exe.endswith(" (deleted)"):
            exe = exe[:-10]
        cmd = _read("/proc/%d/cmdline" % pid, "rb") or b""
        # the app, or a script run by its interpreter (#!/usr/bin/python3)
        if exe == app_s or cmd.split(b"\0")[1:2] == [app_s.encode()]:
            back.append(pid)
            continue
        if sid is not None and session == sid:
            httpd.append(pid)
            continue
        if conf_b in cmd.split(b"\0"):
            httpd.append(pid)
    return httpd, back


class MemSampler(threading.Thread):
    """Peak of sum(RSS) of the server (httpd, nginx, lighttpd) + backends
    (every 50 ms; the process set is rescanned every second) and peak of
    sum(PSS) (every second)."""

    def __init__(self, srv, interval=0.05):
        super().__init__(daemon=True)
        self.srv, self.interval = srv, interval
        self.stop_ev = threading.Event()
        self.peak_rss = self.peak_pss = 0
        self.peak_httpd_rss = 0
        self.peak_parts = {}
        self.phase = "start"
        self.phase_peaks = collections.OrderedDict()
        self.phase_pss = collections.OrderedDict()
        self.pss_parts = {}
        self.lock = threading.Lock()

    def run(self):
        httpd, back, last_scan = [], [], 0.0
        while not self.stop_ev.is_set():
            now = time.monotonic()
            if now - last_scan >= 1.0:
                httpd, back = self.srv.pids()
                last_scan = now
                hp = {p: pss_bytes(p) for p in httpd}
                bp = sum(pss_bytes(p) for p in back)
                pss = sum(hp.values()) + bp
            else:
                pss = 0
            hr = {p: rss_bytes(p) for p in httpd}
            h = sum(hr.values())
            b = sum(rss_bytes(p) for p in back)
            with self.lock:
                if h + b > self.peak_rss:
                    self.peak_parts = self.breakdown(hr, b, len(back))
                    self.peak_parts["during"] = self.phase
                self.peak_rss = max(self.peak_rss, h + b)
                self.phase_peaks[self.phase] = max(
                    self.phase_peaks.get(self.phase, 0), h + b)
                self.peak_httpd_rss = max(self.peak_httpd_rss, h)
                if pss > self.peak_pss:
                    self.pss_parts = self.breakdown(hp, bp, len(back))
                    self.pss_parts["during"] = self.phase
                self.peak_pss = max(self.peak_pss, pss)
                if pss:
                    self.phase_pss[self.phase] = max(
                        self.phase_pss.get(self.phase, 0), pss)
            self.stop_ev.wait(self.interval)

    def breakdown(self, httpd_rss, back_rss, n_back):
        """MiB by kind: the server's kinds of process (Server.KINDS; for
        httpd the parent, the MPM children, the process managers), the
        backends."""
        parts = collections.OrderedDict(
            (k, 0.0) for k in self.srv.KINDS + ("backends",))
        pids = set(httpd_rss)
        for pid, rss in httpd_rss.items():
            st = _read("/proc/%d/stat" % pid) or ""
            f = st[st.rfind(")") + 2:].split()
            ppid = int(f[1]) if len(f) > 17 else 0
            threads = int(f[17]) if len(f) > 17 else 1
            parts[self.srv.kind(ppid in pids, threads)] += rss / MIB
        parts["backends"] = back_rss / MIB
        parts["n_backends"] = n_back
        return parts

    def stop(self):
        self.stop_ev.set()
        self.join()


def _parts(p):
    """'parent 5.0, mpm children 26.6, ..., (4 backends), during: x'."""
    return ", ".join(
        "%s %.1f" % (k, v) if k not in ("n_backends", "during")
        else "(%d backends)" % v if k == "n_backends"
        else "during: %s" % v for k, v in p.items())


def _phases(peaks):
    return ", ".join("%s %.1f" % (ph, v / MIB) for ph, v in peaks)


class HttpdRssWatch(threading.Thread):
    """Sum and per-process RSS of a fixed set of httpd pids, every 20 ms,
    against the values at start (for the 1 GiB transfers)."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = list(pids)
        self.base = {p: rss_bytes(p) for p in self.pids}
        self.base_sum = sum(self.base.values())
        self.peak_sum = self.base_sum
        self.peak_growth_one = 0
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            cur = {p: rss_bytes(p) for p in self.pids}
            self.peak_sum = max(self.peak_sum, sum(cur.values()))
            for p, v in cur.items():
                if v:
                    self.peak_growth_one = max(self.peak_growth_one,
                                               v - self.base[p])
            self.stop_ev.wait(0.02)

    def stop(self):
        self.stop_ev.set()
        self.join()
        return self.peak_sum - self.base_sum, self.peak_growth_one


# --------------------------------------------------------------------------
# one server: Apache httpd (Server), nginx, lighttpd

class Server:
    """One Apache httpd, in the foreground, in a session of its own: what
    it starts (children, managers, backends) is found and stopped with it.
    Nginx and Lighttpd below change only the configuration, the command
    line and the names of the kinds of process."""

    KIND = "httpd"
    CONF_NAME = "httpd.conf"
    # the kinds of the server's processes in the peak-RSS breakdown
    KINDS = ("parent", "mpm children", "managers")

    def __init__(self, name, root, app):
        self.name = name
        self.app = app
        self.dir = root / name
        self.port = None
        self.proc = None
        self.spawner_pids = []
        self.bport = free_port() if name in OVER_TCP else 0
        for d in ("run", "htdocs", "tmp", "fcgid"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        for d in ("run", "htdocs"):
            os.chmod(self.dir / d, 0o755)
        os.chmod(self.dir / "tmp", 0o1777)
        shutil.chown(self.dir / "fcgid", USER, USER)
        (self.dir / "htdocs" / "small.txt").write_bytes(SMALL)
        (self.dir / "htdocs" / "big.bin").write_bytes(b"x" * MIB)
        self.conf = self.dir / self.CONF_NAME
        self.urls = URLS.get(name, APP_URLS)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def fmt(self):
        return dict(name=self.name, dir=self.dir, port=self.port, user=USER,
                    moddir=MODDIR, appdir=self.app.parent, module=MODULE,
                    n=BACKENDS, bport=self.bport)

    def config_text(self):
        fmt = self.fmt()
        fmt["extra"] = EXTRA[self.name].format(**fmt) + "\n".join(
            EXTRA_CONF.get(self.name, ()))
        return BASE_CONF.format(**fmt)

    def command(self, prefix, args):
        if args is None:
            args = ("-DFOREGROUND",)
        return list(prefix) + [APACHE, "-f", str(self.conf)] + list(args)

    @staticmethod
    def kind(child, threads):
        """One of KINDS for a process of the server: @child when its
        parent is one too, with @threads threads."""
        if not child:
            return "parent"
        return "mpm children" if threads > 2 else "managers"

    def start_spawner(self):
        sock = self.dir / "run" / "app.sock"
        where = (["-a", "127.0.0.1", "-p", str(self.bport)]
                 if self.name in OVER_TCP
                 else ["-s", str(sock), "-M", "0600", "-U", USER, "-G", USER])
        out = subprocess.run(
            [SPAWN_FCGI] + where +
            ["-u", USER, "-g", USER, "-F", str(BACKENDS), "-b", "1024",
             "--", str(self.app)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            cwd=str(self.app.parent))
        if out.returncode != 0:
            raise RuntimeError("spawn-fcgi failed: %s" % out.stderr.strip())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            _, back = scan(self.conf, self.app)
            if len(back) >= BACKENDS:
                self.spawner_pids = back
                return
            time.sleep(0.02)
        # stop() ends those that did start
        self.spawner_pids = scan(self.conf, self.app)[1]
        raise RuntimeError("spawn-fcgi did not start %d backends" % BACKENDS)

    def start(self, prefix=(), args=None, timeout=30):
        """Start the server (run through @prefix, e.g. valgrind, with
        @args, by default in the foreground); return seconds from its
        start to the first answered request (the small URL)."""
        self.port = free_port()
        self.conf.write_text(self.config_text())
        if self.name in SPAWNED:
            self.start_spawner()
        env = dict(os.environ, LANG="C", TMPDIR=str(self.dir / "tmp"))
        self.stdout = open(self.dir / "stdout", "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.command(prefix, args),
            stdin=subprocess.DEVNULL, stdout=self.stdout,
            stderr=subprocess.STDOUT, env=env, cwd=str(self.dir),
            start_new_session=True)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s: %s exited at startup:\n%s\n%s" % (
                    self.name, self.KIND, _read(self.dir / "stdout") or "",
                    _read(self.dir / "error_log") or ""))
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port,
                                               timeout=10)
                c.request("GET", self.urls[0])
                r = c.getresponse()
                body = r.read()
                c.close()
                if r.status == 200 and body == SMALL:
                    return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError("%s: no answer within %d s" % (self.name,
                                                           timeout))

    def pids(self):
        """(server pids, backend pids), those of the session too once
        started (the server's pid is its session's id)."""
        return scan(self.conf, self.app, self.proc.pid if self.proc else None)

    def stop(self, timeout=15):
        leftovers = []
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                # with -DONE_PROCESS, httpd waits for mod_fcgid's process
                # manager, which nobody told to stop
                for pid in self.pids()[0]:
                    if pid != self.proc.pid:
                        try:
                            os.kill(pid, signal.SIGTERM)
                        except OSError:
                            pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.spawner_pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reap()
            httpd, back = self.pids()
            if not httpd and not back:
                break
            time.sleep(0.1)
        else:
            httpd, back = self.pids()
            leftovers = httpd + back
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.2)
            reap()
        if getattr(self, "stdout", None):
            self.stdout.close()
        return leftovers

    def error_log_tail(self, n=5):
        t = _read(self.dir / "error_log") or ""
        return t.strip().splitlines()[-n:]


class Nginx(Server):
    """nginx in front of the spawn-fcgi server (NGINX_CONF); nginx_keep
    keeps its connections to it."""

    KIND = "nginx"
    CONF_NAME = "nginx.conf"
    KINDS = ("master", "workers")

    def config_text(self):
        fmt = self.fmt()
        keep = self.name == "nginx_keep"
        fmt.update(
            upstream=NGINX_UPSTREAM.format(**fmt) if keep else "",
            backend="app" if keep else "unix:%s/run/app.sock" % self.dir,
            keep="            fastcgi_keep_conn on;" if keep else "",
            params=("            include %s;" % NGINX_FASTCGI_PARAMS
                    if os.path.exists(NGINX_FASTCGI_PARAMS)
                    else NGINX_PARAMS),
            extra="\n".join(EXTRA_CONF.get(self.name, ())))
        return NGINX_CONF.format(**fmt)

    def command(self, prefix, args):
        # -e: what nginx says before it has read the configuration goes to
        # the same error log
        return list(prefix) + [
            NGINX, "-p", "%s/" % self.dir, "-c", str(self.conf),
            "-e", str(self.dir / "error_log")] + list(args or ())

    @staticmethod
    def kind(child, threads):
        return "workers" if child else "master"


class Lighttpd(Server):
    """lighttpd starting the app's processes itself (LIGHTTPD_CONF)."""

    KIND = "lighttpd"
    CONF_NAME = "lighttpd.conf"
    KINDS = ("lighttpd",)

    def __init__(self, name, root, app):
        super().__init__(name, root, app)
        # lighttpd drops to USER before it opens its error log and creates
        # the backends' sockets (in run/), and removes its pid file as USER
        shutil.chown(self.dir / "run", USER, USER)
        (self.dir / "error_log").touch()
        shutil.chown(self.dir / "error_log", USER, USER)

    def config_text(self):
        fmt = self.fmt()
        fmt["extra"] = "\n".join(EXTRA_CONF.get(self.name, ()))
        return LIGHTTPD_CONF.format(**fmt)

    def command(self, prefix, args):
        return list(prefix) + [LIGHTTPD, "-D", "-f", str(self.conf)] + list(
            args or ())

    @staticmethod
    def kind(child, threads):
        # one process; a child is one forked to become a backend
        return "lighttpd"


# the configurations not served by Apache
SERVERS = {"nginx": Nginx, "nginx_keep": Nginx, "lighttpd": Lighttpd}


def make_server(name, root, app):
    return SERVERS.get(name, Server)(name, root, app)


# --------------------------------------------------------------------------
# clients

def run_wrk(url, conns, duration, lua, body=0):
    threads = max(1, min(conns, 2))
    env = dict(os.environ, BENCH_BODY=str(body))
    cmd = [WRK, "-t%d" % threads, "-c%d" % conns, "-d%ds" % max(1, round(duration)),
           "--timeout", "30s", "-s", str(lua), url]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env,
                         timeout=duration + 120)
    for line in out.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            res = json.loads(line[len("BENCHJSON "):])
            res["secs"] = res["duration_us"] / 1e6
            res["rps"] = res["requests"] / res["secs"]
            res["errors"] = sum(res[k] for k in ("connect", "read", "write",
                                                 "status", "timeout"))
            return res
    raise RuntimeError("wrk gave no summary: %s %s" % (out.stdout,
                                                       out.stderr))


def get_once(conn, port, path, timeout=60):
    """GET @path on the keep-alive connection @conn. @return the
    connection to go on with (a new one after an error) and None, or the
    status when not 200, or the error's text."""
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return conn, (None if r.status == 200 else r.status)
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        return (http.client.HTTPConnection("127.0.0.1", port,
                                           timeout=timeout), repr(e))


def queue_test(port, path, clients=16, total=160, timeout=20,
               deadline=60):
    """@total requests from @clients threads (keep-alive connections),
    each request's latency recorded, failures included. No request is
    started after @deadline seconds (a wedged server); those not sent
    count as failed."""
    per = total // clients
    lat, errors = [], []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    end = [0.0]

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        mine = []
        barrier.wait()
        for i in range(per):
            if time.monotonic() > end[0]:
                with lock:
                    errors.extend(["not sent: past the %d s deadline"
                                   % deadline] * (per - i))
                break
            t = time.monotonic()
            conn, err = get_once(conn, port, path, timeout)
            mine.append(time.monotonic() - t)
            if err is not None:
                with lock:
                    errors.append(err)
        conn.close()
        with lock:
            lat.extend(mine)

    ths = [threading.Thread(target=client) for _ in range(clients)]
    for t in ths:
        t.start()
    end[0] = time.monotonic() + deadline
    barrier.wait()
    t0 = time.monotonic()
    for t in ths:
        t.join()
    wall = time.monotonic() - t0
    lat.sort()
    return {"wall": wall, "n": len(lat), "errors": len(errors),
            "error_kinds": sorted(set(map(str, errors)))[:5],
            "p50": percentile(lat, 50), "p99": percentile(lat, 99),
            "max": lat[-1] if lat else 0.0}


def mixed_test(port, small, sleep, long_ms=500, long_clients=2,
               clients=8, secs=4.0):
    """Short requests beside long ones: @long_clients threads ask for
    @sleep?ms=@long_ms one after another (so at most that many of the 4
    backends are held by long requests), @clients threads send @small for
    @secs seconds. The short requests' latencies tell whether a short one
    ever waits behind a long one while another backend is free."""
    lat, errors = [], []
    lock = threading.Lock()
    stop = threading.Event()
    longs = [0]

    def long_client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while not stop.is_set():
            conn, err = get_once(conn, port, "%s?ms=%d" % (sleep, long_ms))
            with lock:
                longs[0] += 1
                if err:
                    errors.append("long: %s" % err)
        conn.close()

    def short_client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while not stop.is_set():
            t = time.monotonic()
            conn, err = get_once(conn, port, small)
            mine.append(time.monotonic() - t)
            if err:
                with lock:
                    errors.append("short: %s" % err)
        conn.close()
        with lock:
            lat.extend(mine)

    ths = [threading.Thread(target=long_client)
           for _ in range(long_clients)]
    for t in ths:
        t.start()
    time.sleep(0.1)  # the long requests are in before the short ones
    shorts = [threading.Thread(target=short_client) for _ in range(clients)]
    for t in shorts:
        t.start()
    time.sleep(secs)
    stop.set()
    for t in ths + shorts:
        t.join(timeout=long_ms / 1000.0 + 60)
    lat.sort()
    return {"n": len(lat), "long_n": longs[0], "errors": len(errors),
            "error_kinds": sorted(set(errors))[:5],
            "p50": percentile(lat, 50), "p99": percentile(lat, 99),
            "max": lat[-1] if lat else 0.0,
            "over_100ms": sum(1 for d in lat if d > 0.1)}


def slow_clients(port, big, small, clients=8, kib=10240, rate=MIB,
                 probes=5):
    """@clients downloads of @kib KiB (@big, the app's URL that takes
    ?kib=N) read at @rate bytes/s each
    (a small receive window: a client on a slow link), and meanwhile
    @probes small GETs on fresh connections, one after another from 1 s
    on: how long a request waits behind slow downloads. Every download is
    checked for its length."""
    size = kib * 1024
    got, lock = [], threading.Lock()
    go = threading.Event()

    def download():
        n, t0 = 0, time.monotonic()
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            s.settimeout(120)
            s.connect(("127.0.0.1", port))
            s.sendall(("GET %s?kib=%d HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                       "\r\n" % (big, kib)).encode())
            go.set()
            head = b""
            while b"\r\n\r\n" not in head:
                b = s.recv(16384)
                if not b:
                    break
                head += b
            head, _, rest = head.partition(b"\r\n\r\n")
            n = len(rest)
            while True:
                # pace: n bytes may have arrived after n / rate seconds
                ahead = n / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
                b = s.recv(65536)
                if not b:
                    break
                n += len(b)
            s.close()
            ok = b" 200 " in head.split(b"\r\n")[0] and n == size
        except OSError as e:
            ok, head = False, repr(e).encode()
        with lock:
            got.append((ok, n, time.monotonic() - t0))

    ths = [threading.Thread(target=download, daemon=True)
           for _ in range(clients)]
    for t in ths:
        t.start()
    go.wait(10)
    time.sleep(1.0)
    lat, errors = [], []
    for _ in range(probes):
        t = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("GET", small)
            r = c.getresponse()
            body = r.read()
            c.close()
            if r.status != 200 or body != SMALL:
                errors.append("small GET: %d" % r.status)
        except (OSError, http.client.HTTPException) as e:
            errors.append("small GET: %r" % e)
        lat.append(time.monotonic() - t)
        time.sleep(0.2)
    for t in ths:
        t.join(timeout=180)
    bad = [g for g in got if not g[0]]
    if bad or len(got) != clients:
        errors.append("%d of %d downloads incomplete (bytes: %s)" % (
            clients - len(got) + len(bad), clients,
            sorted(g[1] for g in bad)[:4]))
    return {"small_max": max(lat), "small_p50": sorted(lat)[len(lat) // 2],
            "downloads_s": max((g[2] for g in got), default=0.0),
            "errors": len(errors), "error_kinds": errors[:5]}


def percentile(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    k = (len(sorted_vals) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def huge_download(srv):
    """1 GiB through the app to curl (/dev/null): httpd RSS growth."""
    httpd, _ = srv.pids()
    w = HttpdRssWatch(httpd)
    w.start()
    t = time.monotonic()
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
         srv.url("/app/big?kib=%d" % (GIB // 1024))],
        capture_output=True, text=True, timeout=600)
    secs = time.monotonic() - t
    growth, one = w.stop()
    code, size = (out.stdout.split() + ["0", "0"])[:2]
    ok = code == "200" and int(size) == GIB
    return {"ok": ok, "secs": secs, "mib_s": GIB / MIB / secs,
            "rss_growth": growth, "rss_growth_one": one,
            "detail": out.stdout + out.stderr}


def huge_upload(srv):
    """1 GiB generated on the fly (Content-Length) to POST /app/count."""
    httpd, _ = srv.pids()
    w = HttpdRssWatch(httpd)
    w.start()
    t = time.monotonic()
    detail = ""
    try:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=600)
        s.sendall(("POST /app/count HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: application/octet-stream\r\n"
                   "Content-Length: %d\r\nConnection: close\r\n\r\n"
                   % GIB).encode())
        chunk = memoryview(b"y" * MIB)
        for _ in range(GIB // MIB):
            s.sendall(chunk)
        resp = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            resp += b
        s.close()
        head, _, body = resp.partition(b"\r\n\r\n")
        detail = head.split(b"\r\n")[0].decode() + " " + body.decode().strip()
        ok = b" 200 " in head.split(b"\r\n")[0] and body.strip() == str(
            GIB).encode()
    except OSError as e:
        ok, detail = False, repr(e)
    secs = time.monotonic() - t
    growth, one = w.stop()
    return {"ok": ok, "secs": secs, "mib_s": GIB / MIB / secs,
            "rss_growth": growth, "rss_growth_one": one, "detail": detail}


# --------------------------------------------------------------------------
# one configuration, every scenario

def warm_up(srv, lua, secs):
    small = srv.url(srv.urls[0])
    run_wrk(small, 16, secs, lua)
    if srv.name == "static":
        return
    # mod_fcgid spawns on demand: insist on all the backends first
    for _ in range(10):
        _, back = srv.pids()
        if len(back) >= BACKENDS:
            return
        run_wrk(srv.url("/app/sleep?ms=20"), 16, 1.0, lua)
    log("%s: only %d backends after warm-up" % (srv.name, len(srv.pids()[1])))


def check_bodies(srv):
    """One 1 MiB GET and one 1 MiB POST through the app, their bytes
    checked (wrk checks only the status): what is wrong, if anything."""
    out = []
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    try:
        c.request("GET", srv.urls[1])
        r = c.getresponse()
        body = r.read()
        if r.status != 200 or body != b"x" * MIB:
            out.append("1 MiB GET: status %d, %d bytes" % (r.status,
                                                           len(body)))
        c.request("POST", srv.urls[2], body=b"y" * MIB,
                  headers={"Content-Type": "application/octet-stream"})
        r = c.getresponse()
        body = r.read()
        if r.status != 200 or body.strip() != str(MIB).encode():
            out.append("1 MiB POST: status %d, answer %r" % (
                r.status, body[:40]))
    except (OSError, http.client.HTTPException) as e:
        out.append("1 MiB GET/POST check: %r" % e)
    finally:
        c.close()
    return out


def huge_checks(srv, res, lua, dur):
    """The 1 GiB download and upload, in an httpd of their own: right
    after warm-up (the growth is what the transfer itself needs), and
    outside the peak-memory comparison (only some configurations make
    them; what an allocator keeps afterwards would count against those
    alone)."""
    name = srv.name
    try:
        srv.start()
        warm_up(srv, lua, max(1.0, dur / 2))
        res["huge_get"] = huge_download(srv)
        log("%s: 1 GiB GET: %s, httpd RSS +%.1f MiB" % (
            name, "ok" if res["huge_get"]["ok"] else "FAILED",
            res["huge_get"]["rss_growth"] / MIB))
        res["huge_post"] = huge_upload(srv)
        log("%s: 1 GiB POST: %s, httpd RSS +%.1f MiB" % (
            name, "ok" if res["huge_post"]["ok"] else "FAILED",
            res["huge_post"]["rss_growth"] / MIB))
    finally:
        left = srv.stop()
        if left:
            res["errors"].append("leftover processes killed: %s" % left)
    os.sync()  # the spool file's pages: not during the timings
    time.sleep(1)


def bench_config(name, root, app, lua, dur, huge):
    srv = make_server(name, root, app)
    res = {"name": name, "errors": []}
    mem = None
    try:
        if name in huge:
            huge_checks(srv, res, lua, dur)
        mem = MemSampler(srv)
        mem.start()
        res["startup"] = srv.start()
        log("%s: first answer %.1f ms after %s start" % (
            name, res["startup"] * 1000, srv.KIND))
        mem.phase = "warm-up"
        warm_up(srv, lua, max(1.0, dur / 2))
        res["backends"] = len(srv.pids()[1])
        if name != "static":
            res["errors"] += check_bodies(srv)
        small, big, post, sleep = srv.urls
        for c in (1, 16, 64):
            mem.phase = "%d clients" % c
            r = run_wrk(srv.url(small), c, dur, lua)
            res["c%d" % c] = r
            log("%s: %d clients: %.0f req/s p50 %.2f ms p99 %.2f ms%s" % (
                name, c, r["rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3,
                " errors %d" % r["errors"] if r["errors"] else ""))
        mem.phase = "1 MiB GET"
        r = run_wrk(srv.url(big), 8, dur, lua)
        r["mib_s"] = r["bytes"] / MIB / r["secs"]
        res["get1m"] = r
        log("%s: 1 MiB GET x8: %.0f MiB/s" % (name, r["mib_s"]))
        mem.phase = "1 MiB POST"
        r = run_wrk(srv.url(post), 8, dur, lua, body=MIB)
        r["mib_s"] = r["requests"] * MIB / MIB / r["secs"]
        res["post1m"] = r
        log("%s: 1 MiB POST x8: %.0f MiB/s" % (name, r["mib_s"]))
        if sleep:
            mem.phase = "queue"
            q = queue_test(srv.port, sleep)
            res["queue"] = q
            log("%s: queue: wall %.3f s p50 %.1f ms p99 %.1f ms errors %d" % (
                name, q["wall"], q["p50"] * 1e3, q["p99"] * 1e3, q["errors"]))
            mem.phase = "mixed"
            mx = mixed_test(srv.port, small, sleep.split("?")[0])
            res["mixed"] = mx
            log("%s: mixed: short p50 %.2f ms p99 %.1f ms max %.1f ms, "
                "%d of %d over 100 ms; %d long%s" % (
                    name, mx["p50"] * 1e3, mx["p99"] * 1e3, mx["max"] * 1e3,
                    mx["over_100ms"], mx["n"], mx["long_n"],
                    " errors %s" % mx["error_kinds"] if mx["errors"]
                    else ""))
            mem.phase = "slow clients"
            sc = slow_clients(srv.port, big.split("?")[0], small)
            res["slow"] = sc
            log("%s: slow clients: small GET max %.1f ms, p50 %.1f ms; "
                "downloads done in %.1f s%s" % (
                    name, sc["small_max"] * 1e3, sc["small_p50"] * 1e3,
                    sc["downloads_s"], " errors %s" % sc["error_kinds"]
                    if sc["errors"] else ""))
    except Exception as e:  # report it, go on with the next configuration
        log("%s: FAILED: %s" % (name, e))
        res["failed"] = str(e)
    finally:
        if mem:
            mem.stop()
            res["mem_rss"] = mem.peak_rss
            res["mem_pss"] = mem.peak_pss
            res["mem_httpd_rss"] = mem.peak_httpd_rss
            res["mem_parts"] = dict(mem.peak_parts)
            res["mem_phases"] = list(mem.phase_peaks.items())
            res["pss_parts"] = dict(mem.pss_parts)
            res["pss_phases"] = list(mem.phase_pss.items())
        res["error_log"] = srv.error_log_tail()
        left = srv.stop()
        if left:
            log("%s: had to SIGKILL %s" % (name, left))
            res["errors"].append("leftover processes killed: %s" % left)
    return res


# --------------------------------------------------------------------------
# the report

# (key, label, getter, unit format, lower is better)
def _g(*path):
    def get(res):
        v = res
        for p in path:
            if not isinstance(v, dict) or p not in v:
                return None
            v = v[p]
        return v
    return get


METRICS = [
    ("rps1", "req/s, 1 client", _g("c1", "rps"), "%.0f"),
    ("rps16", "req/s, 16 clients", _g("c16", "rps"), "%.0f"),
    ("rps64", "req/s, 64 clients", _g("c64", "rps"), "%.0f"),
    ("p50_16", "p50 ms, 16 clients",
     lambda r: _ms(_g("c16", "p50_us")(r)), "%.2f"),
    ("p99_16", "p99 ms, 16 clients",
     lambda r: _ms(_g("c16", "p99_us")(r)), "%.2f"),
    ("get1m", "MiB/s, 1 MiB GET, 8 clients", _g("get1m", "mib_s"), "%.0f"),
    ("post1m", "MiB/s, 1 MiB POST, 8 clients", _g("post1m", "mib_s"),
     "%.0f"),
    ("qwall", "queue: wall s (ideal 2.00)", _g("queue", "wall"), "%.3f"),
    ("qp50", "queue: p50 ms", lambda r: _s2ms(_g("queue", "p50")(r)),
     "%.1f"),
    ("qp99", "queue: p99 ms", lambda r: _s2ms(_g("queue", "p99")(r)),
     "%.1f"),
    ("mxp99", "mixed: short p99 ms (2 clients at 500 ms)",
     lambda r: _s2ms(_g("mixed", "p99")(r)), "%.1f"),
    ("mxmax", "mixed: short max ms",
     lambda r: _s2ms(_g("mixed", "max")(r)), "%.1f"),
    ("mxslow", "mixed: short ones over 100 ms / long ones",
     lambda r: (None if not r.get("mixed") else
                "%d / %d" % (r["mixed"]["over_100ms"], r["mixed"]["long_n"])),
     "%s"),
    ("slow", "slow clients: small GET ms, max of 5",
     lambda r: _s2ms(_g("slow", "small_max")(r)), "%.1f"),
    ("slow_mem", "slow clients: peak RSS MiB",
     lambda r: _mib(dict(r.get("mem_phases") or []).get("slow clients")),
     "%.1f"),
    ("mem", "peak RSS MiB, httpd + backends",
     lambda r: _mib(r.get("mem_rss")), "%.1f"),
    ("pss", "peak PSS MiB, httpd + backends",
     lambda r: _mib(r.get("mem_pss")), "%.1f"),
    ("start", "ms from httpd start to 1st answer",
     lambda r: _s2ms(r.get("startup")), "%.0f"),
]


def _ms(us):
    return None if us is None else us / 1000.0


def _s2ms(s):
    return None if s is None else s * 1000.0


def _mib(b):
    return None if not b else b / MIB


def cell(val, fmt, ref_f, ref_s, show_f, show_s, ref_n=None, show_n=False):
    if val is None:
        return "—"
    out = fmt % val
    if isinstance(val, str):
        return out  # a count, not a figure to compare
    ratios = []
    if show_f:
        ratios.append("%.2f×F" % (val / ref_f) if ref_f else "—F")
    if show_s:
        ratios.append("%.2f×S" % (val / ref_s) if ref_s else "—S")
    if show_n:
        ratios.append("%.2f×N" % (val / ref_n) if ref_n else "—N")
    if ratios:
        out += " (" + ", ".join(ratios) + ")"
    return out


def errors_of(res):
    out = []
    for k in ("c1", "c16", "c64", "get1m", "post1m"):
        r = res.get(k)
        if r and r["errors"]:
            out.append("%s: %d errors (connect %d read %d write %d status "
                       "%d timeout %d) of %d" % (
                           k, r["errors"], r["connect"], r["read"],
                           r["write"], r["status"], r["timeout"],
                           r["requests"]))
    q = res.get("queue")
    if q and q["errors"]:
        out.append("queue: %d of %d failed %s" % (q["errors"], q["n"],
                                                  q["error_kinds"]))
    if q and q["n"] != 160:
        out.append("queue: %d requests timed, not 160" % q["n"])
    mx = res.get("mixed")
    if mx and mx["errors"]:
        out.append("mixed: %d failed %s" % (mx["errors"], mx["error_kinds"]))
    sc = res.get("slow")
    if sc and sc["errors"]:
        out.append("slow clients: %s" % sc["error_kinds"])
    if res.get("failed"):
        out.append("run failed: %s" % res["failed"])
    out += res.get("errors", [])
    return out


def report(results, meta):
    by = {r["name"]: r for r in results}
    names = [n for n in ALL if n in by]
    F, S, N = by.get("fcgid"), by.get("static"), by.get("nginx")
    lines = []
    lines.append("mod_tracfcgi benchmark, %s; %s" % (
        time.strftime("%Y-%m-%d %H:%M"), meta))
    lines.append("")
    lines.append("| | " + " | ".join(LABELS[n] for n in names) + " |")
    lines.append("|---|" + "---|" * len(names))
    for key, label, get, fmt in METRICS:
        ref_f = get(F) if F else None
        ref_s = get(S) if S else None
        ref_n = get(N) if N else None
        row = []
        for n in names:
            v = get(by[n])
            row.append(cell(v, fmt, ref_f, ref_s,
                            F is not None and n != "fcgid",
                            S is not None and n != "static"
                            and get(S) is not None,
                            ref_n, N is not None and n != "nginx"))
        lines.append("| %s | %s |" % (label, " | ".join(row)))
    lines.append("")
    lines.append("(x.xx×F, y.yy×S): ratio to the mod_fcgid column, to the "
                 "static column, same run. Queue: 160 requests of 50 ms from "
                 "16 clients to 4 backends, every request timed by the "
                 "client. RSS: sum over httpd's processes and the backends "
                 "(shared pages counted in each); PSS shares them out.")
    if N:
        lines.append("z.zz×N: ratio to the %s column, same run." % (
            LABELS["nginx"]))
    if set(SERVERS) & set(names):
        lines.append("For nginx and lighttpd, \"httpd\" above means their "
                     "own processes (nginx: the master and 2 workers; "
                     "lighttpd: one process, which starts the backends).")
    # the 1 GiB transfers
    for n in names:
        for k, what in (("huge_get", "1 GiB GET"), ("huge_post",
                                                    "1 GiB POST")):
            h = by[n].get(k)
            if h:
                lines.append("- %s %s: %s in %.1f s (%.0f MiB/s), httpd RSS "
                             "growth %.1f MiB summed, %.1f MiB in the "
                             "largest process" % (
                                 LABELS[n], what,
                                 "ok" if h["ok"] else "FAILED (%s)" %
                                 h["detail"], h["secs"], h["mib_s"],
                                 h["rss_growth"] / MIB,
                                 h["rss_growth_one"] / MIB))
    lines.append("")
    lines.append("Peak RSS by kind of process, MiB (at the moment of the "
                 "peak):")
    for n in names:
        p = by[n].get("mem_parts") or {}
        if p:
            lines.append("- %s: %s" % (LABELS[n], _parts(p)))
            lines.append("  highest RSS sum in each phase: %s"
                         % _phases(by[n].get("mem_phases", [])))
        p = by[n].get("pss_parts") or {}
        if p:
            lines.append("  PSS at its peak: %s" % _parts(p))
            lines.append("  highest PSS sum in each phase: %s"
                         % _phases(by[n].get("pss_phases", [])))
    # latency details and errors
    lines.append("")
    lines.append("Latency p50/p99 ms at 1 / 16 / 64 clients:")
    for n in names:
        parts = []
        for c in (1, 16, 64):
            r = by[n].get("c%d" % c)
            parts.append("%.2f/%.2f" % (r["p50_us"] / 1e3, r["p99_us"] / 1e3)
                         if r else "—")
        lines.append("- %s: %s" % (LABELS[n], " · ".join(parts)))
    errs = [(n, errors_of(by[n])) for n in names]
    if any(e for _, e in errs):
        lines.append("")
        lines.append("Errors:")
        for n, e in errs:
            for x in e:
                lines.append("- %s: %s" % (LABELS[n], x))
            if e and by[n].get("error_log"):
                lines.append("  error_log tail: %s" % " | ".join(
                    by[n]["error_log"]))
    for n in TRACFCGI:
        lines.append("")
        lines += targets(by, n)
    return "\n".join(lines)


def targets(by, name):
    """The performance issue's targets for the mod_tracfcgi column @name,
    met, missed or not measured (a column it compares with is missing)."""
    T = by.get(name)
    if not T:
        return []
    out = ["Targets (%s):" % LABELS[name]]
    g = dict((k, get) for k, _, get, _ in METRICS)

    def check(label, ok, detail):
        if ok is None:
            out.append("- [ ] %s: not measured%s" % (
                label, " (%s)" % detail if detail else ""))
        else:
            out.append("- [%s] %s: %s%s" % ("x" if ok else " ", label, detail,
                                            "" if ok else "  **MISSED**"))

    def at_least(label, key, refs, factor, fmt):
        """T's figure >= @factor x the best of the columns @refs (all of
        which must have been measured)."""
        a = g[key](T)
        ref = [(g[key](by[n]) if n in by else None, n) for n in refs]
        missing = [LABELS[n] for v, n in ref if v is None]
        if a is None or missing:
            check(label, None, "no %s figure" % " / ".join(
                missing or [LABELS[name]]))
            return
        b, best = max(ref)
        check(label, a >= factor * b, ("%.3fx (" + fmt + " vs %s's " + fmt
                                       + ")") % (a / b, a, LABELS[best], b))

    peers = ("fcgid", "proxy_fcgi")
    # 1: small requests
    at_least("1: 1 client req/s >= 1.5x the better of mod_fcgid, "
             "mod_proxy_fcgi", "rps1", peers, 1.5, "%.0f")
    at_least("1: 1 client req/s >= 0.8x nginx", "rps1", ("nginx",), 0.8,
             "%.0f")
    for c in (16, 64):
        key = "rps%d" % c
        at_least("1: %d clients req/s >= 1.3x the better of mod_fcgid, "
                 "mod_proxy_fcgi" % c, key, peers, 1.3, "%.0f")
        at_least("1: %d clients req/s >= 0.7x nginx" % c, key, ("nginx",),
                 0.7, "%.0f")
    v = g["p99_16"](T)
    check("1: p99 at 16 clients <= 3 ms", None if v is None else v <= 3.0,
          "%.2f ms" % v if v is not None else "")
    v = g["qwall"](T)
    check("1: queue wall <= 2.05 s", None if v is None else v <= 2.05,
          "%.3f s" % v if v is not None else "")
    a, b = g["qp99"](T), g["qp50"](T)
    r = a / b if a is not None and b else None
    check("1: queue p99 <= 1.1x p50", None if r is None else r <= 1.1,
          "%.1f / %.1f ms = %.2fx" % (a, b, r) if r is not None else "")
    # 3: large bodies
    at_least("3: 1 MiB GET >= 1.3x mod_fcgid MiB/s", "get1m", ("fcgid",),
             1.3, "%.0f")
    at_least("3: 1 MiB GET >= 1.3x nginx MiB/s", "get1m", ("nginx",), 1.3,
             "%.0f")
    at_least("3: 1 MiB POST >= 3x mod_fcgid MiB/s", "post1m", ("fcgid",), 3,
             "%.0f")
    at_least("3: 1 MiB POST >= 1.2x lighttpd MiB/s", "post1m",
             ("lighttpd",), 1.2, "%.0f")
    # 5: slow clients
    v = g["slow"](T)
    check("5: a small GET beside 8 slow 10 MiB downloads < 50 ms",
          None if v is None else v < 50, "%.1f ms (max of 5)" % v
          if v is not None else "")
    # 4: memory
    a = g["pss"](T)
    b = g["pss"](by["proxy_fcgi"]) if "proxy_fcgi" in by else None
    if a is None or b is None:
        check("4: peak PSS <= 1.1x mod_proxy_fcgi's", None, "no %s figure"
              % (LABELS["proxy_fcgi"] if a is not None else LABELS[name]))
    else:
        check("4: peak PSS <= 1.1x mod_proxy_fcgi's", a <= 1.1 * b,
              "%.1f vs %.1f MiB = %.2fx" % (a, b, a / b))
    for k, what in (("huge_get", "1 GiB download"),
                    ("huge_post", "1 GiB upload")):
        h = T.get(k)
        check("%s completes, httpd RSS grows < 16 MiB" % what,
              None if not h else h["ok"] and h["rss_growth"] < 16 * MIB,
              "%s, +%.1f MiB" % ("ok" if h["ok"] else "failed",
                                 h["rss_growth"] / MIB) if h else "")
    return out


# --------------------------------------------------------------------------

def build_app(root):
    appdir = root / "app"
    appdir.mkdir()
    os.chmod(appdir, 0o755)
    app = appdir / "bench_app.fcgi"
    subprocess.run(["cc", "-std=gnu99", "-O2", "-Wall", "-Wextra", "-Werror",
                    "-o", str(app), str(BENCH_DIR / "bench_app.c"), "-lfcgi"],
                   check=True)
    os.chmod(app, 0o755)
    return app


def snapshot_module(root, path):
    """Copy the module into the run's directory, so that a rebuild during
    the run (make, a sanitizer build) changes nothing; refuse a sanitizer
    build (httpd cannot load it, and its timings would mean nothing).
    @return a description of what is measured."""
    global MODULE
    path = Path(path)
    data = path.read_bytes()
    if b"__asan_" in data or b"__ubsan_" in data or b"__tsan_" in data:
        sys.exit("%s is a sanitizer build: run make clean && make" % path)
    MODULE = root / "mod_tracfcgi.so"
    MODULE.write_bytes(data)
    os.chmod(MODULE, 0o755)
    desc = "%s sha1 %s" % (path.name, hashlib.sha1(data).hexdigest()[:10])
    if path.resolve().parent == REPO:
        git = ["git", "-C", str(REPO)]
        head = subprocess.run(git + ["rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(
            git + ["status", "--porcelain", "--", "mod_tracfcgi.c", "src",
                   "include"], capture_output=True, text=True).stdout.strip()
        if head:
            desc += ", built in a tree at %s%s" % (
                head, " with uncommitted changes" if dirty else "")
    return desc


def check_tools(names, module=MODULE):
    missing, more = [], []
    apache = [n for n in names if n not in SERVERS]
    for tool in ((APACHE,) if apache else ()) + (WRK, "cc", "curl"):
        if not shutil.which(tool):
            missing.append(tool)
    for tool, package, rows in ((NGINX, "nginx-light", ("nginx",
                                                         "nginx_keep")),
                                (LIGHTTPD, "lighttpd", ("lighttpd",))):
        if set(rows) & set(names) and not os.path.exists(tool):
            missing.append("%s (%s, for %s)" % (
                tool, package, ",".join(n for n in rows if n in names)))
            more.append(package)
    if "fcgid" in names and not os.path.exists(MODDIR + "/mod_fcgid.so"):
        missing.append("mod_fcgid (libapache2-mod-fcgid)")
    if set(SPAWNED) & set(names) and not os.path.exists(SPAWN_FCGI):
        missing.append("spawn-fcgi")
    if set(WITH_MODULE) & set(names) and not Path(module).exists():
        missing.append("%s (run make)" % module)
    if missing:
        sys.exit("missing: %s\n(Debian: apt-get install -y apache2 "
                 "libapache2-mod-fcgid spawn-fcgi libfcgi-dev wrk curl gcc%s)"
                 % (", ".join(missing), "".join(" " + p for p in more)))
    if os.geteuid() != 0:
        sys.exit("run as root (httpd switches to %s)" % USER)


def median_of(runs):
    """One result from the same configuration's rounds: each number the
    median of the rounds that have it (the lower middle one when even, so
    that it is a measured value), anything else from the first round;
    errors of every round are kept."""
    first = runs[0]
    if len(runs) == 1:
        return first

    def merge(vals):
        v0 = vals[0]
        if isinstance(v0, bool) or not all(
                isinstance(v, type(v0)) for v in vals):
            return v0
        if isinstance(v0, (int, float)):
            return sorted(vals)[(len(vals) - 1) // 2]
        if isinstance(v0, dict):
            return {k: merge([v[k] for v in vals if k in v])
                    for k in v0}
        return v0

    out = merge(runs)
    for k in ("huge_get", "huge_post"):
        if k in first:
            out[k] = first[k]
    out["errors"] = [e for r in runs for e in r.get("errors", [])]
    out["rounds"] = len(runs)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 s per measurement instead of 10 (development)")
    ap.add_argument("--duration", type=float, help="seconds per wrk run")
    ap.add_argument("--only", default=",".join(CONFIGS),
                    help="comma-separated subset of " + ",".join(ALL))
    ap.add_argument("--huge", default="tracfcgi",
                    help="configurations that get the 1 GiB GET/POST test "
                    "(comma-separated, or 'none')")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run every configuration N times, interleaved "
                    "(A B C, A B C, ...), and report each figure's median "
                    "(the 1 GiB checks run in the first round only)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--conf", action="append", default=[],
                    metavar="NAME:TEXT", help="append a line to one "
                    "configuration's httpd.conf (e.g. 'tracfcgi:MaxMemFree "
                    "256'); repeatable")
    ap.add_argument("--module", default=str(MODULE),
                    help="the mod_tracfcgi.so to measure (default: the "
                    "repository's)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (configs, logs)")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    for n in names:
        if n not in ALL:
            ap.error("unknown configuration %r" % n)
    huge = set(args.huge.split(",")) if args.huge != "none" else set()
    for c in args.conf:
        name, sep, text = c.partition(":")
        if not sep or name not in ALL:
            ap.error("--conf wants NAME:TEXT with NAME one of %s"
                     % ",".join(ALL))
        EXTRA_CONF.setdefault(name, []).append(text)
    dur = max(1, round(args.duration or (2 if args.quick else 10)))
    check_tools(names, args.module)
    load0 = (_read("/proc/loadavg") or "?").split()[0]
    set_subreaper()
    # kill/timeout send SIGTERM: unwind through the finally blocks, which
    # stop the httpd being measured and its backends
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="tracfcgi-bench-"))
    os.chmod(root, 0o755)
    rounds = []
    what = "module not used"
    try:
        if set(WITH_MODULE) & set(names):
            what = snapshot_module(root, args.module)
        app = build_app(root)
        lua = root / "wrk.lua"
        lua.write_text(WRK_LUA)
        for k in range(max(1, args.repeat)):
            got = []
            for n in names:
                log("--- %s%s" % (LABELS[n], " (round %d of %d)" % (
                    k + 1, args.repeat) if args.repeat > 1 else ""))
                got.append(bench_config(n, root, app, lua, dur,
                                        huge if k == 0 else set()))
            rounds.append(got)
    finally:
        reap()
        if args.keep:
            log("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    results = [median_of([r[i] for r in rounds]) for i in range(len(names))]
    meta = ("%d s per wrk run, %d CPUs, 1-min load average %s before the "
            "run, wrk %s; %s" % (dur, os.cpu_count(), load0,
                                 "-t2 (-t1 for 1 client)", what))
    if len(rounds) > 1:
        meta += "; every figure the median of %d interleaved rounds" % (
            len(rounds))
    for name, lines in EXTRA_CONF.items():
        meta += "; %s config + %s" % (name, " / ".join(lines))
    text = report(results, meta)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"meta": meta, "results": results, "rounds": rounds}, indent=1,
            default=str))


if __name__ == "__main__":
    main()
