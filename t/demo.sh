#!/bin/sh
# The main job, on a fresh Debian 12 machine:
#   sh t/demo.sh          build, then start Apache on 127.0.0.1:8080 with
#                         mod_tracfcgi serving the Trac-like sample app
#                         (t/apps/tracapp.c): two projects, one per
#                         virtual host, and a parent-directory listing
#   sh t/demo.sh stop     stop that Apache
# Installs what it needs (as root). The instance lives in
# ${TMPDIR:-/tmp}/tracfcgi-demo: configuration, logs, sockets.
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
# a Trac-like deployment: trac.fcgi (the sample app), two projects, and a
# parent directory; user alice / password secret for /*/login
/usr/bin/python3 - "$DEMO/site" "$ROOT/t/apps/tracapp.fcgi" <<'PY'
import sys
sys.path.insert(0, "t/apps")
import mkproject
mkproject.make_site(sys.argv[1], sys.argv[2],
                    projects=(("alpha", "Project Alpha"),
                              ("beta", "Project Beta")))
PY
SITE=$DEMO/site
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
for i in 1 2 3 4 5 6 7 8 9 10; do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 0.5
done
U=http://127.0.0.1:$PORT
echo "Apache with mod_tracfcgi runs on $U/"
echo "  curl $U/projects/                      (index of the parent dir)"
echo "  curl $U/projects/alpha/                (a project of it)"
echo "  curl -H 'Host: alpha.localhost' $U/trac/   (one project per vhost)"
echo "  curl -H 'Host: beta.localhost' $U/trac/"
echo "  curl -u alice:secret -H 'Host: alpha.localhost' $U/trac/login"
echo "  curl $U/tracfcgi-status                (pools and processes)"
echo "  log: $DEMO/error.log     stop: sh t/demo.sh stop"
echo
curl -s "$U/projects/"
curl -s -H 'Host: alpha.localhost' "$U/trac/" | head -3
curl -s -H 'Host: beta.localhost' "$U/trac/" | head -3
