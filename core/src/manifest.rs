//! Manifest parsing: multi-document YAML (block or flow style) and JSON streams into typed
//! [`Object`]s, with errors that say where.
//!
//! Each document is read in two passes over the same text, so no error loses its location
//! (serde's internally tagged enums buffer the input and drop positions):
//!
//! 1. the stream is split into documents at `---` / `...` lines (a document marker at column 0
//!    cannot occur inside a scalar, so this is exact), and each slice remembers its first line;
//! 2. `apiVersion` and `kind` are read first and looked up in the kind registry
//!    ([`crate::object::KindRegistry::lookup`]);
//! 3. the same slice is deserialized into the concrete type, with the field path tracked.
//!
//! Every error carries the file, the document (1-based), the line and column in the whole
//! stream, and the field path where one applies. Input is bounded: [`MANIFEST_BYTES_MAX`],
//! [`DOCUMENTS_MAX`] and per-document YAML budgets (nodes, depth, aliases) reject hostile input
//! quickly. Nothing here panics on any input.

#![allow(
    clippy::result_large_err,
    reason = "errors are the rare path, and a rich ManifestError is the point of this module"
)]

use std::cell::RefCell;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_saphyr::{MessageFormatter, Spanned};

use crate::object::with_kinds;
use crate::object::{
    CustomResource, DynamicBody, DynamicObject, KindLookup, KindRegistry, Object, removed_in,
    unserved_kind_version,
};

/// Largest manifest stream accepted, in bytes. Real manifests are kilobytes; generated bundles
/// (operators, Helm output) reach a few MiB. etcd's own request limit is 1.5 MiB per object.
pub const MANIFEST_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Most documents accepted in one stream (serde-saphyr's own default stops at 1,024, too few
/// for generated bundles).
pub const DOCUMENTS_MAX: usize = 10_000;
/// YAML nodes allowed per document: a large object has a few thousand; alias bombs need
/// millions.
const DOCUMENT_NODES_MAX: usize = 100_000;
/// Parser events allowed per document.
const DOCUMENT_EVENTS_MAX: usize = 400_000;
/// Nesting allowed per document: typed structure nests about 20 levels, and a preserved
/// [`crate::object::Value`] up to [`crate::object::VALUE_DEPTH_MAX`] (64) below that; 128 is also
/// serde_json's recursion limit, so YAML and JSON agree.
const DOCUMENT_DEPTH_MAX: usize = 128;
/// Aliases allowed per document (anchors are rare in manifests).
const DOCUMENT_ALIASES_MAX: usize = 10_000;

/// Where a manifest error is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file as the user named it (`-` for standard input).
    pub file: String,
    /// The document within the stream, 1-based; 0 when the error concerns the whole stream.
    pub document: usize,
    /// 1-based line in the whole stream, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.document > 0 {
            write!(f, ": document {}", self.document)?;
        }
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
            if let Some(column) = self.column {
                write!(f, ", column {column}")?;
            }
        }
        Ok(())
    }
}

/// What went wrong in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestErrorKind {
    /// The text is not well-formed YAML or JSON (tabs in indentation, bad indentation, an
    /// unclosed bracket, …).
    #[error("{message}")]
    Syntax {
        /// The parser's description.
        message: String,
    },
    /// A value of the wrong type or form (`replicas: "three"`, a malformed quantity).
    #[error("{message}")]
    InvalidValue {
        /// What was found and what was expected.
        message: String,
    },
    /// A field name the kind does not have.
    #[error("unknown field `{field}`")]
    UnknownField {
        /// The field as written.
        field: String,
    },
    /// A required field is absent.
    #[error("missing required field `{field}`")]
    MissingField {
        /// The missing field.
        field: String,
    },
    /// `apiVersion` or `kind` is absent.
    #[error("{field} not set")]
    MissingTypeField {
        /// `apiVersion` or `kind`.
        field: &'static str,
    },
    /// A served kind named with an `apiVersion` that does not serve it.
    #[error("{kind} is served at {served}, not {given}{}", removed_note(given))]
    WrongApiVersion {
        /// The kind.
        kind: String,
        /// The apiVersion given.
        given: String,
        /// The apiVersion skiff (and current Kubernetes) serves the kind at.
        served: &'static str,
    },
    /// A kind skiff does not serve.
    #[error(
        "kind {kind} ({api_version}) is not supported by skiff{}",
        unserved_note(kind, api_version)
    )]
    UnsupportedKind {
        /// The kind.
        kind: String,
        /// The apiVersion given.
        api_version: String,
    },
    /// The document is not a mapping (a list or a scalar at the top).
    #[error("a manifest document must be a mapping with apiVersion, kind and metadata")]
    NotAnObject,
    /// A resource bound was exceeded (stream size, documents, YAML budget).
    #[error("{message}")]
    TooLarge {
        /// Which bound, with the limit.
        message: String,
    },
}

