#!/bin/bash
# Boots small QEMU guests (TCG, no KVM needed) shaped like the machines Tandem must handle,
# lets the real systemd-udevd of Debian populate /run/udev/data inside them, and captures
# exactly the /sys, /run/udev/data and /proc files `tandem detect` reads. Each capture
# lands in installer/tests/fixtures/sysroot/<machine>/ as a plain tree of small text files
# (symlinks kept), so `tandem detect --sysroot DIR` sees what it would see on that machine.
#
# Usage: qemu-tests/capture-hardware.sh [MACHINE...]      (default: every machine below)
#        qemu-tests/capture-hardware.sh --list
# Env:   WORK (build dir, default build/hwcap), OUT (default the fixtures dir),
#        TANDEM_BIN (a tandem binary to also run `tandem detect --json` in the guest, saved
#        beside the tree as <machine>.live-detect.json, and again with udev's database
#        hidden as <machine>.probe-detect.json)
#
# To add a machine: write machine_<name>() setting QEMU_DEVS (devices), FIRMWARE
# (bios|uefi), optionally APPEND (kernel parameters) and GUEST_SETUP (shell run in the
# guest after udev settled, before capture; it may leave expected values in /cap/expected),
# and preparing any disk images in $M (the machine's work dir). Add <name> to MACHINES.
#
# Guest: Debian's kernel (the package linux-image-amd64 depends on) booted with -kernel,
# an initramfs of busybox-static, udevadm/systemd-udevd with Debian's udev rules (plus
# mdadm's and drbd-utils'), mdadm, lvm and drbdmeta. Nothing in the guest is synthesized:
# udevd runs its rules and builtins (blkid, path_id, usb_id, net_id, ata_id, scsi_id) on
# the emulated hardware.
# Left out of the rules on purpose: 64-md-raid-assembly and 69-lvm (auto-assembly and
# auto-activation), so an old md superblock stays an *old* member unless a machine
# assembles it itself.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$ROOT/build/hwcap}
OUT=${OUT:-$ROOT/installer/tests/fixtures/sysroot}
MACHINES="virtio-1nic sata-oldmd-2nic nvme-lvm-uefi-2nic bond-4nic busy-md-swap-mount pxe-sas-nomedium
    nvme4k-scsi-lvm-toram oldmd-formats sb-sata-e1000e-uefi"

