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
SOVERSION   := 0
# Tools and examples see only the public headers (include/); the library,
# the daemon and the tests also see src/.
CPPFLAGS += -D_GNU_SOURCE -DRDV_VERSION='"$(VERSION)"' -Iinclude -I$(BUILD)/gen -MMD -MP
INTERNAL := -Isrc
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
# Every layer but the daemon, for the daemon, tools and tests (internal).
LIB      := $(BUILD)/libcore.a
# The public client library: src/client/client.c and what it pulls in, with
# only the rdv_client_* symbols visible (-fvisibility=hidden plus
# RDV_CLIENT_API; the version script says the same to the linker).
SHLIB    := $(BUILD)/librendezvous.so.$(VERSION)
STLIB    := $(BUILD)/librendezvous.a
CLIENT_MAP := src/client/librendezvous.map
# The files that define the API; what they need comes from $(LIB).
CLIENT_API := $(BUILD)/src/client/client.o $(BUILD)/src/client/keys.o
DAEMON   := $(BUILD)/rendezvousd
DAEMON_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/daemon/*.c))
RDV      := $(BUILD)/rdv
RDV_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/rdv/*.c))
BENCH    := $(BUILD)/rdv-bench
# What rdv-bench and rdv-attack share (reading /proc about the daemon).
TOOLS_LIB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/lib/*.c))
# rdv-bench talks to a server through the public API only.
BENCH_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/rdv-bench/*.c)) $(TOOLS_LIB_OBJ)
# rdv-microbench times the server's own code in this process (registry, push
# sessions, the store): like the unit tests it sees src/ and links the
# internal library; it borrows rdv-bench's options, table and server start-up.
MICROBENCH := $(BUILD)/rdv-microbench
MICROBENCH_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/bench/*.c))
PROBE    := $(BUILD)/tests/rdv-probe
PROBE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/probe/*.c))
ATTACK   := $(BUILD)/rdv-attack
ATTACK_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/adversarial/*.c)) $(TOOLS_LIB_OBJ)
# Unit tests mirror the tree (tests/unit/<layer>/test_*.c); each binary is
# $(BUILD)/tests/test_* whatever its folder.
UNIT_SRC := $(wildcard tests/unit/test_*.c tests/unit/*/test_*.c)
UNIT_BIN := $(addprefix $(BUILD)/tests/,$(basename $(notdir $(UNIT_SRC))))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

.PHONY: FORCE all deps run check bench stress fuzz fuzz-targets coverage install uninstall clean help
.DEFAULT_GOAL := all
FORCE:
.SECONDARY:

all: $(DAEMON) $(RDV) $(SHLIB) $(STLIB) $(UNIT_BIN) $(PROBE) $(ATTACK) $(BENCH) $(MICROBENCH) ## build the daemon, the rdv client, librendezvous, the tests and the benchmarks

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(@D)
	protoc-c -Iproto --c_out=$(BUILD)/gen $<

# Library objects go into the shared library too: position-independent,
# symbols hidden unless marked RDV_CLIENT_API.
$(LIB_OBJ): OBJFLAGS := -fPIC -fvisibility=hidden

$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c | $(GEN_H)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(OBJFLAGS) -Wno-unused-parameter -c $< -o $@

$(BUILD)/src/%.o: src/%.c | $(GEN_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INTERNAL) $(CFLAGS) $(OBJFLAGS) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c | $(GEN_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INTERNAL) -Itests/unit -Itools/lib $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.c | $(GEN_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INTERNAL) -Itools/lib $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# The libraries the client needs (the shared library records only those it
# uses: --as-needed).
CLIENT_LIBS := -lev -lprotobuf-c -lsodium -ljansson -lwslay -lhttp_parser -lssl -lcrypto -lm

$(SHLIB): $(CLIENT_API) $(LIB) $(CLIENT_MAP)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,librendezvous.so.$(SOVERSION) -Wl,--version-script=$(CLIENT_MAP) \
	  -Wl,--no-undefined $(CLIENT_API) $(LIB) -Wl,--as-needed $(CLIENT_LIBS) -o $@
	ln -sf $(notdir $@) $(BUILD)/librendezvous.so.$(SOVERSION)
	ln -sf librendezvous.so.$(SOVERSION) $(BUILD)/librendezvous.so

