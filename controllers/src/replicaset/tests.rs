//! Every rule of the ReplicaSet and ReplicationController reconcile, with exact outputs.

use std::time::Duration;

use proptest::prelude::*;
use skiff_core::client::DeleteOptions;
use skiff_core::object::{
    ContainerStatus, HasKindInfo, Object, OwnerReference, Pod, ReplicaSet, ReplicationController,
    StatusCondition,
};

use super::podutil::{self, slow_start_batches};
use super::testsupport::{
    Sim, ago, described, labels, now, owned_by, pod, replica_set, running, stored_meta, template,
    view_of,
};
use super::{
    ReplicaSetController, ReplicationManager, reconcile_replica_set,
    reconcile_replication_controller,
};
use crate::reconcile::{Action, Controller, Output};
use crate::view::{ObjectKey, View};

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("default", name)
}

fn rs_pod(p: Pod, rs: &ReplicaSet) -> Pod {
    owned_by(p, &rs.metadata, "ReplicaSet", "apps/v1")
}

fn controller_ref_of(rs: &ReplicaSet) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: rs.metadata.name.clone().unwrap(),
        uid: rs.metadata.uid.clone().unwrap(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The pod a ReplicaSet asks to create, spelled out field by field.
fn expected_create(rs: &ReplicaSet) -> Action {
    let mut p = Pod::default();
    p.metadata.generate_name = Some(format!("{}-", rs.metadata.name.as_deref().unwrap()));
    p.metadata.namespace = Some("default".into());
    p.metadata.labels = rs.spec.template.metadata.labels.clone();
    p.metadata.owner_references = vec![controller_ref_of(rs)];
    p.spec = rs.spec.template.spec.clone();
    Action::Create(p.into())
}

fn expected_status(
    rs: &ReplicaSet,
    replicas: i32,
    fully: i32,
    ready: i32,
    available: i32,
) -> Action {
    let mut next = rs.clone();
    next.status.replicas = replicas;
    next.status.fully_labeled_replicas = (fully != 0).then_some(fully);
    next.status.ready_replicas = (ready != 0).then_some(ready);
    next.status.available_replicas = (available != 0).then_some(available);
    next.status.observed_generation = Some(1);
    Action::UpdateStatus(next.into())
}

fn delete_of(p: &Pod) -> Action {
    Action::Delete {
        resource: &Pod::INFO,
        namespace: "default".into(),
        name: p.metadata.name.clone().unwrap(),
        options: DeleteOptions {
            uid: p.metadata.uid.clone(),
            ..DeleteOptions::default()
        },
    }
}

fn adopted(p: &Pod, rs: &ReplicaSet) -> Action {
    let mut next = p.clone();
    next.metadata.owner_references.push(controller_ref_of(rs));
    Action::Update(next.into())
}

#[test]
fn creates_missing_pods_from_the_template_with_a_controller_reference() {
    let rs = replica_set("web", "web", 3);
    let view = view_of([rs.clone().into()]);
    let out = reconcile_replica_set(&view, &key("web"), now());
    let create = expected_create(&rs);
    assert_eq!(
        out,
        Output {
            actions: vec![
                create.clone(),
                create.clone(),
                create,
                expected_status(&rs, 0, 0, 0, 0)
            ],
            requeue_after: None,
        }
    );
}

#[test]
fn adopts_matching_orphans_before_creating_the_rest() {
    let rs = replica_set("web", "web", 3);
    let orphan = pod("orphan", &[("app", "web")], 50);
    let stranger = pod("stranger", &[("app", "other")], 50);
    let view = view_of([rs.clone().into(), orphan.clone().into(), stranger.into()]);
    let out = reconcile_replica_set(&view, &key("web"), now());
    assert_eq!(
        out.actions,
        vec![
            adopted(&orphan, &rs),
            expected_create(&rs),
            expected_create(&rs),
            expected_status(&rs, 1, 1, 0, 0),
        ]
    );
}

#[test]
fn adoption_replaces_a_non_controller_reference_with_the_same_uid() {
    let rs = replica_set("web", "web", 1);
    let mut orphan = pod("orphan", &[("app", "web")], 50);
    let mut weak = controller_ref_of(&rs);
    weak.controller = None;
    weak.block_owner_deletion = None;
    orphan.metadata.owner_references = vec![weak];
    let view = view_of([rs.clone().into(), orphan.clone().into()]);
    let out = reconcile_replica_set(&view, &key("web"), now());
    let mut next = orphan.clone();
    next.metadata.owner_references = vec![controller_ref_of(&rs)];
    assert_eq!(
        out.actions,
        vec![
            Action::Update(next.into()),
            expected_status(&rs, 1, 1, 0, 0)
        ]
    );
}

#[test]
fn releases_owned_pods_that_stop_matching_and_replaces_them() {
    let rs = replica_set("web", "web", 1);
    let relabeled = rs_pod(pod("web-a", &[("app", "debug")], 50), &rs);
    let view = view_of([rs.clone().into(), relabeled.clone().into()]);
    let out = reconcile_replica_set(&view, &key("web"), now());
    let mut released = relabeled.clone();
    released.metadata.owner_references.clear();
    assert_eq!(
        out.actions,
        vec![
            Action::Update(released.into()),
            expected_create(&rs),
            expected_status(&rs, 0, 0, 0, 0),
        ]
    );
}

#[test]
fn pods_controlled_by_another_owner_are_left_alone() {
    let rs = replica_set("web", "web", 1);
    let other = replica_set("other", "web", 1);
    let theirs = owned_by(
        pod("theirs", &[("app", "web")], 50),
        &other.metadata,
        "ReplicaSet",
        "apps/v1",
    );
    let view = view_of([rs.clone().into(), other.into(), theirs.into()]);
    let out = reconcile_replica_set(&view, &key("web"), now());
    assert_eq!(
        out.actions,
        vec![expected_create(&rs), expected_status(&rs, 0, 0, 0, 0)]
    );
}

#[test]
fn a_replica_set_being_deleted_neither_adopts_nor_creates_but_writes_status() {
    let mut rs = replica_set("web", "web", 3);
    rs.metadata.deletion_timestamp = Some(ago(1));
    let orphan = pod("orphan", &[("app", "web")], 50);
    let mismatched = rs_pod(pod("web-x", &[("app", "debug")], 50), &rs);
    let view = view_of([rs.clone().into(), orphan.into(), mismatched.into()]);
    let out = reconcile_replica_set(&view, &key("web"), now());
    assert_eq!(out.actions, vec![expected_status(&rs, 0, 0, 0, 0)]);
}

#[test]
fn failed_succeeded_and_terminating_pods_do_not_count_and_are_not_adopted() {
    let rs = replica_set("web", "web", 2);
    let mut failed = rs_pod(pod("web-failed", &[("app", "web")], 50), &rs);
    failed.status.phase = Some("Failed".into());
    let mut done = rs_pod(pod("web-done", &[("app", "web")], 50), &rs);
    done.status.phase = Some("Succeeded".into());
    let mut leaving = pod("leaving", &[("app", "web")], 50);
    leaving.metadata.deletion_timestamp = Some(ago(1));
    let kept = rs_pod(pod("web-kept", &[("app", "web")], 50), &rs);
    let view = view_of([
        rs.clone().into(),
        failed.into(),
        done.into(),
        leaving.into(),
        kept.into(),
    ]);
    let out = reconcile_replica_set(&view, &key("web"), now());
    assert_eq!(
        out.actions,
        vec![expected_create(&rs), expected_status(&rs, 1, 1, 0, 0)]
    );
}

#[test]
fn creates_at_most_500_pods_per_sync() {
    let rs = replica_set("web", "web", 1200);
    let view = view_of([rs.clone().into()]);
    let out = reconcile_replica_set(&view, &key("web"), now());
    let mut expected = vec![expected_create(&rs); 500];
    expected.push(expected_status(&rs, 0, 0, 0, 0));
    assert_eq!(out.actions, expected);
}

#[test]
fn deletes_at_most_500_pods_per_sync() {
    let rs = replica_set("web", "web", 0);
    let mut objects: Vec<Object> = vec![rs.clone().into()];
    for i in 0..600 {
        objects.push(rs_pod(pod(&format!("web-{i:04}"), &[("app", "web")], 50), &rs).into());
    }
    let view = view_of(objects);
    let out = reconcile_replica_set(&view, &key("web"), now());
    let deletes = out
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Delete { .. }))
        .count();
    assert_eq!(deletes, 500);
    assert_eq!(out.actions.len(), 501);
    assert_eq!(
        out.actions.last(),
        Some(&expected_status(&rs, 600, 600, 0, 0))
    );
}