fn removed_note(given: &str) -> String {
    removed_in(given).map_or_else(String::new, |release| {
        format!(" ({given} was removed in Kubernetes {release})")
    })
}

fn unserved_note(kind: &str, api_version: &str) -> String {
    match (removed_in(api_version), unserved_kind_version(kind)) {
        (Some(release), Some(current)) => {
            format!(
                " ({api_version} was removed in Kubernetes {release}; {kind} is served upstream at {current})"
            )
        }
        (Some(release), None) => format!(" ({api_version} was removed in Kubernetes {release})"),
        _ => String::new(),
    }
}

/// One error in a manifest, with its location and field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {}{kind}", field_prefix(field.as_deref()))]
pub struct ManifestError {
    /// Where.
    pub location: Location,
    /// The field path (`spec.template.spec.containers[0].image`), when the error is about one.
    pub field: Option<String>,
    /// What.
    pub kind: ManifestErrorKind,
}

fn field_prefix(field: Option<&str>) -> String {
    field.map_or_else(String::new, |f| format!("{f}: "))
}

/// A parsed document: the object and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The object.
    pub object: Object,
    /// The file it came from.
    pub file: String,
    /// 1-based index of the document in the stream.
    pub document: usize,
    /// 1-based line where the document starts.
    pub line: u64,
}

/// The outcome of parsing a stream: every document that parsed, and every error. One bad
/// document does not hide the others.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// Documents that parsed, in stream order.
    pub documents: Vec<Document>,
    /// Errors, in stream order.
    pub errors: Vec<ManifestError>,
}

/// A document's slice of the stream.
struct Slice<'a> {
    text: &'a str,
    /// 0-based line of the stream where `text` starts.
    first_line: u64,
}

/// True for a line that is a document marker: `---` or `...` at column 0, alone or followed by
/// white space (and, for `---`, content on the same line).
fn marker(line: &str) -> Option<&'static str> {
    for m in ["---", "..."] {
        if let Some(rest) = line.strip_prefix(m)
            && (rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
        {
            return Some(m);
        }
    }
    None
}

/// Splits a stream at document markers. `---` begins a slice (and stays in it, since content
/// may follow it on the same line); `...` ends one.
fn split_documents(text: &str) -> Vec<Slice<'_>> {
    let mut slices = Vec::new();
    let mut start = 0usize;
    let mut start_line = 0u64;
    let mut offset = 0usize;
    for (line_no, line) in (0u64..).zip(text.split_inclusive('\n')) {
        let end = offset + line.len();
        match marker(line) {
            Some("---") => {
                slices.push(Slice {
                    text: &text[start..offset],
                    first_line: start_line,
                });
                start = offset;
                start_line = line_no;
            }
            Some(_) => {
                slices.push(Slice {
                    text: &text[start..end],
                    first_line: start_line,
                });
                start = end;
                start_line = line_no + 1;
            }
            None => {}
        }
        offset = end;
    }
    slices.push(Slice {
        text: &text[start..],
        first_line: start_line,
    });
    slices.retain(|s| !is_blank_document(s.text));
    slices
}

