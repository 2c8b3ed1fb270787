# Sourced by t/run-tests.sh and t/demo.sh: make sure the Debian packages
# they need are installed. As root it installs what is missing; otherwise
# it prints the one apt-get line to run and stops.
TF_PACKAGES="apache2 apache2-dev libapr1-dev libaprutil1-dev libfcgi-dev \
libsqlite3-dev sqlite3 python3-pytest python3-pytest-timeout php-cgi php-fpm \
spawn-fcgi iproute2 libapache2-mod-xsendfile python3-html5lib python3-h2 \
dpkg-dev debhelper lintian \
apache2-suexec-pristine \
apache2-suexec-custom \
apache2-utils gcc \
make curl"

tf_missing_packages() {
    missing=""
    for p in $TF_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q "install ok installed" || missing="$missing $p"
    done
    echo "$missing"
}

tf_install_deps() {
    missing=$(tf_missing_packages)
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing Debian packages; run as root:" >&2
        echo "  apt-get install -y$missing" >&2
        exit 1
    fi
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
}
