# rendezvousd — `make help` lists the targets.
#
# Variables: BUILD (output folder), SAN=1 (ASan+UBSan build in build-san),
# COVERAGE=1 (gcc --coverage build in build-cov; `make coverage` uses it),
# PREFIX/DESTDIR (install; also BINDIR, MANDIR, SYSCONFDIR, UNITDIR, DOCDIR),
# FUZZ_SECONDS (per fuzz target), STRICT=1 (warnings are errors; also when
# CI=true), CFLAGS/LDFLAGS/LDLIBS (added to), KEY and ARGS (make run).

SAN          ?=
COVERAGE     ?=
ifeq ($(SAN),1)
BUILD        ?= build-san
else ifeq ($(COVERAGE),1)
BUILD        ?= build-cov
else
BUILD        ?= build
endif
CC           ?= cc
PREFIX       ?= /usr/local
DESTDIR      ?=
FUZZ_SECONDS ?= 20
VERSION      := 0.1.0

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers
# A newer compiler's new warning must not break a user's build; CI and
# developers (STRICT=1) keep every warning an error.
ifneq ($(filter 1,$(STRICT))$(filter true,$(CI)),)
WARN     += -Werror
endif
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 $(WARN) -fno-strict-aliasing
CPPFLAGS += -D_GNU_SOURCE -DRDV_VERSION='"$(VERSION)"' -Isrc -I$(BUILD)/gen -MMD -MP
LDLIBS   += -lhiredis -lev -lprotobuf-c -lsodium -ljansson -linih -lwslay -lhttp_parser -llmdb -lssl -lcrypto -lpthread -lm
ifeq ($(SAN),1)
CFLAGS   += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif
ifeq ($(COVERAGE),1)
CC       := gcc
CFLAGS   += -O0 --coverage
LDFLAGS  += --coverage
endif

PROTOS   := $(wildcard proto/*.proto)
GEN_C    := $(PROTOS:proto/%.proto=$(BUILD)/gen/%.pb-c.c)
GEN_H    := $(GEN_C:.c=.h)
LIB_SRC  := $(filter-out src/daemon/%,$(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(GEN_C:.c=.o)
LIB      := $(BUILD)/librendezvous.a
DAEMON   := $(BUILD)/rendezvousd
DAEMON_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/daemon/*.c))
RDV      := $(BUILD)/rdv
RDV_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/rdv/*.c))
BENCH    := $(BUILD)/rdv-bench
BENCH_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/rdv-bench/*.c))
PROBE    := $(BUILD)/tests/rdv-probe
PROBE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/probe/*.c))
ATTACK   := $(BUILD)/rdv-attack
ATTACK_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/adversarial/*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

.PHONY: all deps run check bench stress fuzz fuzz-targets coverage install uninstall clean help
.DEFAULT_GOAL := all
.SECONDARY:

all: $(DAEMON) $(RDV) $(UNIT_BIN) $(PROBE) $(ATTACK) ## build the daemon, the rdv client and the tests

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(@D)
	protoc-c -Iproto --c_out=$(BUILD)/gen $<

$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c | $(GEN_H)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-unused-parameter -c $< -o $@

$(BUILD)/%.o: %.c | $(GEN_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(DAEMON): $(DAEMON_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(RDV): $(RDV_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(PROBE): $(PROBE_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BENCH): $(BENCH_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(ATTACK): $(ATTACK_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

deps: ## install missing Debian and npm packages
	@tools/install-deps.sh

KEY ?= rendezvousd.key
run: deps ## install, build the daemon and rdv, start the daemon (in-memory registry) and print its multiaddrs
	@$(MAKE) -s --no-print-directory $(DAEMON) $(RDV)
	@echo "rendezvousd runs in this terminal until Ctrl-C; use $(RDV) in a second terminal."
	@$(DAEMON) --key $(KEY) $(ARGS)

check: deps ## install, build, run every test (unit, integration, interop)
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/run.sh

bench: deps ## run the benchmarks (quick sizes, < 5 min) and print the table
	@$(MAKE) --no-print-directory all $(BENCH)
	@BUILD=$(BUILD) tools/bench.sh

stress: deps ## run every attack scenario at full size against the daemon (see HARDENING.md)
	@$(MAKE) --no-print-directory $(DAEMON) $(ATTACK)
	$(ATTACK) --full

# libFuzzer targets need clang; they are built in their own folder.
FUZZ_BUILD := build-fuzz
fuzz: deps ## build every fuzz target and run each for FUZZ_SECONDS
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
	  CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" fuzz-targets
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-targets: $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer $< $(LIB) $(LDLIBS) -o $@

# Line and branch coverage of src/ under the whole suite: a gcc --coverage
# build in its own folder, its counters reset, `make check`'s runner against
# it (daemons stop with SIGTERM, so they write their counters), then gcovr.
COV_BUILD := build-cov
coverage: deps ## line and branch coverage of src/ under the whole test suite (gcc --coverage, gcovr)
	@$(MAKE) --no-print-directory COVERAGE=1 BUILD=$(COV_BUILD) all
	@find $(COV_BUILD) -name '*.gcda' -delete
	@BUILD=$(COV_BUILD) tests/run.sh; rc=$$?; \
	  gcovr -r . -f 'src/' --json $(COV_BUILD)/coverage.json $(COV_BUILD) && \
	  gcovr -a $(COV_BUILD)/coverage.json --html-details $(COV_BUILD)/coverage.html && \
	  echo && echo "== lines" && gcovr -a $(COV_BUILD)/coverage.json --txt && \
	  echo "== branches" && gcovr -a $(COV_BUILD)/coverage.json --txt -b && \
	  echo "Details: $(COV_BUILD)/coverage.html" || rc=1; \
	  exit $$rc

# Install locations. The configuration goes to /etc for PREFIX=/usr (a
# distribution layout), else under the prefix.
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/rendezvousd
UNITDIR    ?= $(PREFIX)/lib/systemd/system
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
CONF       := $(DESTDIR)$(SYSCONFDIR)/rendezvousd/rendezvousd.conf

install: $(DAEMON) $(RDV) ## install binaries, man pages, configuration and systemd unit under DESTDIR/PREFIX
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR) $(dir $(CONF))
	install -m 0755 $(DAEMON) $(RDV) $(DESTDIR)$(BINDIR)/
	install -m 0644 man/rdv.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/rendezvousd.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/rendezvousd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 etc/rendezvousd.conf $(DESTDIR)$(DOCDIR)/rendezvousd.conf.example
	@# An operator's configuration is never replaced.
	test -e $(CONF) || install -m 0644 etc/rendezvousd.conf $(CONF)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' etc/rendezvousd.service \
	  >$(DESTDIR)$(UNITDIR)/rendezvousd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/rendezvousd.service

uninstall: ## remove what install put under DESTDIR/PREFIX (the configuration stays)
	rm -f $(DESTDIR)$(BINDIR)/rendezvousd $(DESTDIR)$(BINDIR)/rdv $(DESTDIR)$(MANDIR)/man1/rdv.1 \
	  $(DESTDIR)$(MANDIR)/man5/rendezvousd.conf.5 $(DESTDIR)$(MANDIR)/man8/rendezvousd.8 \
	  $(DESTDIR)$(DOCDIR)/rendezvousd.conf.example $(DESTDIR)$(UNITDIR)/rendezvousd.service

clean: ## remove build outputs (BUILD: build, build-san with SAN=1, build-cov with COVERAGE=1; and the fuzz build)
	rm -rf $(BUILD) $(FUZZ_BUILD)

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | sed -e 's/:.*## /\t/' | expand -t 10

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
