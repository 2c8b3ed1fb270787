"""t/bench/delay_relay.py, the relay that gives `make bench-trac --db-rtt`
its network round trip: what goes through arrives whole and in order, each
way, and a round trip through it takes at least the round trip asked for
(and not many times more)."""

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpd as H

RELAY = Path(__file__).resolve().parent / "bench" / "delay_relay.py"


def echo_server():
    srv = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(c,), daemon=True).start()

    def echo(c):
        with c:
            while True:
                data = c.recv(65536)
                if not data:
                    return
                c.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return srv


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def recv_exactly(s, n):
    out = bytearray()
    while len(out) < n:
        data = s.recv(n - len(out))
        assert data, "the relay closed after %d of %d bytes" % (len(out), n)
        out += data
    return bytes(out)


def test_relay_delays_and_keeps_the_bytes():
    srv = echo_server()
    port = H.free_port()
    relay = subprocess.Popen(
        ["/usr/bin/python3", str(RELAY), "127.0.0.1:%d" % port,
         "127.0.0.1:%d" % srv.getsockname()[1], "20"],
        start_new_session=True)
    try:
        H.wait_until(lambda: relay.poll() is None and listening(port), 10,
                     what="the relay")
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            times = []
            for i in range(5):
                t = time.monotonic()
                s.sendall(b"ping %d" % i)
                assert recv_exactly(s, 6) == b"ping %d" % i
                times.append((time.monotonic() - t) * 1e3)
            # 20 ms asked: 10 each way
            assert min(times) >= 19.5, times
            assert sorted(times)[2] < 100, times
            # a large piece, both ways, whole and in order
            big = os.urandom(3 << 20)
            sender = threading.Thread(target=s.sendall, args=(big,))
            sender.start()
            got = recv_exactly(s, len(big))
            sender.join()
            assert got == big
            s.shutdown(socket.SHUT_WR)
            # the end of the connection goes through too
            assert s.recv(1) == b""
    finally:
        os.killpg(relay.pid, signal.SIGKILL)
        relay.wait()
        srv.close()