/// A document with nothing but markers, comments and white space (skipped, as kubectl does).
fn is_blank_document(text: &str) -> bool {
    text.lines().all(|line| {
        let t = line.trim();
        t.is_empty() || t.starts_with('#') || marker(line).is_some_and(|_| t.len() == 3)
    })
}

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = DOCUMENT_NODES_MAX;
    budget.max_events = DOCUMENT_EVENTS_MAX;
    budget.max_depth = DOCUMENT_DEPTH_MAX;
    budget.max_aliases = DOCUMENT_ALIASES_MAX;
    budget.max_documents = 2;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.with_snippet = false;
    // Kubernetes reads YAML 1.1-style booleans only where the schema wants a bool; string fields
    // keep `yes`/`no` as text. With typed targets serde-saphyr does the same.
    options
}

/// A string field read with its position where the dialect gives one (YAML does, through
/// `Spanned`; JSON's deserializer does not expose positions).
trait HeaderField: DeserializeOwned {
    fn into_parts(self) -> (String, Option<serde_saphyr::Location>);
}

impl HeaderField for Spanned<String> {
    fn into_parts(self) -> (String, Option<serde_saphyr::Location>) {
        (self.value, Some(self.referenced))
    }
}

impl HeaderField for String {
    fn into_parts(self) -> (String, Option<serde_saphyr::Location>) {
        (self, None)
    }
}

/// `apiVersion` and `kind`; every other field is ignored.
struct Header<F> {
    api_version: Option<F>,
    kind: Option<F>,
}

/// What the first pass finds at the top of a document.
enum Top<F> {
    /// A mapping: its header fields.
    Map(Header<F>),
    /// `null` (an empty document).
    Null,
    /// A sequence or a scalar.
    Other,
}

impl<'de, F: HeaderField> Deserialize<'de> for Top<F> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TopVisitor<F>(std::marker::PhantomData<F>);
        impl<'de, F: HeaderField> serde::de::Visitor<'de> for TopVisitor<F> {
            type Value = Top<F>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Top<F>, A::Error> {
                let mut header = Header {
                    api_version: None,
                    kind: None,
                };
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "apiVersion" => header.api_version = Some(map.next_value()?),
                        "kind" => header.kind = Some(map.next_value()?),
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(Top::Map(header))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Top<F>, E> {
                Ok(Top::Null)
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Top<F>, E> {
                Ok(Top::Null)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Top<F>, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Top::Other)
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Top<F>, E> {
                Ok(Top::Other)
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Top<F>, E> {
                Ok(Top::Other)
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Top<F>, E> {
                Ok(Top::Other)
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Top<F>, E> {
                Ok(Top::Other)
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Top<F>, E> {
                Ok(Top::Other)
            }
        }
        d.deserialize_any(TopVisitor(std::marker::PhantomData))
    }
}

/// Reads one document of text as `T`, tracking the field path of any error.
fn deserialize_tracked<T: DeserializeOwned>(text: &str) -> Result<T, Box<TrackedError>> {
    let path = RefCell::new(None);
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            // Segments serde_path_to_error cannot name (map keys it did not see) print as `?`.
            let p = e.path().to_string().replace(".?", "");
            if p != "." && p != "?" {
                *path.borrow_mut() = Some(p);
            }
            e.into_inner()
        })
    });
    result.map_err(|e| Box::new((e, path.into_inner())))
}

/// A serde-saphyr error and the field path where it happened.
type TrackedError = (serde_saphyr::Error, Option<String>);

