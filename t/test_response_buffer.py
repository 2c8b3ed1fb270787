"""TracFcgiResponseBuffer: a slow client never holds a backend. The answer
is read from the backend into memory and then an unlinked temporary file,
up to BYTES, while the client is fed at its own speed; the backend serves
the next request as soon as it has written its answer. The first 64 KiB
of an answer still go out as they come (a progress page streams); an
application that streams more sends nginx's `X-Accel-Buffering: no`, or
the directive is 0 where it runs. Past BYTES the rest is streamed."""

import os
import socket
import time

import pytest

import httpd as H
import test_conf_samples as C

MiB = 1024 * 1024
POOL = """\
ScriptAlias /trac @APPS@/responder.fcgi/
TracFcgiMinProcesses 2
TracFcgiMaxProcesses 2
TracFcgiConnsPerProcess 1
TracFcgiQueueTimeout 3
"""


def slow_get(h, path):
    """A client that asks for @path and then reads nothing: a receive
    window of a few KiB, as a client on a slow link has."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(120)
    s.connect(("127.0.0.1", h.port))
    s.sendall(("GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())
    return s


def read_to_end(s, on_data=None):
    data = b""
    while True:
        b = s.recv(262144)
        if not b:
            break
        data += b
        if on_data:
            on_data(data)
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = dict(x.split(": ", 1) for x in lines[1:] if ": " in x)
    return int(lines[0].split()[1]), hdrs, body


def held_in_file(h, path, at_least):
    """A client that asks for @path over HTTP/1.1 and reads nothing yet,
    once the answer's temporary file holds @at_least bytes: (the socket,
    the file's /proc path)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(60)
    s.connect(("127.0.0.1", h.port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
               % path).encode())
    held = []

    def file_held():
        held[:] = [f for f in h.temp_fds("tracfcgi-answer.")
                   if os.stat(f).st_size >= at_least]
        return held
    H.wait_until(file_held, 20, what="the answer held in its file")
    return s, held[0]


def assert_cut_short(s, whole):
    """What the client of held_in_file() gets after the loss: the start
    of an answer of @whole bytes, and a connection closed without the
    final chunk."""
    status, hdrs, rest = read_to_end(s)
    assert status == 200
    assert hdrs.get("Transfer-Encoding") == "chunked", hdrs
    body, ended = H.dechunk(rest)
    assert not ended, "a cut answer was ended as if whole"
    assert body.startswith(b"line 0p") and len(body) < whole, len(body)


def answer_files(h):
    """Temporary answer files open in httpd's processes (all unlinked)."""
    return [t for t, _ in h.temp_files("tracfcgi-answer.")]


def two_slow_downloads(h, kib):
    """Both backends asked for @kib KiB by clients that read nothing."""
    socks = [slow_get(h, "/trac/?big=%d" % kib) for _ in range(2)]
    time.sleep(1.0)  # the backends write what they can meanwhile
    return socks


@pytest.mark.both_mpms
def test_slow_clients_do_not_hold_backends(httpd):
    h = httpd(POOL + "TracFcgiResponseBuffer 32M\n")
    assert h.get("/trac/?pid").status == 200
    socks = two_slow_downloads(h, 10 * 1024)
    try:
        # both backends have written their 10 MiB: another request is
        # served at once, by one of them
        t0 = time.monotonic()
        r = h.get("/trac/?pid", timeout=10)
        took = time.monotonic() - t0
        assert r.status == 200, r.body[:200]
        assert took < 1.0, "a small GET took %.2f s behind slow clients" % took
        # the answers wait in unlinked temporary files, not in memory
        held = answer_files(h)
        assert len(held) == 2, held
        assert all(t.endswith(" (deleted)") for t in held), held
        assert not [p for p in os.listdir(h.tmp / "tmp")
                    if p.startswith("tracfcgi-answer.")]
    finally:
        got = [read_to_end(s) for s in socks]
    for status, _, body in got:
        assert status == 200
        assert body == H.pattern_bytes(0, 10 * MiB)
    H.wait_until(lambda: not answer_files(h), 10, what="files closed")


