//! Label selectors and field selectors: the structured `LabelSelector`, the `kubectl -l` string
//! syntax, `kubectl --field-selector`, and the label/DNS name syntax rules they rest on.
//!
//! - [`LabelSelector`] / [`LabelSelectorRequirement`]: the wire types (upstream
//!   `metav1.LabelSelector`), kept loose on purpose: `operator` is a `String`, so an unknown
//!   operator is a validation error with a field path ([`LabelSelector::validate`]), not a
//!   decode failure.
//! - [`Selector`]: a compiled label selector, a conjunction of [`Requirement`]s, built by
//!   [`Selector::parse`] (string syntax) or [`LabelSelector::to_selector`].
//! - [`FieldSelector`]: `metadata.name=x,status.phase!=Running`, evaluated through a lookup
//!   function so the store can apply it to any kind.
//! - [`syntax`]: `validate_label_key`, `validate_label_value`, `validate_dns1123_label` and
//!   `validate_dns1123_subdomain`, with upstream's messages. They live in that submodule (not
//!   re-exported here) so validation code names them as `selector::syntax::…`.
//!
//! # Matching rules (upstream `metav1.LabelSelectorAsSelector`)
//!
//! - An empty `LabelSelector` (no `matchLabels`, no `matchExpressions`) matches everything.
//! - A missing selector (`None`) matches nothing: use [`selector_matches`].
//! - An invalid `LabelSelector` matches nothing through [`LabelSelector::matches`]; callers that
//!   must tell "invalid" from "no match" call [`LabelSelector::to_selector`].
//! - An empty selector string matches everything.
//!
//! # String syntax (upstream `labels.Parse`)
//!
//! ```text
//! selector    ::= "" | requirement ("," requirement)*
//! requirement ::= ["!"] KEY | KEY ("=" | "==" | "!=" | ">" | "<") [VALUE]
//!               | KEY ("in" | "notin") "(" [VALUE] ("," [VALUE])* ")"
//! ```
//!
//! Whitespace (space, tab, CR, LF) separates tokens and is otherwise ignored. `in` and `notin`
//! are keywords only where an operator is expected, so `in in (notin)` is a valid requirement.
//! Requirements are kept sorted (by key, then operator, then values) so that equal selectors
//! print equally; `==` is normalised to `=`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use skiff_core::selector::Selector;
//!
//! let selector = Selector::parse("tier in (web, cache), !canary, env==prod").unwrap();
//! assert_eq!(selector.to_string(), "!canary,env=prod,tier in (cache,web)");
//! let labels = BTreeMap::from([("tier".into(), "web".into()), ("env".into(), "prod".into())]);
//! assert!(selector.matches(&labels));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::object::serde_util::null_as_default;

#[cfg(test)]
mod tests;

// ---------------------------------------------------------------------------------------------
// Wire types.
// ---------------------------------------------------------------------------------------------

/// A structured label selector (upstream `metav1.LabelSelector`).
///
/// `null` for either list deserializes as empty, as the Kubernetes API accepts it.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels that must be equal.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements, all of which must hold.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based requirement of a [`LabelSelector`].
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In`/`NotIn`; empty otherwise.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub values: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Compiled selector.
// ---------------------------------------------------------------------------------------------

/// How a [`Requirement`] relates a label to its values (upstream `selection.Operator`).
///
/// `==` has no variant of its own: it means the same as `=` and is normalised to [`Self::Equals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    /// `key=value`: the label is present and equal to the one value.
    Equals,
    /// `key!=value`: the label is absent or differs from the one value.
    NotEquals,
    /// `key in (a,b)`: the label is present and one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or none of the values.
    NotIn,
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>n`: the label is present, an integer, and greater than the one value.
    Gt,
    /// `key<n`: the label is present, an integer, and less than the one value.
    Lt,
}

impl Operator {
    /// The upstream `selection.Operator` spelling: `=`, `!=`, `in`, `notin`, `exists`, `!`,
    /// `gt`, `lt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "=",
            Self::NotEquals => "!=",
            Self::In => "in",
            Self::NotIn => "notin",
            Self::Exists => "exists",
            Self::DoesNotExist => "!",
            Self::Gt => "gt",
            Self::Lt => "lt",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One condition on one label key (upstream `labels.Requirement`).
///
/// # Guarantees
///
/// A `Requirement` is always valid: its key passes [`syntax::validate_label_key`], each value
/// passes [`syntax::validate_label_value`], `In`/`NotIn` have at least one value,
/// `Exists`/`DoesNotExist` none, and the other operators exactly one (an integer for `Gt`/`Lt`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: BTreeSet<String>,
}

impl Requirement {
    /// Builds a requirement, checking it as upstream `labels.NewRequirement` does.
    ///
    /// Errors name the field relative to the requirement: `key`, `values`, `values[1]`.
    pub fn new<V: Into<String>>(
        key: impl Into<String>,
        operator: Operator,
        values: impl IntoIterator<Item = V>,
    ) -> Result<Self, SelectorError> {
        let key = key.into();
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        let mut errors = Vec::new();
        check_requirement("", &key, Some(operator), &values, &mut errors);
        match errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(Self {
                key,
                operator,
                values: values.into_iter().collect(),
            }),
        }
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted and deduplicated.
    pub fn values(&self) -> &BTreeSet<String> {
        &self.values
    }

