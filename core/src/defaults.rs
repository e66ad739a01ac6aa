//! Defaulting: the values the API server fills in before validation, as upstream's versioned
//! defaulters do (`pkg/apis/core/v1/defaults.go`, `pkg/apis/apps/v1/defaults.go` and the
//! declarative `+default=` tags compiled into their `zz_generated.defaults.go`).
//!
//! [`default_object`] runs on every create and update, on the object as the client sent it
//! (upstream defaults while decoding the request body). [`prepare_for_create`] holds the few
//! create-only values that upstream sets in a registry strategy instead, because they must not
//! come back once removed (a Namespace's `kubernetes` finalizer).
//!
//! # What is defaulted
//!
//! - **Pod** (`SetDefaults_Pod`): container requests from limits; `enableServiceLinks: true`;
//!   with `hostNetwork`, `hostPort` from `containerPort`.
//! - **Pod spec**, in Pods and in every pod template (`SetDefaults_PodSpec`): `dnsPolicy:
//!   ClusterFirst`, `restartPolicy: Always`, `terminationGracePeriodSeconds: 30`,
//!   `schedulerName: default-scheduler`. Upstream also sets `securityContext: {}`; skiff leaves
//!   it absent (it is an empty object either way and skiff does not interpret it). The
//!   deprecated `serviceAccount` and `serviceAccountName` are kept equal, as upstream's v1
//!   conversion does.
//! - **Containers** (init and main; `SetDefaults_Container`, `SetDefaults_Probe`,
//!   `SetDefaults_HTTPGetAction`, `SetDefaults_ObjectFieldSelector`): `imagePullPolicy`
//!   (`Always` for `:latest` or an untagged image, else `IfNotPresent`),
//!   `terminationMessagePath: /dev/termination-log`, `terminationMessagePolicy: File`, port
//!   `protocol: TCP`, env `fieldRef.apiVersion: v1`, probe `timeoutSeconds: 1`,
//!   `periodSeconds: 10`, `successThreshold: 1`, `failureThreshold: 3`, `httpGet.path: /`,
//!   `httpGet.scheme: HTTP`, `grpc.service: ""`, the same `httpGet` defaults in lifecycle hooks,
//!   and requests and limits rounded up to milli precision (`SetDefaults_ResourceList`).
//! - **Volumes** (`SetDefaults_Volume` and each source's defaulter): `emptyDir: {}` when no
//!   source is set; `hostPath.type: ""`; `defaultMode: 420` (0644) on secret, configMap,
//!   downwardAPI and projected; downward API `fieldRef.apiVersion: v1`; projected token
//!   `expirationSeconds: 3600`; the deprecated in-tree sources' defaults (iSCSI, RBD, Azure
//!   disk, ScaleIO); ephemeral claim templates' `volumeMode: Filesystem`.
//! - **ReplicaSet, Deployment** (`replicas: 1`); **ReplicationController** (`replicas: 1`, and
//!   `selector` and `metadata.labels` from the template's labels when empty); **Deployment**
//!   (`strategy: RollingUpdate` with `maxUnavailable`/`maxSurge` `25%`,
//!   `revisionHistoryLimit: 10`, `progressDeadlineSeconds: 600`); **DaemonSet**
//!   (`updateStrategy: RollingUpdate` with `maxUnavailable: 1`, `maxSurge: 0`,
//!   `revisionHistoryLimit: 10`).
//! - **Service** (`SetDefaults_Service`): `type: ClusterIP`, `sessionAffinity: None` (which
//!   drops `sessionAffinityConfig`), ClientIP affinity `timeoutSeconds: 10800`, port
//!   `protocol: TCP`, `targetPort` = `port`, `externalTrafficPolicy: Cluster` when externally
//!   accessible, `internalTrafficPolicy: Cluster`, `allocateLoadBalancerNodePorts: true` and
//!   ingress `ipMode: VIP` for LoadBalancers. (`ipFamilies`/`ipFamilyPolicy` and cluster IPs
//!   come from the API server's allocator, not from defaulting, as upstream.)
//! - **Endpoints**: port `protocol: TCP`. **Secret**: `type: Opaque`. **Namespace**: label
//!   `kubernetes.io/metadata.name`, `status.phase: Active`. **Node**: `status.allocatable`
//!   from `status.capacity` when absent. **PersistentVolume**: `status.phase: Pending`,
//!   `persistentVolumeReclaimPolicy: Retain`, `volumeMode: Filesystem`.
//!   **PersistentVolumeClaim**: `status.phase: Pending`, `volumeMode: Filesystem`.
//!
//! # Not (yet) defaulted
//!
//! Ephemeral containers (carried as an opaque value), pod-level `resources` aggregation (the
//! `PodLevelResources` feature), `overhead` rounding, and image volumes' `pullPolicy` (the
//! `ImageVolume` feature). Every defaulter is idempotent: defaulting twice changes nothing.

