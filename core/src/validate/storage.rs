//! PersistentVolumes and PersistentVolumeClaims (upstream core
//! `ValidatePersistentVolume`, `ValidatePersistentVolumeClaim`).

use std::collections::BTreeMap;

use crate::object::{PersistentVolume, PersistentVolumeClaim, Value};
use crate::quantity::Quantity;

use super::container::validate_resource_quantity_value;
use super::format::go_quote;
use super::meta;
use super::pod::validate_host_path;
use super::syntax::{self, NOT_POSITIVE, NameRule};
use super::{Errors, FieldError, Path};

/// upstream `supportedAccessModes`, as `sets.List` orders them.
const ACCESS_MODES: [&str; 4] = [
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
/// upstream `supportedVolumeModes`, as `sets.List` orders them.
const VOLUME_MODES: [&str; 2] = ["Block", "Filesystem"];

/// upstream: every access mode known, and `ReadWriteOncePod` alone.
fn validate_access_modes(modes: &[String], path: &Path, errs: &mut Errors) {
    let mut once_pod = false;
    let mut others = false;
    for mode in modes {
        if !ACCESS_MODES.contains(&mode.as_str()) {
            errs.push(FieldError::not_supported(
                path,
                go_quote(mode),
                &ACCESS_MODES,
            ));
        }
        if mode == "ReadWriteOncePod" {
            once_pod = true;
        } else if ACCESS_MODES.contains(&mode.as_str()) {
            others = true;
        }
    }
    if once_pod && others {
        errs.push(FieldError::forbidden(
            path,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
}

/// A storage class (or volume attributes class) name is a DNS subdomain (upstream
/// `ValidateClassName`).
fn validate_class_name(name: &str, path: &Path, errs: &mut Errors) {
    for message in syntax::dns1123_subdomain(name) {
        errs.push(FieldError::invalid(path, go_quote(name), message));
    }
}

/// upstream's positive-quantity rule (`ValidatePositiveQuantityValue`).
fn validate_positive(quantity: &Quantity, path: &Path, errs: &mut Errors) -> bool {
    if *quantity <= Quantity::default() {
        errs.push(FieldError::invalid(
            path,
            go_quote(&quantity.to_string()),
            NOT_POSITIVE,
        ));
        return false;
    }
    true
}

/// A `core.ResourceList` for an error value: Go's `%#v` with each quantity shown as its
/// canonical string (Go prints the quantity's internal struct).
fn resource_list(list: &BTreeMap<String, Quantity>) -> String {
    if list.is_empty() {
        return "core.ResourceList(nil)".to_owned();
    }
    let entries: Vec<String> = list
        .iter()
        .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(&v.to_string())))
        .collect();
    format!("core.ResourceList{{{}}}", entries.join(", "))
}

/// upstream `path.Clean(p) == "/"`.
fn cleans_to_root(path: &str) -> bool {
    if !path.starts_with('/') {
        return false;
    }
    let mut depth: usize = 0;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => depth = depth.saturating_sub(1),
            _ => depth += 1,
        }
    }
    depth == 0
}

/// upstream `supportedReclaimPolicy`, as `sets.List` orders them.
const RECLAIM_POLICIES: [&str; 3] = ["Delete", "Recycle", "Retain"];

/// upstream `ValidatePersistentVolume` / `ValidatePersistentVolumeSpec` (not inline).
pub(crate) fn validate_persistent_volume(pv: &PersistentVolume, errs: &mut Errors) {
    meta::validate_object_meta(&pv.metadata, false, NameRule::Subdomain, errs);
    let spec = Path::root("spec");
    let s = &pv.spec;
    if s.access_modes.is_empty() {
        errs.push(FieldError::required(&spec.child("accessModes"), ""));
    }
    validate_access_modes(&s.access_modes, &spec.child("accessModes"), errs);
    let capacity = spec.child("capacity");
    if s.capacity.is_empty() {
        errs.push(FieldError::required(&capacity, ""));
    }
    if !s.capacity.contains_key("storage") || s.capacity.len() > 1 {
        errs.push(FieldError::not_supported(
            &capacity,
            resource_list(&s.capacity),
            &["storage"],
        ));
    }
    for (name, quantity) in &s.capacity {
        // upstream validateBasicResource, then ValidatePositiveQuantityValue.
        if quantity.value() < 0 {
            errs.push(FieldError::invalid(
                &capacity.key(name),
                quantity.value().to_string(),
                "must be a valid resource quantity",
            ));
        }
        validate_positive(quantity, &capacity.key(name), errs);
    }
    let reclaim = s.persistent_volume_reclaim_policy.as_deref().unwrap_or("");
    if !reclaim.is_empty() && !RECLAIM_POLICIES.contains(&reclaim) {
        errs.push(FieldError::not_supported(
            &spec.child("persistentVolumeReclaimPolicy"),
            go_quote(reclaim),
            &RECLAIM_POLICIES,
        ));
    }
    validate_volume_source(pv, &spec, errs);
    if s.host_path
        .as_ref()
        .is_some_and(|h| cleans_to_root(&h.path))
        && reclaim == "Recycle"
    {
        errs.push(FieldError::forbidden(
            &spec.child("persistentVolumeReclaimPolicy"),
            "may not be 'recycle' for a hostPath mount of '/'",
        ));
    }
    if let Some(class) = s.storage_class_name.as_deref().filter(|c| !c.is_empty()) {
        validate_class_name(class, &spec.child("storageClassName"), errs);
    }
    if let Some(mode) = s
        .volume_mode
        .as_deref()
        .filter(|m| !VOLUME_MODES.contains(m))
    {
        errs.push(FieldError::not_supported(
            &spec.child("volumeMode"),
            go_quote(mode),
            &VOLUME_MODES,
        ));
    }
    if let Some(class) = s.volume_attributes_class_name.as_deref() {
        let path = spec.child("volumeAttributesClassName");
        if class.is_empty() {
            errs.push(FieldError::required(&path, "an empty string is disallowed"));
        } else {
            validate_class_name(class, &path, errs);
        }
        if matches!(s.csi, None | Some(Value::Null)) {
            errs.push(FieldError::required(
                &spec.child("csi"),
                "has to be specified when using volumeAttributesClassName",
            ));
        }
    }
}

