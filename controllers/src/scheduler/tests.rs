//! The scheduler's rules, one test per behaviour, each asserting the exact outcome.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use skiff_core::client::{Binding, ClientError};
use skiff_core::object::{
    Affinity, Container, ContainerPort, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, Object, Pod, PodCondition, PreferredSchedulingTerm, Taint, Time, Toleration,
};
use skiff_core::quantity::Quantity;
use skiff_core::status::Status;

use super::plugins::{self, Reason};
use super::resources::{self, Resources};
use super::snapshot;
use super::*;
use crate::reconcile::{self, Action, Controller, EventType, Output};
use crate::view::{ObjectKey, View};

const GI: i64 = 1 << 30;
const MI: i64 = 1 << 20;

fn q(text: &str) -> Quantity {
    Quantity::parse(text).unwrap()
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A node with allocatable cpu, memory and pods.
fn node(name: &str, cpu: &str, memory: &str, pods: &str) -> Node {
    let mut n = Node::default();
    n.metadata.name = Some(name.into());
    n.metadata.resource_version = Some("1".into());
    for (k, v) in [("cpu", cpu), ("memory", memory), ("pods", pods)] {
        n.status.allocatable.insert(k.into(), q(v));
    }
    n
}

fn tainted(mut n: Node, key: &str, value: Option<&str>, effect: &str) -> Node {
    n.spec.taints.push(Taint {
        key: key.into(),
        value: value.map(Into::into),
        effect: effect.into(),
        time_added: None,
    });
    n
}

fn labelled(mut n: Node, key: &str, value: &str) -> Node {
    n.metadata.labels.insert(key.into(), value.into());
    n
}

/// A pending pod in `default` whose one container requests `cpu` and `memory` ("" = none).
fn pod(name: &str, cpu: &str, memory: &str) -> Pod {
    let mut c = Container::new("c", "nginx");
    if !cpu.is_empty() {
        c.resources.requests.insert("cpu".into(), q(cpu));
    }
    if !memory.is_empty() {
        c.resources.requests.insert("memory".into(), q(memory));
    }
    let mut p = Pod::new(name, vec![c]);
    p.metadata.namespace = Some("default".into());
    p.metadata.uid = Some(format!("uid-{name}"));
    p.metadata.resource_version = Some("10".into());
    p.metadata.generation = Some(1);
    p
}

fn bound(mut p: Pod, node: &str) -> Pod {
    p.spec.node_name = Some(node.into());
    p
}

fn toleration(key: &str, operator: &str, value: Option<&str>, effect: Option<&str>) -> Toleration {
    Toleration {
        key: Some(key.into()).filter(|k: &String| !k.is_empty()),
        operator: Some(operator.into()),
        value: value.map(Into::into),
        effect: effect.map(Into::into),
        toleration_seconds: None,
    }
}

fn requirement(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.into(),
        operator: operator.into(),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    }
}

fn term(expressions: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: expressions,
        ..NodeSelectorTerm::default()
    }
}

fn with_required_affinity(mut p: Pod, terms: Vec<NodeSelectorTerm>) -> Pod {
    p.spec.affinity = Some(Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: terms,
            }),
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    });
    p
}

fn with_host_port(mut p: Pod, port: i32, protocol: Option<&str>, ip: Option<&str>) -> Pod {
    p.spec.containers[0].ports.push(ContainerPort {
        container_port: port,
        host_port: Some(port),
        protocol: protocol.map(Into::into),
        host_ip: ip.map(Into::into),
        ..ContainerPort::default()
    });
    p
}

fn view_of(nodes: &[Node], pods: &[Pod]) -> View {
    let mut v = View::new();
    for n in nodes {
        v.insert(n.clone().into());
    }
    for p in pods {
        v.insert(p.clone().into());
    }
    v
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("default", name)
}

/// The reasons the filters give for `pod` on `node` (empty: fits).
fn reasons(pod: &Pod, node: &Node, bound_pods: &[Pod]) -> Vec<Reason> {
    let snapshot = Snapshot::new([node], bound_pods);
    let info = PodInfo::new(pod);
    let mut out = Vec::new();
    plugins::filter(&info, snapshot.node(0), &mut out);
    out
}

fn bind_action(name: &str, node: &str) -> Action {
    Action::Bind {
        namespace: "default".into(),
        name: name.into(),
        binding: Binding {
            node: node.into(),
            uid: Some(format!("uid-{name}")),
            resource_version: None,
        },
    }
}

fn scheduled_event(p: &Pod, node: &str, now: SystemTime) -> Action {
    reconcile::event(
        &Object::Pod(p.clone()),
        EventType::Normal,
        "Scheduled",
        format!(
            "Successfully assigned default/{} to {node}",
            p.metadata.name.as_deref().unwrap()
        ),
        SCHEDULER_NAME,
        now,
    )
}

fn failed_actions(p: &Pod, reason: &str, message: &str, now: SystemTime) -> Vec<Action> {
    let mut with_condition = p.clone();
    with_condition.status.conditions.push(PodCondition {
        r#type: "PodScheduled".into(),
        status: "False".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_transition_time: Some(reconcile::time_of(now)),
        ..PodCondition::default()
    });
    vec![
        reconcile::event(
            &Object::Pod(p.clone()),
            EventType::Warning,
            "FailedScheduling",
            message,
            SCHEDULER_NAME,
            now,
        ),
        Action::UpdateStatus(with_condition.into()),
    ]
}

// ---------------------------------------------------------------------------------------------
// The example and the FitError message
// ---------------------------------------------------------------------------------------------

#[test]
fn unschedulable_pod_gets_pod_scheduled_false_and_a_failed_scheduling_event_worded_as_upstream() {
    let nodes = [
        tainted(
            node("master-1", "8", "16Gi", "110"),
            "node-role.kubernetes.io/control-plane",
            None,
            "NoSchedule",
        ),
        tainted(
            node("master-2", "8", "16Gi", "110"),
            "node-role.kubernetes.io/control-plane",
            None,
            "NoSchedule",
        ),
        node("worker-1", "1", "16Gi", "110"),
    ];
    let p = pod("big", "2", "1Gi");
    let view = view_of(&nodes, std::slice::from_ref(&p));
    let mut s = Scheduler::new(1);
    let out = s.reconcile(&view, &key("big"), t0());
    let message = "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }.";
    assert_eq!(
        out,
        Output {
            actions: failed_actions(&p, "Unschedulable", message, t0()),
            requeue_after: Some(POD_MAX_IN_UNSCHEDULABLE),
        }
    );
}

