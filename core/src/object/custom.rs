//! Custom resource kinds: kinds a user registers at build or run time, served like the
//! built-in ones (upstream's CustomResourceDefinitions, in the manner of kube-rs's
//! `CustomResource` and `DynamicObject`).
//!
//! - A typed kind is a Rust struct implementing [`CustomResource`]: its `apiVersion`/`kind` are
//!   [`ApiVersion`](super::ApiVersion)/[`Kind`](super::Kind) fields, its coordinates a
//!   [`KindInfo`] made with [`custom_kind_info!`](crate::custom_kind_info), and its own
//!   validation hook. Manifests of the kind are read into the struct, so errors name the line,
//!   column and field exactly as for built-in kinds.
//! - A dynamic kind is described at run time ([`DynamicKind`]), like a CRD without a schema:
//!   `metadata` is typed and checked, every other field is kept as a [`Value`].
//!
//! Either way an object of the kind is a [`DynamicObject`] (`Object::Custom`): its kind's
//! [`CustomKind`], its metadata, and its other top-level fields as [`Value`]s. It is stored
//! under upstream's key for custom resources, `/registry/<group>/<plural>/<ns>/<name>`.
//!
//! The set of kinds a process serves is a value, a [`KindRegistry`] (built-ins plus the
//! registered kinds), handed to whoever parses, stores or serves objects. Decoding a stored
//! object takes it as bincode's decode context; a custom object of a kind it does not know
//! fails to decode with an error naming the kind (never a panic).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::registry::{KINDS, KindLookup, lookup_kind};
use super::{HasKindInfo, KindInfo, ObjectMeta, Value};
use crate::validate::FieldError;

/// Builds the [`KindInfo`] of a custom kind as a constant: `apiVersion` is `<group>/<version>`
/// and the store keeps objects under `/registry/<group>/<plural>/` (upstream's layout for
/// custom resources).
///
/// ```
/// use skiff_core::object::KindInfo;
///
/// const INFO: KindInfo = skiff_core::custom_kind_info! {
///     group: "games.example.com", version: "v1", kind: "GameServer",
///     plural: "gameservers", singular: "gameserver", short_names: ["gs"], namespaced: true,
/// };
/// assert_eq!(INFO.api_version, "games.example.com/v1");
/// assert_eq!(INFO.registry_prefix, "/registry/games.example.com/gameservers/");
/// ```
#[macro_export]
macro_rules! custom_kind_info {
    (group: $group:literal, version: $version:literal, kind: $kind:literal,
     plural: $plural:literal, singular: $singular:literal, short_names: [$($short:literal),*],
     namespaced: $namespaced:literal $(,)?) => {
        $crate::object::KindInfo {
            group: $group,
            version: $version,
            api_version: concat!($group, "/", $version),
            kind: $kind,
            plural: $plural,
            singular: $singular,
            short_names: &[$($short),*],
            namespaced: $namespaced,
            registry_prefix: concat!("/registry/", $group, "/", $plural, "/"),
        }
    };
}

/// A kind's validation hook: every failure, with upstream's field paths (empty when valid).
pub type ValidateFn = fn(&DynamicObject) -> Vec<FieldError>;

/// How a typed kind reads one manifest document (the manifest parser's, for that type).
pub(crate) type ParseFn = fn(
    crate::manifest::Dialect,
    &str,
    &crate::manifest::Ctx<'_>,
) -> Result<DynamicObject, crate::manifest::ManifestError>;

/// Everything skiff knows about one custom kind. Lives for the whole process: a typed kind's is
/// a constant ([`CustomResource::KIND`]); a dynamic kind's is made once when it is defined
/// ([`DynamicKind::define`]).
pub struct CustomKind {
    /// Where the kind is served.
    pub info: KindInfo,
    /// Whether the kind has a `status` subresource: then `status` changes only through it,
    /// and a write to the object itself keeps the stored status (upstream CRD
    /// `subresources.status`).
    pub status_subresource: bool,
    /// The validation hook, run by the API server after the metadata checks.
    pub validate: Option<ValidateFn>,
    pub(crate) parse: Option<ParseFn>,
}

