//! The executor's tasks against a [`Recording`] system: what each runs, writes, mounts and
//! downloads, in a temporary directory standing for the live system (`sysroot`) with the
//! target inside it. No root, no disks, no QEMU.

use super::*;
use crate::answer::{Document, NodeHint};
use crate::exec::medium::BaseImage;
use crate::exec::progress::Mode;
use crate::exec::system::{Call, Recording};
use crate::hardware::Inventory;
use crate::render::{RenderedFile, Secrets};
use std::fs;

/// A temporary directory, removed when the test ends.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("tandem-task-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(p.join("target")).unwrap();
        Dir(p)
    }
    fn target(&self) -> PathBuf {
        self.0.join("target")
    }
    fn file(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// An example answer planned against the fixture its first line names.
struct Case {
    answer: Answer,
    plan: Plan,
    files: Vec<RenderedFile>,
}

fn case(example: &str) -> Case {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = fs::read_to_string(root.join("../examples").join(example)).unwrap();
    let fixture = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# hardware: "))
        .unwrap();
    let inv = Inventory::from_json(
        &fs::read_to_string(root.join(format!("tests/fixtures/hardware/{fixture}.json"))).unwrap(),
    )
    .unwrap();
    let loaded = Document::parse(example, &text)
        .unwrap()
        .resolve(&NodeHint {
            name: None,
            macs: inv.physical_nics().map(|n| n.hw_mac().clone()).collect(),
        })
        .unwrap();
    let plan = crate::session::plan_for(&loaded.answer, loaded.node, &inv).unwrap();
    let secrets = Secrets::from_answer(&loaded.answer, |_| "s".repeat(32));
    let files = crate::render::all(&loaded.answer, &plan, &secrets);
    Case {
        answer: loaded.answer,
        plan,
        files,
    }
}

fn executor<'a>(c: &'a Case, dir: &Dir) -> Executor<'a, Recording> {
    let mut env = Env::new(
        dir.target(),
        BaseImage::Local("/medium/base.squashfs".into()),
    );
    env.scratch = dir.0.join("tmp");
    Executor::new(
        &c.answer,
        &c.plan,
        env,
        dir.0.clone(),
        Recording::new(&dir.0),
        Progress::new(Mode::Plain, 1),
    )
}

#[test]
fn write_puts_each_rendered_file_into_the_target_with_its_mode() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("write");
    let mut ex = executor(&c, &d);
    let fstab = c.files.iter().find(|f| f.path == "/etc/fstab").unwrap();
    let private = RenderedFile {
        path: "/root/.ssh/authorized_keys".into(),
        mode: 0o600,
        content: "ssh-ed25519 AAAA x\n".into(),
    };
    ex.task(&Task::Write(fstab.clone())).unwrap();
    ex.task(&Task::Write(private.clone())).unwrap();
    let t = d.target();
    assert_eq!(
        ex.runner.calls(),
        [
            Call::WriteFile(t.join("etc/fstab"), 0o644),
            Call::WriteFile(t.join("root/.ssh/authorized_keys"), 0o600)
        ]
    );
    assert_eq!(
        fs::read_to_string(t.join("etc/fstab")).unwrap(),
        fstab.content
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(t.join("root/.ssh/authorized_keys"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        ex.runner.notes(),
        [
            "wrote /etc/fstab (0644)",
            "wrote /root/.ssh/authorized_keys (0600)"
        ]
    );
    // A path that climbs out of the target is refused before anything is written.
    let bad = RenderedFile {
        path: "/etc/../../escape".into(),
        ..private
    };
    assert!(ex.task(&Task::Write(bad)).is_err());
    assert!(!d.0.join("escape").exists());
}

#[test]
fn live_mdadm_conf_goes_to_the_live_system_not_the_target() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("livemd");
    let mut ex = executor(&c, &d);
    let conf = crate::render::mdadm::mdadm_conf(&c.plan).content;
    ex.task(&Task::LiveMdadmConf(conf.clone())).unwrap();
    let p = d.0.join("etc/mdadm/mdadm.conf");
    assert_eq!(fs::read_to_string(&p).unwrap(), conf);
    assert!(
        conf.contains("ARRAY /dev/md/data metadata=1.2 UUID="),
        "{conf}"
    );
    assert!(ex.runner.calls().contains(&Call::Write(p.clone())));
    assert!(!d.target().join("etc/mdadm").exists());
    assert_eq!(ex.runner.notes(), [format!("wrote {}", p.display())]);
}

