//! Small serde helpers shared by the object model.

use serde::{Deserialize, Deserializer};

/// Deserializes an explicit `null` (e.g. `labels:` with nothing after it) as the default value,
/// as the Kubernetes API does for maps and lists.
///
/// Use with `#[serde(default, deserialize_with = "null_as_default")]`.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Deserializes a present field as `Some`, even when its value is `null`, so a preserved field
/// written as `securityContext: null` comes back verbatim (plain `Option` would read it as
/// absent, and the store and `get -o yaml` would then disagree about the object).
///
/// Use with `#[serde(default, deserialize_with = "present")]`: an absent field stays `None`.
pub fn present<'de, D>(deserializer: D) -> Result<Option<crate::object::Value>, D::Error>
where
    D: Deserializer<'de>,
{
    crate::object::Value::deserialize(deserializer).map(Some)
}
