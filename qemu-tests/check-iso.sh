#!/bin/bash
# Static checks of a Tandem ISO (no boot): El Torito has a BIOS and a UEFI entry, the
# system area has GRUB's hybrid MBR and a GPT with the EFI partition, and the files the
# live system and the installer need are there; the EFI image holds Debian's signed chain
# (shim as the removable loader, signed GRUB and MokManager beside it).
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
for p in /.tandem /.disk/info /boot/grub/grub.cfg /boot/grub/bios.img /live/vmlinuz /live/initrd.img \
	/live/filesystem.squashfs /tandem/base.squashfs "$@"; do
	want "file $p" "^'$p'\$" "$listing"
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-iso.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
xorriso -osirrox on -indev "$iso" -extract_boot_images "$tmp/" >/dev/null 2>&1 || true
efi=$(ls "$tmp"/eltorito_img2_uefi.img 2>/dev/null || true)
if [ -n "$efi" ]; then
	fat=$(mdir -b -i "$efi" ::/EFI/BOOT 2>&1 || true)
	for f in BOOTX64.EFI grubx64.efi mmx64.efi; do
		want "EFI image file /EFI/BOOT/$f" "/EFI/BOOT/$f\$" "$fat"
	done
	mcopy -i "$efi" ::/EFI/BOOT/BOOTX64.EFI "$tmp/boot.efi" 2>/dev/null || true
	# shim-signed's shim carries Microsoft's UEFI CA signature (Authenticode); an unsigned
	# image (what grub-mkimage makes) has none and a Secure Boot firmware refuses it.
	want "BOOTX64.EFI signed by Microsoft's UEFI CA" "Microsoft Corporation UEFI CA" \
		"$(strings -n 8 "$tmp/boot.efi" 2>/dev/null | grep -m1 'Microsoft Corporation UEFI CA' || true)"
else
	want "EFI boot image extracted" '^never$' "$(ls "$tmp")"
fi
echo "check-iso: $(stat -c %s "$iso") bytes"
exit $fail
