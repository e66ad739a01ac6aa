//! proptest strategies for every kind skiff serves: realistic shapes (DNS names, label keys,
//! quantities, conditions) mixed with the values that break naive YAML/JSON writers (YAML 1.1
//! booleans and numbers, `: ` and `#`, leading spaces, newlines, document markers, unicode).
//!
//! Every value here round-trips: the five bugs these strategies once had to avoid (raw DEL and
//! C1 characters and very long keys in JSON, a preserved `null`, timestamps outside years
//! 0000..=9999, values nested deeper than the parser allows) are fixed and pinned by the
//! `regression_*` tests in `round_trip.rs`.

use std::collections::BTreeMap;

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use skiff_core::object::{
    Affinity, Bytes, ClusterRole, ClusterRoleBinding, ConfigMap, ConfigMapEnvSource,
    ConfigMapKeySelector, ConfigMapVolumeSource, Container, ContainerImage, ContainerPort,
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, DaemonEndpoint, DaemonSet, DaemonSetSpec, DaemonSetStatus,
    DaemonSetUpdateStrategy, Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus,
    DeploymentStrategy, EmptyDirVolumeSource, EndpointAddress, EndpointPort, EndpointSubset,
    Endpoints, EnvFromSource, EnvVar, EnvVarSource, Event, EventSeries, EventSource, ExecAction,
    GrpcAction, HostIp, HostPathVolumeSource, HttpGetAction, HttpHeader, IntOrString, KeyToPath,
    Lease, LeaseSpec, LocalObjectReference, MicroTime, Namespace, NamespaceSpec, NamespaceStatus,
    Node, NodeAddress, NodeAffinity, NodeCondition, NodeDaemonEndpoints, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, NodeSpec, NodeStatus, NodeSystemInfo, Object,
    ObjectFieldSelector, ObjectMeta, ObjectReference, OwnerReference, PersistentVolume,
    PersistentVolumeClaim, PersistentVolumeClaimCondition, PersistentVolumeClaimSpec,
    PersistentVolumeClaimStatus, PersistentVolumeClaimVolumeSource, PersistentVolumeSpec,
    PersistentVolumeStatus, Pod, PodAffinity, PodAffinityTerm, PodCondition, PodIp, PodSpec,
    PodStatus, PodTemplateSpec, PolicyRule, PreferredSchedulingTerm, Probe, ReplicaSet,
    ReplicaSetSpec, ReplicaSetStatus, ReplicationController, ReplicationControllerSpec,
    ReplicationControllerStatus, ResourceFieldSelector, ResourceRequirements, Role, RoleBinding,
    RoleRef, RollingUpdateDaemonSet, RollingUpdateDeployment, Secret, SecretEnvSource,
    SecretKeySelector, SecretVolumeSource, Service, ServiceAccount, ServicePort, ServiceSpec,
    ServiceStatus, StatusCondition, Subject, Taint, TcpSocketAction, Time, Toleration, Value,
    Volume, VolumeMount, VolumeResourceRequirements, WeightedPodAffinityTerm,
};
use skiff_core::quantity::Quantity;
use skiff_core::selector::{LabelSelector, LabelSelectorRequirement};

/// Items in a generated list or map: 0..=3 keeps objects readable when a case fails.
const ITEMS_MAX: usize = 3;
/// Nesting of a generated preserved [`Value`] below its field. The manifest parser allows 64
/// levels per document and a Pod already uses about 10.
const VALUE_DEPTH_MAX: u32 = 3;
/// Longest generated map key: real keys stop at 253 + 1 + 63; longer ones check that nothing
/// (JSON's reader included) limits key length.
const MAP_KEY_CHARS_MAX: usize = 2_048;

/// First second of year 0000 and last second of year 9999: the range RFC 3339 text can carry.
const TIME_MIN_UNIX_SECONDS: i64 = -62_167_219_200;
const TIME_MAX_UNIX_SECONDS: i64 = 253_402_300_799;
/// 2020-09-13 .. 2027-01-15: where real timestamps fall.
const TIME_RECENT_UNIX_SECONDS: std::ops::Range<i64> = 1_600_000_000..1_800_000_000;

/// Strings a YAML 1.1 reader would coerce (booleans, nulls, octal, hex, floats, sexagesimal,
/// dates) or that need quoting or escaping in YAML or JSON for another reason.
const TRICKY_STRINGS: &[&str] = &[
    "",
    "yes",
    "no",
    "Yes",
    "NO",
    "on",
    "off",
    "y",
    "n",
    "true",
    "False",
    "null",
    "Null",
    "~",
    "1.10",
    "0x1F",
    "012",
    "0o17",
    "1e3",
    "+1",
    "-0",
    "1_000",
    ".inf",
    "-.Inf",
    ".nan",
    "12:30:00",
    "2024-05-01",
    "2024-05-01T12:00:00Z",
    "a: b",
    "key:",
    ":",
    "#comment",
    "a #b",
    " leading space",
    "trailing space ",
    "  ",
    "multi\nline",
    "trailing newline\n",
    "\n",
    "\n\nblank lines\n\n",
    "a\n---\nb",
    "---",
    "...",
    "x\n...\ny",
    "- dash",
    "? question",
    "!tag",
    "&anchor",
    "*alias",
    "<<",
    "%directive",
    "@at",
    "`backtick",
    "|",
    ">-",
    "{flow: map}",
    "[flow, seq]",
    "'single'",
    "\"double\"",
    "it's",
    "back\\slash",
    "tab\there",
    "cr\r\nlf",
    "nul\u{0}byte",
    "esc\u{1b}[0m",
    "next\u{85}line",
    "line\u{2028}separator",
    "\u{feff}bom",
    "ünïcødé ✓",
    "日本語",
    "emoji 🚀",
    "\u{a0}nbsp",
];

/// Enum-like strings Kubernetes uses; generated alongside arbitrary text because the model
/// keeps them as `String`.
const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];
const CONDITION_STATUSES: &[&str] = &["True", "False", "Unknown"];
const POD_PHASES: &[&str] = &["Pending", "Running", "Succeeded", "Failed", "Unknown"];
const SELECTOR_OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist"];
const NODE_OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"];
const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
const ACCESS_MODES: &[&str] = &[
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];
const RESOURCE_NAMES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "storage",
    "pods",
    "nvidia.com/gpu",
    "hugepages-2Mi",
];
const API_VERSIONS: &[&str] = &["v1", "apps/v1", "rbac.authorization.k8s.io/v1", "batch/v1"];
const KINDS: &[&str] = &["Pod", "ReplicaSet", "Deployment", "Node", "Secret", "Job"];
const VERBS: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete", "*",
];

/// Canonical and non-canonical spellings of quantities: suffixes of every family, exponents,
/// signs, fractions finer than nano, zero in each format, and values at the bound.
const QUANTITIES: &[&str] = &[
    "0",
    "1",
    "100m",
    "250m",
    "0.5",
    ".5",
    "5.",
    "1.5",
    "00100m",
    "+2",
    "-1",
    "-100m",
    "1Ki",
    "1536",
    "10000",
    "512Mi",
    "1Gi",
    "0.5Gi",
    "1.5Gi",
    "3Ti",
    "2Pi",
    "9Ei",
    "1024Ei",
    "0Ki",
    "1e3",
    "1E3",
    "5e-3",
    "1.5e+2",
    "12e6",
    "129e6",
    "128974848",
    "123Mi",
    "1n",
    "0.1n",
    "3.001n",
    "10u",
    "7k",
    "1M",
    "2G",
    "3T",
    "4P",
    "5E",
    "0.000000001",
    "1.0000000001",
    "99999999999999999999999999999",
];

fn one_of(list: &'static [&'static str]) -> BoxedStrategy<String> {
    select(list).prop_map(str::to_owned).boxed()
}

/// Any text: DNS-ish words, [`TRICKY_STRINGS`], and arbitrary unicode (controls included).
pub fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z][-a-z0-9.]{0,15}",
        3 => one_of(TRICKY_STRINGS),
        1 => "\\PC{0,12}",
        1 => vec(any::<char>(), 0..12).prop_map(|chars| chars.into_iter().collect()),
        1 => (one_of(TRICKY_STRINGS), one_of(TRICKY_STRINGS)).prop_map(|(a, b)| a + &b),
    ]
    .boxed()
}

/// Text that is sometimes long (annotation values, messages): long lines invite folding.
pub fn long_text() -> BoxedStrategy<String> {
    prop_oneof![
        8 => text(),
        1 => (one_of(TRICKY_STRINGS), 20..300usize).prop_map(|(s, n)| s.repeat(n)),
        1 => (20..400usize).prop_map(|n| "word ".repeat(n)),
    ]
    .boxed()
}

/// An enum-like field: mostly one of `list`, sometimes anything.
fn enum_text(list: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![4 => one_of(list), 1 => text()].boxed()
}

/// A DNS-1123 label or subdomain, as names mostly are.
pub fn dns_name() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?",
        1 => "[a-z0-9]{1,8}(\\.[a-z0-9]{1,8}){1,3}",
    ]
    .boxed()
}