#[test]
fn every_filter_names_its_nodes_in_one_sorted_message() {
    let ssd = |n: Node| labelled(n, "disk", "ssd");
    let mut cordoned = ssd(node("a-cordoned", "8", "8Gi", "110"));
    cordoned.spec.unschedulable = Some(true);
    let nodes = [
        cordoned,
        tainted(
            ssd(node("b-gpu", "8", "8Gi", "110")),
            "gpu",
            Some("true"),
            "NoSchedule",
        ),
        labelled(node("c-hdd", "8", "8Gi", "110"), "disk", "hdd"),
        ssd(node("d-port", "8", "8Gi", "110")),
        ssd(node("e-full", "1", "1Gi", "0")),
    ];
    let web = bound(with_host_port(pod("web", "", ""), 80, None, None), "d-port");
    let mut p = with_host_port(pod("p", "2", "2Gi"), 80, None, None);
    p.spec.node_selector.insert("disk".into(), "ssd".into());
    let view = view_of(&nodes, &[web, p.clone()]);
    let out = Scheduler::new(0).reconcile(&view, &key("p"), t0());
    let message = "0/5 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Too many pods, \
        1 node(s) didn't have free ports for the requested pod ports, \
        1 node(s) didn't match Pod's node affinity/selector, \
        1 node(s) had untolerated taint {gpu: true}, 1 node(s) were unschedulable.";
    assert_eq!(
        out,
        Output {
            actions: failed_actions(&p, "Unschedulable", message, t0()),
            requeue_after: Some(POD_MAX_IN_UNSCHEDULABLE),
        }
    );
}

#[test]
fn fit_error_sorts_count_reason_items_as_strings() {
    let mut e = FitError {
        num_all_nodes: 13,
        ..FitError::default()
    };
    e.reasons.insert(Reason::InsufficientMemory, 10);
    e.reasons.insert(Reason::InsufficientCpu, 2);
    e.reasons.insert(Reason::NodePorts, 1);
    // String order, as upstream's sort.Strings: "10 …" sorts before "2 …".
    assert_eq!(
        e.to_string(),
        "0/13 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 10 Insufficient memory, 2 Insufficient cpu."
    );
    assert_eq!(
        FitError {
            num_all_nodes: 0,
            ..FitError::default()
        }
        .to_string(),
        "0/0 nodes are available:"
    );
}

#[test]
fn node_short_of_cpu_memory_and_pods_counts_for_each_reason() {
    let n = node("n1", "1", "1Gi", "1");
    let on_it = bound(pod("x", "500m", "512Mi"), "n1");
    assert_eq!(
        reasons(&pod("p", "1", "1Gi"), &n, &[on_it]),
        [
            Reason::TooManyPods,
            Reason::InsufficientCpu,
            Reason::InsufficientMemory
        ]
    );
}

