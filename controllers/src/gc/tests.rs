//! Garbage collector and pod GC tests.

use std::time::UNIX_EPOCH;

use proptest::prelude::*;
use skiff_core::object::{Container, Deployment, Lease, ReplicaSet, Taint, Time};

use super::*;

const BASE: u64 = 1_700_000_000;

fn at(seconds: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(BASE) + Duration::from_secs_f64(seconds)
}

fn owner_ref(kind: &str, api_version: &str, name: &str, block: Option<bool>) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        uid: format!("uid-{name}"),
        controller: Some(true),
        block_owner_deletion: block,
    }
}

fn rs_ref(name: &str, block: Option<bool>) -> OwnerReference {
    owner_ref("ReplicaSet", "apps/v1", name, block)
}

fn rs(name: &str) -> ReplicaSet {
    let mut r = ReplicaSet::default();
    r.metadata.name = Some(name.into());
    r.metadata.namespace = Some("default".into());
    r.metadata.uid = Some(format!("uid-{name}"));
    r.metadata.resource_version = Some("5".into());
    r
}

fn deleting(mut o: Object, finalizer: &str) -> Object {
    let meta = o.metadata_mut();
    meta.deletion_timestamp = Some(Time::from_unix_seconds(1));
    meta.finalizers.push(finalizer.into());
    o
}

fn pod(name: &str, owners: Vec<OwnerReference>) -> Pod {
    let mut p = Pod::new(name, vec![Container::new("c", "nginx")]);
    p.metadata.namespace = Some("default".into());
    p.metadata.uid = Some(format!("uid-{name}"));
    p.metadata.resource_version = Some("7".into());
    p.metadata.owner_references = owners;
    p
}

fn view_of(objects: impl IntoIterator<Item = Object>) -> View {
    let mut view = View::new();
    for o in objects {
        view.insert(o);
    }
    view
}

fn pod_key(name: &str) -> ObjectKey {
    gc_key(&info::POD, "default", name)
}

fn delete(o: &Object, propagation: Propagation) -> Action {
    let meta = o.metadata();
    Action::Delete {
        resource: o.info(),
        namespace: meta.namespace_or_empty().into(),
        name: meta.name_or_empty().into(),
        options: DeleteOptions {
            grace_period_seconds: None,
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            propagation,
        },
    }
}

fn run(view: &View, key: &ObjectKey, gc: &mut GarbageCollector, t: f64) -> Output {
    gc.reconcile(view, key, at(t))
}

#[test]
fn gc_keys_round_trip_kind_namespace_and_name() {
    let key = gc_key(&info::REPLICA_SET, "default", "web-1");
    assert_eq!(key, ObjectKey::new("default", "ReplicaSet/web-1"));
    assert_eq!(
        parse_gc_key(&key),
        Some((&info::REPLICA_SET, "default", "web-1"))
    );
    assert_eq!(parse_gc_key(&ObjectKey::new("default", "web")), None);
    assert_eq!(parse_gc_key(&ObjectKey::new("", "Nope/x")), None);
}

#[test]
fn dependent_of_a_deleted_owner_is_deleted_in_the_background_once_confirmed() {
    let p: Object = pod("web-1", vec![rs_ref("web", None)]).into();
    let view = view_of([p.clone()]);
    let mut gc = GarbageCollector::default();
    assert_eq!(
        run(&view, &pod_key("web-1"), &mut gc, 0.0),
        Output {
            actions: vec![],
            requeue_after: Some(Duration::from_secs(1)),
        }
    );
    assert_eq!(
        run(&view, &pod_key("web-1"), &mut gc, 0.5).requeue_after,
        Some(Duration::from_millis(500))
    );
    assert_eq!(
        run(&view, &pod_key("web-1"), &mut gc, 1.0),
        Output {
            actions: vec![delete(&p, Propagation::Background)],
            requeue_after: None,
        }
    );
    assert_eq!(gc.state, GcState::default());
}