/// A name, mostly DNS-shaped but sometimes any text (round trips do not depend on validity).
fn name() -> BoxedStrategy<String> {
    prop_oneof![4 => dns_name(), 1 => text()].boxed()
}

/// A label or annotation key (`app`, `example.com/tier`), or tricky text.
pub fn map_key() -> BoxedStrategy<String> {
    prop_oneof![
        8 => "([a-z0-9]{1,8}(\\.[a-z0-9]{1,8}){0,2}/)?[A-Za-z0-9]([-_.A-Za-z0-9]{0,12}[A-Za-z0-9])?",
        3 => one_of(TRICKY_STRINGS),
        2 => text(),
        1 => (64..=MAP_KEY_CHARS_MAX).prop_map(|n| "k".repeat(n)),
    ]
    .boxed()
}

/// Labels, annotations, selectors, data: a map of tricky keys and values.
pub fn string_map() -> BoxedStrategy<BTreeMap<String, String>> {
    btree_map(map_key(), long_text(), 0..=ITEMS_MAX).boxed()
}

fn strings() -> BoxedStrategy<Vec<String>> {
    vec(text(), 0..=ITEMS_MAX).boxed()
}

fn names() -> BoxedStrategy<Vec<String>> {
    vec(name(), 0..=ITEMS_MAX).boxed()
}

fn ip() -> BoxedStrategy<String> {
    prop_oneof![
        4 => (any::<[u8; 4]>()).prop_map(|[a, b, c, d]| format!("{a}.{b}.{c}.{d}")),
        1 => "fd00:[0-9a-f]{1,4}::[0-9a-f]{1,4}",
        1 => text(),
    ]
    .boxed()
}

fn uid() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        1 => text(),
    ]
    .boxed()
}

/// A timestamp, mostly recent, anywhere in years 0000..=9999 otherwise.
pub fn time() -> BoxedStrategy<Time> {
    prop_oneof![
        3 => TIME_RECENT_UNIX_SECONDS,
        1 => TIME_MIN_UNIX_SECONDS..=TIME_MAX_UNIX_SECONDS,
        1 => select(vec![TIME_MIN_UNIX_SECONDS, TIME_MAX_UNIX_SECONDS, 0, -1]),
    ]
    .prop_map(Time::from_unix_seconds)
    .boxed()
}

/// A microsecond timestamp in the same range as [`time`].
pub fn micro_time() -> BoxedStrategy<MicroTime> {
    (time(), 0..1_000_000i64)
        .prop_map(|(t, micros)| MicroTime::from_unix_micros(t.unix_seconds * 1_000_000 + micros))
        .boxed()
}

/// A quantity from [`QUANTITIES`], or a composed `<digits>[.<digits>]<suffix>`.
pub fn quantity() -> BoxedStrategy<Quantity> {
    let composed = (
        0u64..2_000_000,
        option::of("[0-9]{1,4}"),
        select(&[
            "", "m", "k", "M", "G", "Ki", "Mi", "Gi", "e3", "e-2", "E+1", "n", "u",
        ]),
        any::<bool>(),
    )
        .prop_map(|(whole, fraction, suffix, negative)| {
            let sign = if negative { "-" } else { "" };
            let fraction = fraction.map_or_else(String::new, |f| format!(".{f}"));
            format!("{sign}{whole}{fraction}{suffix}")
        });
    prop_oneof![3 => one_of(QUANTITIES), 2 => composed]
        .prop_map(|text| {
            Quantity::parse(&text).unwrap_or_else(|e| panic!("{text:?} is a quantity: {e}"))
        })
        .boxed()
}

fn quantity_map() -> BoxedStrategy<BTreeMap<String, Quantity>> {
    btree_map(
        prop_oneof![4 => one_of(RESOURCE_NAMES), 1 => map_key()],
        quantity(),
        0..=ITEMS_MAX,
    )
    .boxed()
}

/// An int, a percentage or a port name.
pub fn int_or_string() -> BoxedStrategy<IntOrString> {
    prop_oneof![
        2 => any::<i32>().prop_map(IntOrString::Int),
        1 => (1..65_536i32).prop_map(IntOrString::Int),
        2 => (0..=100u8).prop_map(|p| IntOrString::String(format!("{p}%"))),
        1 => "[a-z]{1,15}".prop_map(IntOrString::String),
        1 => "[0-9]{1,5}".prop_map(IntOrString::String),
        1 => text().prop_map(IntOrString::String),
    ]
    .boxed()
}

/// A label selector with `matchLabels` and `matchExpressions`.
pub fn label_selector() -> BoxedStrategy<LabelSelector> {
    let requirement = (map_key(), enum_text(SELECTOR_OPERATORS), strings()).prop_map(
        |(key, operator, values)| LabelSelectorRequirement {
            key,
            operator,
            values,
        },
    );
    (string_map(), vec(requirement, 0..=ITEMS_MAX))
        .prop_map(|(match_labels, match_expressions)| LabelSelector {
            match_labels,
            match_expressions,
        })
        .boxed()
}

/// A float that JSON can carry: any finite value, and the awkward ones by name.
fn finite_float() -> BoxedStrategy<f64> {
    use proptest::num::f64 as f;
    prop_oneof![
        3 => f::NORMAL | f::SUBNORMAL | f::ZERO | f::POSITIVE | f::NEGATIVE,
        1 => select(vec![
            0.5, -0.5, 1.0, -1.0, 0.1, 1e300, -1.5e-300, 5e-324, 1e16, 1.234_567_890_123_456_8e17,
            f64::MAX, f64::MIN, f64::MIN_POSITIVE, f64::EPSILON, 2.5e-8, -0.0,
        ]),
        1 => (-1_000_000i64..1_000_000, -20..20i32)
            .prop_map(|(m, e)| format!("{m}e{e}").parse::<f64>().expect("a float")),
    ]
    .boxed()
}

/// Any [`Value`] leaf.
fn value_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => any::<i64>().prop_map(Value::Int),
        1 => (i64::MAX.unsigned_abs() + 1..=u64::MAX).prop_map(Value::UInt),
        1 => Just(Value::UInt(u64::MAX)),
        2 => finite_float().prop_map(Value::Float),
        3 => long_text().prop_map(Value::String),
    ]
    .boxed()
}

/// Any [`Value`], nested up to [`VALUE_DEPTH_MAX`] levels. `UInt` only holds integers above
/// `i64::MAX`, as parsing produces.
pub fn value() -> BoxedStrategy<Value> {
    value_leaf()
        .prop_recursive(VALUE_DEPTH_MAX, 24, 3, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..=ITEMS_MAX).prop_map(Value::Seq),
                btree_map(map_key(), inner, 0..=ITEMS_MAX).prop_map(Value::Map),
            ]
        })
        .boxed()
}

/// A preserved field's value: mostly a map as real ones are; an explicit `null` is kept too.
pub fn preserved() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => btree_map(map_key(), value(), 0..=ITEMS_MAX).prop_map(Value::Map),
        1 => vec(value(), 0..=ITEMS_MAX).prop_map(Value::Seq),
        1 => value(),
    ]
    .boxed()
}

fn maybe_preserved() -> BoxedStrategy<Option<Value>> {
    option::of(preserved()).boxed()
}

// ---------------------------------------------------------------------------------------------
// Metadata and references
// ---------------------------------------------------------------------------------------------

fn owner_reference() -> BoxedStrategy<OwnerReference> {
    (
        enum_text(API_VERSIONS),
        enum_text(KINDS),
        name(),
        uid(),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
    )
        .prop_map(
            |(api_version, kind, name, uid, controller, block_owner_deletion)| OwnerReference {
                api_version,
                kind,
                name,
                uid,
                controller,
                block_owner_deletion,
            },
        )
        .boxed()
}

/// Object metadata with every field sometimes set.
pub fn object_meta() -> BoxedStrategy<ObjectMeta> {
    (
        (
            option::of(name()),
            option::of("[a-z]{1,10}-"),
            option::of(name()),
            option::of(uid()),
            option::of(prop_oneof!["[0-9]{1,12}", text()]),
            option::of(any::<i64>()),
            option::of(time()),
            option::of(time()),
        ),
        (
            option::of(any::<i64>()),
            string_map(),
            string_map(),
            vec(owner_reference(), 0..=ITEMS_MAX),
            prop_oneof![
                vec(one_of(&["kubernetes", "foregroundDeletion"]), 0..=2),
                names()
            ],
            maybe_preserved(),
            option::of(text()),
        ),
    )
        .prop_map(
            |(
                (
                    name,
                    generate_name,
                    namespace,
                    uid,
                    resource_version,
                    generation,
                    creation_timestamp,
                    deletion_timestamp,
                ),
                (
                    deletion_grace_period_seconds,
                    labels,
                    annotations,
                    owner_references,
                    finalizers,
                    managed_fields,
                    self_link,
                ),
            )| ObjectMeta {
                name,
                generate_name,
                namespace,
                uid,
                resource_version,
                generation,
                creation_timestamp,
                deletion_timestamp,
                deletion_grace_period_seconds,
                labels,
                annotations,
                owner_references,
                finalizers,
                managed_fields,
                self_link,
            },
        )
        .boxed()
}