#[test]
fn show_mdstat_reads_the_live_state_and_keeps_it_for_the_summary() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("mdstat");
    let mut ex = executor(&c, &d);
    assert!(ex.task(&Task::ShowMdstat).is_err(), "no /proc/mdstat yet");
    let md = "Personalities : [raid1]\nmd127 : active raid1 vdb2[1] vda2[0]\n";
    d.file("proc/mdstat", md);
    ex.task(&Task::ShowMdstat).unwrap();
    assert_eq!(ex.mdstat(), md);
    assert_eq!(ex.runner.notes(), [format!("/proc/mdstat:\n{md}")]);
    assert!(ex.runner.calls().is_empty(), "{:?}", ex.runner.calls());
}

#[test]
fn disk_speed_measures_exactly_the_steps_disks_and_names_the_slow_one() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("speed");
    let mut ex = executor(&c, &d);
    let devs: Vec<String> = c
        .plan
        .storage
        .disks
        .iter()
        .map(|x| x.dev.to_string())
        .collect();
    for (i, dev) in devs.iter().enumerate() {
        let write = if i == 2 { 20.0 } else { 200.0 };
        ex.runner.speeds.insert(PathBuf::from(dev), (500.0, write));
    }
    let measured = &devs[..3];
    ex.task(&Task::DiskSpeed {
        disks: measured.to_vec(),
    })
    .unwrap();
    let mut want = Vec::new();
    for dev in measured {
        want.push(Call::MeasureRead(dev.into()));
        want.push(Call::MeasureWrite(dev.into(), steps::SPEED_WRITE_OFFSET));
    }
    assert_eq!(ex.runner.calls(), want);
    let r = ex.report(None);
    assert_eq!(r.disk_speeds.len(), 3);
    let slow: Vec<&str> = r
        .disk_speeds
        .iter()
        .filter(|s| !s.slow.is_empty())
        .map(|s| s.disk.as_str())
        .collect();
    assert_eq!(slow, [c.plan.storage.disks[2].name.as_str()]);
    assert_eq!(r.disk_speeds[0].write_mbps, 200.0);
    // A disk that cannot be opened stops the install, naming it.
    ex.runner.speeds.clear();
    let e = ex
        .task(&Task::DiskSpeed {
            disks: devs[..1].to_vec(),
        })
        .unwrap_err();
    assert!(
        format!("{e:#}").starts_with(&format!("measuring the read speed of {}", devs[0])),
        "{e:#}"
    );
}

fn deb(name: &str, from: String, sha256: &str, size: u64) -> packages::DebToInstall {
    packages::DebToInstall {
        name: name.into(),
        version: "1.0-1".into(),
        from,
        sha256: sha256.into(),
        size: Some(size),
    }
}

#[test]
fn verify_debs_copies_or_downloads_into_the_target_and_checks_the_copies() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("debs");
    let mut ex = executor(&c, &d);
    let local = d.file("medium/pool/htop_1.0-1_amd64.deb", "htop deb");
    let url = "http://127.0.0.1:9/repo/pool/jq_1.0-1_amd64.deb";
    ex.runner.downloads.insert(url.into(), b"jq deb".to_vec());
    let debs = vec![
        deb("htop", local.display().to_string(), &"a".repeat(64), 8),
        deb("jq", url.into(), &"b".repeat(64), 6),
    ];
    let dir = d.target().join("var/cache/tandem/debs");
    let (h, j) = (
        dir.join("htop_1.0-1_amd64.deb"),
        dir.join("jq_1.0-1_amd64.deb"),
    );
    let sums = format!(
        "{}  {}\n{}  {}\n",
        "a".repeat(64),
        h.display(),
        "b".repeat(64),
        j.display()
    );
    ex.runner.reply("sha256sum", 0, &sums);
    ex.task(&Task::VerifyDebs { debs: debs.clone() }).unwrap();
    assert_eq!(
        ex.runner.calls(),
        [
            Call::CreateDir(dir.clone()),
            Call::Copy(local.clone(), h.clone()),
            Call::Download(url.into(), j.clone()),
            Call::Run(format!("sha256sum {} {}", h.display(), j.display())),
        ]
    );
    assert_eq!(fs::read_to_string(&j).unwrap(), "jq deb");
    assert_eq!(fs::read_to_string(&h).unwrap(), "htop deb");
    // A copy whose sum is not the index's stops the install.
    let mut bad = debs;
    bad[1].sha256 = "c".repeat(64);
    let e = ex.task(&Task::VerifyDebs { debs: bad }).unwrap_err();
    assert!(
        e.to_string().contains("package jq 1.0-1: SHA256 mismatch"),
        "{e}"
    );
}

