//! Pods and pod templates (upstream core `ValidatePodCreate`, `ValidatePodTemplateSpec`,
//! `ValidatePodSpec`) and pod volumes (`ValidateVolumes`).

use std::collections::BTreeSet;

use crate::object::{KeyToPath, Pod, PodSpec, PodTemplateSpec, Value, Volume};
use crate::quantity::Quantity;

use super::container::{validate_containers, validate_init_containers};
use super::format::go_quote;
use super::meta;
use super::scheduling::{validate_affinity, validate_tolerations};
use super::syntax::{self, FILE_MODE, IS_NEGATIVE, NameRule};
use super::{Errors, FieldError, Path};

/// Largest `activeDeadlineSeconds` (upstream `math.MaxInt32`).
const ACTIVE_DEADLINE_SECONDS_MAX: i64 = 2_147_483_647;

/// upstream `ValidatePodCreate`: metadata, spec, the pod-only container checks, and no
/// ephemeral containers on create.
pub(crate) fn validate_pod(pod: &Pod, errs: &mut Errors) {
    meta::validate_object_meta(&pod.metadata, true, NameRule::Subdomain, errs);
    let spec_path = Path::root("spec");
    validate_pod_spec(&pod.spec, &spec_path, errs);
    // upstream validateContainersOnlyForPod, for containers then init containers.
    for (list, field) in [
        (&pod.spec.containers, "containers"),
        (&pod.spec.init_containers, "initContainers"),
    ] {
        for (i, container) in list.iter().enumerate() {
            let image = container.image.as_deref().unwrap_or("");
            if image.len() != image.trim().len() {
                errs.push(FieldError::invalid(
                    &spec_path.child(field).index(i).child("image"),
                    go_quote(image),
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    if has_items(pod.spec.ephemeral_containers.as_ref()) {
        errs.push(FieldError::forbidden(
            &spec_path.child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }
}

/// upstream `ValidatePodTemplateSpec`: template labels and annotations (reported at
/// `<template>.labels`, as upstream does), the pod spec, and no ephemeral containers.
pub(crate) fn validate_pod_template_spec(
    template: &PodTemplateSpec,
    path: &Path,
    errs: &mut Errors,
) {
    meta::validate_labels(&template.metadata.labels, &path.child("labels"), errs);
    meta::validate_annotations(
        &template.metadata.annotations,
        &path.child("annotations"),
        errs,
    );
    validate_pod_spec(&template.spec, &path.child("spec"), errs);
    if has_items(template.spec.ephemeral_containers.as_ref()) {
        errs.push(FieldError::forbidden(
            &path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

/// The restart policy a pod spec runs with: `Always` when unset (upstream defaulting).
pub(crate) fn effective_restart_policy(spec: &PodSpec) -> &str {
    match spec.restart_policy.as_deref() {
        None | Some("") => "Always",
        Some(policy) => policy,
    }
}

/// Whether an opaque list field holds at least one item.
fn has_items(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Seq(items)) => !items.is_empty(),
        Some(_) => true,
    }
}

/// upstream `ValidatePodSpec`, in its order.
fn validate_pod_spec(spec: &PodSpec, path: &Path, errs: &mut Errors) {
    // upstream requires terminationGracePeriodSeconds after defaulting (30) and clamps a
    // negative one to 1 in the pod strategy; skiff rejects a negative value instead.
    if let Some(seconds) = spec.termination_grace_period_seconds.filter(|s| *s < 0) {
        errs.push(FieldError::invalid(
            &path.child("terminationGracePeriodSeconds"),
            seconds.to_string(),
            IS_NEGATIVE,
        ));
    }
    let volumes = validate_volumes(&spec.volumes, &path.child("volumes"), errs);
    validate_containers(&spec.containers, &volumes, &path.child("containers"), errs);
    validate_init_containers(spec, &volumes, &path.child("initContainers"), errs);
    validate_host_network_ports(spec, path, errs);
    validate_enum_or_default(
        spec.restart_policy.as_deref(),
        &["Always", "OnFailure", "Never"],
        &path.child("restartPolicy"),
        errs,
    );
    validate_enum_or_default(
        spec.dns_policy.as_deref(),
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        &path.child("dnsPolicy"),
        errs,
    );
    meta::validate_labels(&spec.node_selector, &path.child("nodeSelector"), errs);
    if let Some(affinity) = &spec.affinity {
        validate_affinity(affinity, &path.child("affinity"), errs);
    }
    // upstream validatePodDNSConfig: dnsPolicy None needs a dnsConfig.
    if spec.dns_policy.as_deref() == Some("None")
        && matches!(spec.dns_config, None | Some(Value::Null))
    {
        errs.push(FieldError::required(
            &path.child("dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        ));
    }
    validate_spec_names(spec, path, errs);
    if let Some(seconds) = spec.active_deadline_seconds
        && !(1..=ACTIVE_DEADLINE_SECONDS_MAX).contains(&seconds)
    {
        errs.push(FieldError::invalid(
            &path.child("activeDeadlineSeconds"),
            seconds.to_string(),
            syntax::inclusive_range(1, ACTIVE_DEADLINE_SECONDS_MAX),
        ));
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            for message in syntax::dns1123_label(value) {
                errs.push(FieldError::invalid(
                    &path.child(field),
                    go_quote(value),
                    message,
                ));
            }
        }
    }
    validate_tolerations(&spec.tolerations, &path.child("tolerations"), errs);
    if let Some(class) = spec
        .priority_class_name
        .as_deref()
        .filter(|c| !c.is_empty())
    {
        for message in syntax::dns1123_subdomain(class) {
            errs.push(FieldError::invalid(
                &path.child("priorityClassName"),
                go_quote(class),
                message,
            ));
        }
    }
    if let Some(class) = spec.runtime_class_name.as_deref() {
        for message in syntax::dns1123_subdomain(class) {
            errs.push(FieldError::invalid(
                &path.child("runtimeClassName"),
                go_quote(class),
                message,
            ));
        }
    }
    // upstream ValidatePreemptionPolicy (an empty value is filled in by admission).
    validate_enum_or_default(
        spec.preemption_policy.as_deref(),
        &["PreemptLowerPriority", "Never"],
        &path.child("preemptionPolicy"),
        errs,
    );
}

/// An enumerated field: unset or empty takes upstream's default (valid); anything else must be
/// one of `supported`.
pub(super) fn validate_enum_or_default(
    value: Option<&str>,
    supported: &[&str],
    path: &Path,
    errs: &mut Errors,
) {
    if let Some(value) = value.filter(|v| !v.is_empty() && !supported.contains(v)) {
        errs.push(FieldError::not_supported(path, go_quote(value), supported));
    }
}

/// upstream `ValidatePodSpec`: serviceAccountName and nodeName are DNS subdomains.
fn validate_spec_names(spec: &PodSpec, path: &Path, errs: &mut Errors) {
    for (field, value) in [
        ("serviceAccountName", &spec.service_account_name),
        ("nodeName", &spec.node_name),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            for message in syntax::dns1123_subdomain(value) {
                errs.push(FieldError::invalid(
                    &path.child(field),
                    go_quote(value),
                    message,
                ));
            }
        }
    }
}

/// upstream `validatePodHostNetworkDeps`: with `hostNetwork`, a container's `hostPort` equals
/// its `containerPort` (an unset one is defaulted to it).
fn validate_host_network_ports(spec: &PodSpec, path: &Path, errs: &mut Errors) {
    if spec.host_network != Some(true) {
        return;
    }
    for (i, container) in spec.containers.iter().enumerate() {
        for (j, port) in container.ports.iter().enumerate() {
            if let Some(host_port) = port
                .host_port
                .filter(|p| *p != 0 && *p != port.container_port)
            {
                errs.push(FieldError::invalid(
                    &path
                        .child("containers")
                        .index(i)
                        .child("ports")
                        .index(j)
                        .child("hostPort"),
                    host_port.to_string(),
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------------------------------

/// upstream `ValidateVolumes`: each volume's source, then its name (required, DNS label,
/// unique). Only volumes without errors can be mounted (they are the returned names).
fn validate_volumes(volumes: &[Volume], path: &Path, errs: &mut Errors) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, volume) in volumes.iter().enumerate() {
        let path = path.index(i);
        let name_path = path.child("name");
        let mut volume_errs = Errors::new();
        validate_volume_source(volume, &path, &mut volume_errs);
        if volume.name.is_empty() {
            volume_errs.push(FieldError::required(&name_path, ""));
        } else {
            for message in syntax::dns1123_label(&volume.name) {
                volume_errs.push(FieldError::invalid(
                    &name_path,
                    go_quote(&volume.name),
                    message,
                ));
            }
        }
        if names.contains(&volume.name) {
            volume_errs.push(FieldError::duplicate(&name_path, go_quote(&volume.name)));
        }
        if volume_errs.is_empty() {
            names.insert(volume.name.clone());
        } else {
            errs.append(&mut volume_errs);
        }
    }
    names
}

/// upstream `validateVolumeSource`: at most one source (a second is Forbidden), and the typed
/// sources' own rules. No source at all is an emptyDir (upstream defaulting).
fn validate_volume_source(volume: &Volume, path: &Path, errs: &mut Errors) {
    let present = |value: Option<&Value>| !matches!(value, None | Some(Value::Null));
    // upstream's order; it names two of these fields `cephFS` and `downwarAPI` in the
    // Forbidden error (typos), skiff names them as written in manifests.
    let sources: [(&str, bool); 30] = [
        ("emptyDir", volume.empty_dir.is_some()),
        ("hostPath", volume.host_path.is_some()),
        ("gitRepo", present(volume.git_repo.as_ref())),
        (
            "gcePersistentDisk",
            present(volume.gce_persistent_disk.as_ref()),
        ),
        (
            "awsElasticBlockStore",
            present(volume.aws_elastic_block_store.as_ref()),
        ),
        ("secret", volume.secret.is_some()),
        ("nfs", present(volume.nfs.as_ref())),
        ("iscsi", present(volume.iscsi.as_ref())),
        ("glusterfs", present(volume.glusterfs.as_ref())),
        ("flocker", present(volume.flocker.as_ref())),
        (
            "persistentVolumeClaim",
            volume.persistent_volume_claim.is_some(),
        ),
        ("rbd", present(volume.rbd.as_ref())),
        ("cinder", present(volume.cinder.as_ref())),
        ("cephfs", present(volume.cephfs.as_ref())),
        ("quobyte", present(volume.quobyte.as_ref())),
        ("downwardAPI", present(volume.downward_api.as_ref())),
        ("fc", present(volume.fc.as_ref())),
        ("flexVolume", present(volume.flex_volume.as_ref())),
        ("configMap", volume.config_map.is_some()),
        ("azureFile", present(volume.azure_file.as_ref())),
        ("vsphereVolume", present(volume.vsphere_volume.as_ref())),
        (
            "photonPersistentDisk",
            present(volume.photon_persistent_disk.as_ref()),
        ),
        ("portworxVolume", present(volume.portworx_volume.as_ref())),
        ("azureDisk", present(volume.azure_disk.as_ref())),
        ("storageos", present(volume.storageos.as_ref())),
        ("projected", present(volume.projected.as_ref())),
        ("scaleIO", present(volume.scale_io.as_ref())),
        ("csi", present(volume.csi.as_ref())),
        ("ephemeral", present(volume.ephemeral.as_ref())),
        ("image", present(volume.image.as_ref())),
    ];
    let mut count = 0;
    for (field, is_set) in sources {
        if !is_set {
            continue;
        }
        let source_path = path.child(field);
        if count > 0 {
            errs.push(FieldError::forbidden(
                &source_path,
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        validate_typed_source(volume, field, &source_path, errs);
    }
}

/// The rules of the sources skiff types (hostPath, emptyDir, secret, configMap,
/// persistentVolumeClaim); the others are carried verbatim and only counted.
fn validate_typed_source(volume: &Volume, field: &str, path: &Path, errs: &mut Errors) {
    match field {
        "emptyDir" => {
            // upstream: a negative sizeLimit is Forbidden.
            if let Some(limit) = volume
                .empty_dir
                .as_ref()
                .and_then(|e| e.size_limit.as_ref())
                && *limit < Quantity::default()
            {
                errs.push(FieldError::forbidden(
                    &path.child("sizeLimit"),
                    "SizeLimit field must be a valid resource quantity",
                ));
            }
        }
        "hostPath" => {
            if let Some(host_path) = &volume.host_path {
                validate_host_path(&host_path.path, host_path.r#type.as_deref(), path, errs);
            }
        }
        "secret" => {
            if let Some(secret) = &volume.secret {
                let name = secret.secret_name.as_deref().unwrap_or("");
                if name.is_empty() {
                    errs.push(FieldError::required(&path.child("secretName"), ""));
                }
                validate_projection(secret.default_mode, &secret.items, path, errs);
            }
        }
        "configMap" => {
            if let Some(config_map) = &volume.config_map {
                if config_map.name.as_deref().unwrap_or("").is_empty() {
                    errs.push(FieldError::required(&path.child("name"), ""));
                }
                validate_projection(config_map.default_mode, &config_map.items, path, errs);
            }
        }
        "persistentVolumeClaim"
            if volume
                .persistent_volume_claim
                .as_ref()
                .is_some_and(|claim| claim.claim_name.is_empty()) =>
        {
            errs.push(FieldError::required(&path.child("claimName"), ""));
        }
        _ => {}
    }
}

/// upstream `supportedHostPathTypes`, as `sets.List` orders them (`""` first).
const HOST_PATH_TYPES: [&str; 8] = [
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];

/// upstream `validateHostPathVolumeSource`: a path without `..`, and a known type.
pub(crate) fn validate_host_path(
    path_value: &str,
    kind: Option<&str>,
    path: &Path,
    errs: &mut Errors,
) {
    if path_value.is_empty() {
        errs.push(FieldError::required(&path.child("path"), ""));
        return;
    }
    validate_no_backsteps(path_value, &path.child("path"), errs);
    if let Some(kind) = kind.filter(|k| !HOST_PATH_TYPES.contains(k)) {
        errs.push(FieldError::not_supported(
            &path.child("type"),
            go_quote(kind),
            &HOST_PATH_TYPES,
        ));
    }
}

/// upstream secret/configMap volume sources: `defaultMode` in 0..=0777, then each item.
fn validate_projection(
    default_mode: Option<i32>,
    items: &[KeyToPath],
    path: &Path,
    errs: &mut Errors,
) {
    if let Some(mode) = default_mode.filter(|m| !(0..=0o777).contains(m)) {
        errs.push(FieldError::invalid(
            &path.child("defaultMode"),
            mode.to_string(),
            FILE_MODE,
        ));
    }
    for (i, item) in items.iter().enumerate() {
        validate_key_to_path(item, &path.child("items").index(i), errs);
    }
}

/// upstream `validateKeyToPath`.
fn validate_key_to_path(item: &KeyToPath, path: &Path, errs: &mut Errors) {
    if item.key.is_empty() {
        errs.push(FieldError::required(&path.child("key"), ""));
    }
    if item.path.is_empty() {
        errs.push(FieldError::required(&path.child("path"), ""));
    }
    validate_local_non_reserved_path(&item.path, &path.child("path"), errs);
    if let Some(mode) = item.mode.filter(|m| !(0..=0o777).contains(m)) {
        errs.push(FieldError::invalid(
            &path.child("mode"),
            mode.to_string(),
            FILE_MODE,
        ));
    }
}

/// upstream `validatePathNoBacksteps`: no `..` element (one error however many).
fn validate_no_backsteps(target: &str, path: &Path, errs: &mut Errors) {
    if target.split('/').any(|part| part == "..") {
        errs.push(FieldError::invalid(
            path,
            go_quote(target),
            "must not contain '..'",
        ));
    }
}

/// upstream `validateLocalDescendingPath`: relative, without `..`.
pub(super) fn validate_local_descending_path(target: &str, path: &Path, errs: &mut Errors) {
    if target.starts_with('/') {
        errs.push(FieldError::invalid(
            path,
            go_quote(target),
            "must be a relative path",
        ));
    }
    validate_no_backsteps(target, path, errs);
}

/// upstream `ValidateLocalNonReservedPath`: a local descending path not starting with `..`.
fn validate_local_non_reserved_path(target: &str, path: &Path, errs: &mut Errors) {
    validate_local_descending_path(target, path, errs);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(FieldError::invalid(
            path,
            go_quote(target),
            "must not start with '..'",
        ));
    }
}
