//! The installed system's consoles: the ones the installer was booted with (`console=`),
//! so a serial console stays one, as debian-installer does it.

use super::{RenderedFile, HEADER};

/// GRUB settings that keep the installer's consoles: the kernel gets the same
/// `console=` list; a serial console also gets GRUB's menu (at its speed).
pub fn grub_console(consoles: &[String]) -> Option<RenderedFile> {
    if consoles.is_empty() {
        return None;
    }
    let params: Vec<String> = consoles.iter().map(|c| format!("console={c}")).collect();
    let mut o = format!(
        "{HEADER}\n# The consoles the installer was booted with.\nGRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX {}\"\n",
        params.join(" ")
    );
    let serial = consoles.iter().find_map(|c| {
        let (unit, opts) = serial_console(c)?;
        let speed: String = opts.chars().take_while(char::is_ascii_digit).collect();
        Some((
            unit,
            if speed.is_empty() {
                "115200".into()
            } else {
                speed
            },
        ))
    });
    if let Some((unit, speed)) = serial {
        o.push_str(&format!(
            "GRUB_TERMINAL=\"console serial\"\nGRUB_SERIAL_COMMAND=\"serial --unit={unit} --speed={speed}\"\n"
        ));
    }
    Some(RenderedFile {
        path: "/etc/default/grub.d/tandem-console.cfg".into(),
        mode: 0o644,
        content: o,
    })
}

/// A `console=` value that names a serial port (`ttyS0,115200n8`): its unit number and
/// the options after the comma.
fn serial_console(c: &str) -> Option<(u32, &str)> {
    let (dev, opts) = c.split_once(',').unwrap_or((c, ""));
    Some((dev.strip_prefix("ttyS")?.parse().ok()?, opts))
}

/// A drop-in per serial console that lets its device wait for udev as long as it takes.
/// The serial getty is bound to `dev-ttyS0.device`; when a slow first boot's coldplug
/// announces it after systemd's device timeout (90 s), the getty fails on the dependency
/// and the serial console (IPMI SOL, our QEMU tests) never shows a login. Seen in the
/// demo's first boot under emulation: "Timed out waiting for device dev-ttyS0.device".
pub fn serial_console_waits(consoles: &[String]) -> Vec<RenderedFile> {
    consoles
        .iter()
        .filter_map(|c| {
            let (unit, _) = serial_console(c)?;
            Some(RenderedFile {
                path: format!("/etc/systemd/system/dev-ttyS{unit}.device.d/tandem-console.conf"),
                mode: 0o644,
                content: format!(
                    "{HEADER}\n# The serial console the installer was booted with: its getty waits for\n\
                     # the device however slow udev's coldplug is (default: 90 s, then no login).\n\
                     [Unit]\nJobRunningTimeoutSec=infinity\n",
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installer_consoles_carry_over() {
        let c: Vec<String> = ["ttyS0,115200", "tty0"].map(String::from).to_vec();
        let f = grub_console(&c).unwrap();
        assert!(f.content.contains(
            "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX console=ttyS0,115200 console=tty0\""
        ));
        assert!(f.content.contains("serial --unit=0 --speed=115200"));
        let vga = grub_console(&["tty0".to_string()]).unwrap();
        assert!(!vga.content.contains("GRUB_TERMINAL"));
        assert!(grub_console(&[]).is_none());
        let waits = serial_console_waits(&[
            "ttyS0,115200n8".to_string(),
            "tty0".to_string(),
            "ttyS1".to_string(),
            "ttyS".to_string(),
        ]);
        let paths: Vec<&str> = waits.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/etc/systemd/system/dev-ttyS0.device.d/tandem-console.conf",
                "/etc/systemd/system/dev-ttyS1.device.d/tandem-console.conf"
            ]
        );
        assert!(waits[0]
            .content
            .contains("\n[Unit]\nJobRunningTimeoutSec=infinity\n"));
    }

    /// The bytes the install wrote before the renderer moved here.
    #[test]
    fn serial_console_files_are_byte_for_byte() {
        let f = grub_console(&["ttyS1,57600n8".to_string()]).unwrap();
        assert_eq!(
            f.content,
            "# Written by Tandem from the answer file.\n# The consoles the installer was booted \
             with.\nGRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX console=ttyS1,57600n8\"\n\
             GRUB_TERMINAL=\"console serial\"\nGRUB_SERIAL_COMMAND=\"serial --unit=1 --speed=57600\"\n"
        );
        let w = &serial_console_waits(&["ttyS1".to_string()])[0];
        assert_eq!(
            w.content,
            "# Written by Tandem from the answer file.\n# The serial console the installer was \
             booted with: its getty waits for\n# the device however slow udev's coldplug is \
             (default: 90 s, then no login).\n[Unit]\nJobRunningTimeoutSec=infinity\n"
        );
        assert_eq!(w.mode, 0o644);
    }
}
