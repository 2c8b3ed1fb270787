"""The FastCGI AUTHORIZER role (src/authorizer.c): TracFcgiAccessChecker,
TracFcgiAuthenticator and TracFcgiAuthorizer, and mod_fcgid's names for
them, in front of the Trac-like responder. The authorizer is
t/apps/responder.fcgi in its AUTHORIZER role (see authorize() there):
alice may, bob may not (403 with a body), carol must give the password
"secret" (401 with a challenge), anyone else is sent to a login page.
"""

import base64
import re
import subprocess
import time

import pytest

import httpd as H
from test_migration import install_app

def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()}


def install_authorizer(h):
    """A copy of the responder at @TMP@/auth/authorizer.fcgi: a pool of
    its own."""
    return install_app(h, "auth", "authorizer.fcgi")


def params_of(body):
    params, _, _ = H.parse_env_body(body)
    return params


ACCESS = """
ScriptAlias /trac @APPS@/responder.fcgi/
<Location /trac>
    TracFcgiAccessChecker @TMP@/auth/authorizer.fcgi
    Require all granted
</Location>
"""


def test_access_checker(httpd):
    h = httpd(ACCESS, start=False)
    install_authorizer(h)
    h.start()
    # allowed: the responder answers, with the authorizer's variables
    r = h.get("/trac/wiki?env", headers={"X-User": "alice"})
    assert r.status == 200, (r.status, r.body[:300])
    params = params_of(r.body)
    assert params["AUTH_GROUP"] == "admins"
    phase, cl, pi, apid = params["AUTH_SEEN"].split()
    # the authorizer got the request's params, without a body's length
    # or PATH_INFO (FastCGI 6.3), and its role as mod_fcgid names it
    assert (phase, cl, pi) == ("ACCESS_CHECKER", "-", "-")
    assert int(apid) in h.backend_pids(str(h.tmp / "auth/authorizer.fcgi"))
    assert int(apid) != int(H.parse_env_body(r.body)[2]["pid"])
    assert "FCGI_APACHE_ROLE" not in params

    # refused: the application's answer as it gave it
    r = h.get("/trac/wiki?env", headers={"X-User": "bob"})
    assert r.status == 403
    assert r.body == b"bob may not\n"
    assert r.headers.get("X-Denied-By") == "test-authorizer"
    assert r.headers.get("Content-Type", "").startswith("text/plain")
    # no one: to the login page
    r = h.get("/trac/wiki?x=1")
    assert r.status == 302
    assert r.headers["Location"].endswith("/login?back=/trac/wiki?x=1")
    # the responder never saw the refused ones
    assert len(h.backend_pids()) == 1


def test_access_checker_keeps_the_body(httpd):
    """A POST is asked about without its body, and the responder then
    gets all of it."""
    h = httpd(ACCESS, start=False)
    install_authorizer(h)
    h.start()
    body = b"x" * 200000
    r = h.post("/trac/?echo=raw", body, headers={"X-User": "alice"})
    assert r.status == 200 and r.body == body
    r = h.post("/trac/?echo=raw", body, headers={"X-User": "bob"})
    assert r.status == 403 and r.body == b"bob may not\n"


def test_authorizer_after_basic_auth(httpd):
    h = httpd("""
ScriptAlias /trac @APPS@/responder.fcgi/
<Location /trac>
    AuthType Basic
    AuthName "trac"
    AuthBasicProvider file
    AuthUserFile @TMP@/htpasswd
    FcgidAuthorizer @TMP@/auth/authorizer.fcgi
    Require valid-user
</Location>
""", start=False)
    install_authorizer(h)
    for i, u in enumerate(("alice", "bob")):
        subprocess.run(["htpasswd", "-b"] + (["-c"] if i == 0 else []) +
                       [str(h.tmp / "htpasswd"), u, "pw"], check=True,
                       capture_output=True)
    h.start()
    r = h.get("/trac/?env", headers=basic("alice", "pw"))
    assert r.status == 200, (r.status, r.body[:300])
    params = params_of(r.body)
    assert params["REMOTE_USER"] == "alice"
    assert params["AUTH_GROUP"] == "admins"
    assert params["AUTH_SEEN"].split()[0] == "AUTHORIZER"
    r = h.get("/trac/?env", headers=basic("bob", "pw"))
    assert r.status == 403 and r.body == b"bob may not\n"
    # mod_auth_basic still checks the password first
    r = h.get("/trac/?env", headers=basic("alice", "wrong"))
    assert r.status == 401