#[test]
fn fetch_base_downloads_onto_the_targets_disks() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("fetch");
    let mut ex = executor(&c, &d);
    let url = "http://127.0.0.1:9/base.squashfs";
    ex.runner.downloads.insert(url.into(), vec![7u8; 10]);
    let dest = steps::BASE_DOWNLOAD.to_string();
    ex.task(&Task::FetchBase {
        url: url.into(),
        size: 10,
        dest: dest.clone(),
    })
    .unwrap();
    let at = d.target().join(dest.trim_start_matches('/'));
    assert_eq!(
        ex.runner.calls(),
        [
            Call::CreateDir(at.parent().unwrap().into()),
            Call::Download(url.into(), at.clone())
        ]
    );
    assert_eq!(fs::read(&at).unwrap(), vec![7u8; 10]);
    assert!(ex.runner.notes()[0].starts_with(&format!("downloaded {url}: 10 bytes in ")));
    // The wrong size is an error, not a base image.
    let e = ex
        .task(&Task::FetchBase {
            url: url.into(),
            size: 11,
            dest,
        })
        .unwrap_err();
    assert!(e.to_string().contains("expected 11"), "{e}");
}

fn initramfs_task(c: &Case, always_full: bool) -> Task {
    let env = Env::new("/target", BaseImage::Local("/x".into()));
    steps::initramfs(&c.files, &env)
        .into_iter()
        .find_map(|s| match s.action {
            Action::Tandem(Task::Initramfs { files, full, .. }) => Some(Task::Initramfs {
                files,
                full,
                always_full,
            }),
            _ => None,
        })
        .unwrap()
}

#[test]
fn initramfs_appends_the_node_files_unless_a_package_asked_for_a_rebuild() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("initramfs");
    let mut ex = executor(&c, &d);
    ex.task(&Task::Write(
        c.files
            .iter()
            .find(|f| f.path == "/etc/mdadm/mdadm.conf")
            .unwrap()
            .clone(),
    ))
    .unwrap();
    for f in c.files.iter().filter(|f| {
        crate::exec::initramfs::archive_path(&f.path).is_some() && f.path != "/etc/mdadm/mdadm.conf"
    }) {
        ex.task(&Task::Write(f.clone())).unwrap();
    }
    let img = d.file("target/boot/initrd.img-6.12.0-1-amd64", "abcde");
    let before = ex.runner.calls().len();
    ex.task(&initramfs_task(&c, false)).unwrap();
    let after = &ex.runner.calls()[before..];
    assert_eq!(after.len(), 1, "{after:?}");
    let Call::Append(p, n) = &after[0] else {
        panic!("{after:?}")
    };
    assert_eq!(p, &img);
    let got = fs::read(&img).unwrap();
    assert_eq!(got.len(), 5 + n);
    assert_eq!(&got[5..8], b"\0\0\0", "padded to 4 bytes");
    let archive = String::from_utf8_lossy(&got[8..]).into_owned();
    assert!(archive.contains("etc/mdadm/mdadm.conf\0"), "{archive}");
    assert!(archive.contains("ARRAY /dev/md/data"), "{archive}");
    assert!(ex.runner.commands().is_empty());

    // A package asked (the stub's record): the real update-initramfs, and the record goes.
    let req = d.file(
        "target/var/lib/tandem/initramfs-requests",
        "linux-image: update-initramfs -c\n",
    );
    ex.task(&initramfs_task(&c, false)).unwrap();
    assert_eq!(
        ex.runner.commands(),
        [
            "DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true LC_ALL=C.UTF-8 \
             chroot /target update-initramfs -u -k all"
        ]
    );
    assert_eq!(ex.runner.calls().last(), Some(&Call::Remove(req.clone())));
    assert!(!req.exists());
    assert_eq!(fs::read(&img).unwrap(), got, "no second append");
}