#[test]
fn owner_that_shows_up_within_the_confirmation_keeps_its_dependent() {
    let p: Object = pod("web-1", vec![rs_ref("web", None)]).into();
    let mut view = view_of([p]);
    let mut gc = GarbageCollector::default();
    run(&view, &pod_key("web-1"), &mut gc, 0.0);
    view.insert(rs("web").into());
    assert_eq!(run(&view, &pod_key("web-1"), &mut gc, 2.0), Output::none());
    assert_eq!(gc.state, GcState::default());
}

#[test]
fn owner_recreated_under_another_uid_is_gone() {
    let mut other = rs("web");
    other.metadata.uid = Some("uid-new".into());
    let p: Object = pod("web-1", vec![rs_ref("web", None)]).into();
    let view = view_of([other.into(), p.clone()]);
    let mut gc = GarbageCollector::default();
    run(&view, &pod_key("web-1"), &mut gc, 0.0);
    assert_eq!(
        run(&view, &pod_key("web-1"), &mut gc, 1.0).actions,
        vec![delete(&p, Propagation::Background)]
    );
}

#[test]
fn dependent_with_a_live_owner_loses_only_its_dangling_reference() {
    let p = pod("web-1", vec![rs_ref("gone", None), rs_ref("web", None)]);
    let view = view_of([rs("web").into(), p.clone().into()]);
    let mut gc = GarbageCollector::default();
    run(&view, &pod_key("web-1"), &mut gc, 0.0);
    let mut expected = p;
    expected.metadata.owner_references = vec![rs_ref("web", None)];
    assert_eq!(
        run(&view, &pod_key("web-1"), &mut gc, 1.0).actions,
        vec![Action::Update(expected.into())]
    );
}

#[test]
fn dependents_of_live_owners_are_left_alone() {
    let view = view_of([
        rs("web").into(),
        pod("web-1", vec![rs_ref("web", Some(true))]).into(),
        pod("bare", vec![]).into(),
    ]);
    let mut gc = GarbageCollector::default();
    assert_eq!(run(&view, &pod_key("web-1"), &mut gc, 0.0), Output::none());
    assert_eq!(run(&view, &pod_key("bare"), &mut gc, 0.0), Output::none());
    assert_eq!(
        run(&view, &pod_key("missing"), &mut gc, 0.0),
        Output::none()
    );
}

#[test]
fn foreground_owner_waits_for_blocking_dependents_then_loses_its_finalizer() {
    let owner = deleting(rs("web").into(), FINALIZER_FOREGROUND);
    let blocking: Object = pod("web-1", vec![rs_ref("web", Some(true))]).into();
    let plain: Object = pod("web-2", vec![rs_ref("web", None)]).into();
    let mut view = view_of([owner.clone(), blocking.clone(), plain.clone()]);
    let mut gc = GarbageCollector::default();
    let owner_key = gc_key(&info::REPLICA_SET, "default", "web");
    // Every dependent without another owner is deleted, blocking or not, without waiting:
    // the owner is there, just being deleted.
    assert_eq!(
        run(&view, &pod_key("web-1"), &mut gc, 0.0).actions,
        vec![delete(&blocking, Propagation::Background)]
    );
    assert_eq!(
        run(&view, &pod_key("web-2"), &mut gc, 0.0).actions,
        vec![delete(&plain, Propagation::Background)]
    );
    assert_eq!(run(&view, &owner_key, &mut gc, 0.0), Output::none());
    // Graceful deletion of the pod under way: it still blocks.
    let mut terminating = pod("web-1", vec![rs_ref("web", Some(true))]);
    terminating.metadata.deletion_timestamp = Some(Time::from_unix_seconds(30));
    view.insert(terminating.clone().into());
    assert_eq!(run(&view, &pod_key("web-1"), &mut gc, 0.0), Output::none());
    assert_eq!(run(&view, &owner_key, &mut gc, 0.0), Output::none());
    // Gone: the non-blocking web-2 does not hold the owner.
    view.remove(&terminating.into());
    let mut expected = owner;
    expected.metadata_mut().finalizers.clear();
    assert_eq!(
        run(&view, &owner_key, &mut gc, 0.0),
        Output {
            actions: vec![Action::Update(expected)],
            requeue_after: None,
        }
    );
}