use std::collections::BTreeMap;

use crate::object::{
    Container, DaemonSet, Deployment, EmptyDirVolumeSource, Endpoints, IntOrString, Namespace,
    Node, Object, PersistentVolume, PersistentVolumeClaim, Pod, PodSpec, PodTemplateSpec, Probe,
    ReplicaSet, ReplicationController, RollingUpdateDaemonSet, RollingUpdateDeployment, Secret,
    Service, Value, Volume,
};
use crate::quantity::Quantity;

/// upstream `DefaultTerminationGracePeriodSeconds`.
pub const TERMINATION_GRACE_PERIOD_SECONDS_DEFAULT: i64 = 30;
/// upstream `DefaultSchedulerName`.
pub const SCHEDULER_NAME_DEFAULT: &str = "default-scheduler";
/// upstream `TerminationMessagePathDefault`.
pub const TERMINATION_MESSAGE_PATH_DEFAULT: &str = "/dev/termination-log";
/// upstream `SecretVolumeSourceDefaultMode` (and the ConfigMap, downward API and projected
/// ones): 0644.
pub const VOLUME_DEFAULT_MODE: i32 = 0o644;
/// upstream `DefaultClientIPServiceAffinitySeconds` (3 hours).
pub const CLIENT_IP_AFFINITY_SECONDS_DEFAULT: i64 = 10_800;
/// upstream `SetDefaults_ServiceAccountTokenProjection`: one hour.
pub const TOKEN_EXPIRATION_SECONDS_DEFAULT: i64 = 3_600;
/// upstream `FinalizerKubernetes`: the namespace controller's spec finalizer.
pub const FINALIZER_KUBERNETES: &str = "kubernetes";
/// upstream `LabelMetadataName`: every namespace carries its own name under this label.
pub const LABEL_METADATA_NAME: &str = "kubernetes.io/metadata.name";

/// Fills in the defaults upstream's v1 defaulters set (see the module documentation for the
/// list). Idempotent.
pub fn default_object(object: &mut Object) {
    match object {
        Object::Pod(pod) => default_pod(pod),
        Object::ReplicationController(rc) => default_replication_controller(rc),
        Object::ReplicaSet(rs) => default_replica_set(rs),
        Object::Deployment(deployment) => default_deployment(deployment),
        Object::DaemonSet(ds) => default_daemon_set(ds),
        Object::Service(service) => default_service(service),
        Object::Endpoints(endpoints) => default_endpoints(endpoints),
        Object::Secret(secret) => default_secret(secret),
        Object::Namespace(namespace) => default_namespace(namespace),
        Object::Node(node) => default_node(node),
        Object::PersistentVolume(pv) => default_persistent_volume(pv),
        Object::PersistentVolumeClaim(pvc) => default_persistent_volume_claim(pvc),
        // upstream SetDefaults_ConfigMap turns a nil `data` into an empty map, which skiff's
        // maps already are; the other kinds have no v1 defaults.
        _ => {}
    }
}