#[test]
fn slow_start_batches_double_from_one_and_end_with_the_remainder() {
    assert_eq!(slow_start_batches(100), [1, 2, 4, 8, 16, 32, 37]);
    assert_eq!(slow_start_batches(1), [1]);
    assert_eq!(slow_start_batches(0), Vec::<usize>::new());
    assert_eq!(slow_start_batches(7), [1, 2, 4]);
    assert_eq!(slow_start_batches(500).iter().sum::<usize>(), 500);
    assert_eq!(slow_start_batches(500), [1, 2, 4, 8, 16, 32, 64, 128, 245]);
}

#[test]
fn scale_down_deletes_unassigned_then_unknown_then_not_ready_then_recently_ready() {
    let rs = replica_set("web", "web", 1);
    let p = |name: &str, age| rs_pod(pod(name, &[("app", "web")], age), &rs);
    let ready_old = running(p("a-ready-old", 8000), "n1", Some(7200));
    let unassigned = p("b-unassigned", 30);
    let not_ready = running(p("c-not-ready", 30), "n2", None);
    let mut unknown = p("d-unknown", 30);
    unknown.spec.node_name = Some("n1".into());
    unknown.status.phase = Some("Unknown".into());
    let ready_new = running(p("e-ready-new", 20), "n2", Some(10));
    let view = view_of([
        rs.clone().into(),
        ready_old.into(),
        unassigned.clone().into(),
        not_ready.clone().into(),
        unknown.clone().into(),
        ready_new.clone().into(),
    ]);
    let out = reconcile_replica_set(&view, &key("web"), now());
    assert_eq!(
        out.actions,
        vec![
            delete_of(&unassigned),
            delete_of(&unknown),
            delete_of(&not_ready),
            delete_of(&ready_new),
            expected_status(&rs, 5, 5, 2, 2),
        ]
    );
}