def test_a_held_answer_lost_from_its_file_is_cut_short(httpd):
    """The temporary file of a held answer loses what it holds (here it
    is truncated through /proc, as a failing disk would lose it): the
    client gets the answer's start and a connection that ends without
    the final chunk, never a chunked answer that looks whole; TF01003
    says why, and the backend serves the next request."""
    h = httpd(POOL + "TracFcgiResponseBuffer 32M\nSendBufferSize 16384\n")
    # 40 lines of 64 KiB at once (held: memory, then the file), then 20
    # short lines, one every 200 ms (no more goes to the file)
    s, held = held_in_file(
        h, "/trac/?stream=60&interval=200&pad=65536&burst=40", 2 * MiB)
    mark = h.log_mark()
    os.truncate(held, 0)
    assert_cut_short(s, 40 * 65536)
    h.wait_log(r"\[tracfcgi:error\].*TF01003: cannot read the answer back",
               since=mark)
    assert h.get("/trac/?pid", timeout=20).status == 200


@pytest.mark.parametrize("sendfile", ["Off", "On"])
def test_a_held_answer_lost_after_the_backend_ended_is_cut_short(httpd,
                                                                 sendfile):
    """The same loss once the backend has ended and the handler has
    handed what is held to httpd, which sends it from the file as the
    client reads (mapped into memory, or with sendfile()): httpd's core
    fails to write it and ends the connection. The client gets the
    answer's start and no final chunk, never an answer that looks whole;
    the httpd child goes on, and so does the pool."""
    h = httpd(POOL + "TracFcgiResponseBuffer 32M\nSendBufferSize 16384\n"
              "EnableSendfile %s\n" % sendfile)
    mark = h.log_mark()
    # 100 lines of 64 KiB at once (more than one 4 MiB mapping), and the
    # end of the answer
    s, held = held_in_file(h, "/trac/?stream=100&pad=65536&burst=100",
                           6 * MiB)
    # the backend has ended: the pool's two processes serve two requests
    # of a second each at once
    t0 = time.monotonic()
    bg = [H.Bg(h.get, "/trac/?sleep=1000&pid", timeout=10)
          for _ in range(2)]
    for b in bg:
        b.start()
    assert [b.get(10).status for b in bg] == [200, 200]
    assert time.monotonic() - t0 < 1.9, "a backend was still held"
    os.truncate(held, 0)
    assert_cut_short(s, 100 * 65536)
    assert h.get("/trac/?pid", timeout=20).status == 200
    time.sleep(1.2)  # httpd's parent notes a dead child within a second
    assert not h.log_lines(r"exit signal|AH00052", since=mark), \
        "an httpd child died"


def test_up_to_64kib_are_held_in_memory(httpd):
    """What a slow client leaves, up to 64 KiB, is held in memory: no
    temporary file; more goes to the file. No backend held either way.
    (SendBufferSize: a socket buffer as a remote client's, not loopback's
    megabytes, which would take the whole answer.)"""
    h = httpd(POOL + "SendBufferSize 16384\n")  # the default, 16M
    for kib, in_file in ((100, False), (300, True)):
        socks = two_slow_downloads(h, kib)
        try:
            t0 = time.monotonic()
            r = h.get("/trac/?pid", timeout=10)
            assert r.status == 200 and time.monotonic() - t0 < 1.0
            assert bool(answer_files(h)) == in_file, kib
        finally:
            got = [read_to_end(s) for s in socks]
        for status, _, body in got:
            assert status == 200 and body == H.pattern_bytes(0, kib * 1024)