def test_authenticator(httpd):
    h = httpd("""
ScriptAlias /trac @APPS@/responder.fcgi/
<Location /trac>
    AuthType Basic
    AuthName "trac"
    TracFcgiAuthenticator @TMP@/auth/authorizer.fcgi
    Require valid-user
</Location>
""", start=False)
    install_authorizer(h)
    h.start()
    r = h.get("/trac/?env", headers=basic("carol", "secret"))
    assert r.status == 200, (r.status, r.body[:300])
    params = params_of(r.body)
    assert params["REMOTE_USER"] == "carol"
    assert params["AUTH_SEEN"].split()[0] == "AUTHENTICATOR"
    assert "REMOTE_PASSWD" not in params   # the password stays with it
    # a wrong password: the application's 401, with its challenge
    r = h.get("/trac/?env", headers=basic("carol", "nope"))
    assert r.status == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="test authorizer"'
    assert r.body == b"wrong password\n"
    # no credentials at all: httpd's own challenge, from AuthName
    r = h.get("/trac/?env")
    assert r.status == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="trac"'


def test_not_authoritative(httpd):
    """...Authoritative Off: a refusal leaves the decision to httpd's
    other modules (here Require all granted lets bob in)."""
    h = httpd("""
ScriptAlias /trac @APPS@/responder.fcgi/
<Location /trac>
    FcgidAccessChecker @TMP@/auth/authorizer.fcgi
    FcgidAccessCheckerAuthoritative Off
    Require all granted
</Location>
""", start=False)
    install_authorizer(h)
    h.start()
    r = h.get("/trac/?env", headers={"X-User": "bob"})
    assert r.status == 200
    assert "AUTH_GROUP" not in params_of(r.body)
    assert h.log_lines(r"TF01105: TracFcgiAccessChecker .* answered 403")


def test_authorizer_down_is_503(httpd):
    """An authorizer that cannot start: 503 with Retry-After, a log line,
    and the responder is never asked."""
    h = httpd(ACCESS, start=False)
    f = install_authorizer(h)
    f.write_text("#!/bin/sh\nexit 3\n")
    h.start()
    t0 = time.monotonic()
    r = h.get("/trac/?pid", headers={"X-User": "alice"})
    assert r.status == 503
    assert time.monotonic() - t0 < 10
    assert r.headers.get("Retry-After")
    assert h.log_lines(r"TF00103: pool \S*authorizer\.fcgi")
    assert h.backend_pids() == []


def test_configtest_errors():
    import test_conf_samples as C
    for line, message in (
            ("TracFcgiAuthorizer auth.fcgi", "absolute path"),
            ("TracFcgiAuthorizer /nonexistent/auth", "no such file"),
            ("FcgidAccessChecker /etc/passwd", "not an executable file"),
            ("FcgidAuthorizerAuthoritative maybe", "On or Off")):
        r = C.configtest("<Location /x>\n%s\n</Location>\n" % line)
        assert r.returncode != 0 and message in r.stdout, (line, r.stdout)


def test_mod_fastcgi_names(httpd):
    """mod_fastcgi's FastCgiAccessChecker FILE -compat: the same; -compat
    is said at configtest and ignored."""
    h = httpd("""
ScriptAlias /trac @APPS@/responder.fcgi/
<Location /trac>
    FastCgiAccessChecker @TMP@/auth/authorizer.fcgi -compat
    FastCgiAccessCheckerAuthoritative On
    Require all granted
</Location>
""", start=False)
    install_authorizer(h)
    h.start()
    assert h.get("/trac/?pid", headers={"X-User": "alice"}).status == 200
    assert h.get("/trac/?pid", headers={"X-User": "bob"}).status == 403
    import test_conf_samples as C
    r = C.configtest("<Location /x>\nFastCgiAccessChecker "
                     "@APPS@/responder.fcgi -compat\n</Location>\n")
    assert r.returncode == 0, r.stdout
    assert re.search(r"TF00901: FastCgiAccessChecker -compat .* is "
                     r"ignored: the application's Variable-NAME", r.stdout)


def test_authenticator_without_authtype_is_said(httpd):
    h = httpd("""
ScriptAlias /trac @APPS@/responder.fcgi/
<Location /trac>
    TracFcgiAuthenticator @APPS@/responder.fcgi
    Require valid-user
</Location>
""")
    r = h.get("/trac/?pid", headers=basic("carol", "secret"))
    assert r.status == 500
    assert h.log_lines(r"TF01106: TracFcgiAuthenticator \S+ takes Basic "
                       r"credentials: this section needs AuthType Basic")
