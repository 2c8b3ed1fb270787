#!/bin/sh
# The main job, on a fresh Debian 12 machine:
#   sh t/demo.sh          build, then start Apache on 127.0.0.1:8080 with
#                         mod_tracfcgi serving two Trac projects, one per
#                         virtual host, and a parent-directory listing:
#                         real Trac when /usr/bin/python3 can import it
#                         (or TRAC_SRC=/path/to/trac-1.6 sh t/demo.sh),
#                         else the Trac-like sample app (t/apps/tracapp.c)
#   sh t/demo.sh stop     stop that Apache
# Installs what it needs (as root). The instance lives in
# ${TMPDIR:-/tmp}/tracfcgi-demo: configuration, logs, sockets. PORT=N for
# another port.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEMO=${TMPDIR:-/tmp}/tracfcgi-demo
PORT=${PORT:-8080}

if [ "${1:-}" = stop ]; then
    [ -f "$DEMO/httpd.pid" ] && /usr/sbin/apache2 -f "$DEMO/httpd.conf" -k stop
    exit 0
fi

. t/deps.sh
tf_install_deps
make -s mod_tracfcgi.so apps >"${TMPDIR:-/tmp}/tracfcgi-build.log" 2>&1 || { cat "${TMPDIR:-/tmp}/tracfcgi-build.log"; exit 1; }

mkdir -p "$DEMO/run" "$DEMO/htdocs" "$DEMO/site"
chmod 755 "$DEMO"
[ -f "$DEMO/httpd.pid" ] && /usr/sbin/apache2 -f "$DEMO/httpd.conf" -k stop \
    2>/dev/null && sleep 1