fn before(a: &Pod, b: &Pod) -> bool {
    podutil::compare_for_deletion((a, 0), (b, 0), now()) == std::cmp::Ordering::Less
}

#[test]
fn pending_goes_before_unknown_before_running() {
    let mut pending = running(pod("a", &[], 30), "n1", None);
    pending.status.phase = Some("Pending".into());
    let mut unknown = pending.clone();
    unknown.status.phase = Some("Unknown".into());
    let run = running(pod("c", &[], 30), "n1", None);
    assert!(before(&pending, &unknown));
    assert!(before(&unknown, &run));
    assert!(!before(&run, &pending));
}

#[test]
fn lower_pod_deletion_cost_goes_first_even_when_older() {
    let mut cheap = running(pod("cheap", &[], 9000), "n1", Some(9000));
    cheap
        .metadata
        .annotations
        .insert(podutil::POD_DELETION_COST.into(), "-5".into());
    let mut dear = running(pod("dear", &[], 10), "n1", Some(10));
    dear.metadata
        .annotations
        .insert(podutil::POD_DELETION_COST.into(), "100".into());
    let plain = running(pod("plain", &[], 10), "n1", Some(10));
    assert!(before(&cheap, &plain));
    assert!(before(&plain, &dear));
    let mut invalid = plain.clone();
    invalid
        .metadata
        .annotations
        .insert(podutil::POD_DELETION_COST.into(), "lots".into());
    assert_eq!(podutil::deletion_cost(&invalid), 0);
}