def test_without_the_buffer_slow_clients_hold_backends(httpd):
    """What the directive saves: with 0 the two slow downloads keep both
    backends, and the next request waits for TracFcgiQueueTimeout."""
    h = httpd(POOL + "TracFcgiResponseBuffer 0\n")
    assert h.get("/trac/?pid").status == 200
    socks = two_slow_downloads(h, 10 * 1024)
    try:
        r = h.get("/trac/?pid", timeout=20)
        assert r.status == 503
        assert not answer_files(h)
    finally:
        got = [read_to_end(s) for s in socks]
    for status, _, body in got:
        assert status == 200 and body == H.pattern_bytes(0, 10 * MiB)


def test_a_small_buffer_is_a_limit(httpd):
    """A buffer of 256K (what is held in memory) bounds what is held:
    600 KiB answers to slow clients stream past it and hold
    their backends; 200 KiB ones do not (SendBufferSize: as in the test
    above)."""
    h = httpd(POOL + "SendBufferSize 16384\nTracFcgiResponseBuffer 256K\n")
    for kib, held in ((200, True), (600, False)):
        socks = two_slow_downloads(h, kib)
        try:
            r = h.get("/trac/?pid", timeout=20)
            assert r.status == (200 if held else 503), kib
        finally:
            got = [read_to_end(s) for s in socks]
        for status, _, body in got:
            assert status == 200 and body == H.pattern_bytes(0, kib * 1024)


def test_a_paused_start_does_not_wait_for_slow_clients(httpd):
    """The first 64 KiB go out as the backend sends them, in pieces with
    pauses between (a progress page): not flushed, so a client that reads
    nothing through a small socket buffer holds neither backend."""
    h = httpd(POOL + "SendBufferSize 16384\n")
    socks = [slow_get(h, "/trac/?stream=6&pad=10000&interval=100")
             for _ in range(2)]
    try:
        time.sleep(1.5)  # both answers are complete by now
        t0 = time.monotonic()
        r = h.get("/trac/?pid", timeout=20)
        assert r.status == 200, r.status
        assert time.monotonic() - t0 < 1.0
    finally:
        got = [read_to_end(s) for s in socks]
    for status, _, body in got:
        assert status == 200 and body.count(b"line ") == 6, body[:100]


def test_longer_answers_stream_past_the_buffer(httpd):
    """An answer longer than the buffer: what is held goes first, the rest
    is streamed (the backend then waits for the client, as with 0)."""
    h = httpd(POOL + "TracFcgiResponseBuffer 1M\nLogLevel tracfcgi:debug\n")
    mark = h.log_mark()
    socks = two_slow_downloads(h, 8 * 1024)
    try:
        r = h.get("/trac/?pid", timeout=20)
        assert r.status == 503
    finally:
        got = [read_to_end(s) for s in socks]
    for status, hdrs, body in got:
        assert status == 200
        assert "Content-Length" not in hdrs
        assert body == H.pattern_bytes(0, 8 * MiB)
    lines = h.log_lines(r"TF00450: the answer is longer than "
                        r"TracFcgiResponseBuffer 1048576; streamed from "
                        r"byte \d+", since=mark)
    assert len(lines) == 2, h.log_since(mark)
    # and a plain client gets every size whole, held or not
    for kib in (1, 63, 64, 65, 1023, 1024, 1025, 1300, 3000):
        r = h.get("/trac/?big=%d&cl" % kib)
        assert r.status == 200 and r.body == H.pattern_bytes(0, kib * 1024)


