"""What a new user ran into (the operators issue, 5): configtest says
what is wrong in words that lead to the fix, and log lines name a pool
the way the administrator wrote it.
"""

import os
import re
import shutil

import pytest

import test_conf_samples as C


@pytest.fixture
def tree():
    root = C.make_tree()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_conns_per_process_says_auto():
    r = C.configtest("TracFcgiConnsPerProcess banana\n")
    assert r.returncode != 0
    assert "TracFcgiConnsPerProcess" in r.stdout and "auto" in r.stdout, \
        r.stdout


def test_missing_database_suggests_initenv(tree):
    env = C.mkproject.make_project(tree / "projects/nodb", "NoDb",
                                   "www-data")
    os.unlink(env / "db/trac.db")
    r = C.configtest("TracEnv %s\n" % env)
    assert r.returncode == 0, r.stdout
    line = next(ln for ln in r.stdout.splitlines() if "TF00502" in ln)
    assert "no such file" in line and "initenv" in line, line
    assert "upgrade" not in line


def test_server_script_checked_at_configtest(tmp_path):
    os.chmod(tmp_path, 0o755)
    plain = tmp_path / "plain.fcgi"
    plain.write_text("#!/bin/sh\n")
    os.chmod(plain, 0o644)
    r = C.configtest("TracFcgiServer %s/missing.fcgi\n"
                     "TracFcgiServer %s\n" % (tmp_path, plain))
    assert r.returncode == 0, r.stdout
    lines = [ln for ln in r.stdout.splitlines() if "TF00511" in ln]
    assert len(lines) == 2, r.stdout
    assert "missing.fcgi" in lines[0] and "no such file" in lines[0]
    assert "plain.fcgi" in lines[1] and "not executable" in lines[1]
    assert re.search(r"\(.*httpd\.conf:\d+\)", lines[0]), lines[0]


def test_pool_of_the_main_server_named_without_port_0(httpd):
    h = httpd("ScriptAlias /trac @APPS@/responder.fcgi/\n")
    assert h.get("/trac/?pid").status == 200
    line = h.wait_log(r"TF00104: pool \S+responder\.fcgi@(\S+): backend "
                      r"pid=\d+ ready")
    assert line.group(1) == "127.0.0.1", line.group(0)
