//! debconf selections fed to debconf-set-selections before packages are configured, so
//! package scripts make the same choices as the answer. Above all
//! grub-pc/install_devices: every disk by id, so every GRUB upgrade rewrites every disk.

use super::locale::{layouts, locale_gen_lines};
use super::{RenderedFile, HEADER};
use crate::answer::Answer;
use crate::plan::Plan;
use std::fmt::Write as _;

pub const PATH: &str = "/etc/tandem/debconf-selections";

pub fn selections(answer: &Answer, plan: &Plan) -> RenderedFile {
    let sys = &answer.system;
    let mut o = String::new();
    let _ = writeln!(o, "{HEADER}");
    if plan.firmware.bios() {
        let _ = writeln!(
            o,
            "grub-pc grub-pc/install_devices multiselect {}",
            plan.grub.bios.join(", ")
        );
        let _ = writeln!(o, "grub-pc grub-pc/install_devices_empty boolean false");
    }
    if plan.firmware.uefi() {
        // Also install to EFI/BOOT/BOOTX64.EFI: firmware that lost its boot entries (a new
        // disk, a reset NVRAM) still finds GRUB on any ESP.
        let _ = writeln!(
            o,
            "grub-efi-amd64 grub2/force_efi_extra_removable boolean true"
        );
    }
    let _ = writeln!(
        o,
        "locales locales/locales_to_be_generated multiselect {}",
        locale_gen_lines(answer).join(", ")
    );
    let _ = writeln!(
        o,
        "locales locales/default_environment_locale select {}",
        sys.locale
    );
    let lay = layouts(answer);
    let _ = writeln!(
        o,
        "keyboard-configuration keyboard-configuration/layoutcode string {}",
        lay.join(",")
    );
    let _ = writeln!(
        o,
        "keyboard-configuration keyboard-configuration/xkb-keymap select {}",
        lay.first().map(String::as_str).unwrap_or("us")
    );
    if lay.len() > 1 {
        let _ = writeln!(
            o,
            "keyboard-configuration keyboard-configuration/toggle select Alt+Shift"
        );
    }
    let (area, zone) = sys
        .timezone
        .split_once('/')
        .unwrap_or(("Etc", sys.timezone.as_str()));
    let _ = writeln!(o, "tzdata tzdata/Areas select {area}");
    let _ = writeln!(o, "tzdata tzdata/Zones/{area} select {zone}");
    RenderedFile::new(PATH, o)
}