/// upstream `ValidatePersistentVolumeSpec`: exactly one source (upstream exempts flexVolume
/// from the "more than 1" check); hostPath's own rules.
fn validate_volume_source(pv: &PersistentVolume, spec: &Path, errs: &mut Errors) {
    let s = &pv.spec;
    let present = |value: Option<&Value>| !matches!(value, None | Some(Value::Null));
    let sources: [(&str, bool); 22] = [
        ("hostPath", s.host_path.is_some()),
        ("gcePersistentDisk", present(s.gce_persistent_disk.as_ref())),
        (
            "awsElasticBlockStore",
            present(s.aws_elastic_block_store.as_ref()),
        ),
        ("glusterfs", present(s.glusterfs.as_ref())),
        ("flocker", present(s.flocker.as_ref())),
        ("nfs", present(s.nfs.as_ref())),
        ("rbd", present(s.rbd.as_ref())),
        ("quobyte", present(s.quobyte.as_ref())),
        ("cephfs", present(s.cephfs.as_ref())),
        ("iscsi", present(s.iscsi.as_ref())),
        ("cinder", present(s.cinder.as_ref())),
        ("fc", present(s.fc.as_ref())),
        ("flexVolume", present(s.flex_volume.as_ref())),
        ("azureFile", present(s.azure_file.as_ref())),
        ("vsphereVolume", present(s.vsphere_volume.as_ref())),
        (
            "photonPersistentDisk",
            present(s.photon_persistent_disk.as_ref()),
        ),
        ("portworxVolume", present(s.portworx_volume.as_ref())),
        ("azureDisk", present(s.azure_disk.as_ref())),
        ("scaleIO", present(s.scale_io.as_ref())),
        ("local", present(s.local.as_ref())),
        ("storageos", present(s.storageos.as_ref())),
        ("csi", present(s.csi.as_ref())),
    ];
    let mut count = 0;
    for (field, is_set) in sources {
        if !is_set {
            continue;
        }
        if count > 0 && field != "flexVolume" {
            errs.push(FieldError::forbidden(
                &spec.child(field),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        if field == "hostPath"
            && let Some(host_path) = &s.host_path
        {
            validate_host_path(
                &host_path.path,
                host_path.r#type.as_deref(),
                &spec.child("hostPath"),
                errs,
            );
        }
        if field == "local" && matches!(s.node_affinity, None | Some(Value::Null)) {
            errs.push(FieldError::required(
                &spec.child("nodeAffinity"),
                "Local volume requires node affinity",
            ));
        }
    }
    if count == 0 {
        errs.push(FieldError::required(spec, "must specify a volume type"));
    }
}

/// upstream `ValidatePersistentVolumeClaim` / `ValidatePersistentVolumeClaimSpec`. upstream
/// reports the storage request at `spec.resources[storage]`.
pub(crate) fn validate_persistent_volume_claim(pvc: &PersistentVolumeClaim, errs: &mut Errors) {
    meta::validate_object_meta(&pvc.metadata, true, NameRule::Subdomain, errs);
    let spec = Path::root("spec");
    let s = &pvc.spec;
    if s.access_modes.is_empty() {
        errs.push(FieldError::required(
            &spec.child("accessModes"),
            "at least 1 access mode is required",
        ));
    }
    if let Some(selector) = &s.selector {
        meta::validate_label_selector(selector, &spec.child("selector"), errs);
    }
    validate_access_modes(&s.access_modes, &spec.child("accessModes"), errs);
    let storage_path = spec.child("resources").key("storage");
    match s.resources.requests.get("storage") {
        None => errs.push(FieldError::required(&storage_path, "")),
        Some(quantity) => {
            if validate_positive(quantity, &storage_path, errs) {
                validate_resource_quantity_value("storage", quantity, &storage_path, errs);
            }
        }
    }
    if let Some(class) = s.storage_class_name.as_deref().filter(|c| !c.is_empty()) {
        validate_class_name(class, &spec.child("storageClassName"), errs);
    }
    if let Some(mode) = s
        .volume_mode
        .as_deref()
        .filter(|m| !VOLUME_MODES.contains(m))
    {
        errs.push(FieldError::not_supported(
            &spec.child("volumeMode"),
            go_quote(mode),
            &VOLUME_MODES,
        ));
    }
    if let Some(class) = s
        .volume_attributes_class_name
        .as_deref()
        .filter(|c| !c.is_empty())
    {
        validate_class_name(class, &spec.child("volumeAttributesClassName"), errs);
    }
}
