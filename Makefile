# Tegami - top-level, non-recursive Makefile (hand-written; configure writes config.mk).
#
#   make deps      install the Debian packages needed to build (idempotent)
#   make           build everything into build/ (-Wall -Wextra -Werror)
#   make run       deps + build + start the suite under ./run on 127.0.0.1:2525
#   make check     deps + build + every test, sanitizer pass included
#   make check-tls testssl.sh against every TLS listener of a sandbox (slow; not in check)
#   make bench     Tegami vs Postfix, side by side (see tests/bench/)
#   make fuzz      fuzz every parser for FUZZ_SECONDS each (needs clang++; tests/fuzz/)
#   make install   PREFIX=/usr/local DESTDIR=... (see doc/tegami-files.txt)
#   make clean
#
# Each program is the .cpp files of its folder (main.cpp holds main) linked with
# libtegami.a (lib/). Unit tests link every non-main object of every program.

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

SAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPTFLAGS = -O1 -g
else
BUILD ?= build
SANFLAGS =
OPTFLAGS = -O2 -g
endif

WRAPPER_GOALS := deps deps-test run check clean distclean help bench
ifeq ($(filter $(WRAPPER_GOALS),$(MAKECMDGOALS)),)
include config.mk
endif

CXXFLAGS_ALL = -std=c++20 $(OPTFLAGS) $(SANFLAGS) -Wall -Wextra -Werror -pipe -I. -MMD -MP \
	-DTEGAMI_SYSCONFDIR='"$(SYSCONFDIR)"' -DTEGAMI_LIBEXECDIR='"$(LIBEXECDIR)"' \
	-DTEGAMI_SBINDIR='"$(SBINDIR)"' \
	$(PKG_CFLAGS) $(CXXFLAGS)
# Full RELRO and immediate binding: hardening, and delivery children (forked per batch)
# do not pay the dynamic linker for symbols the parent never called.
LDFLAGS_ALL = $(SANFLAGS) -Wl,-z,relro,-z,now $(LDFLAGS)

# program name : source folder
PROGRAMS := tegami-master:smtpd/master tegami-smtpd:smtpd/server tegami-queue:queue \
	tegami-local:deliver/local tegami-remote:deliver/remote sendmail:msp/sendmail tegami-config:msp/config \
	tegami-auth:smtpd/auth tegami-passwd:msp/passwd
PROGRAMS += makemap:msp/makemap newaliases:msp/newaliases praliases:msp/praliases tegami:msp/tegami \
	editmap:msp/editmap

