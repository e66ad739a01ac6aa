//! The DaemonSet controller's rules with exact outputs, and convergence with a simulated API.

use std::time::Duration;

use proptest::prelude::*;
use skiff_core::object::{
    Affinity, DaemonSet, IntOrString, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, Object, OwnerReference, Pod, RollingUpdateDaemonSet, Taint, Toleration,
};
use skiff_core::selector::LabelSelector;

use super::{
    CONTROLLER_REVISION_HASH, DaemonSetController, FailedPodBackoff, add_daemon_tolerations,
    node_should_run, reconcile_daemon_set, reconcile_daemon_set_with, revision_hash,
    rollout_status, target_node,
};
use crate::reconcile::{Action, Controller, Output};
use crate::replicaset::podutil;
use crate::replicaset::testsupport::{
    Sim, described, labels, now, owned_by, pod, running, stored_meta, template, view_of,
};
use crate::view::{ObjectKey, View};

fn key() -> ObjectKey {
    ObjectKey::new("default", "agent")
}

fn node(name: &str, pairs: &[(&str, &str)], taints: &[(&str, &str)]) -> Node {
    let mut n = Node {
        metadata: stored_meta(name, 3),
        ..Node::default()
    };
    n.metadata.namespace = None;
    n.metadata.labels = labels(pairs);
    n.spec.taints = taints
        .iter()
        .map(|(k, effect)| Taint {
            key: (*k).to_owned(),
            effect: (*effect).to_owned(),
            ..Taint::default()
        })
        .collect();
    n
}

fn daemon_set() -> DaemonSet {
    let mut ds = DaemonSet {
        metadata: stored_meta("agent", 10),
        ..DaemonSet::default()
    };
    ds.spec.selector = Some(LabelSelector::from_labels(labels(&[("name", "agent")])));
    ds.spec.template = template(&[("name", "agent")]);
    ds
}

fn pinned(node: &str) -> Affinity {
    Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Vec::new(),
                    match_fields: vec![NodeSelectorRequirement {
                        key: "metadata.name".into(),
                        operator: "In".into(),
                        values: vec![node.into()],
                    }],
                }],
            }),
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    }
}

fn tol(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Toleration::default()
    }
}

/// The six tolerations every DaemonSet pod gets (seven with hostNetwork).
fn default_tolerations() -> Vec<Toleration> {
    vec![
        tol("node.kubernetes.io/not-ready", "NoExecute"),
        tol("node.kubernetes.io/unreachable", "NoExecute"),
        tol("node.kubernetes.io/disk-pressure", "NoSchedule"),
        tol("node.kubernetes.io/memory-pressure", "NoSchedule"),
        tol("node.kubernetes.io/pid-pressure", "NoSchedule"),
        tol("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
}

/// The pod the DaemonSet creates for `node`, spelled out.
fn expected_pod(ds: &DaemonSet, node: &str) -> Action {
    let mut p = Pod::default();
    p.metadata.generate_name = Some("agent-".into());
    p.metadata.namespace = Some("default".into());
    p.metadata.labels = labels(&[
        ("name", "agent"),
        (CONTROLLER_REVISION_HASH, &revision_hash(ds)),
    ]);
    p.metadata.owner_references = vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "DaemonSet".into(),
        name: "agent".into(),
        uid: "uid-agent".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }];
    p.spec = ds.spec.template.spec.clone();
    p.spec.tolerations.extend(default_tolerations());
    p.spec.affinity = Some(pinned(node));
    Action::Create(p.into())
}

/// A daemon pod of `ds` on `node`, ready for `ready_for` seconds, of the current revision or
/// not.
fn daemon_pod(
    ds: &DaemonSet,
    name: &str,
    node: &str,
    current: bool,
    ready_for: Option<i64>,
) -> Pod {
    let hash = if current {
        revision_hash(ds)
    } else {
        "old".into()
    };
    let p = pod(
        name,
        &[("name", "agent"), (CONTROLLER_REVISION_HASH, &hash)],
        3600,
    );
    running(
        owned_by(p, &ds.metadata, "DaemonSet", "apps/v1"),
        node,
        ready_for,
    )
}

fn delete_of(p: &Pod) -> Action {
    podutil::delete_pod(p)
}