/// The create-only part of upstream's registry strategies that skiff's defaulting owns:
/// a new Namespace is `Active` and carries the `kubernetes` finalizer (upstream
/// `namespaceStrategy.PrepareForCreate`: "we cannot use this in defaults conversion because we
/// let it get removed over life of object"); the status a client sent with a new object is
/// dropped, as every upstream strategy's `PrepareForCreate` does (status is written through
/// the `status` subresource by the controller that owns it), and a new Pod starts `Pending`
/// with its QoS class (upstream `podStrategy.PrepareForCreate`), a new volume or claim
/// `Pending` (upstream `SetDefaults_PersistentVolume{,Claim}`).
pub fn prepare_for_create(object: &mut Object) {
    use crate::object::{PersistentVolumeClaimStatus, PersistentVolumeStatus, PodStatus};
    match object {
        Object::Pod(pod) => {
            pod.status = PodStatus {
                phase: Some("Pending".to_owned()),
                qos_class: Some(pod.qos_class().to_owned()),
                ..PodStatus::default()
            };
        }
        Object::ReplicaSet(rs) => rs.status = crate::object::ReplicaSetStatus::default(),
        Object::ReplicationController(rc) => {
            rc.status = crate::object::ReplicationControllerStatus::default();
        }
        Object::Deployment(deployment) => {
            deployment.status = crate::object::DeploymentStatus::default();
        }
        Object::DaemonSet(ds) => ds.status = crate::object::DaemonSetStatus::default(),
        Object::Service(service) => service.status = crate::object::ServiceStatus::default(),
        Object::PersistentVolume(pv) => {
            pv.status = PersistentVolumeStatus {
                phase: Some("Pending".to_owned()),
                ..PersistentVolumeStatus::default()
            };
        }
        Object::PersistentVolumeClaim(pvc) => {
            pvc.status = PersistentVolumeClaimStatus {
                phase: Some("Pending".to_owned()),
                ..PersistentVolumeClaimStatus::default()
            };
        }
        _ => {}
    }
    if let Object::Namespace(namespace) = object {
        namespace.status = crate::object::NamespaceStatus {
            phase: Some("Active".to_owned()),
            ..crate::object::NamespaceStatus::default()
        };
        let finalizers = &mut namespace.spec.finalizers;
        if !finalizers.iter().any(|f| f == FINALIZER_KUBERNETES) {
            finalizers.push(FINALIZER_KUBERNETES.to_owned());
        }
    }
}

/// Sets `field` to `value` when it is unset or empty (upstream's `if x == ""` on a string).
fn default_str(field: &mut Option<String>, value: &str) {
    if field.as_deref().is_none_or(str::is_empty) {
        *field = Some(value.to_owned());
    }
}

/// Sets `field` to `value` when it is unset or zero (upstream's `if x == 0` on an integer that
/// is not a pointer).
fn default_nonzero(field: &mut Option<i32>, value: i32) {
    if field.is_none_or(|v| v == 0) {
        *field = Some(value);
    }
}

