"""Requests over HTTP/2 (mod_http2, h2c with prior knowledge: curl
--http2-prior-knowledge). A stream's output does not end in httpd's core
output filter but in mod_http2's, so TracFcgiResponseBuffer holds an
answer as it comes there (src/response.c): these check that answers,
bodies and a progress page arrive whole and in time, and that a slow
HTTP/2 client does not hold the backend."""

import shutil
import socket
import subprocess
import time

import pytest

import httpd as H

try:
    import h2.config
    import h2.connection
    import h2.events
except ImportError:  # python3-h2: the windowed client only
    h2 = None

MiB = 1024 * 1024
CURL = shutil.which("curl")
H2 = (("http2_module", "mod_http2.so"),)
CONF = """\
Protocols h2c http/1.1
ScriptAlias /trac @APPS@/responder.fcgi/
TracFcgiMinProcesses 1
TracFcgiMaxProcesses 1
TracFcgiConnsPerProcess 1
TracFcgiQueueTimeout 5
"""


def why_not():
    if not CURL:
        return "curl is not installed"
    r = subprocess.run([CURL, "--version"], capture_output=True, text=True)
    if "HTTP2" not in r.stdout:
        return "this curl has no HTTP/2"
    return None


pytestmark = pytest.mark.skipif(why_not() is not None,
                                reason=why_not() or "")


def curl_h2(h, path, *args, timeout=60):
    """curl over h2c: (HTTP version, status, body)."""
    r = subprocess.run(
        [CURL, "-s", "--http2-prior-knowledge", "-o", "-", "-w",
         "\n%{http_version} %{http_code}", "--max-time", str(timeout)]
        + list(args) + ["http://127.0.0.1:%d%s" % (h.port, path)],
        capture_output=True, timeout=timeout + 10)
    body, _, tail = r.stdout.rpartition(b"\n")
    version, code = tail.decode().split()
    return version, int(code), body


def test_answers_and_bodies_whole_over_http2(httpd):
    h = httpd(CONF, extra_modules=H2)
    version, code, body = curl_h2(h, "/trac/?pid")
    assert (version, code) == ("2", 200) and body.startswith(b"pid:"), body
    # 10 MiB: past the 64 KiB held in memory, through the temporary file
    version, code, body = curl_h2(h, "/trac/?big=10240")
    assert (version, code) == ("2", 200)
    assert body == H.pattern_bytes(0, 10 * MiB)
    # a 3 MiB request body, and back
    data = H.pattern_bytes(7, 3 * MiB)
    path = h.tmp / "post.bin"
    path.write_bytes(data)
    version, code, body = curl_h2(h, "/trac/?echo=raw", "--data-binary",
                             "@%s" % path, "-H",
                             "Content-Type: application/octet-stream")
    assert (version, code) == ("2", 200)
    assert body == data


def test_a_progress_page_streams_over_http2(httpd):
    """Five lines, 300 ms apart: the first arrives long before the last
    is written (the first 64 KiB of an answer go out as they come)."""
    h = httpd(CONF, extra_modules=H2)
    p = subprocess.Popen(
        [CURL, "-s", "-N", "--http2-prior-knowledge",
         "http://127.0.0.1:%d/trac/?stream=5&interval=300" % h.port],
        stdout=subprocess.PIPE)
    try:
        t0 = time.monotonic()
        first = p.stdout.readline()
        took = time.monotonic() - t0
        rest = p.stdout.read()
    finally:
        p.wait(30)
    assert first == b"line 0\n"
    assert took < 1.0, "the first line took %.2f s" % took
    assert rest == b"".join(b"line %d\n" % i for i in range(1, 5))


class WindowedGet:
    """A GET over h2c (python3-h2) whose client opens no flow-control
    window past HTTP/2's first 64 KiB until told to: a slow client as
    HTTP/2 makes one (the server may not send more than the window)."""

    def __init__(self, h, path):
        self.sock = socket.create_connection(("127.0.0.1", h.port),
                                             timeout=30)
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.conn.send_headers(1, [(":method", "GET"), (":scheme", "http"),
                                   (":authority", "127.0.0.1:%d" % h.port),
                                   (":path", path)], end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        self.status = None
        self.body = bytearray()
        self.ended = False
        self.unacked = 0

    def _read(self, ack):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                self.status = int(dict(ev.headers)[b":status"])
            elif isinstance(ev, h2.events.DataReceived):
                self.body += ev.data
                self.unacked += ev.flow_controlled_length
            elif isinstance(ev, (h2.events.StreamEnded,
                                 h2.events.StreamReset)):
                self.ended = True
        if ack and self.unacked:
            self.conn.acknowledge_received_data(self.unacked, 1)
            self.unacked = 0
        self.sock.sendall(self.conn.data_to_send())

    def read_window(self, at_least):
        """Read, opening no window, until @at_least bytes of body came."""
        while len(self.body) < at_least and not self.ended:
            self._read(ack=False)

    def read_rest(self):
        """Open the windows wide and read to the end of the stream."""
        self.conn.increment_flow_control_window(1 << 30)
        self.conn.increment_flow_control_window(1 << 30, stream_id=1)
        self.sock.sendall(self.conn.data_to_send())
        while not self.ended:
            self._read(ack=True)
        self.sock.close()
        return self.status, bytes(self.body)


@pytest.mark.skipif(h2 is None, reason="python3-h2 is not installed")
@pytest.mark.parametrize("buffer", ["32M", "0"])
def test_a_slow_http2_client_and_the_backend(httpd, buffer):
    """The pool's one process answers 2 MiB to an HTTP/2 client that
    opens no flow-control window past the first 64 KiB for two seconds.
    With TracFcgiResponseBuffer the process is free meanwhile: an
    HTTP/1.1 request is answered at once. With 0 it is held, and the
    request waits TracFcgiQueueTimeout for a 503. The download arrives
    whole either way."""
    h = httpd(CONF.replace("TracFcgiQueueTimeout 5", "TracFcgiQueueTimeout 2")
              + "TracFcgiResponseBuffer %s\n" % buffer, extra_modules=H2)
    assert h.get("/trac/?pid").status == 200
    g = WindowedGet(h, "/trac/?big=2048")
    try:
        g.read_window(60 * 1024)
        time.sleep(0.5)  # the backend writes what it can meanwhile
        t0 = time.monotonic()
        r = h.get("/trac/?pid", timeout=10)
        took = time.monotonic() - t0
    finally:
        status, body = g.read_rest()
    if buffer == "0":
        assert r.status == 503 and took >= 1.9, (r.status, took)
    else:
        assert r.status == 200, r.status
        assert took < 1.0, "a small GET waited %.2f s" % took
    assert status == 200
    assert body == H.pattern_bytes(0, 2 * MiB)