fn with_status(ds: &DaemonSet, f: impl FnOnce(&mut skiff_core::object::DaemonSetStatus)) -> Action {
    let mut next = ds.clone();
    next.status.observed_generation = Some(1);
    f(&mut next.status);
    Action::UpdateStatus(next.into())
}

#[test]
fn one_pod_per_node_pinned_by_required_node_affinity() {
    let ds = daemon_set();
    let view = view_of([
        ds.clone().into(),
        node("n1", &[], &[]).into(),
        node("n2", &[], &[]).into(),
    ]);
    let out = reconcile_daemon_set(&view, &key(), now());
    assert_eq!(
        out,
        Output {
            actions: vec![
                expected_pod(&ds, "n1"),
                expected_pod(&ds, "n2"),
                with_status(&ds, |s| {
                    s.desired_number_scheduled = 2;
                    s.number_unavailable = Some(2);
                }),
            ],
            requeue_after: None,
        }
    );
}

#[test]
fn node_selector_and_required_node_affinity_choose_the_nodes() {
    let mut ds = daemon_set();
    ds.spec.template.spec.node_selector = labels(&[("disktype", "ssd")]);
    ds.spec.template.spec.affinity = Some(Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: vec![NodeSelectorRequirement {
                        key: "zone".into(),
                        operator: "NotIn".into(),
                        values: vec!["b".into()],
                    }],
                    match_fields: Vec::new(),
                }],
            }),
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    });
    let view = view_of([
        ds.clone().into(),
        node("hdd", &[("disktype", "hdd")], &[]).into(),
        node("ssd-a", &[("disktype", "ssd"), ("zone", "a")], &[]).into(),
        node("ssd-b", &[("disktype", "ssd"), ("zone", "b")], &[]).into(),
    ]);
    let out = reconcile_daemon_set(&view, &key(), now());
    assert_eq!(
        described(&out),
        [
            "create pod/default/",
            "update-status daemonset/default/agent"
        ]
    );
    // The template's required affinity is replaced by the pin to the node.
    let Action::Create(Object::Pod(p)) = &out.actions[0] else {
        unreachable!()
    };
    assert_eq!(p.spec.affinity, Some(pinned("ssd-a")));
    assert_eq!(target_node(p), Some("ssd-a"));
    assert_eq!(p.spec.node_selector, labels(&[("disktype", "ssd")]));
}

#[test]
fn taints_keep_daemon_pods_off_unless_tolerated_by_the_template_or_the_defaults() {
    let mut ds = daemon_set();
    ds.spec.template.spec.tolerations = vec![Toleration {
        key: Some("dedicated".into()),
        operator: Some("Equal".into()),
        value: Some("infra".into()),
        effect: Some("NoSchedule".into()),
        ..Toleration::default()
    }];
    let mut infra = node("infra", &[], &[]);
    infra.spec.taints = vec![Taint {
        key: "dedicated".into(),
        value: Some("infra".into()),
        effect: "NoSchedule".into(),
        ..Taint::default()
    }];
    let mut gpu = node("gpu", &[], &[]);
    gpu.spec.taints = vec![Taint {
        key: "dedicated".into(),
        value: Some("gpu".into()),
        effect: "NoSchedule".into(),
        ..Taint::default()
    }];
    let cordoned = node(
        "cordoned",
        &[],
        &[("node.kubernetes.io/unschedulable", "NoSchedule")],
    );
    let not_ready = node(
        "not-ready",
        &[],
        &[("node.kubernetes.io/not-ready", "NoExecute")],
    );
    let no_network = node(
        "no-net",
        &[],
        &[("node.kubernetes.io/network-unavailable", "NoSchedule")],
    );
    let view = view_of([
        ds.clone().into(),
        infra.into(),
        gpu.into(),
        cordoned.into(),
        not_ready.into(),
        no_network.into(),
    ]);
    let out = reconcile_daemon_set(&view, &key(), now());
    // gpu: untolerated taint; no-net: network-unavailable is tolerated only with hostNetwork.
    assert_eq!(
        out.actions,
        vec![
            expected_pod(&ds, "cordoned"),
            expected_pod(&ds, "infra"),
            expected_pod(&ds, "not-ready"),
            with_status(&ds, |s| {
                s.desired_number_scheduled = 3;
                s.number_unavailable = Some(3);
            }),
        ]
    );
}