/// Classifies a serde-saphyr error into a [`ManifestError`], shifting its line by the slice's
/// first line.
fn yaml_error(
    text: &str,
    err: &serde_saphyr::Error,
    path: Option<String>,
    file: &str,
    document: usize,
    first_line: u64,
) -> ManifestError {
    let mut inner = err;
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = inner
    {
        inner = error;
    }
    let (line, column) = match err.location().or_else(|| inner.location()) {
        Some(loc) if loc.line() > 0 => (Some(loc.line() + first_line), Some(loc.column())),
        _ => (None, None),
    };
    let join = |field: &str| match &path {
        Some(p) => format!("{p}.{field}"),
        None => field.to_owned(),
    };
    let (kind, field) = match inner {
        serde_saphyr::Error::SerdeUnknownField { field, .. } => {
            // serde_path_to_error's path already ends with the unknown field.
            let field_path = path.clone().unwrap_or_else(|| field.clone());
            (
                ManifestErrorKind::UnknownField {
                    field: field.clone(),
                },
                Some(field_path),
            )
        }
        serde_saphyr::Error::SerdeMissingField { field, .. } => (
            ManifestErrorKind::MissingField {
                field: (*field).to_owned(),
            },
            Some(join(field)),
        ),
        serde_saphyr::Error::InvalidScalar { ty, .. } => {
            let found = line.and_then(|l| column.map(|c| scalar_at(text, l - first_line, c)));
            let message = match found {
                Some(found) if !found.is_empty() => format!("expected {ty}, found {found}"),
                _ => format!("expected {ty}"),
            };
            (ManifestErrorKind::InvalidValue { message }, path)
        }
        serde_saphyr::Error::Budget { breach, .. } => (
            ManifestErrorKind::TooLarge {
                message: budget_message(breach),
            },
            None,
        ),
        serde_saphyr::Error::SerdeInvalidType { .. }
        | serde_saphyr::Error::SerdeInvalidValue { .. }
        | serde_saphyr::Error::SerdeInvalidLength { .. }
        | serde_saphyr::Error::SerdeUnknownVariant { .. }
        | serde_saphyr::Error::Message { .. } => (
            ManifestErrorKind::InvalidValue {
                message: message_of(inner),
            },
            path,
        ),
        other => {
            let message = message_of(other);
            if message.contains("budget") || message.contains("limit") {
                (ManifestErrorKind::TooLarge { message }, None)
            } else {
                (ManifestErrorKind::Syntax { message }, path)
            }
        }
    };
    ManifestError {
        location: Location {
            file: file.to_owned(),
            document,
            line,
            column,
        },
        field,
        kind,
    }
}

/// The scalar as written at 1-based `line`/`column` of `text` (up to the end of the line or a
/// comment), for messages that should show what was found.
fn scalar_at(text: &str, line: u64, column: u64) -> String {
    let Some(row) = usize::try_from(line)
        .ok()
        .and_then(|l| text.lines().nth(l.checked_sub(1)?))
    else {
        return String::new();
    };
    let start = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    let rest: String = row.chars().skip(start).collect();
    let rest = rest.split(" #").next().unwrap_or("");
    let rest = rest.trim().trim_end_matches([',', '}', ']']).trim_end();
    // Bound what an error repeats back: a huge scalar is not more helpful.
    rest.chars().take(80).collect()
}

fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach;
    match breach {
        BudgetBreach::Nodes { .. } => format!(
            "document has more than {DOCUMENT_NODES_MAX} YAML nodes (each alias expansion counts)"
        ),
        BudgetBreach::Events { .. } => {
            format!("document has more than {DOCUMENT_EVENTS_MAX} YAML events")
        }
        BudgetBreach::Depth { .. } => {
            format!("document is nested deeper than {DOCUMENT_DEPTH_MAX} levels")
        }
        BudgetBreach::Aliases { .. } => {
            format!("document has more than {DOCUMENT_ALIASES_MAX} aliases")
        }
        other => format!("document exceeds the parser's limits ({other:?})"),
    }
}

fn message_of(err: &serde_saphyr::Error) -> String {
    let mut message = serde_saphyr::DefaultMessageFormatter
        .format_message(err)
        .into_owned();
    // serde-saphyr sometimes addresses the programmer ("set DuplicateKeyPolicy in Options",
    // "use Option<String>"); a manifest author only needs the fact.
    for advice in [", set DuplicateKeyPolicy", "; use Option<"] {
        if let Some(cut) = message.find(advice) {
            message.truncate(cut);
        }
    }
    message
}