#[test]
fn foreground_deletion_propagates_to_dependents_that_have_dependents() {
    let mut deployment = Deployment::default();
    deployment.metadata.name = Some("app".into());
    deployment.metadata.namespace = Some("default".into());
    deployment.metadata.uid = Some("uid-app".into());
    let deployment = deleting(deployment.into(), FINALIZER_FOREGROUND);
    let mut replica_set = rs("app-1");
    replica_set.metadata.owner_references =
        vec![owner_ref("Deployment", "apps/v1", "app", Some(true))];
    let replica_set: Object = replica_set.into();
    let view = view_of([
        deployment,
        replica_set.clone(),
        pod("app-1-x", vec![rs_ref("app-1", Some(true))]).into(),
    ]);
    let mut gc = GarbageCollector::default();
    assert_eq!(
        run(
            &view,
            &gc_key(&info::REPLICA_SET, "default", "app-1"),
            &mut gc,
            0.0
        )
        .actions,
        vec![delete(&replica_set, Propagation::Foreground)]
    );
}

#[test]
fn orphan_owner_strips_references_from_dependents_then_its_finalizer() {
    let owner = deleting(rs("web").into(), FINALIZER_ORPHAN);
    let a = pod(
        "web-1",
        vec![rs_ref("web", Some(true)), rs_ref("other", None)],
    );
    let b = pod("web-2", vec![rs_ref("web", None)]);
    let mut view = view_of([owner.clone(), a.clone().into(), b.clone().into()]);
    let mut gc = GarbageCollector::default();
    let owner_key = gc_key(&info::REPLICA_SET, "default", "web");
    let mut a2 = a;
    a2.metadata.owner_references = vec![rs_ref("other", None)];
    let mut b2 = b;
    b2.metadata.owner_references = vec![];
    assert_eq!(
        run(&view, &owner_key, &mut gc, 0.0).actions,
        vec![
            Action::Update(a2.clone().into()),
            Action::Update(b2.clone().into())
        ]
    );
    view.insert(a2.into());
    view.insert(b2.into());
    let mut expected = owner;
    expected.metadata_mut().finalizers.clear();
    assert_eq!(
        run(&view, &owner_key, &mut gc, 0.0).actions,
        vec![Action::Update(expected)]
    );
}

#[test]
fn orphaning_skips_dependents_that_are_being_deleted() {
    let owner = deleting(rs("web").into(), FINALIZER_ORPHAN);
    let mut leaving = pod("web-1", vec![rs_ref("web", None)]);
    leaving.metadata.deletion_timestamp = Some(Time::from_unix_seconds(30));
    let view = view_of([owner.clone(), leaving.into()]);
    let mut gc = GarbageCollector::default();
    let mut expected = owner;
    expected.metadata_mut().finalizers.clear();
    assert_eq!(
        run(
            &view,
            &gc_key(&info::REPLICA_SET, "default", "web"),
            &mut gc,
            0.0
        )
        .actions,
        vec![Action::Update(expected)]
    );
}

#[test]
fn objects_already_being_deleted_are_left_alone() {
    let mut p = pod("web-1", vec![rs_ref("gone", None)]);
    p.metadata.deletion_timestamp = Some(Time::from_unix_seconds(1));
    let view = view_of([p.into()]);
    let mut gc = GarbageCollector::default();
    assert_eq!(run(&view, &pod_key("web-1"), &mut gc, 0.0), Output::none());
    assert_eq!(run(&view, &pod_key("web-1"), &mut gc, 5.0), Output::none());
}

#[test]
fn dependent_with_its_own_orphan_finalizer_is_deleted_with_orphan_propagation() {
    let mut p = pod("web-1", vec![rs_ref("gone", None)]);
    p.metadata.finalizers = vec![FINALIZER_ORPHAN.into()];
    let p: Object = p.into();
    let view = view_of([p.clone()]);
    let mut gc = GarbageCollector::default();
    run(&view, &pod_key("web-1"), &mut gc, 0.0);
    assert_eq!(
        run(&view, &pod_key("web-1"), &mut gc, 1.0).actions,
        vec![delete(&p, Propagation::Orphan)]
    );
}