#[test]
fn host_network_daemon_pods_also_tolerate_network_unavailable() {
    let mut ds = daemon_set();
    ds.spec.template.spec.host_network = Some(true);
    let no_network = node(
        "no-net",
        &[],
        &[("node.kubernetes.io/network-unavailable", "NoSchedule")],
    );
    assert_eq!(node_should_run(&ds, &no_network), (true, true));
    let mut spec = ds.spec.template.spec.clone();
    // A template toleration equal but for tolerationSeconds is replaced, not duplicated.
    spec.tolerations = vec![Toleration {
        toleration_seconds: Some(300),
        ..tol("node.kubernetes.io/not-ready", "NoExecute")
    }];
    add_daemon_tolerations(&mut spec);
    let mut expected = default_tolerations();
    expected.push(tol("node.kubernetes.io/network-unavailable", "NoSchedule"));
    assert_eq!(spec.tolerations, expected);
}

#[test]
fn an_untolerated_no_execute_taint_evicts_running_daemon_pods_but_no_schedule_does_not() {
    let ds = daemon_set();
    let on_no_schedule = daemon_pod(&ds, "a", "tainted-ns", true, Some(100));
    let on_no_execute = daemon_pod(&ds, "b", "tainted-ne", true, Some(100));
    let view = view_of([
        ds.clone().into(),
        node("tainted-ns", &[], &[("maintenance", "NoSchedule")]).into(),
        node("tainted-ne", &[], &[("maintenance", "NoExecute")]).into(),
        on_no_schedule.into(),
        on_no_execute.clone().into(),
    ]);
    let out = reconcile_daemon_set(&view, &key(), now());
    assert_eq!(
        out.actions,
        vec![
            delete_of(&on_no_execute),
            with_status(&ds, |s| s.number_misscheduled = 2),
        ]
    );
}

#[test]
fn failed_pods_are_replaced_and_extra_pods_trimmed_to_the_oldest() {
    let ds = daemon_set();
    let mut failed = daemon_pod(&ds, "failed", "n1", true, None);
    failed.status.phase = Some("Failed".into());
    let oldest = daemon_pod(&ds, "oldest", "n2", true, Some(100));
    let mut younger = daemon_pod(&ds, "younger", "n2", true, Some(100));
    younger.metadata.creation_timestamp = Some(crate::replicaset::testsupport::ago(10));
    let view = view_of([
        ds.clone().into(),
        node("n1", &[], &[]).into(),
        node("n2", &[], &[]).into(),
        failed.clone().into(),
        oldest.into(),
        younger.clone().into(),
    ]);
    let out = reconcile_daemon_set(&view, &key(), now());
    assert_eq!(
        out.actions,
        vec![
            delete_of(&failed),
            delete_of(&younger),
            with_status(&ds, |s| {
                s.desired_number_scheduled = 2;
                s.current_number_scheduled = 2;
                s.number_ready = 1;
                s.updated_number_scheduled = Some(2);
                s.number_available = Some(1);
                s.number_unavailable = Some(1);
            }),
        ]
    );
}

#[test]
fn unscheduled_pods_pinned_to_a_vanished_node_are_deleted() {
    let ds = daemon_set();
    let mut orphaned = owned_by(
        pod("lost", &[("name", "agent")], 50),
        &ds.metadata,
        "DaemonSet",
        "apps/v1",
    );
    orphaned.spec.affinity = Some(pinned("gone"));
    let view = view_of([ds.clone().into(), orphaned.clone().into()]);
    let out = reconcile_daemon_set(&view, &key(), now());
    assert_eq!(
        out.actions,
        vec![delete_of(&orphaned), with_status(&ds, |_| {})]
    );
}