/// upstream `SetDefaults_ResourceList`: every quantity rounded up to milli precision
/// ("We round up resource values to milli scale to maintain API compatibility").
fn round_up_to_milli(list: &mut BTreeMap<String, Quantity>) {
    for quantity in list.values_mut() {
        let milli = quantity.milli_value();
        // Saturated values are far beyond any resource; leave them untouched.
        if milli == i64::MAX || milli == i64::MIN {
            continue;
        }
        let rounded = Quantity::from_milli(milli).with_format(quantity.format());
        if rounded != *quantity {
            *quantity = rounded;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pods and pod templates
// ---------------------------------------------------------------------------------------------

/// upstream `SetObjectDefaults_Pod`: `SetDefaults_Pod`, then the pod spec's defaults.
fn default_pod(pod: &mut Pod) {
    let spec = &mut pod.spec;
    // upstream SetDefaults_Pod: "If limits are specified, but requests are not, default
    // requests to limits" — on Pods only, not on templates.
    for container in spec.containers.iter_mut().chain(&mut spec.init_containers) {
        let resources = &mut container.resources;
        for (name, limit) in &resources.limits {
            resources
                .requests
                .entry(name.clone())
                .or_insert_with(|| limit.clone());
        }
    }
    spec.enable_service_links.get_or_insert(true);
    // upstream defaultHostNetworkPorts: with host networking every container port is a host
    // port.
    if spec.host_network == Some(true) {
        for container in spec.containers.iter_mut().chain(&mut spec.init_containers) {
            for port in &mut container.ports {
                if port.host_port.is_none_or(|p| p == 0) {
                    port.host_port = Some(port.container_port);
                }
            }
        }
    }
    default_pod_spec(spec);
}

/// upstream `SetObjectDefaults_PodTemplate` as embedded in workloads: the pod spec's defaults
/// without `SetDefaults_Pod`.
fn default_pod_template(template: &mut PodTemplateSpec) {
    default_pod_spec(&mut template.spec);
}

/// upstream `SetDefaults_PodSpec` and the defaulters of everything a pod spec embeds.
fn default_pod_spec(spec: &mut PodSpec) {
    // upstream v1 conversion (`Convert_v1_PodSpec_To_core_PodSpec` and back): the deprecated
    // `serviceAccount` names the account when `serviceAccountName` does not, and always
    // echoes `serviceAccountName`.
    if spec
        .service_account_name
        .as_deref()
        .is_none_or(str::is_empty)
    {
        spec.service_account_name = spec.service_account.clone().filter(|s| !s.is_empty());
    }
    spec.service_account = spec.service_account_name.clone().filter(|s| !s.is_empty());
    default_str(&mut spec.dns_policy, "ClusterFirst");
    default_str(&mut spec.restart_policy, "Always");
    spec.termination_grace_period_seconds
        .get_or_insert(TERMINATION_GRACE_PERIOD_SECONDS_DEFAULT);
    default_str(&mut spec.scheduler_name, SCHEDULER_NAME_DEFAULT);
    for volume in &mut spec.volumes {
        default_volume(volume);
    }
    for container in spec.init_containers.iter_mut().chain(&mut spec.containers) {
        default_container(container);
    }
    if let Some(resources) = &mut spec.resources {
        round_up_to_milli(&mut resources.limits);
        round_up_to_milli(&mut resources.requests);
    }
}

/// upstream `SetDefaults_Container` and the generated defaults of what a container embeds.
fn default_container(container: &mut Container) {
    if container
        .image_pull_policy
        .as_deref()
        .is_none_or(str::is_empty)
    {
        let image = container.image.as_deref().unwrap_or("");
        container.image_pull_policy = Some(pull_policy_for(image).to_owned());
    }
    default_str(
        &mut container.termination_message_path,
        TERMINATION_MESSAGE_PATH_DEFAULT,
    );
    default_str(&mut container.termination_message_policy, "File");
    for port in &mut container.ports {
        // `+default="TCP"` on ContainerPort.Protocol.
        default_str(&mut port.protocol, "TCP");
    }
    for env in &mut container.env {
        if let Some(field_ref) = env.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            default_str(&mut field_ref.api_version, "v1");
        }
    }
    round_up_to_milli(&mut container.resources.limits);
    round_up_to_milli(&mut container.resources.requests);
    for probe in [
        &mut container.liveness_probe,
        &mut container.readiness_probe,
        &mut container.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        default_probe(probe);
    }
    if let Some(Value::Map(lifecycle)) = &mut container.lifecycle {
        for hook in ["postStart", "preStop"] {
            if let Some(Value::Map(handler)) = lifecycle.get_mut(hook)
                && let Some(Value::Map(http_get)) = handler.get_mut("httpGet")
            {
                value_default_str(http_get, "path", "/");
                value_default_str(http_get, "scheme", "HTTP");
            }
        }
    }
}

/// upstream `SetDefaults_Probe`, `SetDefaults_HTTPGetAction` and the `+default=""` on
/// `GRPCAction.Service`.
fn default_probe(probe: &mut Probe) {
    default_nonzero(&mut probe.timeout_seconds, 1);
    default_nonzero(&mut probe.period_seconds, 10);
    default_nonzero(&mut probe.success_threshold, 1);
    default_nonzero(&mut probe.failure_threshold, 3);
    if let Some(http_get) = &mut probe.http_get {
        default_str(&mut http_get.path, "/");
        default_str(&mut http_get.scheme, "HTTP");
    }
    if let Some(grpc) = &mut probe.grpc {
        grpc.service.get_or_insert_with(String::new);
    }
}

/// The image pull policy upstream's `SetDefaults_Container` gives an image: `Always` when its
/// tag is `latest` or it has neither tag nor digest (read as `:latest`), `IfNotPresent`
/// otherwise — including for a reference that does not parse, whose tag upstream reads as
/// empty.
pub fn pull_policy_for(image: &str) -> &'static str {
    match image_reference(image) {
        Some(
            ImageReference {
                tag: Some("latest"),
                ..
            }
            | ImageReference {
                tag: None,
                digest: false,
            },
        ) => "Always",
        _ => "IfNotPresent",
    }
}

/// The parts of an image reference the pull policy depends on.
#[derive(Debug, PartialEq, Eq)]
struct ImageReference<'a> {
    tag: Option<&'a str>,
    digest: bool,
}