#[test]
fn owner_of_a_kind_skiff_does_not_serve_is_never_taken_for_gone() {
    let p = pod("job-1", vec![owner_ref("Job", "batch/v1", "nightly", None)]);
    let view = view_of([p.into()]);
    let mut gc = GarbageCollector::default();
    assert_eq!(run(&view, &pod_key("job-1"), &mut gc, 0.0), Output::none());
    assert_eq!(run(&view, &pod_key("job-1"), &mut gc, 10.0), Output::none());
}

#[test]
fn node_lease_is_collected_after_its_cluster_scoped_node() {
    let mut lease = Lease::default();
    lease.metadata.name = Some("n1".into());
    lease.metadata.namespace = Some("kube-node-lease".into());
    lease.metadata.uid = Some("uid-lease".into());
    lease.metadata.owner_references = vec![owner_ref("Node", "v1", "n1", None)];
    let lease: Object = lease.into();
    let key = gc_key(&info::LEASE, "kube-node-lease", "n1");
    let mut node = Node::default();
    node.metadata.name = Some("n1".into());
    node.metadata.uid = Some("uid-n1".into());
    let mut view = view_of([node.clone().into(), lease.clone()]);
    let mut gc = GarbageCollector::default();
    assert_eq!(run(&view, &key, &mut gc, 0.0), Output::none());
    view.remove(&node.into());
    run(&view, &key, &mut gc, 1.0);
    assert_eq!(
        run(&view, &key, &mut gc, 2.0).actions,
        vec![delete(&lease, Propagation::Background)]
    );
}

#[test]
fn a_change_concerns_the_object_its_dependents_and_its_owners() {
    let mut deployment = Deployment::default();
    deployment.metadata.name = Some("app".into());
    deployment.metadata.namespace = Some("default".into());
    deployment.metadata.uid = Some("uid-app".into());
    let mut replica_set = rs("app-1");
    replica_set.metadata.owner_references = vec![owner_ref("Deployment", "apps/v1", "app", None)];
    let view = view_of([
        deployment.into(),
        replica_set.clone().into(),
        pod("app-1-x", vec![rs_ref("app-1", None)]).into(),
    ]);
    let gc = GarbageCollector::default();
    assert_eq!(
        gc.keys_for(&view, &replica_set.into()),
        vec![
            ObjectKey::new("default", "Deployment/app"),
            ObjectKey::new("default", "Pod/app-1-x"),
            ObjectKey::new("default", "ReplicaSet/app-1"),
        ]
    );
    assert_eq!(
        gc.resync_keys(&view),
        vec![
            ObjectKey::new("default", "Pod/app-1-x"),
            ObjectKey::new("default", "ReplicaSet/app-1"),
        ]
    );
    assert!(!gc.watches().iter().any(|w| w.resource.kind == "Event"));
}

// ---------------------------------------------------------------------------------------------
// Pod GC
// ---------------------------------------------------------------------------------------------

fn node(name: &str) -> Node {
    let mut n = Node::default();
    n.metadata.name = Some(name.into());
    n
}

fn bound(name: &str, node: &str, phase: &str, created: i64) -> Pod {
    let mut p = pod(name, vec![]);
    p.spec.node_name = Some(node.into());
    p.status.phase = Some(phase.into());
    p.metadata.creation_timestamp = Some(Time::from_unix_seconds(created));
    p
}

fn force(p: &Pod) -> Action {
    Action::Delete {
        resource: &info::POD,
        namespace: "default".into(),
        name: p.metadata.name_or_empty().into(),
        options: DeleteOptions {
            grace_period_seconds: Some(0),
            uid: p.metadata.uid.clone(),
            ..DeleteOptions::default()
        },
    }
}