impl fmt::Debug for CustomKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomKind")
            .field("info", &self.info)
            .field("status_subresource", &self.status_subresource)
            .field("validate", &self.validate.is_some())
            .field("typed", &self.parse.is_some())
            .finish()
    }
}

/// A typed custom kind: a serde struct with `apiVersion`/`kind` fields of types
/// [`ApiVersion<Self>`](super::ApiVersion)/[`Kind<Self>`](super::Kind), a `metadata`
/// [`ObjectMeta`], and whatever else (`spec`, `status`). Its [`HasKindInfo::INFO`] is usually
/// made with [`custom_kind_info!`](crate::custom_kind_info).
///
/// The struct is never stored as such: objects are kept as [`DynamicObject`]s and converted
/// through serde ([`DynamicObject::from_typed`], [`DynamicObject::to_typed`]).
pub trait CustomResource:
    HasKindInfo + Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static
{
    /// Whether the kind has a `status` subresource (see [`CustomKind::status_subresource`]).
    const STATUS_SUBRESOURCE: bool = false;

    /// The kind's description, for registries (provided; do not override).
    const KIND: &'static CustomKind = &CustomKind {
        info: Self::INFO,
        status_subresource: Self::STATUS_SUBRESOURCE,
        validate: Some(validate_typed::<Self>),
        parse: Some(crate::manifest::parse_typed::<Self>),
    };

    /// The object's metadata.
    fn metadata(&self) -> &ObjectMeta;

    /// The object's metadata, mutably.
    fn metadata_mut(&mut self) -> &mut ObjectMeta;

    /// The kind's own validation, after the metadata checks: every failure, with its field
    /// path (`spec.players`) and upstream's error types. Valid by default.
    fn validate(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

fn validate_typed<T: CustomResource>(object: &DynamicObject) -> Vec<FieldError> {
    match object.to_typed::<T>() {
        Ok(typed) => typed.validate(),
        Err(e) => vec![FieldError::invalid("[]", "", e)],
    }
}

/// A custom kind described at run time (like a CustomResourceDefinition without a schema).
#[derive(Debug, Clone)]
pub struct DynamicKind {
    /// API group, e.g. `stable.example.com`.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `CronTab`.
    pub kind: String,
    /// Plural resource name, e.g. `crontabs`.
    pub plural: String,
    /// Short names, e.g. `ct`.
    pub short_names: Vec<String>,
    /// Namespaced (true) or cluster-scoped.
    pub namespaced: bool,
    /// See [`CustomKind::status_subresource`].
    pub status_subresource: bool,
    /// See [`CustomKind::validate`].
    pub validate: Option<ValidateFn>,
}

impl DynamicKind {
    /// A namespaced kind without a status subresource, short names or validation.
    pub fn new(group: &str, version: &str, kind: &str, plural: &str) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            short_names: Vec::new(),
            namespaced: true,
            status_subresource: false,
            validate: None,
        }
    }

    /// Makes the kind's process-lifetime description. Its strings are allocated once and never
    /// freed: define each kind once per process (a few hundred bytes), not per request.
    pub fn define(self) -> &'static CustomKind {
        fn leak(s: String) -> &'static str {
            Box::leak(s.into_boxed_str())
        }
        let api_version = leak(format!("{}/{}", self.group, self.version));
        let registry_prefix = leak(format!("/registry/{}/{}/", self.group, self.plural));
        let short_names: Vec<&'static str> = self.short_names.into_iter().map(leak).collect();
        let singular = leak(self.kind.to_ascii_lowercase());
        Box::leak(Box::new(CustomKind {
            info: KindInfo {
                group: leak(self.group),
                version: leak(self.version),
                api_version,
                kind: leak(self.kind),
                plural: leak(self.plural),
                singular,
                short_names: Box::leak(short_names.into_boxed_slice()),
                namespaced: self.namespaced,
                registry_prefix,
            },
            status_subresource: self.status_subresource,
            validate: self.validate,
            parse: None,
        }))
    }
}

