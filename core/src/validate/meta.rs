//! Object metadata, labels, annotations and label selectors (apimachinery
//! `api/validation/objectmeta.go` and `apis/meta/v1/validation`, plus core's finalizer rule).

use std::collections::BTreeMap;

use crate::object::{ObjectMeta, OwnerReference};
use crate::selector::LabelSelector;

use super::format::{go_quote, go_string_slice};
use super::syntax::{self, IS_NEGATIVE, NameRule};
use super::{Errors, FieldError, Path};

/// Most bytes all annotation keys and values of one object may hold (upstream
/// `TotalAnnotationSizeLimitB`, 256 KiB).
pub(crate) const ANNOTATIONS_BYTES_MAX: usize = 256 * 1024;

/// Finalizers Kubernetes itself defines, allowed without a domain (upstream
/// `helper.IsStandardFinalizerName`).
const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

/// upstream `ValidateObjectMeta` (apimachinery) followed by core's per-finalizer
/// `validateKubeFinalizerName`: name (or generateName), namespace, generation, labels,
/// annotations, owner references, finalizers.
pub(crate) fn validate_object_meta(
    meta: &ObjectMeta,
    namespaced: bool,
    rule: NameRule,
    errs: &mut Errors,
) {
    let path = Path::root("metadata");
    let generate_name = meta.generate_name.as_deref().unwrap_or("");
    let name = meta.name.as_deref().unwrap_or("");
    // upstream ValidateObjectMetaAccessor: generateName is checked as a prefix.
    if !generate_name.is_empty() {
        for message in rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                &path.child("generateName"),
                go_quote(generate_name),
                message,
            ));
        }
    }
    if name.is_empty() {
        // upstream validates after the server generated the name from generateName; before
        // that, a generateName stands in for the name.
        if generate_name.is_empty() {
            errs.push(FieldError::required(
                &path.child("name"),
                "name or generateName is required",
            ));
        }
    } else {
        for message in rule.check(name, false) {
            errs.push(FieldError::invalid(
                &path.child("name"),
                go_quote(name),
                message,
            ));
        }
    }
    validate_namespace_field(
        meta.namespace.as_deref().unwrap_or(""),
        namespaced,
        &path,
        errs,
    );
    // upstream ValidateNonnegativeField(generation).
    if let Some(generation) = meta.generation.filter(|g| *g < 0) {
        errs.push(FieldError::invalid(
            &path.child("generation"),
            generation.to_string(),
            IS_NEGATIVE,
        ));
    }
    validate_labels(&meta.labels, &path.child("labels"), errs);
    validate_annotations(&meta.annotations, &path.child("annotations"), errs);
    validate_owner_references(&meta.owner_references, &path.child("ownerReferences"), errs);
    validate_finalizers(&meta.finalizers, &path.child("finalizers"), errs);
    // upstream core ValidateObjectMeta: validateKubeFinalizerName, per index.
    for (i, finalizer) in meta.finalizers.iter().enumerate() {
        validate_kube_finalizer_name(finalizer, &path.child("finalizers").index(i), errs);
    }
}

/// upstream `validateObjectMetaAccessorWithOptsCommon`: a namespaced object's namespace is a
/// DNS label (empty means the request's namespace, filled in before upstream validates); a
/// cluster-scoped object may not name one.
fn validate_namespace_field(namespace: &str, namespaced: bool, path: &Path, errs: &mut Errors) {
    if namespace.is_empty() {
        return;
    }
    if namespaced {
        for message in NameRule::Label.check(namespace, false) {
            errs.push(FieldError::invalid(
                &path.child("namespace"),
                go_quote(namespace),
                message,
            ));
        }
    } else {
        errs.push(FieldError::forbidden(
            &path.child("namespace"),
            "not allowed on this type",
        ));
    }
}

/// upstream metav1 `ValidateLabels`: every key a qualified name, every value a label value,
/// both reported at the map's path.
pub(crate) fn validate_labels(labels: &BTreeMap<String, String>, path: &Path, errs: &mut Errors) {
    for (key, value) in labels {
        validate_label_name(key, path, errs);
        for message in syntax::label_value(value) {
            errs.push(FieldError::invalid(path, go_quote(value), message));
        }
    }
}

/// upstream metav1 `ValidateLabelName`: a qualified name.
pub(crate) fn validate_label_name(name: &str, path: &Path, errs: &mut Errors) {
    for message in syntax::qualified_name(name) {
        errs.push(FieldError::invalid(path, go_quote(name), message));
    }
}

/// upstream apimachinery `ValidateAnnotations`: keys are qualified names (case-insensitively)
/// and keys plus values total at most 256 KiB.
pub(crate) fn validate_annotations(
    annotations: &BTreeMap<String, String>,
    path: &Path,
    errs: &mut Errors,
) {
    let mut total_bytes: usize = 0;
    for (key, value) in annotations {
        for message in syntax::qualified_name(&key.to_lowercase()) {
            errs.push(FieldError::invalid(path, go_quote(key), message));
        }
        total_bytes = total_bytes
            .saturating_add(key.len())
            .saturating_add(value.len());
    }
    if total_bytes > ANNOTATIONS_BYTES_MAX {
        errs.push(FieldError::too_long(path, ANNOTATIONS_BYTES_MAX));
    }
}

