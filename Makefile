# SPDX-License-Identifier: MIT
# upgate: one non-recursive Makefile. Objects in build/, binaries in bin/.

CC       ?= cc
PKGS     := libmicrohttpd jansson sqlite3 libpq inih libsodium libcurl \
	libesmtp-1.0 libsystemd gnutls
TEST_PKGS := cmocka
DEB_PKGS := build-essential pkg-config libmicrohttpd-dev libgnutls28-dev \
	libcurl4-openssl-dev \
	libsqlite3-dev libjansson-dev libesmtp-dev libcmocka-dev libsodium-dev \
	libinih-dev libarchive-dev libzstd-dev zstd libsystemd-dev python3-aiosmtpd curl jq sqlite3 \
	libpq-dev postgresql postgresql-contrib nginx-light prometheus \
	prometheus-alertmanager debhelper lintian python3-jsonschema python3-yaml \
	clang libclang-rt-14-dev \
	openssl systemd python3-nacl valgrind wrk

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 -Wvla
WERROR   ?= -Werror
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(WARN) $(WERROR) \
	-fstack-protector-strong -Iinclude -MMD -MP
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -O1
LDFLAGS  += -fsanitize=$(SANITIZE)
BUILD    ?= build/san
else
CFLAGS   += -D_FORTIFY_SOURCE=2
BUILD    ?= build/rel
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS   += $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lpthread -lm
# libESMTP's STARTTLS runs on OpenSSL.
MGMT_LIBS := -lssl -lcrypto

