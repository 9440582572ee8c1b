//! The plan: everything the installer will do, decided up front as a pure function of
//! (answer, inventory), printable before a single byte is written.

pub mod select;