/// upstream `ValidateOwnerReferences`: apiVersion (with a version), kind, name and uid set,
/// Events never owners, at most one controller. Per-reference errors name the list's fields
/// without an index, as upstream does.
fn validate_owner_references(references: &[OwnerReference], path: &Path, errs: &mut Errors) {
    let mut first_controller: Option<String> = None;
    for reference in references {
        let (group, version) = group_version(&reference.api_version);
        if version.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("apiVersion"),
                go_quote(&reference.api_version),
                "version must not be empty",
            ));
        }
        for (field, value) in [
            ("kind", &reference.kind),
            ("name", &reference.name),
            ("uid", &reference.uid),
        ] {
            if value.is_empty() {
                errs.push(FieldError::invalid(
                    &path.child(field),
                    "\"\"",
                    "must not be empty",
                ));
            }
        }
        // upstream BannedOwners: core/v1 Event.
        if group.is_empty() && version == "v1" && reference.kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                owner_reference_string(reference),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if reference.controller == Some(true) {
            let current = format!("{}/{}", reference.kind, reference.name);
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    owner_references_go(references),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in \
                         references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
}

/// upstream `schema.FromAPIVersionAndKind`/`ParseGroupVersion`: `v1` → (``, `v1`),
/// `apps/v1` → (`apps`, `v1`); anything with more slashes parses as nothing.
fn group_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        None => ("", api_version),
        Some((_, rest)) if rest.contains('/') => ("", ""),
        Some((group, version)) => (group, version),
    }
}

/// A `metav1.OwnerReference` as its generated Go `String()` prints it.
fn owner_reference_string(reference: &OwnerReference) -> String {
    let pointer = |value: Option<bool>| value.map_or_else(|| "nil".to_owned(), |b| format!("*{b}"));
    format!(
        "&OwnerReference{{Kind:{},Name:{},UID:{},APIVersion:{},Controller:{},BlockOwnerDeletion:{},}}",
        reference.kind,
        reference.name,
        reference.uid,
        reference.api_version,
        pointer(reference.controller),
        pointer(reference.block_owner_deletion)
    )
}

/// A `[]metav1.OwnerReference` as Go's `%#v` prints it, except that a set `*bool` prints as
/// `&true` where Go prints its (run-dependent) address.
fn owner_references_go(references: &[OwnerReference]) -> String {
    let pointer =
        |value: Option<bool>| value.map_or_else(|| "(*bool)(nil)".to_owned(), |b| format!("&{b}"));
    let items: Vec<String> = references
        .iter()
        .map(|r| {
            format!(
                "v1.OwnerReference{{APIVersion:{}, Kind:{}, Name:{}, UID:{}, Controller:{}, \
                 BlockOwnerDeletion:{}}}",
                go_quote(&r.api_version),
                go_quote(&r.kind),
                go_quote(&r.name),
                go_quote(&r.uid),
                pointer(r.controller),
                pointer(r.block_owner_deletion)
            )
        })
        .collect();
    format!("[]v1.OwnerReference{{{}}}", items.join(", "))
}

/// upstream apimachinery `ValidateFinalizers`: qualified names (reported at the list's path),
/// and never both `orphan` and `foregroundDeletion`.
fn validate_finalizers(finalizers: &[String], path: &Path, errs: &mut Errors) {
    for finalizer in finalizers {
        validate_finalizer_name(finalizer, path, errs);
    }
    let has = |name: &str| finalizers.iter().any(|f| f == name);
    if has("orphan") && has("foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            go_string_slice(finalizers),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
}

/// upstream apimachinery `ValidateFinalizerName`: a qualified name.
pub(crate) fn validate_finalizer_name(finalizer: &str, path: &Path, errs: &mut Errors) {
    for message in syntax::qualified_name(finalizer) {
        errs.push(FieldError::invalid(path, go_quote(finalizer), message));
    }
}

/// upstream core `validateKubeFinalizerName`: a finalizer without a `/` must be one Kubernetes
/// defines.
pub(crate) fn validate_kube_finalizer_name(finalizer: &str, path: &Path, errs: &mut Errors) {
    if !finalizer.contains('/') && !STANDARD_FINALIZERS.contains(&finalizer) {
        errs.push(FieldError::invalid(
            path,
            go_quote(finalizer),
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
}

/// upstream metav1 `ValidateLabelSelector` (with `AllowInvalidLabelValueInSelector: false`):
/// matchLabels as labels; each expression's operator and value count, key, then values.
pub(crate) fn validate_label_selector(selector: &LabelSelector, path: &Path, errs: &mut Errors) {
    validate_labels(&selector.match_labels, &path.child("matchLabels"), errs);
    for (i, requirement) in selector.match_expressions.iter().enumerate() {
        let path = path.child("matchExpressions").index(i);
        let values = path.child("values");
        match requirement.operator.as_str() {
            "In" | "NotIn" => {
                if requirement.values.is_empty() {
                    errs.push(FieldError::required(
                        &values,
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !requirement.values.is_empty() {
                    errs.push(FieldError::forbidden(
                        &values,
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                &path.child("operator"),
                go_quote(other),
                "not a valid selector operator",
            )),
        }
        validate_label_name(&requirement.key, &path.child("key"), errs);
        for (j, value) in requirement.values.iter().enumerate() {
            for message in syntax::label_value(value) {
                errs.push(FieldError::invalid(
                    &values.index(j),
                    go_quote(value),
                    message,
                ));
            }
        }
    }
}