/// Longest repository name (distribution/reference `NameTotalLengthMax`).
const IMAGE_NAME_BYTES_MAX: usize = 255;
/// Longest tag: one word character then up to 127 more (distribution/reference `tag`).
const IMAGE_TAG_BYTES_MAX: usize = 128;

/// Parses `image` as distribution/reference's `ParseNormalizedNamed` does (the grammar in
/// its `regexp.go`: `[domain/]path[:tag][@digest]`), or `None` where it would fail.
fn image_reference(image: &str) -> Option<ImageReference<'_>> {
    let (name_and_tag, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest
        && !is_valid_digest(digest)
    {
        return None;
    }
    // A tag follows the last ':' that comes after the last '/' (a ':' before it is a port).
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_and_tag[..last_slash + i],
            Some(&name_and_tag[last_slash + i + 1..]),
        ),
        None => (name_and_tag, None),
    };
    if let Some(tag) = tag
        && !is_valid_tag(tag)
    {
        return None;
    }
    // ParseNormalizedNamed refuses a bare 64-hex identifier and upper case in the path.
    if name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    let (domain, path) = split_domain(name);
    if let Some(domain) = domain
        && !is_valid_domain(domain)
    {
        return None;
    }
    let normalized_len = domain.map_or("docker.io/library/".len(), |d| d.len() + 1) + path.len();
    if normalized_len > IMAGE_NAME_BYTES_MAX || !path.split('/').all(is_valid_path_component) {
        return None;
    }
    Some(ImageReference {
        tag,
        digest: digest.is_some(),
    })
}

/// distribution/reference `splitDockerDomain`: the first segment is a domain when it contains
/// `.` or `:`, is `localhost`, or has upper case; otherwise the name is on Docker Hub.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// `domain-component ('.' domain-component)* (':' port)?`, or a bracketed IPv6 address with
/// an optional port.
fn is_valid_domain(domain: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
        };
        let address_ok =
            !address.is_empty() && address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        (address_ok, port)
    } else {
        let (host, port) = match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        };
        (host.split('.').all(is_valid_domain_component), port)
    };
    host_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_valid_domain_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with separators `.`, `_`, `__` or one or more `-`.