fn object_reference() -> BoxedStrategy<ObjectReference> {
    (
        option::of(enum_text(KINDS)),
        option::of(name()),
        option::of(name()),
        option::of(uid()),
        option::of(enum_text(API_VERSIONS)),
        option::of("[0-9]{1,8}"),
        option::of(prop_oneof!["spec\\.containers\\{[a-z]{1,8}\\}", text()]),
    )
        .prop_map(
            |(kind, namespace, name, uid, api_version, resource_version, field_path)| {
                ObjectReference {
                    kind,
                    namespace,
                    name,
                    uid,
                    api_version,
                    resource_version,
                    field_path,
                }
            },
        )
        .boxed()
}

fn local_object_reference() -> BoxedStrategy<LocalObjectReference> {
    option::of(name())
        .prop_map(|name| LocalObjectReference { name })
        .boxed()
}

fn status_condition() -> BoxedStrategy<StatusCondition> {
    (
        enum_text(&["Available", "Progressing", "ReplicaFailure"]),
        enum_text(CONDITION_STATUSES),
        option::of(time()),
        option::of(text()),
        option::of(long_text()),
    )
        .prop_map(
            |(type_, status, last_transition_time, reason, message)| StatusCondition {
                type_,
                status,
                last_transition_time,
                reason,
                message,
            },
        )
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Pod and what it embeds
// ---------------------------------------------------------------------------------------------

fn container_port() -> BoxedStrategy<ContainerPort> {
    (
        option::of("[a-z]{1,15}"),
        option::of(any::<i32>()),
        any::<i32>(),
        option::of(enum_text(PROTOCOLS)),
        option::of(ip()),
    )
        .prop_map(
            |(name, host_port, container_port, protocol, host_ip)| ContainerPort {
                name,
                host_port,
                container_port,
                protocol,
                host_ip,
            },
        )
        .boxed()
}

fn env_var_source() -> BoxedStrategy<EnvVarSource> {
    prop_oneof![
        (
            option::of(enum_text(API_VERSIONS)),
            enum_text(&["metadata.name", "status.podIP"])
        )
            .prop_map(|(api_version, field_path)| EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version,
                    field_path
                }),
                ..EnvVarSource::default()
            }),
        (
            option::of(name()),
            enum_text(RESOURCE_NAMES),
            option::of(quantity())
        )
            .prop_map(|(container_name, resource, divisor)| EnvVarSource {
                resource_field_ref: Some(ResourceFieldSelector {
                    container_name,
                    resource,
                    divisor,
                }),
                ..EnvVarSource::default()
            }),
        (option::of(name()), map_key(), option::of(any::<bool>())).prop_map(
            |(name, key, optional)| EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name,
                    key,
                    optional
                }),
                ..EnvVarSource::default()
            }
        ),
        (option::of(name()), map_key(), option::of(any::<bool>())).prop_map(
            |(name, key, optional)| EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name,
                    key,
                    optional
                }),
                ..EnvVarSource::default()
            }
        ),
        preserved().prop_map(|v| EnvVarSource {
            file_key_ref: Some(v),
            ..EnvVarSource::default()
        }),
    ]
    .boxed()
}

fn env_var() -> BoxedStrategy<EnvVar> {
    (
        "[A-Z_][A-Z0-9_]{0,12}",
        option::of(long_text()),
        option::of(env_var_source()),
    )
        .prop_map(|(name, value, value_from)| EnvVar {
            name,
            value,
            value_from,
        })
        .boxed()
}

fn env_from_source() -> BoxedStrategy<EnvFromSource> {
    (
        option::of(text()),
        option::of((option::of(name()), option::of(any::<bool>()))),
        option::of((option::of(name()), option::of(any::<bool>()))),
    )
        .prop_map(|(prefix, config_map_ref, secret_ref)| EnvFromSource {
            prefix,
            config_map_ref: config_map_ref
                .map(|(name, optional)| ConfigMapEnvSource { name, optional }),
            secret_ref: secret_ref.map(|(name, optional)| SecretEnvSource { name, optional }),
        })
        .boxed()
}

fn resource_requirements() -> BoxedStrategy<ResourceRequirements> {
    (quantity_map(), quantity_map(), maybe_preserved())
        .prop_map(|(limits, requests, claims)| ResourceRequirements {
            limits,
            requests,
            claims,
        })
        .boxed()
}

fn volume_mount() -> BoxedStrategy<VolumeMount> {
    (
        name(),
        option::of(any::<bool>()),
        option::of(enum_text(&["Disabled", "IfPossible", "Enabled"])),
        prop_oneof!["(/[a-z0-9]{1,8}){1,3}", text()],
        option::of(text()),
        option::of(enum_text(&["None", "HostToContainer", "Bidirectional"])),
        option::of(text()),
    )
        .prop_map(
            |(
                name,
                read_only,
                recursive_read_only,
                mount_path,
                sub_path,
                mount_propagation,
                sub_path_expr,
            )| VolumeMount {
                name,
                read_only,
                recursive_read_only,
                mount_path,
                sub_path,
                mount_propagation,
                sub_path_expr,
            },
        )
        .boxed()
}

fn probe() -> BoxedStrategy<Probe> {
    let handler = prop_oneof![
        strings().prop_map(|command| Probe {
            exec: Some(ExecAction { command }),
            ..Probe::default()
        }),
        (
            option::of(prop_oneof!["(/[a-z]{1,8}){0,3}", text()]),
            int_or_string(),
            option::of(ip()),
            option::of(enum_text(&["HTTP", "HTTPS"])),
            vec((text(), long_text()), 0..=ITEMS_MAX),
        )
            .prop_map(|(path, port, host, scheme, headers)| Probe {
                http_get: Some(HttpGetAction {
                    path,
                    port,
                    host,
                    scheme,
                    http_headers: headers
                        .into_iter()
                        .map(|(name, value)| HttpHeader { name, value })
                        .collect(),
                }),
                ..Probe::default()
            }),
        (int_or_string(), option::of(ip())).prop_map(|(port, host)| Probe {
            tcp_socket: Some(TcpSocketAction { port, host }),
            ..Probe::default()
        }),
        (any::<i32>(), option::of(text())).prop_map(|(port, service)| Probe {
            grpc: Some(GrpcAction { port, service }),
            ..Probe::default()
        }),
        Just(Probe::default()),
    ];
    (
        handler,
        option::of(any::<i32>()),
        option::of(any::<i32>()),
        option::of(any::<i32>()),
        option::of(any::<i32>()),
        option::of(any::<i32>()),
        option::of(any::<i64>()),
    )
        .prop_map(
            |(
                handler,
                initial_delay_seconds,
                timeout_seconds,
                period_seconds,
                success_threshold,
                failure_threshold,
                termination_grace_period_seconds,
            )| Probe {
                initial_delay_seconds,
                timeout_seconds,
                period_seconds,
                success_threshold,
                failure_threshold,
                termination_grace_period_seconds,
                ..handler
            },
        )
        .boxed()
}

fn container() -> BoxedStrategy<Container> {
    (
        (
            name(),
            option::of(prop_oneof!["[a-z]{1,10}(:[0-9]\\.[0-9]{1,2})?", text()]),
            strings(),
            strings(),
            option::of(text()),
            vec(container_port(), 0..=ITEMS_MAX),
            vec(env_from_source(), 0..=ITEMS_MAX),
            vec(env_var(), 0..=ITEMS_MAX),
        ),
        (
            resource_requirements(),
            maybe_preserved(),
            option::of(enum_text(&["Always"])),
            vec(volume_mount(), 0..=ITEMS_MAX),
            option::of(probe()),
            option::of(probe()),
            option::of(probe()),
            maybe_preserved(),
        ),
        (
            option::of(text()),
            option::of(enum_text(PULL_POLICIES)),
            maybe_preserved(),
            option::of(any::<bool>()),
            option::of(any::<bool>()),
            option::of(any::<bool>()),
        ),
    )
        .prop_map(
            |(
                (name, image, command, args, working_dir, ports, env_from, env),
                (
                    resources,
                    resize_policy,
                    restart_policy,
                    volume_mounts,
                    liveness_probe,
                    readiness_probe,
                    startup_probe,
                    lifecycle,
                ),
                (
                    termination_message_path,
                    image_pull_policy,
                    security_context,
                    stdin,
                    stdin_once,
                    tty,
                ),
            )| Container {
                name,
                image,
                command,
                args,
                working_dir,
                ports,
                env_from,
                env,
                resources,
                resize_policy,
                restart_policy,
                volume_mounts,
                liveness_probe,
                readiness_probe,
                startup_probe,
                lifecycle,
                termination_message_path,
                image_pull_policy,
                security_context,
                stdin,
                stdin_once,
                tty,
                ..Container::default()
            },
        )
        .boxed()
}