#[test]
fn rolling_update_replaces_one_available_old_pod_at_a_time_by_default() {
    let ds = daemon_set();
    let nodes: Vec<Object> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| node(n, &[], &[]).into())
        .collect();
    let old = |n: &str| daemon_pod(&ds, &format!("old-{n}"), n, false, Some(100));
    // All three old and available: maxUnavailable 1 lets one go.
    let mut objects = nodes.clone();
    objects.extend([
        ds.clone().into(),
        old("n1").into(),
        old("n2").into(),
        old("n3").into(),
    ]);
    let out = reconcile_daemon_set(&view_of(objects), &key(), now());
    assert_eq!(
        out.actions,
        vec![
            delete_of(&old("n1")),
            with_status(&ds, |s| {
                s.desired_number_scheduled = 3;
                s.current_number_scheduled = 3;
                s.number_ready = 3;
                s.number_available = Some(3);
            }),
        ]
    );
    // n1's pod gone: manage creates the new one; the rolling update waits for it.
    let mut objects = nodes.clone();
    objects.extend([ds.clone().into(), old("n2").into(), old("n3").into()]);
    let out = reconcile_daemon_set(&view_of(objects), &key(), now());
    assert_eq!(out.actions[0], expected_pod(&ds, "n1"));
    assert_eq!(out.actions.len(), 2);
    // The new pod is not available yet: nothing else may go.
    let fresh = daemon_pod(&ds, "new-n1", "n1", true, None);
    let mut objects = nodes.clone();
    objects.extend([
        ds.clone().into(),
        fresh.into(),
        old("n2").into(),
        old("n3").into(),
    ]);
    let out = reconcile_daemon_set(&view_of(objects), &key(), now());
    assert_eq!(described(&out), ["update-status daemonset/default/agent"]);
    // Available: the next old pod goes.
    let fresh = daemon_pod(&ds, "new-n1", "n1", true, Some(5));
    let mut objects = nodes;
    objects.extend([
        ds.clone().into(),
        fresh.into(),
        old("n2").into(),
        old("n3").into(),
    ]);
    let out = reconcile_daemon_set(&view_of(objects), &key(), now());
    assert_eq!(described(&out)[0], "delete pod/default/old-n2");
}

#[test]
fn rolling_update_with_surge_starts_new_pods_beside_old_ones() {
    let mut ds = daemon_set();
    ds.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
        max_unavailable: Some(IntOrString::Int(0)),
        max_surge: Some(IntOrString::Int(1)),
    });
    let old = |n: &str| daemon_pod(&ds, &format!("old-{n}"), n, false, Some(100));
    let base: Vec<Object> = vec![
        ds.clone().into(),
        node("n1", &[], &[]).into(),
        node("n2", &[], &[]).into(),
    ];
    let mut objects = base.clone();
    objects.extend([old("n1").into(), old("n2").into()]);
    let out = reconcile_daemon_set(&view_of(objects), &key(), now());
    assert_eq!(out.actions[0], expected_pod(&ds, "n1"));
    assert_eq!(out.actions.len(), 2);
    // The surge pod is available: its old pod goes, and the next node surges.
    let mut objects = base;
    objects.extend([
        old("n1").into(),
        daemon_pod(&ds, "new-n1", "n1", true, Some(5)).into(),
        old("n2").into(),
    ]);
    let out = reconcile_daemon_set(&view_of(objects), &key(), now());
    assert_eq!(
        described(&out)[..2],
        [
            "delete pod/default/old-n1",
            "update-status daemonset/default/agent"
        ]
    );
}

#[test]
fn on_delete_strategy_leaves_old_pods_alone() {
    let mut ds = daemon_set();
    ds.spec.update_strategy.type_ = Some("OnDelete".into());
    let old = daemon_pod(&ds, "old", "n1", false, Some(100));
    let view = view_of([ds.clone().into(), node("n1", &[], &[]).into(), old.into()]);
    let out = reconcile_daemon_set(&view, &key(), now());
    assert_eq!(described(&out), ["update-status daemonset/default/agent"]);
}

#[test]
fn status_counts_ready_and_available_after_min_ready_seconds() {
    let mut ds = daemon_set();
    ds.spec.min_ready_seconds = Some(30);
    let view = view_of([
        ds.clone().into(),
        node("n1", &[], &[]).into(),
        node("n2", &[], &[]).into(),
        daemon_pod(&ds, "a", "n1", true, Some(100)).into(),
        daemon_pod(&ds, "b", "n2", true, Some(10)).into(),
    ]);
    let out = reconcile_daemon_set(&view, &key(), now());
    assert_eq!(
        out,
        Output {
            actions: vec![with_status(&ds, |s| {
                s.desired_number_scheduled = 2;
                s.current_number_scheduled = 2;
                s.number_ready = 2;
                s.updated_number_scheduled = Some(2);
                s.number_available = Some(1);
                s.number_unavailable = Some(1);
            })],
            requeue_after: Some(Duration::from_millis(20_001)),
        }
    );
}