#[test]
fn more_restarts_go_first() {
    let calm = running(pod("calm", &[], 100), "n1", Some(100));
    let mut crashy = calm.clone();
    crashy.metadata.name = Some("crashy".into());
    crashy.status.container_statuses = vec![ContainerStatus {
        name: "web".into(),
        restart_count: 3,
        ..ContainerStatus::default()
    }];
    assert!(before(&crashy, &calm));
    assert!(!before(&calm, &crashy));
}

#[test]
fn newer_pods_go_first_and_one_log2_bucket_ties_break_by_uid() {
    let old = pod("old", &[], 100_000);
    let young = pod("young", &[], 10);
    assert!(before(&young, &old));
    // 101 s and 100 s ago fall in the same log2(ns) bucket (36): the uid decides.
    let a = pod("a", &[], 101);
    let b = pod("b", &[], 100);
    assert!(before(&a, &b));
    assert!(!before(&b, &a));
    let mut zero = pod("zero", &[], 10);
    zero.metadata.creation_timestamp = None;
    assert!(before(&zero, &young));
}

#[test]
fn pods_doubled_up_on_a_node_with_sibling_replica_sets_go_first() {
    // Two ReplicaSets of one Deployment: the scaled-down one's pods are ranked by how many
    // active pods of either set share their node.
    let deploy = stored_meta("d", 5);
    let controlled = |mut rs: ReplicaSet| {
        rs.metadata.owner_references = vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "d".into(),
            uid: deploy.uid.clone().unwrap(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }];
        rs
    };
    let old = controlled(replica_set("d-old", "old", 1));
    let new = controlled(replica_set("d-new", "new", 2));
    let lonely = running(
        rs_pod(pod("old-lonely", &[("app", "old")], 10), &old),
        "n2",
        Some(5),
    );
    let crowded = running(
        rs_pod(pod("old-crowded", &[("app", "old")], 900), &old),
        "n1",
        Some(5),
    );
    let n1a = running(
        owned_by(
            pod("new-1", &[("app", "new")], 5),
            &new.metadata,
            "ReplicaSet",
            "apps/v1",
        ),
        "n1",
        Some(5),
    );
    let n1b = running(
        owned_by(
            pod("new-2", &[("app", "new")], 5),
            &new.metadata,
            "ReplicaSet",
            "apps/v1",
        ),
        "n1",
        Some(5),
    );
    let view = view_of([
        old.clone().into(),
        new.into(),
        lonely.into(),
        crowded.clone().into(),
        n1a.into(),
        n1b.into(),
    ]);
    let out = reconcile_replica_set(&view, &key("d-old"), now());
    assert_eq!(
        out.actions,
        vec![delete_of(&crowded), expected_status(&old, 2, 2, 2, 2)]
    );
}

#[test]
fn without_a_controller_no_pod_is_ranked_by_its_node() {
    // upstream getIndirectlyRelatedPods finds no related pods for a ReplicaSet without a
    // controller: the crowded pod is not preferred, the newer one goes.
    let rs = replica_set("web", "web", 2);
    let p = |name: &str, age, node| {
        running(
            rs_pod(pod(name, &[("app", "web")], age), &rs),
            node,
            Some(5),
        )
    };
    let crowded_old = p("a", 9000, "n1");
    let crowded_twin = p("b", 9000, "n1");
    let alone_new = p("c", 10, "n2");
    let view = view_of([
        rs.clone().into(),
        crowded_old.into(),
        crowded_twin.into(),
        alone_new.clone().into(),
    ]);
    let out = reconcile_replica_set(&view, &key("web"), now());
    assert_eq!(
        out.actions,
        vec![delete_of(&alone_new), expected_status(&rs, 3, 3, 3, 3)]
    );
}

