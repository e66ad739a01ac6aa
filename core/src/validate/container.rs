//! Containers of a pod spec: names, images, ports, environment, volume mounts, resources and
//! probes (upstream core `validateContainers`, `validateInitContainers`,
//! `validateContainerCommon` and the rules beneath).

use std::collections::BTreeSet;

use crate::object::{
    Container, ContainerPort, EnvFromSource, EnvVar, IntOrString, ObjectFieldSelector, PodSpec,
    Probe, ResourceFieldSelector, ResourceRequirements, Value, VolumeMount,
};
use crate::quantity::Quantity;

use super::format::{go_quote, int_or_string};
use super::meta;
use super::pod::{validate_enum_or_default, validate_local_descending_path};
use super::syntax::{self, IS_NEGATIVE, NOT_INTEGER, NameRule};
use super::{Errors, FieldError, Path};

/// upstream `supportedPortProtocols`, as `sets.List` orders them.
pub(crate) const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];

/// upstream `validateContainers`: at least one; common rules; unique names; probes; no
/// per-container restartPolicy; host ports unique across containers.
pub(super) fn validate_containers(
    containers: &[Container],
    volumes: &BTreeSet<String>,
    path: &Path,
    errs: &mut Errors,
) {
    if containers.is_empty() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    let mut names = BTreeSet::new();
    for (i, container) in containers.iter().enumerate() {
        let container_path = path.index(i);
        validate_container_common(container, volumes, &container_path, errs);
        if !names.insert(container.name.as_str()) {
            errs.push(FieldError::duplicate(
                &container_path.child("name"),
                go_quote(&container.name),
            ));
        }
        validate_probes(container, &container_path, errs);
        if container.restart_policy.is_some() {
            errs.push(FieldError::forbidden(
                &container_path.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    let mut host_ports = BTreeSet::new();
    for (i, container) in containers.iter().enumerate() {
        accumulate_host_ports(container, &path.index(i), &mut host_ports, errs);
    }
}

/// upstream `validateInitContainers`: common rules; restartPolicy only `Always`; names unique
/// across init and regular containers; probes and lifecycle only for restartable (sidecar)
/// init containers; host ports unique per init container.
pub(super) fn validate_init_containers(
    spec: &PodSpec,
    volumes: &BTreeSet<String>,
    path: &Path,
    errs: &mut Errors,
) {
    let mut names: BTreeSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    for (i, container) in spec.init_containers.iter().enumerate() {
        let container_path = path.index(i);
        validate_container_common(container, volumes, &container_path, errs);
        let restart_always = container.restart_policy.as_deref() == Some("Always");
        if let Some(policy) = container
            .restart_policy
            .as_deref()
            .filter(|p| *p != "Always")
        {
            errs.push(FieldError::not_supported(
                &container_path.child("restartPolicy"),
                go_quote(policy),
                &["Always"],
            ));
        }
        if names.contains(container.name.as_str()) {
            errs.push(FieldError::duplicate(
                &container_path.child("name"),
                go_quote(&container.name),
            ));
        } else if !container.name.is_empty() {
            names.insert(container.name.as_str());
        }
        // upstream checks each init container alone (they run one by one); it reports the
        // conflict at index 0 whatever the container, skiff at the container's own index.
        accumulate_host_ports(container, &container_path, &mut BTreeSet::new(), errs);
        if restart_always {
            validate_probes(container, &container_path, errs);
        } else {
            const FORBIDDEN: &str =
                "may not be set for init containers without restartPolicy=Always";
            let lifecycle_set = !matches!(container.lifecycle, None | Some(Value::Null));
            for (field, is_set) in [
                ("lifecycle", lifecycle_set),
                ("livenessProbe", container.liveness_probe.is_some()),
                ("readinessProbe", container.readiness_probe.is_some()),
                ("startupProbe", container.startup_probe.is_some()),
            ] {
                if is_set {
                    errs.push(FieldError::forbidden(
                        &container_path.child(field),
                        FORBIDDEN,
                    ));
                }
            }
        }
    }
}

/// upstream `AccumulateUniqueHostPorts`: `protocol/hostIP/hostPort` unique.
fn accumulate_host_ports(
    container: &Container,
    path: &Path,
    seen: &mut BTreeSet<String>,
    errs: &mut Errors,
) {
    for (i, port) in container.ports.iter().enumerate() {
        let Some(host_port) = port.host_port.filter(|p| *p != 0) else {
            continue;
        };
        let key = format!(
            "{}/{}/{host_port}",
            protocol_or_default(port.protocol.as_deref()),
            port.host_ip.as_deref().unwrap_or("")
        );
        if seen.contains(&key) {
            errs.push(FieldError::duplicate(
                &path.child("ports").index(i).child("hostPort"),
                go_quote(&key),
            ));
        } else {
            seen.insert(key);
        }
    }
}

/// A port protocol as defaulted upstream: unset or empty is `TCP`.
pub(crate) fn protocol_or_default(protocol: Option<&str>) -> &str {
    match protocol {
        None | Some("") => "TCP",
        Some(protocol) => protocol,
    }
}

/// upstream `validateContainerCommon`.
fn validate_container_common(
    container: &Container,
    volumes: &BTreeSet<String>,
    path: &Path,
    errs: &mut Errors,
) {
    let name_path = path.child("name");
    if container.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        for message in syntax::dns1123_label(&container.name) {
            errs.push(FieldError::invalid(
                &name_path,
                go_quote(&container.name),
                message,
            ));
        }
    }
    if container.image.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(&path.child("image"), ""));
    }
    validate_enum_or_default(
        container.termination_message_policy.as_deref(),
        &["File", "FallbackToLogsOnError"],
        &path.child("terminationMessagePolicy"),
        errs,
    );
    validate_container_ports(&container.ports, &path.child("ports"), errs);
    validate_env(&container.env, &path.child("env"), errs);
    validate_env_from(&container.env_from, &path.child("envFrom"), errs);
    validate_volume_mounts(container, volumes, &path.child("volumeMounts"), errs);
    // upstream validatePullPolicy, as sets.List orders the supported values.
    validate_enum_or_default(
        container.image_pull_policy.as_deref(),
        &["Always", "IfNotPresent", "Never"],
        &path.child("imagePullPolicy"),
        errs,
    );
    validate_resource_requirements(&container.resources, &path.child("resources"), errs);
}

/// upstream `validateContainerPorts`.
fn validate_container_ports(ports: &[ContainerPort], path: &Path, errs: &mut Errors) {
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let path = path.index(i);
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let messages = syntax::port_name(name);
            if !messages.is_empty() {
                for message in messages {
                    errs.push(FieldError::invalid(
                        &path.child("name"),
                        go_quote(name),
                        message,
                    ));
                }
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(&path.child("name"), go_quote(name)));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(&path.child("containerPort"), ""));
        } else {
            for message in syntax::port_num(i64::from(port.container_port)) {
                errs.push(FieldError::invalid(
                    &path.child("containerPort"),
                    port.container_port.to_string(),
                    message,
                ));
            }
        }
        if let Some(host_port) = port.host_port.filter(|p| *p != 0) {
            for message in syntax::port_num(i64::from(host_port)) {
                errs.push(FieldError::invalid(
                    &path.child("hostPort"),
                    host_port.to_string(),
                    message,
                ));
            }
        }
        validate_enum_or_default(
            port.protocol.as_deref(),
            &PROTOCOLS,
            &path.child("protocol"),
            errs,
        );
    }
}