    /// Whether `labels` satisfy this requirement (upstream `Requirement.Matches`).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let label = labels.get(&self.key);
        match self.operator {
            Operator::Equals | Operator::In => label.is_some_and(|v| self.values.contains(v)),
            Operator::NotEquals | Operator::NotIn => {
                !label.is_some_and(|v| self.values.contains(v))
            }
            Operator::Exists => label.is_some(),
            Operator::DoesNotExist => label.is_none(),
            Operator::Gt | Operator::Lt => {
                // upstream: both sides parse as base-10 int64, else no match.
                let Some(label) = label.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let Some(bound) = self.values.first().and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                if self.operator == Operator::Gt {
                    label > bound
                } else {
                    label < bound
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    /// Prints the canonical string form (upstream `Requirement.String`, with `==` as `=`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        let (infix, parenthesised) = match self.operator {
            Operator::Exists => return f.write_str(key),
            Operator::DoesNotExist => return write!(f, "!{key}"),
            Operator::Equals => ("=", false),
            Operator::NotEquals => ("!=", false),
            Operator::Gt => (">", false),
            Operator::Lt => ("<", false),
            Operator::In => (" in (", true),
            Operator::NotIn => (" notin (", true),
        };
        write!(f, "{key}{infix}")?;
        for (i, value) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(value)?;
        }
        if parenthesised {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A compiled label selector: all of its requirements must hold (upstream `labels.Selector`).
///
/// [`Selector::nothing`] is the one selector with no string form: like upstream it prints as
/// `""`, which parses back to [`Selector::everything`]. Check [`Selector::is_nothing`] before
/// sending a selector anywhere as a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector(Repr);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Repr {
    Nothing,
    /// Sorted by `Requirement`'s `Ord` (key first, as upstream sorts `ByKey`).
    All(Vec<Requirement>),
}

impl Default for Selector {
    fn default() -> Self {
        Self::everything()
    }
}

impl Selector {
    /// Matches every label set (upstream `labels.Everything`).
    pub fn everything() -> Self {
        Self(Repr::All(Vec::new()))
    }

    /// Matches no label set (upstream `labels.Nothing`): what a missing selector means.
    pub fn nothing() -> Self {
        Self(Repr::Nothing)
    }

    /// A selector requiring all of `requirements`.
    pub fn from_requirements(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        let mut requirements: Vec<Requirement> = requirements.into_iter().collect();
        requirements.sort();
        Self(Repr::All(requirements))
    }

    /// Parses the `kubectl -l` string syntax (see the module docs). Never panics.
    ///
    /// # Errors
    ///
    /// [`SelectorError::Syntax`], [`SelectorError::InvalidKey`] or
    /// [`SelectorError::InvalidValue`], each with the byte position it refers to.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        Parser::new(input).selector()
    }

    /// True if this selector does not restrict anything (upstream `Empty`); false for
    /// [`Selector::nothing`].
    pub fn is_empty(&self) -> bool {
        matches!(&self.0, Repr::All(requirements) if requirements.is_empty())
    }

    /// True for [`Selector::nothing`].
    pub fn is_nothing(&self) -> bool {
        self.0 == Repr::Nothing
    }

    /// The requirements, sorted; `None` for [`Selector::nothing`] (upstream's
    /// `selectable == false`).
    pub fn requirements(&self) -> Option<&[Requirement]> {
        match &self.0 {
            Repr::Nothing => None,
            Repr::All(requirements) => Some(requirements),
        }
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match &self.0 {
            Repr::Nothing => false,
            Repr::All(requirements) => requirements.iter().all(|r| r.matches(labels)),
        }
    }

    /// The one value `key` must have, if the selector pins it with `=` or a one-value `in`
    /// (upstream `RequiresExactMatch`, which looks only at the first requirement on `key`).
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let requirement = self.requirements()?.iter().find(|r| r.key == key)?;
        match requirement.operator {
            Operator::Equals | Operator::In if requirement.values.len() == 1 => {
                requirement.values.first().map(String::as_str)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Selector {
    /// The canonical form: requirements in sorted order, joined by `,`; `""` for both
    /// [`Selector::everything`] and [`Selector::nothing`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements().unwrap_or_default().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

/// Why a label selector string or a [`LabelSelector`] was rejected.
///
/// String-syntax errors carry the byte `position` in the input; `LabelSelector` errors carry a
/// `field` path relative to the selector (`matchExpressions[0].values`), for the caller to
/// prefix with where the selector sits (`spec.selector.`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectorError {
    /// The string is not in selector syntax (upstream `found '…', expected: …`).
    #[error("at byte {position}: found {}, expected: {expected}", Found(found.as_deref()))]
    Syntax {
        /// Byte offset of the unexpected token in the input.
        position: usize,
        /// The unexpected token; `None` at the end of the input.
        found: Option<String>,
        /// What the grammar allows there, in upstream wording.
        expected: &'static str,
    },
    /// A key in the string is not a valid label key.
    #[error("at byte {position}: invalid label key {key:?}: {reason}")]
    InvalidKey {
        /// Byte offset of the key in the input.
        position: usize,
        /// The key as written.
        key: String,
        /// Upstream's message(s), joined by `; `.
        reason: String,
    },
    /// A value in the string is not a valid label value (or not an integer for `>`/`<`).
    #[error("at byte {position}: invalid value {value:?} for label key {key:?}: {reason}")]
    InvalidValue {
        /// Byte offset of the value in the input (of the next token for an empty value).
        position: usize,
        /// The key the value belongs to.
        key: String,
        /// The value as written.
        value: String,
        /// Upstream's message(s), joined by `; `.
        reason: String,
    },
    /// A field holds a malformed value (upstream `field.Invalid`).
    #[error("{field}: Invalid value: {value:?}: {reason}")]
    Invalid {
        /// Path of the field, e.g. `matchExpressions[0].key` or `matchLabels`.
        field: String,
        /// The rejected value.
        value: String,
        /// Upstream's message(s), joined by `; `.
        reason: String,
    },
    /// An operator takes a different number of values (exact-match and `Gt`/`Lt` take one).
    #[error("{field}: Invalid value: {count} values: {reason}")]
    ValueCount {
        /// Path of the values list.
        field: String,
        /// How many values were given.
        count: usize,
        /// Which operators need exactly one value.
        reason: &'static str,
    },
    /// A field that must be set is empty (upstream `field.Required`).
    #[error("{field}: Required value: {reason}")]
    Required {
        /// Path of the empty field.
        field: String,
        /// Why it is required.
        reason: &'static str,
    },
    /// A field that must be empty is set (upstream `field.Forbidden`).
    #[error("{field}: Forbidden: {reason}")]
    Forbidden {
        /// Path of the field that must be empty.
        field: String,
        /// Why it must be empty.
        reason: &'static str,
    },
    /// `operator` is not one of the four `LabelSelector` operators (upstream
    /// `field.NotSupported`).
    #[error(
        "{field}: Unsupported value: {value:?}: supported values: \"DoesNotExist\", \"Exists\", \"In\", \"NotIn\""
    )]
    UnsupportedOperator {
        /// Path of the operator field.
        field: String,
        /// The operator as written.
        value: String,
    },
}

/// Prints a found token as upstream does (`'x'`), or `end of string`.
struct Found<'a>(Option<&'a str>);

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(text) => write!(f, "'{text}'"),
            None => f.write_str("end of string"),
        }
    }
}