/// A custom kind as discovery describes it: what a client needs to serve the kind's objects
/// on its side (the CLI learns the server's custom kinds this way). Validation stays on the
/// server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct KindDescription {
    /// API group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name.
    pub plural: String,
    /// Short names.
    pub short_names: Vec<String>,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Whether the kind has a `status` subresource.
    pub status_subresource: bool,
}

impl From<&CustomKind> for KindDescription {
    fn from(kind: &CustomKind) -> Self {
        let info = &kind.info;
        Self {
            group: info.group.to_owned(),
            version: info.version.to_owned(),
            kind: info.kind.to_owned(),
            plural: info.plural.to_owned(),
            short_names: info.short_names.iter().map(|s| (*s).to_owned()).collect(),
            namespaced: info.namespaced,
            status_subresource: kind.status_subresource,
        }
    }
}

impl KindDescription {
    /// The kind as a [`DynamicKind`] (no validation hook: the server validates).
    pub fn to_dynamic(&self) -> DynamicKind {
        DynamicKind {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
            plural: self.plural.clone(),
            short_names: self.short_names.clone(),
            namespaced: self.namespaced,
            status_subresource: self.status_subresource,
            validate: None,
        }
    }
}

/// Why a kind could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The kind or its resource name is already served.
    #[error("{what} is already served by {by}")]
    Taken {
        /// What clashed (`kind Pod`, `resource gameservers.games.example.com`).
        what: String,
        /// The kind that serves it (`v1 Pod`).
        by: String,
    },
    /// A name is not usable (empty, upper case plural, a group without a dot, …).
    #[error("{0}")]
    Invalid(String),
}

/// Finds the registered custom kind of an `apiVersion`/`kind` pair: the bincode decode context
/// a stored custom object needs. The unit context `()` knows none.
pub trait KindResolver {
    /// The custom kind, if registered.
    fn custom_kind(&self, api_version: &str, kind: &str) -> Option<&'static CustomKind>;
}

impl KindResolver for () {
    fn custom_kind(&self, _: &str, _: &str) -> Option<&'static CustomKind> {
        None
    }
}

impl<R: KindResolver + ?Sized> KindResolver for &R {
    fn custom_kind(&self, api_version: &str, kind: &str) -> Option<&'static CustomKind> {
        (**self).custom_kind(api_version, kind)
    }
}

impl<R: KindResolver + ?Sized> KindResolver for Arc<R> {
    fn custom_kind(&self, api_version: &str, kind: &str) -> Option<&'static CustomKind> {
        (**self).custom_kind(api_version, kind)
    }
}

/// The kinds one process serves: the built-ins plus registered custom kinds, in registration
/// order. A value, handed to the manifest parser, the store, the API server and the HTTP API
/// (there is no global registry). [`KindRegistry::default`] serves the built-ins only.
#[derive(Debug, Clone)]
pub struct KindRegistry {
    custom: Arc<[&'static CustomKind]>,
}

impl Default for KindRegistry {
    fn default() -> Self {
        Self {
            custom: Arc::from(Vec::new()),
        }
    }
}

impl PartialEq for KindRegistry {
    fn eq(&self, other: &Self) -> bool {
        self.custom.len() == other.custom.len()
            && self
                .custom
                .iter()
                .zip(other.custom.iter())
                .all(|(a, b)| a.info == b.info)
    }
}

impl Eq for KindRegistry {}

impl KindResolver for KindRegistry {
    fn custom_kind(&self, api_version: &str, kind: &str) -> Option<&'static CustomKind> {
        self.custom
            .iter()
            .copied()
            .find(|c| c.info.api_version == api_version && c.info.kind == kind)
    }
}