/// upstream `ValidateEnv` (with relaxed names) and `validateEnvVarValueFrom`.
fn validate_env(vars: &[EnvVar], path: &Path, errs: &mut Errors) {
    for (i, var) in vars.iter().enumerate() {
        let path = path.index(i);
        if var.name.is_empty() {
            errs.push(FieldError::required(&path.child("name"), ""));
        } else {
            for message in syntax::env_var_name(&var.name) {
                errs.push(FieldError::invalid(
                    &path.child("name"),
                    go_quote(&var.name),
                    message,
                ));
            }
        }
        let Some(source) = &var.value_from else {
            continue;
        };
        let from = path.child("valueFrom");
        let mut sources = 0;
        if let Some(field_ref) = &source.field_ref {
            sources += 1;
            validate_object_field_selector(field_ref, &from.child("fieldRef"), errs);
        }
        if let Some(resource_ref) = &source.resource_field_ref {
            sources += 1;
            validate_resource_field_selector(resource_ref, &from.child("resourceFieldRef"), errs);
        }
        if let Some(selector) = &source.config_map_key_ref {
            sources += 1;
            validate_key_selector(
                selector.name.as_deref(),
                &selector.key,
                &from.child("configMapKeyRef"),
                errs,
            );
        }
        if let Some(selector) = &source.secret_key_ref {
            sources += 1;
            validate_key_selector(
                selector.name.as_deref(),
                &selector.key,
                &from.child("secretKeyRef"),
                errs,
            );
        }
        if !matches!(source.file_key_ref, None | Some(Value::Null)) {
            sources += 1;
        }
        let detail = if sources == 0 {
            Some(
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            )
        } else if !var.value.as_deref().unwrap_or("").is_empty() {
            Some("may not be specified when `value` is not empty")
        } else if sources > 1 {
            Some("may not have more than one field specified at a time")
        } else {
            None
        };
        if let Some(detail) = detail {
            errs.push(FieldError::invalid(&from, "\"\"", detail));
        }
    }
}

