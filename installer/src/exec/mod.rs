//! The executor: the only code that touches disks. It drives mdadm, lvm, mkfs, dpkg and
//! grub-install through [`runner::Runner`], which logs every command.

pub mod esp;
pub mod runner;