#[test]
fn esp_sync_mounts_each_other_esp_mirrors_and_unmounts_it() {
    let c = case("raid10-vlan-aware.toml");
    let d = Dir::new("esp");
    let mut ex = executor(&c, &d);
    let uuids: Vec<String> = c.plan.grub.efi.iter().map(|e| e.uuid.clone()).collect();
    assert_eq!(uuids.len(), 4);
    // Devices are plain files here; by-uuid links point at them as udev's would.
    let by_uuid = d.0.join("dev/disk/by-uuid");
    fs::create_dir_all(&by_uuid).unwrap();
    let mut devs = Vec::new();
    for (i, u) in uuids.iter().enumerate().take(3) {
        let dev = d.file(&format!("dev/esp{i}"), "");
        std::os::unix::fs::symlink(&dev, by_uuid.join(u)).unwrap();
        devs.push(dev);
    }
    let efi = d.target().join("boot/efi");
    d.file("target/boot/efi/EFI/BOOT/BOOTX64.EFI", "grub");
    ex.runner.mounted.insert(efi.clone(), devs[0].clone());
    // The fourth ESP's disk is gone: made but not found is an error for the install.
    let e = ex.task(&Task::EspSync).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("ESP {} was made but is not found", uuids[3])),
        "{e}"
    );
    let scratch = d.0.join(format!("tmp/tandem-esp.{}", std::process::id()));
    let mut want = vec![Call::Run("udevadm settle --timeout=60".into())];
    for (i, u) in uuids.iter().enumerate().take(3).skip(1) {
        let mnt = scratch.join(u);
        want.push(Call::CreateDir(mnt.clone()));
        want.push(Call::Mount(devs[i].clone(), mnt.clone()));
        want.push(Call::Umount(mnt.clone()));
        want.push(Call::RemoveDir(mnt));
    }
    want.push(Call::RemoveDir(scratch.clone()));
    assert_eq!(ex.runner.calls(), want);
    assert_eq!(
        ex.runner.mounted.len(),
        1,
        "only the target's ESP stays mounted"
    );
    // Nothing is really mounted here, so each mount point holds the mirror, as an ESP
    // whose unmount failed would: the cleanup leaves it whole (and the scratch directory
    // with it).
    assert_eq!(
        fs::read_to_string(scratch.join(&uuids[2]).join("EFI/BOOT/BOOTX64.EFI")).unwrap(),
        "grub"
    );
}

#[test]
fn esp_sync_unmounts_even_when_mirroring_fails() {
    let c = case("raid10-vlan-aware.toml");
    let d = Dir::new("esp-fail");
    let mut ex = executor(&c, &d);
    let uuids: Vec<String> = c.plan.grub.efi.iter().map(|e| e.uuid.clone()).collect();
    let by_uuid = d.0.join("dev/disk/by-uuid");
    fs::create_dir_all(&by_uuid).unwrap();
    for (i, u) in uuids.iter().enumerate() {
        let dev = d.file(&format!("dev/esp{i}"), "");
        std::os::unix::fs::symlink(&dev, by_uuid.join(u)).unwrap();
    }
    // The source ESP is mounted but its directory is gone: mirroring onto the second ESP
    // fails after it was mounted, and the mount is undone before the error returns.
    ex.runner
        .mounted
        .insert(d.target().join("boot/efi"), d.0.join("dev/esp0"));
    let e = ex.task(&Task::EspSync).unwrap_err();
    assert!(
        format!("{e:#}").contains(&format!("mirroring onto ESP {}", uuids[1])),
        "{e:#}"
    );
    let scratch = d.0.join(format!("tmp/tandem-esp.{}", std::process::id()));
    let mnt = scratch.join(&uuids[1]);
    assert_eq!(
        ex.runner.calls(),
        [
            Call::Run("udevadm settle --timeout=60".into()),
            Call::CreateDir(mnt.clone()),
            Call::Mount(d.0.join("dev/esp1"), mnt.clone()),
            Call::Umount(mnt.clone()),
            Call::RemoveDir(scratch.clone()),
        ]
    );
    assert!(
        mnt.exists(),
        "the failed ESP's mount point is left for a look"
    );
    assert_eq!(ex.runner.mounted.len(), 1, "{:?}", ex.runner.mounted);
}

#[test]
fn efi_boot_entries_one_per_disk_only_under_uefi() {
    let c = case("raid10-vlan-aware.toml");
    let d = Dir::new("efiboot");
    let mut ex = executor(&c, &d);
    ex.task(&Task::EfiBootEntries).unwrap();
    assert!(ex.runner.calls().is_empty(), "BIOS live system: no entries");
    fs::create_dir_all(d.0.join("sys/firmware/efi/efivars")).unwrap();
    d.file("target/boot/efi/EFI/debian/shimx64.efi", "shim");
    ex.task(&Task::EfiBootEntries).unwrap();
    let cmds = ex.runner.commands();
    assert_eq!(cmds.len(), 4);
    // Each --create goes first in BootOrder: the plan's first disk is made last.
    assert_eq!(
        cmds[3],
        "efibootmgr --quiet --create --disk /dev/nvme0n1 --part 1 --label 'debian (nvme0n1)' \
         --loader '\\EFI\\debian\\shimx64.efi'"
    );
    assert!(cmds[0].contains("--disk /dev/sdb --part 1"), "{}", cmds[0]);
}