#[test]
fn node_changes_concern_every_daemon_set_and_pods_their_owner() {
    let ds = daemon_set();
    let view = view_of([ds.clone().into(), node("n1", &[], &[]).into()]);
    let c = DaemonSetController::default();
    assert_eq!(c.keys_for(&view, &node("n9", &[], &[]).into()), [key()]);
    let p = daemon_pod(&ds, "a", "n1", true, None);
    assert_eq!(c.keys_for(&view, &p.into()), [key()]);
    let orphan = pod("o", &[("name", "agent")], 1);
    assert_eq!(c.keys_for(&view, &orphan.into()), [key()]);
}

// ---------------------------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------------------------

fn cluster(spec: &[(bool, u8)], select_ssd: bool) -> (DaemonSet, Vec<Object>) {
    let mut ds = daemon_set();
    if select_ssd {
        ds.spec.template.spec.node_selector = labels(&[("disk", "ssd")]);
    }
    let mut objects: Vec<Object> = vec![ds.clone().into()];
    for (i, (ssd, taint)) in spec.iter().enumerate() {
        let taints: &[(&str, &str)] = match taint {
            0 => &[],
            1 => &[("x", "NoSchedule")],
            2 => &[("x", "NoExecute")],
            _ => &[("node.kubernetes.io/unschedulable", "NoSchedule")],
        };
        let disk = if *ssd { "ssd" } else { "hdd" };
        objects.push(node(&format!("n{i}"), &[("disk", disk)], taints).into());
    }
    (ds, objects)
}

fn eligible(view: &View, ds: &DaemonSet) -> Vec<String> {
    view.list::<Node>()
        .filter(|n| node_should_run(ds, n).0)
        .map(|n| n.metadata.name.clone().unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn same_input_gives_the_same_output(
        nodes in prop::collection::vec((any::<bool>(), 0u8..4), 0..8),
        select_ssd in any::<bool>(),
    ) {
        let (_, objects) = cluster(&nodes, select_ssd);
        let a = reconcile_daemon_set(&view_of(objects.clone()), &key(), now());
        let b = reconcile_daemon_set(&view_of(objects.into_iter().rev()), &key(), now());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn daemon_pods_converge_to_one_per_eligible_node_then_roll_to_a_new_template(
        nodes in prop::collection::vec((any::<bool>(), 0u8..4), 0..8),
        select_ssd in any::<bool>(),
        unavailable in 1i32..3,
    ) {
        let (mut ds, objects) = cluster(&nodes, select_ssd);
        let mut sim = Sim::new(view_of(objects));
        sim.pods_become_ready = true;
        let run = |sim: &mut Sim, bound: usize| -> Result<(), TestCaseError> {
            let mut rounds = 0;
            loop {
                let out = reconcile_daemon_set(&sim.view, &key(), sim.now);
                if out.actions.is_empty() {
                    return Ok(());
                }
                rounds += 1;
                prop_assert!(rounds <= bound, "no convergence after {} rounds", rounds);
                sim.apply(&out.actions);
                sim.now += Duration::from_secs(1);
            }
        };
        // Placement: one create round, one status round, one quiet round.
        run(&mut sim, 3)?;
        let want = eligible(&sim.view, &ds);
        let placed: Vec<String> = sim
            .view
            .list::<Pod>()
            .map(|p| target_node(p).unwrap().to_owned())
            .collect();
        prop_assert_eq!(&placed, &want);
        // A new template rolls through, at most `unavailable` nodes at a time.
        ds = sim.view.get::<DaemonSet>("default", "agent").unwrap().clone();
        ds.spec.template.spec.containers[0].image = Some("agent:2".into());
        ds.metadata.generation = Some(2);
        ds.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
            max_unavailable: Some(IntOrString::Int(unavailable)),
            max_surge: None,
        });
        sim.view.insert(ds.clone().into());
        run(&mut sim, 4 * want.len() + 4)?;
        let hash = revision_hash(&ds);
        let updated: Vec<String> = sim
            .view
            .list::<Pod>()
            .filter(|p| p.metadata.labels.get(CONTROLLER_REVISION_HASH) == Some(&hash))
            .map(|p| target_node(p).unwrap().to_owned())
            .collect();
        prop_assert_eq!(updated, want.clone());
        prop_assert_eq!(sim.view.list::<Pod>().count(), want.len());
        let stored = sim.view.get::<DaemonSet>("default", "agent").unwrap();
        prop_assert_eq!(
            rollout_status(stored),
            Ok((String::from("daemon set \"agent\" successfully rolled out\n"), true))
        );
    }
}