fn key_to_paths() -> BoxedStrategy<Vec<KeyToPath>> {
    vec(
        (map_key(), text(), option::of(any::<i32>())).prop_map(|(key, path, mode)| KeyToPath {
            key,
            path,
            mode,
        }),
        0..=ITEMS_MAX,
    )
    .boxed()
}

fn host_path() -> BoxedStrategy<HostPathVolumeSource> {
    (
        prop_oneof!["(/[a-z0-9]{1,8}){1,3}", text()],
        option::of(enum_text(&[
            "",
            "DirectoryOrCreate",
            "Directory",
            "File",
            "Socket",
        ])),
    )
        .prop_map(|(path, r#type)| HostPathVolumeSource { path, r#type })
        .boxed()
}

fn volume() -> BoxedStrategy<Volume> {
    let source = prop_oneof![
        host_path().prop_map(|s| Volume {
            host_path: Some(s),
            ..Volume::default()
        }),
        (
            option::of(enum_text(&["", "Memory"])),
            option::of(quantity())
        )
            .prop_map(|(medium, size_limit)| Volume {
                empty_dir: Some(EmptyDirVolumeSource { medium, size_limit }),
                ..Volume::default()
            }),
        (
            option::of(name()),
            key_to_paths(),
            option::of(any::<i32>()),
            option::of(any::<bool>())
        )
            .prop_map(|(secret_name, items, default_mode, optional)| Volume {
                secret: Some(SecretVolumeSource {
                    secret_name,
                    items,
                    default_mode,
                    optional,
                }),
                ..Volume::default()
            }),
        (
            option::of(name()),
            key_to_paths(),
            option::of(any::<i32>()),
            option::of(any::<bool>())
        )
            .prop_map(|(name, items, default_mode, optional)| Volume {
                config_map: Some(ConfigMapVolumeSource {
                    name,
                    items,
                    default_mode,
                    optional,
                }),
                ..Volume::default()
            }),
        (name(), option::of(any::<bool>())).prop_map(|(claim_name, read_only)| Volume {
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name,
                read_only,
            }),
            ..Volume::default()
        }),
        (preserved(), maybe_preserved()).prop_map(|(csi, nfs)| Volume {
            csi: Some(csi),
            nfs,
            ..Volume::default()
        }),
        (preserved(), maybe_preserved()).prop_map(|(projected, downward_api)| Volume {
            projected: Some(projected),
            downward_api,
            ..Volume::default()
        }),
    ];
    (name(), source)
        .prop_map(|(name, volume)| Volume { name, ..volume })
        .boxed()
}

fn node_selector_requirement() -> BoxedStrategy<NodeSelectorRequirement> {
    (map_key(), enum_text(NODE_OPERATORS), strings())
        .prop_map(|(key, operator, values)| NodeSelectorRequirement {
            key,
            operator,
            values,
        })
        .boxed()
}

fn node_selector_term() -> BoxedStrategy<NodeSelectorTerm> {
    (
        vec(node_selector_requirement(), 0..=ITEMS_MAX),
        vec(node_selector_requirement(), 0..=ITEMS_MAX),
    )
        .prop_map(|(match_expressions, match_fields)| NodeSelectorTerm {
            match_expressions,
            match_fields,
        })
        .boxed()
}

fn pod_affinity_term() -> BoxedStrategy<PodAffinityTerm> {
    (
        option::of(label_selector()),
        names(),
        enum_text(&["kubernetes.io/hostname", "topology.kubernetes.io/zone"]),
        option::of(label_selector()),
        strings(),
        strings(),
    )
        .prop_map(
            |(
                label_selector,
                namespaces,
                topology_key,
                namespace_selector,
                match_label_keys,
                mismatch_label_keys,
            )| PodAffinityTerm {
                label_selector,
                namespaces,
                topology_key,
                namespace_selector,
                match_label_keys,
                mismatch_label_keys,
            },
        )
        .boxed()
}

fn pod_affinity() -> BoxedStrategy<PodAffinity> {
    (
        vec(pod_affinity_term(), 0..=2),
        vec(
            (any::<i32>(), pod_affinity_term()).prop_map(|(weight, pod_affinity_term)| {
                WeightedPodAffinityTerm {
                    weight,
                    pod_affinity_term,
                }
            }),
            0..=2,
        ),
    )
        .prop_map(|(required, preferred)| PodAffinity {
            required_during_scheduling_ignored_during_execution: required,
            preferred_during_scheduling_ignored_during_execution: preferred,
        })
        .boxed()
}

fn affinity() -> BoxedStrategy<Affinity> {
    let node_affinity = (
        option::of(
            vec(node_selector_term(), 0..=ITEMS_MAX).prop_map(|node_selector_terms| NodeSelector {
                node_selector_terms,
            }),
        ),
        vec(
            (1..=100i32, node_selector_term())
                .prop_map(|(weight, preference)| PreferredSchedulingTerm { weight, preference }),
            0..=2,
        ),
    )
        .prop_map(|(required, preferred)| NodeAffinity {
            required_during_scheduling_ignored_during_execution: required,
            preferred_during_scheduling_ignored_during_execution: preferred,
        });
    (
        option::of(node_affinity),
        option::of(pod_affinity()),
        option::of(pod_affinity()),
    )
        .prop_map(
            |(node_affinity, pod_affinity, pod_anti_affinity)| Affinity {
                node_affinity,
                pod_affinity,
                pod_anti_affinity,
            },
        )
        .boxed()
}

fn toleration() -> BoxedStrategy<Toleration> {
    (
        option::of(map_key()),
        option::of(enum_text(&["Exists", "Equal"])),
        option::of(text()),
        option::of(enum_text(TAINT_EFFECTS)),
        option::of(any::<i64>()),
    )
        .prop_map(
            |(key, operator, value, effect, toleration_seconds)| Toleration {
                key,
                operator,
                value,
                effect,
                toleration_seconds,
            },
        )
        .boxed()
}

fn taint() -> BoxedStrategy<Taint> {
    (
        map_key(),
        option::of(text()),
        enum_text(TAINT_EFFECTS),
        option::of(time()),
    )
        .prop_map(|(key, value, effect, time_added)| Taint {
            key,
            value,
            effect,
            time_added,
        })
        .boxed()
}

/// A pod spec with most fields sometimes set, 0..=3 containers included.
#[allow(
    clippy::too_many_lines,
    reason = "one line per generated field (32 of them); splitting would only scatter them"
)]
pub fn pod_spec() -> BoxedStrategy<PodSpec> {
    (
        (
            vec(volume(), 0..=ITEMS_MAX),
            vec(container(), 0..=1),
            vec(container(), 0..=ITEMS_MAX),
            maybe_preserved(),
            option::of(enum_text(RESTART_POLICIES)),
            option::of(any::<i64>()),
            option::of(any::<i64>()),
            option::of(enum_text(DNS_POLICIES)),
        ),
        (
            string_map(),
            option::of(name()),
            option::of(any::<bool>()),
            option::of(name()),
            option::of(any::<bool>()),
            option::of(any::<bool>()),
            option::of(any::<bool>()),
            maybe_preserved(),
        ),
        (
            vec(local_object_reference(), 0..=ITEMS_MAX),
            option::of(name()),
            option::of(name()),
            option::of(affinity()),
            option::of(text()),
            vec(toleration(), 0..=ITEMS_MAX),
            maybe_preserved(),
            option::of(any::<i32>()),
        ),
        (
            maybe_preserved(),
            maybe_preserved(),
            option::of(any::<bool>()),
            maybe_preserved(),
            option::of(resource_requirements()),
            maybe_preserved(),
            option::of(text()),
            option::of(enum_text(&["PreemptLowerPriority", "Never"])),
        ),
    )
        .prop_map(
            |(
                (
                    volumes,
                    init_containers,
                    containers,
                    ephemeral_containers,
                    restart_policy,
                    termination_grace_period_seconds,
                    active_deadline_seconds,
                    dns_policy,
                ),
                (
                    node_selector,
                    service_account_name,
                    automount_service_account_token,
                    node_name,
                    host_network,
                    host_pid,
                    host_ipc,
                    security_context,
                ),
                (
                    image_pull_secrets,
                    hostname,
                    subdomain,
                    affinity,
                    scheduler_name,
                    tolerations,
                    host_aliases,
                    priority,
                ),
                (
                    dns_config,
                    topology_spread_constraints,
                    set_hostname_as_fqdn,
                    overhead,
                    resources,
                    scheduling_gates,
                    runtime_class_name,
                    preemption_policy,
                ),
            )| PodSpec {
                volumes,
                init_containers,
                containers,
                ephemeral_containers,
                restart_policy,
                termination_grace_period_seconds,
                active_deadline_seconds,
                dns_policy,
                node_selector,
                service_account_name,
                automount_service_account_token,
                node_name,
                host_network,
                host_pid,
                host_ipc,
                security_context,
                image_pull_secrets,
                hostname,
                subdomain,
                affinity,
                scheduler_name,
                tolerations,
                host_aliases,
                priority,
                dns_config,
                topology_spread_constraints,
                set_hostname_as_fqdn,
                overhead,
                resources,
                scheduling_gates,
                runtime_class_name,
                preemption_policy,
                ..PodSpec::default()
            },
        )
        .boxed()
}