LIB_SRCS := $(sort $(wildcard lib/*/*.cpp))
LIB_OBJS := $(LIB_SRCS:%.cpp=$(BUILD)/obj/%.o)
LIB := $(BUILD)/libtegami.a

prog_name = $(word 1,$(subst :, ,$(1)))
prog_dir = $(word 2,$(subst :, ,$(1)))
BINS := $(foreach p,$(PROGRAMS),$(BUILD)/bin/$(call prog_name,$(p)))
PROG_NONMAIN_SRCS := $(sort $(foreach p,$(PROGRAMS),$(filter-out %/main.cpp,$(wildcard $(call prog_dir,$(p))/*.cpp))))
PROG_NONMAIN_OBJS := $(PROG_NONMAIN_SRCS:%.cpp=$(BUILD)/obj/%.o)

# Unit tests: one Criterion binary per area (tests/unit/<area>/...), linking libtegami.a
# and the non-main objects of that area's programs, so areas build independently.
UNIT_AREAS := lib smtpd queue deliver msp fuzz
area_srcs = $(sort $(shell find tests/unit/$(1) -name '*_test.cpp' 2>/dev/null))
area_prog_objs = $(patsubst %.cpp,$(BUILD)/obj/%.o,$(filter $(1)/%,$(PROG_NONMAIN_SRCS)))
# unit-fuzz runs the saved fuzz corpora (tests/fuzz/corpus/<target>/) through the fuzz
# targets themselves; the envelope decoder they cover lives in queue/.
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/*_fuzz.cpp))
area_prog_objs_fuzz = $(call area_prog_objs,queue) $(patsubst %.cpp,$(BUILD)/obj/%.o,$(filter msp/sendmail/%,$(PROG_NONMAIN_SRCS))) \
	$(FUZZ_SRCS:%.cpp=$(BUILD)/obj/%.o)
UNIT_BINS := $(foreach a,$(UNIT_AREAS),$(if $(call area_srcs,$(a)),$(BUILD)/tests/unit-$(a)))
INTEG_SRCS := $(sort $(wildcard tests/integration/*.cpp))
INTEG_OBJS := $(INTEG_SRCS:%.cpp=$(BUILD)/obj/%.o)
INTEG_BIN := $(BUILD)/tests/integration-tests

.PHONY: all deps deps-test run check check-all lint tidy clean distclean install bench help fuzz \
	test-unit test-integration test-interop test-crash test-root test-san check-tls
.DEFAULT_GOAL := all

all: $(BINS) $(BUILD)/tests/.built

$(BUILD)/tests/.built: $(UNIT_BINS) $(if $(INTEG_SRCS),$(INTEG_BIN))
	@touch $@

config.mk: configure config.mk.in
	./configure --quiet

configure: configure.ac
	autoconf -I /usr/share/aclocal

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -c $< -o $@

# The installation paths are compiled into the configuration defaults: rebuild that
# object when PREFIX, SYSCONFDIR or LIBEXECDIR change between two make runs.
PATHS_STAMP := $(BUILD)/paths-$(shell echo '$(SYSCONFDIR) $(LIBEXECDIR) $(SBINDIR)' | cksum | cut -d' ' -f1).stamp
$(PATHS_STAMP):
	@mkdir -p $(dir $@) && rm -f $(BUILD)/paths-*.stamp && touch $@
$(BUILD)/obj/lib/conf/params.o: $(PATHS_STAMP)

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

define PROGRAM_template
$(BUILD)/bin/$(call prog_name,$(1)): $(patsubst %.cpp,$(BUILD)/obj/%.o,$(wildcard $(call prog_dir,$(1))/*.cpp)) $(LIB)
	@mkdir -p $$(dir $$@)
	$$(CXX) $$(LDFLAGS_ALL) -o $$@ $$^ $$(PKG_LIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call PROGRAM_template,$(p))))

define UNIT_template
$(BUILD)/tests/unit-$(1): $(patsubst %.cpp,$(BUILD)/obj/%.o,$(call area_srcs,$(1))) $(call area_prog_objs,$(1)) $(area_prog_objs_$(1)) $(LIB)
	@mkdir -p $$(dir $$@)
	$$(CXX) $$(LDFLAGS_ALL) -o $$@ $$^ $$(PKG_LIBS) $$(CRITERION_LIBS)
endef
$(foreach a,$(UNIT_AREAS),$(eval $(call UNIT_template,$(a))))

$(INTEG_BIN): $(INTEG_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(CRITERION_LIBS)

# The bulk loader of tests/bench/deferred.sh (built on demand by that script, not by all).
$(BUILD)/tests/queue-fill: $(BUILD)/obj/tests/bench/queue_fill.o $(call area_prog_objs,queue) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

# The STARTTLS + AUTH PLAIN load generator of tests/bench/submission.sh (built on demand).
$(BUILD)/tests/submission-load: $(BUILD)/obj/tests/bench/submission_load.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) -pthread

# ---- wrappers: install packages first, then build and act (run in a fresh make so
# ---- that configure sees the installed packages)
deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run.sh

check: deps-test
	@$(MAKE) --no-print-directory check-all
# testssl.sh (Debian's testssl.sh) on the MTA, MSA and smtps listeners: minutes, so
# separate from check; fails on any MEDIUM/HIGH/CRITICAL finding.
check-tls: all
	@TEGAMI_BIN=$(CURDIR)/$(BUILD)/bin tests/tls/check_tls.sh

help:
	@sed -n '3,14p' Makefile

# ---- tests
check-all: all lint
	@scripts/check.sh

test-unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do echo "== $$t"; $$t --jobs 2 || exit 1; done

test-integration: all
	TEGAMI_BIN=$(CURDIR)/$(BUILD)/bin $(INTEG_BIN) --jobs 1

ALL_SRCS := $(shell find lib smtpd queue deliver msp tests -name '*.cpp' -o -name '*.hpp' 2>/dev/null | sort)
lint:
	@clang-format --dry-run --Werror $(ALL_SRCS)
	@echo "lint: clang-format clean ($(words $(ALL_SRCS)) files)"

TIDY_FLAGS = -std=c++20 -I. $(PKG_CFLAGS) $(CRITERION_CFLAGS) -DTEGAMI_SYSCONFDIR="\"/etc\"" -DTEGAMI_LIBEXECDIR="\"/usr/libexec\""
tidy: config.mk
	@printf '%s\n' $(filter %.cpp,$(ALL_SRCS)) | xargs -P2 -n6 sh -c 'clang-tidy --quiet "$$@" -- $(TIDY_FLAGS) 2>/dev/null' _ >$(BUILD)/tidy.log; \
	if grep -q 'error:' $(BUILD)/tidy.log; then grep -A3 'error:' $(BUILD)/tidy.log; exit 1; fi
	@echo "tidy: clang-tidy clean ($(words $(filter %.cpp,$(ALL_SRCS))) files)"

# ---- fuzzing (clang's libFuzzer): each tests/fuzz/<target>_fuzz.cpp becomes a fuzzer that
# starts from tests/fuzz/corpus/<target>/ and writes what it finds under FUZZ_WORK.
FUZZ_SECONDS ?= 30
FUZZ_CXX ?= clang++
FUZZ_WORK ?= $(BUILD)/fuzz/work
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_OBJS := $(patsubst %.cpp,$(BUILD)/fuzz/obj/%.o,$(LIB_SRCS) $(filter queue/% msp/sendmail/%,$(PROG_NONMAIN_SRCS)))
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/%_fuzz.cpp=%)

$(BUILD)/fuzz/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) -std=c++20 -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -DTEGAMI_LIBFUZZER \
		-Wall -Wextra -Werror -I. -MMD -MP $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/bin/%: $(BUILD)/fuzz/obj/tests/fuzz/%_fuzz.o $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

fuzz:
	@command -v $(FUZZ_CXX) >/dev/null || { echo "fuzz: $(FUZZ_CXX) not installed (apt-get install clang); skipped"; exit 0; }; \
	$(MAKE) --no-print-directory $(FUZZ_NAMES:%=$(BUILD)/fuzz/bin/%) || exit 1; \
	failed=""; for t in $(FUZZ_NAMES); do \
		mkdir -p $(FUZZ_WORK)/$$t/corpus && echo "== fuzz $$t ($(FUZZ_SECONDS)s)"; \
		$(BUILD)/fuzz/bin/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_WORK)/$$t/ $(FUZZ_WORK)/$$t/corpus tests/fuzz/corpus/$$t \
			2>$(FUZZ_WORK)/$$t/log || { failed="$$failed $$t"; grep -A3 -E 'invariant|ERROR' $(FUZZ_WORK)/$$t/log; }; \
		grep -E '^stat::(number_of_executed_units|new_units_added)' $(FUZZ_WORK)/$$t/log; \
	done; \
	[ -z "$$failed" ] || { echo "fuzz: findings in$$failed (inputs in $(FUZZ_WORK)/<target>/)"; exit 1; }

bench:
	@scripts/deps.sh build && $(MAKE) --no-print-directory all && tests/bench/bench.sh

# ---- install (the privilege manifest doc/tegami-files.txt says owner, group, mode)
install: all
	scripts/install.sh "$(DESTDIR)" "$(PREFIX)" "$(SBINDIR)" "$(LIBEXECDIR)" "$(SYSCONFDIR)" "$(MANDIR)" "$(BUILD)"

clean:
	rm -rf build build-san

distclean: clean
	rm -rf config.mk config.log config.status configure autom4te.cache run

-include $(shell find $(BUILD)/obj $(BUILD)/fuzz/obj -name '*.d' 2>/dev/null)