/// Fields the downward API can convert for `v1` pods (upstream
/// `ConvertDownwardAPIFieldLabel`).
const DOWNWARD_API_CONVERTIBLE: [&str; 14] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.phase",
    "status.podIP",
    "status.podIPs",
];

/// upstream `validEnvDownwardAPIFieldPathExpressions`, as `sets.List` orders them.
const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// upstream `validateObjectFieldSelector` for environment variables.
fn validate_object_field_selector(selector: &ObjectFieldSelector, path: &Path, errs: &mut Errors) {
    // An unset apiVersion is defaulted to v1 upstream.
    let api_version = selector
        .api_version
        .as_deref()
        .filter(|v| !v.is_empty())
        .unwrap_or("v1");
    if selector.field_path.is_empty() {
        errs.push(FieldError::required(&path.child("fieldPath"), ""));
        return;
    }
    let (field, subscript) = split_subscript(&selector.field_path);
    let conversion_error = if api_version == "v1" {
        (!DOWNWARD_API_CONVERTIBLE.contains(&field))
            .then(|| format!("field label not supported: {field}"))
    } else {
        Some(format!("unsupported pod version: {api_version}"))
    };
    if let Some(error) = conversion_error {
        errs.push(FieldError::invalid(
            &path.child("fieldPath"),
            go_quote(&selector.field_path),
            format!("error converting fieldPath: {error}"),
        ));
        return;
    }
    match (field, subscript) {
        ("metadata.annotations", Some(key)) => {
            meta::validate_label_name(&key.to_lowercase(), path, errs);
        }
        ("metadata.labels", Some(key)) => meta::validate_label_name(key, path, errs),
        (field, Some(_)) => {
            errs.push(FieldError::invalid(
                path,
                go_quote(field),
                "does not support subscript",
            ));
        }
        (field, None) if !ENV_FIELD_PATHS.contains(&field) => {
            errs.push(FieldError::not_supported(
                &path.child("fieldPath"),
                go_quote(field),
                &ENV_FIELD_PATHS,
            ));
        }
        (_, None) => {}
    }
}

/// upstream `fieldpath.SplitMaybeSubscriptedPath`: `metadata.labels['app']` → (path, key).
fn split_subscript(field_path: &str) -> (&str, Option<&str>) {
    if let Some(inner) = field_path.strip_suffix("']")
        && let Some((path, key)) = inner.split_once("['")
    {
        return (path, Some(key));
    }
    (field_path, None)
}