#[test]
fn save_logs_keeps_log_phases_and_the_wizards_answer_private() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("savelogs");
    let log = d.file("live/install.log", "log line\n");
    let answer = d.file("live/answer.toml", "[system]\n");
    fs::create_dir_all(d.target().join("root")).unwrap();
    let mut ex = executor(&c, &d);
    ex.runner = Recording::new(&d.0).with_log(&log);
    ex.wizard_answer = Some(answer.clone());
    ex.task(&Task::SaveLogs).unwrap();
    let dir = d.target().join("var/log/tandem");
    let kept = d.target().join("root/tandem-answer.toml");
    assert_eq!(
        ex.runner.calls(),
        [
            Call::CreateDir(dir.clone()),
            Call::Write(dir.join("phases.json")),
            Call::Copy(log.clone(), dir.join("install.log")),
            Call::SetMode(dir.join("install.log"), 0o600),
            Call::WritePrivate(kept.clone()),
        ]
    );
    assert_eq!(
        fs::read_to_string(dir.join("install.log")).unwrap(),
        "log line\n"
    );
    assert_eq!(fs::read_to_string(&kept).unwrap(), "[system]\n");
    let phases: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("phases.json")).unwrap()).unwrap();
    assert!(phases.is_array());
}

#[test]
fn keep_log_on_failure_copies_only_into_a_mounted_target() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("keeplog");
    let log = d.file("live/install.log", "FAILED\n");
    let mut ex = executor(&c, &d);
    ex.runner = Recording::new(&d.0).with_log(&log);
    ex.keep_log_on_failure();
    assert!(ex.runner.calls().is_empty());
    ex.runner
        .mounted
        .insert(d.target(), PathBuf::from("/dev/pve/root"));
    ex.keep_log_on_failure();
    let dst = d.target().join("var/log/tandem/install.log");
    assert_eq!(fs::read_to_string(&dst).unwrap(), "FAILED\n");
    assert!(ex.runner.calls().contains(&Call::SetMode(dst, 0o600)));
}

#[test]
fn wait_for_nodes_settles_only_for_missing_nodes() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("nodes");
    let mut ex = executor(&c, &d);
    d.file("dev/md/boot", "");
    ex.task(&Task::WaitForNodes {
        nodes: vec!["/dev/md/boot".into()],
    })
    .unwrap();
    assert!(ex.runner.calls().is_empty());
    // A missing node asks udev once; settle failing is the task's failure (no 60 s wait).
    ex.runner.reply("udevadm settle", 1, "timeout");
    let e = ex
        .task(&Task::WaitForNodes {
            nodes: vec!["/dev/md/boot".into(), "/dev/md/data".into()],
        })
        .unwrap_err();
    assert!(e.to_string().contains("udevadm settle"), "{e}");
    assert_eq!(ex.runner.commands(), ["udevadm settle --timeout=60"]);
    assert_eq!(
        ex.runner.notes(),
        ["waiting for udev to create /dev/md/data"]
    );
}

/// /dev/md/<name> → md12x with the given members in sysfs, as the kernel shows a running
/// array.
fn running_array(d: &Dir, name: &str, kernel: &str, members: &[&str]) {
    d.file(&format!("dev/{kernel}"), "");
    fs::create_dir_all(d.0.join("dev/md")).unwrap();
    std::os::unix::fs::symlink(format!("../{kernel}"), d.0.join(format!("dev/md/{name}"))).unwrap();
    for m in members {
        fs::create_dir_all(d.0.join(format!("sys/block/{kernel}/slaves/{m}"))).unwrap();
    }
}

#[test]
fn tear_down_stops_only_the_arrays_this_install_built() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("teardown");
    let mut ex = executor(&c, &d);
    let boot = &c.plan.storage.arrays[0];
    let data = &c.plan.storage.arrays[1];
    let ours: Vec<String> = boot
        .members
        .iter()
        .map(|m| m.trim_start_matches("/dev/").to_string())
        .collect();
    running_array(
        &d,
        boot.dev.trim_start_matches("/dev/md/"),
        "md127",
        &ours.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    // Another set of disks' array under the data array's name is not ours.
    running_array(
        &d,
        data.dev.trim_start_matches("/dev/md/"),
        "md126",
        &["sdz1"],
    );
    ex.tear_down(true);
    let t = d.target().display().to_string();
    assert_eq!(
        ex.runner.commands(),
        [
            format!("umount --recursive {t}"),
            "vgchange --activate n pve".to_string(),
            format!("wipefs --all --force {}", boot.dev),
            format!("mdadm --stop {}", boot.dev),
        ]
    );
    // Failing teardown commands are allowed: everything is still tried.
    let mut ex = executor(&c, &d);
    ex.runner.reply("umount", 32, "not mounted");
    ex.tear_down(false);
    assert_eq!(ex.runner.commands().len(), 3);
    assert_eq!(
        ex.runner.commands()[2],
        format!("mdadm --stop {}", boot.dev)
    );
}

