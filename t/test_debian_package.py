"""The Debian package: `make deb` builds libapache2-mod-tracfcgi from
debian/ with dpkg-buildpackage (its own build runs the C unit tests), and
what it ships works.

- The .deb unpacked with `dpkg -x` into a temporary root holds the module
  in Apache's module directory, tracfcgi.load and tracfcgi.conf in
  mods-available, the copyright file, and depends on Apache's module ABI
  (apache2-api-20120211) and SQLite; an httpd of the test loads the
  unpacked module with the unpacked .conf and serves a FastCGI app.
- lintian finds no error (nor warning) in it.
- Installed for real with dpkg (root only, and only when no
  mod_tracfcgi is installed on the machine by package or by hand: the
  test removes what it installs): the module is enabled as Debian's
  module packages are, `a2enmod tracfcgi` and `apache2ctl configtest`
  succeed, and `dpkg -r` then `dpkg -P` leave none of its files, links
  or state behind. A policy-rc.d that refuses every service action is in
  place meanwhile (unless the machine has its own), so that the package's
  scripts never start or reload the system's Apache.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import httpd as H

PACKAGE = "libapache2-mod-tracfcgi"
MODULE = "usr/lib/apache2/modules/mod_tracfcgi.so"
LOAD = "etc/apache2/mods-available/tracfcgi.load"
CONF = "etc/apache2/mods-available/tracfcgi.conf"
DOC = "usr/share/doc/" + PACKAGE
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")

pytestmark = pytest.mark.skipif(
    shutil.which("dpkg-buildpackage") is None or
    not Path("/usr/bin/dh_apache2").exists(),
    reason="needs dpkg-dev, debhelper and apache2-dev (dh_apache2)")


def run(cmd, **kw):
    """Runs cmd; its output is in the assertion message when it fails."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, **kw)
    assert p.returncode == 0, "%s exited %d:\n%s" % (
        " ".join(map(str, cmd)), p.returncode, p.stdout[-20000:])
    return p.stdout


@pytest.fixture(scope="module")
def deb():
    out = Path(tempfile.mkdtemp(prefix="tracfcgi-deb-"))
    try:
        # the package as Debian builds it: not with the sanitizer of a
        # make test-sanitized that runs this test
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SANITIZER")}
        log = run(["make", "-s", "deb", "DEB_DIR=%s" % out], cwd=H.REPO,
                  env=env)
        assert "passed, 0 failed" in log, "the package build ran no unit test"
        debs = sorted(out.glob(PACKAGE + "_*.deb"))
        assert len(debs) == 1, "built: %s" % sorted(os.listdir(out))
        yield debs[0]
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.fixture
def unpacked(deb, tmp_path):
    run(["dpkg", "-x", str(deb), str(tmp_path)])
    return tmp_path


def field(deb, name):
    return run(["dpkg-deb", "-f", str(deb), name]).strip()


def test_package_files_and_fields(deb, unpacked):
    version = run(["dpkg-parsechangelog", "-l", str(H.REPO / "debian/changelog"),
                   "-S", "Version"]).strip()
    arch = run(["dpkg", "--print-architecture"]).strip()
    assert deb.name == "%s_%s_%s.deb" % (PACKAGE, version, arch)
    assert field(deb, "Package") == PACKAGE
    depends = field(deb, "Depends")
    for dep in ("apache2-api-20120211", "apache2-bin", "libsqlite3-0"):
        assert dep in depends, depends

    so = unpacked / MODULE
    assert so.is_file() and so.stat().st_mode & 0o777 == 0o644
    assert (unpacked / LOAD).read_text() == (H.REPO / "conf/tracfcgi.load"
                                             ).read_text()
    assert (unpacked / CONF).read_text() == (H.REPO / "conf/tracfcgi.conf"
                                             ).read_text()
    load = (unpacked / LOAD).read_text()
    assert "LoadModule tracfcgi_module /" + MODULE in load
    assert (unpacked / DOC / "copyright").is_file()
    assert (unpacked / DOC / "examples/trac-single.conf.sample").is_file()
    # /etc files are conffiles: an administrator's edits survive upgrades
    listing = run(["dpkg-deb", "--info", str(deb), "conffiles"])
    assert "/" + LOAD in listing and "/" + CONF in listing, listing
    # hardened as Debian builds its packages
    dyn = run(["readelf", "-d", str(so)])
    assert "BIND_NOW" in dyn or "Flags: NOW" in dyn, dyn
    assert "GNU_RELRO" in run(["readelf", "-lW", str(so)])