echo "mod_tracfcgi demo" > "$DEMO/htdocs/index.html"
SITE=$DEMO/site
PYPATH=""
if [ -n "${TRAC_SRC:-}" ] || /usr/bin/python3 -c "import trac" 2>/dev/null
then
    # real Trac: two projects made by trac-admin, trac.fcgi and the chrome
    # by trac-admin deploy; user alice / password secret for /*/login
    if [ -n "${TRAC_SRC:-}" ]; then
        # a copy of the tree, with the egg-info Trac finds itself by
        rm -rf "$DEMO/trac" && cp -r "$TRAC_SRC" "$DEMO/trac"
        ls -d "$DEMO"/trac/*.egg-info >/dev/null 2>&1 \
            || (cd "$DEMO/trac" && /usr/bin/python3 setup.py -q egg_info)
        PYPATH=$DEMO/trac
    fi
    KIND="real Trac"
    rm -rf "$SITE" && mkdir -p "$SITE/projects"
    for p in alpha beta; do
        PYTHONPATH=$PYPATH /usr/bin/python3 -m trac.admin.console \
            "$SITE/projects/$p" initenv "Project $p" sqlite:db/trac.db \
            >/dev/null
        PYTHONPATH=$PYPATH /usr/bin/python3 -m trac.admin.console \
            "$SITE/projects/$p" permission add alice TRAC_ADMIN
    done
    PYTHONPATH=$PYPATH /usr/bin/python3 -m trac.admin.console \
        "$SITE/projects/alpha" deploy "$SITE" >/dev/null
    htpasswd -bc "$SITE/htpasswd" alice secret 2>/dev/null
    chown -R www-data: "$SITE/projects"
else
    # the Trac-like sample app: trac.fcgi, two projects, a parent dir
    KIND="the Trac-like sample app (for real Trac: TRAC_SRC=/path/to/\
trac-1.6 sh t/demo.sh, with python3-jinja2 python3-babel \
python3-setuptools installed; see README, Trac)"
    /usr/bin/python3 - "$SITE" "$ROOT/t/apps/tracapp.fcgi" <<'PY'
import sys
sys.path.insert(0, "t/apps")
import mkproject
mkproject.make_site(sys.argv[1], sys.argv[2],
                    projects=(("alpha", "Project Alpha"),
                              ("beta", "Project Beta")))
PY
fi
INITENV=""
[ -n "$PYPATH" ] && INITENV="TracFcgiInitEnv PYTHONPATH $PYPATH"
cat > "$DEMO/httpd.conf" <<CONF
ServerRoot $DEMO
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
PidFile $DEMO/httpd.pid
ErrorLog $DEMO/error.log
LogLevel info
DefaultRuntimeDir $DEMO/run
Mutex file:$DEMO/run
User www-data
Group www-data
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authn_core_module /usr/lib/apache2/modules/mod_authn_core.so
LoadModule authn_file_module /usr/lib/apache2/modules/mod_authn_file.so
LoadModule authz_user_module /usr/lib/apache2/modules/mod_authz_user.so
LoadModule auth_basic_module /usr/lib/apache2/modules/mod_auth_basic.so
LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
TypesConfig /etc/mime.types
LoadModule tracfcgi_module $ROOT/mod_tracfcgi.so
$INITENV
<Directory $SITE/htdocs>
    Require all granted
</Directory>

# the first virtual host is the default: every project under one parent
# directory, with the live status of the pools
<VirtualHost 127.0.0.1:$PORT>
    ServerName 127.0.0.1
    DocumentRoot $DEMO/htdocs
    ScriptAlias /projects $SITE/cgi-bin/trac.fcgi/
    TracEnvParentDir $SITE/projects
    <Location /tracfcgi-status>
        SetHandler tracfcgi-status
    </Location>
</VirtualHost>

# one project per virtual host, same script, separate pools
<VirtualHost 127.0.0.1:$PORT>
    ServerName alpha.localhost
    DocumentRoot $DEMO/htdocs
    ScriptAlias /trac $SITE/cgi-bin/trac.fcgi/
    TracEnv $SITE/projects/alpha
    <Location /trac/login>
        AuthType Basic
        AuthName "trac"
        AuthUserFile $SITE/htpasswd
        Require valid-user
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:$PORT>
    ServerName beta.localhost
    DocumentRoot $DEMO/htdocs
    ScriptAlias /trac $SITE/cgi-bin/trac.fcgi/
    TracEnv $SITE/projects/beta
</VirtualHost>
CONF
/usr/sbin/apache2 -f "$DEMO/httpd.conf" -k start
U=http://127.0.0.1:$PORT
# ready once the status page answers (the first Trac page may take a
# second more: it starts the project's processes)
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    curl -sf -o /dev/null "$U/tracfcgi-status" && break
    sleep 0.25
done
# say only what answers
say() { # say WHAT CURL-ARGS...: the line, when the URL answers (a 200,
         # or Trac's redirect after a login)
    what=$1; shift
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$@")
    if [ "$code" -ge 200 ] && [ "$code" -lt 400 ]; then
        echo "  curl $*"
        echo "      $what"
    else
        echo "  (not answering: curl $* gave $code; see $DEMO/error.log)"
    fi
}
echo "Apache with mod_tracfcgi serves $KIND on $U/"
say "index of the projects under one parent directory" "$U/projects/"
say "a project of it" "$U/projects/alpha/"
say "one project per virtual host" -H 'Host: alpha.localhost' "$U/trac/"
say "the other one" -H 'Host: beta.localhost' "$U/trac/"
say "log in: Apache's basic auth (alice / secret)" -u alice:secret \
    -H 'Host: alpha.localhost' "$U/trac/login"
say "pools and processes" "$U/tracfcgi-status"
if [ "$KIND" = "real Trac" ]; then
    echo "  POST: log in (above), then create a ticket at"
    echo "      $U/trac/newticket with the Host header alpha.localhost"
    echo "      (a browser: map alpha.localhost to 127.0.0.1)"
else
    echo "  POST: curl -H 'Host: alpha.localhost' \\"
    echo "      -d 'summary=hello' $U/trac/newticket   (a new ticket)"
fi
echo "  log: $DEMO/error.log     stop: sh t/demo.sh stop"