#[test]
fn status_counts_fully_labeled_ready_and_available_after_min_ready_seconds() {
    let mut rs = replica_set("web", "web", 4);
    rs.spec.min_ready_seconds = Some(10);
    rs.spec.template = template(&[("app", "web"), ("tier", "front")]);
    let p = |name: &str, pairs: &[(&str, &str)]| rs_pod(pod(name, pairs, 100), &rs);
    let long_ready = running(p("a", &[("app", "web"), ("tier", "front")]), "n1", Some(60));
    let just_ready = running(p("b", &[("app", "web"), ("tier", "front")]), "n1", Some(4));
    let not_ready = running(p("c", &[("app", "web")]), "n1", None);
    let partial = running(p("d", &[("app", "web")]), "n1", Some(3));
    let view = view_of([
        rs.clone().into(),
        long_ready.into(),
        just_ready.into(),
        not_ready.into(),
        partial.into(),
    ]);
    let out = reconcile_replica_set(&view, &key("web"), now());
    assert_eq!(
        out,
        Output {
            actions: vec![expected_status(&rs, 4, 2, 3, 1)],
            // b becomes available 6 s from now, d 7 s: requeue for the first, just past it.
            requeue_after: Some(Duration::from_millis(6_001)),
        }
    );
}

#[test]
fn ready_exactly_min_ready_seconds_ago_is_not_yet_available() {
    let mut rs = replica_set("web", "web", 1);
    rs.spec.min_ready_seconds = Some(10);
    let p = running(
        rs_pod(pod("a", &[("app", "web")], 100), &rs),
        "n1",
        Some(10),
    );
    assert_eq!(
        podutil::availability(&p, 10, now()),
        podutil::Availability::ReadyFor {
            left: Duration::from_millis(1)
        }
    );
    assert_eq!(
        podutil::availability(&p, 9, now()),
        podutil::Availability::Available
    );
}

#[test]
fn status_is_not_written_when_nothing_changed() {
    let mut rs = replica_set("web", "web", 1);
    rs.status.replicas = 1;
    rs.status.fully_labeled_replicas = Some(1);
    rs.status.ready_replicas = Some(1);
    rs.status.available_replicas = Some(1);
    rs.status.observed_generation = Some(1);
    let p = running(
        rs_pod(pod("a", &[("app", "web")], 100), &rs),
        "n1",
        Some(60),
    );
    let view = view_of([rs.into(), p.into()]);
    assert_eq!(
        reconcile_replica_set(&view, &key("web"), now()),
        Output::none()
    );
}

#[test]
fn a_new_generation_is_observed_even_when_the_counts_are_unchanged() {
    let mut rs = replica_set("web", "web", 0);
    rs.status.observed_generation = Some(1);
    rs.metadata.generation = Some(2);
    let view = view_of([rs.clone().into()]);
    let mut expected = rs.clone();
    expected.status.observed_generation = Some(2);
    assert_eq!(
        reconcile_replica_set(&view, &key("web"), now()).actions,
        vec![Action::UpdateStatus(expected.into())]
    );
}

#[test]
fn replica_failure_is_cleared_once_the_pod_count_matches() {
    let mut rs = replica_set("web", "web", 0);
    rs.status.observed_generation = Some(1);
    rs.status.conditions = vec![StatusCondition {
        type_: "ReplicaFailure".into(),
        status: "True".into(),
        reason: Some("FailedCreate".into()),
        ..StatusCondition::default()
    }];
    let view = view_of([rs.clone().into()]);
    let mut expected = rs.clone();
    expected.status.conditions.clear();
    assert_eq!(
        reconcile_replica_set(&view, &key("web"), now()).actions,
        vec![Action::UpdateStatus(expected.into())]
    );
    // While pods are still missing, the condition stays.
    rs.spec.replicas = Some(1);
    let view = view_of([rs.clone().into()]);
    let out = reconcile_replica_set(&view, &key("web"), now());
    assert_eq!(out.actions, vec![expected_create(&rs)]);
}

