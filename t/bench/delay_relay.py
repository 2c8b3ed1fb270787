#!/usr/bin/python3
"""A TCP relay that delays what it passes on: a network with a round trip
of RTT milliseconds, for a database host that is a namespace of this
machine (a veth pair answers in microseconds; a LAN in a few hundred).

    delay_relay.py LISTEN_ADDR:PORT TARGET_ADDR:PORT RTT_MS

Each piece read from one side is written to the other RTT/2 ms after it
was read, in order; the connection's pieces keep flowing meanwhile (a
delay, not a throttle). Two threads a direction (a reader and a writer
that sleeps until each piece is due: time.sleep() has a finer grain
than an event loop's epoll timeout). Runs until killed. Used by
t/bench/trac_shaped.py --db-rtt, inside the database host's namespace.
"""

import queue
import socket
import sys
import threading
import time


def direction(src, dst, delay, done):
    q = queue.Queue()

    def read():
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            q.put((time.monotonic() + delay, data))
            if not data:
                return

    def write():
        while True:
            due, data = q.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not data:
                break
            try:
                dst.sendall(data)
            except OSError:
                break
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        done()

    for f in (read, write):
        threading.Thread(target=f, daemon=True).start()


def closer(*socks):
    """A function that closes @socks on its second call (both directions
    of a connection are done)."""
    lock = threading.Lock()
    calls = []

    def done():
        with lock:
            calls.append(1)
            if len(calls) == 2:
                for s in socks:
                    s.close()
    return done


def main(listen, target, rtt_ms):
    delay = rtt_ms / 2000.0
    host, port = listen.rsplit(":", 1)
    thost, tport = target.rsplit(":", 1)
    srv = socket.create_server((host, int(port)), backlog=128)
    while True:
        client, _ = srv.accept()
        try:
            server = socket.create_connection((thost, int(tport)))
        except OSError:
            client.close()
            continue
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        done = closer(client, server)
        direction(client, server, delay, done)
        direction(server, client, delay, done)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
