"""Other hosts for the tests, made of network namespaces (`ip netns`).

    with Hosts(2) as hosts:          # or the `hosts` fixture
        a = hosts[0]                 # a.ns, a.addr ("198.18.1.2"), a.prefix
        servers.threaded("tcp", host=a.addr, prefix=a.prefix)
        a.link_down(); a.link_up()

Each host is a namespace joined to this one (the web host, where httpd
runs) by a veth pair of its own: 198.18.N.1 here, 198.18.N.2 there, from
the range RFC 2544 sets aside for benchmarking, so that nothing of the
machine's is ever addressed. With `lan=True` the hosts share one network
instead, a bridge here (198.18.100.1) with every host on it
(198.18.100.N+1), so that they reach each other too (web nodes and a
database host). Names carry a random suffix; everything made
is removed at the end even when a step failed. `why_not()` says why hosts
cannot be made here (not root, no permission), for a skip.
"""

import os
import secrets
import subprocess

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "/sbin/ip"
NET = "198.18"


def _ip(*args, check=True):
    return subprocess.run([IP] + list(args), capture_output=True, text=True,
                          check=check)


def why_not():
    """None when namespaces can be made here, else the reason."""
    if not os.path.exists(IP):
        return "iproute2's ip is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs the tests as root)"
    name = "tfprobe" + secrets.token_hex(3)
    r = _ip("netns", "add", name, check=False)
    if r.returncode != 0:
        return "cannot make a network namespace: %s" % r.stderr.strip()
    _ip("netns", "del", name, check=False)
    return None


class Host:
    def __init__(self, n, tag, bridge=None):
        self.n = n
        self.ns = "tf%s-%d" % (tag, n)
        self.here = "tf%s%dh" % (tag, n)     # veth end in this namespace
        self.there = "tf%s%dt" % (tag, n)    # veth end in the host's
        self.bridge = bridge
        if bridge:
            self.addr = "%s.100.%d" % (NET, n + 1)
            self.gateway = "%s.100.1" % NET
        else:
            self.addr = "%s.%d.2" % (NET, n)     # the host's address
            self.gateway = "%s.%d.1" % (NET, n)  # ours, seen from it
        self.prefix = (IP, "netns", "exec", self.ns)

    def make(self):
        _ip("netns", "add", self.ns)
        _ip("link", "add", self.here, "type", "veth", "peer", "name",
            self.there)
        _ip("link", "set", self.there, "netns", self.ns)
        if self.bridge:
            _ip("link", "set", self.here, "master", self.bridge)
        else:
            _ip("addr", "add", self.gateway + "/24", "dev", self.here)
        _ip("link", "set", self.here, "up")
        _ip("-n", self.ns, "addr", "add", self.addr + "/24", "dev",
            self.there)
        _ip("-n", self.ns, "link", "set", self.there, "up")
        _ip("-n", self.ns, "link", "set", "lo", "up")

    def link_down(self):
        """The host's own end goes down: it drops off the network."""
        _ip("-n", self.ns, "link", "set", self.there, "down")

    def link_up(self):
        _ip("-n", self.ns, "link", "set", self.there, "up")

    def remove(self):
        # the pair goes with either end; the namespace with its processes'
        # last reference (the caller killed them)
        _ip("link", "del", self.here, check=False)
        _ip("netns", "del", self.ns, check=False)


class Hosts:
    def __init__(self, count, lan=False):
        tag = secrets.token_hex(2)
        self.bridge = "tf%sbr" % tag if lan else None
        self.hosts = [Host(n + 1, tag, self.bridge) for n in range(count)]

    def __enter__(self):
        try:
            if self.bridge:
                _ip("link", "add", self.bridge, "type", "bridge")
                _ip("addr", "add", "%s.100.1/24" % NET, "dev", self.bridge)
                _ip("link", "set", self.bridge, "up")
            for h in self.hosts:
                h.make()
        except BaseException:
            self.remove()
            raise
        return self.hosts

    def __exit__(self, *exc):
        self.remove()

    def remove(self):
        for h in self.hosts:
            h.remove()
        if self.bridge:
            _ip("link", "del", self.bridge, check=False)

    def left(self):
        """What is still there of ours (for a test of the clean-up)."""
        names = _ip("netns", "list", check=False).stdout
        links = _ip("-o", "link", "show", check=False).stdout
        return [h.ns for h in self.hosts if h.ns in names] + \
            [h.here for h in self.hosts if h.here in links] + \
            [b for b in (self.bridge,) if b and b in links]
