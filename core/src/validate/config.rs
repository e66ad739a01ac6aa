//! Namespace, ConfigMap, Secret, ServiceAccount, Node and Event (upstream core validation) and
//! Lease (upstream `pkg/apis/coordination/validation`).

use std::collections::{BTreeMap, BTreeSet};

use crate::object::{ConfigMap, Event, Lease, Namespace, Node, Secret, ServiceAccount, Taint};

use super::container::validate_resource_quantity_value;
use super::format::{go_quote, go_string_slice};
use super::meta;
use super::scheduling::validate_taint_effect;
use super::syntax::{self, INVALID_CIDR, NameRule};
use super::{Errors, FieldError, Path};

/// Most bytes the values of one ConfigMap or Secret may hold (upstream `MaxSecretSize`, 1 MiB).
pub(crate) const DATA_BYTES_MAX: usize = 1024 * 1024;
/// Longest `reportingInstance`, `action` and `reason` of an Event (upstream
/// `ReportingInstanceLengthLimit`, `ActionLengthLimit`, `ReasonLengthLimit`).
const EVENT_FIELD_BYTES_MAX: usize = 128;
/// Longest Event message (upstream `NoteLengthLimit`).
const EVENT_MESSAGE_BYTES_MAX: usize = 1024;

/// upstream `ValidateNamespace`: a DNS-label name; spec finalizers are qualified names that,
/// without a domain, Kubernetes defines (reported at the list's path, as upstream does).
pub(crate) fn validate_namespace(namespace: &Namespace, errs: &mut Errors) {
    meta::validate_object_meta(&namespace.metadata, false, NameRule::Label, errs);
    let path = Path::root("spec").child("finalizers");
    for finalizer in &namespace.spec.finalizers {
        meta::validate_finalizer_name(finalizer, &path, errs);
        meta::validate_kube_finalizer_name(finalizer, &path, errs);
    }
}

/// upstream `ValidateConfigMap`: config keys in `data` and `binaryData`, no key in both, at
/// most 1 MiB of values (reported against the whole object, printed `[]`).
pub(crate) fn validate_config_map(config_map: &ConfigMap, errs: &mut Errors) {
    meta::validate_object_meta(&config_map.metadata, true, NameRule::Subdomain, errs);
    let mut total_bytes: usize = 0;
    let data = Path::root("data");
    for (key, value) in &config_map.data {
        for message in syntax::config_map_key(key) {
            errs.push(FieldError::invalid(&data.key(key), go_quote(key), message));
        }
        if config_map.binary_data.contains_key(key) {
            errs.push(FieldError::invalid(
                &data.key(key),
                go_quote(key),
                "duplicate of key present in binaryData",
            ));
        }
        total_bytes = total_bytes.saturating_add(value.len());
    }
    let binary_data = Path::root("binaryData");
    for (key, value) in &config_map.binary_data {
        for message in syntax::config_map_key(key) {
            errs.push(FieldError::invalid(
                &binary_data.key(key),
                go_quote(key),
                message,
            ));
        }
        total_bytes = total_bytes.saturating_add(value.0.len());
    }
    if total_bytes > DATA_BYTES_MAX {
        errs.push(FieldError::too_long(&Path::whole_object(), DATA_BYTES_MAX));
    }
}

/// Secret types Kubernetes defines (upstream `SecretType` constants).
const SECRET_TYPES: [&str; 8] = [
    "Opaque",
    "kubernetes.io/service-account-token",
    "kubernetes.io/dockercfg",
    "kubernetes.io/dockerconfigjson",
    "kubernetes.io/basic-auth",
    "kubernetes.io/ssh-auth",
    "kubernetes.io/tls",
    "bootstrap.kubernetes.io/token",
];

