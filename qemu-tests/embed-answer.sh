#!/bin/bash
# embed-answer end to end:
#  1. an invalid answer is refused with exit 2 and no image is written;
#  2. a valid answer lands at /tandem/answer.toml byte for byte, El Torito BIOS+UEFI and the
#     GPT EFI partition survive (check-iso.sh);
#  3. the new ISO, written as a disk (what `dd` to a USB stick gives), boots on OVMF with
#     Secure Boot enforced (shim, signed GRUB, signed kernel) and the live console reports
#     the embedded answer.
#   qemu-tests/embed-answer.sh TANDEM_IMAGE ISO [TIMEOUT] [ANSWER]
set -euo pipefail
here=$(dirname "$0")
bin=${1:?usage: embed-answer.sh TANDEM_IMAGE ISO [TIMEOUT] [ANSWER]}
iso=${2:?ISO}
timeout=${3:-1200}
answer=${4:-}
if [ -z "$answer" ]; then
	if [ -f examples/seed/cluster.toml ]; then answer=examples/seed/cluster.toml; else answer=$here/fixtures/answer.toml; fi
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/tandem-embed.XXXXXX")
trap 'rm -rf "$work"' EXIT

printf '[system]\nno-such-key = 1\n' >"$work/bad.toml"
set +e
"$bin" embed-answer "$iso" "$work/bad.toml" -o "$work/bad.iso" 2>"$work/bad.err"
rc=$?
set -e
if [ $rc -ne 2 ] || [ -e "$work/bad.iso" ] || ! grep -q 'bad.toml:' "$work/bad.err"; then
	echo "embed-answer: FAIL invalid answer gave exit $rc (want 2, no image, placed diagnostic):" >&2
	cat "$work/bad.err" >&2
	exit 1
fi
echo "embed-answer: ok   invalid answer refused (exit 2): $(head -1 "$work/bad.err")"

"$bin" embed-answer "$iso" "$answer" -o "$work/answer.iso"
"$here/check-iso.sh" "$work/answer.iso" /tandem/answer.toml
xorriso -osirrox on -indev "$work/answer.iso" -extract /tandem/answer.toml "$work/got.toml" 2>/dev/null
cmp "$answer" "$work/got.toml"
echo "embed-answer: ok   /tandem/answer.toml equals $answer"

"$here/boot-iso.sh" "$work/answer.iso" uefi-disk-sb "$timeout" \
	"TANDEM AUTO-INSTALL from answer embedded in the image (/run/live/medium/tandem/answer.toml)"