fn located(
    file: &str,
    document: usize,
    first_line: u64,
    at: Option<&serde_saphyr::Location>,
) -> Location {
    let (line, column) = match at {
        Some(loc) if loc.line() > 0 => (Some(loc.line() + first_line), Some(loc.column())),
        _ => (Some(first_line + 1), None),
    };
    Location {
        file: file.to_owned(),
        document,
        line,
        column,
    }
}

/// Where a document is, for errors.
pub(crate) struct Ctx<'a> {
    file: &'a str,
    document: usize,
    first_line: u64,
}

/// How one document's text is read. JSON documents are read by serde_json: the YAML parser
/// accepts most JSON but not all of it (raw DEL and C1 characters, keys over 1,024 characters),
/// and `get -o json` output must always read back.
#[derive(Clone, Copy)]
pub(crate) enum Dialect {
    Yaml,
    Json,
}

/// The dialect of a document, and its text without a leading `---` line for JSON.
fn dialect_of<'a>(slice: &Slice<'a>) -> (Dialect, &'a str, u64) {
    let (body, skipped) = match marker(slice.text) {
        Some("---") => match slice.text.find('\n') {
            Some(nl) => (&slice.text[nl + 1..], 1),
            None => ("", 1),
        },
        _ => (slice.text, 0),
    };
    if body.trim_start().starts_with('{')
        && serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok()
    {
        (Dialect::Json, body, slice.first_line + skipped)
    } else {
        (Dialect::Yaml, slice.text, slice.first_line)
    }
}

/// Reads `text` as `T` in `dialect`, turning any error into a located [`ManifestError`].
fn read<T: DeserializeOwned>(
    dialect: Dialect,
    text: &str,
    ctx: &Ctx<'_>,
) -> Result<T, ManifestError> {
    match dialect {
        Dialect::Yaml => deserialize_tracked::<T>(text).map_err(|e| {
            let (e, path) = *e;
            yaml_error(text, &e, path, ctx.file, ctx.document, ctx.first_line)
        }),
        Dialect::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let value: Result<T, _> = serde_path_to_error::deserialize(&mut de);
            value.map_err(|e| {
                let path = e.path().to_string();
                let path = (path != ".").then_some(path);
                json_error(e.inner(), path, ctx)
            })
        }
    }
}

/// Classifies a serde_json error like [`yaml_error`] does a YAML one.
fn json_error(err: &serde_json::Error, path: Option<String>, ctx: &Ctx<'_>) -> ManifestError {
    let full = err.to_string();
    // serde_json appends " at line L column C"; the location is reported separately.
    let message = match full.rfind(" at line ") {
        Some(cut) => full[..cut].to_owned(),
        None => full,
    };
    let line = u64::try_from(err.line()).ok().filter(|l| *l > 0);
    let column = u64::try_from(err.column()).ok().filter(|_| line.is_some());
    let location = Location {
        file: ctx.file.to_owned(),
        document: ctx.document,
        line: Some(line.map_or(ctx.first_line + 1, |l| l + ctx.first_line)),
        column,
    };
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let (kind, field) = if err.is_data() {
        if let Some(field) = quoted("unknown field `") {
            (
                ManifestErrorKind::UnknownField {
                    field: field.clone(),
                },
                path.or(Some(field)),
            )
        } else if let Some(field) = quoted("missing field `") {
            let full_path = match &path {
                Some(p) => format!("{p}.{field}"),
                None => field.clone(),
            };
            (ManifestErrorKind::MissingField { field }, Some(full_path))
        } else {
            (ManifestErrorKind::InvalidValue { message }, path)
        }
    } else if message.contains("recursion limit") {
        (ManifestErrorKind::TooLarge { message }, None)
    } else {
        (ManifestErrorKind::Syntax { message }, path)
    };
    ManifestError {
        location,
        field,
        kind,
    }
}

