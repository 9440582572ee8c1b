#!/bin/bash
# Static checks of a Tandem ISO (no boot): El Torito has a BIOS and a UEFI entry, the
# system area has GRUB's hybrid MBR and a GPT with the EFI partition, and the files the
# live system and the installer need are there.
#   qemu-tests/check-iso.sh ISO [EXTRA_PATH_ON_ISO...]
set -euo pipefail
iso=${1:?usage: check-iso.sh ISO [path...]}
shift
fail=0
want() { # description, pattern, text
	if grep -Eq "$2" <<<"$3"; then echo "check-iso: ok   $1"; else echo "check-iso: FAIL $1" >&2; fail=1; fi
}
et=$(xorriso -indev "$iso" -report_el_torito plain 2>&1)
want "El Torito BIOS entry" '^El Torito boot img : +1 +BIOS +y' "$et"
want "El Torito UEFI entry" '^El Torito boot img : +2 +UEFI +y' "$et"
want "volume id TANDEM" "^Volume id +: 'TANDEM'" "$et"
sa=$(xorriso -indev "$iso" -report_system_area plain 2>&1)
want "GRUB hybrid MBR" 'grub2-mbr' "$sa"
want "GPT EFI system partition" '^GPT type GUID +: +2 +28732ac11ff8d211ba4b00a0c93ec93b' "$sa"
listing=$(xorriso -indev "$iso" -find / -type f 2>/dev/null)
for p in /.tandem /boot/grub/grub.cfg /boot/grub/bios.img /live/vmlinuz /live/initrd.img \
	/live/filesystem.squashfs /tandem/base.squashfs "$@"; do
	want "file $p" "^'$p'\$" "$listing"
done
echo "check-iso: $(stat -c %s "$iso") bytes"
exit $fail