#[test]
fn a_replica_set_without_a_usable_selector_does_nothing() {
    let mut rs = replica_set("web", "web", 3);
    rs.spec.selector = None;
    let view = view_of([rs.clone().into(), pod("p", &[("app", "web")], 5).into()]);
    assert_eq!(
        reconcile_replica_set(&view, &key("web"), now()),
        Output::none()
    );
    rs.spec.selector = Some(skiff_core::selector::LabelSelector::default());
    let view = view_of([rs.into(), pod("p", &[("app", "web")], 5).into()]);
    assert_eq!(
        reconcile_replica_set(&view, &key("web"), now()),
        Output::none()
    );
}

fn rc(name: &str, replicas: i32) -> ReplicationController {
    let mut rc = ReplicationController {
        metadata: stored_meta(name, 10),
        ..ReplicationController::default()
    };
    rc.spec.replicas = Some(replicas);
    rc.spec.template = Some(template(&[("app", "myapp"), ("type", "front-end")]));
    rc
}

#[test]
fn replication_controller_selector_defaults_to_the_template_labels() {
    // seed §11's myapp-rc: no selector, the template's labels select.
    let rc = rc("myapp-rc", 3);
    let orphan = pod("stray", &[("app", "myapp"), ("type", "front-end")], 50);
    let half = pod("half", &[("app", "myapp")], 50);
    let view = view_of([rc.clone().into(), orphan.clone().into(), half.into()]);
    let out = reconcile_replication_controller(&view, &key("myapp-rc"), now());
    let reference = OwnerReference {
        api_version: "v1".into(),
        kind: "ReplicationController".into(),
        name: "myapp-rc".into(),
        uid: "uid-myapp-rc".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let mut adopted = orphan.clone();
    adopted.metadata.owner_references = vec![reference.clone()];
    let mut created = Pod::default();
    created.metadata.generate_name = Some("myapp-rc-".into());
    created.metadata.namespace = Some("default".into());
    created.metadata.labels = labels(&[("app", "myapp"), ("type", "front-end")]);
    created.metadata.owner_references = vec![reference];
    created.spec = rc.spec.template.clone().unwrap().spec;
    let mut status = rc.clone();
    status.status.replicas = 1;
    status.status.fully_labeled_replicas = Some(1);
    status.status.observed_generation = Some(1);
    assert_eq!(
        out.actions,
        vec![
            Action::Update(adopted.into()),
            Action::Create(created.clone().into()),
            Action::Create(created.into()),
            Action::UpdateStatus(status.into()),
        ]
    );
}

#[test]
fn replication_controller_with_an_explicit_selector_uses_it() {
    let mut rc = rc("myapp-rc", 1);
    rc.spec.selector = labels(&[("app", "myapp")]);
    let half = pod("half", &[("app", "myapp")], 50);
    let view = view_of([rc.into(), half.into()]);
    let out = reconcile_replication_controller(&view, &key("myapp-rc"), now());
    assert_eq!(
        described(&out),
        [
            "update pod/default/half",
            "update-status replicationcontroller/default/myapp-rc"
        ]
    );
}

#[test]
fn keys_for_maps_an_owned_pod_to_its_controller_and_an_orphan_to_every_matching_set() {
    let a = replica_set("a", "web", 1);
    let b = replica_set("b", "web", 1);
    let c = replica_set("c", "other", 1);
    let view = view_of([a.clone().into(), b.clone().into(), c.into()]);
    let controller = ReplicaSetController;
    let orphan: Object = pod("o", &[("app", "web")], 5).into();
    assert_eq!(controller.keys_for(&view, &orphan), [key("a"), key("b")]);
    let owned: Object = rs_pod(pod("p", &[("app", "web")], 5), &b).into();
    assert_eq!(controller.keys_for(&view, &owned), [key("b")]);
    // A stale reference (same name, other uid) and another kind's pods concern no ReplicaSet.
    let mut stale = rs_pod(pod("s", &[("app", "web")], 5), &a);
    stale.metadata.owner_references[0].uid = "uid-gone".into();
    assert!(controller.keys_for(&view, &stale.into()).is_empty());
    let mut job_pod = rs_pod(pod("j", &[("app", "web")], 5), &a);
    job_pod.metadata.owner_references[0].kind = "Job".into();
    assert!(controller.keys_for(&view, &job_pod.into()).is_empty());
    assert_eq!(controller.keys_for(&view, &a.into()), [key("a")]);
    assert_eq!(
        controller.resync_keys(&view),
        [key("a"), key("b"), key("c")]
    );
    assert_eq!(
        ReplicationManager.keys_for(&view, &orphan),
        Vec::<ObjectKey>::new()
    );
}

// ---------------------------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools, reason = "a generated test input")]
struct PodSpec {
    app_web: bool,
    owned: bool,
    phase: u8,
    deleting: bool,
    ready: bool,
    node: u8,
    age: i64,
}

fn pod_spec() -> impl Strategy<Value = PodSpec> {
    (
        any::<bool>(),
        any::<bool>(),
        0u8..5,
        prop::bool::weighted(0.1),
        any::<bool>(),
        0u8..3,
        1i64..100_000,
    )
        .prop_map(
            |(app_web, owned, phase, deleting, ready, node, age)| PodSpec {
                app_web,
                owned,
                phase,
                deleting,
                ready,
                node,
                age,
            },
        )
}

fn build(rs: &ReplicaSet, pods: &[PodSpec]) -> Vec<Object> {
    let mut objects: Vec<Object> = vec![rs.clone().into()];
    for (i, s) in pods.iter().enumerate() {
        let app = if s.app_web { "web" } else { "other" };
        let mut p = pod(&format!("p{i:03}"), &[("app", app)], s.age);
        if s.owned {
            p = rs_pod(p, rs);
        }
        if s.node > 0 {
            p = running(p, &format!("n{}", s.node), s.ready.then_some(s.age / 2));
        }
        p.status.phase = Some(
            ["Pending", "Running", "Unknown", "Failed", "Succeeded"][usize::from(s.phase)].into(),
        );
        if s.deleting {
            p.metadata.deletion_timestamp = Some(ago(1));
        }
        objects.push(p.into());
    }
    objects
}

fn active_owned(view: &View, rs: &ReplicaSet) -> usize {
    view.list_in::<Pod>("default")
        .filter(|p| podutil::is_pod_active(p))
        .filter(|p| podutil::is_controlled_by(&p.metadata, rs.metadata.uid.as_deref().unwrap()))
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn same_input_gives_the_same_output(
        replicas in 0i32..40,
        pods in prop::collection::vec(pod_spec(), 0..30),
        min_ready in 0i32..100,
    ) {
        let mut rs = replica_set("web", "web", replicas);
        rs.spec.min_ready_seconds = Some(min_ready);
        let objects = build(&rs, &pods);
        let forward = view_of(objects.clone());
        let backward = view_of(objects.into_iter().rev());
        let a = reconcile_replica_set(&forward, &key("web"), now());
        let b = reconcile_replica_set(&forward, &key("web"), now());
        let c = reconcile_replica_set(&backward, &key("web"), now());
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&a, &c);
    }

    #[test]
    fn applying_the_actions_converges_within_the_burst_rounds(
        replicas in 0i32..1300,
        pods in prop::collection::vec(pod_spec(), 0..30),
    ) {
        let rs = replica_set("web", "web", replicas);
        let view = view_of(build(&rs, &pods));
        let initially = active_owned(&view, &rs)
            + view.list_in::<Pod>("default")
                .filter(|p| podutil::is_pod_active(p) && p.metadata.owner_references.is_empty()
                    && p.metadata.labels.get("app").map(String::as_str) == Some("web"))
                .count();
        let want = usize::try_from(replicas).unwrap();
        let diff = want.abs_diff(initially);
        // One round per burst of 500, one to write the final status, one to see nothing left.
        let bound = diff.div_ceil(500) + 2;
        let mut sim = Sim::new(view);
        let mut rounds = 0;
        loop {
            let out = reconcile_replica_set(&sim.view, &key("web"), sim.now);
            if out.actions.is_empty() {
                break;
            }
            rounds += 1;
            prop_assert!(rounds <= bound, "not converged after {} rounds (diff {})", rounds, diff);
            sim.apply(&out.actions);
        }
        prop_assert_eq!(active_owned(&sim.view, &rs), want);
        let stored = sim.view.get::<ReplicaSet>("default", "web").unwrap();
        prop_assert_eq!(stored.status.replicas, replicas);
        prop_assert_eq!(stored.status.observed_generation, Some(1));
    }
}