// upstream messages: labels.NewRequirement and metav1 validation.ValidateLabelSelectorRequirement.
const IN_NEEDS_VALUES: &str = "must be specified when `operator` is 'In' or 'NotIn'";
const EXISTS_FORBIDS_VALUES: &str =
    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'";
const EXACT_NEEDS_ONE_VALUE: &str = "exact-match compatibility requires one single value";
const GT_LT_NEEDS_ONE_VALUE: &str = "for 'Gt', 'Lt' operators, exactly one value is required";
const GT_LT_NEEDS_INTEGER: &str = "for 'Gt', 'Lt' operators, the value must be an integer";

fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Checks one requirement as upstream `labels.NewRequirement` does, pushing every problem.
/// `operator == None` (unsupported, already reported) checks only key and value syntax.
fn check_requirement(
    path: &str,
    key: &str,
    operator: Option<Operator>,
    values: &[String],
    errors: &mut Vec<SelectorError>,
) {
    if let Err(reason) = syntax::validate_label_key(key) {
        errors.push(SelectorError::Invalid {
            field: child_path(path, "key"),
            value: key.to_owned(),
            reason,
        });
    }
    let values_path = child_path(path, "values");
    let count = values.len();
    match operator {
        Some(Operator::In | Operator::NotIn) if count == 0 => {
            errors.push(SelectorError::Required {
                field: values_path.clone(),
                reason: IN_NEEDS_VALUES,
            });
        }
        Some(Operator::Exists | Operator::DoesNotExist) if count != 0 => {
            errors.push(SelectorError::Forbidden {
                field: values_path.clone(),
                reason: EXISTS_FORBIDS_VALUES,
            });
        }
        Some(Operator::Equals | Operator::NotEquals) if count != 1 => {
            errors.push(SelectorError::ValueCount {
                field: values_path.clone(),
                count,
                reason: EXACT_NEEDS_ONE_VALUE,
            });
        }
        Some(Operator::Gt | Operator::Lt) => {
            if count != 1 {
                errors.push(SelectorError::ValueCount {
                    field: values_path.clone(),
                    count,
                    reason: GT_LT_NEEDS_ONE_VALUE,
                });
            }
            for (i, value) in values.iter().enumerate() {
                if value.parse::<i64>().is_err() {
                    errors.push(SelectorError::Invalid {
                        field: format!("{values_path}[{i}]"),
                        value: value.clone(),
                        reason: GT_LT_NEEDS_INTEGER.to_owned(),
                    });
                }
            }
        }
        // Unsupported (already reported), or a count that fits the operator.
        None | Some(_) => {}
    }
    for (i, value) in values.iter().enumerate() {
        if let Err(reason) = syntax::validate_label_value(value) {
            errors.push(SelectorError::Invalid {
                field: format!("{values_path}[{i}]"),
                value: value.clone(),
                reason,
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// LabelSelector → Selector.
// ---------------------------------------------------------------------------------------------

impl LabelSelector {
    /// A selector that requires exactly these labels (`matchLabels` only).
    pub fn from_labels(labels: BTreeMap<String, String>) -> Self {
        Self {
            match_labels: labels,
            match_expressions: Vec::new(),
        }
    }

    /// True if there is nothing to match on; an empty selector matches everything.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Every problem with this selector, in field order: `matchLabels` (by key), then each
    /// `matchExpressions[i]` (key, operator, values). Empty when it is valid.
    pub fn validate(&self) -> Vec<SelectorError> {
        self.compile().err().unwrap_or_default()
    }

    /// Compiles to a [`Selector`] (upstream `metav1.LabelSelectorAsSelector`): `matchLabels`
    /// become `=` requirements, `matchExpressions` map `In`/`NotIn`/`Exists`/`DoesNotExist`.
    /// An empty selector gives [`Selector::everything`].
    ///
    /// # Errors
    ///
    /// The first of [`LabelSelector::validate`]'s errors.
    pub fn to_selector(&self) -> Result<Selector, SelectorError> {
        self.compile().map_err(|errors| {
            errors
                .into_iter()
                .next()
                .unwrap_or_else(|| unreachable!("compile fails with errors"))
        })
    }

    /// Whether `labels` match; an invalid selector matches nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.to_selector()
            .is_ok_and(|selector| selector.matches(labels))
    }

    fn compile(&self) -> Result<Selector, Vec<SelectorError>> {
        if self.is_empty() {
            return Ok(Selector::everything());
        }
        let mut errors = Vec::new();
        let mut requirements = Vec::new();
        for (key, value) in &self.match_labels {
            // upstream metav1 ValidateLabels reports both under the `matchLabels` path.
            let before = errors.len();
            if let Err(reason) = syntax::validate_label_key(key) {
                errors.push(SelectorError::Invalid {
                    field: "matchLabels".to_owned(),
                    value: key.clone(),
                    reason,
                });
            }
            if let Err(reason) = syntax::validate_label_value(value) {
                errors.push(SelectorError::Invalid {
                    field: "matchLabels".to_owned(),
                    value: value.clone(),
                    reason,
                });
            }
            if errors.len() == before {
                requirements.push(Requirement {
                    key: key.clone(),
                    operator: Operator::Equals,
                    values: BTreeSet::from([value.clone()]),
                });
            }
        }
        for (i, expression) in self.match_expressions.iter().enumerate() {
            let path = format!("matchExpressions[{i}]");
            let operator = match expression.operator.as_str() {
                "In" => Some(Operator::In),
                "NotIn" => Some(Operator::NotIn),
                "Exists" => Some(Operator::Exists),
                "DoesNotExist" => Some(Operator::DoesNotExist),
                _ => None,
            };
            let before = errors.len();
            if operator.is_none() {
                errors.push(SelectorError::UnsupportedOperator {
                    field: format!("{path}.operator"),
                    value: expression.operator.clone(),
                });
            }
            check_requirement(
                &path,
                &expression.key,
                operator,
                &expression.values,
                &mut errors,
            );
            if let (Some(operator), true) = (operator, errors.len() == before) {
                requirements.push(Requirement {
                    key: expression.key.clone(),
                    operator,
                    values: expression.values.iter().cloned().collect(),
                });
            }
        }
        if errors.is_empty() {
            Ok(Selector::from_requirements(requirements))
        } else {
            Err(errors)
        }
    }
}

/// Whether an optional selector matches `labels`: `None` matches nothing, an empty selector
/// everything (upstream `LabelSelectorAsSelector`: nil is `labels.Nothing()`).
pub fn selector_matches(
    selector: Option<&LabelSelector>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector.is_some_and(|selector| selector.matches(labels))
}

// ---------------------------------------------------------------------------------------------
// Label selector string parser.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    End,
    Comma,
    OpenParen,
    CloseParen,
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    Greater,
    Less,
    /// The word `in`: an operator after a key, an identifier anywhere else.
    In,
    /// The word `notin`: an operator after a key, an identifier anywhere else.
    NotIn,
    Identifier,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    position: usize,
}

impl Token<'_> {
    /// An identifier where a key or value is expected (upstream's `Values` context).
    fn is_word(self) -> bool {
        matches!(self.kind, Kind::Identifier | Kind::In | Kind::NotIn)
    }

    fn starts_requirement(self) -> bool {
        self.is_word() || self.kind == Kind::Bang
    }

    fn unexpected(self, expected: &'static str) -> SelectorError {
        SelectorError::Syntax {
            position: self.position,
            found: (self.kind != Kind::End).then(|| self.text.to_owned()),
            expected,
        }
    }
}

// upstream labels lexer: isWhitespace and isSpecialSymbol.
fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(byte: u8) -> bool {
    matches!(byte, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// The token starting at or after byte `from` (after whitespace); `End` at the end of input.
/// Tokens are produced one at a time, so parsing needs no memory in proportion to the input.
fn lex_at(input: &str, from: usize) -> Token<'_> {
    let bytes = input.as_bytes();
    let mut start = from;
    while start < bytes.len() && is_whitespace(bytes[start]) {
        start += 1;
    }
    let Some(&first) = bytes.get(start) else {
        return Token {
            kind: Kind::End,
            text: "",
            position: bytes.len(),
        };
    };
    let second = bytes.get(start + 1).copied();
    let (kind, width) = match (first, second) {
        (b'!', Some(b'=')) => (Kind::NotEquals, 2),
        (b'=', Some(b'=')) => (Kind::DoubleEquals, 2),
        (b'!', _) => (Kind::Bang, 1),
        (b'=', _) => (Kind::Equals, 1),
        (b'(', _) => (Kind::OpenParen, 1),
        (b')', _) => (Kind::CloseParen, 1),
        (b',', _) => (Kind::Comma, 1),
        (b'>', _) => (Kind::Greater, 1),
        (b'<', _) => (Kind::Less, 1),
        _ => {
            let mut end = start;
            while end < bytes.len() && !is_special(bytes[end]) && !is_whitespace(bytes[end]) {
                end += 1;
            }
            let kind = match &input[start..end] {
                "in" => Kind::In,
                "notin" => Kind::NotIn,
                _ => Kind::Identifier,
            };
            (kind, end - start)
        }
    };
    assert!(width > 0, "lexer made no progress at byte {start}");
    // Token edges sit next to ASCII bytes or the ends, so they are char boundaries.
    Token {
        kind,
        text: &input[start..start + width],
        position: start,
    }
}

/// Recursive-descent parser over [`lex_at`]. Bound: every `bump` short of `End` consumes at
/// least one byte, and every loop below bumps each round, so parsing is O(input length).
struct Parser<'a> {
    input: &'a str,
    next: Token<'a>,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Self {
            input,
            next: lex_at(input, 0),
        }
    }

    fn peek(&self) -> Token<'a> {
        self.next
    }

    /// Takes the next token; at `End` it stays at `End`.
    fn bump(&mut self) -> Token<'a> {
        let token = self.next;
        if token.kind != Kind::End {
            self.next = lex_at(self.input, token.position + token.text.len());
        }
        token
    }

    fn selector(mut self) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        let first = self.peek();
        if first.kind == Kind::End {
            return Ok(Selector::everything());
        }
        if !first.starts_requirement() {
            return Err(first.unexpected("!, identifier, or 'end of string'"));
        }
        // Bound: each round consumes at least one token.
        loop {
            requirements.push(self.requirement()?);
            let after = self.bump();
            match after.kind {
                Kind::End => return Ok(Selector::from_requirements(requirements)),
                Kind::Comma => {
                    let next = self.peek();
                    if !next.starts_requirement() {
                        return Err(next.unexpected("identifier after ','"));
                    }
                }
                _ => return Err(after.unexpected("',' or 'end of string'")),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let mut token = self.bump();
        let negated = token.kind == Kind::Bang;
        if negated {
            token = self.bump();
        }
        if !token.is_word() {
            return Err(token.unexpected("identifier"));
        }
        let key = token.text;
        if let Err(reason) = syntax::validate_label_key(key) {
            return Err(SelectorError::InvalidKey {
                position: token.position,
                key: key.to_owned(),
                reason,
            });
        }
        let bare = |operator| {
            Ok(Requirement {
                key: key.to_owned(),
                operator,
                values: BTreeSet::new(),
            })
        };
        if negated {
            return bare(Operator::DoesNotExist);
        }
        if matches!(self.peek().kind, Kind::End | Kind::Comma) {
            return bare(Operator::Exists);
        }
        let operator_token = self.bump();
        let operator = match operator_token.kind {
            Kind::In => Operator::In,
            Kind::NotIn => Operator::NotIn,
            Kind::Equals | Kind::DoubleEquals => Operator::Equals,
            Kind::NotEquals => Operator::NotEquals,
            Kind::Greater => Operator::Gt,
            Kind::Less => Operator::Lt,
            _ => return Err(operator_token.unexpected("in, notin, =, ==, !=, gt, lt")),
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set(key)?,
            _ => self.exact_value(key, operator)?,
        };
        Ok(Requirement {
            key: key.to_owned(),
            operator,
            values,
        })
    }

    /// `"(" [VALUE] ("," [VALUE])* ")"`; an empty slot is the empty value, so `()` is `{""}`.
    /// (Upstream rejects `(a,,)` by a quirk of its list loop; this grammar accepts it.)
    fn value_set(&mut self, key: &str) -> Result<BTreeSet<String>, SelectorError> {
        let open = self.bump();
        // upstream prints "found 'x' expected: '('" (no comma); the comma is kept uniform here.
        if open.kind != Kind::OpenParen {
            return Err(open.unexpected("'('"));
        }
        let mut values = BTreeSet::new();
        let mut slot_open = true;
        // Bound: each round consumes one token, and `End` returns an error.
        loop {
            let token = self.bump();
            if token.is_word() && slot_open {
                check_value(key, token.text, token.position)?;
                values.insert(token.text.to_owned());
                slot_open = false;
                continue;
            }
            match token.kind {
                Kind::Comma => {
                    if slot_open {
                        values.insert(String::new());
                    }
                    slot_open = true;
                }
                Kind::CloseParen => {
                    if slot_open {
                        values.insert(String::new());
                    }
                    return Ok(values);
                }
                _ if slot_open => return Err(token.unexpected("',', ')' or identifier")),
                _ => return Err(token.unexpected("',' or ')'")),
            }
        }
    }

    /// The one value after `=`, `==`, `!=`, `>` or `<`; missing means the empty value.
    fn exact_value(
        &mut self,
        key: &str,
        operator: Operator,
    ) -> Result<BTreeSet<String>, SelectorError> {
        let next = self.peek();
        let (value, position) = if matches!(next.kind, Kind::End | Kind::Comma) {
            ("", next.position)
        } else {
            let token = self.bump();
            if !token.is_word() {
                return Err(token.unexpected("identifier"));
            }
            (token.text, token.position)
        };
        check_value(key, value, position)?;
        if matches!(operator, Operator::Gt | Operator::Lt) && value.parse::<i64>().is_err() {
            return Err(SelectorError::InvalidValue {
                position,
                key: key.to_owned(),
                value: value.to_owned(),
                reason: GT_LT_NEEDS_INTEGER.to_owned(),
            });
        }
        Ok(BTreeSet::from([value.to_owned()]))
    }
}

