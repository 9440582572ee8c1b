#!/bin/bash
# The tandem Debian package (docs/image-build.md, "The tandem package"):
#   installer/tests/package.sh TANDEM_IMAGE TANDEM_BIN WORK
# - lintian (pedantic): no error and no warning; info tags are printed, overrides shown
#   (each explained in installer/debian/lintian-overrides);
# - two builds with one SOURCE_DATE_EPOCH are byte-identical.
# dpkg installing, verifying and upgrading it on a node is the e2e's (alpha-degraded).
set -euo pipefail
tool=${1:?usage: package.sh TANDEM_IMAGE TANDEM_BIN WORK}
bin=${2:?}
work=${3:?}
epoch=${SOURCE_DATE_EPOCH:-1767225600}
rm -rf "$work" && mkdir -p "$work"
for n in 1 2; do
	"$tool" package --tandem-bin "$bin" --out "$work/build$n" --source-date-epoch "$epoch" >/dev/null
done
deb=$(ls "$work"/build1/tandem_*_amd64.deb)
other="$work/build2/$(basename "$deb")"
if cmp -s "$deb" "$other"; then
	echo "package: ok   reproducible ($(basename "$deb"), $(stat -c %s "$deb") bytes, sha256 $(sha256sum <"$deb" | cut -c1-16)…)"
else
	echo "package: FAIL two builds differ" >&2
	exit 1
fi
SECONDS=0
# The verdict is lintian's own (--fail-on); a second run lists what it said at every level,
# overrides included (with --show-overrides, lintian 2.116 fails on the overridden tags).
set +e
lintian --pedantic -I --fail-on error,warning "$deb" >/dev/null 2>&1
rc=$?
set -e
lintian --pedantic -I --show-overrides "$deb" >"$work/lintian.txt" 2>&1 || true
grep -v 'running with root privileges' "$work/lintian.txt" | sed 's/^/  lintian: /' || true
errors=$(grep -c '^E: ' "$work/lintian.txt" || true)
warnings=$(grep -c '^W: ' "$work/lintian.txt" || true)
echo "package: lintian $(lintian --version | awk '{print $2}'): $errors errors, $warnings warnings, $(grep -c '^I: ' "$work/lintian.txt" || true) info, $(grep -c '^O: ' "$work/lintian.txt" || true) overridden (${SECONDS} s)"
if [ "$rc" -ne 0 ]; then
	echo "package: FAIL lintian exit $rc" >&2
	exit 1
fi