#[test]
fn extreme_counts_and_times_do_not_overflow() {
    for (replicas, min_ready) in [(i32::MAX, i32::MAX), (i32::MIN, i32::MIN), (-1, -1)] {
        let mut rs = replica_set("web", "web", replicas);
        rs.spec.min_ready_seconds = Some(min_ready);
        let mut p = running(rs_pod(pod("a", &[("app", "web")], 5), &rs), "n1", Some(1));
        p.status.conditions[0].last_transition_time = Some(
            skiff_core::object::Time::from_unix_seconds(i64::MAX / 2_000_000),
        );
        let view = view_of([rs.into(), p.into()]);
        let out = reconcile_replica_set(&view, &key("web"), now());
        assert!(out.actions.len() <= 502);
    }
}

#[test]
fn replication_manager_maps_orphans_by_the_defaulted_selector() {
    let rc = rc("myapp-rc", 1);
    let view = view_of([rc.clone().into()]);
    let manager = ReplicationManager;
    let orphan: Object = pod("o", &[("app", "myapp"), ("type", "front-end")], 5).into();
    assert_eq!(manager.keys_for(&view, &orphan), [key("myapp-rc")]);
    let partial: Object = pod("p", &[("app", "myapp")], 5).into();
    assert!(manager.keys_for(&view, &partial).is_empty());
    let owned: Object = owned_by(
        pod("q", &[("app", "other")], 5),
        &rc.metadata,
        "ReplicationController",
        "v1",
    )
    .into();
    assert_eq!(manager.keys_for(&view, &owned), [key("myapp-rc")]);
    assert_eq!(manager.resync_keys(&view), [key("myapp-rc")]);
    assert_eq!(manager.name(), "replicationcontroller");
    assert_eq!(ReplicaSetController.name(), "replicaset-controller");
}

proptest! {
    #[test]
    fn merge_sort_matches_the_standard_stable_sort_and_survives_any_comparator(
        items in prop::collection::vec((0u8..6, 0u16..1000), 0..200),
        seed in any::<u64>(),
    ) {
        let mut ours = items.clone();
        podutil::merge_sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
        let mut std = items.clone();
        std.sort_by_key(|a| a.0);
        prop_assert_eq!(ours, std);
        // A comparator that is no order at all: no panic, every item kept.
        let mut rng = skiff_core::rng::SplitMix64::new(seed);
        let mut chaos = items.clone();
        podutil::merge_sort_by(&mut chaos, |_, _| match rng.below(3) {
            0 => std::cmp::Ordering::Less,
            1 => std::cmp::Ordering::Equal,
            _ => std::cmp::Ordering::Greater,
        });
        let mut a = chaos;
        let mut b = items;
        a.sort_unstable();
        b.sort_unstable();
        prop_assert_eq!(a, b);
    }
}