fn container_state() -> BoxedStrategy<ContainerState> {
    (
        option::of(
            (option::of(text()), option::of(long_text()))
                .prop_map(|(reason, message)| ContainerStateWaiting { reason, message }),
        ),
        option::of(option::of(time()).prop_map(|started_at| ContainerStateRunning { started_at })),
        option::of(
            (
                any::<i32>(),
                option::of(any::<i32>()),
                option::of(text()),
                option::of(long_text()),
                option::of(time()),
                option::of(time()),
                option::of("containerd://[0-9a-f]{16}"),
            )
                .prop_map(
                    |(
                        exit_code,
                        signal,
                        reason,
                        message,
                        started_at,
                        finished_at,
                        container_id,
                    )| {
                        ContainerStateTerminated {
                            exit_code,
                            signal,
                            reason,
                            message,
                            started_at,
                            finished_at,
                            container_id,
                        }
                    },
                ),
        ),
    )
        .prop_map(|(waiting, running, terminated)| ContainerState {
            waiting,
            running,
            terminated,
        })
        .boxed()
}

fn container_status() -> BoxedStrategy<ContainerStatus> {
    (
        (
            name(),
            option::of(container_state()),
            option::of(container_state()),
            any::<bool>(),
            any::<i32>(),
            text(),
            text(),
            option::of(text()),
        ),
        (
            option::of(any::<bool>()),
            quantity_map(),
            option::of(resource_requirements()),
            maybe_preserved(),
            maybe_preserved(),
            option::of(enum_text(&["SIGTERM", "SIGKILL"])),
        ),
    )
        .prop_map(
            |(
                (name, state, last_state, ready, restart_count, image, image_id, container_id),
                (started, allocated_resources, resources, volume_mounts, user, stop_signal),
            )| ContainerStatus {
                name,
                state,
                last_state,
                ready,
                restart_count,
                image,
                image_id,
                container_id,
                started,
                allocated_resources,
                resources,
                volume_mounts,
                user,
                stop_signal,
                ..ContainerStatus::default()
            },
        )
        .boxed()
}

fn pod_condition() -> BoxedStrategy<PodCondition> {
    (
        enum_text(&["PodScheduled", "Initialized", "ContainersReady", "Ready"]),
        option::of(any::<i64>()),
        enum_text(CONDITION_STATUSES),
        option::of(time()),
        option::of(time()),
        option::of(text()),
        option::of(long_text()),
    )
        .prop_map(
            |(
                r#type,
                observed_generation,
                status,
                last_probe_time,
                last_transition_time,
                reason,
                message,
            )| PodCondition {
                r#type,
                observed_generation,
                status,
                last_probe_time,
                last_transition_time,
                reason,
                message,
            },
        )
        .boxed()
}

fn pod_status() -> BoxedStrategy<PodStatus> {
    (
        (
            option::of(any::<i64>()),
            option::of(enum_text(POD_PHASES)),
            vec(pod_condition(), 0..=ITEMS_MAX),
            option::of(long_text()),
            option::of(text()),
            option::of(name()),
            option::of(ip()),
            vec(ip(), 0..=2),
        ),
        (
            option::of(ip()),
            vec(ip(), 0..=2),
            option::of(time()),
            vec(container_status(), 0..=1),
            vec(container_status(), 0..=2),
            option::of(enum_text(&["Guaranteed", "Burstable", "BestEffort"])),
            maybe_preserved(),
            maybe_preserved(),
        ),
    )
        .prop_map(
            |(
                (
                    observed_generation,
                    phase,
                    conditions,
                    message,
                    reason,
                    nominated_node_name,
                    host_ip,
                    host_ips,
                ),
                (
                    pod_ip,
                    pod_ips,
                    start_time,
                    init_container_statuses,
                    container_statuses,
                    qos_class,
                    resize,
                    resource_claim_statuses,
                ),
            )| PodStatus {
                observed_generation,
                phase,
                conditions,
                message,
                reason,
                nominated_node_name,
                host_ip,
                host_ips: host_ips.into_iter().map(|ip| HostIp { ip }).collect(),
                pod_ip,
                pod_ips: pod_ips.into_iter().map(|ip| PodIp { ip }).collect(),
                start_time,
                init_container_statuses,
                container_statuses,
                qos_class,
                resize,
                resource_claim_statuses,
                ..PodStatus::default()
            },
        )
        .boxed()
}

/// A pod: metadata, spec and status.
pub fn pod() -> BoxedStrategy<Pod> {
    (object_meta(), pod_spec(), pod_status())
        .prop_map(|(metadata, spec, status)| Pod {
            metadata,
            spec,
            status,
            ..Pod::default()
        })
        .boxed()
}