impl KindRegistry {
    /// The built-in kinds only.
    pub fn builtin() -> Self {
        Self::default()
    }

    /// Registers a typed kind.
    ///
    /// # Errors
    ///
    /// See [`KindRegistry::register`].
    pub fn register_type<T: CustomResource>(&mut self) -> Result<(), RegisterError> {
        self.register(T::KIND)
    }

    /// Registers a kind. Registering the same kind twice is a no-op.
    ///
    /// # Errors
    ///
    /// [`RegisterError::Taken`] when the kind name or `<plural>.<group>` is already served
    /// (built-in or registered), [`RegisterError::Invalid`] for an unusable name (upstream's
    /// CRD rules: a group with a dot, a lowercase DNS-label plural, an upper camel case kind).
    pub fn register(&mut self, kind: &'static CustomKind) -> Result<(), RegisterError> {
        let info = &kind.info;
        if self.custom.iter().any(|c| std::ptr::eq(*c, kind)) {
            return Ok(());
        }
        check_names(info)?;
        let by = |other: &KindInfo| format!("{} {}", other.api_version, other.kind);
        for other in KINDS.iter().chain(self.custom.iter().map(|c| &c.info)) {
            if other.kind == info.kind {
                return Err(RegisterError::Taken {
                    what: format!("kind {}", info.kind),
                    by: by(other),
                });
            }
            if other.plural == info.plural && other.group == info.group {
                return Err(RegisterError::Taken {
                    what: format!("resource {}.{}", info.plural, info.group),
                    by: by(other),
                });
            }
        }
        let mut custom = self.custom.to_vec();
        custom.push(kind);
        self.custom = Arc::from(custom);
        Ok(())
    }

    /// The registered custom kinds, in registration order.
    pub fn custom_kinds(&self) -> impl Iterator<Item = &'static CustomKind> + '_ {
        self.custom.iter().copied()
    }

    /// Every served kind: the built-ins, then the custom kinds.
    pub fn kinds(&self) -> impl Iterator<Item = &'static KindInfo> + '_ {
        KINDS.iter().chain(self.custom.iter().map(|c| &c.info))
    }

    /// The custom kind served at `info`, if `info` is one.
    pub fn custom_of(&self, info: &KindInfo) -> Option<&'static CustomKind> {
        self.custom
            .iter()
            .copied()
            .find(|c| c.info.api_version == info.api_version && c.info.kind == info.kind)
    }

    /// Looks up an `apiVersion`/`kind` pair as [`lookup_kind`] does, custom kinds included.
    pub fn lookup(&self, api_version: &str, kind: &str) -> KindLookup {
        match lookup_kind(api_version, kind) {
            KindLookup::Unsupported => {}
            found => return found,
        }
        match self.custom.iter().find(|c| c.info.kind == kind) {
            Some(c) if c.info.api_version == api_version => KindLookup::Served(&c.info),
            Some(c) => KindLookup::WrongVersion {
                served: &c.info,
                removed_in: None,
            },
            None => KindLookup::Unsupported,
        }
    }

    /// Finds a served kind by plural, singular, short name or kind (case-insensitive), as
    /// kubectl resolves `get gs`; also `<plural>.<group>` for a custom kind.
    pub fn resolve_resource(&self, name: &str) -> Option<&'static KindInfo> {
        if let Some(info) = super::resolve_resource(name) {
            return Some(info);
        }
        let lower = name.to_ascii_lowercase();
        self.custom.iter().map(|c| &c.info).find(|k| {
            k.plural == lower
                || k.singular == lower
                || k.kind.eq_ignore_ascii_case(&lower)
                || k.short_names.contains(&lower.as_str())
                || lower
                    .strip_prefix(k.plural)
                    .and_then(|rest| rest.strip_prefix('.'))
                    == Some(k.group)
        })
    }

    /// The served kind at `group`/`version` with resource name `plural` (an HTTP path's).
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&'static KindInfo> {
        self.kinds()
            .find(|k| k.group == group && k.version == version && k.plural == plural)
    }
}