/// Reads one document's slice into a typed object.
/// An empty document (`null`, `~`) gives `Ok(None)`.
fn parse_document(
    file: &str,
    document: usize,
    slice: &Slice<'_>,
    kinds: &KindRegistry,
) -> Result<Option<Object>, ManifestError> {
    let (dialect, text, first_line) = dialect_of(slice);
    let ctx = Ctx {
        file,
        document,
        first_line,
    };
    let (api_version, kind) = match dialect {
        Dialect::Yaml => header::<Spanned<String>>(dialect, text, &ctx)?,
        Dialect::Json => header::<String>(dialect, text, &ctx)?,
    }
    .map_or((None, None), |(a, k)| (Some(a), Some(k)));
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        return Ok(None);
    };
    let missing = |field: &'static str| ManifestError {
        location: located(file, document, first_line, None),
        field: None,
        kind: ManifestErrorKind::MissingTypeField { field },
    };
    let (api_version, api_version_at) = api_version.ok_or_else(|| missing("apiVersion"))?;
    let (kind, kind_at) = kind.ok_or_else(|| missing("kind"))?;
    let info = match kinds.lookup(&api_version, &kind) {
        KindLookup::Served(info) => info,
        KindLookup::WrongVersion { served, .. } => {
            return Err(ManifestError {
                location: located(file, document, first_line, api_version_at.as_ref()),
                field: Some("apiVersion".into()),
                kind: ManifestErrorKind::WrongApiVersion {
                    kind,
                    given: api_version,
                    served: served.api_version,
                },
            });
        }
        KindLookup::Unsupported => {
            return Err(ManifestError {
                location: located(file, document, first_line, kind_at.as_ref()),
                field: None,
                kind: ManifestErrorKind::UnsupportedKind { kind, api_version },
            });
        }
    };
    if let Some(custom) = kinds.custom_of(info) {
        let object = match custom.parse {
            Some(parse) => parse(dialect, text, &ctx)?,
            None => read::<DynamicBody>(dialect, text, &ctx)?.into_object(custom),
        };
        return Ok(Some(Object::Custom(object)));
    }
    macro_rules! parse_as {
        ($($variant:ident = $ty:ident,)*) => {
            match info.kind {
                $(
                    stringify!($ty) => read::<crate::object::$ty>(dialect, text, &ctx)
                        .map(Object::$variant),
                )*
                other => unreachable!("lookup_kind returned unlisted kind {other}"),
            }
        };
    }
    with_kinds!(parse_as).map(Some)
}

/// Reads one document of the typed custom kind `T` (its [`CustomResource`] parse hook): into
/// `T`, so errors are located as for built-in kinds, then kept as a [`DynamicObject`].
pub(crate) fn parse_typed<T: CustomResource>(
    dialect: Dialect,
    text: &str,
    ctx: &Ctx<'_>,
) -> Result<DynamicObject, ManifestError> {
    let typed = read::<T>(dialect, text, ctx)?;
    DynamicObject::from_typed(&typed).map_err(|message| ManifestError {
        location: located(ctx.file, ctx.document, ctx.first_line, None),
        field: None,
        kind: ManifestErrorKind::InvalidValue { message },
    })
}

/// A header field: its value and, in YAML, where it is.
type Located = (String, Option<serde_saphyr::Location>);

/// Reads `apiVersion` and `kind`. `Ok(None)` for an empty document; each field is `None` when
/// absent.
#[allow(
    clippy::type_complexity,
    reason = "a private pair of optional located fields"
)]
fn header<F: HeaderField>(
    dialect: Dialect,
    text: &str,
    ctx: &Ctx<'_>,
) -> Result<Option<(Option<Located>, Option<Located>)>, ManifestError> {
    match read::<Top<F>>(dialect, text, ctx)? {
        Top::Map(h) => Ok(Some((
            h.api_version.map(HeaderField::into_parts),
            h.kind.map(HeaderField::into_parts),
        ))),
        Top::Null => Ok(None),
        Top::Other => Err(ManifestError {
            location: located(ctx.file, ctx.document, ctx.first_line, None),
            field: None,
            kind: ManifestErrorKind::NotAnObject,
        }),
    }
}

