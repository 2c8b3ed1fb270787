#!/bin/sh
# CGI reference for the params comparison tests (run by mod_cgi/mod_cgid):
# consumes the request body, then prints its environment.
cat >/dev/null
printf 'Content-Type: text/plain\r\n\r\n'
exec env