fn check_value(key: &str, value: &str, position: usize) -> Result<(), SelectorError> {
    syntax::validate_label_value(value).map_err(|reason| SelectorError::InvalidValue {
        position,
        key: key.to_owned(),
        value: value.to_owned(),
        reason,
    })
}

// ---------------------------------------------------------------------------------------------
// Field selectors.
// ---------------------------------------------------------------------------------------------

/// The operator of a [`FieldRequirement`]; `==` is normalised to `=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldOperator {
    /// `field=value` (or `==`): the field's value equals `value`.
    Equals,
    /// `field!=value`: the field's value differs from `value`.
    NotEquals,
}

impl FieldOperator {
    /// `=` or `!=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "=",
            Self::NotEquals => "!=",
        }
    }
}

/// One term of a [`FieldSelector`] (upstream `fields.Requirement`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldRequirement {
    field: String,
    operator: FieldOperator,
    value: String,
}

impl FieldRequirement {
    /// Builds a term. The field name must print back unambiguously, so it may not contain
    /// `=`, `,` or `\` nor end with `!`; the value may be anything (it is escaped on print).
    pub fn new(
        field: impl Into<String>,
        operator: FieldOperator,
        value: impl Into<String>,
    ) -> Result<Self, FieldSelectorError> {
        let field = field.into();
        if field.contains(['=', ',', '\\']) || field.ends_with('!') {
            return Err(FieldSelectorError::InvalidField { field });
        }
        Ok(Self {
            field,
            operator,
            value: value.into(),
        })
    }

