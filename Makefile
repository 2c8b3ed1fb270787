# mod_tracfcgi build. `make` builds mod_tracfcgi.so with apxs; `make test`
# runs the C unit tests, the fuzz-corpus replay and the httpd integration
# suite. SANITIZER=address|undefined builds the unit/fuzz programs with it.

comma     := ,
APXS      ?= $(shell command -v apxs || command -v apxs2)
CC        ?= cc
PYTHON    ?= /usr/bin/python3
APR_CPP   := $(shell apr-1-config --cppflags 2>/dev/null)
APR_INC   := $(shell apr-1-config --includes 2>/dev/null)
APR_LIBS  := $(shell apr-1-config --link-ld --libs 2>/dev/null)
WARN      := -Wall -Wextra -Werror -Wno-unused-parameter -Wstrict-prototypes \
             -Wmissing-prototypes -Wshadow -Wpointer-arith -Wformat=2 \
             -Wno-format-nonliteral -Wmissing-declarations
MOD_SRC   := mod_tracfcgi.c $(wildcard src/*.c)
HEADERS   := $(wildcard include/*.h)

ifneq ($(SANITIZER),)
SAN_FLAGS := -fsanitize=$(SANITIZER) -fno-sanitize-recover=all -fno-omit-frame-pointer
# the module is compiled with it; httpd gets the runtime preloaded (its
# symbols resolve the module's at load time)
MOD_SAN   := $(addprefix -Wc$(comma),$(SAN_FLAGS))
SAN_RT    := $(shell $(CC) -print-file-name=lib$(if $(filter address,$(SANITIZER)),asan,ubsan).so)
endif
# Extra compiler and linker flags for the module (debian/rules passes
# dpkg-buildflags' hardening flags through them).
MOD_CFLAGS  ?=
MOD_LDFLAGS ?=
UNIT_CFLAGS := -std=c99 -g -O1 $(WARN) -Iinclude $(SAN_FLAGS)

.PHONY: all install deb unit fuzz apps test test-sanitized soak bench bench-profile bench-trac \
        integration check-headers \
        check-logtags clean clean-unit
all: mod_tracfcgi.so

mod_tracfcgi.so: $(MOD_SRC) $(HEADERS)
	$(APXS) -c -o mod_tracfcgi.la -Iinclude \
	    -Wc,-std=gnu99 $(addprefix -Wc$(comma),$(WARN)) $(MOD_SAN) \
	    $(addprefix -Wc$(comma),$(MOD_CFLAGS)) \
	    $(addprefix -Wl$(comma),$(MOD_LDFLAGS)) \
	    -Wl,-export-symbols-regex -Wl,tracfcgi_module -lsqlite3 $(MOD_SRC)
	@# a new inode: a running httpd keeps its mapping of the old file
	cp .libs/mod_tracfcgi.so $@.tmp && mv -f $@.tmp $@

install: mod_tracfcgi.so
	$(APXS) -i -n tracfcgi mod_tracfcgi.la
	install -d $(DESTDIR)/etc/apache2/mods-available
	install -m 644 conf/tracfcgi.load conf/tracfcgi.conf $(DESTDIR)/etc/apache2/mods-available/

# The Debian package, built by dpkg-buildpackage from a copy of the tree
# (the build leaves the tree as it was); the .deb lands in $(DEB_DIR).
DEB_DIR ?= build/deb
deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	tar -cf - --exclude-vcs --exclude=./build . | tar -xf - -C $(DEB_DIR)/src
	$(MAKE) -C $(DEB_DIR)/src -s clean
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b
	rm -rf $(DEB_DIR)/src
	@ls -1 $(DEB_DIR)/*.deb

# --- C unit tests and fuzz replay (no httpd) ------------------------------
t/unit/test_fcgi_proto: t/unit/test_fcgi_proto.c src/fcgi_proto.c include/tf_fcgi_proto.h t/unit/tf_test.h
	$(CC) $(UNIT_CFLAGS) -o $@ t/unit/test_fcgi_proto.c src/fcgi_proto.c

t/unit/test_pool: t/unit/test_pool.c src/pool.c include/tf_pool.h t/unit/tf_test.h
	$(CC) $(UNIT_CFLAGS) $(APR_CPP) $(APR_INC) -o $@ t/unit/test_pool.c src/pool.c

# config.c and spec.c call into httpd: they link with the few ap_* symbols
# they use, stood in for by t/unit/httpd_stubs.c (lighttpd's way), and APR
UNIT_HTTPD := $(APR_CPP) $(APR_INC) -I$$($(APXS) -q INCLUDEDIR)
UNIT_HTTPD_LIBS := -lapr-1 -laprutil-1
HTTPD_STUBS := t/unit/httpd_stubs.c t/unit/httpd_stubs.h

# config.c parses TracFcgiExternalServer's addresses with src/backend.c
CONF_SRC := src/config.c src/compat.c src/backend.c src/fcgi_proto.c \
            src/wrapper.c

t/unit/test_config: t/unit/test_config.c $(CONF_SRC) include/tf_config.h $(HTTPD_STUBS) t/unit/tf_test.h
	$(CC) $(UNIT_CFLAGS) $(UNIT_HTTPD) -o $@ t/unit/test_config.c $(CONF_SRC) \
	    t/unit/httpd_stubs.c $(UNIT_HTTPD_LIBS)

t/unit/test_spec: t/unit/test_spec.c src/spec.c $(CONF_SRC) include/tf_spec.h include/tf_config.h $(HTTPD_STUBS) t/unit/tf_test.h
	$(CC) $(UNIT_CFLAGS) $(UNIT_HTTPD) -o $@ t/unit/test_spec.c src/spec.c \
	    $(CONF_SRC) t/unit/httpd_stubs.c $(UNIT_HTTPD_LIBS)

t/unit/test_pool_external: t/unit/test_pool_external.c src/pool.c include/tf_pool.h t/unit/tf_test.h
	$(CC) $(UNIT_CFLAGS) $(APR_CPP) $(APR_INC) -o $@ t/unit/test_pool_external.c src/pool.c

t/unit/test_trac_ini: t/unit/test_trac_ini.c src/trac_ini.c include/tf_trac_ini.h t/unit/tf_test.h
	$(CC) $(UNIT_CFLAGS) -D_GNU_SOURCE -o $@ t/unit/test_trac_ini.c src/trac_ini.c

t/unit/test_stop_policy: t/unit/test_stop_policy.c src/pool.c include/tf_pool.h t/unit/tf_test.h
	$(CC) $(UNIT_CFLAGS) $(APR_CPP) $(APR_INC) -o $@ t/unit/test_stop_policy.c src/pool.c

t/unit/test_wrapper: t/unit/test_wrapper.c src/wrapper.c include/tf_wrapper.h t/unit/tf_test.h
	$(CC) $(UNIT_CFLAGS) $(APR_CPP) $(APR_INC) -o $@ t/unit/test_wrapper.c src/wrapper.c $(APR_LIBS)

t/unit/test_ipc: t/unit/test_ipc.c src/ipc.c include/tf_ipc.h include/tf_pool.h t/unit/tf_test.h
	$(CC) $(UNIT_CFLAGS) $(APR_CPP) $(APR_INC) -o $@ t/unit/test_ipc.c src/ipc.c $(APR_LIBS)

FUZZ_TARGETS := $(patsubst t/fuzz/%.c,%,$(wildcard t/fuzz/fuzz_*.c))
# the pure parts, libc only: what unit tests and fuzz targets link
PURE_SRC := src/fcgi_proto.c src/cgi_head.c src/trac_ini.c
t/fuzz/replay_%: t/fuzz/%.c t/fuzz/replay.c $(PURE_SRC) include/tf_fcgi_proto.h include/tf_cgi_head.h include/tf_trac_ini.h
	$(CC) $(UNIT_CFLAGS) -o $@ t/fuzz/replay.c $< $(PURE_SRC)

t/unit/test_iobuf: t/unit/test_iobuf.c src/iobuf.c include/tf_iobuf.h t/unit/tf_test.h
	$(CC) $(UNIT_CFLAGS) -pthread -o $@ t/unit/test_iobuf.c src/iobuf.c

t/unit/test_cgi_head: t/unit/test_cgi_head.c src/cgi_head.c include/tf_cgi_head.h t/unit/tf_test.h
	$(CC) $(UNIT_CFLAGS) -o $@ t/unit/test_cgi_head.c src/cgi_head.c

# the exchange against a scripted peer: APR and apr-util buckets, no httpd
XCHG_SRC := src/exchange.c src/backend.c src/fcgi_proto.c src/iobuf.c
t/unit/test_exchange: t/unit/test_exchange.c $(XCHG_SRC) include/tf_exchange.h include/tf_backend.h t/unit/tf_test.h
	$(CC) $(UNIT_CFLAGS) $(APR_CPP) $(APR_INC) -pthread -o $@ t/unit/test_exchange.c $(XCHG_SRC) -laprutil-1 -lapr-1

t/unit/test_backend: t/unit/test_backend.c src/backend.c src/fcgi_proto.c include/tf_backend.h t/unit/tf_test.h
	$(CC) $(UNIT_CFLAGS) $(APR_CPP) $(APR_INC) -o $@ t/unit/test_backend.c src/backend.c src/fcgi_proto.c -lapr-1

UNIT_BINS := $(patsubst %.c,%,$(wildcard t/unit/test_*.c))
unit: $(UNIT_BINS) $(addprefix t/fuzz/replay_,$(FUZZ_TARGETS))
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; ./$$t; done
	@set -e; for f in $(FUZZ_TARGETS); do echo "== replay $$f"; \
	    ./t/fuzz/replay_$$f t/fuzz/corpus/$$f; done

# libFuzzer builds (clang): make fuzz FUZZ=fuzz_fcgi_decode SECONDS=60
FUZZ    ?= fuzz_fcgi_decode
SECONDS ?= 60
fuzz:
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
	    -o t/fuzz/$(FUZZ) t/fuzz/$(FUZZ).c $(PURE_SRC)
	mkdir -p t/fuzz/corpus/$(FUZZ)
	./t/fuzz/$(FUZZ) -max_total_time=$(SECONDS) t/fuzz/corpus/$(FUZZ)

# --- test backends --------------------------------------------------------
APPS := t/apps/responder.fcgi t/apps/tracapp.fcgi
apps: $(APPS)
t/apps/responder.fcgi: t/apps/responder.c
	$(CC) -std=gnu99 -O2 -g -Wall -Wextra -Werror -o $@ $< -lfcgi
t/apps/tracapp.fcgi: t/apps/tracapp.c
	$(CC) -std=gnu99 -O2 -g -Wall -Wextra -Werror -o $@ $< -lfcgi -lsqlite3

# --- integration ----------------------------------------------------------
integration: mod_tracfcgi.so apps
	$(PYTHON) -m pytest -ra t/

test: unit integration

# Long runs, not in the default test command.
# The benchmark against mod_fcgid, mod_proxy_fcgi and a static file
# (needs wrk, libapache2-mod-fcgid, spawn-fcgi; see t/bench/README), and
# the profile of the request path (valgrind, strace, linux-perf).
bench: mod_tracfcgi.so
	$(PYTHON) t/bench/run.py $(BENCH_ARGS)
bench-trac: mod_tracfcgi.so
	$(PYTHON) t/bench/trac_shaped.py $(BENCH_ARGS)

bench-profile: mod_tracfcgi.so
	$(PYTHON) t/bench/profile_path.py $(BENCH_ARGS)

SOAK_REQUESTS ?= 1000000
soak: mod_tracfcgi.so apps
	$(PYTHON) t/soak.py --requests $(SOAK_REQUESTS)

# The integration suite against the module built with a sanitizer, loaded
# into the stock httpd with the runtime preloaded:
#   make test-sanitized SANITIZER=address   (or undefined)
test-sanitized:
	@test -n "$(SANITIZER)" || { echo "set SANITIZER=address|undefined"; exit 1; }
	rm -f mod_tracfcgi.so mod_tracfcgi.la *.lo src/*.lo src/*.o src/.libs/*.o .libs/*.o
	$(MAKE) mod_tracfcgi.so apps SANITIZER=$(SANITIZER)
	TRACFCGI_HTTPD_PRELOAD=$(SAN_RT) $(PYTHON) -m pytest -ra -p no:cacheprovider t/; \
	    rc=$$?; rm -f mod_tracfcgi.so src/*.lo *.lo; exit $$rc

check-headers:
	@set -e; for h in $(HEADERS); do \
	    echo '#include "'$$(basename $$h)'"' | $(CC) -std=gnu99 $(WARN) \
	    -Iinclude $(APR_CPP) $(APR_INC) -I$$($(APXS) -q INCLUDEDIR) \
	    -fsyntax-only -x c - || { echo "$$h does not compile alone"; exit 1; }; done

# Log tags (TFLOGNO, include/tf_logno.h): none empty (httpd CI's "Empty
# APLOGNO() test"), no number used twice, and none that src/next-logno
# still offers as a file's next free number already in use, in that file
# or another (a next-logno left behind would hand it out a second time).
LOG_SRC := mod_tracfcgi.c $(wildcard src/*.c)
check-logtags:
	@if grep -n 'TFLOGNO( *)' $(LOG_SRC); then \
	    echo "empty TFLOGNO(): take the file's next number from src/next-logno"; \
	    exit 1; fi
	@grep -on 'TFLOGNO([^)]*)' $(LOG_SRC) | awk ' \
	    FNR == NR { if ($$1 !~ /^#/ && NF >= 2) offers[$$2] = $$1; next } \
	    { n = $$0; sub(/^.*TFLOGNO\(/, "", n); sub(/\)$$/, "", n); \
	      at = $$0; sub(/:TFLOGNO\(.*$$/, "", at); \
	      if (n !~ /^[0-9][0-9][0-9][0-9][0-9]$$/) { \
	          print "TFLOGNO(" n ") at " at ": not five digits"; bad = 1 } \
	      if (n in used) { twice[n] = 1; used[n] = used[n] ", " at } \
	      else used[n] = at } \
	    END { for (n in twice) { \
	              print "TF" n " is used more than once: " used[n]; bad = 1 } \
	          for (n in offers) if (n in used) { \
	              print "src/next-logno offers TF" n " as the next number of " \
	                  offers[n] ", but it is in use: " used[n] \
	                  " (move it past the numbers in use)"; \
	              bad = 1 } \
	          exit bad }' src/next-logno -

clean-unit:
	rm -f $(UNIT_BINS) t/fuzz/replay_*

clean:
	rm -rf .libs *.la *.lo *.slo *.o src/.libs src/*.la src/*.lo src/*.slo \
	    src/*.o mod_tracfcgi.so $(UNIT_BINS) t/fuzz/replay_* $(APPS)