def test_unpacked_module_serves_an_app(unpacked, httpd):
    so = unpacked / MODULE
    conf = unpacked / CONF
    h = httpd(
        'LoadModule tracfcgi_module "%s"\n'
        'Include "%s"\n'
        "ScriptAlias /app @APPS@/responder.fcgi\n" % (so, conf),
        load_tracfcgi=False)
    status, _, body = h.get("/app/x?env")
    assert status == 200, body
    assert b"param:PATH_INFO=/x\n" in body, body
    assert b"param:SCRIPT_NAME=/app\n" in body, body


@pytest.mark.skipif(shutil.which("lintian") is None,
                    reason="lintian is not installed")
def test_lintian_is_clean(deb):
    p = subprocess.run(["lintian", "--fail-on", "error,warning", str(deb)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    tags = [l for l in p.stdout.splitlines()
            if not l.startswith("running with root privileges")]
    assert p.returncode == 0 and not [t for t in tags if t[:2] in
                                      ("E:", "W:")], p.stdout


def package_status():
    """dpkg's Status of the package ("" when dpkg has never heard of it)."""
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", PACKAGE],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True)
    return p.stdout


def why_not_install():
    """What stops the install test from touching this machine."""
    if os.geteuid() != 0:
        return "dpkg -i needs root"
    status = package_status()
    if "installed" in status and "not-installed" not in status:
        return "%s is installed on this machine (%s)" % (PACKAGE, status)
    for f in ("/" + MODULE, "/" + LOAD, "/" + CONF):
        if os.path.lexists(f):
            return "%s exists (make install?): not ours to remove" % f
    return None


def leftovers():
    found = []
    for root in ("/etc/apache2", "/usr/lib/apache2/modules",
                 "/var/lib/apache2", "/usr/share/doc/" + PACKAGE):
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                if "tracfcgi" in n:
                    found.append(os.path.join(dirpath, n))
        if os.path.lexists(root) and "tracfcgi" in root:
            found.append(root)
    found += [str(p) for p in Path("/var/lib/dpkg/info").glob(PACKAGE + ".*")]
    return found


def test_install_enable_configtest_remove_purge(deb):
    why = why_not_install()
    if why:
        pytest.skip(why)
    assert leftovers() == [], "before the install"
    own_policy = not POLICY_RC_D.exists()
    if own_policy:
        POLICY_RC_D.write_text("#!/bin/sh\n# tracfcgi package test\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        run(["dpkg", "-i", str(deb)], env=env)
        assert Path("/" + MODULE).is_file()
        assert Path("/" + LOAD).is_file() and Path("/" + CONF).is_file()
        # enabled at install, as libapache2-mod-fcgid is
        enabled = Path("/etc/apache2/mods-enabled/tracfcgi.load")
        assert enabled.is_symlink(), leftovers()
        out = run(["a2enmod", "tracfcgi"], env=env)
        assert "already enabled" in out, out
        out = run(["apache2ctl", "configtest"], env=env)
        assert "Syntax OK" in out, out
        run(["a2dismod", "-q", "tracfcgi"], env=env)
        assert not enabled.exists()
        run(["a2enmod", "-q", "tracfcgi"], env=env)
        assert enabled.is_symlink()

        run(["dpkg", "-r", PACKAGE], env=env)
        assert not Path("/" + MODULE).exists()
        assert not enabled.exists(), "the module stays enabled after remove"
        # conffiles stay until purge
        assert Path("/" + LOAD).is_file()
        run(["dpkg", "-P", PACKAGE], env=env)
        assert leftovers() == []
        status = package_status()
        assert "installed" not in status.replace("not-installed", ""), status
    finally:
        subprocess.run(["dpkg", "-P", PACKAGE], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if own_policy:
            POLICY_RC_D.unlink()
