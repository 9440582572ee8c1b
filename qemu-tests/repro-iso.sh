#!/bin/bash
# Reproducibility check: with the same inputs and SOURCE_DATE_EPOCH, the build writes
# byte-identical images.
#
#   qemu-tests/repro-iso.sh TANDEM_IMAGE OUT [build flags...]
#
# OUT must hold a finished build (its work/ roots from the rootfs stage). The squashfs,
# package and iso stages run twice from those same bootstrapped roots, and base.squashfs,
# live/filesystem.squashfs, live/initrd.img, the tandem package (by the medium's Packages
# index, which holds its SHA256) and the ISO of both runs are compared byte for byte. (mmdebstrap itself is not re-run: that would mean a second full package install
# and depends on the mirror's state; the roots are the fixed input here.)
set -euo pipefail
bin=${1:?usage: repro-iso.sh TANDEM_IMAGE OUT [flags]}
out=${2:?output directory of a finished build}
shift 2
epoch=${SOURCE_DATE_EPOCH:-1767225600}
keep=$(mktemp -d "${TMPDIR:-/tmp}/tandem-repro.XXXXXX")
trap 'rm -rf "$keep"' EXIT

packages=$(cd "$out" && ls stage/repo/dists/*/main/binary-amd64/Packages)
files=(stage/base.squashfs stage/live/filesystem.squashfs stage/live/initrd.img $packages tandem.iso)
for run in 1 2; do
	start=$(date +%s)
	"$bin" build --out "$out" --stages squashfs,package,iso --source-date-epoch "$epoch" "$@" >/dev/null
	echo "repro: run $run took $(($(date +%s) - start)) s"
	if [ $run = 1 ]; then
		for f in "${files[@]}"; do
			mkdir -p "$keep/$(dirname "$f")"
			cp "$out/$f" "$keep/$f"
		done
		# Different wall-clock time for the second run: only the epoch may matter.
		sleep 2
	fi
done
fail=0
for f in "${files[@]}"; do
	if cmp -s "$keep/$f" "$out/$f"; then
		echo "repro: identical $f ($(stat -c %s "$out/$f") bytes, sha256 $(sha256sum "$out/$f" | cut -c1-16))"
	else
		echo "repro: DIFFERENT $f" >&2
		fail=1
	fi
done
exit $fail
