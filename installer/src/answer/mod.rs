//! The answer file: its schema, how it is read, and how its errors are placed.

pub mod locate;
mod model;
mod size;
mod source;

pub use model::*;
pub use size::{Size, GIB, KIB, MIB, TIB};
pub use source::{load, Diagnostic, Diagnostics, Document, Issue, Loaded, NodeHint, SourceMap};

/// The answer file's JSON Schema, for editors and for the reference's drift test.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Answer)).expect("schema serialises")
}
