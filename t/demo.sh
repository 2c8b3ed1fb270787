#!/bin/sh
# The main job, on a fresh Debian 12 machine:
#   sh t/demo.sh          build, then start Apache on 127.0.0.1:8080 with
#                         mod_tracfcgi serving the sample apps
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

mkdir -p "$DEMO/run" "$DEMO/htdocs"
chmod 755 "$DEMO"
[ -f "$DEMO/httpd.pid" ] && /usr/sbin/apache2 -f "$DEMO/httpd.conf" -k stop \
    2>/dev/null && sleep 1
echo "mod_tracfcgi demo" > "$DEMO/htdocs/index.html"
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
LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
TypesConfig /etc/mime.types
LoadModule tracfcgi_module $ROOT/mod_tracfcgi.so
DocumentRoot $DEMO/htdocs

# the project's test app (libfcgi) and php-cgi from Debian
ScriptAlias /app $ROOT/t/apps/responder.fcgi/
ScriptAlias /php $ROOT/t/apps/hello.php.fcgi/
TracFcgiInitEnv DEMO_GREETING "hello from mod_tracfcgi"
TracFcgiMaxProcesses 4
CONF
/usr/sbin/apache2 -f "$DEMO/httpd.conf" -k start
for i in 1 2 3 4 5 6 7 8 9 10; do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 0.5
done
echo "Apache with mod_tracfcgi runs on http://127.0.0.1:$PORT/"
echo "  http://127.0.0.1:$PORT/app/hello?env   (libfcgi test app: params, env)"
echo "  http://127.0.0.1:$PORT/php/            (php-cgi)"
echo "  log: $DEMO/error.log     stop: sh t/demo.sh stop"
curl -s "http://127.0.0.1:$PORT/app/hello?pid"
