//! `IntOrString` (stub).

/// An integer or a string, e.g. a port number or a port name (stub).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    bincode::Encode,
    bincode::Decode,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum IntOrString {
    /// An integer.
    Int(i32),
    /// A string.
    String(String),
}
