# gemini-balance - plain make, no autotools.
#
#   make              build the tools into build/bin
#   make check        build, install missing test dependencies, run every test
#   make check SANITIZE=1   the same with ASan+UBSan, built into build-san/
#   make run          serve on 127.0.0.1:8000 from .env
#   make bench        measure against an nginx floor (bench/RESULTS.md)
#   make install      PREFIX, MANPREFIX, DESTDIR as usual

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANPREFIX  ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
CC         ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS     ?= -O2 -g
LDFLAGS    ?=

WARN = -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
       -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wformat=2 \
       -Wno-format-nonliteral
ifneq ($(CI),)
WARN += -Werror
endif

ifeq ($(SANITIZE),1)
B = build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
else
B = build
SANFLAGS =
endif

DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcurl jansson libsystemd 2>/dev/null)
DEP_LIBS   := $(shell $(PKG_CONFIG) --libs libcurl jansson libsystemd 2>/dev/null)
# MP3 encoding for /v1/audio/speech (lib/audio.c): LAME has no .pc file
# on every system, so it is named directly
DEP_LIBS   += -lmp3lame
# The shared key state on Redis (lib/redis.c): Debian's hiredis 0.14
DEP_LIBS   += -lhiredis

ALL_CFLAGS  = $(WARN) -pthread -D_GNU_SOURCE -Ilib $(DEP_CFLAGS) $(CFLAGS) $(SANFLAGS) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS) -pthread -Wl,--as-needed

LIB_SRC  = $(sort $(wildcard lib/*.c))
LIB_OBJ  = $(LIB_SRC:lib/%.c=$(B)/lib/%.o)
TOOL_SRC = $(sort $(wildcard bin/*.c))
TOOLS    = $(TOOL_SRC:bin/%.c=$(B)/bin/%)
MANS     = $(sort $(wildcard man/*.[1-8]))
UNITS    = $(sort $(wildcard systemd/*.socket systemd/*.service systemd/*.timer))

all: $(TOOLS)

$(B)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/obj/%.o: bin/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libgb.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

$(B)/bin/%: $(B)/obj/%.o $(B)/libgb.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(B)/libgb.a $(DEP_LIBS)

# gb-serve's own modules (bin/gb-serve/): the loop, the routes, the
# hosts; linked into gb-serve alone.
SERVE_SRC = $(sort $(wildcard bin/gb-serve/*.c))
SERVE_OBJ = $(SERVE_SRC:bin/gb-serve/%.c=$(B)/serve/%.o)

$(B)/serve/%.o: bin/gb-serve/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/bin/gb-serve: $(B)/obj/gb-serve.o $(SERVE_OBJ) $(B)/libgb.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(SERVE_OBJ) $(B)/libgb.a $(DEP_LIBS)

-include $(LIB_OBJ:.o=.d) $(TOOL_SRC:bin/%.c=$(B)/obj/%.d)
-include $(SERVE_OBJ:.o=.d)

# Test dependencies are installed only when something is missing.
deps:
	@sh tests/deps.sh

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory lint
	GB_BIN=$(CURDIR)/$(B)/bin SANITIZE=$(SANITIZE) bash tests/bats.sh tests

# The unit-level tools under valgrind (tests that cannot run under it
# skip themselves when GB_VALGRIND is set).
VALGRIND_TESTS ?= $(sort $(wildcard tests/config.bats tests/gb-convert*.bats \
	tests/gb-sse*.bats tests/gb-keys*.bats tests/gb-call*.bats \
	tests/gb-hosts.bats))
check-valgrind: deps
	@$(MAKE) --no-print-directory all
	sh tests/valgrind.sh $(CURDIR)/$(B)/bin $(VALGRIND_TESTS)

# gb-serve under load with faults: 200 clients, a tenth hanging up, an
# upstream failing a quarter of the calls (tests/load.sh).
check-load: all
	sh tests/load.sh $(CURDIR)/$(B)/bin

# Build the Dockerfile with podman and try the image (slow: not in check).
check-docker:
	bash tests/docker.sh

# compose.yaml's two servers and Redis with podman-compose (slow: not in check).
check-compose:
	bash tests/compose.sh

lint:
	@if [ -n "$(MANS)" ]; then \
		out=$$(mandoc -Tlint -Wwarning $(MANS) 2>&1); \
		if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; \
		echo "mandoc -Tlint: $(words $(MANS)) pages clean"; fi
	@# what man(1) shows with groff: a header that names no other system
	@if [ -n "$(MANS)" ] && command -v groff >/dev/null; then \
		for m in $(MANS); do \
			groff -mdoc -Tutf8 $$m 2>/dev/null | head -n 1 | \
			    grep -q 'BSD' && { echo "$$m: groff heads it BSD"; exit 1; }; \
		done; echo "groff: $(words $(MANS)) page headers name no other system"; fi
	@if [ -n "$(UNITS)" ]; then sh tests/verify-units.sh $(UNITS); fi

.PHONY: bench
bench: all
	@bash bench/run.sh $(CURDIR)/$(B)/bin

run: all
	@sh tests/run.sh $(CURDIR)/$(B)/bin

install: all
	install -d $(DESTDIR)$(BINDIR)
	for t in $(TOOLS); do install -m 755 $$t $(DESTDIR)$(BINDIR)/; done
	for m in $(MANS); do s=$${m##*.}; install -d $(DESTDIR)$(MANPREFIX)/man$$s; \
		install -m 644 $$m $(DESTDIR)$(MANPREFIX)/man$$s/; done
	if [ -n "$(UNITS)" ]; then install -d $(DESTDIR)$(UNITDIR); \
		for u in $(UNITS); do sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/usr/local/share/man/|$(MANPREFIX)/|g' $$u \
		> $(DESTDIR)$(UNITDIR)/$${u##*/}; done; fi

uninstall:
	for t in $(TOOLS); do rm -f $(DESTDIR)$(BINDIR)/$${t##*/}; done
	for m in $(MANS); do s=$${m##*.}; rm -f $(DESTDIR)$(MANPREFIX)/man$$s/$${m##*/}; done
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$${u##*/}; done

# libFuzzer harnesses (clang): tests/fuzz/fuzz_<name>.c with seeds in
# tests/fuzz/corpus/<name>/; FUZZ_TIME seconds each.
FUZZ_CC   ?= clang
FUZZ_TIME ?= 30
FUZZ_SRC   = $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZERS    = $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)

build-fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(wildcard lib/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) -g -O1 -std=c11 -D_GNU_SOURCE -Ilib $(DEP_CFLAGS) \
		-fsanitize=fuzzer,address,undefined -o $@ $< $(LIB_SRC) $(DEP_LIBS)

fuzz:
	@sh tests/deps.sh fuzz
	@$(MAKE) --no-print-directory $(FUZZERS)
	@sh tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZERS)

clean:
	rm -rf build build-san build-fuzz

.PHONY: all check check-valgrind check-load check-docker check-compose deps lint run install uninstall clean fuzz
.SECONDARY:
