//! Object validation: real upstream manifests validate clean, and each rule reports exactly
//! upstream's error (field path, type, value and wording), in field walk order.

use std::fmt::Write as _;
use std::path::PathBuf;

use skiff_core::manifest::{self, ManifestErrorKind};
use skiff_core::validate::validate_object;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Removes the indentation common to every non-blank line, so manifests can sit indented in
/// the test source.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|line| line.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses one manifest document and renders its validation errors.
fn errors(manifest: &str) -> Vec<String> {
    let objects = manifest::parse_str("test.yaml", &dedent(manifest))
        .unwrap_or_else(|e| panic!("test manifest does not parse: {e}"));
    assert_eq!(objects.len(), 1, "one document per test manifest");
    validate_object(&objects[0])
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// A pod named `web` with `spec` (indented YAML under `spec:`).
fn pod(spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n{}",
        indent(&dedent(spec), 2)
    )
}

fn indent(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines()
        .map(|line| format!("{pad}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

const DNS_LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric \
characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or \
'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

const DNS_SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
(e.g. 'example.com', regex used for validation is \
'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

const NAME_PART: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', \
and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric \
characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
'MyValue',  or 'my_value',  or '12345', regex used for validation is \
'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/// The conformance corpus: `$SKIFF_SHARED_DIR/conformance/manifests`, `$SKIFF_CONFORMANCE_DIR`,
/// or `../../shared/conformance/manifests` beside the repository.
fn conformance_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("SKIFF_SHARED_DIR")
            .map(|dir| PathBuf::from(dir).join("conformance").join("manifests")),
        std::env::var_os("SKIFF_CONFORMANCE_DIR").map(PathBuf::from),
        Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/conformance/manifests"
        ))),
    ];
    let found = candidates.into_iter().flatten().find(|dir| dir.is_dir());
    if found.is_none() {
        eprintln!(
            "note: conformance corpus not found (set SKIFF_SHARED_DIR); skipping its validation"
        );
    }
    found
}

/// Every `*.yaml` in `dir`, sorted.
fn yaml_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
}

/// Validates every served document of every file; returns how many documents were checked.
/// Documents of kinds skiff does not serve are skipped; any other parse error fails.
fn assert_all_valid(files: &[PathBuf]) -> usize {
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.display().to_string();
        let parsed = manifest::parse(&name, &text);
        for error in &parsed.errors {
            assert!(
                matches!(
                    error.kind,
                    ManifestErrorKind::UnsupportedKind { .. }
                        | ManifestErrorKind::WrongApiVersion { .. }
                ),
                "{error}"
            );
        }
        for document in &parsed.documents {
            checked += 1;
            for error in validate_object(&document.object) {
                failures.push(format!("{name} document {}: {error}", document.document));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "valid manifests rejected:\n{}",
        failures.join("\n")
    );
    checked
}

// ---------------------------------------------------------------------------------------------
// Real manifests are valid
// ---------------------------------------------------------------------------------------------

#[test]
fn every_example_manifest_is_valid() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"));
    let checked = assert_all_valid(&yaml_files(&dir));
    assert!(checked >= 5, "only {checked} example documents");
}

#[test]
fn every_conformance_manifest_of_a_served_kind_is_valid() {
    let Some(dir) = conformance_dir() else { return };
    let checked = assert_all_valid(&yaml_files(&dir));
    assert!(checked >= 60, "only {checked} conformance documents");
}

// ---------------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------------

#[test]
fn name_is_required_unless_generate_name_is_set() {
    assert_eq!(
        errors(
            "
            apiVersion: v1
            kind: ConfigMap
            metadata:
              labels: {app: web}
            "
        ),
        ["metadata.name: Required value: name or generateName is required"]
    );
    assert_eq!(
        errors(
            "
            apiVersion: v1
            kind: ConfigMap
            metadata:
              generateName: web-
            "
        ),
        Vec::<String>::new()
    );
}

#[test]
fn names_follow_the_rule_of_their_kind() {
    // Most kinds: DNS-1123 subdomain (dots allowed).
    assert_eq!(
        errors("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Web_App\n"),
        [format!(
            "metadata.name: Invalid value: \"Web_App\": {DNS_SUBDOMAIN}"
        )]
    );
    assert!(errors("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web.v2\n").is_empty());
    // Namespace: DNS-1123 label.
    assert_eq!(
        errors("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team.a\n"),
        ["metadata.name: Invalid value: \"team.a\": must not contain dots"]
    );
    // Service: DNS-1035 label (starts with a letter).
    assert_eq!(
        errors(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: 1web\nspec:\n  ports: [{port: 80}]\n"
        ),
        [
            "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case \
          alphanumeric characters or '-', start with an alphabetic character, and end with an \
          alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is \
          '[a-z]([-a-z0-9]*[a-z0-9])?')"
        ]
    );
    // RBAC: path segments (colons allowed, slashes not).
    assert!(
        errors(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: system:reader\n"
        )
        .is_empty()
    );
    assert_eq!(
        errors(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: a/b\n"
        ),
        ["metadata.name: Invalid value: \"a/b\": may not contain '/'"]
    );
}

#[test]
fn generate_name_is_a_prefix_that_may_end_with_a_dash() {
    assert_eq!(
        errors("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: Web-\n"),
        [format!(
            "metadata.generateName: Invalid value: \"Web-\": {DNS_SUBDOMAIN}"
        )]
    );
}

#[test]
fn namespace_is_a_dns_label_and_forbidden_on_cluster_scoped_kinds() {
    assert_eq!(
        errors("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: Team_A\n"),
        [format!(
            "metadata.namespace: Invalid value: \"Team_A\": {DNS_LABEL}"
        )]
    );
    assert_eq!(
        errors("apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\n  namespace: default\n"),
        ["metadata.namespace: Forbidden: not allowed on this type"]
    );
    // An empty namespace on a cluster-scoped kind is no namespace at all.
    assert!(
        errors("apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\n  namespace: \"\"\n")
            .is_empty()
    );
}

#[test]
fn label_keys_and_values_follow_label_syntax() {
    assert_eq!(
        errors(
            "
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: web
              labels:
                -app: web
                tier: front end
            "
        ),
        [
            format!("metadata.labels: Invalid value: \"-app\": {NAME_PART}"),
            format!("metadata.labels: Invalid value: \"front end\": {LABEL_VALUE}"),
        ]
    );
}

#[test]
fn annotation_keys_are_qualified_names_and_their_total_size_is_bounded() {
    assert_eq!(
        errors(
            "
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: web
              annotations:
                example.com/Owner: ops
                bad key: x
            "
        ),
        [format!(
            "metadata.annotations: Invalid value: \"bad key\": {NAME_PART}"
        )]
    );
    let big = "x".repeat(256 * 1024);
    assert_eq!(
        errors(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  annotations:\n    a: {big}\n"
        )),
        ["metadata.annotations: Too long: may not be more than 262144 bytes"]
    );
}

#[test]
fn owner_references_need_every_field_and_at_most_one_controller() {
    assert_eq!(
        errors(
            "
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: web
              ownerReferences:
              - {apiVersion: apps/, kind: ReplicaSet, name: a, uid: '1', controller: true}
              - {apiVersion: apps/v1, kind: '', name: b, uid: '', controller: true}
            "
        ),
        [
            "metadata.ownerReferences.apiVersion: Invalid value: \"apps/\": version must not be empty",
            "metadata.ownerReferences.kind: Invalid value: \"\": must not be empty",
            "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty",
            "metadata.ownerReferences: Invalid value: []v1.OwnerReference{v1.OwnerReference{\
             APIVersion:\"apps/\", Kind:\"ReplicaSet\", Name:\"a\", UID:\"1\", Controller:&true, \
             BlockOwnerDeletion:(*bool)(nil)}, v1.OwnerReference{APIVersion:\"apps/v1\", \
             Kind:\"\", Name:\"b\", UID:\"\", Controller:&true, BlockOwnerDeletion:(*bool)(nil)}}: \
             Only one reference can have Controller set to true. Found \"true\" in references for \
             ReplicaSet/a and /b",
        ]
    );
}

#[test]
fn finalizers_are_qualified_names_and_unprefixed_ones_must_be_standard() {
    assert_eq!(
        errors(
            "
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: web
              finalizers: [kubernetes, example.com/cleanup, cleanup, orphan, foregroundDeletion]
            "
        ),
        [
            "metadata.finalizers: Invalid value: []string{\"kubernetes\", \"example.com/cleanup\", \
             \"cleanup\", \"orphan\", \"foregroundDeletion\"}: finalizer orphan and \
             foregroundDeletion cannot be both set",
            "metadata.finalizers[2]: Invalid value: \"cleanup\": name is neither a standard \
             finalizer name nor is it fully qualified",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Pods: containers
// ---------------------------------------------------------------------------------------------

#[test]
fn a_pod_needs_at_least_one_container() {
    assert_eq!(
        errors(&pod("restartPolicy: Always\ncontainers: []")),
        ["spec.containers: Required value"]
    );
}

#[test]
fn container_image_is_required() {
    assert_eq!(
        errors(&pod("containers:\n- name: web\n")),
        ["spec.containers[0].image: Required value"]
    );
}

#[test]
fn container_names_are_dns_labels() {
    assert_eq!(
        errors(&pod(
            "containers:\n- {name: Web, image: nginx}\n- {name: '', image: nginx}\n"
        )),
        [
            format!("spec.containers[0].name: Invalid value: \"Web\": {DNS_LABEL}"),
            "spec.containers[1].name: Required value".to_owned(),
        ]
    );
}

#[test]
fn duplicate_container_names_are_rejected() {
    assert_eq!(
        errors(&pod("
            initContainers:
            - {name: setup, image: busybox}
            - {name: web, image: busybox}
            containers:
            - {name: web, image: nginx}
            - {name: web, image: nginx}
            ")),
        [
            "spec.containers[1].name: Duplicate value: \"web\"",
            "spec.initContainers[1].name: Duplicate value: \"web\"",
        ]
    );
}

#[test]
fn container_ports_are_numbers_in_range_with_known_protocols_and_unique_names() {
    assert_eq!(
        errors(&pod("
            containers:
            - name: web
              image: nginx
              ports:
              - {name: http, containerPort: 80}
              - {name: http, containerPort: 70000, hostPort: -1, protocol: HTTP}
              - {name: -Metrics-, containerPort: 0}
            ")),
        [
            "spec.containers[0].ports[1].name: Duplicate value: \"http\"",
            "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 \
             and 65535, inclusive",
            "spec.containers[0].ports[1].hostPort: Invalid value: -1: must be between 1 and \
             65535, inclusive",
            "spec.containers[0].ports[1].protocol: Unsupported value: \"HTTP\": supported \
             values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.containers[0].ports[2].name: Invalid value: \"-Metrics-\": must contain only \
             alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            "spec.containers[0].ports[2].name: Invalid value: \"-Metrics-\": must not begin or \
             end with a hyphen",
            "spec.containers[0].ports[2].containerPort: Required value",
        ]
    );
}

#[test]
fn host_ports_are_unique_per_protocol_and_address() {
    assert_eq!(
        errors(&pod(
            "
            containers:
            - name: a
              image: nginx
              ports: [{containerPort: 80, hostPort: 8080}]
            - name: b
              image: nginx
              ports: [{containerPort: 81, hostPort: 8080}, {containerPort: 82, hostPort: 8080, protocol: UDP}]
            "
        )),
        ["spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\""]
    );
}

#[test]
fn host_network_needs_host_ports_equal_to_container_ports() {
    assert_eq!(
        errors(&pod("
            hostNetwork: true
            containers:
            - name: web
              image: nginx
              ports: [{containerPort: 80}, {containerPort: 443, hostPort: 8443}]
            ")),
        [
            "spec.containers[0].ports[1].hostPort: Invalid value: 8443: must match \
             `containerPort` when `hostNetwork` is true"
        ]
    );
}

#[test]
fn env_var_names_are_printable_ascii_and_value_from_names_one_source() {
    assert_eq!(
        errors(&pod("
            containers:
            - name: web
              image: nginx
              env:
              - {name: MY.VAR-1, value: ok}
              - {name: 'A=B', value: x}
              - {name: '', value: x}
              - name: EMPTY_SOURCE
                valueFrom: {}
              - name: BOTH
                value: x
                valueFrom: {fieldRef: {fieldPath: metadata.name}}
              - name: TWO
                valueFrom:
                  fieldRef: {fieldPath: spec.nodeName}
                  secretKeyRef: {name: creds, key: password}
              - name: BAD_PATH
                valueFrom: {fieldRef: {fieldPath: status.phase}}
            ")),
        [
            "spec.containers[0].env[1].name: Invalid value: \"A=B\": a valid environment \
             variable name must consist only of printable ASCII characters other than '='",
            "spec.containers[0].env[2].name: Required value",
            "spec.containers[0].env[3].valueFrom: Invalid value: \"\": must specify one of: \
             `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            "spec.containers[0].env[4].valueFrom: Invalid value: \"\": may not be specified \
             when `value` is not empty",
            "spec.containers[0].env[5].valueFrom: Invalid value: \"\": may not have more than \
             one field specified at a time",
            "spec.containers[0].env[6].valueFrom.fieldRef.fieldPath: Unsupported value: \
             \"status.phase\": supported values: \"metadata.name\", \"metadata.namespace\", \
             \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \
             \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"",
        ]
    );
}

#[test]
fn resource_requests_may_not_exceed_limits() {
    assert_eq!(
        errors(&pod("
            containers:
            - name: web
              image: nginx
              resources:
                requests: {cpu: '2', memory: 64Mi}
                limits: {cpu: '1', memory: 64Mi}
            ")),
        [
            "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or \
             equal to cpu limit of 1"
        ]
    );
}

#[test]
fn resource_names_are_known_or_qualified_and_quantities_non_negative() {
    assert_eq!(
        errors(&pod("
            containers:
            - name: web
              image: nginx
              resources:
                limits: {memory: -1Mi, gpu: '1', example.com/gpu: '2'}
                requests: {example.com/gpu: '1', example.com/fpga: 500m}
            ")),
        [
            "spec.containers[0].resources.limits[gpu]: Invalid value: gpu: must be a standard \
             resource type or fully qualified",
            "spec.containers[0].resources.limits[gpu]: Invalid value: gpu: must be a standard \
             resource for containers",
            "spec.containers[0].resources.limits[memory]: Invalid value: \"-1Mi\": must be \
             greater than or equal to 0",
            "spec.containers[0].resources.requests[example.com/fpga]: Invalid value: 500m: must \
             be an integer",
            "spec.containers[0].resources.limits: Required value: Limit must be set for non \
             overcommitable resources",
            "spec.containers[0].resources.requests: Invalid value: \"1\": must be equal to \
             example.com/gpu limit of 2",
        ]
    );
}

#[test]
fn image_pull_policy_and_termination_message_policy_are_enumerations() {
    assert_eq!(
        errors(&pod("
            containers:
            - {name: web, image: nginx, imagePullPolicy: Sometimes, terminationMessagePolicy: Log}
            ")),
        [
            "spec.containers[0].terminationMessagePolicy: Unsupported value: \"Log\": supported \
             values: \"File\", \"FallbackToLogsOnError\"",
            "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported \
             values: \"Always\", \"IfNotPresent\", \"Never\"",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Pods: volumes and mounts
// ---------------------------------------------------------------------------------------------

#[test]
fn volumes_have_unique_dns_label_names_and_one_source() {
    assert_eq!(
        errors(&pod("
            volumes:
            - {name: data, emptyDir: {}}
            - {name: data, emptyDir: {}}
            - {name: Cache, emptyDir: {}}
            - name: both
              emptyDir: {}
              hostPath: {path: /tmp}
            - {name: config, configMap: {name: ''}}
            - name: secret
              secret: {secretName: creds, defaultMode: 1000, items: [{key: a, path: /etc/a}]}
            containers:
            - {name: web, image: nginx}
            ")),
        [
            "spec.volumes[1].name: Duplicate value: \"data\"",
            format!("spec.volumes[2].name: Invalid value: \"Cache\": {DNS_LABEL}").as_str(),
            "spec.volumes[3].hostPath: Forbidden: may not specify more than 1 volume type",
            "spec.volumes[4].configMap.name: Required value",
            "spec.volumes[5].secret.defaultMode: Invalid value: 1000: must be a number between 0 \
             and 0777 (octal), both inclusive",
            "spec.volumes[5].secret.items[0].path: Invalid value: \"/etc/a\": must be a relative \
             path",
        ]
    );
}

#[test]
fn volume_mounts_reference_declared_volumes_at_unique_paths() {
    assert_eq!(
        errors(&pod("
            volumes:
            - {name: data, emptyDir: {}}
            containers:
            - name: web
              image: nginx
              volumeMounts:
              - {name: data, mountPath: /data}
              - {name: logs, mountPath: /data}
              - {name: data, mountPath: ''}
              - {name: data, mountPath: /sub, subPath: ../escape}
            ")),
        [
            "spec.containers[0].volumeMounts[1].name: Not found: \"logs\"",
            "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/data\": must be \
             unique",
            "spec.containers[0].volumeMounts[2].mountPath: Required value",
            "spec.containers[0].volumeMounts.subPath: Invalid value: \"../escape\": must not \
             contain '..'",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Pods: probes
// ---------------------------------------------------------------------------------------------

#[test]
fn probes_need_exactly_one_handler_and_non_negative_timings() {
    assert_eq!(
        errors(&pod("
            containers:
            - name: web
              image: nginx
              livenessProbe:
                periodSeconds: -1
                successThreshold: 2
              readinessProbe:
                exec: {command: [cat, /ready]}
                httpGet: {port: 8080}
                terminationGracePeriodSeconds: 5
              startupProbe:
                httpGet: {port: http-Port, scheme: FTP}
            ")),
        [
            "spec.containers[0].livenessProbe: Required value: must specify a handler type",
            "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater \
             than or equal to 0",
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            "spec.containers[0].readinessProbe.httpGet: Forbidden: may not specify more than 1 \
             handler type",
            "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: \
             must not be set for readinessProbes",
            "spec.containers[0].startupProbe.httpGet.port: Invalid value: \"http-Port\": must \
             contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            "spec.containers[0].startupProbe.httpGet.scheme: Unsupported value: \"FTP\": \
             supported values: \"HTTP\", \"HTTPS\"",
        ]
    );
}

#[test]
fn init_containers_take_probes_only_as_restartable_sidecars() {
    assert_eq!(
        errors(&pod("
            initContainers:
            - name: setup
              image: busybox
              readinessProbe: {exec: {command: [true]}}
            - name: shipper
              image: busybox
              restartPolicy: OnFailure
            - name: sidecar
              image: busybox
              restartPolicy: Always
              readinessProbe: {exec: {command: [true]}}
            containers:
            - name: web
              image: nginx
              restartPolicy: Always
            ")),
        [
            "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers",
            "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init \
             containers without restartPolicy=Always",
            "spec.initContainers[1].restartPolicy: Unsupported value: \"OnFailure\": supported \
             values: \"Always\"",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Pods: pod-level fields and scheduling
// ---------------------------------------------------------------------------------------------

#[test]
fn pod_level_policies_are_enumerations_and_durations_in_range() {
    assert_eq!(
        errors(&pod("
            restartPolicy: Sometimes
            dnsPolicy: Google
            terminationGracePeriodSeconds: -5
            activeDeadlineSeconds: 0
            hostname: Web
            nodeName: node_1
            containers:
            - {name: web, image: nginx}
            ")),
        [
            "spec.terminationGracePeriodSeconds: Invalid value: -5: must be greater than or \
             equal to 0",
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \
             \"OnFailure\", \"Never\"",
            "spec.dnsPolicy: Unsupported value: \"Google\": supported values: \
             \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
            format!("spec.nodeName: Invalid value: \"node_1\": {DNS_SUBDOMAIN}").as_str(),
            "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, \
             inclusive",
            format!("spec.hostname: Invalid value: \"Web\": {DNS_LABEL}").as_str(),
        ]
    );
}

#[test]
fn tolerations_follow_operator_and_effect_rules() {
    assert_eq!(
        errors(&pod("
            containers:
            - {name: web, image: nginx}
            tolerations:
            - {key: gpu, operator: Exists, value: 'yes'}
            - {operator: Equal, value: x}
            - {key: dedicated, value: db, effect: NoSchedule, tolerationSeconds: 60}
            - {key: level, operator: Gt, value: '09'}
            - {key: zone, operator: In, effect: Never}
            ")),
        [
            "spec.tolerations[0].operator: Invalid value: \"yes\": value must be empty when \
             `operator` is 'Exists'",
            "spec.tolerations[1].operator: Invalid value: \"Equal\": operator must be Exists when \
             `key` is empty, which means \"match all values and all keys\"",
            "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be \
             'NoExecute' when `tolerationSeconds` is set",
            "spec.tolerations[3].value: Invalid value: \"09\": value must be a valid integer for \
             numeric operators",
            "spec.tolerations[4].operator: Unsupported value: \"In\": supported values: \
             \"Equal\", \"Exists\", \"Lt\", \"Gt\"",
            "spec.tolerations[4].effect: Unsupported value: \"Never\": supported values: \
             \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
        ]
    );
}

#[test]
fn node_selector_and_node_affinity_follow_label_and_operator_rules() {
    assert_eq!(
        errors(&pod("
            containers:
            - {name: web, image: nginx}
            nodeSelector: {disk type: ssd}
            affinity:
              nodeAffinity:
                requiredDuringSchedulingIgnoredDuringExecution:
                  nodeSelectorTerms:
                  - matchExpressions:
                    - {key: zone, operator: In}
                    - {key: zone, operator: Exists, values: [a]}
                    - {key: cores, operator: Gt, values: ['1', '2']}
                    - {key: zone, operator: Near, values: [a]}
                preferredDuringSchedulingIgnoredDuringExecution:
                - weight: 0
                  preference:
                    matchFields: [{key: metadata.labels, operator: In, values: [a]}]
            ")),
        [
            format!("spec.nodeSelector: Invalid value: \"disk type\": {NAME_PART}").as_str(),
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.\
             nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified \
             when `operator` is 'In' or 'NotIn'",
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.\
             nodeSelectorTerms[0].matchExpressions[1].values: Forbidden: may not be specified \
             when `operator` is 'Exists' or 'DoesNotExist'",
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.\
             nodeSelectorTerms[0].matchExpressions[2].values: Required value: must be specified \
             single value when `operator` is 'Lt' or 'Gt'",
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.\
             nodeSelectorTerms[0].matchExpressions[3].operator: Invalid value: \"Near\": not a \
             valid selector operator",
            "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].\
             weight: Invalid value: 0: must be in the range 1-100",
            "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].\
             preference.matchFields[0].key: Invalid value: \"metadata.labels\": not a valid \
             field selector key",
        ]
    );
}

#[test]
fn pod_affinity_terms_need_a_topology_key() {
    assert_eq!(
        errors(&pod("
            containers:
            - {name: web, image: nginx}
            affinity:
              podAntiAffinity:
                requiredDuringSchedulingIgnoredDuringExecution:
                - labelSelector: {matchExpressions: [{key: app, operator: In}]}
                  topologyKey: ''
            ")),
        [
            "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].\
             labelSelector.matchExpressions[0].values: Required value: must be specified when \
             `operator` is 'In' or 'NotIn'",
            "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].\
             topologyKey: Required value: can not be empty",
            "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].\
             topologyKey: Invalid value: \"\": name part must be non-empty",
            format!(
                "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].\
                 topologyKey: Invalid value: \"\": {NAME_PART}"
            )
            .as_str(),
        ]
    );
}

#[test]
fn ephemeral_containers_cannot_be_set_on_create() {
    assert_eq!(
        errors(&pod("
            containers:
            - {name: web, image: nginx}
            ephemeralContainers:
            - {name: debug, image: busybox}
            ")),
        ["spec.ephemeralContainers: Forbidden: cannot be set on create"]
    );
}

// ---------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------

/// A workload of `kind` with `spec` (indented YAML under `spec:`).
fn workload(api_version: &str, kind: &str, spec: &str) -> String {
    format!(
        "apiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: web\nspec:\n{}",
        indent(&dedent(spec), 2)
    )
}

const TEMPLATE: &str = "
template:
  metadata:
    labels: {app: web}
  spec:
    containers:
    - {name: web, image: nginx}
";

#[test]
fn replica_set_selector_must_match_template_labels() {
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "ReplicaSet",
            &format!("selector:\n  matchLabels: {{app: api}}\n{TEMPLATE}")
        )),
        [
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: \
             `selector` does not match template `labels`"
        ]
    );
}

#[test]
fn replica_set_and_deployment_selectors_are_required_and_non_empty() {
    assert_eq!(
        errors(&workload("apps/v1", "ReplicaSet", TEMPLATE)),
        [
            "spec.selector: Required value",
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: \
             `selector` does not match template `labels`",
        ]
    );
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "Deployment",
            &format!("selector: {{}}\n{TEMPLATE}")
        )),
        [
            "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},\
             MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is invalid for \
             deployment"
        ]
    );
}

#[test]
fn an_invalid_selector_is_reported_and_not_matched() {
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "Deployment",
            &format!(
                "selector:\n  matchExpressions: [{{key: app, operator: Like, values: [web]}}]\n{TEMPLATE}"
            )
        )),
        [
            "spec.selector.matchExpressions[0].operator: Invalid value: \"Like\": not a valid \
             selector operator",
            "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},\
             MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:app,\
             Operator:Like,Values:[web],},},}: invalid label selector",
        ]
    );
}

#[test]
fn controller_templates_must_restart_always_and_have_no_deadline() {
    let template = "
        template:
          metadata:
            labels: {app: web}
          spec:
            restartPolicy: OnFailure
            activeDeadlineSeconds: 30
            containers:
            - {name: web, image: nginx}
        ";
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "ReplicaSet",
            &format!(
                "selector:\n  matchLabels: {{app: web}}\n{}",
                dedent(template)
            )
        )),
        [
            "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported \
             values: \"Always\"",
            "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in \
             ReplicaSet is not Supported",
        ]
    );
}

#[test]
fn replicas_and_min_ready_seconds_are_non_negative() {
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "ReplicaSet",
            &format!(
                "replicas: -1\nminReadySeconds: -2\nselector:\n  matchLabels: {{app: web}}\n{TEMPLATE}"
            )
        )),
        [
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "spec.minReadySeconds: Invalid value: -2: must be greater than or equal to 0",
        ]
    );
}

#[test]
fn replication_controller_selector_defaults_to_template_labels() {
    // No selector: the template's labels become the selector, so this is valid.
    assert!(errors(&workload("v1", "ReplicationController", TEMPLATE)).is_empty());
    // No selector and no labels to default from.
    assert_eq!(
        errors(&workload(
            "v1",
            "ReplicationController",
            "template:\n  spec:\n    containers: [{name: web, image: nginx}]\n"
        )),
        ["spec.selector: Required value"]
    );
    // A selector that does not select the template.
    assert_eq!(
        errors(&workload(
            "v1",
            "ReplicationController",
            &format!("selector: {{app: api}}\n{TEMPLATE}")
        )),
        [
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: \
             `selector` does not match template `labels`"
        ]
    );
}

#[test]
fn deployment_strategy_follows_upstream_rules() {
    let spec = |strategy: &str| {
        format!(
            "selector:\n  matchLabels: {{app: web}}\n{TEMPLATE}{}",
            dedent(strategy)
        )
    };
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "Deployment",
            &spec("strategy: {type: BlueGreen}")
        )),
        [
            "spec.strategy.type: Unsupported value: \"BlueGreen\": supported values: \
             \"Recreate\", \"RollingUpdate\""
        ]
    );
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "Deployment",
            &spec("strategy: {type: Recreate, rollingUpdate: {maxSurge: 1}}")
        )),
        [
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` \
             is 'Recreate'"
        ]
    );
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "Deployment",
            &spec("strategy:\n  rollingUpdate: {maxSurge: 0, maxUnavailable: 0%}")
        )),
        [
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0%: may not be 0 when \
          `maxSurge` is 0"
        ]
    );
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "Deployment",
            &spec("strategy:\n  rollingUpdate: {maxSurge: -1, maxUnavailable: 150%}")
        )),
        [
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or \
             equal to 0",
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 150%: must not be \
             greater than 100%",
        ]
    );
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "Deployment",
            &spec("strategy:\n  rollingUpdate: {maxSurge: half}")
        )),
        [
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: half: a valid percent string \
             must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex \
             used for validation is '[0-9]+%')"
        ]
    );
}

#[test]
fn deployment_limits_and_deadlines_are_checked() {
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "Deployment",
            &format!(
                "selector:\n  matchLabels: {{app: web}}\n{TEMPLATE}minReadySeconds: 30\nrevisionHistoryLimit: -1\nprogressDeadlineSeconds: 30\n"
            )
        )),
        [
            "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
            "spec.progressDeadlineSeconds: Invalid value: 30: must be greater than minReadySeconds",
        ]
    );
}

#[test]
fn daemon_set_selector_is_required_and_update_strategy_checked() {
    assert_eq!(
        errors(&workload("apps/v1", "DaemonSet", TEMPLATE)),
        [
            "spec.selector: Required value",
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: \
             `selector` does not match template `labels`",
        ]
    );
    let spec = |strategy: &str| {
        format!(
            "selector:\n  matchLabels: {{app: web}}\n{TEMPLATE}{}",
            dedent(strategy)
        )
    };
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "DaemonSet",
            &spec("updateStrategy: {type: Replace}")
        )),
        [
            "spec.updateStrategy.type: Unsupported value: \"Replace\": supported values: \
             \"RollingUpdate\", \"OnDelete\""
        ]
    );
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "DaemonSet",
            &spec("updateStrategy:\n  rollingUpdate: {maxSurge: 1}")
        )),
        [
            "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when \
          maxUnavailable is non-zero"
        ]
    );
    assert_eq!(
        errors(&workload(
            "apps/v1",
            "DaemonSet",
            &spec("updateStrategy:\n  rollingUpdate: {maxUnavailable: 0}")
        )),
        [
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when \
          maxSurge is 0"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Services and Endpoints
// ---------------------------------------------------------------------------------------------

fn service(spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n{}",
        indent(&dedent(spec), 2)
    )
}

#[test]
fn service_type_and_session_affinity_are_enumerations() {
    assert_eq!(
        errors(&service(
            "type: Internal\nsessionAffinity: Cookie\nports: [{port: 80}]\n"
        )),
        [
            "spec.sessionAffinity: Unsupported value: \"Cookie\": supported values: \
             \"ClientIP\", \"None\"",
            "spec.type: Unsupported value: \"Internal\": supported values: \"ClusterIP\", \
             \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
        ]
    );
}

#[test]
fn service_ports_are_required_named_when_several_and_in_range() {
    assert_eq!(
        errors(&service("selector: {app: web}\n")),
        ["spec.ports: Required value"]
    );
    assert_eq!(
        errors(&service(
            "
            ports:
            - {port: 80}
            - {name: web, port: 0, protocol: ICMP, targetPort: Web}
            - {name: web, port: 443, targetPort: 70000}
            "
        )),
        [
            "spec.ports[0].name: Required value",
            "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \
             \"TCP\", \"UDP\"",
            "spec.ports[1].targetPort: Invalid value: \"Web\": must contain only alpha-numeric \
             characters (a-z, 0-9), and hyphens (-)",
            "spec.ports[2].name: Duplicate value: \"web\"",
            "spec.ports[2].targetPort: Invalid value: 70000: must be between 1 and 65535, \
             inclusive",
        ]
    );
}

#[test]
fn duplicate_service_ports_are_rejected_per_protocol() {
    assert_eq!(
        errors(&service(
            "ports:\n- {name: a, port: 53, protocol: UDP}\n- {name: b, port: 53}\n- {name: c, port: 53, protocol: TCP}\n"
        )),
        [
            "spec.ports[2]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", \
             AppProtocol:(*string)(nil), Port:53, TargetPort:intstr.IntOrString{Type:0, \
             IntVal:0, StrVal:\"\"}, NodePort:0}"
        ]
    );
}

#[test]
fn node_ports_belong_to_node_port_and_load_balancer_services() {
    assert_eq!(
        errors(&service("ports: [{port: 80, nodePort: 30080}]\n")),
        ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
    );
    assert_eq!(
        errors(&service(
            "type: NodePort\nports: [{port: 80, nodePort: 70000}]\n"
        )),
        ["spec.ports[0].nodePort: Invalid value: 70000: must be between 1 and 65535, inclusive"]
    );
    assert!(
        errors(&service(
            "type: LoadBalancer\nports: [{port: 80, nodePort: 30080}]\n"
        ))
        .is_empty()
    );
}

#[test]
fn cluster_ip_is_none_or_an_address() {
    assert_eq!(
        errors(&service("clusterIP: 10.0.0.300\nports: [{port: 80}]\n")),
        [
            "spec.clusterIPs[0]: Invalid value: \"10.0.0.300\": must be a valid IP address, \
             (e.g. 10.9.8.7 or 2001:db8::ffff)"
        ]
    );
    // Headless services need no ports.
    assert!(errors(&service("clusterIP: None\nselector: {app: web}\n")).is_empty());
    assert_eq!(
        errors(&service(
            "type: NodePort\nclusterIP: None\nports: [{port: 80}]\n"
        )),
        [
            "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort \
             services"
        ]
    );
}

#[test]
fn external_name_services_name_a_dns_subdomain() {
    assert!(
        errors(&service(
            "type: ExternalName\nexternalName: db.example.com.\n"
        ))
        .is_empty()
    );
    assert_eq!(
        errors(&service("type: ExternalName\nclusterIP: 10.0.0.1\n")),
        [
            "spec.clusterIPs: Forbidden: may not be set for ExternalName services",
            "spec.externalName: Required value",
        ]
    );
}

#[test]
fn endpoints_need_valid_addresses_and_ports() {
    assert_eq!(
        errors(
            "
            apiVersion: v1
            kind: Endpoints
            metadata: {name: web}
            subsets:
            - addresses: [{ip: 10.1.2.3}, {ip: 127.0.0.1}, {ip: not-an-ip}]
              ports: [{port: 80}, {name: https, port: 0, protocol: HTTP}]
            - ports: [{port: 80}]
            "
        ),
        [
            "subsets[0].addresses[1].ip: Invalid value: \"127.0.0.1\": may not be in the \
             loopback range (127.0.0.0/8, ::1/128)",
            "subsets[0].addresses[2].ip: Invalid value: \"not-an-ip\": must be a valid IP \
             address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            "subsets[0].addresses[2].ip: Invalid value: \"not-an-ip\": must be a valid IP address",
            "subsets[0].ports[0].name: Required value",
            "subsets[0].ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "subsets[0].ports[1].protocol: Unsupported value: \"HTTP\": supported values: \
             \"SCTP\", \"TCP\", \"UDP\"",
            "subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration, nodes, storage, RBAC, leases
// ---------------------------------------------------------------------------------------------

#[test]
fn config_map_keys_are_config_keys_and_unique_across_data_and_binary_data() {
    assert_eq!(
        errors(
            "
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: web}
            data:
              app.properties: x
              '..': x
              bad/key: x
              shared: x
            binaryData:
              shared: eA==
            "
        ),
        [
            "data[..]: Invalid value: \"..\": must not be '..'",
            "data[bad/key]: Invalid value: \"bad/key\": a valid config key must consist of \
             alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or \
             'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            "data[shared]: Invalid value: \"shared\": duplicate of key present in binaryData",
        ]
    );
}

#[test]
fn config_map_data_is_at_most_one_mebibyte() {
    let big = "x".repeat(1024 * 1024 + 1);
    assert_eq!(
        errors(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web}}\ndata:\n  big: {big}\n"
        )),
        ["[]: Too long: may not be more than 1048576 bytes"]
    );
}

#[test]
fn secret_types_require_their_keys() {
    let secret = |kind: &str, data: &str| {
        format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: creds}}\ntype: {kind}\n{data}")
    };
    assert_eq!(
        errors(&secret("kubernetes.io/tls", "data: {tls.crt: eA==}\n")),
        ["data[tls.key]: Required value"]
    );
    assert_eq!(
        errors(&secret(
            "kubernetes.io/basic-auth",
            "stringData: {token: x}\n"
        )),
        [
            "data[username]: Required value",
            "data[password]: Required value"
        ]
    );
    assert_eq!(
        errors(&secret("kubernetes.io/service-account-token", "")),
        ["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
    );
    assert_eq!(
        errors(&secret("'my type'", "stringData: {'a b': x}\n")),
        [
            "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric \
             characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex \
             used for validation is '[-._a-zA-Z0-9]+')",
            format!("type: Invalid value: \"my type\": {NAME_PART}").as_str(),
        ]
    );
    // Any other qualified type is the user's own.
    assert!(errors(&secret("example.com/token", "")).is_empty());
}

#[test]
fn namespace_finalizers_are_qualified_or_standard() {
    assert_eq!(
        errors(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\nspec:\n  finalizers: [kubernetes, cleanup]\n"
        ),
        [
            "spec.finalizers: Invalid value: \"cleanup\": name is neither a standard finalizer \
             name nor is it fully qualified"
        ]
    );
}

#[test]
fn node_taints_have_known_effects_and_unique_key_effect_pairs() {
    assert_eq!(
        errors(
            "
            apiVersion: v1
            kind: Node
            metadata: {name: node-1}
            spec:
              taints:
              - {key: dedicated, value: db, effect: NoSchedule}
              - {key: dedicated, value: web, effect: NoSchedule}
              - {key: gpu, effect: ''}
              - {key: zone, value: a b, effect: Sometimes}
            status:
              capacity: {pods: 110.5, cpu: '-1'}
            "
        ),
        [
            "spec.taints[1]: Duplicate value: core.Taint{Key:\"dedicated\", Value:\"web\", \
             Effect:\"NoSchedule\", TimeAdded:(*v1.Time)(nil)}: taints must be unique by key and \
             effect pair",
            "spec.taints[2].effect: Required value",
            format!("spec.taints[3].value: Invalid value: \"a b\": {LABEL_VALUE}").as_str(),
            "spec.taints[3].effect: Unsupported value: \"Sometimes\": supported values: \
             \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
            "status.capacity.cpu: Invalid value: \"-1\": must be greater than or equal to 0",
            "status.capacity.pods: Invalid value: 110500m: must be an integer",
        ]
    );
}

#[test]
fn persistent_volumes_need_capacity_access_modes_and_one_source() {
    assert_eq!(
        errors(
            "
            apiVersion: v1
            kind: PersistentVolume
            metadata: {name: pv-1}
            spec:
              accessModes: [ReadWriteOncePod, ReadWriteMany, ReadSometimes]
              persistentVolumeReclaimPolicy: Keep
            "
        ),
        [
            "spec.accessModes: Unsupported value: \"ReadSometimes\": supported values: \
             \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"",
            "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes",
            "spec.capacity: Required value",
            "spec.capacity: Unsupported value: core.ResourceList(nil): supported values: \
             \"storage\"",
            "spec.persistentVolumeReclaimPolicy: Unsupported value: \"Keep\": supported values: \
             \"Delete\", \"Recycle\", \"Retain\"",
            "spec: Required value: must specify a volume type",
        ]
    );
}

#[test]
fn persistent_volume_claims_need_access_modes_and_a_storage_request() {
    assert_eq!(
        errors(
            "
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata: {name: data}
            spec:
              resources: {requests: {cpu: '1'}}
            "
        ),
        [
            "spec.accessModes: Required value: at least 1 access mode is required",
            "spec.resources[storage]: Required value",
        ]
    );
    assert_eq!(
        errors(
            "
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata: {name: data}
            spec:
              accessModes: [ReadWriteOnce]
              resources: {requests: {storage: '0'}}
              volumeMode: Raw
            "
        ),
        [
            "spec.resources[storage]: Invalid value: \"0\": must be greater than zero",
            "spec.volumeMode: Unsupported value: \"Raw\": supported values: \"Block\", \
             \"Filesystem\"",
        ]
    );
}

#[test]
fn policy_rules_need_verbs_and_resources_or_urls() {
    assert_eq!(
        errors(
            "
            apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata: {name: reader}
            rules:
            - verbs: []
              resources: [pods]
            - verbs: [get]
              nonResourceURLs: [/healthz]
            - verbs: [get]
              apiGroups: ['']
              resources: [pods, secrets]
              resourceNames: [web]
            "
        ),
        [
            "rules[0].verbs: Required value: verbs must contain at least one value",
            "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
            "rules[1].nonResourceURLs: Invalid value: []string{\"/healthz\"}: namespaced rules \
             cannot apply to non-resource URLs",
            "rules[2].resourceNames: Required value: resource names cannot apply to multiple \
             resources",
        ]
    );
}

#[test]
fn role_bindings_reference_roles_in_the_rbac_group_and_name_their_subjects() {
    assert_eq!(
        errors(
            "
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {name: read-pods}
            roleRef: {apiGroup: rbac.authorization.k8s.io/v1, kind: Policy, name: ''}
            subjects:
            - {kind: User, name: ''}
            - {kind: ServiceAccount, name: robot, apiGroup: rbac.authorization.k8s.io}
            - {kind: Robot, name: r2}
            "
        ),
        [
            "roleRef.apiGroup: Unsupported value: \"rbac.authorization.k8s.io/v1\": supported \
             values: \"rbac.authorization.k8s.io\"",
            "roleRef.kind: Unsupported value: \"Policy\": supported values: \"Role\", \
             \"ClusterRole\"",
            "roleRef.name: Required value",
            "subjects[0].name: Required value",
            "subjects[0].name: Invalid value: \"\": user name cannot be empty",
            "subjects[1].apiGroup: Unsupported value: \"rbac.authorization.k8s.io\": supported \
             values: \"\"",
            "subjects[2].kind: Unsupported value: \"Robot\": supported values: \
             \"ServiceAccount\", \"User\", \"Group\"",
        ]
    );
}

#[test]
fn cluster_role_bindings_bind_cluster_roles_to_namespaced_service_accounts() {
    assert_eq!(
        errors(
            "
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata: {name: read-all}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
            subjects:
            - {kind: ServiceAccount, name: robot}
            "
        ),
        [
            "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
            "subjects[0].namespace: Required value",
        ]
    );
}

#[test]
fn lease_duration_must_be_positive() {
    assert_eq!(
        errors(
            "
            apiVersion: coordination.k8s.io/v1
            kind: Lease
            metadata: {name: node-1}
            spec: {leaseDurationSeconds: 0, leaseTransitions: -1, preferredHolder: a}
            "
        ),
        [
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
            "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
            "spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Whole manifests
// ---------------------------------------------------------------------------------------------

/// A deliberately broken multi-document manifest: one snapshot shows how the errors read
/// together, document by document.
#[test]
fn many_errors() {
    let text = dedent(
        "
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: Shop_Front
          labels: {app: shop}
        spec:
          replicas: -3
          selector:
            matchLabels: {app: shop-front}
          strategy:
            rollingUpdate: {maxSurge: 0, maxUnavailable: 0}
          template:
            metadata:
              labels: {app: shop}
            spec:
              restartPolicy: Never
              containers:
              - name: front
                image: shop/front:1.0
                ports: [{containerPort: 80, protocol: tcp}]
                resources:
                  requests: {cpu: '2'}
                  limits: {cpu: 500m}
              - name: front
                volumeMounts: [{name: cache, mountPath: /cache}]
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: shop-front
          namespace: Shop
        spec:
          type: NodePort
          selector: {app: shop-front}
          ports:
          - {port: 80, targetPort: 8080}
          - {port: 80, nodePort: 99999}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: shop-config
        data:
          settings.yaml: 'x: 1'
          ../escape: x
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata:
          name: shop-reader
          namespace: shop
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
        subjects:
        - {kind: ServiceAccount, name: shop}
        ",
    );
    let parsed = manifest::parse("shop.yaml", &text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let mut report = String::new();
    for document in &parsed.documents {
        writeln!(
            report,
            "document {} ({}):",
            document.document,
            document.object.kind_slash_name()
        )
        .unwrap();
        for error in validate_object(&document.object) {
            writeln!(report, "  {error}").unwrap();
        }
    }
    insta::assert_snapshot!(report);
}

#[test]
fn validation_is_deterministic() {
    let text = pod("
        containers:
        - {name: a, image: x, resources: {limits: {z: '1', a: '-1', x.y/z: '1'}}}
        nodeSelector: {b: '-', a: '-'}
        ");
    assert_eq!(errors(&text), errors(&text));
}
