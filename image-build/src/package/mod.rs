//! The package part: profiles, signed indexes, the resolver, the verified download cache
//! and the apt repository `tandem-image fetch` writes.

pub(crate) mod cache;
pub(crate) mod closure;
mod deb822;
pub(crate) mod fetch;
mod net;
mod profile;
mod relation;
pub(crate) mod release;
pub(crate) mod repo;
mod resolve;
pub(crate) mod sets;
mod source;
#[cfg(test)]
mod testrepo;
mod version;