#[test]
fn pods_of_a_deleted_node_are_failed_and_force_deleted_after_the_quarantine() {
    let p = bound("web-1", "gone", "Running", 0);
    let view = view_of([node("n1").into(), p.clone().into()]);
    let mut c = PodGcController::default();
    assert_eq!(
        c.reconcile(&view, &pod_gc_key(), at(0.0)),
        Output {
            actions: vec![],
            requeue_after: Some(Duration::from_secs(20)),
        }
    );
    assert_eq!(
        c.reconcile(&view, &pod_gc_key(), at(30.0)).requeue_after,
        Some(Duration::from_secs(10))
    );
    let now = at(40.0);
    let mut failed = p.clone();
    failed.status.phase = Some("Failed".into());
    failed.status.conditions.push(PodCondition {
        r#type: "DisruptionTarget".into(),
        status: "True".into(),
        reason: Some("DeletionByPodGC".into()),
        message: Some("PodGC: node no longer exists".into()),
        last_transition_time: Some(time_of(now)),
        ..PodCondition::default()
    });
    assert_eq!(
        c.reconcile(&view, &pod_gc_key(), now),
        Output {
            actions: vec![Action::UpdateStatus(failed.into()), force(&p)],
            requeue_after: Some(Duration::from_secs(20)),
        }
    );
}

#[test]
fn node_that_comes_back_within_the_quarantine_keeps_its_pods() {
    let mut view = view_of([bound("web-1", "n1", "Running", 0).into()]);
    let mut c = PodGcController::default();
    c.reconcile(&view, &pod_gc_key(), at(0.0));
    view.insert(node("n1").into());
    assert_eq!(c.reconcile(&view, &pod_gc_key(), at(60.0)).actions, vec![]);
    assert_eq!(c.state, PodGcState::default());
}

#[test]
fn terminated_pods_beyond_the_threshold_go_evicted_first_then_oldest() {
    let old = bound("old", "n1", "Succeeded", 10);
    let older = bound("older", "n1", "Failed", 5);
    let mut evicted = bound("evicted", "n1", "Failed", 30);
    evicted.status.reason = Some("Evicted".into());
    let new = bound("new", "n1", "Succeeded", 40);
    let view = view_of([
        node("n1").into(),
        old.clone().into(),
        older.clone().into(),
        evicted.clone().into(),
        new.into(),
        bound("running", "n1", "Running", 1).into(),
    ]);
    let mut c = PodGcController {
        config: PodGcConfig {
            terminated_pod_threshold: 2,
            ..PodGcConfig::default()
        },
        ..PodGcController::default()
    };
    assert_eq!(
        c.reconcile(&view, &pod_gc_key(), at(0.0)).actions,
        vec![force(&evicted), force(&older)]
    );
    c.config.terminated_pod_threshold = 0;
    assert_eq!(c.reconcile(&view, &pod_gc_key(), at(0.0)).actions, vec![]);
}

#[test]
fn unscheduled_terminating_pods_are_force_deleted() {
    let mut p = pod("pending", vec![]);
    p.status.phase = Some("Pending".into());
    p.metadata.deletion_timestamp = Some(Time::from_unix_seconds(1));
    let view = view_of([p.clone().into()]);
    let mut c = PodGcController::default();
    let mut failed = p.clone();
    failed.status.phase = Some("Failed".into());
    assert_eq!(
        c.reconcile(&view, &pod_gc_key(), at(0.0)).actions,
        vec![Action::UpdateStatus(failed.into()), force(&p)]
    );
}

#[test]
fn terminating_pods_on_an_out_of_service_node_are_force_deleted() {
    let mut n = node("n1");
    n.spec.taints = vec![Taint {
        key: TAINT_OUT_OF_SERVICE.into(),
        value: Some("nodeshutdown".into()),
        effect: "NoExecute".into(),
        time_added: None,
    }];
    let mut p = bound("web-1", "n1", "Running", 0);
    p.metadata.deletion_timestamp = Some(Time::from_unix_seconds(1));
    let alive = bound("web-2", "n1", "Running", 0);
    let view = view_of([n.into(), p.clone().into(), alive.into()]);
    let mut c = PodGcController::default();
    let mut failed = p.clone();
    failed.status.phase = Some("Failed".into());
    assert_eq!(
        c.reconcile(&view, &pod_gc_key(), at(0.0)).actions,
        vec![Action::UpdateStatus(failed.into()), force(&p)]
    );
}

