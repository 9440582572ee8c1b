//! The media part: the base and live systems, the tandem package on the medium, the hybrid
//! ISO, the PXE artifacts and the answer embedded into an ISO.

pub(crate) mod base;
pub(crate) mod deb;
pub(crate) mod embed;
pub(crate) mod iso;
pub(crate) mod live;
pub(crate) mod pxe;
pub(crate) mod rootfs;
pub(crate) mod signed;
