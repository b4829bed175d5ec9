# Ganglion: two commands.
#   make run   installs what is missing, builds, and runs the daemon on the simulated board
#   make test  installs what is missing, builds, and runs every test
SWIFT       ?= swift
CONFIG      ?= Hardware/demo.yaml
APT_PACKAGES = mosquitto mosquitto-clients libmosquitto-dev libgpiod-dev libyaml-dev pkg-config openssl \
               qemu-system-x86 busybox-static cpio xz-utils gcc make binutils libelf1
BIN_RELEASE  = .build/release/ganglion
BIN_DEBUG    = .build/debug/ganglion

.PHONY: all deps build release run test test-gpio check format lint bench bench-gpio fuzz profiles clean

all: build

# Installs the Debian packages that are not installed yet (and nothing when all are).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "Swift 6 is needed: https://www.swift.org/install/linux/"; exit 1; }

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --static-swift-stdlib --product ganglion

run: release
	Hardware/demo.sh $(BIN_RELEASE) $(CONFIG)

# Unit and integration tests (each starts its own mosquitto on a free loopback port),
# then the example rules' own tests, a check of the demo configuration, and the GPIO tests
# against the kernel's gpio-sim in a VM, for libgpiod 1.x and 2.x (Tests/VM/README.md).
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(BIN_DEBUG) check --config $(CONFIG)
	$(BIN_DEBUG) test Rules/                  # each test file names its configuration
	Tests/VM/gpio-tests.sh

# Only the GPIO tests in the VM (after a build), e.g. `make test-gpio VERSIONS=v2`.
test-gpio: build
	Tests/VM/gpio-tests.sh $(VERSIONS)

check: build
	$(BIN_DEBUG) check --config $(CONFIG)

format:
	$(SWIFT) format -i -r Package.swift Sources Tests Benchmarks

lint:
	$(SWIFT) format lint -r Package.swift Sources Tests Benchmarks

# Builds every release executable: the mqtt benchmark starts ganglion and mqtt-relay-c; then
# the GPIO benchmark in the gpio-sim VM (edge -> rule -> output latency, lossless edge rate).
bench: deps
	$(SWIFT) build -c release
	.build/release/ganglion-bench
	Tests/VM/gpio-bench.sh

bench-gpio: deps
	Tests/VM/gpio-bench.sh $(VERSIONS)

# After editing a board profile in Hardware/: the copy built into the binary.
profiles:
	Hardware/embed-profiles.sh

# Runs each libFuzzer target (Fuzz/) for FUZZ_SECONDS; new inputs go to .build/fuzz/corpus,
# crashers to .build/fuzz/crashes. gold cannot link libFuzzer with SwiftPM's renamed main: lld.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= expression rules config json payload
FUZZ_DIR      = .build/fuzz
fuzz: deps
	$(SWIFT) build -c release --scratch-path $(FUZZ_DIR) --product ganglion-fuzz \
	  -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/crashes; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_DIR)/release/ganglion-fuzz $$t $(FUZZ_DIR)/corpus/$$t Fuzz/Corpus/$$t \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix=$(FUZZ_DIR)/crashes/$$t- -print_final_stats=1 \
	    $$( [ -f Fuzz/$$t.dict ] && echo -dict=Fuzz/$$t.dict ) \
	  || { echo "replay without libFuzzer: swift run ganglion-fuzz $$t $(FUZZ_DIR)/crashes/$$t-*"; exit 1; }; \
	done

clean:
	rm -rf .build