def stream_times(h, path):
    """Seconds from the request to the arrival of each 'line N'."""
    s = socket.create_connection(("127.0.0.1", h.port), timeout=30)
    s.sendall(("GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())
    t0, seen = time.monotonic(), {}

    def note(data):
        for i in range(10):
            if i not in seen and b"line %d" % i in data:
                seen[i] = time.monotonic() - t0

    status, _, body = read_to_end(s, note)
    assert status == 200
    return seen, body


def test_a_progress_page_streams(httpd):
    """6 lines of 20 KB, 300 ms apart, to a client that reads as they come:
    every line arrives as written, past the first 64 KiB too: what the
    client takes at once is not held (the buffer keeps only what a client
    leaves unread). The same with X-Accel-Buffering: no, or the directive
    at 0."""
    h = httpd(POOL + """\
<Location /trac/streamed>
    TracFcgiResponseBuffer 0
</Location>
""")
    q = "?stream=6&interval=300&pad=20000"
    for path in ("/trac/" + q, "/trac/" + q + "&nobuffer",
                 "/trac/streamed" + q):
        seen, body = stream_times(h, path)
        assert body.count(b"\n") == 6 and len(body) == 6 * 20007
        assert seen[2] < 0.9, (path, seen)
        # the last line is written at 1.5 s: line 4 (at 1.2 s) came before
        assert seen[4] < 1.35 and seen[4] < seen[5] - 0.15, (path, seen)


def test_a_client_that_keeps_up_leaves_nothing_held(httpd):
    """A 2.5 MiB answer written over a second (40 pieces of 64 KiB, 25 ms
    apart) to a client that reads at once: it goes out as the backend
    writes it, so no temporary file is made (the module used to hold
    everything past 64 KiB until the backend was done, in memory, then in
    a file) and the pieces arrive as they are written."""
    h = httpd(POOL)
    files, t0 = [], time.monotonic()
    seen = {}

    def look(data):
        n = data.count(b"\n")
        seen.setdefault(n, time.monotonic() - t0)
        files.extend(answer_files(h))

    s = socket.create_connection(("127.0.0.1", h.port), timeout=60)
    s.sendall(b"GET /trac/?stream=40&pad=65536&interval=25 HTTP/1.0\r\n"
              b"Host: x\r\n\r\n")
    status, _, body = read_to_end(s, look)
    assert status == 200 and body.count(b"line ") == 40
    assert files == []
    # the 20th piece (1.25 MiB) came well before the last one was written
    first20 = min(t for n, t in seen.items() if n >= 20)
    assert first20 < max(seen.values()) - 0.2, seen


def test_a_client_that_catches_up_gets_the_rest_as_it_comes(httpd):
    """A client that reads nothing for 0.8 s while the backend writes
    (60 pieces of 64 KiB, 25 ms apart) leaves more than the 64 KiB held
    in memory: the rest goes to the temporary file. Once it reads, what is
    held goes out from memory and from the file while the backend still
    writes, and the pieces written after that arrive as they are
    written, not all at the end; every byte in order."""
    h = httpd(POOL + "SendBufferSize 131072\n")
    s = socket.create_connection(("127.0.0.1", h.port), timeout=30)
    s.sendall(b"GET /trac/?stream=60&pad=65536&interval=25 HTTP/1.0\r\n"
              b"Host: x\r\n\r\n")
    t0 = time.monotonic()
    time.sleep(0.8)
    held = answer_files(h)
    data, lines, seen = bytearray(), 0, {}
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
        lines += chunk.count(b"\n")
        seen.setdefault(lines, time.monotonic() - t0)
    s.close()
    assert held, "nothing was held in a file after 0.8 s"
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == b"".join(b"line %d" % i + b"p" * 65536 + b"\n"
                            for i in range(60))
    # the client is level with the backend well before its last piece
    level = min(t for n, t in seen.items() if n >= 50)
    assert level < seen[max(seen)] - 0.1, sorted(seen.items())


def test_configtest_errors():
    for bad in ("lots", "-1", "16T", "1.5M", "99999999999999999999"):
        r = C.configtest("ScriptAlias /trac @APPS@/responder.fcgi/\n"
                         "TracFcgiResponseBuffer '%s'\n" % bad)
        assert r.returncode != 0, bad
        assert ("TracFcgiResponseBuffer: expected a number of bytes (with "
                "K, M or G after it for KiB, MiB, GiB), not '%s'" % bad
                in r.stdout), r.stdout
    for good in ("0", "65536", "512K", "16M", "1G"):
        r = C.configtest("TracFcgiResponseBuffer %s\n" % good)
        assert r.returncode == 0, (good, r.stdout)
