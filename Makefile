# Moor's entry points. One cargo profile (release) serves tests, benchmarks, the demo and
# images, so RocksDB's C++ is compiled once per machine; the target dir lives outside the
# clone so CI and fresh clones reuse it.
export CARGO_TARGET_DIR ?= /var/tmp/moor-target
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO := cargo
PROFILE := --release
BIN := $(CARGO_TARGET_DIR)/release

.PHONY: setup setup-browser build previous-moord test test-unit test-cluster verify fix demo bench clean-data image jepsen fuzz

setup:
	@scripts/setup.sh

# chromium and its chromedriver for the browser test (jepsen-like-tests/tests/browser.rs):
# `make test` needs them, `make demo` does not.
setup-browser:
	@scripts/setup.sh --browser

# Always the whole workspace with all targets: the same feature set every time, so cargo
# never builds a second copy of RocksDB for a different set of enabled features.
CARGO_ALL := --workspace --all-targets

build: setup
	$(CARGO) build $(PROFILE) $(CARGO_ALL)

## The previous release's moord, in $(CARGO_TARGET_DIR)/previous/, for the rolling-upgrade test
## (jepsen-like-tests/tests/upgrade.rs). After `build`: it reuses that build's third-party
## artifacts, so it compiles only Moor's crates of that commit (scripts/previous-moord.sh).
previous-moord: build
	scripts/previous-moord.sh

## The test command (README, .ci/run): unit + storage conformance + real-process cluster tests.
test: build setup-browser previous-moord
	# One invocation over the whole workspace (one feature set, one RocksDB build). Tests run
	# one at a time inside each binary: the cluster tests start real moord processes and two
	# cores must not starve their elections.
	MOOR_BIN_DIR=$(BIN) $(CARGO) test $(PROFILE) $(CARGO_ALL) -- --test-threads=1
	# Fault injection, smoke profile: seeded runs across kill / pause / partition / membership
	# x register / rollout, a killed site agent (rollout-agents), a damaged disk, plus the two
	# negative controls (WF6 with fencing and dedupe off,
	# a planted stale read); prints runs, operations, faults and violations. Partitions need
	# root (network namespaces); without it they are reported as skipped.
	MOOR_BIN_DIR=$(BIN) $(BIN)/moor-jepsen profile smoke --seed $${MOOR_JEPSEN_SEED:-1}

## The gate that never writes: formatting, lints as errors, tests.
verify: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(PROFILE) $(CARGO_ALL) -- -D warnings
	$(MAKE) test

## The gate that writes: format and apply lint fixes.
fix:
	$(CARGO) fmt --all
	$(CARGO) clippy $(PROFILE) $(CARGO_ALL) --fix --allow-dirty --allow-staged

## Moor's main job: a local 3-member cluster on loopback, writes through followers, leader
## killed, data intact.
demo: build
	MOOR_BIN_DIR=$(BIN) scripts/demo.sh

## Fault injection, long profile: 100+ seeded runs of 60 s each (about two hours), for a
## human to run and record in docs/RELIABILITY.md. In parts: `make jepsen JEPSEN_PART="--from
## 20 --runs 30"` runs the plan's runs 21-50, with the seeds they have in the whole plan.
jepsen: build
	MOOR_BIN_DIR=$(BIN) $(BIN)/moor-jepsen profile long --seed $${MOOR_JEPSEN_SEED:-1} $(JEPSEN_PART)

## Fuzzing on the stable toolchain: every target of moor-fuzz (blueprint YAML, site and group
## definitions, waves, durations, templates, the log codec, apply, every gRPC message, Raft
## peer payloads, webhook deliveries) for FUZZ_SECONDS each; prints executions and unique crashes per target and fails
## on any crash (inputs in target/fuzz-crashes). Long runs go into docs/RELIABILITY.md.
FUZZ_SECONDS ?= 60
fuzz: build
	$(BIN)/moor-fuzz --target all --seconds $(FUZZ_SECONDS) --seed $${MOOR_FUZZ_SEED:-1}

## Issue 15's targets P1-P8 in one run (about 15 min on 2 cores; etcd when installed:
## apt-get install etcd-server), printed as the table docs/BENCHMARKS.md records. Single
## benches: moor-bench kv | rollout | failover | drift | hooks | backup (moor-bench --help).
bench: build
	MOOR_BIN_DIR=$(BIN) $(BIN)/moor-bench targets

## The container image, built offline from the release binaries (deploy/README.md).
IMAGE ?= moor:latest
image: build
	MOOR_BIN_DIR=$(BIN) deploy/docker/build-image.sh $(IMAGE)