/// upstream's CRD name rules (`apiextensions/validation`): the group has a dot, the plural is
/// a lowercase DNS label, the kind starts with an upper case letter.
fn check_names(info: &KindInfo) -> Result<(), RegisterError> {
    let label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if !info.group.contains('.') || !info.group.split('.').all(label) {
        return Err(RegisterError::Invalid(format!(
            "spec.group: Invalid value: {:?}: should be a domain with at least one dot",
            info.group
        )));
    }
    if !label(info.plural) {
        return Err(RegisterError::Invalid(format!(
            "spec.names.plural: Invalid value: {:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
            info.plural
        )));
    }
    if !label(info.version) {
        return Err(RegisterError::Invalid(format!(
            "spec.versions[0].name: Invalid value: {:?}: a DNS-1035 label must consist of lower case alphanumeric characters or '-'",
            info.version
        )));
    }
    let kind_ok = info.kind.chars().next().is_some_and(char::is_uppercase)
        && info.kind.chars().all(char::is_alphanumeric);
    if !kind_ok {
        return Err(RegisterError::Invalid(format!(
            "spec.names.kind: Invalid value: {:?}: must be an upper camel case name",
            info.kind
        )));
    }
    Ok(())
}

/// An object of a custom kind: its kind, its metadata, and its other top-level fields
/// (`spec`, `status`, …) as [`Value`]s, in name order.
#[derive(Clone)]
pub struct DynamicObject {
    kind: &'static CustomKind,
    /// Standard metadata.
    pub metadata: ObjectMeta,
    /// Every top-level field but `apiVersion`, `kind` and `metadata`.
    pub fields: BTreeMap<String, Value>,
}

impl fmt::Debug for DynamicObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicObject")
            .field("api_version", &self.kind.info.api_version)
            .field("kind", &self.kind.info.kind)
            .field("metadata", &self.metadata)
            .field("fields", &self.fields)
            .finish()
    }
}

impl PartialEq for DynamicObject {
    fn eq(&self, other: &Self) -> bool {
        self.kind.info == other.kind.info
            && self.metadata == other.metadata
            && self.fields == other.fields
    }
}

impl DynamicObject {
    /// An empty object of `kind`.
    pub fn new(kind: &'static CustomKind) -> Self {
        Self {
            kind,
            metadata: ObjectMeta::default(),
            fields: BTreeMap::new(),
        }
    }

    /// The kind's description.
    pub fn custom_kind(&self) -> &'static CustomKind {
        self.kind
    }

    /// Where the kind is served.
    pub fn info(&self) -> &'static KindInfo {
        &self.kind.info
    }

    /// A top-level field (`spec`, `status`).
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// The object of a typed kind, as its own type.
    ///
    /// # Errors
    ///
    /// When the object is of another kind, or its fields do not read as `T`.
    pub fn to_typed<T: CustomResource>(&self) -> Result<T, String> {
        if self.kind.info != T::INFO {
            return Err(format!(
                "a {} is not a {}",
                self.kind.info.kind,
                T::INFO.kind
            ));
        }
        let json = serde_json::to_value(self).map_err(|e| e.to_string())?;
        serde_json::from_value(json).map_err(|e| e.to_string())
    }

    /// The object of a typed kind as a dynamic one.
    ///
    /// # Errors
    ///
    /// When `T` does not serialize as an object with a `metadata` mapping.
    pub fn from_typed<T: CustomResource>(object: &T) -> Result<Self, String> {
        let json = serde_json::to_value(object).map_err(|e| e.to_string())?;
        let serde_json::Value::Object(map) = json else {
            return Err(format!(
                "a {} does not serialize as a mapping",
                T::INFO.kind
            ));
        };
        let mut out = Self::new(T::KIND);
        for (key, value) in map {
            match key.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    out.metadata = serde_json::from_value(value).map_err(|e| e.to_string())?;
                }
                _ => {
                    let value: Value = serde_json::from_value(value).map_err(|e| e.to_string())?;
                    out.fields.insert(key, value);
                }
            }
        }
        Ok(out)
    }

    /// Removes `status` (a kind with a status subresource only).
    pub(crate) fn clear_status(&mut self) {
        if self.kind.status_subresource {
            self.fields.remove("status");
        }
    }

    /// Takes `from`'s status (a kind with a status subresource only).
    pub(crate) fn copy_status_from(&mut self, from: &DynamicObject) {
        if self.kind.status_subresource && self.kind.info == from.kind.info {
            match from.fields.get("status") {
                Some(status) => {
                    self.fields.insert("status".to_owned(), status.clone());
                }
                None => {
                    self.fields.remove("status");
                }
            }
        }
    }
}

