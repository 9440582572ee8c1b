#!/bin/bash
# Network boot of the pxe/ artifacts under QEMU user networking, everything on this host:
# QEMU's built-in DHCP/TFTP hands iPXE a two-line script that points `tandem-base` at a
# python HTTP server on 127.0.0.1 (the guest reaches it as 10.0.2.100, see below)
# and chains the unmodified boot.ipxe from there. Passes when the live system is up (the
# squashfs came over HTTP via live-boot's fetch=) and its console shows the per-MAC
# answer URL expanded by iPXE. The user network is restricted (the guest reaches nothing
# beyond QEMU's DHCP/TFTP); the HTTP server is forwarded into it as 10.0.2.100:PORT.
#   qemu-tests/boot-pxe.sh PXE_DIR [TIMEOUT]
set -euo pipefail
here=$(dirname "$(realpath "$0")")
pxe=$(realpath "${1:?usage: boot-pxe.sh PXE_DIR [TIMEOUT]}")
timeout=${2:-1200}
mac=52:54:00:7a:4e:01
marker="TANDEM READY"

work=$(mktemp -d "${TMPDIR:-/tmp}/tandem-pxe.XXXXXX")
log=$work/serial.log
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -z "${KEEP_LOG:-}" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# HTTP root: the artifacts plus an answer for this machine's MAC.
mkdir -p "$work/http/answers" "$work/tftp"
for f in vmlinuz initrd.img filesystem.squashfs boot.ipxe; do ln -s "$pxe/$f" "$work/http/$f"; done
echo '# per-machine answer served for the PXE boot test' >"$work/http/answers/$mac.toml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$work/http" "$port" >"$work/http.log" 2>&1 &
pids+=($!)
printf '#!ipxe\ndhcp\nset tandem-base http://10.0.2.100:%s\nchain ${tandem-base}/boot.ipxe\n' "$port" \
	>"$work/tftp/test.ipxe"

start=$(date +%s)
# thread=single: see boot-iso.sh.
qemu-system-x86_64 -accel "${QEMU_ACCEL:-tcg,thread=single}" -m 2048 -smp 2 -display none \
	-monitor none -no-reboot -serial "file:$log" -boot n \
	-netdev "user,id=n0,restrict=on,tftp=$work/tftp,bootfile=test.ipxe,guestfwd=tcp:10.0.2.100:$port-cmd:$here/guestfwd-relay.py $port" \
	-device "virtio-net-pci,netdev=n0,mac=$mac" 2>"$work/qemu.err" &
qpid=$!
pids+=($qpid)
want="answer (kernel command line): http://10.0.2.100:$port/answers/$mac.toml"
want_media="medium (base image, package repository): http://10.0.2.100:$port"
grep -q 'tandem.media=' "$pxe/boot.ipxe" || want_media=$marker
result=timeout
while [ $(($(date +%s) - start)) -lt "$timeout" ]; do
	if grep -aq "$marker" "$log" 2>/dev/null && grep -aqF "$want" "$log" &&
		grep -aqF "$want_media" "$log"; then
		result=ready
		break
	fi
	kill -0 "$qpid" 2>/dev/null || { result=exited; break; }
	grep -aq 'Kernel panic' "$log" 2>/dev/null && { result=panic; break; }
	sleep 2
done
elapsed=$(($(date +%s) - start))
if [ $result = ready ]; then
	echo "boot pxe: $(grep -a "$marker" "$log" | head -1 | tr -d '\r') after ${elapsed} s"
	echo "boot pxe: saw '$want'"
	[ "$want_media" != "$marker" ] && echo "boot pxe: saw '$want_media'"
	grep -q 'GET /filesystem.squashfs' "$work/http.log" && echo "boot pxe: squashfs fetched over HTTP"
	exit 0
fi
echo "boot pxe: FAILED ($result after ${elapsed} s); last console lines:" >&2
tail -n 40 "$log" | tr -d '\r' >&2
echo "HTTP log:" >&2
tail -n 10 "$work/http.log" >&2
exit 1
