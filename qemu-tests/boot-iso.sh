#!/bin/bash
# Boots a Tandem ISO under QEMU (TCG, no KVM needed) and waits for the live system's
# "TANDEM READY" line on the serial console.
#
#   qemu-tests/boot-iso.sh ISO MODE [TIMEOUT_SECS] [EXTRA_MARKER]
#
# bios: SeaBIOS, ISO as CD-ROM (El Torito BIOS entry).
# uefi: OVMF, ISO as CD-ROM (El Torito EFI entry).
# uefi-disk: OVMF, ISO as a virtio hard disk, as after `dd` to a USB stick (GPT + ESP).
# bios-disk: SeaBIOS, ISO as a hard disk (hybrid MBR).
# uefi-sb, uefi-disk-sb: as uefi and uefi-disk, with Secure Boot enforced and only
#   Microsoft's keys enrolled (Debian's ovmf: the secboot firmware, the ms variable store,
#   q35 with SMM so the store is protected); the kernel must also report "Secure boot
#   enabled", i.e. shim, GRUB and the kernel all passed verification.
# EXTRA_MARKER, if given, must appear on the console too (e.g. the embedded answer line).
# Prints the wall time to the marker. Exit 0 when seen, 1 on timeout or QEMU failure.
set -euo pipefail

iso=${1:?usage: boot-iso.sh ISO bios|uefi|uefi-disk|bios-disk|uefi-sb|uefi-disk-sb [TIMEOUT] [EXTRA_MARKER]}
mode=${2:?firmware: bios, uefi, uefi-disk, bios-disk, uefi-sb or uefi-disk-sb}
timeout=${3:-900}
extra=${4:-}
marker="TANDEM READY"

work=$(mktemp -d "${TMPDIR:-/tmp}/tandem-boot.XXXXXX")
log=$work/serial.log
qpid=
cleanup() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
	fi
	if [ -z "${KEEP_LOG:-}" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# thread=single: with multi-threaded TCG, two vCPUs occasionally race on the kernel's
# int3-based code patching ("Oops: int3" in early boot); one host thread for both vCPUs
# avoids that and costs little on a 2-core host.
args=(-accel "${QEMU_ACCEL:-tcg,thread=single}" -m 2048 -smp 2 -display none -monitor none
	-no-reboot -serial "file:$log" -net none)
case "$mode" in
bios | uefi | uefi-sb) args+=(-drive "file=$iso,media=cdrom,readonly=on,if=ide,index=2") ;;
bios-disk | uefi-disk | uefi-disk-sb) args+=(-drive "file=$iso,format=raw,if=virtio,snapshot=on") ;;
*) echo "unknown firmware mode $mode" >&2; exit 2 ;;
esac
# The 4 MiB builds: the only ones Debian 13's ovmf has.
case "$mode" in
uefi | uefi-disk)
	cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/vars.fd"
	args+=(-drive "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
		-drive "if=pflash,format=raw,file=$work/vars.fd")
	;;
uefi-sb | uefi-disk-sb)
	cp /usr/share/OVMF/OVMF_VARS_4M.ms.fd "$work/vars.fd"
	args+=(-machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on
		-drive "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
		-drive "if=pflash,format=raw,file=$work/vars.fd")
	# The kernel's own word that the firmware enforced Secure Boot on what it started.
	sb_marker="Secure boot enabled"
	;;
esac

start=$(date +%s.%N)
qemu-system-x86_64 "${args[@]}" 2>"$work/qemu.err" &
qpid=$!
result=timeout
while :; do
	if grep -aq "$marker" "$log" 2>/dev/null; then
		if [ -n "${sb_marker:-}" ] && ! grep -aqF "$sb_marker" "$log"; then
			result=no-secure-boot
			break
		fi
		if [ -z "$extra" ] || grep -aqF "$extra" "$log"; then
			result=ready
			break
		fi
	fi
	if ! kill -0 "$qpid" 2>/dev/null; then
		result=exited
		break
	fi
	if grep -aq 'Kernel panic' "$log" 2>/dev/null; then
		result=panic
		break
	fi
	now=$(date +%s.%N)
	if awk -v s="$start" -v n="$now" -v t="$timeout" 'BEGIN { exit !(n - s > t) }'; then
		break
	fi
	sleep 2
done
# Let the rest of the banner reach the log.
[ "$result" = ready ] && sleep 3
elapsed=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%.0f", n - s }')
if [ "$result" = ready ]; then
	echo "boot $mode: $(grep -a "$marker" "$log" | head -1 | tr -d '\r') after ${elapsed} s"
	[ -n "$extra" ] && echo "boot $mode: saw '$extra'"
	[ -n "${sb_marker:-}" ] && echo "boot $mode: $(grep -a "$sb_marker" "$log" | head -1 | tr -d '\r')"
	exit 0
fi
echo "boot $mode: FAILED ($result after ${elapsed} s); last console lines:" >&2
tail -n 40 "$log" | tr -d '\r' >&2
exit 1
