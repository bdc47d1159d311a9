# Atrium: plain GNU make. `make run` and `make test` are the two commands (README.md).
CC      ?= cc
PKGS    := fcgi hiredis libpq json-c libcurl libmagic openssl
WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude $(shell pkg-config --cflags $(PKGS))
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lm

ifeq ($(SANITIZE),1)
BUILD   ?= build-asan
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
BUILD   ?= build
endif

LIB_SRC   := $(wildcard lib/*.c) $(wildcard services/*.c)
FCGI_SRC  := $(wildcard fcgi/*.c)
CTL_SRC   := $(wildcard tools/*.c)
WORKERS   := $(patsubst workers/%.c,$(BUILD)/atrium-%,$(wildcard workers/*.c))
UNIT      := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

LIB       := $(BUILD)/libatrium.a
BINS      := $(BUILD)/atrium-fcgi $(BUILD)/atriumctl $(WORKERS)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

.PHONY: all build units deps run stop test bench fuzz lint clean
all build: $(BINS) units
units: $(UNIT)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(call obj,$(LIB_SRC))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/atrium-fcgi: $(call obj,$(FCGI_SRC)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/atriumctl: $(call obj,$(CTL_SRC)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/atrium-%: $(BUILD)/obj/workers/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# -- media processing: libvips and libavformat only in atrium-media and the tests that need them --
MEDIA_PKGS := vips libavformat libavcodec libavutil libswscale
$(BUILD)/obj/services/media_%.o $(BUILD)/obj/tests/unit/test_media_%.o: CFLAGS += $(shell pkg-config --cflags $(MEDIA_PKGS))
$(BUILD)/obj/tests/media/%.o: CFLAGS += $(shell pkg-config --cflags $(MEDIA_PKGS))
$(BUILD)/atrium-media $(BUILD)/tests/test_media_% $(BUILD)/tests/media_run $(BUILD)/tests/media_worker: LDLIBS += $(shell pkg-config --libs $(MEDIA_PKGS))
units: $(BUILD)/tests/media_run $(BUILD)/tests/media_worker
$(BUILD)/tests/media_run $(BUILD)/tests/media_worker: $(BUILD)/tests/media_%: $(BUILD)/obj/tests/media/media_%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# Installs what is missing (apt, npm), idempotent and quick when nothing is.
deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory build
	@scripts/stack.sh start run

stop:
	@scripts/stack.sh stop run

test: deps
	@$(MAKE) --no-print-directory build
	@scripts/test.sh

bench: deps
	@$(MAKE) --no-print-directory build
	@bench/run.sh

fuzz: deps
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-60} scripts/fuzz.sh

lint:
	@scripts/lint.sh

clean:
	rm -rf build build-asan build-fuzz