#[test]
fn daemon_set_rollout_status_uses_kubectl_wording() {
    let mut ds = daemon_set();
    ds.metadata.generation = Some(2);
    ds.status.observed_generation = Some(1);
    assert_eq!(
        rollout_status(&ds),
        Ok((
            "Waiting for daemon set spec update to be observed...\n".into(),
            false
        ))
    );
    ds.status.observed_generation = Some(2);
    ds.status.desired_number_scheduled = 3;
    ds.status.updated_number_scheduled = Some(1);
    assert_eq!(
        rollout_status(&ds).unwrap().0,
        "Waiting for daemon set \"agent\" rollout to finish: 1 out of 3 new pods have been updated...\n"
    );
    ds.status.updated_number_scheduled = Some(3);
    ds.status.number_available = Some(2);
    assert_eq!(
        rollout_status(&ds).unwrap().0,
        "Waiting for daemon set \"agent\" rollout to finish: 2 of 3 updated pods are available...\n"
    );
    ds.status.number_available = Some(3);
    assert_eq!(
        rollout_status(&ds),
        Ok((
            "daemon set \"agent\" successfully rolled out\n".into(),
            true
        ))
    );
    ds.spec.update_strategy.type_ = Some("OnDelete".into());
    assert_eq!(
        rollout_status(&ds),
        Err("rollout status is only available for RollingUpdate strategy type".into())
    );
}

#[test]
fn extreme_rolling_update_budgets_do_not_overflow() {
    for (surge, unavailable) in [(i32::MIN, i32::MIN), (i32::MAX, i32::MAX), (0, i32::MIN)] {
        let mut ds = daemon_set();
        ds.spec.min_ready_seconds = Some(i32::MAX);
        ds.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
            max_unavailable: Some(IntOrString::Int(unavailable)),
            max_surge: Some(IntOrString::Int(surge)),
        });
        let old = daemon_pod(&ds, "old", "n1", false, Some(100));
        let view = view_of([ds.clone().into(), node("n1", &[], &[]).into(), old.into()]);
        let _ = reconcile_daemon_set(&view, &key(), now());
    }
}

#[test]
fn failed_daemon_pods_on_a_node_are_deleted_with_exponential_backoff() {
    let ds = daemon_set();
    let mut failed = daemon_pod(&ds, "failed", "n1", true, None);
    failed.status.phase = Some("Failed".into());
    let view = view_of([
        ds.clone().into(),
        node("n1", &[], &[]).into(),
        failed.clone().into(),
    ]);
    let mut backoff = FailedPodBackoff::default();
    let out = reconcile_daemon_set_with(&view, &key(), now(), &mut backoff);
    assert_eq!(out.actions[0], delete_of(&failed));
    assert_eq!(
        backoff.delay("uid-agent/0/n1"),
        Some(Duration::from_secs(1))
    );
    // The replacement failed too, 400 ms later: not deleted, look again when the second is up.
    let soon = now() + Duration::from_millis(400);
    let out = reconcile_daemon_set_with(&view, &key(), soon, &mut backoff);
    assert!(!out.actions.contains(&delete_of(&failed)));
    assert_eq!(out.requeue_after, Some(Duration::from_millis(600)));
    // After the delay: deleted, and the delay doubles.
    let later = now() + Duration::from_millis(1_500);
    let out = reconcile_daemon_set_with(&view, &key(), later, &mut backoff);
    assert_eq!(out.actions[0], delete_of(&failed));
    assert_eq!(
        backoff.delay("uid-agent/0/n1"),
        Some(Duration::from_secs(2))
    );
    // Forgotten after twice the maximum without failures.
    backoff.gc(later + Duration::from_secs(31 * 60));
    assert_eq!(backoff, FailedPodBackoff::default());
}
