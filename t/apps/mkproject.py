#!/usr/bin/python3
"""Make a Trac-like environment for the tests and the demo.

    /usr/bin/python3 t/apps/mkproject.py DIR NAME [--owner USER[:GROUP]]

creates
    DIR/VERSION          "Trac Environment Version 1"
    DIR/conf/trac.ini    [project] name = NAME
    DIR/db/trac.db       SQLite: system(name, value) with database_version 45
                         and project_name NAME; ticket(id, summary) with two
                         sample rows
and, with --owner, gives DIR and everything under it to USER (and GROUP,
default USER's primary group): the backend writes to db/, so db/ and
db/trac.db must be writable by the user the backends run as (www-data in
the tests).

From Python: make_project(path, name, owner=None), and make_site(root, ...)
for a whole deployment as the conf/*.conf.sample files expect it under
/srv/trac (t/apps is not a package: put it on sys.path first).
"""

import argparse
import grp
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

VERSION_TEXT = "Trac Environment Version 1\n"
DATABASE_VERSION = "45"
SAMPLE_TICKETS = ("First sample ticket", "Second sample ticket")


def _resolve_owner(owner):
    """'user' or 'user:group' -> (uid, gid)."""
    user, _, group = owner.partition(":")
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
    return pw.pw_uid, gid


def chown_tree(path, owner):
    uid, gid = _resolve_owner(owner)
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.chown(os.path.join(root, n), uid, gid, follow_symlinks=False)


def make_project(path, name, owner=None):
    """Create the environment at @path (its parent must exist; @path may
    exist if empty). Returns the environment's Path."""
    env = Path(path)
    env.mkdir(mode=0o755, exist_ok=True)
    (env / "conf").mkdir(mode=0o755, exist_ok=True)
    (env / "db").mkdir(mode=0o755, exist_ok=True)
    (env / "VERSION").write_text(VERSION_TEXT)
    (env / "conf" / "trac.ini").write_text("[project]\nname = %s\n" % name)
    db = env / "db" / "trac.db"
    if db.exists():
        db.unlink()
    conn = sqlite3.connect(str(db))
    try:
        with conn:
            conn.execute("CREATE TABLE system "
                         "(name TEXT PRIMARY KEY, value TEXT)")
            conn.executemany("INSERT INTO system (name, value) VALUES (?, ?)",
                             [("database_version", DATABASE_VERSION),
                              ("project_name", name)])
            conn.execute("CREATE TABLE ticket "
                         "(id INTEGER PRIMARY KEY, summary TEXT)")
            conn.executemany("INSERT INTO ticket (summary) VALUES (?)",
                             [(s,) for s in SAMPLE_TICKETS])
    finally:
        conn.close()
    os.chmod(db, 0o644)
    if owner:
        chown_tree(env, owner)
    return env


# Static file make_site() puts where Trac's htdocs go.
STATIC_CSS = ("/* trac.css of the mod_tracfcgi test site */\n"
              "body { margin: 0 }\n")


def make_site(root, app, projects=(("main", "Main"),), owner="www-data",
              users=(("alice", "secret"),)):
    """A deployment laid out like the conf samples' /srv/trac under the
    existing directory @root:
        cgi-bin/trac.fcgi          a copy of the program @app (mode 0755)
        htdocs/common/css/trac.css Trac's static files (STATIC_CSS)
        projects/NAME/             make_project() for each (dirname, name)
                                   of @projects, owned by @owner
        eggs/                      a directory @owner may write
        htpasswd                   @users, with `htpasswd -b` (bcrypt)
    Everything is readable by all; returns root as a Path."""
    root = Path(root)
    os.chmod(root, 0o755)
    for d in ("cgi-bin", "htdocs/common/css", "projects", "eggs"):
        (root / d).mkdir(mode=0o755, parents=True, exist_ok=True)
    shutil.copyfile(str(app), str(root / "cgi-bin" / "trac.fcgi"))
    os.chmod(root / "cgi-bin" / "trac.fcgi", 0o755)
    (root / "htdocs/common/css/trac.css").write_text(STATIC_CSS)
    for dirname, name in projects:
        make_project(root / "projects" / dirname, name, owner)
    if owner:
        chown_tree(root / "eggs", owner)
    pw = root / "htpasswd"
    for i, (user, password) in enumerate(users):
        subprocess.run(["htpasswd", "-B", "-b"] + (["-c"] if i == 0 else [])
                       + [str(pw), user, password], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if pw.exists():
        os.chmod(pw, 0o644)
    return root


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Make a Trac-like environment (VERSION, conf/trac.ini, "
                    "db/trac.db).")
    ap.add_argument("dir", help="environment directory to create")
    ap.add_argument("name", help="project name")
    ap.add_argument("--owner", metavar="USER[:GROUP]",
                    help="chown the environment recursively")
    args = ap.parse_args(argv)
    try:
        make_project(args.dir, args.name, args.owner)
    except (OSError, KeyError, sqlite3.Error) as e:
        print("mkproject: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
