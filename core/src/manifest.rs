//! Manifest parsing (in progress).
use crate::object::Object;

/// Parses a manifest stream (stub).
pub fn parse_str(_file: &str, _text: &str) -> Result<Vec<Object>, String> {
    Err("not yet".into())
}