# One relocatable object with the internal symbols made local, so a program
# linking the archive statically meets only rdv_client_* as well.
$(STLIB): $(CLIENT_API) $(LIB)
	$(LD) -r -o $(BUILD)/librendezvous.o $(CLIENT_API) $(LIB)
	objcopy --localize-hidden $(BUILD)/librendezvous.o
	@rm -f $@
	$(AR) rcs $@ $(BUILD)/librendezvous.o

# Regenerated every time: it records PREFIX.
$(BUILD)/rendezvous.pc: src/client/rendezvous.pc.in FORCE
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	  -e 's|@VERSION@|$(VERSION)|g' -e 's|@LIBS_PRIVATE@|$(filter-out -lev,$(CLIENT_LIBS))|g' $< >$@

$(DAEMON): $(DAEMON_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# rdv and rdv-bench are built on the public header only (no -Isrc), linked
# with the static librendezvous.a.
$(BUILD)/tools/%.o: tools/%.c | $(GEN_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itools/lib -Itools/rdv-bench $(CFLAGS) -c $< -o $@

$(RDV): $(RDV_OBJ) $(STLIB)
	$(CC) $(LDFLAGS) $^ $(CLIENT_LIBS) -o $@

$(PROBE): $(PROBE_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BENCH): $(BENCH_OBJ) $(STLIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(MICROBENCH_OBJ): CPPFLAGS += -Itools/rdv-bench

$(MICROBENCH): $(MICROBENCH_OBJ) $(BUILD)/tools/rdv-bench/util.o $(TOOLS_LIB_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(ATTACK): $(ATTACK_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

define unit_rule
$(BUILD)/tests/$(basename $(notdir $(1))): $(BUILD)/$(1:.c=.o) $(LIB)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) $$^ $$(LDLIBS) -lcmocka -o $$@
endef
$(foreach s,$(UNIT_SRC),$(eval $(call unit_rule,$(s))))

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
	@$(MAKE) --no-print-directory all
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
	$(CC) $(CPPFLAGS) $(INTERNAL) $(CFLAGS) -fsanitize=fuzzer $< $(LIB) $(LDLIBS) -o $@

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
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/rendezvousd
UNITDIR    ?= $(PREFIX)/lib/systemd/system
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
CONF       := $(DESTDIR)$(SYSCONFDIR)/rendezvousd/rendezvousd.conf

install: $(DAEMON) $(RDV) $(SHLIB) $(STLIB) $(BUILD)/rendezvous.pc ## install binaries, librendezvous (library, headers, rendezvous.pc), man pages, configuration and systemd unit under DESTDIR/PREFIX
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR) $(dir $(CONF)) \
	  $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/rendezvous
	install -m 0755 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SHLIB)) $(DESTDIR)$(LIBDIR)/librendezvous.so.$(SOVERSION)
	ln -sf librendezvous.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/librendezvous.so
	install -m 0644 $(STLIB) $(DESTDIR)$(LIBDIR)/
	install -m 0644 include/rendezvous/*.h $(DESTDIR)$(INCLUDEDIR)/rendezvous/
	install -m 0644 $(BUILD)/rendezvous.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
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
	  $(DESTDIR)$(DOCDIR)/rendezvousd.conf.example $(DESTDIR)$(UNITDIR)/rendezvousd.service \
	  $(DESTDIR)$(LIBDIR)/$(notdir $(SHLIB)) $(DESTDIR)$(LIBDIR)/librendezvous.so.$(SOVERSION) \
	  $(DESTDIR)$(LIBDIR)/librendezvous.so $(DESTDIR)$(LIBDIR)/librendezvous.a \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/rendezvous.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/rendezvous

clean: ## remove build outputs (BUILD: build, build-san with SAN=1, build-cov with COVERAGE=1; and the fuzz build)
	rm -rf $(BUILD) $(FUZZ_BUILD)

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | sed -e 's/:.*## /\t/' | expand -t 10

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