fn is_valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let dashes = separator.bytes().all(|b| b == b'-');
        if !(dashes || matches!(separator, "." | "_" | "__")) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`.
fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= IMAGE_TAG_BYTES_MAX
        && word(bytes[0])
        && bytes.iter().all(|b| word(*b) || *b == b'.' || *b == b'-')
}

/// `algorithm:encoded` for an algorithm the API server links (sha256, sha384, sha512; the
/// go-digest `Validate` check), with its exact lowercase-hex length.
fn is_valid_digest(digest: &str) -> bool {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return false;
    };
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    encoded.len() == length
        && encoded
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// upstream `SetDefaults_Volume` and the defaulters of each volume source.
fn default_volume(volume: &mut Volume) {
    if !has_source(volume) {
        volume.empty_dir = Some(EmptyDirVolumeSource::default());
    }
    if let Some(host_path) = &mut volume.host_path {
        // upstream SetDefaults_HostPathVolumeSource: HostPathUnset.
        host_path.r#type.get_or_insert_with(String::new);
    }
    if let Some(secret) = &mut volume.secret {
        secret.default_mode.get_or_insert(VOLUME_DEFAULT_MODE);
    }
    if let Some(config_map) = &mut volume.config_map {
        config_map.default_mode.get_or_insert(VOLUME_DEFAULT_MODE);
    }
    if let Some(Value::Map(downward_api)) = &mut volume.downward_api {
        value_default(
            downward_api,
            "defaultMode",
            Value::Int(i64::from(VOLUME_DEFAULT_MODE)),
        );
        default_downward_api_items(downward_api);
    }
    if let Some(Value::Map(projected)) = &mut volume.projected {
        value_default(
            projected,
            "defaultMode",
            Value::Int(i64::from(VOLUME_DEFAULT_MODE)),
        );
        if let Some(Value::Seq(sources)) = projected.get_mut("sources") {
            for source in sources {
                let Value::Map(source) = source else { continue };
                if let Some(Value::Map(downward_api)) = source.get_mut("downwardAPI") {
                    default_downward_api_items(downward_api);
                }
                if let Some(Value::Map(token)) = source.get_mut("serviceAccountToken") {
                    value_default(
                        token,
                        "expirationSeconds",
                        Value::Int(TOKEN_EXPIRATION_SECONDS_DEFAULT),
                    );
                }
            }
        }
    }
    default_in_tree_sources(
        &mut volume.iscsi,
        &mut volume.rbd,
        &mut volume.azure_disk,
        &mut volume.scale_io,
    );
    if let Some(Value::Map(ephemeral)) = &mut volume.ephemeral
        && let Some(Value::Map(template)) = ephemeral.get_mut("volumeClaimTemplate")
        && let Some(Value::Map(spec)) = template.get_mut("spec")
    {
        value_default_str(spec, "volumeMode", "Filesystem");
    }
}

/// Whether a volume names a source (upstream `ptr.AllPtrFieldsNil(&obj.VolumeSource)`); an
/// explicit `null` counts as absent, as it decodes to a nil pointer upstream.
fn has_source(v: &Volume) -> bool {
    let present = |value: &Option<Value>| value.as_ref().is_some_and(|v| *v != Value::Null);
    v.host_path.is_some()
        || v.empty_dir.is_some()
        || v.secret.is_some()
        || v.persistent_volume_claim.is_some()
        || v.config_map.is_some()
        || [
            &v.gce_persistent_disk,
            &v.aws_elastic_block_store,
            &v.git_repo,
            &v.nfs,
            &v.iscsi,
            &v.glusterfs,
            &v.rbd,
            &v.flex_volume,
            &v.cinder,
            &v.cephfs,
            &v.flocker,
            &v.downward_api,
            &v.fc,
            &v.azure_file,
            &v.vsphere_volume,
            &v.quobyte,
            &v.azure_disk,
            &v.photon_persistent_disk,
            &v.projected,
            &v.portworx_volume,
            &v.scale_io,
            &v.storageos,
            &v.csi,
            &v.ephemeral,
            &v.image,
        ]
        .into_iter()
        .any(present)
}

/// `fieldRef.apiVersion: v1` on each item of a downward API source.
fn default_downward_api_items(downward_api: &mut BTreeMap<String, Value>) {
    if let Some(Value::Seq(items)) = downward_api.get_mut("items") {
        for item in items {
            if let Value::Map(item) = item
                && let Some(Value::Map(field_ref)) = item.get_mut("fieldRef")
            {
                value_default_str(field_ref, "apiVersion", "v1");
            }
        }
    }
}

/// The deprecated in-tree sources skiff carries verbatim, defaulted as upstream's
/// `SetDefaults_ISCSIVolumeSource`, `SetDefaults_RBDVolumeSource`,
/// `SetDefaults_AzureDiskVolumeSource` and `SetDefaults_ScaleIOVolumeSource` (and their
/// PersistentVolume twins, which default the same fields).
fn default_in_tree_sources(
    iscsi: &mut Option<Value>,
    rbd: &mut Option<Value>,
    azure_disk: &mut Option<Value>,
    scale_io: &mut Option<Value>,
) {
    if let Some(Value::Map(iscsi)) = iscsi {
        value_default_str(iscsi, "iscsiInterface", "default");
    }
    if let Some(Value::Map(rbd)) = rbd {
        value_default_str(rbd, "pool", "rbd");
        value_default_str(rbd, "user", "admin");
        value_default_str(rbd, "keyring", "/etc/ceph/keyring");
    }
    if let Some(Value::Map(azure_disk)) = azure_disk {
        value_default(azure_disk, "cachingMode", Value::String("ReadWrite".into()));
        value_default(azure_disk, "kind", Value::String("Shared".into()));
        value_default(azure_disk, "fsType", Value::String("ext4".into()));
        value_default(azure_disk, "readOnly", Value::Bool(false));
    }
    if let Some(Value::Map(scale_io)) = scale_io {
        value_default_str(scale_io, "storageMode", "ThinProvisioned");
        value_default_str(scale_io, "fsType", "xfs");
    }
}

/// Sets `key` when it is absent or `null` (upstream: a nil pointer).
fn value_default(map: &mut BTreeMap<String, Value>, key: &str, value: Value) {
    match map.get(key) {
        None | Some(Value::Null) => {
            map.insert(key.to_owned(), value);
        }
        Some(_) => {}
    }
}

/// Sets string `key` when it is absent, `null` or empty (upstream: `if x == ""`).
fn value_default_str(map: &mut BTreeMap<String, Value>, key: &str, value: &str) {
    match map.get(key) {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(_) => return,
    }
    map.insert(key.to_owned(), Value::String(value.to_owned()));
}

// ---------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------

/// upstream `SetDefaults_ReplicationController` and RC's `+default=1` on `replicas`.
fn default_replication_controller(rc: &mut ReplicationController) {
    if let Some(template) = &rc.spec.template {
        let labels = &template.metadata.labels;
        if !labels.is_empty() {
            if rc.spec.selector.is_empty() {
                rc.spec.selector.clone_from(labels);
            }
            if rc.metadata.labels.is_empty() {
                rc.metadata.labels.clone_from(labels);
            }
        }
    }
    rc.spec.replicas.get_or_insert(1);
    if let Some(template) = &mut rc.spec.template {
        default_pod_template(template);
    }
}

/// upstream apps/v1 `SetDefaults_ReplicaSet`.
fn default_replica_set(rs: &mut ReplicaSet) {
    rs.spec.replicas.get_or_insert(1);
    default_pod_template(&mut rs.spec.template);
}

/// upstream apps/v1 `SetDefaults_Deployment`.
fn default_deployment(deployment: &mut Deployment) {
    let spec = &mut deployment.spec;
    spec.replicas.get_or_insert(1);
    let strategy = &mut spec.strategy;
    default_str(&mut strategy.type_, "RollingUpdate");
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let rolling = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDeployment::default);
        rolling
            .max_unavailable
            .get_or_insert_with(|| IntOrString::String("25%".to_owned()));
        rolling
            .max_surge
            .get_or_insert_with(|| IntOrString::String("25%".to_owned()));
    }
    spec.revision_history_limit.get_or_insert(10);
    spec.progress_deadline_seconds.get_or_insert(600);
    default_pod_template(&mut spec.template);
}

/// upstream apps/v1 `SetDefaults_DaemonSet`.
fn default_daemon_set(ds: &mut DaemonSet) {
    let spec = &mut ds.spec;
    let strategy = &mut spec.update_strategy;
    default_str(&mut strategy.type_, "RollingUpdate");
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let rolling = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDaemonSet::default);
        rolling.max_unavailable.get_or_insert(IntOrString::Int(1));
        rolling.max_surge.get_or_insert(IntOrString::Int(0));
    }
    spec.revision_history_limit.get_or_insert(10);
    default_pod_template(&mut spec.template);
}

// ---------------------------------------------------------------------------------------------
// Services, config, nodes, storage
// ---------------------------------------------------------------------------------------------

/// upstream `SetDefaults_Service`.
fn default_service(service: &mut Service) {
    let spec = &mut service.spec;
    default_str(&mut spec.session_affinity, "None");
    match spec.session_affinity.as_deref() {
        Some("None") => spec.session_affinity_config = None,
        Some("ClientIP") => {
            let has_timeout = matches!(
                &spec.session_affinity_config,
                Some(Value::Map(config))
                    if matches!(config.get("clientIP"), Some(Value::Map(client_ip))
                        if !matches!(client_ip.get("timeoutSeconds"), None | Some(Value::Null)))
            );
            if !has_timeout {
                let client_ip = BTreeMap::from([(
                    "timeoutSeconds".to_owned(),
                    Value::Int(CLIENT_IP_AFFINITY_SECONDS_DEFAULT),
                )]);
                spec.session_affinity_config = Some(Value::Map(BTreeMap::from([(
                    "clientIP".to_owned(),
                    Value::Map(client_ip),
                )])));
            }
        }
        _ => {}
    }
    default_str(&mut spec.type_, "ClusterIP");
    for port in &mut spec.ports {
        default_str(&mut port.protocol, "TCP");
        match &port.target_port {
            None | Some(IntOrString::Int(0)) => {
                port.target_port = Some(IntOrString::Int(port.port));
            }
            Some(IntOrString::String(name)) if name.is_empty() => {
                port.target_port = Some(IntOrString::Int(port.port));
            }
            Some(_) => {}
        }
    }
    let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
    // upstream service.ExternallyAccessible.
    let externally_accessible = kind == "LoadBalancer"
        || kind == "NodePort"
        || (kind == "ClusterIP" && !spec.external_ips.is_empty());
    if externally_accessible {
        default_str(&mut spec.external_traffic_policy, "Cluster");
    }
    if spec.internal_traffic_policy.is_none()
        && matches!(kind, "NodePort" | "LoadBalancer" | "ClusterIP")
    {
        spec.internal_traffic_policy = Some("Cluster".to_owned());
    }
    if kind == "LoadBalancer" {
        spec.allocate_load_balancer_node_ports.get_or_insert(true);
        if let Some(Value::Map(load_balancer)) = &mut service.status.load_balancer
            && let Some(Value::Seq(ingress)) = load_balancer.get_mut("ingress")
        {
            for point in ingress {
                if let Value::Map(point) = point
                    && matches!(point.get("ip"), Some(Value::String(ip)) if !ip.is_empty())
                {
                    value_default(point, "ipMode", Value::String("VIP".to_owned()));
                }
            }
        }
    }
}

/// upstream `SetDefaults_Endpoints`.
fn default_endpoints(endpoints: &mut Endpoints) {
    for subset in &mut endpoints.subsets {
        for port in &mut subset.ports {
            default_str(&mut port.protocol, "TCP");
        }
    }
}

/// upstream `SetDefaults_Secret`.
fn default_secret(secret: &mut Secret) {
    default_str(&mut secret.type_, "Opaque");
}

/// upstream `SetDefaults_Namespace` (the name label, when there is a name) and
/// `SetDefaults_NamespaceStatus`.
fn default_namespace(namespace: &mut Namespace) {
    if let Some(name) = namespace.metadata.name.clone().filter(|n| !n.is_empty()) {
        namespace
            .metadata
            .labels
            .insert(LABEL_METADATA_NAME.to_owned(), name);
    }
    default_str(&mut namespace.status.phase, "Active");
}

/// upstream `SetDefaults_NodeStatus` and the resource lists' rounding.
fn default_node(node: &mut Node) {
    let status = &mut node.status;
    if status.allocatable.is_empty() && !status.capacity.is_empty() {
        status.allocatable.clone_from(&status.capacity);
    }
    round_up_to_milli(&mut status.capacity);
    round_up_to_milli(&mut status.allocatable);
}

/// upstream `SetDefaults_PersistentVolume` and the defaulters of its sources.
fn default_persistent_volume(pv: &mut PersistentVolume) {
    default_str(&mut pv.status.phase, "Pending");
    let spec = &mut pv.spec;
    default_str(&mut spec.persistent_volume_reclaim_policy, "Retain");
    spec.volume_mode
        .get_or_insert_with(|| "Filesystem".to_owned());
    round_up_to_milli(&mut spec.capacity);
    if let Some(host_path) = &mut spec.host_path {
        host_path.r#type.get_or_insert_with(String::new);
    }
    default_in_tree_sources(
        &mut spec.iscsi,
        &mut spec.rbd,
        &mut spec.azure_disk,
        &mut spec.scale_io,
    );
}

/// upstream `SetDefaults_PersistentVolumeClaim` and `SetDefaults_PersistentVolumeClaimSpec`.
fn default_persistent_volume_claim(pvc: &mut PersistentVolumeClaim) {
    default_str(&mut pvc.status.phase, "Pending");
    pvc.spec
        .volume_mode
        .get_or_insert_with(|| "Filesystem".to_owned());
    round_up_to_milli(&mut pvc.spec.resources.limits);
    round_up_to_milli(&mut pvc.spec.resources.requests);
    round_up_to_milli(&mut pvc.status.capacity);
    round_up_to_milli(&mut pvc.status.allocated_resources);
}

#[cfg(test)]
mod tests;
