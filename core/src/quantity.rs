//! Resource quantities (`500m`, `1.5`, `1Gi`, `128974848`, `1e3`), exact, with upstream's
//! canonical formatting.

/// A resource quantity (stub: to be made exact).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
pub struct Quantity(pub String);
