# mim-gateway - see README.md.  `make demo` and `make test` are the two
# commands; both install missing Debian packages first.

SHELL      := /bin/bash
TOP        := $(abspath .)
BUILD      := $(TOP)/build
PYTHON     := /usr/bin/python3
FUZZ_SECONDS ?= 4

-include $(BUILD)/config.mk

CORE_DIRS  := trust dsp policies
CORE_SRCS  := $(wildcard $(addsuffix /*.c,$(CORE_DIRS)))
CORE_HDRS  := $(wildcard $(addsuffix /*.h,$(CORE_DIRS)))
CORE_INCS  := $(addprefix -I$(TOP)/,$(CORE_DIRS))
WARN       := -Wall -Wextra -Wno-unused-parameter -Wshadow -Werror
CFLAGS_CORE = -std=gnu11 -O2 -g -fPIC $(WARN) $(CORE_INCS) $(CORE_CFLAGS)
SAN        := -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer

TOOL_SRCS  := $(wildcard tools/*.c)
TOOL_HDRS  := $(wildcard tools/*.h)
GLUE_SRCS  := $(wildcard ngx_mim_module/*.c ngx_mim_module/*.h) \
              ngx_mim_module/config
UNIT_SRCS  := $(wildcard t/unit/*.c)
FUZZ_SRCS  := $(wildcard t/fuzz/fuzz_*.c)
FUZZERS    := $(patsubst t/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

CORE_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(CORE_SRCS))
ASAN_OBJS  := $(patsubst %.c,$(BUILD)/asan/%.o,$(CORE_SRCS))
TOOL_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(TOOL_SRCS))
UNIT_OBJS  := $(patsubst %.c,$(BUILD)/asan/%.o,$(UNIT_SRCS))

.PHONY: all deps demo test unit fuzz fuzz-smoke integration bench certs \
        clean distclean module mim lint

all: $(BUILD)/ngx_mim_module.so $(BUILD)/mim

$(BUILD)/config.mk: configure
	./configure

# ---- pure C cores, one static library (PIC: the module links it too) ----

$(BUILD)/obj/%.o: %.c $(CORE_HDRS) $(TOOL_HDRS) $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_CORE) $(CURL_CFLAGS) -c $< -o $@

$(BUILD)/libmimcore.a: $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

# ---- the command-line tool ----

$(BUILD)/mim: $(TOOL_OBJS) $(BUILD)/libmimcore.a
	$(CC) -o $@ $(TOOL_OBJS) $(BUILD)/libmimcore.a $(CORE_LIBS) $(CURL_LIBS)

# ---- the nginx module: nginx's own configure, --with-compat ----

NGX_FLAGS = $(shell sed -n 's/^NGX_CONF_FLAGS=( *\(.*\) *)$$/\1/p' \
              $(NGINX_SRC)/conf_flags 2>/dev/null)
ifeq ($(strip $(NGX_FLAGS)),)
NGX_FLAGS = --with-compat --with-http_ssl_module --with-http_v2_module \
            --with-threads
endif

$(BUILD)/nginx/Makefile: ngx_mim_module/config $(BUILD)/config.mk
	rm -rf $(BUILD)/nginx && mkdir -p $(BUILD)/nginx
	cp -r $(NGINX_SRC)/. $(BUILD)/nginx/
	cd $(BUILD)/nginx && MIM_ROOT=$(TOP) MIM_BUILD=$(BUILD) \
	    MIM_CORE_CFLAGS="$(CORE_CFLAGS)" MIM_CORE_LIBS="$(CORE_LIBS)" \
	    ./configure $(NGX_FLAGS) --with-compat \
	    --add-dynamic-module=$(TOP)/ngx_mim_module > configure.log 2>&1 \
	    || { tail -20 configure.log; exit 1; }

$(BUILD)/ngx_mim_module.so: $(BUILD)/nginx/Makefile $(GLUE_SRCS) \
                            $(BUILD)/libmimcore.a $(CORE_HDRS)
	rm -f $(BUILD)/nginx/objs/ngx_http_mim_module.so
	$(MAKE) -s -C $(BUILD)/nginx -f objs/Makefile modules
	@# a new inode: a running nginx keeps its mapped copy intact
	cp $(BUILD)/nginx/objs/ngx_http_mim_module.so $@.tmp && mv -f $@.tmp $@

module: $(BUILD)/ngx_mim_module.so

mim: $(BUILD)/mim

# ---- dependencies, dev certificates, demo ----

deps:
	@tools/install-deps.sh

certs:
	@certs/make-dev-pki.sh certs/dev

demo: deps
	@$(MAKE) -s all
	@certs/make-dev-pki.sh certs/dev
	@tools/demo.sh

# ---- tests ----

$(BUILD)/asan/%.o: %.c $(CORE_HDRS) $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_CORE) $(SAN) -I$(TOP)/t/unit -c $< -o $@

$(BUILD)/unit-tests: $(UNIT_OBJS) $(ASAN_OBJS)
	$(CC) $(SAN) -o $@ $^ $(CORE_LIBS) $(CRITERION_LIBS)

# Criterion runs each test in a child: a sanitizer report there does not
# fail the test by itself, so the log is checked too.
unit: $(BUILD)/unit-tests
	cd $(TOP)/t/unit && ASAN_OPTIONS=detect_leaks=1 \
	    UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)/unit-tests --jobs 2 \
	    2>&1 | tee $(BUILD)/unit.log; test $${PIPESTATUS[0]} -eq 0
	@! grep -q 'LeakSanitizer\|AddressSanitizer\|runtime error' \
	    $(BUILD)/unit.log || { echo "unit: sanitizer report above"; exit 1; }

# libFuzzer targets: clang, ASan+UBSan, every core source
$(BUILD)/fuzz/%: t/fuzz/%.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(dir $@)
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all $(CORE_INCS) $(CORE_CFLAGS) \
	    -o $@ $< $(CORE_SRCS) $(CORE_LIBS)

# each target runs FUZZ_SECONDS from its seed corpus (t/fuzz/corpus/NAME)
fuzz-smoke: $(FUZZERS)
	@for f in $(FUZZERS); do \
	    n=$$(basename $$f); mkdir -p $(BUILD)/fuzz/corpus-$$n; \
	    echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
	        -print_final_stats=0 $(BUILD)/fuzz/corpus-$$n \
	        t/fuzz/corpus/$$n >$(BUILD)/fuzz/$$n.log 2>&1 \
	        || { tail -40 $(BUILD)/fuzz/$$n.log; exit 1; }; \
	    grep -h 'Done [0-9]* runs' $(BUILD)/fuzz/$$n.log | sed "s/^/    /"; \
	done

fuzz:
	@$(MAKE) -s fuzz-smoke FUZZ_SECONDS=$${FUZZ_SECONDS:-120}

integration: all
	@certs/make-dev-pki.sh certs/dev >/dev/null
	cd $(TOP) && MIM_BUILD=$(BUILD) $(PYTHON) -m pytest -q -p no:cacheprovider \
	    t/integration

test: deps
	@$(MAKE) -s all
	@$(MAKE) -s unit
	@$(MAKE) -s fuzz-smoke
	@$(MAKE) -s integration

# micro-benchmarks of the cores: bench/NAME.c -> build/bench/NAME
$(BUILD)/bench/%: bench/%.c $(BUILD)/libmimcore.a $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_CORE) -o $@ $< $(BUILD)/libmimcore.a $(CORE_LIBS)

BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))

# every bench/*.sh but the shared lib.sh, each printing its figures and ratios
bench: deps
	@$(MAKE) -s all $(BENCH_BINS)
	@certs/make-dev-pki.sh certs/dev >/dev/null
	@for s in bench/*.sh; do [ $$s = bench/lib.sh ] && continue; \
	    echo "== $$s"; $$s || exit 1; done

lint:
	clang-format --dry-run --Werror $(CORE_SRCS) $(TOOL_SRCS) || true

clean:
	rm -rf $(BUILD)/obj $(BUILD)/asan $(BUILD)/fuzz $(BUILD)/mim \
	    $(BUILD)/unit-tests $(BUILD)/libmimcore.a $(BUILD)/ngx_mim_module.so

distclean:
	rm -rf $(BUILD) certs/dev
