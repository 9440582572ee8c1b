#!/bin/bash
# The tandem Debian package (docs/image-build.md, "The tandem package"):
#   installer/tests/package.sh TANDEM_IMAGE TANDEM_BIN WORK [BASE_SQUASHFS]
# - lintian (pedantic): no error and no warning; info tags are printed, overrides shown
#   (each explained in installer/debian/lintian-overrides);
# - two builds with one SOURCE_DATE_EPOCH are byte-identical;
# - with the image's base.squashfs: dpkg, under the node's own path filters
#   (/etc/dpkg/dpkg.cfg.d, which drop most documentation), unpacks every file of the
#   package into a scratch root (an excluded man8 directory once made dpkg fail here).
# dpkg installing, verifying and upgrading it on a node is the e2e's (alpha-degraded).
set -euo pipefail
tool=${1:?usage: package.sh TANDEM_IMAGE TANDEM_BIN WORK}
bin=${2:?}
work=${3:?}
base=${4:-}
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
if [ -n "$base" ]; then
	root="$work/root"
	mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
	touch "$root/var/lib/dpkg/status"
	filters=()
	while read -r line; do
		case "$line" in path-include=* | path-exclude=*) filters+=("--$line") ;; esac
	done < <(unsquashfs -cat "$base" etc/dpkg/dpkg.cfg.d/99mmdebstrap)
	# Only files are unpacked (no preinst); the node's dependencies are not in this root.
	if ! out=$(dpkg --root="$root" "${filters[@]}" --force-depends --unpack "$deb" 2>&1); then
		echo "package: FAIL dpkg --unpack under the node's filters (${filters[*]}):" >&2
		echo "$out" >&2
		exit 1
	fi
	want=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | grep -v '/$' | sed 's|^\./||')
	# A conffile waits as .dpkg-new until --configure.
	missing=$(while read -r f; do [ -e "$root/$f" ] || [ -e "$root/$f.dpkg-new" ] || echo "$f"; done <<<"$want")
	if [ -n "$missing" ]; then
		echo "package: FAIL the node's dpkg filters drop: $missing" >&2
		exit 1
	fi
	echo "package: ok   dpkg under the node's ${#filters[@]} path filters unpacks all $(wc -l <<<"$want") files"
fi
