//! `apiVersion` and `kind` as zero-sized fields: written from the kind's constants, checked on
//! input, and never stored (they encode to zero bytes).

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use super::KindInfo;

/// Gives a type its [`KindInfo`]. Split from [`super::Resource`] so the type fields below can
/// name it without a trait cycle.
pub trait HasKindInfo {
    /// Where and how the kind is served.
    const INFO: KindInfo;
}

macro_rules! type_field {
    ($(#[doc = $doc:expr])* $name:ident, $what:literal, $get:ident) => {
        $(#[doc = $doc])*
        pub struct $name<K>(PhantomData<fn() -> K>);

        impl<K> Default for $name<K> {
            fn default() -> Self {
                Self(PhantomData)
            }
        }
        impl<K> Clone for $name<K> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<K> Copy for $name<K> {}
        impl<K> PartialEq for $name<K> {
            fn eq(&self, _: &Self) -> bool {
                true
            }
        }
        impl<K> Eq for $name<K> {}
        impl<K: HasKindInfo> fmt::Debug for $name<K> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(K::INFO.$get)
            }
        }
        impl<K: HasKindInfo> Serialize for $name<K> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(K::INFO.$get)
            }
        }
        impl<'de, K: HasKindInfo> Deserialize<'de> for $name<K> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let found = String::deserialize(d)?;
                if found == K::INFO.$get {
                    Ok(Self(PhantomData))
                } else {
                    Err(de::Error::custom(format!(
                        concat!($what, " {:?} does not match {} ({})"),
                        found,
                        K::INFO.kind,
                        K::INFO.api_version
                    )))
                }
            }
        }
        impl<K: HasKindInfo> schemars::JsonSchema for $name<K> {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                "string".into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string"})
            }
        }
        impl<K> bincode::Encode for $name<K> {
            fn encode<E: bincode::enc::Encoder>(
                &self,
                _: &mut E,
            ) -> Result<(), bincode::error::EncodeError> {
                Ok(())
            }
        }
        impl<K, C> bincode::Decode<C> for $name<K> {
            fn decode<D: bincode::de::Decoder<Context = C>>(
                _: &mut D,
            ) -> Result<Self, bincode::error::DecodeError> {
                Ok(Self(PhantomData))
            }
        }
        impl<'de, K, C> bincode::BorrowDecode<'de, C> for $name<K> {
            fn borrow_decode<D: bincode::de::BorrowDecoder<'de, Context = C>>(
                _: &mut D,
            ) -> Result<Self, bincode::error::DecodeError> {
                Ok(Self(PhantomData))
            }
        }
    };
}

type_field!(
    /// The `apiVersion` field of kind `K`: always `K::INFO.api_version`.
    ApiVersion,
    "apiVersion",
    api_version
);
type_field!(
    /// The `kind` field of kind `K`: always `K::INFO.kind`.
    Kind,
    "kind",
    kind
);
