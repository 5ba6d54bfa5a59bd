# log-capturer: the front door. `make test` is the README's test command
# (and what CI runs); `make demo` shows the project at work.

CARGO ?= cargo
NEXTEST := $(shell cargo nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: all build header bench-setup deps test test-rust demo clean-containers

all: build

build:
	$(CARGO) build --release

# The test bench: a real Docker daemon and the busybox test image.
bench-setup:
	scripts/bench.sh

deps: bench-setup
	scripts/deps.sh

clean-containers: bench-setup
	scripts/clean-containers.sh

# Regenerates include/log_capturer.h from src/ffi/ (the header test checks it).
header:
	LOG_CAPTURER_BLESS=1 $(CARGO) test --release --test header

test-rust: deps clean-containers
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --release --no-fail-fast
else
	$(CARGO) test --release --no-fail-fast
endif

test: test-rust

demo: build
	scripts/demo.sh