#[test]
fn reset_disks_clears_only_the_plans_disks_and_collects_failures() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("reset");
    let mut ex = executor(&c, &d);
    let disk = &c.plan.storage.disks[0];
    ex.runner
        .reply(&format!("sgdisk --zap-all {}", disk.dev), 2, "busy");
    let errs = ex.reset_disks();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].command, format!("sgdisk --zap-all {}", disk.dev));
    let cmds = ex.runner.commands();
    // The partitions were never made (no device nodes): only the whole disks are touched.
    let want: Vec<String> = c
        .plan
        .storage
        .disks
        .iter()
        .flat_map(|d| {
            [
                format!("wipefs --all --force {}", d.dev),
                format!("sgdisk --zap-all {}", d.dev),
            ]
        })
        .collect();
    assert_eq!(cmds, want);
}

#[test]
fn a_failing_step_stops_the_script_in_its_phase() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("run");
    let mut ex = executor(&c, &d);
    ex.runner.add_secret("hunter2-secret");
    ex.runner
        .reply("mkfs.ext4", 1, "bad superblock hunter2-secret");
    let script = vec![
        Step {
            phase: Phase::Volumes,
            action: Action::Run(Cmd::new("mkfs.ext4").arg("/dev/pve/root")),
        },
        Step {
            phase: Phase::Volumes,
            action: Action::Run(Cmd::new("mount").arg("/dev/pve/root")),
        },
    ];
    let (phase, e) = ex.run(&script).unwrap_err();
    assert_eq!(phase, Phase::Volumes);
    assert_eq!(ex.runner.commands(), ["mkfs.ext4 /dev/pve/root"]);
    let r = ex.report(Some((phase, &e)));
    let err = r.error.unwrap();
    assert!(err.contains("bad superblock <redacted>"), "{err}");
    assert!(ex
        .runner
        .notes()
        .iter()
        .any(|n| n.starts_with("FAILED in phase volumes")));
}

/// /sys/class/block under the test's sysroot: `parts` are (disk, partition) pairs, and
/// `holders` (md device, its partitions), dm-0 on top of the first md device if `dm`.
fn fake_block(d: &Dir, parts: &[(&str, &str)], holders: &[(&str, &[&str])], dm: bool) {
    let sys = d.0.join("sys/class/block");
    let mk = |p: &str| fs::create_dir_all(sys.join(p)).unwrap();
    for (disk, part) in parts {
        mk(&format!("devices/{disk}/{part}/holders"));
        d.file(
            &format!("sys/class/block/devices/{disk}/{part}/partition"),
            "1",
        );
        if !sys.join(disk).exists() {
            std::os::unix::fs::symlink(sys.join(format!("devices/{disk}")), sys.join(disk))
                .unwrap();
        }
        std::os::unix::fs::symlink(sys.join(format!("devices/{disk}/{part}")), sys.join(part))
            .unwrap();
    }
    for (md, members) in holders {
        mk(&format!("{md}/holders"));
        for m in *members {
            mk(&format!("{md}/slaves/{m}"));
            let disk = parts.iter().find(|(_, p)| p == m).unwrap().0;
            mk(&format!("devices/{disk}/{m}/holders/{md}"));
        }
    }
    if dm {
        let md = holders[0].0;
        mk(&format!("dm-0/slaves/{md}"));
        mk("dm-0/holders");
        mk(&format!("{md}/holders/dm-0"));
        d.file("sys/class/block/dm-0/dm/name", "oldvg-root\n");
    }
}

#[test]
fn stop_old_stacks_takes_down_what_lives_only_on_the_selected_disks() {
    let c = case("qemu-4disk.toml");
    let disks: Vec<String> = c
        .plan
        .storage
        .disks
        .iter()
        .map(|x| x.dev.to_string())
        .collect();
    let d = Dir::new("stacks");
    fake_block(
        &d,
        &[("vda", "vda1"), ("vdb", "vdb1")],
        &[("md127", &["vda1", "vdb1"])],
        false,
    );
    let mut ex = executor(&c, &d);
    ex.task(&Task::StopOldStacks {
        disks: disks.clone(),
    })
    .unwrap();
    assert_eq!(ex.runner.commands(), ["mdadm --stop /dev/md127"]);
    // A device-mapper device on top is what is found and removed, by its dm name.
    let d = Dir::new("stacks-dm");
    fake_block(
        &d,
        &[("vda", "vda1"), ("vdb", "vdb1")],
        &[("md127", &["vda1", "vdb1"])],
        true,
    );
    let mut ex = executor(&c, &d);
    ex.task(&Task::StopOldStacks { disks }).unwrap();
    assert_eq!(ex.runner.commands(), ["dmsetup remove oldvg-root"]);
}

