# Tandem: the two commands a new machine needs are `make demo` and `make test`.
# Both install their own prerequisites (Debian packages) first.

SHELL := /bin/bash
CARGO ?= cargo
BUILD ?= build
export CARGO_TERM_COLOR ?= never

.PHONY: all deps deps-check space check fmt clippy unit test test-fleetnet demo clean image-fetch image-closure-check \
	image-proxmox hardware-fixtures tandem-static image test-image test-boot test-install bench fuzz \
	test-package man

all: check

# Every command and file the targets use, with its Debian package, is one table in
# .ci/host-deps; `make deps` installs what is missing and fails naming any command still
# missing. It is the first step of `make test` and `make demo`.
deps:
	@.ci/host-deps install

# The same check without installing anything (seconds).
deps-check:
	@.ci/host-deps check

# A full `make test` wrote 10.3 GiB (cargo targets 2.8, the image and the e2e disks 7.5);
# a disk that fills half-way fails in some xorriso or qemu-img step with a confusing message,
# so say it up front.
SPACE_GB ?= 20
space:
	@mkdir -p $(BUILD); \
	free=$$(df --output=avail -B1G $(BUILD) | tail -1 | tr -d ' '); \
	echo "== space: $$free GiB free under $(BUILD) (need $(SPACE_GB))"; \
	if [ "$$free" -lt $(SPACE_GB) ]; then \
		echo "error: only $$free GiB free on the file system of $(BUILD); make test and make demo need about $(SPACE_GB) GiB (set SPACE_GB to override)" >&2; \
		exit 1; \
	fi

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

# The fast tier, for the development loop: formatting, lints, unit and golden tests.
check: fmt clippy unit

# Everything CI runs.
test: deps space check test-fleetnet image-closure-check test-image test-package test-consumers test-install
	@echo "== make test: all tiers passed"

# Re-captures installer/tests/fixtures/sysroot from QEMU guests (TCG, about 4 minutes);
# see docs/hardware.md.
hardware-fixtures: deps
	$(CARGO) build -p tandem
	TANDEM_BIN=$(CURDIR)/target/debug/tandem qemu-tests/capture-hardware.sh

# The main job: build the default image, install a four-disk QEMU machine (SeaBIOS, TCG)
# from the seed's node lxeon adapted to the VM (examples/qemu-demo/lxeon.toml), boot the
# installed disks and show mdstat, lsblk, addresses, the bond, GRUB on every disk and the
# time of each phase. About 25 minutes on two cores (image ~10, install ~9, boots ~4).
DEMO_ANSWER := examples/qemu-demo/lxeon.toml
DEMO_HW := installer/tests/fixtures/hardware/qemu-4disk-virtio-2nic.json

demo: deps space image
	rm -rf $(BUILD)/demo && mkdir -p $(BUILD)/demo
	$(TANDEM_STATIC) validate --answer $(DEMO_ANSWER) --hardware $(DEMO_HW)
	$(TANDEM_STATIC) prepare --answer $(DEMO_ANSWER) --output $(BUILD)/demo/lxeon.toml
	$(TANDEM_STATIC) plan --answer $(BUILD)/demo/lxeon.toml --hardware $(DEMO_HW)
	python3 qemu-tests/demo.py --iso $(IMAGE_OUT)/tandem.iso --answer $(BUILD)/demo/lxeon.toml --work $(BUILD)/demo/qemu

# The medium's package repository (build/image/repo) from the default profile; verified
# .debs and indexes are kept in $(IMAGE_CACHE) across runs.
IMAGE_PROFILE ?= image-build/profiles/default.toml
IMAGE_CACHE ?= /var/cache/tandem
image-fetch: deps
	$(CARGO) run --release -p tandem-image -- fetch --profile $(IMAGE_PROFILE) --out $(BUILD)/image --cache $(IMAGE_CACHE)

# Network tier: our dependency closure vs apt-get --simulate on the same verified indexes.
image-closure-check: deps
	$(CARGO) run --release -p tandem-image -- closure-check --profile $(IMAGE_PROFILE) --cache $(IMAGE_CACHE)