impl Serialize for DynamicObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3 + self.fields.len()))?;
        map.serialize_entry("apiVersion", self.kind.info.api_version)?;
        map.serialize_entry("kind", self.kind.info.kind)?;
        map.serialize_entry("metadata", &self.metadata)?;
        for (k, v) in &self.fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A dynamic kind's document as read from a manifest: typed metadata, every other field
/// (but `apiVersion`/`kind`, already checked) as a [`Value`].
pub(crate) struct DynamicBody {
    pub(crate) metadata: ObjectMeta,
    pub(crate) fields: BTreeMap<String, Value>,
}

impl<'de> Deserialize<'de> for DynamicBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = DynamicBody;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DynamicBody, A::Error> {
                let mut metadata = None;
                let mut fields = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "apiVersion" | "kind" => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        "metadata" => {
                            if metadata.is_some() {
                                return Err(de::Error::duplicate_field("metadata"));
                            }
                            metadata = Some(map.next_value::<ObjectMeta>()?);
                        }
                        _ => {
                            let value = map.next_value::<Value>()?;
                            if fields.insert(key.clone(), value).is_some() {
                                return Err(de::Error::custom(format!("duplicate field `{key}`")));
                            }
                        }
                    }
                }
                Ok(DynamicBody {
                    metadata: metadata.unwrap_or_default(),
                    fields,
                })
            }
        }
        deserializer.deserialize_map(BodyVisitor)
    }
}

impl DynamicBody {
    pub(crate) fn into_object(self, kind: &'static CustomKind) -> DynamicObject {
        DynamicObject {
            kind,
            metadata: self.metadata,
            fields: self.fields,
        }
    }
}

impl bincode::Encode for DynamicObject {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        encoder: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        self.kind.info.api_version.encode(encoder)?;
        self.kind.info.kind.encode(encoder)?;
        self.metadata.encode(encoder)?;
        self.fields.encode(encoder)
    }
}

impl<C: KindResolver> bincode::Decode<C> for DynamicObject {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        decoder: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let api_version: String = bincode::Decode::decode(decoder)?;
        let kind: String = bincode::Decode::decode(decoder)?;
        let Some(custom) = decoder.context().custom_kind(&api_version, &kind) else {
            return Err(bincode::error::DecodeError::OtherString(format!(
                "no kind {kind:?} is registered in version {api_version:?}"
            )));
        };
        Ok(Self {
            kind: custom,
            metadata: bincode::Decode::decode(decoder)?,
            fields: bincode::Decode::decode(decoder)?,
        })
    }
}

impl<'de, C: KindResolver> bincode::BorrowDecode<'de, C> for DynamicObject {
    fn borrow_decode<D: bincode::de::BorrowDecoder<'de, Context = C>>(
        decoder: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        bincode::Decode::decode(decoder)
    }
}