    /// The field path, e.g. `spec.nodeName`.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The operator.
    pub fn operator(&self) -> FieldOperator {
        self.operator
    }

    /// The value, unescaped.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.field, self.operator.as_str())?;
        // upstream fields.EscapeValue: `\` → `\\`, `,` → `\,`, `=` → `\=`.
        for c in self.value.chars() {
            if matches!(c, '\\' | ',' | '=') {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// A field selector (upstream `fields.Selector`): every term must hold.
///
/// Fields are looked up through a function so the store can evaluate any kind; which fields a
/// kind supports is the store's to check (upstream rejects others with
/// `field label not supported`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldSelector {
    /// Sorted, so equal selectors print equally.
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Matches everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector requiring all of `requirements`.
    pub fn from_requirements(requirements: impl IntoIterator<Item = FieldRequirement>) -> Self {
        let mut requirements: Vec<FieldRequirement> = requirements.into_iter().collect();
        requirements.sort();
        Self { requirements }
    }

    /// Parses `field=value,field!=value,field==value` as upstream `fields.ParseSelector` does:
    /// terms split on unescaped `,`, empty terms skipped, the field is everything before the
    /// first `!=`, `==` or `=` (taken verbatim, whitespace included), and the value is
    /// unescaped (`\\`, `\,`, `\=`). The empty string matches everything. Never panics.
    ///
    /// # Errors
    ///
    /// A term without an operator, a bad escape, or an unescaped `=` in a value, with the byte
    /// position.
    pub fn parse(input: &str) -> Result<Self, FieldSelectorError> {
        let mut requirements = Vec::new();
        for (start, term) in Terms::new(input) {
            if term.is_empty() {
                continue;
            }
            let Some((at, operator, width)) = find_field_operator(term) else {
                return Err(FieldSelectorError::NoOperator {
                    position: start,
                    term: term.to_owned(),
                });
            };
            let value = unescape_field_value(&term[at + width..], start + at + width)?;
            requirements.push(FieldRequirement {
                field: term[..at].to_owned(),
                operator,
                value,
            });
        }
        Ok(Self::from_requirements(requirements))
    }

    /// True if there are no terms (the selector matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The terms, sorted.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether every term holds, reading field values through `field_value`. A field it
    /// returns `None` for counts as `""`, as upstream `fields.Set.Get` does (so
    /// `spec.nodeName=` selects unscheduled pods).
    pub fn matches(&self, field_value: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|term| {
            let actual = field_value(&term.field).unwrap_or_default();
            match term.operator {
                FieldOperator::Equals => actual == term.value,
                FieldOperator::NotEquals => actual != term.value,
            }
        })
    }

    /// The value `field` must equal, if a `=` term pins it (upstream `RequiresExactMatch`);
    /// lets the store use an index, e.g. for `metadata.name`.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|term| term.field == field && term.operator == FieldOperator::Equals)
            .map(|term| term.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    /// Terms in sorted order, joined by `,`, values escaped; parses back to an equal selector.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{term}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = FieldSelectorError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

/// Why a field selector string or term was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldSelectorError {
    /// A term has no `=`, `==` or `!=` (upstream `can't understand`).
    #[error(
        "at byte {position}: invalid field selector: can't understand '{term}', expected: \
         <field>=<value>, <field>==<value> or <field>!=<value>"
    )]
    NoOperator {
        /// Byte offset of the term.
        position: usize,
        /// The term as written.
        term: String,
    },
    /// A `\` not followed by `\`, `,` or `=` (upstream `InvalidEscapeSequence`).
    #[error("at byte {position}: invalid field selector: invalid escape sequence: {sequence}")]
    InvalidEscape {
        /// Byte offset of the `\`.
        position: usize,
        /// The backslash and the character after it, if any.
        sequence: String,
    },
    /// An `=` in a value that is not escaped (upstream `UnescapedRune`, which prints the code
    /// point as a number; the character is printed here).
    #[error(
        "at byte {position}: invalid field selector: unescaped character in value: {character}"
    )]
    UnescapedCharacter {
        /// Byte offset of the character.
        position: usize,
        /// The character.
        character: char,
    },
    /// A field name given to [`FieldRequirement::new`] that would not print back.
    #[error(
        "invalid field selector: field {field:?} must not contain '=', ',' or '\\', nor end with '!'"
    )]
    InvalidField {
        /// The field name.
        field: String,
    },
}

