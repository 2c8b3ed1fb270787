#!/bin/sh
# The whole test suite of mod_tracfcgi, on a fresh Debian 12 machine:
#   sh t/run-tests.sh
# Installs what it needs (as root), builds the module and the test apps,
# runs the C unit tests and fuzz-corpus replay (plain and under
# AddressSanitizer), then the httpd integration suite (pytest).
set -eu
cd "$(dirname "$0")/.."
. t/deps.sh
tf_install_deps

# pytest and its plugins come from Debian and live with /usr/bin/python3
PYTHON=/usr/bin/python3
export PYTHON

make -s clean-unit
echo "== C unit tests and fuzz corpus replay, built with AddressSanitizer"
make -s unit SANITIZER=address
make -s clean-unit
echo "== C unit tests and fuzz corpus replay, plain build"
make -s unit
make -s mod_tracfcgi.so apps check-headers check-logtags
$PYTHON -m pytest -ra -p no:cacheprovider t/