#[test]
fn stop_old_stacks_refuses_a_stack_that_spans_an_unselected_disk() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("stacks-other");
    fake_block(
        &d,
        &[("vda", "vda1"), ("sdz", "sdz1")],
        &[("md127", &["vda1", "sdz1"])],
        false,
    );
    let mut ex = executor(&c, &d);
    let disks: Vec<String> = c
        .plan
        .storage
        .disks
        .iter()
        .map(|x| x.dev.to_string())
        .collect();
    let e = ex.task(&Task::StopOldStacks { disks }).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("refusing to stop md127: it spans the selected disks and /dev/sdz"),
        "{e}"
    );
    assert!(ex.runner.commands().is_empty());
}

#[test]
fn partition_table_is_written_and_partprobe_runs_only_when_the_kernel_refuses() {
    let c = case("qemu-4disk.toml");
    let d = Dir::new("gpt");
    let mut ex = executor(&c, &d);
    let disk = &c.plan.storage.disks[0];
    let table = crate::exec::gpt::Table::planned(disk, 512);
    let numbers: Vec<u32> = disk.partitions.iter().map(|p| p.number).collect();
    ex.task(&Task::PartitionTable(table.clone())).unwrap();
    assert_eq!(
        ex.runner.calls(),
        [Call::WriteGpt(disk.dev.to_string(), numbers.clone())]
    );
    assert_eq!(
        ex.runner.notes(),
        [format!("wrote the GPT of {}", disk.dev)]
    );
    ex.runner.reread_refused.insert(disk.dev.to_string());
    ex.task(&Task::PartitionTable(table)).unwrap();
    assert_eq!(ex.runner.commands(), [format!("partprobe {}", disk.dev)]);
    assert!(ex.runner.notes()[1].contains("the kernel refused to re-read it"));
}