#[test]
fn no_nodes_is_a_scheduler_error_with_upstream_message() {
    let p = pod("p", "", "");
    let view = view_of(&[], std::slice::from_ref(&p));
    let out = Scheduler::new(0).reconcile(&view, &key("p"), t0());
    assert_eq!(
        out.actions,
        failed_actions(
            &p,
            "SchedulerError",
            "no nodes available to schedule pods",
            t0()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

#[test]
fn cordoned_node_is_filtered_unless_the_pod_tolerates_unschedulable() {
    let mut n = node("n1", "4", "8Gi", "110");
    n.spec.unschedulable = Some(true);
    let p = pod("p", "", "");
    assert_eq!(reasons(&p, &n, &[]), [Reason::Unschedulable]);
    assert_eq!(
        Reason::Unschedulable.to_string(),
        "node(s) were unschedulable"
    );
    let mut tolerant = p.clone();
    tolerant.spec.tolerations.push(toleration(
        "node.kubernetes.io/unschedulable",
        "Exists",
        None,
        Some("NoSchedule"),
    ));
    assert_eq!(reasons(&tolerant, &n, &[]), []);
}

#[test]
fn pod_naming_a_node_fits_only_that_node() {
    let mut p = pod("p", "", "");
    p.spec.node_name = Some("n2".into());
    assert_eq!(
        reasons(&p, &node("n1", "4", "8Gi", "110"), &[]),
        [Reason::NodeName]
    );
    assert_eq!(reasons(&p, &node("n2", "4", "8Gi", "110"), &[]), []);
    assert_eq!(
        Reason::NodeName.to_string(),
        "node(s) didn't match the requested node name"
    );
}

/// The conformance manifest `pod-with-numeric-toleration.yaml`: `Gt 900` tolerates a
/// service level of 950 and not one of 800 (KEP-5471's numeric operators, which validation
/// accepts; the node lifecycle controller and the DaemonSet controller use the same rule).
#[test]
fn a_numeric_gt_toleration_fits_a_node_whose_taint_value_is_above_it() {
    let key = "servicelevel.organization.example/agreed-service-level";
    let mut p = pod("p", "", "");
    p.spec
        .tolerations
        .push(toleration(key, "Gt", Some("900"), Some("NoSchedule")));
    let gold = tainted(
        node("gold", "4", "8Gi", "110"),
        key,
        Some("950"),
        "NoSchedule",
    );
    let bronze = tainted(
        node("bronze", "4", "8Gi", "110"),
        key,
        Some("800"),
        "NoSchedule",
    );
    assert_eq!(reasons(&p, &gold, &[]), []);
    assert_eq!(
        reasons(&p, &bronze, &[]),
        [Reason::UntoleratedTaint {
            key: key.into(),
            value: "800".into()
        }]
    );
}

#[test]
fn first_untolerated_no_schedule_or_no_execute_taint_filters_the_node() {
    let n = tainted(
        tainted(
            tainted(
                node("n1", "4", "8Gi", "110"),
                "soft",
                None,
                "PreferNoSchedule",
            ),
            "gpu",
            Some("true"),
            "NoSchedule",
        ),
        "evict",
        None,
        "NoExecute",
    );
    let p = pod("p", "", "");
    assert_eq!(
        reasons(&p, &n, &[]),
        [Reason::UntoleratedTaint {
            key: "gpu".into(),
            value: "true".into()
        }]
    );
    let mut gpu_ok = p.clone();
    gpu_ok
        .spec
        .tolerations
        .push(toleration("gpu", "Equal", Some("true"), Some("NoSchedule")));
    assert_eq!(
        reasons(&gpu_ok, &n, &[]),
        [Reason::UntoleratedTaint {
            key: "evict".into(),
            value: String::new()
        }]
    );
    let mut all_ok = p.clone();
    all_ok
        .spec
        .tolerations
        .push(toleration("", "Exists", None, None));
    assert_eq!(reasons(&all_ok, &n, &[]), []);
    // A wrong value does not tolerate under Equal.
    let mut wrong = p;
    wrong
        .spec
        .tolerations
        .push(toleration("gpu", "Equal", Some("false"), None));
    assert_eq!(
        reasons(&wrong, &n, &[])[0],
        Reason::UntoleratedTaint {
            key: "gpu".into(),
            value: "true".into()
        }
    );
}

#[test]
fn node_selector_needs_every_label() {
    let n = labelled(
        labelled(node("n1", "4", "8Gi", "110"), "disk", "ssd"),
        "zone",
        "a",
    );
    let mut p = pod("p", "", "");
    p.spec.node_selector.insert("disk".into(), "ssd".into());
    assert_eq!(reasons(&p, &n, &[]), []);
    p.spec.node_selector.insert("zone".into(), "b".into());
    assert_eq!(reasons(&p, &n, &[]), [Reason::NodeAffinity]);
    assert_eq!(
        Reason::NodeAffinity.to_string(),
        "node(s) didn't match Pod's node affinity/selector"
    );
}

#[test]
fn required_node_affinity_ors_terms_and_ands_expressions() {
    let n = labelled(
        labelled(node("n1", "4", "8Gi", "110"), "disk", "ssd"),
        "cores",
        "16",
    );
    let check = |terms: Vec<NodeSelectorTerm>| {
        reasons(&with_required_affinity(pod("p", "", ""), terms), &n, &[])
    };
    let fits: Vec<Reason> = Vec::new();
    let no = vec![Reason::NodeAffinity];
    assert_eq!(
        check(vec![term(vec![requirement(
            "disk",
            "In",
            &["ssd", "nvme"]
        )])]),
        fits
    );
    assert_eq!(
        check(vec![term(vec![requirement("disk", "NotIn", &["ssd"])])]),
        no
    );
    assert_eq!(
        check(vec![term(vec![requirement("gpu", "NotIn", &["x"])])]),
        fits
    );
    assert_eq!(
        check(vec![term(vec![requirement("disk", "Exists", &[])])]),
        fits
    );
    assert_eq!(
        check(vec![term(vec![requirement("disk", "DoesNotExist", &[])])]),
        no
    );
    assert_eq!(
        check(vec![term(vec![requirement("cores", "Gt", &["8"])])]),
        fits
    );
    assert_eq!(
        check(vec![term(vec![requirement("cores", "Lt", &["8"])])]),
        no
    );
    // Both expressions of a term must hold.
    assert_eq!(
        check(vec![term(vec![
            requirement("disk", "In", &["ssd"]),
            requirement("cores", "Lt", &["8"])
        ])]),
        no
    );
    // Any term may match.
    assert_eq!(
        check(vec![
            term(vec![requirement("disk", "In", &["hdd"])]),
            term(vec![requirement("cores", "Gt", &["8"])])
        ]),
        fits
    );
    // An empty term and a malformed one match nothing.
    assert_eq!(check(vec![term(vec![])]), no);
    assert_eq!(
        check(vec![term(vec![requirement("cores", "Gt", &["8", "9"])])]),
        no
    );
    // matchFields on metadata.name.
    let by_name = NodeSelectorTerm {
        match_fields: vec![requirement("metadata.name", "In", &["n1"])],
        ..NodeSelectorTerm::default()
    };
    assert_eq!(check(vec![by_name]), fits);
}

#[test]
fn host_port_taken_on_the_node_filters_it() {
    let n = node("n1", "4", "8Gi", "110");
    let on_it = bound(with_host_port(pod("x", "", ""), 8080, None, None), "n1");
    let same = with_host_port(pod("p", "", ""), 8080, None, None);
    assert_eq!(
        reasons(&same, &n, std::slice::from_ref(&on_it)),
        [Reason::NodePorts]
    );
    assert_eq!(
        Reason::NodePorts.to_string(),
        "node(s) didn't have free ports for the requested pod ports"
    );
    // Another protocol, or another port, is free.
    let udp = with_host_port(pod("p", "", ""), 8080, Some("UDP"), None);
    assert_eq!(reasons(&udp, &n, std::slice::from_ref(&on_it)), []);
    let other = with_host_port(pod("p", "", ""), 8081, None, None);
    assert_eq!(reasons(&other, &n, std::slice::from_ref(&on_it)), []);
    // A specific IP conflicts with 0.0.0.0 but not with another specific IP.
    let ip_taken = bound(
        with_host_port(pod("y", "", ""), 9000, None, Some("10.0.0.1")),
        "n1",
    );
    let ip2 = with_host_port(pod("p", "", ""), 9000, None, Some("10.0.0.2"));
    assert_eq!(reasons(&ip2, &n, std::slice::from_ref(&ip_taken)), []);
    let any = with_host_port(pod("p", "", ""), 9000, None, None);
    assert_eq!(reasons(&any, &n, &[ip_taken]), [Reason::NodePorts]);
}

#[test]
fn resources_fit_counts_bound_pods_but_not_finished_ones() {
    let n = node("n1", "2", "4Gi", "110");
    let running = bound(pod("x", "1500m", "1Gi"), "n1");
    let mut done = bound(pod("y", "2", "4Gi"), "n1");
    done.status.phase = Some("Succeeded".into());
    assert_eq!(
        reasons(
            &pod("p", "600m", "1Gi"),
            &n,
            &[running.clone(), done.clone()]
        ),
        [Reason::InsufficientCpu]
    );
    assert_eq!(reasons(&pod("p", "500m", "3Gi"), &n, &[running, done]), []);
}

#[test]
fn pod_without_requests_fits_a_full_node_but_not_past_its_pod_count() {
    let n = node("n1", "1", "1Gi", "2");
    let full = bound(pod("x", "1", "1Gi"), "n1");
    assert_eq!(
        reasons(&pod("p", "", ""), &n, std::slice::from_ref(&full)),
        []
    );
    let second = bound(pod("y", "", ""), "n1");
    assert_eq!(
        reasons(&pod("p", "", ""), &n, &[full, second]),
        [Reason::TooManyPods]
    );
}

#[test]
fn effective_request_is_max_of_containers_and_init_containers_with_sidecars() {
    let mut p = pod("p", "500m", "256Mi");
    let mut init = Container::new("init", "busybox");
    init.resources.requests.insert("cpu".into(), q("2"));
    p.spec.init_containers.push(init);
    let r = resources::pod_requests(&p.spec);
    assert_eq!(r.fit, Resources::new(2000, 256 * MI));
    // Non-zero: the init container has no memory request, so it counts 200 MB.
    assert_eq!(r.non_zero, Resources::new(2000, 256 * MI));
    // A sidecar (restartPolicy Always) runs beside the app containers.
    let mut sidecar = Container::new("proxy", "envoy");
    sidecar.restart_policy = Some("Always".into());
    sidecar.resources.requests.insert("cpu".into(), q("100m"));
    sidecar
        .resources
        .requests
        .insert("memory".into(), q("64Mi"));
    p.spec.init_containers.insert(0, sidecar);
    let r = resources::pod_requests(&p.spec);
    assert_eq!(r.fit, Resources::new(2100, 320 * MI));
    let empty = resources::pod_requests(&pod("e", "", "").spec);
    assert_eq!(empty.fit, Resources::new(0, 0));
    assert_eq!(empty.non_zero, Resources::new(100, 200 * MI));
}

// ---------------------------------------------------------------------------------------------
// Scores
// ---------------------------------------------------------------------------------------------

#[test]
fn least_allocated_prefers_the_node_with_6_cpus_left_over_the_one_with_2() {
    // Seed §6: after placing the pod, 6 CPUs left beats 2 CPUs left.
    let nodes = [
        node("big", "8", "16Gi", "110"),
        node("small", "4", "16Gi", "110"),
    ];
    let p = pod("p", "2", "1Gi");
    let snapshot = Snapshot::new(&nodes, []);
    let info = PodInfo::new(&p);
    // cpu (8−2)·100/8 = 75, memory (16−1)·100/16 = 93 → 84; cpu 50, memory 93 → 71.
    assert_eq!(plugins::least_allocated(&info, snapshot.node(0)), 84);
    assert_eq!(plugins::least_allocated(&info, snapshot.node(1)), 71);
    // Balanced: |0.25 − 0.0625|/2 → 90; |0.5 − 0.0625|/2 → 78.
    assert_eq!(plugins::balanced_allocation(&info, snapshot.node(0)), 90);
    assert_eq!(plugins::balanced_allocation(&info, snapshot.node(1)), 78);
    let view = view_of(&nodes, std::slice::from_ref(&p));
    let out = Scheduler::new(3).reconcile(&view, &key("p"), t0());
    assert_eq!(
        out.actions,
        [bind_action("p", "big"), scheduled_event(&p, "big", t0())]
    );
}

#[test]
fn least_allocated_counts_pods_without_requests_as_100m_and_200mb() {
    let n = node("n1", "1", "1000Mi", "110");
    let snapshot = Snapshot::new([&n], [&bound(pod("x", "", ""), "n1")]);
    let p = pod("p", "", "");
    let info = PodInfo::new(&p);
    // Requested 200m of 1000m → 80; 400Mi of 1000Mi → 60; mean 70.
    assert_eq!(plugins::least_allocated(&info, snapshot.node(0)), 70);
    // Balanced allocation skips best-effort pods.
    assert_eq!(plugins::balanced_allocation(&info, snapshot.node(0)), 0);
}

#[test]
fn balanced_allocation_prefers_even_cpu_and_memory_use() {
    let nodes = [
        node("even", "4", "4Gi", "110"),
        node("skewed", "4", "4Gi", "110"),
    ];
    let on_skewed = bound(pod("x", "", "2Gi"), "skewed");
    let snapshot = Snapshot::new(&nodes, [&on_skewed]);
    let p = pod("p", "1", "1Gi");
    let info = PodInfo::new(&p);
    // even: 0.25 and 0.25 → 100; skewed: 0.25 and 0.75 → (1 − 0.25)·100 = 75.
    assert_eq!(plugins::balanced_allocation(&info, snapshot.node(0)), 100);
    assert_eq!(plugins::balanced_allocation(&info, snapshot.node(1)), 75);
}

#[test]
fn prefer_no_schedule_taints_lower_the_score_reverse_normalized() {
    let nodes = [
        node("clean", "4", "8Gi", "110"),
        tainted(
            node("one", "4", "8Gi", "110"),
            "a",
            None,
            "PreferNoSchedule",
        ),
        tainted(
            tainted(
                node("two", "4", "8Gi", "110"),
                "a",
                None,
                "PreferNoSchedule",
            ),
            "b",
            None,
            "PreferNoSchedule",
        ),
    ];
    let snapshot = Snapshot::new(&nodes, []);
    let p = pod("p", "", "");
    let tolerations = plugins::prefer_no_schedule_tolerations(&p);
    let mut raw: Vec<i64> = snapshot
        .nodes()
        .iter()
        .map(|n| plugins::intolerable_prefer_no_schedule(&tolerations, n))
        .collect();
    assert_eq!(raw, [0, 1, 2]);
    plugins::default_normalize(&mut raw, true);
    assert_eq!(raw, [100, 50, 0]);
    // Tolerating `a` makes `one` as good as `clean`.
    let mut tolerant = p;
    tolerant
        .spec
        .tolerations
        .push(toleration("a", "Exists", None, Some("PreferNoSchedule")));
    let tolerations = plugins::prefer_no_schedule_tolerations(&tolerant);
    let raw: Vec<i64> = snapshot
        .nodes()
        .iter()
        .map(|n| plugins::intolerable_prefer_no_schedule(&tolerations, n))
        .collect();
    assert_eq!(raw, [0, 0, 1]);
    // The whole pipeline picks the clean node for the intolerant pod.
    let view = view_of(&nodes, &[pod("q", "", "")]);
    let out = Scheduler::new(9).reconcile(&view, &key("q"), t0());
    assert_eq!(out.actions[0], bind_action("q", "clean"));
}

#[test]
fn preferred_node_affinity_adds_normalized_weights() {
    let nodes = [
        labelled(node("a", "4", "8Gi", "110"), "zone", "east"),
        labelled(
            labelled(node("b", "4", "8Gi", "110"), "zone", "west"),
            "disk",
            "ssd",
        ),
        node("c", "4", "8Gi", "110"),
    ];
    let mut p = pod("p", "", "");
    p.spec.affinity = Some(Affinity {
        node_affinity: Some(NodeAffinity {
            preferred_during_scheduling_ignored_during_execution: vec![
                PreferredSchedulingTerm {
                    weight: 10,
                    preference: term(vec![requirement("zone", "In", &["east", "west"])]),
                },
                PreferredSchedulingTerm {
                    weight: 30,
                    preference: term(vec![requirement("disk", "In", &["ssd"])]),
                },
            ],
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    });
    let snapshot = Snapshot::new(&nodes, []);
    let mut raw: Vec<i64> = snapshot
        .nodes()
        .iter()
        .map(|n| plugins::preferred_affinity(&p, n))
        .collect();
    assert_eq!(raw, [10, 40, 0]);
    plugins::default_normalize(&mut raw, false);
    assert_eq!(raw, [25, 100, 0]);
    let view = view_of(&nodes, std::slice::from_ref(&p));
    let out = Scheduler::new(4).reconcile(&view, &key("p"), t0());
    assert_eq!(out.actions[0], bind_action("p", "b"));
}

#[test]
fn total_score_weights_taint_3_affinity_2_fit_1_balanced_1() {
    let nodes = [
        tainted(
            labelled(node("a", "4", "4Gi", "110"), "zone", "east"),
            "x",
            None,
            "PreferNoSchedule",
        ),
        node("b", "4", "4Gi", "110"),
        labelled(node("c", "2", "8Gi", "110"), "zone", "east"),
    ];
    let mut p = pod("p", "1", "1Gi");
    p.spec.affinity = Some(Affinity {
        node_affinity: Some(NodeAffinity {
            preferred_during_scheduling_ignored_during_execution: vec![PreferredSchedulingTerm {
                weight: 10,
                preference: term(vec![requirement("zone", "In", &["east"])]),
            }],
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    });
    let snapshot = Snapshot::new(&nodes, []);
    // a: 3·0 + 2·100 + 75 + 100; b: 3·100 + 2·0 + 75 + 100; c: 3·100 + 2·100 + 68 + 81.
    assert_eq!(
        node_scores(&snapshot, &PodInfo::new(&p), &[0, 1, 2]),
        [375, 475, 649]
    );
    let view = view_of(&nodes, std::slice::from_ref(&p));
    assert_eq!(
        Scheduler::new(0).reconcile(&view, &key("p"), t0()).actions[0],
        bind_action("p", "c")
    );
}

// ---------------------------------------------------------------------------------------------
// Node search: percentage, start index, tie-break
// ---------------------------------------------------------------------------------------------

#[test]
fn percentage_of_nodes_to_score_follows_upstream_figures() {
    assert_eq!(num_feasible_nodes_to_find(50, 0), 50);
    assert_eq!(num_feasible_nodes_to_find(100, 0), 100);
    assert_eq!(num_feasible_nodes_to_find(500, 0), 230); // 46 %
    assert_eq!(num_feasible_nodes_to_find(1000, 0), 420); // 42 %
    assert_eq!(num_feasible_nodes_to_find(5000, 0), 500); // 10 %
    assert_eq!(num_feasible_nodes_to_find(6000, 0), 300); // floored at 5 %
    assert_eq!(num_feasible_nodes_to_find(150, 0), 100); // at least 100
    assert_eq!(num_feasible_nodes_to_find(5000, 30), 1500);
    assert_eq!(num_feasible_nodes_to_find(5000, 100), 5000);
}

fn nodes(n: usize) -> Vec<Node> {
    (0..n)
        .map(|i| node(&format!("n{i:04}"), "4", "8Gi", "110"))
        .collect()
}

#[test]
fn node_search_stops_at_enough_feasible_nodes_and_rotates_its_start() {
    let mut snapshot = Snapshot::new(&nodes(250), []);
    let mut s = Scheduler::new(0);
    let p = pod("p", "1", "1Gi");
    // 250 nodes: 50 − 2 = 48 % → 120 feasible nodes, so the search covers 0..120.
    let first = s.schedule_batch(&mut snapshot, &[&p]);
    assert_eq!(s.next_start_node_index(), 120);
    assert!(matches!(first[0], Ok(i) if i < 120));
    let second = s.schedule_batch(&mut snapshot, &[&p]);
    assert!(matches!(second[0], Ok(i) if (120..240).contains(&i)));
    assert_eq!(s.next_start_node_index(), 240);
    s.schedule_batch(&mut snapshot, &[&p]);
    assert_eq!(s.next_start_node_index(), 110); // wrapped: 240 + 120 − 250
}

#[test]
fn unschedulable_pod_examines_every_node_and_advances_the_start_by_all() {
    let mut snapshot = Snapshot::new(&nodes(250), []);
    let mut s = Scheduler::new(0);
    s.schedule_batch(&mut snapshot, &[&pod("p", "1", "1Gi")]);
    let huge = pod("huge", "64", "");
    let out = s.schedule_batch(&mut snapshot, &[&huge]);
    let mut expected = FitError {
        num_all_nodes: 250,
        ..FitError::default()
    };
    expected.reasons.insert(Reason::InsufficientCpu, 250);
    assert_eq!(out, [Err(ScheduleError::Unschedulable(expected))]);
    assert_eq!(s.next_start_node_index(), 120);
}

#[test]
fn ties_are_broken_by_the_seeded_draw() {
    let ns = nodes(8);
    let p = pod("p", "1", "1Gi");
    let pick = |seed: u64| {
        let mut snapshot = Snapshot::new(&ns, []);
        Scheduler::new(seed).schedule_batch(&mut snapshot, &[&p])[0].clone()
    };
    let picks: Vec<_> = (0..16).map(pick).collect();
    // Same seed, same node.
    assert_eq!(picks, (0..16).map(pick).collect::<Vec<_>>());
    // Different seeds spread over the tied nodes.
    let distinct: std::collections::BTreeSet<_> =
        picks.iter().map(|r| r.clone().unwrap()).collect();
    assert!(distinct.len() >= 4, "{distinct:?}");
}

// ---------------------------------------------------------------------------------------------
// Assume cache
// ---------------------------------------------------------------------------------------------

#[test]
fn assume_cache_prevents_double_booking_within_a_batch() {
    let mut snapshot = Snapshot::new(&[node("n1", "1", "2Gi", "110")], []);
    let (a, b) = (pod("a", "600m", "1Gi"), pod("b", "600m", "1Gi"));
    let out = Scheduler::new(0).schedule_batch(&mut snapshot, &[&a, &b]);
    let mut full = FitError {
        num_all_nodes: 1,
        ..FitError::default()
    };
    full.reasons.insert(Reason::InsufficientCpu, 1);
    assert_eq!(out, [Ok(0), Err(ScheduleError::Unschedulable(full))]);
    assert_eq!(snapshot.node(0).requested(), Resources::new(600, GI));
    assert_eq!(snapshot.node(0).pod_count(), 1);
}

#[test]
fn assumed_pod_holds_its_room_until_the_binding_is_observed() {
    let n = node("n1", "1", "2Gi", "110");
    let (a, b) = (pod("a", "600m", "1Gi"), pod("b", "600m", "1Gi"));
    let view = view_of(std::slice::from_ref(&n), &[a.clone(), b.clone()]);
    let mut s = Scheduler::new(0);
    assert_eq!(
        s.reconcile(&view, &key("a"), t0()).actions,
        [bind_action("a", "n1"), scheduled_event(&a, "n1", t0())]
    );
    // Same view (binding not observed yet): `a` is not bound twice, and `b` finds no room.
    assert_eq!(s.reconcile(&view, &key("a"), t0()), Output::none());
    assert_eq!(
        s.reconcile(&view, &key("b"), t0()).actions,
        failed_actions(
            &b,
            "Unschedulable",
            "0/1 nodes are available: 1 Insufficient cpu.",
            t0()
        )
    );
    // The binding shows up: the assumption is replaced by the bound pod.
    let mut a_bound = bound(a, "n1");
    a_bound.metadata.resource_version = Some("11".into());
    let mut later = view.clone();
    later.insert(a_bound.into());
    assert_eq!(s.reconcile(&later, &key("a"), t0()), Output::none());
    assert!(s.assumed().is_empty());
}

#[test]
fn assumed_pod_is_counted_exactly_once_across_view_revisions() {
    let n1 = node("n1", "1", "4Gi", "110");
    let (a, b, c) = (
        pod("a", "400m", "1Gi"),
        pod("b", "400m", "1Gi"),
        pod("c", "400m", "1Gi"),
    );
    let mut view = view_of(std::slice::from_ref(&n1), &[a, b.clone(), c.clone()]);
    let mut sched = Scheduler::new(0);
    assert_eq!(
        sched.reconcile(&view, &key("a"), t0()).actions[0],
        bind_action("a", "n1")
    );
    // Unrelated changes move the revision twice; `a` is still only assumed.
    view.insert(pod("z", "", "").into());
    view.observe_revision(11);
    assert_eq!(
        sched.reconcile(&view, &key("b"), t0()).actions[0],
        bind_action("b", "n1")
    );
    view.observe_revision(12);
    assert_eq!(
        sched.reconcile(&view, &key("c"), t0()).actions,
        failed_actions(
            &c,
            "Unschedulable",
            "0/1 nodes are available: 1 Insufficient cpu.",
            t0()
        )
    );
    // `b`'s binding is observed: still 800m in use, so a new 400m pod does not fit either,
    // and `c` keeps waiting (no room was freed).
    let mut b_bound = bound(b, "n1");
    b_bound.metadata.resource_version = Some("13".into());
    view.insert(b_bound.into());
    let d = pod("d", "400m", "1Gi");
    view.insert(d.clone().into());
    let later = t0() + Duration::from_secs(60);
    assert_eq!(
        sched.reconcile(&view, &key("d"), later).actions,
        failed_actions(
            &d,
            "Unschedulable",
            "0/1 nodes are available: 1 Insufficient cpu.",
            later
        )
    );
    assert_eq!(sched.reconcile(&view, &key("c"), later).actions, []);
    assert_eq!(sched.assumed().keys().collect::<Vec<_>>(), [&key("a")]);
}

#[test]
fn failed_binding_releases_the_assumed_room() {
    let n = node("n1", "1", "2Gi", "110");
    let (a, b) = (pod("a", "600m", "1Gi"), pod("b", "600m", "1Gi"));
    let view = view_of(std::slice::from_ref(&n), &[a, b.clone()]);
    let mut s = Scheduler::new(0);
    let out = s.reconcile(&view, &key("a"), t0());
    let conflict = ClientError::Status(Status::conflict("pods", "a", "already assigned"));
    s.action_failed(&key("a"), &out.actions[0], &conflict);
    assert!(s.assumed().is_empty());
    assert_eq!(
        s.reconcile(&view, &key("b"), t0()).actions,
        [bind_action("b", "n1"), scheduled_event(&b, "n1", t0())]
    );
}

// ---------------------------------------------------------------------------------------------
// Queue: backoff and retry on cluster events
// ---------------------------------------------------------------------------------------------

#[test]
fn backoff_doubles_from_1s_up_to_10s() {
    let figures: Vec<u64> = (1..=6).map(|a| backoff_duration(a).as_secs()).collect();
    assert_eq!(figures, [1, 2, 4, 8, 10, 10]);
    assert_eq!(backoff_duration(0), Duration::ZERO);
}

#[test]
fn failed_pod_backs_off_1s_2s_4s_8s_10s_between_attempts() {
    let p = pod("p", "64", "");
    let mut nodes_now = vec![node("n0", "1", "1Gi", "110")];
    let mut s = Scheduler::new(0);
    let mut now = t0();
    let mut waits = Vec::new();
    for round in 1..=6 {
        let mut view = view_of(&nodes_now, std::slice::from_ref(&p));
        view.observe_revision(100 + 2 * round);
        let out = s.reconcile(&view, &key("p"), now);
        // Event and status (the message names one more node each round).
        assert_eq!(out.actions.len(), 2, "round {round}");
        // A cluster event arrives 100 ms later: the pod is still backing off.
        nodes_now.push(node(&format!("n{round}"), "1", "1Gi", "110"));
        let mut view = view_of(&nodes_now, std::slice::from_ref(&p));
        view.observe_revision(101 + 2 * round);
        let early = now + Duration::from_millis(100);
        let out = s.reconcile(&view, &key("p"), early);
        assert_eq!(out.actions, []);
        waits.push(out.requeue_after.unwrap() + Duration::from_millis(100));
        now += out.requeue_after.unwrap() + Duration::from_millis(100);
    }
    let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
    assert_eq!(s.queued()[&key("p")].attempts, 6);
}

#[test]
fn unschedulable_pod_waits_for_a_cluster_event_then_retries() {
    let p = pod("p", "2", "1Gi");
    let small = node("small", "1", "4Gi", "110");
    let view = view_of(std::slice::from_ref(&small), std::slice::from_ref(&p));
    let mut s = Scheduler::new(0);
    let out = s.reconcile(&view, &key("p"), t0());
    assert_eq!(out.requeue_after, Some(POD_MAX_IN_UNSCHEDULABLE));
    // Backoff over, nothing changed: wait for the 5-minute flush.
    let later = t0() + Duration::from_secs(30);
    assert_eq!(
        s.reconcile(&view, &key("p"), later),
        Output {
            actions: Vec::new(),
            requeue_after: Some(Duration::from_secs(270)),
        }
    );
    // A node joins: the node event names the waiting pod, and the retry binds it.
    let big = node("big", "4", "4Gi", "110");
    let mut grown = view.clone();
    grown.insert(big.clone().into());
    grown.observe_revision(11);
    assert_eq!(s.keys_for(&grown, &big.into()), [key("p")]);
    assert_eq!(
        s.reconcile(&grown, &key("p"), later).actions,
        [bind_action("p", "big"), scheduled_event(&p, "big", later)]
    );
    assert!(s.queued().is_empty());
}

#[test]
fn deleted_pod_frees_room_for_a_waiting_pod() {
    let n = node("n1", "1", "4Gi", "110");
    let hog = bound(pod("hog", "1", "1Gi"), "n1");
    let p = pod("p", "1", "1Gi");
    let view = view_of(std::slice::from_ref(&n), &[hog.clone(), p.clone()]);
    let mut s = Scheduler::new(0);
    s.reconcile(&view, &key("p"), t0());
    let mut after = view.clone();
    after.remove(&hog.clone().into());
    after.observe_revision(11);
    assert_eq!(s.keys_for(&after, &hog.into()), [key("p")]);
    let later = t0() + Duration::from_secs(2);
    assert_eq!(
        s.reconcile(&after, &key("p"), later).actions[0],
        bind_action("p", "n1")
    );
}

#[test]
fn status_is_not_rewritten_when_the_condition_already_says_so() {
    let n = node("n1", "1", "4Gi", "110");
    let mut p = pod("p", "2", "");
    let message = "0/1 nodes are available: 1 Insufficient cpu.";
    p.status.conditions.push(PodCondition {
        r#type: "PodScheduled".into(),
        status: "False".into(),
        reason: Some("Unschedulable".into()),
        message: Some(message.into()),
        last_transition_time: Some(Time::from_unix_seconds(1)),
        ..PodCondition::default()
    });
    let view = view_of(&[n], std::slice::from_ref(&p));
    let out = Scheduler::new(0).reconcile(&view, &key("p"), t0());
    assert_eq!(
        out.actions,
        [failed_actions(&p, "Unschedulable", message, t0()).remove(0)]
    );
}

#[test]
fn gated_pod_is_marked_scheduling_gated_and_scheduled_once_the_gates_are_gone() {
    use skiff_core::object::Value;
    let n = node("n1", "4", "8Gi", "110");
    let mut p = pod("p", "", "");
    let gate = Value::Map([("name".to_owned(), Value::String("example.com/wait".into()))].into());
    p.spec.scheduling_gates = Some(Value::Seq(vec![gate]));
    let view = view_of(std::slice::from_ref(&n), std::slice::from_ref(&p));
    let mut s = Scheduler::new(0);
    let mut gated = p.clone();
    gated.status.conditions.push(PodCondition {
        r#type: "PodScheduled".into(),
        status: "False".into(),
        reason: Some("SchedulingGated".into()),
        message: Some("Scheduling is blocked due to non-empty scheduling gates".into()),
        last_transition_time: Some(reconcile::time_of(t0())),
        ..PodCondition::default()
    });
    assert_eq!(
        s.reconcile(&view, &key("p"), t0()),
        Output {
            actions: vec![Action::UpdateStatus(gated.clone().into())],
            requeue_after: None,
        }
    );
    // Gates removed (a spec update): scheduled.
    let mut open = gated;
    open.spec.scheduling_gates = Some(Value::Seq(Vec::new()));
    open.metadata.resource_version = Some("12".into());
    let view = view_of(&[n], std::slice::from_ref(&open));
    assert_eq!(
        s.reconcile(&view, &key("p"), t0()).actions,
        [bind_action("p", "n1"), scheduled_event(&open, "n1", t0())]
    );
}

#[test]
fn bound_deleting_and_other_schedulers_pods_are_left_alone() {
    let n = node("n1", "4", "8Gi", "110");
    let on_node = bound(pod("a", "", ""), "n1");
    let mut deleting = pod("b", "", "");
    deleting.metadata.deletion_timestamp = Some(Time::from_unix_seconds(5));
    let mut other = pod("c", "", "");
    other.spec.scheduler_name = Some("my-scheduler".into());
    let view = view_of(&[n], &[on_node, deleting, other]);
    let mut s = Scheduler::new(0);
    for name in ["a", "b", "c", "missing"] {
        assert_eq!(
            s.reconcile(&view, &key(name), t0()),
            Output::none(),
            "{name}"
        );
    }
    assert_eq!(s.resync_keys(&view), Vec::<ObjectKey>::new());
}

#[test]
fn manager_runs_the_default_scheduler_under_the_kube_scheduler_lease() {
    let m = manager(7);
    let names: Vec<&str> = m.controllers().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["default-scheduler"]);
    assert_eq!(SCHEDULER_LEASE, "kube-scheduler");
}

#[test]
fn watches_pods_and_nodes_and_resyncs_pending_pods() {
    let s = Scheduler::new(0);
    let kinds: Vec<&str> = s.watches().iter().map(|w| w.resource.kind).collect();
    assert_eq!(kinds, ["Pod", "Node"]);
    let view = view_of(
        &[node("n1", "1", "1Gi", "1")],
        &[pod("b", "", ""), pod("a", "", "")],
    );
    assert_eq!(s.resync_keys(&view), [key("a"), key("b")]);
    assert_eq!(s.keys_for(&view, &pod("a", "", "").into()), [key("a")]);
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn arb_cluster() -> impl Strategy<Value = (Vec<Node>, Vec<Pod>, u64)> {
    let nodes = prop::collection::vec((1i64..16, 1i64..32, 1i64..12, any::<bool>()), 1..12);
    let pods = prop::collection::vec((0i64..3000, 0i64..4096, any::<bool>()), 1..60);
    (nodes, pods, any::<u64>()).prop_map(|(ns, ps, seed)| {
        let nodes = ns
            .into_iter()
            .enumerate()
            .map(|(i, (cpu, gib, pods, taint))| {
                let n = node(
                    &format!("n{i}"),
                    &cpu.to_string(),
                    &format!("{gib}Gi"),
                    &pods.to_string(),
                );
                if taint {
                    tainted(n, "soft", None, "PreferNoSchedule")
                } else {
                    n
                }
            })
            .collect();
        let pods = ps
            .into_iter()
            .enumerate()
            .map(|(i, (milli, mib, port))| {
                let cpu = if milli == 0 {
                    String::new()
                } else {
                    format!("{milli}m")
                };
                let mem = if mib == 0 {
                    String::new()
                } else {
                    format!("{mib}Mi")
                };
                let p = pod(&format!("p{i}"), &cpu, &mem);
                if port {
                    with_host_port(p, 80, None, None)
                } else {
                    p
                }
            })
            .collect();
        (nodes, pods, seed)
    })
}

proptest! {
    #[test]
    fn same_input_gives_same_decisions((nodes, pods, seed) in arb_cluster()) {
        let refs: Vec<&Pod> = pods.iter().collect();
        let run = || {
            let mut snapshot = Snapshot::new(&nodes, []);
            let mut s = Scheduler::new(seed);
            let decisions = s.schedule_batch(&mut snapshot, &refs);
            (decisions, s.next_start_node_index(), snapshot)
        };
        prop_assert_eq!(run(), run());
        // The reconcile path too: same view, same outputs.
        let view = view_of(&nodes, &pods);
        let outputs = || {
            let mut s = Scheduler::new(seed);
            pods.iter()
                .map(|p| s.reconcile(&view, &key(p.metadata.name.as_deref().unwrap()), t0()))
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(outputs(), outputs());
    }

    #[test]
    fn refreshing_a_snapshot_equals_building_it_afresh(
        (nodes, pods, seed) in arb_cluster(),
        picks in prop::collection::vec(any::<u8>(), 60),
    ) {
        // Earlier state: nothing bound. Later: some pods bound, one finished, one node's
        // object changed when the seed is odd.
        let before = view_of(&nodes, &pods);
        let mut later_nodes = nodes.clone();
        if seed % 2 == 1 {
            later_nodes[0].metadata.resource_version = Some("2".into());
            later_nodes[0].spec.unschedulable = Some(true);
        }
        let later_pods: Vec<Pod> = pods
            .iter()
            .zip(&picks)
            .map(|(p, &pick)| {
                let target = usize::from(pick) % (nodes.len() + 1);
                let mut p = if target == nodes.len() { p.clone() } else { bound(p.clone(), &format!("n{target}")) };
                if pick % 7 == 0 {
                    p.status.phase = Some("Succeeded".into());
                }
                // Every change gets a new resourceVersion, as the store gives it.
                if p.spec.node_name.is_some() || p.status.phase.is_some() {
                    p.metadata.resource_version = Some("20".into());
                }
                p
            })
            .collect();
        let later = view_of(&later_nodes, &later_pods);
        let mut snapshot = Snapshot::from_view(&before);
        snapshot.refresh_from_view(&later, []);
        prop_assert_eq!(&snapshot, &Snapshot::from_view(&later));
        prop_assert_eq!(&snapshot, &Snapshot::new(&later_nodes, &later_pods));
        // And back: room freed is reported.
        let freed = snapshot.refresh_from_view(&before, []);
        prop_assert_eq!(&snapshot, &Snapshot::from_view(&before));
        let anything_bound = later_pods.iter().any(|p| p.spec.node_name.is_some() && !snapshot::is_terminated(p));
        prop_assert_eq!(freed, anything_bound || seed % 2 == 1);
    }

    #[test]
    fn never_places_requests_beyond_allocatable((nodes, pods, seed) in arb_cluster()) {
        let refs: Vec<&Pod> = pods.iter().collect();
        let mut snapshot = Snapshot::new(&nodes, []);
        let decisions = Scheduler::new(seed).schedule_batch(&mut snapshot, &refs);
        let mut used = vec![(Resources::default(), 0i64, 0usize); snapshot.len()];
        for (p, d) in pods.iter().zip(&decisions) {
            if let Ok(i) = d {
                let r = resources::pod_requests(&p.spec).fit;
                used[*i].0 = used[*i].0.plus(r);
                used[*i].1 += 1;
                used[*i].2 += super::snapshot::host_ports(p).len();
            }
        }
        for (i, (req, count, ports)) in used.iter().enumerate() {
            let n = snapshot.node(i);
            prop_assert!(req.milli_cpu <= n.allocatable().milli_cpu);
            prop_assert!(req.memory <= n.allocatable().memory);
            prop_assert!(*count <= n.allowed_pods());
            prop_assert!(*ports <= 1, "host port 80 twice on {}", n.name());
            prop_assert_eq!(*req, n.requested());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Following the view's changes (`Controller::observe`) instead of refreshing from it
// ---------------------------------------------------------------------------------------------

/// A change of the view as the runtime loop applies it: the view first, then `observe`.
fn change(s: &mut Scheduler, view: &mut View, rv: &mut u64, object: Object, delete: bool) {
    *rv += 1;
    let mut object = object;
    object.metadata_mut().resource_version = Some(rv.to_string());
    let k = ObjectKey::of(&object);
    let old = view.get_object(object.info().kind, &k).cloned();
    if delete {
        view.remove(&object);
        s.observe(view, Some(&object), None);
    } else {
        view.insert(object.clone());
        s.observe(view, old.as_ref(), Some(&object));
    }
}

/// What `refresh` would build from `view` with the scheduler's assumptions on top.
fn refreshed_nodes(s: &Scheduler, view: &View) -> Vec<NodeInfo> {
    let mut fresh = Snapshot::from_view(view);
    for a in s.assumed().values() {
        if let Some(i) = fresh.index_of(&a.node) {
            fresh.assume(i, &a.footprint);
        }
    }
    fresh.nodes().to_vec()
}

#[test]
fn observed_binding_replaces_the_assumption_without_a_refresh() {
    let n1 = node("n1", "1", "4Gi", "110");
    let (a, b) = (pod("a", "400m", "1Gi"), pod("b", "400m", "1Gi"));
    let mut view = view_of(std::slice::from_ref(&n1), &[a.clone(), b.clone()]);
    let mut rv = 100;
    view.observe_revision(rv);
    let mut s = Scheduler::new(0);
    assert_eq!(
        s.reconcile(&view, &key("a"), t0()).actions[0],
        bind_action("a", "n1")
    );
    // The binding comes back through the watch.
    change(&mut s, &mut view, &mut rv, bound(a, "n1").into(), false);
    assert!(s.assumed().is_empty());
    let (revision, snapshot) = s.cached.as_ref().unwrap();
    assert_eq!(*revision, view.revision());
    assert_eq!(snapshot.node(0).requested().milli_cpu, 400);
    assert_eq!(snapshot.node(0).pod_count(), 1);
    assert_eq!(snapshot.nodes(), refreshed_nodes(&s, &view).as_slice());
    // Binding a pod is no cluster event: nothing was freed.
    assert_eq!(s.cluster_events(), 0);
    assert_eq!(
        s.reconcile(&view, &key("b"), t0()).actions[0],
        bind_action("b", "n1")
    );
}

#[test]
fn observed_deletion_of_a_bound_pod_is_a_cluster_event() {
    let n1 = node("n1", "1", "4Gi", "110");
    let big = bound(pod("big", "800m", "1Gi"), "n1");
    let waiting = pod("waiting", "500m", "1Gi");
    let mut view = view_of(std::slice::from_ref(&n1), &[big.clone(), waiting.clone()]);
    let mut rv = 100;
    view.observe_revision(rv);
    let mut s = Scheduler::new(0);
    assert_eq!(
        s.reconcile(&view, &key("waiting"), t0()).actions,
        failed_actions(
            &waiting,
            "Unschedulable",
            "0/1 nodes are available: 1 Insufficient cpu.",
            t0()
        )
    );
    // An unrelated pending pod: no event.
    change(
        &mut s,
        &mut view,
        &mut rv,
        pod("other", "", "").into(),
        false,
    );
    assert_eq!(s.cluster_events(), 0);
    change(&mut s, &mut view, &mut rv, big.into(), true);
    assert_eq!(s.cluster_events(), 1);
    assert_eq!(s.cached.as_ref().unwrap().0, view.revision());
    // The waiting pod is retried once its backoff is over, and now fits.
    let later = t0() + Duration::from_secs(1);
    assert_eq!(
        s.reconcile(&view, &key("waiting"), later).actions[0],
        bind_action("waiting", "n1")
    );
}

#[test]
fn node_added_while_observing_rebuilds_at_the_next_reconcile() {
    let n1 = node("n1", "1", "4Gi", "110");
    let p = pod("p", "2", "1Gi");
    let mut view = view_of(std::slice::from_ref(&n1), std::slice::from_ref(&p));
    let mut rv = 100;
    view.observe_revision(rv);
    let mut s = Scheduler::new(0);
    assert_eq!(s.reconcile(&view, &key("p"), t0()).actions.len(), 2);
    change(
        &mut s,
        &mut view,
        &mut rv,
        node("n2", "4", "4Gi", "110").into(),
        false,
    );
    assert!(!s.observing);
    let later = t0() + Duration::from_secs(1);
    assert_eq!(
        s.reconcile(&view, &key("p"), later).actions[0],
        bind_action("p", "n2")
    );
    assert!(s.observing);
}

proptest! {
    #[test]
    fn following_observed_changes_equals_refreshing_from_the_view(
        (nodes, pods, seed) in arb_cluster(),
        ops in prop::collection::vec((0u8..8, any::<u16>(), any::<u16>()), 1..80),
    ) {
        let mut view = view_of(&nodes, &pods);
        let mut rv = 1_000;
        view.observe_revision(rv);
        let mut s = Scheduler::new(seed);
        let mut extra = 0;
        for (op, a, b) in ops {
            let pods_now: Vec<Pod> = view.list::<Pod>().cloned().collect();
            let nodes_now: Vec<Node> = view.list::<Node>().cloned().collect();
            let pick_pod = |x: u16| (!pods_now.is_empty()).then(|| pods_now[usize::from(x) % pods_now.len()].clone());
            match op {
                // The runtime reconciles a pending pod (it may be assumed on a node).
                0 | 1 => {
                    if let Some(p) = pick_pod(a) {
                        let k = ObjectKey::new(p.metadata.namespace_or_empty(), p.metadata.name_or_empty());
                        let _ = s.reconcile(&view, &k, t0() + Duration::from_secs(u64::from(b)));
                    }
                }
                // A binding is observed (where we assumed it, or elsewhere).
                2 => {
                    if let (Some(p), false) = (pick_pod(a), nodes_now.is_empty()) {
                        let k = ObjectKey::new(p.metadata.namespace_or_empty(), p.metadata.name_or_empty());
                        let target = s.assumed().get(&k).map(|x| x.node.clone()).filter(|_| b % 3 != 0)
                            .unwrap_or_else(|| nodes_now[usize::from(b) % nodes_now.len()].metadata.name_or_empty().to_owned());
                        if p.spec.node_name.is_none() {
                            change(&mut s, &mut view, &mut rv, bound(p, &target).into(), false);
                        }
                    }
                }
                3 => if let Some(p) = pick_pod(a) { change(&mut s, &mut view, &mut rv, p.into(), true); },
                4 => if let Some(mut p) = pick_pod(a) {
                    p.status.phase = Some("Succeeded".into());
                    change(&mut s, &mut view, &mut rv, p.into(), false);
                },
                5 => if !nodes_now.is_empty() {
                    let mut n = nodes_now[usize::from(a) % nodes_now.len()].clone();
                    n.spec.unschedulable = Some(b % 2 == 0);
                    n.metadata.labels.insert("zone".into(), format!("z{}", b % 3));
                    change(&mut s, &mut view, &mut rv, n.into(), false);
                },
                6 => {
                    extra += 1;
                    change(&mut s, &mut view, &mut rv, pod(&format!("x{extra}"), "100m", "64Mi").into(), false);
                }
                _ => if b % 4 == 0 && !nodes_now.is_empty() {
                    let n = nodes_now[usize::from(a) % nodes_now.len()].clone();
                    change(&mut s, &mut view, &mut rv, n.into(), true);
                } else {
                    change(&mut s, &mut view, &mut rv, node(&format!("m{a}"), "2", "8Gi", "110").into(), false);
                },
            }
            // Whenever the cache claims the view's revision, it is exactly what a refresh
            // from the view gives.
            if s.observing && let Some((revision, snapshot)) = &s.cached && *revision == view.revision() {
                let expected = refreshed_nodes(&s, &view);
                prop_assert_eq!(snapshot.nodes(), expected.as_slice());
                for (k, a) in s.assumed() {
                    let p = view.get::<Pod>(&k.namespace, &k.name);
                    prop_assert!(p.is_some_and(|p| p.metadata.uid == a.uid && is_pending_for_us(p)));
                }
            }
        }
    }
}