/// upstream `validContainerResourceFieldPathExpressions`, as `sets.List` orders them.
const RESOURCE_FIELD_PATHS: [&str; 6] = [
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// Divisors upstream allows for byte-valued resources (`validContainerResourceDivisorForMemory`
/// and friends).
const BYTE_DIVISORS: [&str; 13] = [
    "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
];

/// upstream `validateContainerResourceFieldSelector` (environment variables) and
/// `validateContainerResourceDivisor`.
fn validate_resource_field_selector(
    selector: &ResourceFieldSelector,
    path: &Path,
    errs: &mut Errors,
) {
    let resource = selector.resource.as_str();
    if resource.is_empty() {
        errs.push(FieldError::required(&path.child("resource"), ""));
    } else if !RESOURCE_FIELD_PATHS.contains(&resource)
        && !resource.starts_with("requests.hugepages-")
        && !resource.starts_with("limits.hugepages-")
    {
        errs.push(FieldError::not_supported(
            &path.child("resource"),
            go_quote(resource),
            &RESOURCE_FIELD_PATHS,
        ));
    }
    let Some(divisor) = selector.divisor.as_ref().filter(|d| !d.is_zero()) else {
        return;
    };
    let divisor = divisor.to_string();
    let message = match resource {
        "limits.cpu" | "requests.cpu" => (!["1m", "1"].contains(&divisor.as_str()))
            .then_some("only divisor's values 1m and 1 are supported with the cpu resource"),
        "limits.memory" | "requests.memory" => (!BYTE_DIVISORS.contains(&divisor.as_str())).then_some(
            "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource",
        ),
        "limits.ephemeral-storage" | "requests.ephemeral-storage" => (!BYTE_DIVISORS.contains(&divisor.as_str())).then_some(
            "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource",
        ),
        _ if resource.starts_with("requests.hugepages-") || resource.starts_with("limits.hugepages-") => {
            (!BYTE_DIVISORS.contains(&divisor.as_str())).then_some(
                "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the hugepages resource",
            )
        }
        _ => None,
    };
    if let Some(message) = message {
        errs.push(FieldError::invalid(
            &path.child("divisor"),
            go_quote(resource),
            message,
        ));
    }
}

/// upstream `validateConfigMapKeySelector` / `validateSecretKeySelector`: the name is checked
/// even when empty (upstream's own behavior), the key is required and a config key.
fn validate_key_selector(name: Option<&str>, key: &str, path: &Path, errs: &mut Errors) {
    let name = name.unwrap_or("");
    for message in NameRule::Subdomain.check(name, false) {
        errs.push(FieldError::invalid(
            &path.child("name"),
            go_quote(name),
            message,
        ));
    }
    if key.is_empty() {
        errs.push(FieldError::required(&path.child("key"), ""));
    } else {
        for message in syntax::config_map_key(key) {
            errs.push(FieldError::invalid(
                &path.child("key"),
                go_quote(key),
                message,
            ));
        }
    }
}

/// upstream `ValidateEnvFrom`: prefix a valid (relaxed) variable name, exactly one source; the
/// count errors are reported at the list's path, as upstream does.
fn validate_env_from(sources: &[EnvFromSource], path: &Path, errs: &mut Errors) {
    for (i, source) in sources.iter().enumerate() {
        let item = path.index(i);
        if let Some(prefix) = source.prefix.as_deref().filter(|p| !p.is_empty()) {
            for message in syntax::env_var_name(prefix) {
                errs.push(FieldError::invalid(
                    &item.child("prefix"),
                    go_quote(prefix),
                    message,
                ));
            }
        }
        let mut count = 0;
        for (field, name) in [
            (
                "configMapRef",
                source.config_map_ref.as_ref().map(|r| r.name.as_deref()),
            ),
            (
                "secretRef",
                source.secret_ref.as_ref().map(|r| r.name.as_deref()),
            ),
        ] {
            let Some(name) = name else { continue };
            count += 1;
            let name = name.unwrap_or("");
            let name_path = item.child(field).child("name");
            if name.is_empty() {
                errs.push(FieldError::required(&name_path, ""));
            } else {
                // upstream passes prefix=true here.
                for message in NameRule::Subdomain.check(name, true) {
                    errs.push(FieldError::invalid(&name_path, go_quote(name), message));
                }
            }
        }
        match count {
            0 => errs.push(FieldError::invalid(
                path,
                "\"\"",
                "must specify one of: `configMapRef` or `secretRef`",
            )),
            1 => {}
            _ => errs.push(FieldError::invalid(
                path,
                "\"\"",
                "may not have more than one field specified at a time",
            )),
        }
    }
}

/// upstream `ValidateVolumeMounts`: a name (of a declared, valid volume) and a unique mount
/// path; subPath/subPathExpr rules and mount propagation. upstream reports the subPath,
/// mountPropagation and recursiveReadOnly errors at the list's path without an index.
fn validate_volume_mounts(
    container: &Container,
    volumes: &BTreeSet<String>,
    path: &Path,
    errs: &mut Errors,
) {
    let mut mount_paths = BTreeSet::new();
    for (i, mount) in container.volume_mounts.iter().enumerate() {
        let item = path.index(i);
        if mount.name.is_empty() {
            errs.push(FieldError::required(&item.child("name"), ""));
        }
        if !volumes.contains(&mount.name) {
            errs.push(FieldError::not_found(
                &item.child("name"),
                go_quote(&mount.name),
            ));
        }
        if mount.mount_path.is_empty() {
            errs.push(FieldError::required(&item.child("mountPath"), ""));
        }
        if !mount_paths.insert(mount.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                &item.child("mountPath"),
                go_quote(&mount.mount_path),
                "must be unique",
            ));
        }
        let sub_path = mount.sub_path.as_deref().unwrap_or("");
        let sub_path_expr = mount.sub_path_expr.as_deref().unwrap_or("");
        if !sub_path.is_empty() {
            validate_local_descending_path(sub_path, &path.child("subPath"), errs);
        }
        if !sub_path_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    &item.child("subPathExpr"),
                    go_quote(sub_path_expr),
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            validate_local_descending_path(sub_path_expr, &path.child("subPathExpr"), errs);
        }
        validate_mount_propagation(mount, container, &path.child("mountPropagation"), errs);
        validate_recursive_read_only(mount, &path.child("recursiveReadOnly"), errs);
    }
}