/// upstream `ValidateSecret`, on the data upstream's v1 conversion produces (`stringData`
/// merged into `data`, winning on conflicts): config keys, at most 1 MiB, and each known
/// type's required keys. upstream accepts any other type string; skiff requires it to be a
/// qualified name, as every defined type is.
pub(crate) fn validate_secret(secret: &Secret, errs: &mut Errors) {
    meta::validate_object_meta(&secret.metadata, true, NameRule::Subdomain, errs);
    let mut data: BTreeMap<&str, &[u8]> = secret
        .data
        .iter()
        .map(|(k, v)| (k.as_str(), v.0.as_slice()))
        .collect();
    for (key, value) in &secret.string_data {
        data.insert(key, value.as_bytes());
    }
    let data_path = Path::root("data");
    let mut total_bytes: usize = 0;
    for (key, value) in &data {
        for message in syntax::config_map_key(key) {
            errs.push(FieldError::invalid(
                &data_path.key(key),
                go_quote(key),
                message,
            ));
        }
        total_bytes = total_bytes.saturating_add(value.len());
    }
    if total_bytes > DATA_BYTES_MAX {
        errs.push(FieldError::too_long(&data_path, DATA_BYTES_MAX));
    }
    let kind = secret.type_.as_deref().unwrap_or("");
    let required = |key: &str, errs: &mut Errors| {
        errs.push(FieldError::required(&data_path.key(key), ""));
    };
    match kind {
        "" | "Opaque" => {}
        "kubernetes.io/service-account-token" => {
            const ACCOUNT_NAME: &str = "kubernetes.io/service-account.name";
            if secret
                .metadata
                .annotations
                .get(ACCOUNT_NAME)
                .is_none_or(String::is_empty)
            {
                errs.push(FieldError::required(
                    &Path::root("metadata")
                        .child("annotations")
                        .key(ACCOUNT_NAME),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let key = if kind == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            match data.get(key) {
                None => required(key, errs),
                Some(bytes) => {
                    if let Err(error) =
                        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes)
                    {
                        errs.push(FieldError::invalid(
                            &data_path.key(key),
                            go_quote("<secret contents redacted>"),
                            error.to_string(),
                        ));
                    }
                }
            }
        }
        "kubernetes.io/basic-auth" => {
            if !data.contains_key("username") && !data.contains_key("password") {
                required("username", errs);
                required("password", errs);
            }
        }
        "kubernetes.io/ssh-auth" => {
            if data.get("ssh-privatekey").is_none_or(|v| v.is_empty()) {
                required("ssh-privatekey", errs);
            }
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !data.contains_key(key) {
                    required(key, errs);
                }
            }
        }
        other => {
            if !SECRET_TYPES.contains(&other) {
                meta::validate_label_name(other, &Path::root("type"), errs);
            }
        }
    }
}

/// upstream `ValidateServiceAccount`: metadata only.
pub(crate) fn validate_service_account(account: &ServiceAccount, errs: &mut Errors) {
    meta::validate_object_meta(&account.metadata, true, NameRule::Subdomain, errs);
}

/// upstream `ValidateNode`: metadata, taints, status quantities, pod CIDRs. upstream reports
/// taint errors at `metadata.taints` (its path is built from the metadata path); skiff reports
/// them where they are written, `spec.taints`.
pub(crate) fn validate_node(node: &Node, errs: &mut Errors) {
    meta::validate_object_meta(&node.metadata, false, NameRule::Subdomain, errs);
    validate_taints(&node.spec.taints, &Path::root("spec").child("taints"), errs);
    // upstream ValidateNodeResources: `status.capacity.<name>` (a child, not a key).
    let status = Path::root("status");
    for (field, list) in [
        ("capacity", &node.status.capacity),
        ("allocatable", &node.status.allocatable),
    ] {
        for (name, quantity) in list {
            validate_resource_quantity_value(
                name,
                quantity,
                &status.child(field).child(name),
                errs,
            );
        }
    }
    let cidrs = &node.spec.pod_cidrs;
    let cidrs_path = Path::root("spec").child("podCIDRs");
    for (i, cidr) in cidrs.iter().enumerate() {
        if !syntax::is_valid_cidr(cidr) {
            errs.push(FieldError::invalid(
                &cidrs_path.index(i),
                go_quote(cidr),
                INVALID_CIDR,
            ));
        }
    }
    if cidrs.len() > 1 {
        let families: Vec<bool> = cidrs.iter().map(|c| c.contains(':')).collect();
        let dual_stack = families.iter().any(|v6| *v6) && families.iter().any(|v6| !*v6);
        if !dual_stack || cidrs.len() > 2 {
            errs.push(FieldError::invalid(
                &cidrs_path,
                go_string_slice(cidrs),
                "may specify no more than one CIDR for each IP family",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, cidr) in cidrs.iter().enumerate() {
            if !seen.insert(cidr) {
                errs.push(FieldError::duplicate(&cidrs_path.index(i), go_quote(cidr)));
            }
        }
    }
}

/// upstream `validateNodeTaints`: key a qualified name, value a label value, effect required
/// and known, and each (key, effect) pair once.
fn validate_taints(taints: &[Taint], path: &Path, errs: &mut Errors) {
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (i, taint) in taints.iter().enumerate() {
        let item = path.index(i);
        meta::validate_label_name(&taint.key, &item.child("key"), errs);
        let value = taint.value.as_deref().unwrap_or("");
        let messages = syntax::label_value(value);
        if !messages.is_empty() {
            errs.push(FieldError::invalid(
                &item.child("value"),
                go_quote(value),
                messages.join(";"),
            ));
        }
        if taint.effect.is_empty() {
            errs.push(FieldError::required(&item.child("effect"), ""));
        } else {
            validate_taint_effect(&taint.effect, &item.child("effect"), errs);
        }
        if !seen.insert((taint.effect.as_str(), taint.key.as_str())) {
            // upstream prints the taint as a Go core.Taint struct.
            let time_added = taint.time_added.map_or_else(
                || "(*v1.Time)(nil)".to_owned(),
                |t| format!("&v1.Time{{{t}}}"),
            );
            let mut error = FieldError::duplicate(
                &item,
                format!(
                    "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:{time_added}}}",
                    go_quote(&taint.key),
                    go_quote(value),
                    go_quote(&taint.effect)
                ),
            );
            "taints must be unique by key and effect pair".clone_into(&mut error.detail);
            errs.push(error);
        }
    }
}

/// upstream `legacyValidateEvent` (what v1 Events get). skiff also checks the metadata as for
/// every kind (upstream skips it for v1 Events), and names `reportingComponent` as written in
/// manifests where upstream says `reportingController`.
pub(crate) fn validate_event(event: &Event, errs: &mut Errors) {
    meta::validate_object_meta(&event.metadata, true, NameRule::Subdomain, errs);
    legacy_validate_event(event, "reportingComponent", errs);
}

/// upstream `ValidateEventCreate` for a request in `events.k8s.io/v1`: the legacy rules (the
/// controller named `reportingController`, as that API spells it), the metadata, then the
/// strict rules of the new API: `eventTime` set, `type` `Normal` or `Warning`, a series of at
/// least 2 with its last observed time, and none of the deprecated fields (named by their
/// core/v1 paths, as upstream's internal object names them).
pub(crate) fn validate_event_v1_create(event: &Event, errs: &mut Errors) {
    legacy_validate_event(event, "reportingController", errs);
    meta::validate_object_meta(&event.metadata, true, NameRule::Subdomain, errs);
    // upstream validateV1EventSeries.
    if let Some(series) = &event.series {
        if series.count.unwrap_or(0) < 2 {
            errs.push(FieldError::invalid(
                &Path::root("series").child("count"),
                "\"\"",
                "should be at least 2",
            ));
        }
        if series.last_observed_time.is_none() {
            errs.push(FieldError::required(
                &Path::root("series").child("lastObservedTime"),
                "",
            ));
        }
    }
    if event.event_time.is_none() {
        errs.push(FieldError::required(&Path::root("eventTime"), ""));
    }
    let type_ = event.type_.as_deref().unwrap_or("");
    if type_ != "Normal" && type_ != "Warning" {
        errs.push(FieldError::invalid(
            &Path::root("type"),
            "\"\"",
            format!("has invalid value: {type_}"),
        ));
    }
    for (field, set) in [
        ("firstTimestamp", event.first_timestamp.is_some()),
        ("lastTimestamp", event.last_timestamp.is_some()),
        ("count", event.count.is_some_and(|c| c != 0)),
        (
            "source",
            event
                .source
                .component
                .as_deref()
                .is_some_and(|c| !c.is_empty())
                || event.source.host.as_deref().is_some_and(|h| !h.is_empty()),
        ),
    ] {
        if set {
            errs.push(FieldError::invalid(
                &Path::root(field),
                "\"\"",
                "needs to be unset",
            ));
        }
    }
}

/// upstream `legacyValidateEvent`, the controller field named `controller_field`.
fn legacy_validate_event(event: &Event, controller_field: &str, errs: &mut Errors) {
    let namespace = event.metadata.namespace.as_deref();
    let involved = event.involved_object.namespace.as_deref().unwrap_or("");
    let mismatch = |errs: &mut Errors| {
        errs.push(FieldError::invalid(
            &Path::root("involvedObject").child("namespace"),
            go_quote(involved),
            "does not match event.namespace",
        ));
    };
    if event.event_time.is_none() {
        // An unset event namespace is the request's, unknown here.
        match namespace {
            Some(ns) if involved.is_empty() && !ns.is_empty() && ns != "default" => mismatch(errs),
            Some(ns) if !involved.is_empty() && ns != involved => mismatch(errs),
            _ => {}
        }
        return;
    }
    if involved.is_empty() && !matches!(namespace, None | Some("" | "default" | "kube-system")) {
        mismatch(errs);
    }
    let controller = event.reporting_component.as_deref().unwrap_or("");
    let controller_path = Path::root(controller_field);
    if controller.is_empty() {
        errs.push(FieldError::required(&controller_path, ""));
    }
    meta::validate_label_name(controller, &controller_path, errs);
    for (field, value, bytes_max) in [
        (
            "reportingInstance",
            event.reporting_instance.as_deref(),
            EVENT_FIELD_BYTES_MAX,
        ),
        ("action", event.action.as_deref(), EVENT_FIELD_BYTES_MAX),
        ("reason", event.reason.as_deref(), EVENT_FIELD_BYTES_MAX),
        ("message", event.message.as_deref(), EVENT_MESSAGE_BYTES_MAX),
    ] {
        let value = value.unwrap_or("");
        if value.is_empty() && field != "message" {
            errs.push(FieldError::required(&Path::root(field), ""));
        }
        if value.len() > bytes_max {
            errs.push(FieldError::invalid(
                &Path::root(field),
                "\"\"",
                format!("can have at most {bytes_max} characters"),
            ));
        }
    }
}

/// upstream coordination `ValidateLease`: a positive duration, non-negative transitions, a
/// known or qualified strategy, and a preferred holder only with a strategy. (upstream reports
/// a bad strategy at `spec.strategy.strategy`, doubling the field; skiff at `spec.strategy`.)
pub(crate) fn validate_lease(lease: &Lease, errs: &mut Errors) {
    meta::validate_object_meta(&lease.metadata, true, NameRule::Subdomain, errs);
    let spec = Path::root("spec");
    if let Some(seconds) = lease.spec.lease_duration_seconds.filter(|s| *s <= 0) {
        errs.push(FieldError::invalid(
            &spec.child("leaseDurationSeconds"),
            seconds.to_string(),
            "must be greater than 0",
        ));
    }
    if let Some(transitions) = lease.spec.lease_transitions.filter(|t| *t < 0) {
        errs.push(FieldError::invalid(
            &spec.child("leaseTransitions"),
            transitions.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    let strategy = lease.spec.strategy.as_deref();
    if let Some(strategy) = strategy {
        let path = spec.child("strategy");
        if strategy.contains('/') {
            meta::validate_label_name(strategy, &path, errs);
        } else if strategy != "OldestEmulationVersion" {
            errs.push(FieldError::not_supported(
                &path,
                go_quote(strategy),
                &["OldestEmulationVersion"],
            ));
        }
    }
    let preferred = lease.spec.preferred_holder.as_deref().unwrap_or("");
    if !preferred.is_empty() && strategy.is_none_or(str::is_empty) {
        errs.push(FieldError::forbidden(
            &spec.child("preferredHolder"),
            "may only be specified if `strategy` is defined",
        ));
    }
}
