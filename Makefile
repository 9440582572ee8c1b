# Tandem: the two commands a new machine needs are `make demo` and `make test`.
# Both install their own prerequisites (Debian packages) first.

SHELL := /bin/bash
CARGO ?= cargo
BUILD ?= build
export CARGO_TERM_COLOR ?= never

# Debian packages the build, the image and the QEMU tests need. One list, one place.
DEB_PACKAGES := xorriso mtools squashfs-tools mmdebstrap qemu-system-x86 ovmf \
	qemu-utils gpg gpgv dosfstools e2fsprogs fdisk gdisk tmux curl python3 \
	debian-archive-keyring grub-pc-bin grub-efi-amd64-bin busybox-static cpio zstd

.PHONY: all deps check fmt clippy unit test demo clean tandem-static image test-image

all: check

# Installs what is missing; a no-op on a machine that has everything.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "== installing Debian packages: $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
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
test: deps check test-image
	@echo "== make test: all tiers passed"

# The main job. Until the image and install tiers land it validates the seed example,
# prints its plan and renders its configs.
demo: deps
	$(CARGO) build --release -p tandem
	./target/release/tandem validate --answer examples/seed/cluster.toml

# --- Boot media (docs/image-boot.md) ---------------------------------------------------
# The live system runs the static tandem binary (no dependency on the live libc).
TANDEM_STATIC := target/x86_64-unknown-linux-gnu/release/tandem
IMAGE_OUT ?= $(BUILD)/image
# The repository `tandem-image fetch` makes; empty: build from the Debian mirror with the
# development package lists (and a local .deb cache, to spare the mirror on rebuilds).
IMAGE_REPO ?=
IMAGE_SOURCE = $(if $(IMAGE_REPO),--repo $(IMAGE_REPO),--deb-cache $(BUILD)/debcache)
export SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 1767225600)
BOOT_TIMEOUT ?= 1200

tandem-static:
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --release -p tandem --target x86_64-unknown-linux-gnu
	@ldd $(TANDEM_STATIC) 2>&1 | grep -Eq 'not a dynamic executable|statically linked' \
		|| { echo "$(TANDEM_STATIC) is not static:"; ldd $(TANDEM_STATIC); exit 1; }
	@echo "$(TANDEM_STATIC): static"

image: deps tandem-static
	$(CARGO) build --release -p tandem-image
	./target/release/tandem-image build --out $(IMAGE_OUT) $(IMAGE_SOURCE) --tandem-bin $(TANDEM_STATIC)

# Boot tests under QEMU/TCG (SeaBIOS and OVMF, CD and disk), embed-answer, reproducibility.
test-image: image
	qemu-tests/check-iso.sh $(IMAGE_OUT)/tandem.iso
	qemu-tests/boot-iso.sh $(IMAGE_OUT)/tandem.iso bios $(BOOT_TIMEOUT)
	qemu-tests/boot-iso.sh $(IMAGE_OUT)/tandem.iso uefi $(BOOT_TIMEOUT)
	qemu-tests/embed-answer.sh ./target/release/tandem-image $(IMAGE_OUT)/tandem.iso $(BOOT_TIMEOUT)
	qemu-tests/boot-pxe.sh $(IMAGE_OUT)/pxe $(BOOT_TIMEOUT)
	qemu-tests/repro-iso.sh ./target/release/tandem-image $(IMAGE_OUT) $(IMAGE_SOURCE) --tandem-bin $(TANDEM_STATIC)

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