/// upstream `validateMountPropagation`.
fn validate_mount_propagation(
    mount: &VolumeMount,
    container: &Container,
    path: &Path,
    errs: &mut Errors,
) {
    const SUPPORTED: [&str; 3] = ["Bidirectional", "HostToContainer", "None"];
    let Some(propagation) = mount.mount_propagation.as_deref() else {
        return;
    };
    if !SUPPORTED.contains(&propagation) {
        errs.push(FieldError::not_supported(
            path,
            go_quote(propagation),
            &SUPPORTED,
        ));
    }
    let privileged = matches!(
        &container.security_context,
        Some(Value::Map(context)) if context.get("privileged") == Some(&Value::Bool(true))
    );
    if propagation == "Bidirectional" && !privileged {
        errs.push(FieldError::forbidden(
            path,
            "Bidirectional mount propagation is available only to privileged containers",
        ));
    }
}

/// upstream `validateMountRecursiveReadOnly`.
fn validate_recursive_read_only(mount: &VolumeMount, path: &Path, errs: &mut Errors) {
    match mount.recursive_read_only.as_deref() {
        None | Some("Disabled") => {}
        Some("Enabled" | "IfPossible") => {
            if mount.read_only != Some(true) {
                errs.push(FieldError::forbidden(
                    path,
                    "may only be specified when readOnly is true",
                ));
            }
            if mount
                .mount_propagation
                .as_deref()
                .is_some_and(|p| p != "None")
            {
                errs.push(FieldError::forbidden(
                    path,
                    "may only be specified when mountPropagation is None or not specified",
                ));
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            path,
            go_quote(other),
            &["Disabled", "Enabled", "IfPossible"],
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

/// Resource names a container may use without a domain (upstream
/// `standardContainerResources`; `hugepages-<size>` too).
const CONTAINER_RESOURCES: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];

/// Unprefixed resource names upstream knows at all (upstream `standardResources`).
const STANDARD_RESOURCES: [&str; 20] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

/// Resources counted in whole units (upstream `integerResources`; extended resources too).
const INTEGER_RESOURCES: [&str; 9] = [
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

/// upstream `helper.IsNativeResource`: no domain, or a `kubernetes.io/` one.
fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// upstream `helper.IsHugePageResourceName`.
fn is_huge_page(name: &str) -> bool {
    name.starts_with("hugepages-")
}

/// upstream `helper.IsExtendedResourceName`: a domain-qualified, non-native name.
fn is_extended_resource(name: &str) -> bool {
    !is_native_resource(name)
        && !name.starts_with("requests.")
        && syntax::qualified_name(&format!("requests.{name}")).is_empty()
}

/// upstream `helper.IsOvercommitAllowed`: requests below limits are allowed only for native,
/// non-hugepage resources.
fn is_overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_huge_page(name)
}

/// upstream `validateContainerResourceName` (through `validateResourceName`).
fn validate_container_resource_name(name: &str, path: &Path, errs: &mut Errors) {
    // upstream ResourceName has a String() method, so the value prints unquoted.
    let qualified = syntax::qualified_name(name);
    let had_qualified_errors = !qualified.is_empty();
    for message in qualified {
        errs.push(FieldError::invalid(path, name, message));
    }
    if name.contains('/') {
        if !is_native_resource(name) && !is_extended_resource(name) {
            errs.push(FieldError::invalid(
                path,
                name,
                "doesn't follow extended resource name standard",
            ));
        }
        return;
    }
    if !had_qualified_errors
        && !STANDARD_RESOURCES.contains(&name)
        && !name.starts_with("hugepages-")
        && !name.starts_with("requests.hugepages-")
    {
        errs.push(FieldError::invalid(
            path,
            name,
            "must be a standard resource type or fully qualified",
        ));
    }
    if !CONTAINER_RESOURCES.contains(&name) && !is_huge_page(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "must be a standard resource for containers",
        ));
    }
}

/// upstream `ValidateResourceQuantityValue`: not negative, and whole for integer resources.
pub(crate) fn validate_resource_quantity_value(
    name: &str,
    quantity: &Quantity,
    path: &Path,
    errs: &mut Errors,
) {
    if *quantity < Quantity::default() {
        errs.push(FieldError::invalid(
            path,
            go_quote(&quantity.to_string()),
            IS_NEGATIVE,
        ));
    }
    if (INTEGER_RESOURCES.contains(&name) || is_extended_resource(name))
        && quantity.milli_value() % 1000 != 0
    {
        // upstream passes the Quantity itself, whose String() prints unquoted.
        errs.push(FieldError::invalid(path, quantity.to_string(), NOT_INTEGER));
    }
}

/// upstream `validateResourceQuantityHugePageValue`: a whole number of pages.
fn validate_huge_page_value(name: &str, quantity: &Quantity, path: &Path, errs: &mut Errors) {
    let page = name
        .strip_prefix("hugepages-")
        .and_then(|size| Quantity::parse(size).ok())
        .filter(|page| *page > Quantity::default() && page.milli_value() % 1000 == 0);
    let divisible = page.is_some_and(|page| {
        let page_bytes = page.value();
        page_bytes != 0 && quantity.value() % page_bytes == 0
    });
    if !divisible {
        errs.push(FieldError::invalid(
            path,
            go_quote(&quantity.to_string()),
            format!("{quantity} is not positive integer multiple of {name}"),
        ));
    }
}

/// upstream `validateResourceRequirements` for containers: names, quantities, requests within
/// limits (equal for resources that cannot be overcommitted), hugepages with cpu or memory.
fn validate_resource_requirements(
    requirements: &ResourceRequirements,
    path: &Path,
    errs: &mut Errors,
) {
    let limits_path = path.child("limits");
    let requests_path = path.child("requests");
    let mut cpu_or_memory = false;
    let mut huge_pages = false;
    for (name, quantity) in &requirements.limits {
        let item = limits_path.key(name);
        validate_container_resource_name(name, &item, errs);
        validate_resource_quantity_value(name, quantity, &item, errs);
        if is_huge_page(name) {
            huge_pages = true;
            validate_huge_page_value(name, quantity, &item, errs);
        }
        cpu_or_memory |= name == "cpu" || name == "memory";
    }
    for (name, quantity) in &requirements.requests {
        let item = requests_path.key(name);
        validate_container_resource_name(name, &item, errs);
        validate_resource_quantity_value(name, quantity, &item, errs);
        match requirements.limits.get(name) {
            Some(limit) if quantity != limit && !is_overcommit_allowed(name) => {
                errs.push(FieldError::invalid(
                    &requests_path,
                    go_quote(&quantity.to_string()),
                    format!("must be equal to {name} limit of {limit}"),
                ));
            }
            Some(limit) if quantity > limit => {
                errs.push(FieldError::invalid(
                    &requests_path,
                    go_quote(&quantity.to_string()),
                    format!("must be less than or equal to {name} limit of {limit}"),
                ));
            }
            None if !is_overcommit_allowed(name) => errs.push(FieldError::required(
                &limits_path,
                "Limit must be set for non overcommitable resources",
            )),
            _ => {}
        }
        if is_huge_page(name) {
            huge_pages = true;
            validate_huge_page_value(name, quantity, &item, errs);
        }
        cpu_or_memory |= name == "cpu" || name == "memory";
    }
    if huge_pages && !cpu_or_memory {
        errs.push(FieldError::forbidden(
            path,
            "HugePages require cpu or memory",
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Probes
// ---------------------------------------------------------------------------------------------

/// Which probe; the kinds differ in their extra rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

/// upstream `validateLivenessProbe`, `validateReadinessProbe`, `validateStartupProbe`.
fn validate_probes(container: &Container, path: &Path, errs: &mut Errors) {
    for (probe, field, kind) in [
        (
            &container.liveness_probe,
            "livenessProbe",
            ProbeKind::Liveness,
        ),
        (
            &container.readiness_probe,
            "readinessProbe",
            ProbeKind::Readiness,
        ),
        (&container.startup_probe, "startupProbe", ProbeKind::Startup),
    ] {
        if let Some(probe) = probe {
            validate_probe(probe, kind, &path.child(field), errs);
        }
    }
}

/// upstream `validateProbe` plus the per-kind rule. Unset or zero timings and thresholds are
/// defaulted upstream (1 s timeout, 10 s period, 1 success, 3 failures).
fn validate_probe(probe: &Probe, kind: ProbeKind, path: &Path, errs: &mut Errors) {
    validate_handler(probe, path, errs);
    for (field, value) in [
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ] {
        if let Some(value) = value.filter(|v| *v < 0) {
            errs.push(FieldError::invalid(
                &path.child(field),
                value.to_string(),
                IS_NEGATIVE,
            ));
        }
    }
    if let Some(seconds) = probe.termination_grace_period_seconds.filter(|s| *s <= 0) {
        errs.push(FieldError::invalid(
            &path.child("terminationGracePeriodSeconds"),
            seconds.to_string(),
            "must be greater than 0",
        ));
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            if let Some(threshold) = probe.success_threshold.filter(|t| *t != 0 && *t != 1) {
                errs.push(FieldError::invalid(
                    &path.child("successThreshold"),
                    threshold.to_string(),
                    "must be 1",
                ));
            }
        }
        ProbeKind::Readiness => {
            if let Some(seconds) = probe.termination_grace_period_seconds {
                errs.push(FieldError::invalid(
                    &path.child("terminationGracePeriodSeconds"),
                    seconds.to_string(),
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
}

/// upstream `validateHandler`: exactly one handler; each handler's own rules.
fn validate_handler(probe: &Probe, path: &Path, errs: &mut Errors) {
    let mut handlers = 0;
    let mut claim = |field: &str, errs: &mut Errors| {
        if handlers > 0 {
            errs.push(FieldError::forbidden(
                &path.child(field),
                "may not specify more than 1 handler type",
            ));
            false
        } else {
            handlers += 1;
            true
        }
    };
    if let Some(exec) = &probe.exec
        && claim("exec", errs)
        && exec.command.is_empty()
    {
        errs.push(FieldError::required(
            &path.child("exec").child("command"),
            "",
        ));
    }
    if let Some(http) = &probe.http_get
        && claim("httpGet", errs)
    {
        let http_path = path.child("httpGet");
        // An empty path is defaulted to "/" and an empty scheme to HTTP upstream.
        validate_port_num_or_name(&http.port, &http_path.child("port"), errs);
        validate_enum_or_default(
            http.scheme.as_deref(),
            &["HTTP", "HTTPS"],
            &http_path.child("scheme"),
            errs,
        );
        for header in &http.http_headers {
            for message in syntax::http_header_name(&header.name) {
                errs.push(FieldError::invalid(
                    &http_path.child("httpHeaders"),
                    go_quote(&header.name),
                    message,
                ));
            }
        }
    }
    if let Some(tcp) = &probe.tcp_socket
        && claim("tcpSocket", errs)
    {
        validate_port_num_or_name(&tcp.port, &path.child("tcpSocket").child("port"), errs);
    }
    if let Some(grpc) = &probe.grpc
        && claim("grpc", errs)
    {
        for message in syntax::port_num(i64::from(grpc.port)) {
            errs.push(FieldError::invalid(
                &path.child("grpc").child("port"),
                grpc.port.to_string(),
                message,
            ));
        }
    }
    if handlers == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
}

/// upstream `ValidatePortNumOrName`: a port number, or an IANA service name.
pub(crate) fn validate_port_num_or_name(port: &IntOrString, path: &Path, errs: &mut Errors) {
    match port {
        IntOrString::Int(number) => {
            for message in syntax::port_num(i64::from(*number)) {
                errs.push(FieldError::invalid(path, int_or_string(port), message));
            }
        }
        IntOrString::String(name) => {
            for message in syntax::port_name(name) {
                errs.push(FieldError::invalid(path, go_quote(name), message));
            }
        }
    }
}