# The Proxmox VE profile against the real Proxmox repository. Not part of `make test`: tests
# send no traffic beyond Debian's archive. Where that repository can't be reached, this
# fails within seconds, naming it.
image-proxmox: deps
	$(CARGO) run --release -p tandem-image -- fetch --profile image-build/profiles/proxmox-ve.toml --out $(BUILD)/image-pve --cache $(IMAGE_CACHE)

# --- Boot media (docs/image-build.md, "Boot media") ---------------------------------------------------
# The live system runs the static tandem binary (no dependency on the live libc).
TANDEM_STATIC := target/x86_64-unknown-linux-gnu/release/tandem
IMAGE_OUT ?= $(BUILD)/image
# Package source: the repository image-fetch writes (build/image/repo). With IMAGE_REPO=
# (empty) the build uses the Debian mirror with the development package lists and a local
# .deb cache instead (no fetch step; handy when working on the boot side alone).
IMAGE_REPO ?= $(BUILD)/image/repo
IMAGE_SOURCE = $(if $(IMAGE_REPO),--repo $(IMAGE_REPO),--deb-cache $(BUILD)/debcache)
export SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 1767225600)
BOOT_TIMEOUT ?= 1200

tandem-static:
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --release -p tandem --target x86_64-unknown-linux-gnu
	@ldd $(TANDEM_STATIC) 2>&1 | grep -Eq 'not a dynamic executable|statically linked' \
		|| { echo "$(TANDEM_STATIC) is not static:"; ldd $(TANDEM_STATIC); exit 1; }
	@echo "$(TANDEM_STATIC): static"

image: deps tandem-static $(if $(IMAGE_REPO),image-fetch)
	$(CARGO) build --release -p tandem-image
	./target/release/tandem-image build --out $(IMAGE_OUT) $(IMAGE_SOURCE) --tandem-bin $(TANDEM_STATIC)

# Boot tests under QEMU/TCG: the ISO as a CD on SeaBIOS and on OVMF, and the PXE files.
# `make test` does not run them: test-install boots the same ISO on SeaBIOS
# (wizard-install) and OVMF (reinstall) and the same PXE files on both (fleet), and then
# checks far more than the live banner.
test-boot: image
	qemu-tests/boot-iso.sh $(IMAGE_OUT)/tandem.iso bios $(BOOT_TIMEOUT)
	qemu-tests/boot-iso.sh $(IMAGE_OUT)/tandem.iso uefi $(BOOT_TIMEOUT)
	qemu-tests/boot-pxe.sh $(IMAGE_OUT)/pxe $(BOOT_TIMEOUT)

# The image tier of `make test`: the ISO's layout, an embedded answer seen by the live system
# of a USB-style OVMF boot (the ISO as a disk), and a byte-identical rebuild.
test-image: image
	qemu-tests/check-iso.sh $(IMAGE_OUT)/tandem.iso /tandem/repo/tandem-manifest.json \
		/tandem/repo/pool/main/t/tandem/tandem_$(PACKAGE_VERSION)_amd64.deb
	qemu-tests/embed-answer.sh ./target/release/tandem-image $(IMAGE_OUT)/tandem.iso $(BOOT_TIMEOUT)
	qemu-tests/repro-iso.sh ./target/release/tandem-image $(IMAGE_OUT) $(IMAGE_SOURCE) --tandem-bin $(TANDEM_STATIC)

# The tandem Debian package the image carries in its repository (docs/image-build.md, "The
# tandem package"): lintian --pedantic with no error or warning, a byte-identical rebuild,
# and dpkg unpacking all of it under the base system's path filters.
PACKAGE_VERSION = $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
test-package: image
	installer/tests/package.sh ./target/release/tandem-image $(TANDEM_STATIC) $(BUILD)/package \
		$(IMAGE_OUT)/stage/base.squashfs

# The man pages of tandem (8) and tandem-image (1), generated from their command lines,
# to read before installing: man -l build/man/man8/tandem.8
man:
	$(CARGO) run --release -p tandem-image -- man --out $(BUILD)/man