/// The terms of a field selector: split on `,` not escaped by `\` (upstream `splitTerms`),
/// each with its byte offset; none for the empty string. Lazy, so no memory in proportion to
/// the number of terms.
struct Terms<'a> {
    input: &'a str,
    /// Where the next term starts; `None` once the last term was returned.
    start: Option<usize>,
}

impl<'a> Terms<'a> {
    fn new(input: &'a str) -> Self {
        Self {
            input,
            start: (!input.is_empty()).then_some(0),
        }
    }
}

impl<'a> Iterator for Terms<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.start?;
        let mut escaped = false;
        for (offset, byte) in self.input.bytes().skip(start).enumerate() {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b',' {
                let end = start + offset;
                self.start = Some(end + 1);
                return Some((start, &self.input[start..end]));
            }
        }
        self.start = None;
        Some((start, &self.input[start..]))
    }
}

/// The first `!=`, `==` or `=` in `term`, checked in that order at each byte (upstream
/// `splitTerm`), as (offset, operator, width).
fn find_field_operator(term: &str) -> Option<(usize, FieldOperator, usize)> {
    let bytes = term.as_bytes();
    (0..bytes.len()).find_map(|at| match (bytes[at], bytes.get(at + 1)) {
        (b'!', Some(b'=')) => Some((at, FieldOperator::NotEquals, 2)),
        (b'=', Some(b'=')) => Some((at, FieldOperator::Equals, 2)),
        (b'=', _) => Some((at, FieldOperator::Equals, 1)),
        _ => None,
    })
}