/// Parses a manifest stream, collecting every document that parses and every error.
///
/// `file` names the source in errors (use `-` for standard input).
pub fn parse(file: &str, text: &str) -> Parsed {
    parse_with(file, text, &KindRegistry::builtin())
}

/// Parses a manifest stream like [`parse`], serving the custom kinds of `kinds` too: a
/// document of a registered kind parses with the same located errors as a built-in one; a
/// kind nobody registered gets [`ManifestErrorKind::UnsupportedKind`] as before.
pub fn parse_with(file: &str, text: &str, kinds: &KindRegistry) -> Parsed {
    let mut parsed = Parsed::default();
    let stream_error = |message: String| ManifestError {
        location: Location {
            file: file.to_owned(),
            document: 0,
            line: None,
            column: None,
        },
        field: None,
        kind: ManifestErrorKind::TooLarge { message },
    };
    if text.len() > MANIFEST_BYTES_MAX {
        parsed.errors.push(stream_error(format!(
            "manifest is {} bytes, more than the limit of {MANIFEST_BYTES_MAX}",
            text.len()
        )));
        return parsed;
    }
    let slices = split_documents(text);
    if slices.len() > DOCUMENTS_MAX {
        parsed.errors.push(stream_error(format!(
            "manifest has {} documents, more than the limit of {DOCUMENTS_MAX}",
            slices.len()
        )));
        return parsed;
    }
    for (i, slice) in slices.iter().enumerate() {
        let document = i + 1;
        match parse_document(file, document, slice, kinds) {
            Ok(None) => {}
            Ok(Some(object)) => parsed.documents.push(Document {
                object,
                file: file.to_owned(),
                document,
                line: slice.first_line + 1,
            }),
            Err(e) => parsed.errors.push(e),
        }
    }
    parsed
}

/// Parses a manifest stream into objects, failing on the first error.
pub fn parse_str(file: &str, text: &str) -> Result<Vec<Object>, ManifestError> {
    parse_str_with(file, text, &KindRegistry::builtin())
}

/// [`parse_str`] serving the custom kinds of `kinds` too.
pub fn parse_str_with(
    file: &str,
    text: &str,
    kinds: &KindRegistry,
) -> Result<Vec<Object>, ManifestError> {
    let parsed = parse_with(file, text, kinds);
    match parsed.errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(parsed.documents.into_iter().map(|d| d.object).collect()),
    }
}

/// Parses bytes (which must be UTF-8) as a manifest stream: the body of the `manifest` fuzz
/// target and of `skiff validate`.
pub fn parse_bytes(file: &str, bytes: &[u8]) -> Parsed {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(file, text),
        Err(e) => {
            let valid = e.valid_up_to();
            // The valid prefix is text, so counting its lines is counting `\n` in a str.
            let line = std::str::from_utf8(&bytes[..valid]).map_or(0, |t| t.lines().count().max(1));
            let line = u64::try_from(line).unwrap_or(u64::MAX)
                + u64::from(bytes[..valid].ends_with(b"\n"));
            Parsed {
                documents: Vec::new(),
                errors: vec![ManifestError {
                    location: Location {
                        file: file.to_owned(),
                        document: 0,
                        line: Some(line),
                        column: None,
                    },
                    field: None,
                    kind: ManifestErrorKind::Syntax {
                        message: format!("input is not valid UTF-8 (byte {valid})"),
                    },
                }],
            }
        }
    }
}

/// Serializes an object as a YAML document (what `get -o yaml` prints).
pub fn to_yaml(object: &Object) -> Result<String, String> {
    serde_saphyr::to_string(object).map_err(|e| e.to_string())
}

/// Serializes an object as pretty JSON (what `get -o json` prints).
pub fn to_json(object: &Object) -> Result<String, String> {
    serde_json::to_string_pretty(object).map_err(|e| e.to_string())
}