COMMON_SRC  := $(wildcard src/common/*.c)
GATEWAY_SRC := $(wildcard src/gateway/*.c)
COMMON_OBJ  := $(COMMON_SRC:%.c=$(BUILD)/%.o)
GATEWAY_OBJ := $(GATEWAY_SRC:%.c=$(BUILD)/%.o)
GATEWAY_LIB := $(filter-out $(BUILD)/src/gateway/main.o,$(GATEWAY_OBJ))
MGMT_SRC    := $(wildcard src/mgmt/*.c)
# The dashboard (web/) is compiled into mgmtd by tools/embed.sh.
WEB_FILES   := web/index.html web/app.js web/app.css web/favicon.svg
MGMT_OBJ    := $(MGMT_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/web_assets.o
MGMT_LIB    := $(filter-out $(BUILD)/src/mgmt/main.o,$(MGMT_OBJ))
LAUNCH_SRC  := $(wildcard src/launcher/*.c)
LAUNCH_OBJ  := $(LAUNCH_SRC:%.c=$(BUILD)/%.o)
LAUNCH_LIB  := $(filter-out $(BUILD)/src/launcher/main.o,$(LAUNCH_OBJ))
# Delta patches (libarchive, libzstd): the launcher applies them,
# upgatectl makes them; the daemons never touch either library.
DELTA_SRC   := $(wildcard src/delta/*.c)
DELTA_OBJ   := $(DELTA_SRC:%.c=$(BUILD)/%.o)
DELTA_LIBS   = $(shell pkg-config --libs libarchive libzstd 2>/dev/null)
# Only the launcher unpacks tarballs.
LAUNCH_LIBS  = $(DELTA_LIBS)
CTL_SRC     := $(wildcard src/ctl/*.c)
CTL_OBJ     := $(CTL_SRC:%.c=$(BUILD)/%.o)

BINDIR   ?= bin
BINS     := $(BINDIR)/upgate-gatewayd $(BINDIR)/upgate-mgmtd \
	$(BINDIR)/upgate-launch $(BINDIR)/upgatectl

UNIT_SRC := $(wildcard tests/common/test_*.c tests/gateway/test_*.c \
	tests/mgmt/test_*.c tests/launcher/test_*.c tests/delta/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/%.c=$(BUILD)/tests/%)

# Where `make install` puts things (DESTDIR is prepended to each).
PREFIX      ?= /usr/local
bindir      ?= $(PREFIX)/bin
sbindir     ?= $(PREFIX)/sbin
mandir      ?= $(PREFIX)/share/man
docdir      ?= $(PREFIX)/share/doc/upgate
unitdir     ?= $(PREFIX)/lib/systemd/system
sysusersdir ?= $(PREFIX)/lib/sysusers.d
sysconfdir  ?= /etc
# install: make the two secrets when missing (a package makes them in its
# postinst instead: SECRETS=no)
SECRETS     ?= yes

.PHONY: all deps openapi-deps browser-deps run check unit integration clean install uninstall deb \
	fuzz fuzz-build fuzz-bins valgrind soak bench bench-smoke bench-delta \
	bench-growth
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/gen/web_assets.c: $(WEB_FILES) tools/embed.sh
	@mkdir -p $(dir $@)
	sh tools/embed.sh $(WEB_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	$(CC) $(CFLAGS) -Isrc/mgmt -c -o $@ $<

$(BINDIR)/upgate-gatewayd: $(GATEWAY_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BINDIR)/upgate-mgmtd: $(MGMT_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MGMT_LIBS)

$(BINDIR)/upgate-launch: $(LAUNCH_OBJ) $(DELTA_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(LAUNCH_LIBS)

$(BINDIR)/upgatectl: $(CTL_OBJ) $(DELTA_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(DELTA_LIBS)

$(BUILD)/tests/common/%: tests/common/%.c $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags cmocka) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) \
		$(LDLIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/tests/gateway/%: tests/gateway/%.c $(GATEWAY_LIB) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc/gateway $(shell pkg-config --cflags cmocka) $(LDFLAGS) \
		-o $@ $(filter %.c %.o,$^) $(LDLIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/tests/mgmt/%: tests/mgmt/%.c $(MGMT_LIB) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc/mgmt $(shell pkg-config --cflags cmocka) $(LDFLAGS) \
		-o $@ $(filter %.c %.o,$^) $(LDLIBS) $(MGMT_LIBS) \
		$(shell pkg-config --libs cmocka)

$(BUILD)/tests/delta/%: tests/delta/%.c $(DELTA_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags cmocka) $(LDFLAGS) -o $@ \
		$(filter %.c %.o,$^) $(LDLIBS) $(DELTA_LIBS) \
		$(shell pkg-config --libs cmocka)

$(BUILD)/tests/launcher/%: tests/launcher/%.c $(LAUNCH_LIB) $(DELTA_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc/launcher $(shell pkg-config --cflags cmocka) \
		$(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS) $(LAUNCH_LIBS) \
		$(shell pkg-config --libs cmocka)

# libFuzzer harnesses (tests/fuzz/fuzz_NAME.c), built with clang from
# objects instrumented in build/fuzzobj. A harness that #includes a
# handler's .c (to reach its static parser) links everything but that
# object. `make fuzz` runs each for FUZZ_SECONDS; check runs them briefly.
FUZZERS      := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BUILD   := build/fuzzobj
FUZZ_SECONDS ?= 60
FUZZ_LINK_semver  = $(COMMON_OBJ)
FUZZ_LINK_cfg     = $(GATEWAY_LIB) $(COMMON_OBJ)
FUZZ_LINK_launch  = $(filter-out %/h_launch.o,$(GATEWAY_LIB)) $(COMMON_OBJ)
FUZZ_LINK_report  = $(filter-out %/h_upgrade.o,$(GATEWAY_LIB)) $(COMMON_OBJ)
FUZZ_LINK_publish = $(filter-out %/h_release.o %/h_rollback.o,$(GATEWAY_LIB)) \
	$(COMMON_OBJ)
FUZZ_LINK_ingest  = $(filter-out %/h_ingest.o,$(MGMT_LIB)) $(COMMON_OBJ)
FUZZ_LINK_offer   = $(LAUNCH_LIB) $(DELTA_OBJ) $(COMMON_OBJ)
FUZZ_LINK_delta   = $(DELTA_OBJ) $(COMMON_OBJ)

.SECONDEXPANSION:
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_LINK_$$*)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LINK_$*) $(LDLIBS) \
		$(MGMT_LIBS) $(LAUNCH_LIBS)

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
		SANITIZE=fuzzer-no-link,address,undefined fuzz-bins

fuzz-bins: $(FUZZERS:%=$(BUILD)/fuzz/fuzz_%)

# New inputs go to build/fuzz-corpus/NAME; the seeds stay in the repo.
fuzz: fuzz-build
	@for f in $(FUZZERS); do \
		mkdir -p build/fuzz-corpus/$$f; \
		echo "== fuzz_$$f ($(FUZZ_SECONDS) s)"; \
		$(FUZZ_BUILD)/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) \
			-max_len=65536 -print_final_stats=1 \
			build/fuzz-corpus/$$f tests/fuzz/corpus/$$f \
			> build/fuzz-corpus/$$f.log 2>&1 || \
			{ tail -40 build/fuzz-corpus/$$f.log; exit 1; }; \
		grep -E '^stat::number_of_executed_units' build/fuzz-corpus/$$f.log; \
	done

# The integration suite with every daemon under valgrind memcheck (release
# build): fails on any memory error or leak definitely lost.
valgrind: all
	@rm -rf build/valgrind
	-UPGATE_VALGRIND=$(abspath build/valgrind) UPGATE_BIN=$(abspath bin) \
		/usr/bin/python3 -m unittest discover -s tests/integration -p 'test_*.py'
	@if grep -l . build/valgrind/*.log 2>/dev/null; then \
		echo "valgrind: errors or definite leaks in the logs above"; exit 1; fi
	@echo "valgrind: $$(ls build/valgrind | wc -l) daemon runs, no errors, no definite leaks"

# Both daemons under steady load for SOAK_SECONDS (600); RSS must stay flat.
soak: all
	UPGATE_BIN=$(abspath bin) /usr/bin/python3 tests/soak/soak.py

# Speed: the release daemons under wrk beside a minimal MHD+jansson
# server (bench/ceiling, also the single-row durable baseline and a bare
# group-commit prototype), one table and bench/results/latest.json;
# docs/performance.md reads it. PEER=hazel
# adds hazel-server (bench/peer, npm ci when missing). bench-smoke: a
# second per scenario, failing on any error; part of make check.
$(BUILD)/bench/ceiling: bench/ceiling/ceiling.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

PEER ?=
BACKEND ?= sqlite
bench: deps all $(BUILD)/bench/ceiling
	@if [ "$(BACKEND)" = postgres ]; then \
		UPGATE_BIN=$(abspath bin) /usr/bin/python3 bench/bench_pg.py; exit $$?; fi
	@if [ "$(PEER)" = hazel ]; then \
		if ! command -v npm >/dev/null && [ "$$(id -u)" = 0 ]; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm >/dev/null; fi; \
		[ -d bench/peer/node_modules/hazel-server ] || \
			(cd bench/peer && npm ci --no-audit --no-fund >/dev/null); fi
	PEER=$(PEER) UPGATE_BIN=$(abspath bin) /usr/bin/python3 bench/bench.py

# Delta upgrades on real releases fetched from the npm registry, beside
# the zstd command line on the same pairs (bench/bench_delta.py).
$(BUILD)/bench/delta_bench: bench/delta_bench.c $(LAUNCH_LIB) $(DELTA_OBJ) \
		$(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc/launcher $(LDFLAGS) -o $@ \
		$(filter %.c %.o,$^) $(LDLIBS) $(LAUNCH_LIBS)

bench-delta: deps all $(BUILD)/bench/delta_bench
	@if ! command -v npm >/dev/null && [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm >/dev/null; fi
	DELTA_BENCH=$(abspath $(BUILD)/bench/delta_bench) /usr/bin/python3 bench/bench_delta.py

# Cost as the data grows: both daemons at 0, 1M and 10M upgrades and
# outcomes (GROWTH_SIZES), each figure against an empty pair in the same
# rounds (bench/growth.py). BACKEND=postgres on a throwaway cluster.
bench-growth: deps all
	GROWTH_BACKEND=$(BACKEND) UPGATE_BIN=$(abspath bin) /usr/bin/python3 bench/growth.py

bench-smoke: deps all $(BUILD)/bench/ceiling
	BENCH_SMOKE=1 UPGATE_BIN=$(abspath bin) /usr/bin/python3 bench/bench.py

# Install the Debian packages the build and the tests need, when missing.
deps:
	@missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "deps: installing $$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; }; \
	else \
		echo "deps: missing packages; run as root:"; \
		echo "  apt-get install -y $$missing"; exit 1; \
	fi
	@$(MAKE) --no-print-directory openapi-deps

# Redocly's OpenAPI validator (tools/openapi/package-lock.json), which
# tests/integration/test_openapi.py runs on docs/*.openapi.yaml.
openapi-deps:
	@if ! command -v npm >/dev/null && [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm >/dev/null; fi
	@if [ ! -x tools/openapi/node_modules/.bin/redocly ]; then \
		echo "deps: npm ci in tools/openapi"; \
		(cd tools/openapi && npm ci --no-audit --no-fund >/dev/null 2>&1); fi

# Start the gateway in the foreground on loopback with state under ./var/.
run: deps
	@$(MAKE) --no-print-directory all
	@sh etc/dev-run.sh

# The dashboard's browser test needs Debian's Chromium and playwright-core
# (tests/browser/package-lock.json); installed when missing. Where that
# cannot be done the test is skipped and says why; nothing else depends
# on it.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "browser-deps: installing chromium"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null || \
			{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y chromium >/dev/null; } || \
			echo "browser-deps: chromium cannot be installed: the browser test will be skipped"; \
		else echo "browser-deps: not root, chromium missing: the browser test will be skipped"; fi; \
	fi
	@if ! command -v npm >/dev/null && [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm >/dev/null || true; fi
	@if command -v npm >/dev/null && [ ! -d tests/browser/node_modules/playwright-core ]; then \
		echo "browser-deps: npm ci in tests/browser"; \
		(cd tests/browser && npm ci --no-audit --no-fund >/dev/null) || \
		echo "browser-deps: playwright-core cannot be installed: the browser test will be skipped"; \
	fi

# Every test: unit tests and integration tests, built with ASan and UBSan,
# then each fuzzer for a short while so a crash it finds fails the check
# (the corpus in build/fuzz-corpus grows from run to run; `make fuzz`
# runs each for longer).
FUZZ_CHECK_SECONDS ?= 10
check: deps browser-deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined BINDIR=build/san/bin unit integration
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_CHECK_SECONDS)
	@$(MAKE) --no-print-directory bench-smoke

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do \
		echo "== $$t"; $$t > $$t.log 2>&1 || { fail=1; cat $$t.log; }; \
		grep -E '^\[  (PASSED|FAILED)' $$t.log; done; exit $$fail

# The daemons' tests run again on PostgreSQL (a throwaway server the
# tests start and stop, tests/integration/pglib.py), beside the tests of
# several gateways and several mgmtd sharing one database.
PG_TESTS := test_gateway.py test_mgmt.py test_dashboard.py test_delta.py test_access.py
integration: $(BINS)
	UPGATE_BIN=$(abspath $(BINDIR)) /usr/bin/python3 -m unittest discover \
		-s tests/integration -p 'test_*.py' -v
	for t in $(PG_TESTS); do UPGATE_BACKEND=postgres UPGATE_BIN=$(abspath $(BINDIR)) \
		/usr/bin/python3 -m unittest discover -s tests/integration -p $$t -v \
		|| exit 1; done
	UPGATE_BIN=$(abspath $(BINDIR)) /usr/bin/python3 -m unittest discover \
		-s tests/faults -t tests/faults -p 'test_*.py' -v

# Install what `make` built (it does not build: `make check` installs its
# sanitized binaries with BINDIR=build/san/bin in tests). Configs and the
# two secrets are created only when missing; uninstall leaves them and the
# state in /var/lib/upgate alone.
install:
	@for b in $(BINS); do [ -x $$b ] || { echo "install: $$b is missing; run make first"; exit 1; }; done
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(sbindir) $(DESTDIR)$(mandir)/man1 \
		$(DESTDIR)$(mandir)/man8 $(DESTDIR)$(unitdir) $(DESTDIR)$(sysusersdir) \
		$(DESTDIR)$(docdir)/examples
	install -m 0755 $(BINDIR)/upgate-launch $(BINDIR)/upgatectl $(DESTDIR)$(bindir)/
	install -m 0755 $(BINDIR)/upgate-gatewayd $(BINDIR)/upgate-mgmtd $(DESTDIR)$(sbindir)/
	install -m 0644 docs/upgate-launch.1 docs/upgatectl.1 $(DESTDIR)$(mandir)/man1/
	install -m 0644 docs/upgate-gatewayd.8 docs/upgate-mgmtd.8 $(DESTDIR)$(mandir)/man8/
	for u in upgate-gatewayd upgate-mgmtd; do \
		sed -e 's|@sbindir@|$(sbindir)|g' -e 's|@sysconfdir@|$(sysconfdir)|g' \
			systemd/$$u.service.in > $(DESTDIR)$(unitdir)/$$u.service && \
		chmod 0644 $(DESTDIR)$(unitdir)/$$u.service || exit 1; done
	install -m 0644 systemd/upgate.sysusers $(DESTDIR)$(sysusersdir)/upgate.conf
	install -m 0644 etc/gateway.conf etc/mgmt.conf etc/launch.conf etc/upgatectl.conf \
		etc/upgate-launch.desktop $(DESTDIR)$(docdir)/examples/
	install -m 0644 docs/*.md docs/*.yaml $(DESTDIR)$(docdir)/
	install -d -m 0755 $(DESTDIR)$(sysconfdir)/upgate
	for c in gateway.conf mgmt.conf upgatectl.conf; do \
		[ -e $(DESTDIR)$(sysconfdir)/upgate/$$c ] || \
		install -m 0644 etc/$$c $(DESTDIR)$(sysconfdir)/upgate/$$c || exit 1; done
	[ "$(SECRETS)" != yes ] || { umask 077; for s in admin.token forward.secret; do \
		[ -e $(DESTDIR)$(sysconfdir)/upgate/$$s ] || \
		head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > \
			$(DESTDIR)$(sysconfdir)/upgate/$$s || exit 1; done; }
	@echo "installed under $(DESTDIR)$(PREFIX); as root next:" \
		"systemd-sysusers && systemctl daemon-reload &&" \
		"systemctl enable --now upgate-mgmtd upgate-gatewayd"

# A Debian package of the tracked files as they are now (debian/, with
# debhelper): build/deb/upgate_<version>_<arch>.deb.
deb:
	@command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null || \
		{ echo "deb: needs dpkg-dev and debhelper (make deps installs them)"; exit 1; }
	rm -rf build/deb && mkdir -p build/deb/upgate
	git ls-files -z | xargs -0 tar -cf - | tar -xf - -C build/deb/upgate
	cd build/deb/upgate && dpkg-buildpackage -us -uc -b
	@ls build/deb/*.deb

uninstall:
	rm -f $(DESTDIR)$(bindir)/upgate-launch $(DESTDIR)$(bindir)/upgatectl \
		$(DESTDIR)$(sbindir)/upgate-gatewayd $(DESTDIR)$(sbindir)/upgate-mgmtd \
		$(DESTDIR)$(mandir)/man1/upgate-launch.1 $(DESTDIR)$(mandir)/man1/upgatectl.1 \
		$(DESTDIR)$(mandir)/man8/upgate-gatewayd.8 $(DESTDIR)$(mandir)/man8/upgate-mgmtd.8 \
		$(DESTDIR)$(unitdir)/upgate-gatewayd.service $(DESTDIR)$(unitdir)/upgate-mgmtd.service \
		$(DESTDIR)$(sysusersdir)/upgate.conf
	rm -rf $(DESTDIR)$(docdir)
	@echo "left alone: $(DESTDIR)$(sysconfdir)/upgate (configs, secrets) and /var/lib/upgate (state)"

clean:
	rm -rf build bin

-include $(shell find build -path build/deb -prune -o -name '*.d' -type f -print 2>/dev/null)
