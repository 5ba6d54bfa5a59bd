# log-capturer: the front door. `make test` is the README's test command
# (and what CI runs); `make demo` shows the project at work.

CARGO ?= cargo
NEXTEST := $(shell cargo nextest --version >/dev/null 2>&1 && echo yes)
# Every suite runs under a deadline: a wedged daemon fails it, never hangs CI.
DEADLINE := timeout --kill-after=30 1200

.PHONY: all build install uninstall test-install header bench-setup deps test test-podman test-rust test-c test-python test-go test-fluentbit test-monitoring test-soak-short soak bench bench-smoke bench-micro bench-profile demo clean-containers fuzz

all: build

# Also links target/release/liblog_capturer.so.MAJOR (the library's SONAME)
# to the build, so programs linked against the checkout's build run.
build:
	$(CARGO) build --release
	ln -sfn liblog_capturer.so target/release/$$(objdump -p target/release/liblog_capturer.so | awk '$$1 == "SONAME" { print $$2 }')

# `make install PREFIX=/usr/local DESTDIR=`: the stripped shared library
# (SONAME and version from Cargo.toml) with its debug info apart, the static
# library, the header and pkg-config files (scripts/install.sh says where).
PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
LDCONFIG ?= ldconfig
INSTALL_ENV = PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" LIBDIR="$(LIBDIR)" INCLUDEDIR="$(INCLUDEDIR)" LDCONFIG="$(LDCONFIG)"

install:
	$(INSTALL_ENV) scripts/install.sh

uninstall:
	$(INSTALL_ENV) scripts/install.sh --uninstall

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
	# The benches build too (one stopped building unnoticed once).
	$(CARGO) build --release --benches
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --release --no-fail-fast
else
	$(CARGO) test --release --no-fail-fast
endif

# The real-daemon tests again, against Podman's Docker-compatible API
# (scripts/podman.sh installs and starts it beside dockerd): the podman
# nextest profile (.config/nextest.toml says which tests it leaves out and
# why). Part of `make test`.
# The huge line is 16 MiB here, not 1 GiB: Podman 4.3.1 rejoins a line still
# being written at every `tail` read, in time quadratic in its length.
test-podman: deps
	scripts/podman.sh
	DOCKER_HOST=unix:///run/podman/podman.sock scripts/clean-containers.sh
	LOG_CAPTURER_ENGINE=podman LCT_LONG_LINE_BYTES=16777216 \
		$(CARGO) nextest run --release --no-fail-fast --profile podman

# The C example and ABI misuse under AddressSanitizer (or valgrind).
test-c: deps
	$(DEADLINE) tests/c/test.sh

test-python: deps
	$(DEADLINE) bindings/python/test.sh

test-go: deps
	$(DEADLINE) bindings/go/test.sh

# make install into a scratch prefix and DESTDIR; a C program outside the
# checkout built with pkg-config (shared and static) against a real container.
test-install: deps
	$(DEADLINE) tests/install/test.sh

# The Fluent Bit plugin driven by a C host exactly as Fluent Bit's proxy does.
test-fluentbit: deps
	$(DEADLINE) tests/fluentbit/test.sh

# promtool check/test rules, the dashboard, and a real Prometheus scraping a real capture.
test-monitoring: deps
	$(DEADLINE) tests/monitoring/test.sh

# The soak: SOAK_MINUTES (30), SOAK_CONTAINERS (55), SOAK_ROTATION (5m);
# prints a report table and fails if a check does.
soak: deps
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --release --test soak --run-ignored only --no-capture
else
	$(CARGO) test --release --test soak -- --ignored --nocapture
endif

# The same checks, short (CI): 2 minutes, 10 containers, 10 s rotation.
test-soak-short:
	SOAK_MINUTES=2 SOAK_ROTATION=10s SOAK_CONTAINERS=10 $(MAKE) soak

# The capturer next to curl and `docker logs` on the same containers, one run
# (~8 min, after waiting up to 15 min for load < 1). Exits non-zero only if a
# figure could not be measured, never because a target was missed.
bench: bench-setup
	scripts/bench-run.sh

# The same harness on small logs (20k lines, 2 and 5 containers, 20 idle, 3 s latency,
# a 3 s noisy neighbour): ~1 min.
bench-smoke: bench-setup
	$(DEADLINE) env BENCH_SMOKE=1 scripts/bench-run.sh

# Micro-benchmarks of the hot paths (std timing, no criterion).
bench-micro:
	$(CARGO) bench --bench micro

# Where the capturer's time goes on a 1M-line drain (perf, strace).
bench-profile: bench-setup
	scripts/bench-profile.sh

test: test-rust test-podman test-install test-c test-python test-go test-fluentbit test-monitoring test-soak-short bench-smoke

demo: build
	scripts/demo.sh

# Fuzzing (local; needs cargo-fuzz: `cargo install cargo-fuzz`). Stable Rust
# runs it with RUSTC_BOOTSTRAP=1. FUZZ_SECONDS per target (default 60).
FUZZ_SECONDS ?= 60
fuzz:
	for t in frames timestamp assembler; do \
		RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done