die() { echo "capture-hardware: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

# ───────────────────────────── guest system ─────────────────────────────

KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$KPKG" ] || die "cannot find the kernel package linux-image-amd64 depends on"
KVER=${KPKG#linux-image-}
PKGS="$KPKG udev libudev1 libkmod2 libacl1 libcap2 libselinux1 libpcre2-8-0 mdadm lvm2 dmsetup
      libdevmapper1.02.1 libdevmapper-event1.02.1 libaio1 libedit2 libsystemd0 libbsd0 libmd0 kmod
      drbd-utils"
GUEST_MODULES="virtio_pci virtio_blk virtio_net virtio_scsi ahci sd_mod nvme xhci_pci usb_storage
      uas e1000e e1000 mptsas md_mod raid1 dm_mod crc32c_generic ext4 vfat nls_cp437 nls_ascii
      efivarfs"
# In the initramfs but loaded only by the machines that use them.
EXTRA_MODULES="bonding"

fetch_packages() {
    mkdir -p "$WORK/debs" "$WORK/pkgroot"
    if [ ! -e "$WORK/debs/.done" ]; then
        log "downloading $KPKG and the guest's userland from the Debian archive"
        (cd "$WORK/debs" && apt-get download $PKGS) >&2
        touch "$WORK/debs/.done"
    fi
    if [ ! -e "$WORK/pkgroot/.done" ]; then
        # Packages built for a merged /usr (trixie) ship /usr/bin, /usr/lib…: give the tree
        # the usrmerge links first so the paths below hold on either layout.
        mkdir -p "$WORK/pkgroot/usr/bin" "$WORK/pkgroot/usr/sbin" "$WORK/pkgroot/usr/lib"
        for d in bin sbin lib; do ln -sfn "usr/$d" "$WORK/pkgroot/$d"; done
        for d in "$WORK"/debs/*.deb; do dpkg-deb -x "$d" "$WORK/pkgroot"; done
        # kmod is a multi-call binary that picks its job by name.
        ln -sf kmod "$WORK/pkgroot/bin/depmod"
        ln -sf kmod "$WORK/pkgroot/bin/modinfo"
        touch "$WORK/pkgroot/.done"
    fi
}

PKGLIB="$WORK/pkgroot/lib/x86_64-linux-gnu:$WORK/pkgroot/usr/lib/x86_64-linux-gnu"

# Copies an ELF binary and every library it needs into the initramfs.
add_elf() {
    local src=$1 dst=$2 lib
    install -D -m 0755 "$src" "$S$dst"
    for lib in $(LD_LIBRARY_PATH=$PKGLIB ldd "$src" | awk '/=> \//{print $3} /^\t\/lib64/{print $1}'); do
        case $lib in
        /lib64/*) install -D -m 0755 "$lib" "$S$lib" ;;
        *) [ -e "$S/lib/x86_64-linux-gnu/$(basename "$lib")" ] ||
            install -D -m 0755 "$(readlink -f "$lib")" "$S/lib/x86_64-linux-gnu/$(basename "$lib")" ;;
        esac
    done
}

build_initramfs() {
    S="$WORK/initramfs"
    # Always rebuilt (seconds): a cached one could carry another run's tandem binary.
    log "building the guest initramfs (kernel $KVER)"
    rm -rf "$S"
    mkdir -p "$S"/{bin,sbin,etc,proc,sys,dev,run,tmp,mnt,lib/systemd/network,lib/udev/rules.d}
    install -m 0755 /bin/busybox "$S/bin/busybox"
    ln -s busybox "$S/bin/sh"
    local P="$WORK/pkgroot"
    add_elf "$P/bin/udevadm" /bin/udevadm
    ln -s /bin/udevadm "$S/lib/systemd/systemd-udevd"
    add_elf "$P/lib/udev/ata_id" /lib/udev/ata_id
    add_elf "$P/lib/udev/scsi_id" /lib/udev/scsi_id
    add_elf "$P/sbin/mdadm" /sbin/mdadm
    add_elf "$P/sbin/lvm" /sbin/lvm
    add_elf "$P/sbin/drbdmeta" /sbin/drbdmeta
    if [ -n "${TANDEM_BIN:-}" ]; then
        add_elf "$TANDEM_BIN" /bin/tandem
        strip "$S/bin/tandem" 2>/dev/null || true # a debug build is mostly symbols
    fi
    cp "$P"/lib/udev/rules.d/*.rules "$S/lib/udev/rules.d/"
    rm -f "$S"/lib/udev/rules.d/64-md-raid-assembly.rules "$S"/lib/udev/rules.d/69-lvm*.rules
    cp "$P"/lib/systemd/network/99-default.link "$S/lib/systemd/network/"
    printf 'root:x:0:0:root:/:/bin/sh\n' >"$S/etc/passwd"
    printf 'root:x:0:\ndisk:x:6:\ntape:x:26:\ncdrom:x:24:\ndialout:x:20:\nkvm:x:104:\n' >"$S/etc/group"
    # The modules the shapes need, with their dependencies, and fresh indexes for them
    # (udevd loads drivers by modalias through libkmod).
    local M="$P/lib/modules/$KVER" mod f
    [ -e "$M/modules.dep" ] || LD_LIBRARY_PATH=$PKGLIB "$P/bin/depmod" -b "$P" "$KVER"
    for mod in $GUEST_MODULES $EXTRA_MODULES; do
        f=$(LD_LIBRARY_PATH=$PKGLIB "$P/bin/modinfo" -b "$P" -k "$KVER" -F filename "$mod" 2>/dev/null || true)
        case $f in ""|"(builtin)") continue ;; esac
        for f in ${f#$M/} $(awk -v m="${f#$M/}:" '$1==m{$1=""; print}' "$M/modules.dep"); do
            install -D -m 0644 "$M/$f" "$S/lib/modules/$KVER/$f"
        done
    done
    cp "$M"/modules.builtin "$M"/modules.builtin.modinfo "$M"/modules.order "$S/lib/modules/$KVER/"
    LD_LIBRARY_PATH=$PKGLIB "$P/bin/depmod" -b "$S" "$KVER"
    write_init >"$S/init"
    chmod 0755 "$S/init"
    write_guest_capture >"$S/capture.sh"
    (cd "$S" && find . | cpio -o -H newc --quiet) >"$WORK/base.cpio"
    log "initramfs: $(du -h "$WORK/base.cpio" | cut -f1)"
}

write_init() {
    cat <<EOF
#!/bin/sh
export PATH=/bin:/sbin LD_LIBRARY_PATH=/lib/x86_64-linux-gnu
/bin/busybox --install -s /bin 2>/dev/null
mount -t proc proc /proc
/bin/busybox --install -s /bin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
modprobe efivarfs 2>/dev/null
[ -d /sys/firmware/efi/efivars ] && mount -t efivarfs efivarfs /sys/firmware/efi/efivars
dmesg -n 1
modprobe usb_storage delay_use=0
for m in $(echo $GUEST_MODULES); do modprobe \$m 2>/dev/null; done
/lib/systemd/systemd-udevd --daemon
udevadm trigger --type=subsystems --action=add
udevadm trigger --type=devices --action=add
udevadm settle --timeout=180
. /machine.sh
echo "capture: setting up the machine's state" >/dev/ttyS0
setup
# udev re-probes what setup wrote (md superblocks, PVs, swap), as it would on a live boot.
udevadm trigger --action=change --subsystem-match=block
udevadm settle --timeout=180
. /capture.sh
poweroff -f
EOF
}

# Runs in the guest: copies what detect reads into /cap (file contents via cat, because
# sysfs and procfs report sizes that archivers cannot trust; symlinks as symlinks).
write_guest_capture() {
    cat <<'EOF'
C=/cap
cap() {
    _f=$1
    [ -e "$_f" ] || [ -L "$_f" ] || return 0
    mkdir -p "$C$(dirname "$_f")"
    if [ -L "$_f" ]; then ln -sfn "$(readlink "$_f")" "$C$_f"
    elif [ -d "$_f" ]; then mkdir -p "$C$_f"
    else cat "$_f" >"$C$_f" 2>/dev/null || rm -f "$C$_f"
    fi
}
capdir() { cap "$1"; for _e in "$1"/*; do cap "$_e"; done; }
for b in /sys/block/*; do
    cap "$b"
    R=$(readlink -f "$b")
    for f in dev size removable ro serial wwid queue/logical_block_size \
             queue/physical_block_size queue/rotational device; do cap "$R/$f"; done
    capdir "$R/holders"
    capdir "$R/slaves"
    if [ -L "$R/device" ]; then
        D=$(readlink -f "$R/device")
        for f in model serial wwid vendor rev firmware_rev; do cap "$D/$f"; done
    fi
    for p in "$R"/*; do
        [ -e "$p/partition" ] || continue
        for f in dev size partition start ro; do cap "$p/$f"; done
        capdir "$p/holders"
    done
done
for n in /sys/class/net/*; do
    cap "$n"
    R=$(readlink -f "$n")
    for f in address addr_assign_type ifindex type speed duplex carrier operstate mtu \
             device master bonding/mode bonding/slaves bonding/active_slave; do cap "$R/$f"; done
    if [ -L "$R/device" ]; then
        D=$(readlink -f "$R/device")
        cap "$D/driver"
    fi
done
if [ -d /sys/firmware/efi ]; then
    cap /sys/firmware/efi/fw_platform_size
    cap /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
fi
for f in /run/udev/data/b* /run/udev/data/n*; do cap "$f"; done
mkdir -p $C/proc/self $C/proc/net/bonding
cat /proc/self/mountinfo >$C/proc/self/mountinfo
for f in swaps cpuinfo meminfo cmdline; do cat /proc/$f >$C/proc/$f; done
for f in /proc/net/bonding/*; do [ -e "$f" ] && cat "$f" >"$C$f"; done
if [ -x /bin/tandem ]; then
    /bin/tandem detect --json >/tmp/live-detect.json 2>/tmp/live-detect.err || cat /tmp/live-detect.err >/dev/ttyS0
    # Once more with udev's database hidden: signatures from the devices' bytes alone,
    # to check the probe against blkid on real superblocks.
    mkdir -p /tmp/empty && mount --bind /tmp/empty /run/udev/data
    /bin/tandem detect --json >/tmp/probe-detect.json 2>/tmp/probe-detect.err || cat /tmp/probe-detect.err >/dev/ttyS0
    umount /run/udev/data
fi
{
    echo BEGIN-CAPTURE
    tar -C $C -cf - . | gzip -9 | base64
    echo END-CAPTURE
    for f in live probe; do
        if [ -s /tmp/$f-detect.json ]; then
            echo BEGIN-$f
            base64 </tmp/$f-detect.json
            echo END-$f
        fi
    done
} >/dev/ttyS1
sync
EOF
}

# ───────────────────────────── disks and NICs ─────────────────────────────

img() { truncate -s "$2" "$M/$1.img"; }   # a sparse raw disk image
drive() { echo "-drive if=none,id=$1,format=raw,file=$M/$1.img"; }
virtio_disk() { img "$1" "$2"; echo "$(drive "$1") -device virtio-blk-pci,drive=$1,serial=$3"; }
sata_disk() { # name size serial ahci-port [extra ide-hd properties]
    img "$1" "$2"; echo "$(drive "$1") -device ide-hd,drive=$1,bus=ahci.$4,serial=$3${5:+,$5}"
}
nvme_disk() { img "$1" "$2"; echo "$(drive "$1") -device nvme,drive=$1,serial=$3"; }
nic() { # model mac
    local id="net${2//:/}"
    echo "-netdev user,id=$id,restrict=on -device $1,netdev=$id,mac=$2"
}
# The live medium: a USB stick with a GPT and a FAT partition labelled TANDEM, which the
# guest mounts read-only at /run/live/medium like live-boot does.
usb_stick() {
    img stick 256M
    sgdisk -n 1:2048:0 -t 1:0700 -c 1:TANDEM "$M/stick.img" >/dev/null
    mkfs.vfat -n TANDEM -i 7a4d0001 --offset 2048 "$M/stick.img" $(((256 * 2048 - 2048 - 34) / 2)) >/dev/null 2>&1
    echo "-device qemu-xhci,id=xhci $(drive stick) -device usb-storage,bus=xhci.0,drive=stick,serial=TANDEMUSB01,removable=on"
}
MOUNT_MEDIUM='for b in /sys/block/sd*; do
    case $(readlink -f $b) in *usb*) mkdir -p /run/live/medium; mount -o ro /dev/${b##*/}1 /run/live/medium ;; esac
done'
# An ext4 filesystem inside partition 1 of a GPT disk image, made on the host.
gpt_ext4() { # image label
    sgdisk -n 1:2048:0 -t 1:8300 "$M/$1.img" >/dev/null
    local bytes; bytes=$(stat -c %s "$M/$1.img")
    mkfs.ext4 -q -F -L "$2" -U 5a1e0000-0000-4000-8000-00000000e4e4 -E offset=$((2048 * 512)),nodiscard \
        "$M/$1.img" $(((bytes - 2048 * 512 - 34 * 512) / 1024))k
}
gpt_raid() { sgdisk -n 1:2048:0 -t 1:FD00 "$M/$1.img" >/dev/null; }

# ───────────────────────────── machines ─────────────────────────────

# Three virtio disks (one blank, one with an ext4 data partition, one with DRBD 9 internal
# metadata made by drbdmeta), one virtio NIC, USB boot.
machine_virtio-1nic() {
    FIRMWARE=bios
    QEMU_DEVS="$(virtio_disk vda 8G VIRTA0001) $(virtio_disk vdb 8G VIRTB0002)
        $(virtio_disk vdc 2G VIRTC0003) $(nic virtio-net-pci 52:54:00:10:00:01) $(usb_stick)"
    gpt_ext4 vdb olddata
    GUEST_SETUP="$MOUNT_MEDIUM
        mkdir -p /var/lock /var/lib/drbd
        yes yes | drbdmeta --force 0 v09 /dev/vdc internal create-md 1
        for n in /sys/class/net/en*; do ip link set \${n##*/} up; done"
}

# Three SATA disks on AHCI (two HDD-like 4K-physical with an old, stopped RAID1 on their
# first partitions; one SSD with a WWN), two e1000e NICs (one up), USB boot.
machine_sata-oldmd-2nic() {
    FIRMWARE=bios
    QEMU_DEVS="-device ahci,id=ahci
        $(sata_disk sda 6G SATA0001 0 physical_block_size=4096,rotation_rate=7200)
        $(sata_disk sdb 6G SATA0002 1 physical_block_size=4096,rotation_rate=7200)
        $(sata_disk sdc 4G SSD00003 2 rotation_rate=1,model=Samsung_SSD_870,wwn=0x5002538e40a1b2c3)
        $(nic e1000e 52:54:00:20:00:01) $(nic e1000e 52:54:00:20:00:02) $(usb_stick)"
    gpt_raid sda
    gpt_raid sdb
    GUEST_SETUP="$MOUNT_MEDIUM
        mdadm --create /dev/md/0 --run --metadata=1.2 --level=1 --raid-devices=2 --homehost=oldhost --name=0 --assume-clean /dev/disk/by-id/ata-QEMU_HARDDISK_SATA0001-part1 /dev/disk/by-id/ata-QEMU_HARDDISK_SATA0002-part1
        mdadm --stop /dev/md/0
        ip link set \$(ls /sys/class/net | grep ^en | head -1) up
        sleep 3 # e1000e autonegotiation, so the link is up when captured"
}

# UEFI (OVMF, Secure Boot off): two NVMe (one an old LVM PV of VG oldvg), one SATA disk,
# two virtio NICs, USB boot.
machine_nvme-lvm-uefi-2nic() {
    FIRMWARE=uefi
    QEMU_DEVS="$(nvme_disk nvme0 10G NVME0001) $(nvme_disk nvme1 10G NVME0002)
        -device ahci,id=ahci $(sata_disk sata0 4G SATA0101 0)
        $(nic virtio-net-pci 52:54:00:30:00:01) $(nic virtio-net-pci 52:54:00:30:00:02) $(usb_stick)"
    GUEST_SETUP="$MOUNT_MEDIUM
        mkdir -p /run/lvm /etc/lvm
        d=/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_NVME0002
        lvm pvcreate -qq -y \$d && lvm vgcreate -qq oldvg \$d
        for n in /sys/class/net/en*; do ip link set \${n##*/} up; done"
}

# Four NICs: two e1000e in an active-backup bond that is up (so one member's current MAC
# is the bond's, not its own), two virtio (one up, one down); one virtio disk; USB boot.
machine_bond-4nic() {
    FIRMWARE=bios
    QEMU_DEVS="$(virtio_disk vda 8G VIRTA0401)
        $(nic e1000e 52:54:00:40:00:01) $(nic e1000e 52:54:00:40:00:02)
        $(nic virtio-net-pci 52:54:00:40:00:03) $(nic virtio-net-pci 52:54:00:40:00:04) $(usb_stick)"
    GUEST_SETUP="$MOUNT_MEDIUM
        modprobe bonding max_bonds=0
        echo +bond0 >/sys/class/net/bonding_masters
        echo active-backup >/sys/class/net/bond0/bonding/mode
        echo 100 >/sys/class/net/bond0/bonding/miimon
        for n in /sys/class/net/en*; do
            [ \"\$(basename \$(readlink \$n/device/driver))\" = e1000e ] && echo +\${n##*/} >/sys/class/net/bond0/bonding/slaves
        done
        ip link set bond0 up
        ip link set \$(for n in /sys/class/net/en*; do [ \"\$(basename \$(readlink \$n/device/driver))\" = virtio_net ] && echo \${n##*/}; done | head -1) up
        sleep 3"
}

# What an installer must refuse: an active RAID1 (members held by md127), swap on a
# partition, a mounted filesystem. Three virtio disks, one virtio NIC, USB boot.
machine_busy-md-swap-mount() {
    FIRMWARE=bios
    QEMU_DEVS="$(virtio_disk vda 4G VIRTA0501) $(virtio_disk vdb 4G VIRTB0502)
        $(virtio_disk vdc 4G VIRTC0503) $(nic virtio-net-pci 52:54:00:50:00:01) $(usb_stick)"
    gpt_raid vda
    gpt_raid vdb
    sgdisk -n 1:2048:+512M -t 1:8200 -n 2:0:0 -t 2:8300 "$M/vdc.img" >/dev/null
    mkfs.ext4 -q -F -L busydata -E offset=$(((2048 + 512 * 2048) * 512)),nodiscard "$M/vdc.img" 1048576k
    GUEST_SETUP="$MOUNT_MEDIUM
        mdadm --create /dev/md/busy --run --metadata=1.2 --level=1 --raid-devices=2 --homehost=thishost --name=busy --assume-clean /dev/vda1 /dev/vdb1
        mkswap -L busyswap /dev/vdc1 && swapon /dev/vdc1
        mkdir -p /mnt/data && mount -t ext4 /dev/vdc2 /mnt/data"
}

# Booted over the network (PXE/toram): no medium. Two SAS disks behind an LSI SAS1068
# HBA, one virtio NIC with link up.
machine_pxe-sas-nomedium() {
    FIRMWARE=bios
    img sas0 6G
    img sas1 6G
    QEMU_DEVS="-device mptsas1068,id=sas
        $(drive sas0) -device scsi-hd,drive=sas0,bus=sas.0,serial=SAS00001,wwn=0x5000c500a1b2c301,rotation_rate=10000
        $(drive sas1) -device scsi-hd,drive=sas1,bus=sas.0,serial=SAS00002,wwn=0x5000c500a1b2c302,rotation_rate=10000
        $(nic virtio-net-pci 52:54:00:60:00:01)"
    GUEST_SETUP="for n in /sys/class/net/en*; do ip link set \${n##*/} up; done"
}

# toram: the stick is not mounted, the kernel command line names it (tandem.medium=).
# A 4Kn NVMe namespace, a virtio-scsi disk carrying an *active* LV (held by dm-0), one
# e1000 NIC.
machine_nvme4k-scsi-lvm-toram() {
    FIRMWARE=bios
    APPEND="tandem.medium=TANDEMUSB01"
    img scsi0 4G
    QEMU_DEVS="$(nvme_disk nvme0 4G NVME4K01),logical_block_size=4096,physical_block_size=4096
        -device virtio-scsi-pci,id=vscsi $(drive scsi0) -device scsi-hd,drive=scsi0,bus=vscsi.0,serial=VSCSI001
        $(nic e1000 52:54:00:70:00:01) $(usb_stick)"
    GUEST_SETUP="mkdir -p /run/lvm /etc/lvm
        d=/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_VSCSI001
        [ -e \$d ] || d=\$(ls /dev/disk/by-id/scsi-*VSCSI001 | head -1)
        lvm pvcreate -qq -y \$d && lvm vgcreate -qq livevg \$d
        lvm lvcreate -qq -y -L 64M -n data livevg --config 'activation { udev_sync = 0 udev_rules = 0 }'
        for n in /sys/class/net/en*; do ip link set \${n##*/} up; done
        sleep 3 # e1000 autonegotiation"
}

# Old md members of every superblock format, on whole disks, all stopped: 0.90 and 1.0
# (at the end of the device), 1.1 (at the start), 1.2 (4 KiB in). Five virtio disks, one
# virtio NIC, USB boot.
machine_oldmd-formats() {
    FIRMWARE=bios
    QEMU_DEVS="$(virtio_disk vda 1G VIRTA0801) $(virtio_disk vdb 1G VIRTB0802)
        $(virtio_disk vdc 1G VIRTC0803) $(virtio_disk vdd 1G VIRTD0804)
        $(virtio_disk vde 1G VIRTE0805) $(nic virtio-net-pci 52:54:00:80:00:01) $(usb_stick)"
    GUEST_SETUP="$MOUNT_MEDIUM
        mdadm --create /dev/md/old090 --run --metadata=0.90 --level=1 --raid-devices=2 --assume-clean /dev/vda /dev/vdb
        mdadm --create /dev/md/old10 --run --metadata=1.0 --level=1 --raid-devices=2 --homehost=oldhost --name=ten --assume-clean /dev/vdc /dev/vdd
        mdadm --create /dev/md/old11 --run --metadata=1.1 --level=1 --raid-devices=2 --homehost=oldhost --name=eleven --assume-clean --force /dev/vde missing
        # What mdadm itself says about the arrays, kept with the capture for the tests.
        mkdir -p /cap/expected && mdadm --detail --scan >/cap/expected/mdadm-detail-scan
        mdadm --stop --scan
        for n in /sys/class/net/en*; do ip link set \${n##*/} up; done"
}

# Secure Boot enforced (OVMF's secboot build, Microsoft's keys enrolled; the kernel is
# locked down): two SATA disks on AHCI, an e1000e and a virtio NIC, USB boot. The serials
# and the NIC models are the e2e reinstall machine's.
machine_sb-sata-e1000e-uefi() {
    FIRMWARE=uefi-sb
    QEMU_DEVS="-device ahci,id=ahci
        $(sata_disk sda 6G tandem-sb-disk0 0) $(sata_disk sdb 6G tandem-sb-disk1 1)
        $(nic e1000e 52:54:00:90:00:01) $(nic virtio-net-pci 52:54:00:90:00:02) $(usb_stick)"
    GUEST_SETUP="$MOUNT_MEDIUM
        mount -t securityfs securityfs /sys/kernel/security
        mkdir -p /cap/expected && cat /sys/kernel/security/lockdown >/cap/expected/lockdown
        dmesg | grep -i -e secure -e lockdown >/dev/ttyS0
        for n in /sys/class/net/en*; do ip link set \${n##*/} up; done
        sleep 3 # e1000e autonegotiation"
}

# ───────────────────────────── running ─────────────────────────────

capture() {
    local name=$1
    declare -F "machine_$name" >/dev/null || die "unknown machine $name (try --list)"
    M="$WORK/$name"
    rm -rf "$M"
    mkdir -p "$M"
    APPEND=""
    "machine_$name"
    printf 'setup() {\n%s\n}\n' "$GUEST_SETUP" >"$M/machine.sh"
    (cd "$M" && echo machine.sh | cpio -o -H newc --quiet) >"$M/machine.cpio"
    cat "$WORK/base.cpio" "$M/machine.cpio" | gzip -1 >"$M/initrd.gz"
    local fw=()
    case $FIRMWARE in
    uefi)
        cp /usr/share/OVMF/OVMF_VARS_4M.fd "$M/vars.fd"
        fw=(-drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
            -drive if=pflash,format=raw,file="$M/vars.fd") ;;
    uefi-sb)
        # Debian's kernel is signed by Debian, whom this firmware does not trust (only shim
        # is, by Microsoft): OVMF refuses the -kernel image and boots it through the Linux
        # boot protocol instead, still from UEFI, so the kernel sees SecureBoot=1 and
        # locks itself down as on a server booted through shim. (Measured with Debian 12's
        # ovmf 2022.11; a firmware that drops this fallback boots nothing, and the capture
        # stops with "no capture".)
        cp /usr/share/OVMF/OVMF_VARS_4M.ms.fd "$M/vars.fd"
        fw=(-machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on
            -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd
            -drive if=pflash,format=raw,file="$M/vars.fd") ;;
    bios) ;;
    *) die "$name: firmware $FIRMWARE" ;;
    esac
    log "$name: booting ($FIRMWARE)"
    local t0=$SECONDS
    # shellcheck disable=SC2086
    timeout 900 qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -nodefaults -display none \
        -monitor none -serial "file:$M/console.log" -serial "file:$M/capture.b64" \
        "${fw[@]}" -kernel "$WORK/pkgroot/boot/vmlinuz-$KVER" -initrd "$M/initrd.gz" \
        -append "console=ttyS0 quiet panic=-1 net.ifnames=1 $APPEND" -no-reboot $QEMU_DEVS ||
        die "$name: qemu failed; see $M/console.log"
    grep -q END-CAPTURE "$M/capture.b64" || die "$name: no capture; see $M/console.log"
    rm -rf "${OUT:?}/$name"
    mkdir -p "$OUT/$name"
    sed -n '/BEGIN-CAPTURE/,/END-CAPTURE/p' "$M/capture.b64" | tr -d '\r' | sed '1d;$d' |
        base64 -d | gzip -d | tar -C "$OUT/$name" -xf -
    rm -f "$OUT/$name".*-detect.json
    for f in live probe; do
        if grep -q "END-$f" "$M/capture.b64"; then
            sed -n "/BEGIN-$f/,/END-$f/p" "$M/capture.b64" | tr -d '\r' | sed '1d;$d' |
                base64 -d >"$OUT/$name.$f-detect.json"
        fi
    done
    log "$name: captured in $((SECONDS - t0)) s, $(du -sh "$OUT/$name" | cut -f1), $(find "$OUT/$name" -type f | wc -l) files"
}

if [ "${1:-}" = --list ]; then
    tr ' ' '\n' <<<"$MACHINES"
    exit 0
fi
for tool in qemu-system-x86_64 sgdisk mkfs.vfat mkfs.ext4 cpio busybox; do
    command -v "$tool" >/dev/null || die "$tool is missing (make deps)"
done
fetch_packages
build_initramfs
# shellcheck disable=SC2086
[ $# -gt 0 ] || set -- $MACHINES
for name in "$@"; do capture "$name"; done