fn pod_template() -> BoxedStrategy<PodTemplateSpec> {
    (object_meta(), pod_spec())
        .prop_map(|(metadata, spec)| PodTemplateSpec { metadata, spec })
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------

fn replica_count() -> BoxedStrategy<i32> {
    prop_oneof![3 => 0..10i32, 1 => any::<i32>()].boxed()
}

/// A ReplicaSet.
pub fn replica_set() -> BoxedStrategy<ReplicaSet> {
    let spec = (
        option::of(replica_count()),
        option::of(any::<i32>()),
        option::of(label_selector()),
        prop_oneof![1 => Just(PodTemplateSpec::default()), 3 => pod_template()],
    )
        .prop_map(
            |(replicas, min_ready_seconds, selector, template)| ReplicaSetSpec {
                replicas,
                min_ready_seconds,
                selector,
                template,
            },
        );
    let status = (
        replica_count(),
        option::of(replica_count()),
        option::of(replica_count()),
        option::of(replica_count()),
        option::of(replica_count()),
        option::of(any::<i64>()),
        vec(status_condition(), 0..=ITEMS_MAX),
    )
        .prop_map(
            |(
                replicas,
                fully_labeled_replicas,
                ready_replicas,
                available_replicas,
                terminating_replicas,
                observed_generation,
                conditions,
            )| ReplicaSetStatus {
                replicas,
                fully_labeled_replicas,
                ready_replicas,
                available_replicas,
                terminating_replicas,
                observed_generation,
                conditions,
            },
        );
    (object_meta(), spec, status)
        .prop_map(|(metadata, spec, status)| ReplicaSet {
            metadata,
            spec,
            status,
            ..ReplicaSet::default()
        })
        .boxed()
}

/// A ReplicationController.
pub fn replication_controller() -> BoxedStrategy<ReplicationController> {
    let spec = (
        option::of(replica_count()),
        option::of(any::<i32>()),
        string_map(),
        option::of(pod_template()),
    )
        .prop_map(|(replicas, min_ready_seconds, selector, template)| {
            ReplicationControllerSpec {
                replicas,
                min_ready_seconds,
                selector,
                template,
            }
        });
    let status = (
        replica_count(),
        option::of(replica_count()),
        option::of(replica_count()),
        option::of(replica_count()),
        option::of(any::<i64>()),
        vec(status_condition(), 0..=ITEMS_MAX),
    )
        .prop_map(
            |(
                replicas,
                fully_labeled_replicas,
                ready_replicas,
                available_replicas,
                observed_generation,
                conditions,
            )| ReplicationControllerStatus {
                replicas,
                fully_labeled_replicas,
                ready_replicas,
                available_replicas,
                observed_generation,
                conditions,
            },
        );
    (object_meta(), spec, status)
        .prop_map(|(metadata, spec, status)| ReplicationController {
            metadata,
            spec,
            status,
            ..ReplicationController::default()
        })
        .boxed()
}

fn deployment_strategy() -> BoxedStrategy<DeploymentStrategy> {
    (
        option::of(enum_text(&["RollingUpdate", "Recreate"])),
        option::of(
            (option::of(int_or_string()), option::of(int_or_string())).prop_map(
                |(max_unavailable, max_surge)| RollingUpdateDeployment {
                    max_unavailable,
                    max_surge,
                },
            ),
        ),
    )
        .prop_map(|(type_, rolling_update)| DeploymentStrategy {
            type_,
            rolling_update,
        })
        .boxed()
}

fn deployment_spec() -> BoxedStrategy<DeploymentSpec> {
    (
        option::of(replica_count()),
        option::of(label_selector()),
        pod_template(),
        deployment_strategy(),
        option::of(any::<i32>()),
        option::of(any::<i32>()),
        option::of(any::<bool>()),
        option::of(any::<i32>()),
    )
        .prop_map(
            |(
                replicas,
                selector,
                template,
                strategy,
                min_ready_seconds,
                revision_history_limit,
                paused,
                progress_deadline_seconds,
            )| DeploymentSpec {
                replicas,
                selector,
                template,
                strategy,
                min_ready_seconds,
                revision_history_limit,
                paused,
                progress_deadline_seconds,
            },
        )
        .boxed()
}

fn deployment_status() -> BoxedStrategy<DeploymentStatus> {
    let condition = (
        enum_text(&["Available", "Progressing", "ReplicaFailure"]),
        enum_text(CONDITION_STATUSES),
        option::of(time()),
        option::of(time()),
        option::of(text()),
        option::of(long_text()),
    )
        .prop_map(
            |(type_, status, last_update_time, last_transition_time, reason, message)| {
                DeploymentCondition {
                    type_,
                    status,
                    last_update_time,
                    last_transition_time,
                    reason,
                    message,
                }
            },
        );
    (
        option::of(any::<i64>()),
        option::of(replica_count()),
        option::of(replica_count()),
        option::of(replica_count()),
        option::of(replica_count()),
        option::of(replica_count()),
        option::of(replica_count()),
        vec(condition, 0..=ITEMS_MAX),
        option::of(any::<i32>()),
    )
        .prop_map(
            |(
                observed_generation,
                replicas,
                updated_replicas,
                ready_replicas,
                available_replicas,
                unavailable_replicas,
                terminating_replicas,
                conditions,
                collision_count,
            )| DeploymentStatus {
                observed_generation,
                replicas,
                updated_replicas,
                ready_replicas,
                available_replicas,
                unavailable_replicas,
                terminating_replicas,
                conditions,
                collision_count,
            },
        )
        .boxed()
}

/// A Deployment with a rolling-update strategy of ints and percentages.
pub fn deployment() -> BoxedStrategy<Deployment> {
    (
        object_meta(),
        option::of(deployment_spec()),
        deployment_status(),
    )
        .prop_map(|(metadata, spec, status)| Deployment {
            metadata,
            spec: spec.unwrap_or_default(),
            status,
            ..Deployment::default()
        })
        .boxed()
}

/// A DaemonSet.
pub fn daemon_set() -> BoxedStrategy<DaemonSet> {
    let update_strategy = (
        option::of(enum_text(&["RollingUpdate", "OnDelete"])),
        option::of(
            (option::of(int_or_string()), option::of(int_or_string())).prop_map(
                |(max_unavailable, max_surge)| RollingUpdateDaemonSet {
                    max_unavailable,
                    max_surge,
                },
            ),
        ),
    )
        .prop_map(|(type_, rolling_update)| DaemonSetUpdateStrategy {
            type_,
            rolling_update,
        });
    let spec = (
        option::of(label_selector()),
        pod_template(),
        update_strategy,
        option::of(any::<i32>()),
        option::of(any::<i32>()),
    )
        .prop_map(
            |(selector, template, update_strategy, min_ready_seconds, revision_history_limit)| {
                DaemonSetSpec {
                    selector,
                    template,
                    update_strategy,
                    min_ready_seconds,
                    revision_history_limit,
                }
            },
        );
    let status = (
        (
            replica_count(),
            replica_count(),
            replica_count(),
            replica_count(),
        ),
        (
            option::of(any::<i64>()),
            option::of(replica_count()),
            option::of(replica_count()),
            option::of(replica_count()),
            option::of(any::<i32>()),
            vec(status_condition(), 0..=ITEMS_MAX),
        ),
    )
        .prop_map(
            |(
                (
                    current_number_scheduled,
                    number_misscheduled,
                    desired_number_scheduled,
                    number_ready,
                ),
                (
                    observed_generation,
                    updated_number_scheduled,
                    number_available,
                    number_unavailable,
                    collision_count,
                    conditions,
                ),
            )| DaemonSetStatus {
                current_number_scheduled,
                number_misscheduled,
                desired_number_scheduled,
                number_ready,
                observed_generation,
                updated_number_scheduled,
                number_available,
                number_unavailable,
                collision_count,
                conditions,
            },
        );
    (object_meta(), option::of(spec), status)
        .prop_map(|(metadata, spec, status)| DaemonSet {
            metadata,
            spec: spec.unwrap_or_default(),
            status,
            ..DaemonSet::default()
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Service and Endpoints
// ---------------------------------------------------------------------------------------------

fn service_port() -> BoxedStrategy<ServicePort> {
    (
        option::of("[a-z]{1,15}"),
        option::of(enum_text(PROTOCOLS)),
        option::of(enum_text(&["http", "kubernetes.io/h2c"])),
        any::<i32>(),
        option::of(int_or_string()),
        option::of(any::<i32>()),
    )
        .prop_map(
            |(name, protocol, app_protocol, port, target_port, node_port)| ServicePort {
                name,
                protocol,
                app_protocol,
                port,
                target_port,
                node_port,
            },
        )
        .boxed()
}

fn service_spec() -> BoxedStrategy<ServiceSpec> {
    (
        (
            option::of(enum_text(&[
                "ClusterIP",
                "NodePort",
                "LoadBalancer",
                "ExternalName",
            ])),
            string_map(),
            vec(service_port(), 0..=ITEMS_MAX),
            option::of(prop_oneof![1 => Just("None".to_owned()), 3 => ip()]),
            vec(ip(), 0..=2),
            vec(ip(), 0..=2),
            option::of(enum_text(&["None", "ClientIP"])),
            option::of(ip()),
        ),
        (
            vec(prop_oneof!["10\\.[0-9]{1,3}\\.0\\.0/16", text()], 0..=2),
            option::of(name()),
            option::of(enum_text(&["Cluster", "Local"])),
            option::of(enum_text(&["Cluster", "Local"])),
            option::of(any::<i32>()),
            option::of(any::<bool>()),
            maybe_preserved(),
            vec(enum_text(&["IPv4", "IPv6"]), 0..=2),
        ),
        (
            option::of(enum_text(&[
                "SingleStack",
                "PreferDualStack",
                "RequireDualStack",
            ])),
            option::of(any::<bool>()),
            option::of(text()),
            option::of(enum_text(&["PreferClose"])),
        ),
    )
        .prop_map(
            |(
                (
                    type_,
                    selector,
                    ports,
                    cluster_ip,
                    cluster_ips,
                    external_ips,
                    session_affinity,
                    load_balancer_ip,
                ),
                (
                    load_balancer_source_ranges,
                    external_name,
                    external_traffic_policy,
                    internal_traffic_policy,
                    health_check_node_port,
                    publish_not_ready_addresses,
                    session_affinity_config,
                    ip_families,
                ),
                (
                    ip_family_policy,
                    allocate_load_balancer_node_ports,
                    load_balancer_class,
                    traffic_distribution,
                ),
            )| ServiceSpec {
                type_,
                selector,
                ports,
                cluster_ip,
                cluster_ips,
                external_ips,
                session_affinity,
                load_balancer_ip,
                load_balancer_source_ranges,
                external_name,
                external_traffic_policy,
                internal_traffic_policy,
                health_check_node_port,
                publish_not_ready_addresses,
                session_affinity_config,
                ip_families,
                ip_family_policy,
                allocate_load_balancer_node_ports,
                load_balancer_class,
                traffic_distribution,
            },
        )
        .boxed()
}

/// A Service with ports, selectors, IPs and a preserved status.
pub fn service() -> BoxedStrategy<Service> {
    let spec = service_spec();
    let status = (maybe_preserved(), maybe_preserved()).prop_map(|(load_balancer, conditions)| {
        ServiceStatus {
            load_balancer,
            conditions,
        }
    });
    (object_meta(), spec, status)
        .prop_map(|(metadata, spec, status)| Service {
            metadata,
            spec,
            status,
            ..Service::default()
        })
        .boxed()
}

fn endpoint_address() -> BoxedStrategy<EndpointAddress> {
    (
        ip(),
        option::of(name()),
        option::of(name()),
        option::of(object_reference()),
    )
        .prop_map(|(ip, hostname, node_name, target_ref)| EndpointAddress {
            ip,
            hostname,
            node_name,
            target_ref,
        })
        .boxed()
}

/// Endpoints with ready and not-ready addresses and ports.
pub fn endpoints() -> BoxedStrategy<Endpoints> {
    let port = (
        option::of("[a-z]{1,15}"),
        any::<i32>(),
        option::of(enum_text(PROTOCOLS)),
        option::of(text()),
    )
        .prop_map(|(name, port, protocol, app_protocol)| EndpointPort {
            name,
            port,
            protocol,
            app_protocol,
        });
    let subset = (
        vec(endpoint_address(), 0..=ITEMS_MAX),
        vec(endpoint_address(), 0..=ITEMS_MAX),
        vec(port, 0..=ITEMS_MAX),
    )
        .prop_map(|(addresses, not_ready_addresses, ports)| EndpointSubset {
            addresses,
            not_ready_addresses,
            ports,
        });
    (object_meta(), vec(subset, 0..=ITEMS_MAX))
        .prop_map(|(metadata, subsets)| Endpoints {
            metadata,
            subsets,
            ..Endpoints::default()
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Node, Namespace, config, RBAC, coordination, events, storage
// ---------------------------------------------------------------------------------------------

fn node_spec() -> BoxedStrategy<NodeSpec> {
    (
        option::of(prop_oneof!["10\\.244\\.[0-9]{1,3}\\.0/24", text()]),
        vec(text(), 0..=2),
        option::of(text()),
        option::of(any::<bool>()),
        vec(taint(), 0..=ITEMS_MAX),
        maybe_preserved(),
        option::of(text()),
    )
        .prop_map(
            |(
                pod_cidr,
                pod_cidrs,
                provider_id,
                unschedulable,
                taints,
                config_source,
                external_id,
            )| {
                NodeSpec {
                    pod_cidr,
                    pod_cidrs,
                    provider_id,
                    unschedulable,
                    taints,
                    config_source,
                    external_id,
                }
            },
        )
        .boxed()
}

fn node_condition() -> BoxedStrategy<NodeCondition> {
    (
        enum_text(&["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"]),
        enum_text(CONDITION_STATUSES),
        option::of(time()),
        option::of(time()),
        option::of(text()),
        option::of(long_text()),
    )
        .prop_map(
            |(type_, status, last_heartbeat_time, last_transition_time, reason, message)| {
                NodeCondition {
                    type_,
                    status,
                    last_heartbeat_time,
                    last_transition_time,
                    reason,
                    message,
                }
            },
        )
        .boxed()
}

fn node_system_info() -> BoxedStrategy<NodeSystemInfo> {
    (
        (
            option::of(text()),
            option::of(uid()),
            option::of(uid()),
            option::of(text()),
            option::of(text()),
            option::of(text()),
        ),
        (
            option::of("v1\\.[0-9]{2}\\.[0-9]"),
            option::of(text()),
            option::of(enum_text(&["linux", "windows"])),
            option::of(enum_text(&["amd64", "arm64"])),
            maybe_preserved(),
        ),
    )
        .prop_map(
            |(
                (
                    machine_id,
                    system_uuid,
                    boot_id,
                    kernel_version,
                    os_image,
                    container_runtime_version,
                ),
                (kubelet_version, kube_proxy_version, operating_system, architecture, swap),
            )| NodeSystemInfo {
                machine_id,
                system_uuid,
                boot_id,
                kernel_version,
                os_image,
                container_runtime_version,
                kubelet_version,
                kube_proxy_version,
                operating_system,
                architecture,
                swap,
            },
        )
        .boxed()
}

fn node_status() -> BoxedStrategy<NodeStatus> {
    let address = (
        enum_text(&["InternalIP", "ExternalIP", "Hostname"]),
        prop_oneof![ip(), name()],
    )
        .prop_map(|(type_, address)| NodeAddress { type_, address });
    let image = (vec(text(), 0..=2), option::of(any::<i64>()))
        .prop_map(|(names, size_bytes)| ContainerImage { names, size_bytes });
    (
        (
            quantity_map(),
            quantity_map(),
            option::of(enum_text(&["Pending", "Running", "Terminated"])),
            vec(node_condition(), 0..=ITEMS_MAX),
            vec(address, 0..=ITEMS_MAX),
            any::<i32>(),
            node_system_info(),
            vec(image, 0..=ITEMS_MAX),
        ),
        (
            strings(),
            maybe_preserved(),
            maybe_preserved(),
            maybe_preserved(),
            maybe_preserved(),
            strings(),
        ),
    )
        .prop_map(
            |(
                (
                    capacity,
                    allocatable,
                    phase,
                    conditions,
                    addresses,
                    kubelet_port,
                    node_info,
                    images,
                ),
                (
                    volumes_in_use,
                    volumes_attached,
                    config,
                    runtime_handlers,
                    features,
                    declared_features,
                ),
            )| NodeStatus {
                capacity,
                allocatable,
                phase,
                conditions,
                addresses,
                daemon_endpoints: NodeDaemonEndpoints {
                    kubelet_endpoint: DaemonEndpoint { port: kubelet_port },
                },
                node_info,
                images,
                volumes_in_use,
                volumes_attached,
                config,
                runtime_handlers,
                features,
                declared_features,
            },
        )
        .boxed()
}

/// A Node with taints, capacity, conditions, addresses, system info and images.
pub fn node() -> BoxedStrategy<Node> {
    (object_meta(), node_spec(), node_status())
        .prop_map(|(metadata, spec, status)| Node {
            metadata,
            spec,
            status,
            ..Node::default()
        })
        .boxed()
}

/// A Namespace with finalizers, a phase and conditions.
pub fn namespace() -> BoxedStrategy<Namespace> {
    (
        object_meta(),
        names(),
        option::of(enum_text(&["Active", "Terminating"])),
        vec(status_condition(), 0..=ITEMS_MAX),
    )
        .prop_map(|(metadata, finalizers, phase, conditions)| Namespace {
            metadata,
            spec: NamespaceSpec { finalizers },
            status: NamespaceStatus { phase, conditions },
            ..Namespace::default()
        })
        .boxed()
}

/// Arbitrary bytes, as Secret `data` and ConfigMap `binaryData` hold.
fn bytes() -> BoxedStrategy<Bytes> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..64),
        1 => long_text().prop_map(String::into_bytes),
    ]
    .prop_map(Bytes)
    .boxed()
}

/// A ConfigMap with text and binary data.
pub fn config_map() -> BoxedStrategy<ConfigMap> {
    (
        object_meta(),
        string_map(),
        btree_map(map_key(), bytes(), 0..=ITEMS_MAX),
        option::of(any::<bool>()),
    )
        .prop_map(|(metadata, data, binary_data, immutable)| ConfigMap {
            metadata,
            data,
            binary_data,
            immutable,
            ..ConfigMap::default()
        })
        .boxed()
}

/// A Secret with arbitrary bytes in `data` and text in `stringData`.
pub fn secret() -> BoxedStrategy<Secret> {
    (
        object_meta(),
        btree_map(map_key(), bytes(), 0..=ITEMS_MAX),
        string_map(),
        option::of(enum_text(&[
            "Opaque",
            "kubernetes.io/tls",
            "kubernetes.io/dockerconfigjson",
        ])),
        option::of(any::<bool>()),
    )
        .prop_map(|(metadata, data, string_data, type_, immutable)| Secret {
            metadata,
            data,
            string_data,
            type_,
            immutable,
            ..Secret::default()
        })
        .boxed()
}

/// A ServiceAccount.
pub fn service_account() -> BoxedStrategy<ServiceAccount> {
    (
        object_meta(),
        vec(object_reference(), 0..=ITEMS_MAX),
        vec(local_object_reference(), 0..=ITEMS_MAX),
        option::of(any::<bool>()),
    )
        .prop_map(
            |(metadata, secrets, image_pull_secrets, automount_service_account_token)| {
                ServiceAccount {
                    metadata,
                    secrets,
                    image_pull_secrets,
                    automount_service_account_token,
                    ..ServiceAccount::default()
                }
            },
        )
        .boxed()
}

fn policy_rule() -> BoxedStrategy<PolicyRule> {
    (
        vec(enum_text(VERBS), 0..=ITEMS_MAX),
        vec(
            prop_oneof![Just(String::new()), enum_text(&["apps", "*"])],
            0..=2,
        ),
        vec(
            enum_text(&["pods", "pods/log", "deployments", "*"]),
            0..=ITEMS_MAX,
        ),
        names(),
        vec(prop_oneof!["(/[a-z]{1,8}){1,2}\\*?", text()], 0..=2),
    )
        .prop_map(
            |(verbs, api_groups, resources, resource_names, non_resource_urls)| PolicyRule {
                verbs,
                api_groups,
                resources,
                resource_names,
                non_resource_urls,
            },
        )
        .boxed()
}

/// A Role.
pub fn role() -> BoxedStrategy<Role> {
    (object_meta(), vec(policy_rule(), 0..=ITEMS_MAX))
        .prop_map(|(metadata, rules)| Role {
            metadata,
            rules,
            ..Role::default()
        })
        .boxed()
}

/// A ClusterRole with a preserved aggregation rule.
pub fn cluster_role() -> BoxedStrategy<ClusterRole> {
    (
        object_meta(),
        vec(policy_rule(), 0..=ITEMS_MAX),
        maybe_preserved(),
    )
        .prop_map(|(metadata, rules, aggregation_rule)| ClusterRole {
            metadata,
            rules,
            aggregation_rule,
            ..ClusterRole::default()
        })
        .boxed()
}

fn subjects_and_role_ref() -> BoxedStrategy<(Vec<Subject>, RoleRef)> {
    let subject = (
        enum_text(&["User", "Group", "ServiceAccount"]),
        option::of(enum_text(&["", "rbac.authorization.k8s.io"])),
        name(),
        option::of(name()),
    )
        .prop_map(|(kind, api_group, name, namespace)| Subject {
            kind,
            api_group,
            name,
            namespace,
        });
    let role_ref = (
        enum_text(&["rbac.authorization.k8s.io"]),
        enum_text(&["Role", "ClusterRole"]),
        name(),
    )
        .prop_map(|(api_group, kind, name)| RoleRef {
            api_group,
            kind,
            name,
        });
    (vec(subject, 0..=ITEMS_MAX), role_ref).boxed()
}

/// A RoleBinding.
pub fn role_binding() -> BoxedStrategy<RoleBinding> {
    (object_meta(), subjects_and_role_ref())
        .prop_map(|(metadata, (subjects, role_ref))| RoleBinding {
            metadata,
            subjects,
            role_ref,
            ..RoleBinding::default()
        })
        .boxed()
}

/// A ClusterRoleBinding.
pub fn cluster_role_binding() -> BoxedStrategy<ClusterRoleBinding> {
    (object_meta(), subjects_and_role_ref())
        .prop_map(|(metadata, (subjects, role_ref))| ClusterRoleBinding {
            metadata,
            subjects,
            role_ref,
            ..ClusterRoleBinding::default()
        })
        .boxed()
}

/// A Lease with microsecond timestamps.
pub fn lease() -> BoxedStrategy<Lease> {
    let spec = (
        option::of(name()),
        option::of(any::<i32>()),
        option::of(micro_time()),
        option::of(micro_time()),
        option::of(any::<i32>()),
        option::of(enum_text(&["OldestEmulationVersion"])),
        option::of(name()),
    )
        .prop_map(
            |(
                holder_identity,
                lease_duration_seconds,
                acquire_time,
                renew_time,
                lease_transitions,
                strategy,
                preferred_holder,
            )| LeaseSpec {
                holder_identity,
                lease_duration_seconds,
                acquire_time,
                renew_time,
                lease_transitions,
                strategy,
                preferred_holder,
            },
        );
    (object_meta(), spec)
        .prop_map(|(metadata, spec)| Lease {
            metadata,
            spec,
            ..Lease::default()
        })
        .boxed()
}

/// An Event with both the old (`firstTimestamp`) and new (`eventTime`, `series`) fields.
pub fn event() -> BoxedStrategy<Event> {
    (
        (
            object_meta(),
            object_reference(),
            option::of(enum_text(&["Scheduled", "Pulled", "BackOff"])),
            option::of(long_text()),
            (option::of(name()), option::of(name()))
                .prop_map(|(component, host)| EventSource { component, host }),
            option::of(time()),
            option::of(time()),
            option::of(any::<i32>()),
        ),
        (
            option::of(enum_text(&["Normal", "Warning"])),
            option::of(micro_time()),
            option::of(
                (option::of(any::<i32>()), option::of(micro_time())).prop_map(
                    |(count, last_observed_time)| EventSeries {
                        count,
                        last_observed_time,
                    },
                ),
            ),
            option::of(text()),
            option::of(object_reference()),
            option::of(name()),
            option::of(name()),
        ),
    )
        .prop_map(
            |(
                (
                    metadata,
                    involved_object,
                    reason,
                    message,
                    source,
                    first_timestamp,
                    last_timestamp,
                    count,
                ),
                (
                    type_,
                    event_time,
                    series,
                    action,
                    related,
                    reporting_component,
                    reporting_instance,
                ),
            )| Event {
                metadata,
                involved_object,
                reason,
                message,
                source,
                first_timestamp,
                last_timestamp,
                count,
                type_,
                event_time,
                series,
                action,
                related,
                reporting_component,
                reporting_instance,
                ..Event::default()
            },
        )
        .boxed()
}

/// A PersistentVolume with a host path or preserved CSI/NFS/local source.
pub fn persistent_volume() -> BoxedStrategy<PersistentVolume> {
    let spec = (
        (
            quantity_map(),
            vec(enum_text(ACCESS_MODES), 0..=2),
            option::of(object_reference()),
            option::of(enum_text(&["Retain", "Delete", "Recycle"])),
            option::of(prop_oneof![Just(String::new()), name()]),
            strings(),
            option::of(enum_text(&["Filesystem", "Block"])),
            maybe_preserved(),
        ),
        (
            option::of(name()),
            option::of(host_path()),
            maybe_preserved(),
            maybe_preserved(),
            maybe_preserved(),
        ),
    )
        .prop_map(
            |(
                (
                    capacity,
                    access_modes,
                    claim_ref,
                    persistent_volume_reclaim_policy,
                    storage_class_name,
                    mount_options,
                    volume_mode,
                    node_affinity,
                ),
                (volume_attributes_class_name, host_path, csi, nfs, local),
            )| PersistentVolumeSpec {
                capacity,
                access_modes,
                claim_ref,
                persistent_volume_reclaim_policy,
                storage_class_name,
                mount_options,
                volume_mode,
                node_affinity,
                volume_attributes_class_name,
                host_path,
                csi,
                nfs,
                local,
                ..PersistentVolumeSpec::default()
            },
        );
    let status = (
        option::of(enum_text(&[
            "Pending",
            "Available",
            "Bound",
            "Released",
            "Failed",
        ])),
        option::of(long_text()),
        option::of(text()),
        option::of(time()),
    )
        .prop_map(|(phase, message, reason, last_phase_transition_time)| {
            PersistentVolumeStatus {
                phase,
                message,
                reason,
                last_phase_transition_time,
            }
        });
    (object_meta(), spec, status)
        .prop_map(|(metadata, spec, status)| PersistentVolume {
            metadata,
            spec,
            status,
            ..PersistentVolume::default()
        })
        .boxed()
}

/// A PersistentVolumeClaim with a selector, requests and a status.
pub fn persistent_volume_claim() -> BoxedStrategy<PersistentVolumeClaim> {
    let spec = (
        vec(enum_text(ACCESS_MODES), 0..=2),
        option::of(label_selector()),
        (quantity_map(), quantity_map())
            .prop_map(|(limits, requests)| VolumeResourceRequirements { limits, requests }),
        option::of(name()),
        option::of(prop_oneof![Just(String::new()), name()]),
        option::of(enum_text(&["Filesystem", "Block"])),
        maybe_preserved(),
        maybe_preserved(),
        option::of(name()),
    )
        .prop_map(
            |(
                access_modes,
                selector,
                resources,
                volume_name,
                storage_class_name,
                volume_mode,
                data_source,
                data_source_ref,
                volume_attributes_class_name,
            )| PersistentVolumeClaimSpec {
                access_modes,
                selector,
                resources,
                volume_name,
                storage_class_name,
                volume_mode,
                data_source,
                data_source_ref,
                volume_attributes_class_name,
            },
        );
    let condition = (
        enum_text(&["Resizing", "FileSystemResizePending"]),
        enum_text(CONDITION_STATUSES),
        option::of(time()),
        option::of(time()),
        option::of(text()),
        option::of(long_text()),
    )
        .prop_map(
            |(type_, status, last_probe_time, last_transition_time, reason, message)| {
                PersistentVolumeClaimCondition {
                    type_,
                    status,
                    last_probe_time,
                    last_transition_time,
                    reason,
                    message,
                }
            },
        );
    let status = (
        option::of(enum_text(&["Pending", "Bound", "Lost"])),
        vec(enum_text(ACCESS_MODES), 0..=2),
        quantity_map(),
        vec(condition, 0..=ITEMS_MAX),
        quantity_map(),
        string_map(),
        option::of(name()),
        maybe_preserved(),
    )
        .prop_map(
            |(
                phase,
                access_modes,
                capacity,
                conditions,
                allocated_resources,
                allocated_resource_statuses,
                current_volume_attributes_class_name,
                modify_volume_status,
            )| PersistentVolumeClaimStatus {
                phase,
                access_modes,
                capacity,
                conditions,
                allocated_resources,
                allocated_resource_statuses,
                current_volume_attributes_class_name,
                modify_volume_status,
            },
        );
    (object_meta(), spec, status)
        .prop_map(|(metadata, spec, status)| PersistentVolumeClaim {
            metadata,
            spec,
            status,
            ..PersistentVolumeClaim::default()
        })
        .boxed()
}

/// An object of any served kind.
pub fn object() -> BoxedStrategy<Object> {
    prop_oneof![
        pod().prop_map(Object::from),
        replica_set().prop_map(Object::from),
        replication_controller().prop_map(Object::from),
        deployment().prop_map(Object::from),
        daemon_set().prop_map(Object::from),
        service().prop_map(Object::from),
        endpoints().prop_map(Object::from),
        node().prop_map(Object::from),
        namespace().prop_map(Object::from),
        config_map().prop_map(Object::from),
        secret().prop_map(Object::from),
        service_account().prop_map(Object::from),
        role().prop_map(Object::from),
        cluster_role().prop_map(Object::from),
        role_binding().prop_map(Object::from),
        cluster_role_binding().prop_map(Object::from),
        lease().prop_map(Object::from),
        event().prop_map(Object::from),
        persistent_volume().prop_map(Object::from),
        persistent_volume_claim().prop_map(Object::from),
    ]
    .boxed()
}