/// Upstream `fields.UnescapeValue`; `base` is the value's byte offset in the whole input.
fn unescape_field_value(raw: &str, base: usize) -> Result<String, FieldSelectorError> {
    let mut value = String::with_capacity(raw.len());
    let mut escape_at = None;
    for (at, c) in raw.char_indices() {
        if let Some(slash) = escape_at.take() {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(FieldSelectorError::InvalidEscape {
                    position: base + slash,
                    sequence: format!("\\{c}"),
                });
            }
            value.push(c);
        } else if c == '\\' {
            escape_at = Some(at);
        } else if matches!(c, ',' | '=') {
            return Err(FieldSelectorError::UnescapedCharacter {
                position: base + at,
                character: c,
            });
        } else {
            value.push(c);
        }
    }
    if let Some(slash) = escape_at {
        return Err(FieldSelectorError::InvalidEscape {
            position: base + slash,
            sequence: "\\".to_owned(),
        });
    }
    Ok(value)
}

// ---------------------------------------------------------------------------------------------
// Fuzz body.
// ---------------------------------------------------------------------------------------------

/// Fuzz-target body: parses `input` as a label selector and as a field selector; whatever
/// parses must print to a canonical form that parses back to an equal selector.
///
/// # Panics
///
/// Only if that round trip fails (a bug here), never because of the input.
pub fn fuzz_selector_parse(input: &str) {
    if let Ok(selector) = Selector::parse(input) {
        let printed = selector.to_string();
        assert_eq!(
            Selector::parse(&printed).as_ref(),
            Ok(&selector),
            "label selector {input:?} printed as {printed:?} does not parse back"
        );
    }
    if let Ok(selector) = FieldSelector::parse(input) {
        let printed = selector.to_string();
        assert_eq!(
            FieldSelector::parse(&printed).as_ref(),
            Ok(&selector),
            "field selector {input:?} printed as {printed:?} does not parse back"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Name syntax.
// ---------------------------------------------------------------------------------------------

/// Label key/value and DNS name syntax, with upstream's messages (k8s.io/apimachinery
/// `pkg/util/validation`: `IsQualifiedName`, `IsValidLabelValue`, `IsDNS1123Label`,
/// `IsDNS1123Subdomain`). Several problems are joined by `; ` (as upstream
/// `labels.validateLabelKey` joins them). Lengths are in bytes, as upstream's `len`; the
/// message says "characters" as released upstream does (the newer `validate/content` package
/// says "bytes").
pub mod syntax {
    /// Longest label value, and longest name part of a label key (upstream
    /// `LabelValueMaxLength`, `qualifiedNameMaxLength`).
    pub const LABEL_NAME_BYTES_MAX: usize = 63;
    /// Longest RFC 1123 label (upstream `DNS1123LabelMaxLength`).
    pub const DNS1123_LABEL_BYTES_MAX: usize = 63;
    /// Longest RFC 1123 subdomain, also the longest label key prefix (upstream
    /// `DNS1123SubdomainMaxLength`).
    pub const DNS1123_SUBDOMAIN_BYTES_MAX: usize = 253;

    const LABEL_NAME_REGEX: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
    const LABEL_NAME_MESSAGE: &str = "must consist of alphanumeric characters, '-', '_' or '.', \
                                      and must start and end with an alphanumeric character";
    const LABEL_VALUE_REGEX: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
    const LABEL_VALUE_MESSAGE: &str = "a valid label must be an empty string or consist of \
                                       alphanumeric characters, '-', '_' or '.', and must start \
                                       and end with an alphanumeric character";
    const DNS1123_LABEL_REGEX: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
    const DNS1123_LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case \
                                         alphanumeric characters or '-', and must start and end \
                                         with an alphanumeric character";
    const DNS1123_SUBDOMAIN_REGEX: &str =
        "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
    const DNS1123_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower \
                                             case alphanumeric characters, '-' or '.', and must \
                                             start and end with an alphanumeric character";

    /// A label key: an optional DNS-1123 subdomain prefix (≤ 253 bytes) and `/`, then a name
    /// (≤ 63 bytes) of `[-A-Za-z0-9_.]` starting and ending alphanumeric.
    pub fn validate_label_key(key: &str) -> Result<(), String> {
        let mut errors = Vec::new();
        let mut parts = key.splitn(3, '/');
        let (first, second, third) = (parts.next(), parts.next(), parts.next());
        let name = match (first, second, third) {
            (Some(name), None, None) => name,
            (Some(prefix), Some(name), None) => {
                if prefix.is_empty() {
                    errors.push("prefix part must be non-empty".to_owned());
                } else {
                    let prefixed = dns1123_subdomain_errors(prefix).into_iter();
                    errors.extend(prefixed.map(|message| format!("prefix part {message}")));
                }
                name
            }
            _ => {
                return Err(format!(
                    "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. \
                     'example.com/MyName')",
                    regex_error(
                        LABEL_NAME_MESSAGE,
                        LABEL_NAME_REGEX,
                        &["MyName", "my.name", "123-abc"]
                    )
                ));
            }
        };
        if name.is_empty() {
            errors.push("name part must be non-empty".to_owned());
        } else if name.len() > LABEL_NAME_BYTES_MAX {
            errors.push(format!(
                "name part {}",
                max_length_error(LABEL_NAME_BYTES_MAX)
            ));
        }
        if !is_label_name(name) {
            errors.push(format!(
                "name part {}",
                regex_error(
                    LABEL_NAME_MESSAGE,
                    LABEL_NAME_REGEX,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
        }
        joined(&errors)
    }

    /// A label value: empty, or ≤ 63 bytes of `[-A-Za-z0-9_.]` starting and ending
    /// alphanumeric.
    pub fn validate_label_value(value: &str) -> Result<(), String> {
        let mut errors = Vec::new();
        if value.len() > LABEL_NAME_BYTES_MAX {
            errors.push(max_length_error(LABEL_NAME_BYTES_MAX));
        }
        if !value.is_empty() && !is_label_name(value) {
            errors.push(regex_error(
                LABEL_VALUE_MESSAGE,
                LABEL_VALUE_REGEX,
                &["MyValue", "my_value", "12345"],
            ));
        }
        joined(&errors)
    }

    /// An RFC 1123 label (e.g. a namespace or service name): ≤ 63 bytes of `[-a-z0-9]`,
    /// starting and ending alphanumeric.
    pub fn validate_dns1123_label(value: &str) -> Result<(), String> {
        let mut errors = Vec::new();
        if value.len() > DNS1123_LABEL_BYTES_MAX {
            errors.push(max_length_error(DNS1123_LABEL_BYTES_MAX));
        }
        if !is_dns1123_label(value) {
            if is_dns1123_subdomain(value) {
                // upstream: a valid subdomain that is not a valid label must contain dots.
                errors.push("must not contain dots".to_owned());
            } else {
                errors.push(regex_error(
                    DNS1123_LABEL_MESSAGE,
                    DNS1123_LABEL_REGEX,
                    &["my-name", "123-abc"],
                ));
            }
        }
        joined(&errors)
    }

    /// An RFC 1123 subdomain (most object names): ≤ 253 bytes of dot-separated RFC 1123 labels.
    pub fn validate_dns1123_subdomain(value: &str) -> Result<(), String> {
        joined(&dns1123_subdomain_errors(value))
    }

    fn dns1123_subdomain_errors(value: &str) -> Vec<String> {
        let mut errors = Vec::new();
        if value.len() > DNS1123_SUBDOMAIN_BYTES_MAX {
            errors.push(max_length_error(DNS1123_SUBDOMAIN_BYTES_MAX));
        }
        if !is_dns1123_subdomain(value) {
            errors.push(regex_error(
                DNS1123_SUBDOMAIN_MESSAGE,
                DNS1123_SUBDOMAIN_REGEX,
                &["example.com"],
            ));
        }
        errors
    }

    fn joined(errors: &[String]) -> Result<(), String> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// upstream `MaxLenError`.
    fn max_length_error(bytes_max: usize) -> String {
        format!("must be no more than {bytes_max} characters")
    }

    /// upstream `RegexError`: `msg (e.g. 'a',  or 'b', regex used for validation is 're')`
    /// (the doubled space is upstream's, from `', '` followed by `' or '`).
    pub(crate) fn regex_error(message: &str, regex: &str, examples: &[&str]) -> String {
        if examples.is_empty() {
            return format!("{message} (regex used for validation is '{regex}')");
        }
        let mut text = format!("{message} (e.g. ");
        for (i, example) in examples.iter().enumerate() {
            if i > 0 {
                text.push_str(" or ");
            }
            text.push('\'');
            text.push_str(example);
            text.push_str("', ");
        }
        text.push_str("regex used for validation is '");
        text.push_str(regex);
        text.push_str("')");
        text
    }

    /// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, fully anchored.
    fn is_label_name(name: &str) -> bool {
        let bytes = name.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                first.is_ascii_alphanumeric()
                    && last.is_ascii_alphanumeric()
                    && bytes
                        .iter()
                        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            }
            _ => false,
        }
    }

    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, fully anchored.
    fn is_dns1123_label(label: &str) -> bool {
        let lower_alphanumeric = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let bytes = label.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                lower_alphanumeric(first)
                    && lower_alphanumeric(last)
                    && bytes.iter().all(|b| lower_alphanumeric(b) || *b == b'-')
            }
            _ => false,
        }
    }

    /// RFC 1123 labels joined by `.`, fully anchored.
    fn is_dns1123_subdomain(value: &str) -> bool {
        value.split('.').all(is_dns1123_label)
    }
}