proptest! {
    #[test]
    fn same_view_gives_the_same_collection(
        pods in proptest::collection::vec((0..4usize, 0..3usize, proptest::bool::ANY, 0..3u8), 0..10),
        owners in proptest::collection::vec((0..4usize, 0..3u8), 0..4),
        t in 0..100u32,
    ) {
        let mut objects: Vec<Object> = Vec::new();
        for (i, state) in &owners {
            let owner = rs(&format!("rs{i}"));
            objects.push(match state {
                0 => owner.into(),
                1 => deleting(owner.into(), FINALIZER_FOREGROUND),
                _ => deleting(owner.into(), FINALIZER_ORPHAN),
            });
        }
        for (j, (owner, node_index, block, phase)) in pods.iter().enumerate() {
            let mut p = bound(
                &format!("p{j}"),
                &format!("n{node_index}"),
                ["Running", "Succeeded", "Failed"][usize::from(*phase)],
                i64::try_from(j).unwrap(),
            );
            p.metadata.owner_references = vec![rs_ref(&format!("rs{owner}"), Some(*block))];
            objects.push(p.into());
        }
        objects.push(node("n0").into());
        let view = view_of(objects);
        let now = at(f64::from(t));
        let (mut a, mut b) = (GarbageCollector::default(), GarbageCollector::default());
        for key in a.resync_keys(&view) {
            prop_assert_eq!(a.reconcile(&view, &key, now), b.reconcile(&view, &key, now));
        }
        prop_assert_eq!(&a.state, &b.state);
        let config = PodGcConfig { terminated_pod_threshold: 2, ..PodGcConfig::default() };
        let (mut sa, mut sb) = (PodGcState::default(), PodGcState::default());
        prop_assert_eq!(gc_pods(&view, &mut sa, &config, now), gc_pods(&view, &mut sb, &config, now));
        prop_assert_eq!(sa, sb);
    }
}

fn game_server_kinds() -> (KindRegistry, &'static skiff_core::object::CustomKind) {
    let kind = skiff_core::object::DynamicKind::new(
        "games.example.com",
        "v1",
        "GameServer",
        "gameservers",
    )
    .define();
    let mut kinds = KindRegistry::builtin();
    kinds.register(kind).unwrap();
    (kinds, kind)
}

#[test]
fn pods_of_a_deleted_custom_owner_are_collected() {
    let (kinds, kind) = game_server_kinds();
    let mut gc = GarbageCollector {
        config: GcConfig {
            kinds: kinds.clone(),
            ..GcConfig::default()
        },
        ..GarbageCollector::default()
    };
    assert!(gc.watches().iter().any(|w| w.resource == &kind.info));
    let p: Object = pod(
        "arena-0",
        vec![owner_ref(
            "GameServer",
            "games.example.com/v1",
            "arena",
            None,
        )],
    )
    .into();
    let mut owner = skiff_core::object::DynamicObject::new(kind);
    owner.metadata.name = Some("arena".into());
    owner.metadata.namespace = Some("default".into());
    owner.metadata.uid = Some("uid-arena".into());
    let owner = Object::Custom(owner);
    // The owner's key resolves through the registry; the pod's owner is found in the view.
    let owner_key = gc_key(&kind.info, "default", "arena");
    assert_eq!(
        gc.keys_for(&view_of([owner.clone()]), &p),
        vec![owner_key.clone(), pod_key("arena-0")]
    );
    assert_eq!(
        parse_gc_key_in(&kinds, &owner_key),
        Some((&kind.info, "default", "arena"))
    );
    let with_owner = view_of([owner, p.clone()]);
    assert_eq!(
        run(&with_owner, &pod_key("arena-0"), &mut gc, 0.0),
        Output::none()
    );
    let without = view_of([p.clone()]);
    run(&without, &pod_key("arena-0"), &mut gc, 0.0);
    assert_eq!(
        run(&without, &pod_key("arena-0"), &mut gc, 1.0),
        Output {
            actions: vec![delete(&p, Propagation::Background)],
            requeue_after: None,
        }
    );
    // Without the registry the owner kind cannot be checked: the pod is kept (as before).
    let mut builtin = GarbageCollector::default();
    run(&without, &pod_key("arena-0"), &mut builtin, 0.0);
    assert_eq!(
        run(&without, &pod_key("arena-0"), &mut builtin, 5.0),
        Output::none()
    );
}