/// A webhook on 127.0.0.1 that answers 200 and hands every POST body to the test.
fn collector() -> (String, std::sync::mpsc::Receiver<serde_json::Value>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/report", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

#[test]
fn a_failed_install_reports_to_the_webhook_without_any_secret() {
    const HASH: &str = "$6$MARKERroothash$MARKERMARKERMARKER";
    let drbd_marker = |r: &str| format!("DRBD-SECRET-MARKER-{r}");
    let mut c = case("eight-disk-drbd-10g.toml");
    let (url, rx) = collector();
    c.answer.system.root_password_hash = Some(HASH.into());
    c.answer.report = Some(crate::answer::Webhook {
        url,
        fingerprint: None,
        progress: true,
    });
    let resources: Vec<String> = c
        .answer
        .drbd
        .iter()
        .flat_map(|d| &d.resources)
        .map(|r| r.name.clone())
        .collect();
    assert!(
        !resources.is_empty(),
        "the example should carry DRBD secrets"
    );
    let d = Dir::new("report");
    let serial = format!("SER-{}", std::process::id());
    d.file("dmi/product_serial", &format!("{serial}\n"));
    d.file("dmi/product_uuid", "4c4c4544-0000-1000-8000-000000000001\n");
    let inv = Inventory::from_json(
        &fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/hardware/eight-disk-mixed-4nic.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut ex = executor(&c, &d);
    let secrets = answer_secrets(&c.answer, drbd_marker);
    for s in &secrets {
        ex.runner.add_secret(s);
    }
    // The failing command prints every secret, as a careless tool might; the list is the
    // test's own, so a secret answer_secrets forgets shows up here.
    let planted: Vec<String> = resources
        .iter()
        .map(|r| drbd_marker(r))
        .chain([HASH.to_string()])
        .collect();
    ex.runner
        .reply("mdadm --create", 1, &format!("oops {}", planted.join(" ")));
    let script = [
        Step {
            phase: Phase::Wipe,
            action: Action::Run(Cmd::new("true")),
        },
        Step {
            phase: Phase::Raid,
            action: Action::Run(Cmd::new("mdadm").args(["--create", "/dev/md/x"])),
        },
    ];
    let (phase, e) = ex.run(&script).unwrap_err();
    let r = ex.report(Some((phase, &e)));
    let sent = ex.send_report(&r, &inv, &d.0.join("dmi")).unwrap();

    // The collector hands a body over after answering, so wait for each one.
    let got: Vec<serde_json::Value> =
        std::iter::from_fn(|| rx.recv_timeout(std::time::Duration::from_secs(5)).ok())
            .take(4)
            .collect();
    let kinds: Vec<&str> = got.iter().map(|v| v["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["phase-start", "phase-end", "phase-start", "install"],
        "{got:?}"
    );
    assert_eq!(got[0]["phase"], "wipe");
    assert_eq!(got[2]["phase"], "raid");
    let body = &got[3];
    // A fleet's one webhook tells machines apart by node, progress events included.
    assert!(body["node"].is_string(), "{body}");
    assert!(
        got[..3].iter().all(|e| e["node"] == body["node"]),
        "{got:?}"
    );
    assert_eq!(body, &sent);
    assert_eq!(body["result"], "failed");
    assert_eq!(body["failed-phase"], "raid");
    assert_eq!(body["machine"]["dmi-serial"], serial.as_str());
    assert_eq!(body["schema"], report::SCHEMA_VERSION);
    assert!(body["error"].as_str().unwrap().contains("oops"), "{body}");
    let text = body.to_string();
    for s in &planted {
        assert!(!text.contains(s), "the report holds a secret: {text}");
    }
    assert!(!text.contains("MARKER"), "{text}");
}

#[test]
fn first_boot_hooks_are_checked_and_stored_root_only() {
    use super::steps::HookFrom;
    use std::os::unix::fs::PermissionsExt;
    let c = case("fleet-hooks.toml");
    let d = Dir::new("hooks");
    let mut ex = executor(&c, &d);
    let body = "#!/bin/sh\necho enrolled\n";
    let on_medium = d.file("medium/tandem/hooks/enroll.sh", body);
    let digest: String = ring::digest::digest(&ring::digest::SHA256, body.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    ex.task(&Task::FirstBootHook {
        name: "enroll".into(),
        from: HookFrom::Path(on_medium.clone()),
        sha256: Some(digest.to_uppercase()),
    })
    .unwrap();
    let dir = d.target().join("var/lib/tandem/first-boot");
    assert_eq!(fs::read_to_string(dir.join("enroll")).unwrap(), body);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("enroll")), 0o700);

    // The wrong digest, a binary, no interpreter line: refused, nothing stored.
    let wrong = ex
        .task(&Task::FirstBootHook {
            name: "wrong".into(),
            from: HookFrom::Path(on_medium),
            sha256: Some("0".repeat(64)),
        })
        .unwrap_err();
    assert!(format!("{wrong:#}").contains(&digest), "{wrong:#}");
    let binary = d.file("medium/tandem/hooks/bin", "#!/bin/sh\n\0\x01");
    assert!(ex
        .task(&Task::FirstBootHook {
            name: "binary".into(),
            from: HookFrom::Path(binary),
            sha256: None,
        })
        .is_err());
    let no_shebang = ex
        .task(&Task::FirstBootHook {
            name: "plain".into(),
            from: HookFrom::Inline("echo hi\n".into()),
            sha256: None,
        })
        .unwrap_err();
    assert!(format!("{no_shebang:#}").contains("#!"), "{no_shebang:#}");
    for n in ["wrong", "binary", "plain"] {
        assert!(!dir.join(n).exists(), "{n} was stored");
    }
    // The listing never shows an inline script (it may hold a token).
    let shown = format!(
        "{:?}",
        Task::FirstBootHook {
            name: "t".into(),
            from: HookFrom::Inline("#!/bin/sh\nTOKEN=s3cr3t\n".into()),
            sha256: None,
        }
    );
    assert!(!shown.contains("s3cr3t"), "{shown}");
}

#[test]
fn hook_files_are_read_beside_the_base_image() {
    let c = case("fleet-hooks.toml");
    let local = steps::configure(
        &c.answer,
        &c.files,
        &Env::new(
            "/target",
            BaseImage::Local("/run/live/medium/tandem/base.squashfs".into()),
        ),
    );
    let http = steps::configure(
        &c.answer,
        &c.files,
        &Env::new(
            "/target",
            BaseImage::Http {
                url: "http://10.77.0.1/pxe/base.squashfs".into(),
                size: 1,
            },
        ),
    );
    let hook = |v: &[Step]| {
        v.iter()
            .filter_map(|s| match &s.action {
                Action::Tandem(t @ Task::FirstBootHook { name, .. }) if name == "enroll" => {
                    Some(t.to_string())
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(hook(&local)[0].contains(" /run/live/medium/tandem/hooks/enroll.sh,"));
    assert!(hook(&http)[0].contains(" http://10.77.0.1/pxe/hooks/enroll.sh,"));
}