# The real consumers of the rendered files (docs/install.md, "Consumers"): every golden
# tree and a fresh `tandem render` of every example (each node) read by mdadm, drbdadm,
# ifupdown2, udev, systemd-analyze, lvmconfig, debconf, findmnt, apt, modprobe, setupcon,
# locales, tzdata and ssh-keygen in a chroot of the image's base system, offline; plus
# broken files (at least one per consumer), which each must reject for what was broken.
test-consumers: image
	python3 installer/tests/consumers.py --base $(IMAGE_OUT)/stage/base.squashfs \
		--repo $(IMAGE_OUT)/stage/repo --tandem $(TANDEM_STATIC) --work $(BUILD)/consumers

# The fleet network of the e2e installs without a VM (seconds): dnsmasq and nginx in a
# namespace, configured from docs/pxe/, answer DHCP (options 224/225), DNS TXT, TFTP,
# HTTPS and POST /report as docs/pxe.md says (qemu-tests/fleetnet-smoke.py).
test-fleetnet: deps
	python3 qemu-tests/fleetnet-smoke.py --work $(BUILD)/fleetnet-smoke

# The end-to-end install suite (issue #5, docs/install.md "Tests"): installs a two-node
# cluster from the image over the fleet network, both machines at once (after test-image in
# `make test`), boots the results (both nodes at once, degraded), at most 2 VMs at a time. E2E_ARGS="--only replace-alpha" for one
# scenario.
E2E_OUT ?= $(BUILD)/e2e
# The host side (prepare, render) uses the same static binary the image carries.
test-install: image
	python3 qemu-tests/e2e.py --iso $(IMAGE_OUT)/tandem.iso --pxe $(IMAGE_OUT)/pxe \
		--tandem $(TANDEM_STATIC) --out $(E2E_OUT) $(E2E_ARGS)

# Speed (docs/install.md, "Speed"): Tandem's install against mmdebstrap of the same packages
# onto the same disks in the same VM. A benchmark that prints figures; not part of `make test`.
# mmdebstrap is not in the live system: a trixie root holding it reaches the guest over 9p.
BENCH_TOOLS := $(BUILD)/bench/tools.squashfs
$(BENCH_TOOLS):
	rm -rf $(BUILD)/bench/tools && mkdir -p $(BUILD)/bench
	mmdebstrap --mode=root --variant=apt --include=mmdebstrap,mount --aptopt='Acquire::Languages "none"' \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		trixie $(BUILD)/bench/tools "deb http://deb.debian.org/debian trixie main"
	mksquashfs $(BUILD)/bench/tools $@ -noappend -comp zstd -quiet
	rm -rf $(BUILD)/bench/tools

bench: deps $(BENCH_TOOLS)
	test -f $(IMAGE_OUT)/tandem.iso || $(MAKE) image
	python3 qemu-tests/bench.py --iso $(IMAGE_OUT)/tandem.iso --tools $(BENCH_TOOLS) --work $(BUILD)/bench/run

# Fuzzing campaign (docs/install.md, "Fuzzing"): FUZZ_RUNS executions of each target on
# nightly with libFuzzer, new inputs kept in the target's corpus, which is then minimized.
# Not part of `make test`: `make check` replays the kept corpus on stable
# (installer/tests/fuzz_replay.rs, image-build/tests/fuzz_replay.rs).
FUZZ_RUNS ?= 1000000
FUZZ := cargo +nightly fuzz
# FUZZ_RUNS executions per target, shared by FUZZ_JOBS workers (one per core); each
# worker's log is <crate>/fuzz-<n>.log.
FUZZ_JOBS ?= 2
FUZZ_OPTS = -jobs=$(FUZZ_JOBS) -workers=$(FUZZ_JOBS) -runs=$$(( $(FUZZ_RUNS) / $(FUZZ_JOBS) )) \
	-print_final_stats=1
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd installer && $(FUZZ) run answer fuzz/corpus/answer tests/valid tests/failures ../examples \
		../qemu-tests/answers -- $(FUZZ_OPTS) -dict=fuzz/answer.dict -max_len=8192
	cd installer && $(FUZZ) run inventory fuzz/corpus/inventory tests/fixtures/hardware -- \
		$(FUZZ_OPTS) -max_len=16384
	cd image-build && $(FUZZ) run indexes fuzz/corpus/indexes fuzz/regressions/indexes -- \
		$(FUZZ_OPTS) -max_len=4096
	cd installer && $(FUZZ) cmin answer && $(FUZZ) cmin inventory
	cd image-build && $(FUZZ) cmin indexes

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
