//! The Deployment controller's rules with exact outputs, kubectl's rollout helpers, and
//! rollouts run to the end against the ReplicaSet controller in a simulated API.

use std::time::Duration;

use proptest::prelude::*;
use skiff_core::client::DeleteOptions;
use skiff_core::object::{
    Deployment, DeploymentCondition, HasKindInfo, IntOrString, Object, OwnerReference,
    PodTemplateSpec, ReplicaSet, RollingUpdateDeployment, Time,
};
use skiff_core::selector::LabelSelector;

use super::rollout::{
    Rollback, history_revision, rollback_to, rollout_history, rollout_status, set_paused,
};
use super::{
    DESIRED_REPLICAS, DeploymentController, MAX_REPLICAS, POD_TEMPLATE_HASH, REVISION,
    pod_template_hash, reconcile_deployment, resolve_fenceposts,
};
use crate::reconcile::{Action, Controller, Output};
use crate::replicaset::reconcile_replica_set;
use crate::replicaset::testsupport::{Sim, ago, labels, now, stored_meta, template, view_of};
use crate::view::{ObjectKey, View};

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("default", name)
}

fn deployment(replicas: i32) -> Deployment {
    let mut d = Deployment {
        metadata: stored_meta("web", 30),
        ..Deployment::default()
    };
    d.spec.replicas = Some(replicas);
    d.spec.selector = Some(LabelSelector::from_labels(labels(&[("app", "web")])));
    d.spec.template = template(&[("app", "web")]);
    d
}

fn image(t: &PodTemplateSpec, image: &str) -> PodTemplateSpec {
    let mut t = t.clone();
    t.spec.containers[0].image = Some(image.to_owned());
    t
}

fn controller_ref(d: &Deployment) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: "web".into(),
        uid: d.metadata.uid.clone().unwrap(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The ReplicaSet the Deployment would have made for `t` at `revision`, with `replicas`, all
/// of them `available`, created `age` seconds ago.
fn owned_rs(
    d: &Deployment,
    t: &PodTemplateSpec,
    revision: i64,
    replicas: i32,
    available: i32,
    age: i64,
) -> ReplicaSet {
    let hash = pod_template_hash(t, None);
    let mut template = t.clone();
    template
        .metadata
        .labels
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let mut rs = ReplicaSet {
        metadata: stored_meta(&format!("web-{hash}"), 40),
        ..ReplicaSet::default()
    };
    rs.metadata.labels = template.metadata.labels.clone();
    rs.metadata.creation_timestamp = Some(ago(age));
    rs.metadata.owner_references = vec![controller_ref(d)];
    let (surge, _) = resolve_fenceposts(None, None, d.spec.replicas.unwrap());
    rs.metadata.annotations = labels(&[
        (REVISION, &revision.to_string()),
        (DESIRED_REPLICAS, &d.spec.replicas.unwrap().to_string()),
        (
            MAX_REPLICAS,
            &(d.spec.replicas.unwrap() + surge).to_string(),
        ),
    ]);
    let mut selector = d.spec.selector.clone().unwrap();
    selector.match_labels.insert(POD_TEMPLATE_HASH.into(), hash);
    rs.spec.replicas = Some(replicas);
    rs.spec.selector = Some(selector);
    rs.spec.template = template;
    rs.status.replicas = replicas;
    rs.status.fully_labeled_replicas = (replicas != 0).then_some(replicas);
    rs.status.ready_replicas = (available != 0).then_some(available);
    rs.status.available_replicas = (available != 0).then_some(available);
    rs.status.observed_generation = Some(1);
    rs
}

fn cond(type_: &str, status: &str, reason: &str, message: &str, at: Time) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        last_update_time: Some(at),
        last_transition_time: Some(at),
        reason: Some(reason.into()),
        message: Some(message.into()),
    }
}

/// The `ScalingReplicaSet` event the Deployment controller writes, `offset` µs after now.
fn scaling_event(d: &Deployment, message: &str, offset: u64) -> Action {
    crate::reconcile::event(
        &d.clone().into(),
        crate::reconcile::EventType::Normal,
        "ScalingReplicaSet",
        message,
        "deployment-controller",
        now() + Duration::from_micros(offset),
    )
}

fn at_now() -> Time {
    ago(0)
}

fn available_false() -> DeploymentCondition {
    cond(
        "Available",
        "False",
        "MinimumReplicasUnavailable",
        "Deployment does not have minimum availability.",
        at_now(),
    )
}

#[test]
fn pod_template_hash_is_stable_safe_encoded_and_moved_by_the_collision_count() {
    let t = template(&[("app", "web")]);
    let hash = pod_template_hash(&t, None);
    // A regression value: the hash of this template must not change between builds.
    assert_eq!(hash, pod_template_hash(&t.clone(), None));
    assert_eq!(hash, "6fd6dc449");
    assert!(
        hash.bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
    );
    assert_ne!(pod_template_hash(&t, Some(1)), hash);
    assert_ne!(pod_template_hash(&image(&t, "nginx:2"), None), hash);
}

#[test]
fn fenceposts_round_surge_up_and_unavailable_down() {
    let pct = |s: &str| IntOrString::String(s.into());
    assert_eq!(resolve_fenceposts(None, None, 4), (1, 1));
    assert_eq!(resolve_fenceposts(None, None, 10), (3, 2));
    assert_eq!(resolve_fenceposts(None, None, 1), (1, 0));
    // Both resolve to 0: maxUnavailable becomes 1 so the rollout can progress.
    assert_eq!(
        resolve_fenceposts(Some(&pct("10%")), Some(&IntOrString::Int(0)), 0),
        (0, 1)
    );
    assert_eq!(
        resolve_fenceposts(Some(&IntOrString::Int(0)), Some(&pct("30%")), 3),
        (0, 1)
    );
}

#[test]
fn first_sync_creates_revision_1_replica_set_named_by_the_template_hash() {
    let d = deployment(3);
    let view = view_of([d.clone().into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    let hash = pod_template_hash(&d.spec.template, None);
    let name = format!("web-{hash}");
    let mut rs = ReplicaSet::default();
    rs.metadata.name = Some(name.clone());
    rs.metadata.namespace = Some("default".into());
    rs.metadata.labels = labels(&[("app", "web"), (POD_TEMPLATE_HASH, &hash)]);
    rs.metadata.owner_references = vec![controller_ref(&d)];
    rs.metadata.annotations = labels(&[
        (REVISION, "1"),
        (DESIRED_REPLICAS, "3"),
        (MAX_REPLICAS, "4"),
    ]);
    rs.spec.replicas = Some(3);
    rs.spec.selector = Some(LabelSelector::from_labels(labels(&[
        ("app", "web"),
        (POD_TEMPLATE_HASH, &hash),
    ])));
    rs.spec.template = template(&[("app", "web"), (POD_TEMPLATE_HASH, &hash)]);
    let mut revised = d.clone();
    revised.metadata.annotations = labels(&[(REVISION, "1")]);
    let mut status = d.clone();
    status.metadata.resource_version = None;
    status.status.observed_generation = Some(1);
    status.status.unavailable_replicas = Some(3);
    status.status.conditions = vec![
        cond(
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            &format!("Created new replica set {name:?}"),
            at_now(),
        ),
        available_false(),
    ];
    assert_eq!(
        out,
        Output {
            actions: vec![
                Action::Create(rs.into()),
                Action::Update(revised.into()),
                Action::UpdateStatus(status.into()),
                scaling_event(&d, &format!("Scaled up replica set {name} from 0 to 3"), 0),
            ],
            // Look again just after the 600 s progress deadline would pass.
            requeue_after: Some(Duration::from_secs(601)),
        }
    );
}

/// A Deployment of 4 at revision 1 (fully available), with its template just changed.
fn mid_rollout() -> (Deployment, ReplicaSet) {
    let mut d = deployment(4);
    let old = owned_rs(&d, &d.spec.template, 1, 4, 4, 600);
    d.metadata.annotations = labels(&[(REVISION, "1")]);
    d.metadata.generation = Some(2);
    d.spec.template = image(&d.spec.template, "nginx:2");
    d.status.observed_generation = Some(1);
    d.status.replicas = Some(4);
    d.status.updated_replicas = Some(4);
    d.status.ready_replicas = Some(4);
    d.status.available_replicas = Some(4);
    d.status.conditions = vec![
        cond(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            ago(500),
        ),
        cond(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            "ReplicaSet \"web-old\" has successfully progressed.",
            ago(500),
        ),
    ];
    (d, old)
}

#[test]
fn rolling_update_25_percent_surges_one_new_pod_and_retires_one_old_at_once() {
    let (d, old) = mid_rollout();
    let view = view_of([d.clone().into(), old.clone().into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    let new_name = format!("web-{}", pod_template_hash(&d.spec.template, None));
    let created = match &out.actions[0] {
        Action::Create(Object::ReplicaSet(rs)) => rs.clone(),
        other => panic!(
            "expected the new ReplicaSet first, got {}",
            other.describe()
        ),
    };
    assert_eq!(created.metadata.name.as_deref(), Some(new_name.as_str()));
    // maxSurge ceil(25% of 4) = 1: one new pod; maxUnavailable floor(25% of 4) = 1: one old
    // pod may go while the new one is not yet available.
    assert_eq!(created.spec.replicas, Some(1));
    assert_eq!(created.metadata.annotations[REVISION], "2");
    let mut scaled_old = old.clone();
    scaled_old.spec.replicas = Some(3);
    let mut revised = d.clone();
    revised.metadata.annotations = labels(&[(REVISION, "2")]);
    let mut status = d.clone();
    status.metadata.resource_version = None;
    status.status.observed_generation = Some(2);
    status.status.updated_replicas = None;
    status.status.conditions = vec![
        d.status.conditions[0].clone(),
        DeploymentCondition {
            // True before and after: the transition time stays.
            last_transition_time: Some(ago(500)),
            ..cond(
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                &format!("Created new replica set {new_name:?}"),
                at_now(),
            )
        },
    ];
    assert_eq!(
        out.actions[1..],
        [
            Action::Update(scaled_old.into()),
            Action::Update(revised.into()),
            Action::UpdateStatus(status.into()),
            scaling_event(
                &d,
                &format!("Scaled up replica set {new_name} from 0 to 1"),
                0
            ),
            scaling_event(
                &d,
                &format!(
                    "Scaled down replica set {} from 4 to 3",
                    old.metadata.name.as_deref().unwrap()
                ),
                1
            ),
        ]
    );
}

#[test]
fn rolling_update_waits_while_the_new_pods_are_unavailable() {
    let (mut d, old) = mid_rollout();
    let mut old = old;
    old.spec.replicas = Some(3);
    old.status.replicas = 3;
    old.status.available_replicas = Some(3);
    old.status.ready_replicas = Some(3);
    let mut new = owned_rs(&d, &d.spec.template, 2, 2, 0, 10);
    new.status.ready_replicas = None;
    d.metadata.annotations = labels(&[(REVISION, "2")]);
    d.status.observed_generation = Some(2);
    let view = view_of([d.clone().into(), old.into(), new.into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    // 5 pods exist (4 + the surge of 1) and 3 are available (4 − 1): nothing may move.
    assert_eq!(
        crate::replicaset::testsupport::described(&out),
        ["update-status deployment/default/web"]
    );
}

#[test]
fn recreate_scales_old_to_zero_waits_for_old_pods_then_creates_the_new_set_at_full_size() {
    let (mut d, old) = mid_rollout();
    d.spec.strategy.type_ = Some("Recreate".into());
    // Step 1: old scaled to 0 (annotations: Recreate has no surge).
    let view = view_of([d.clone().into(), old.clone().into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    let mut zero = old.clone();
    zero.spec.replicas = Some(0);
    zero.metadata
        .annotations
        .insert(MAX_REPLICAS.into(), "4".into());
    assert_eq!(out.actions[0], Action::Update(zero.clone().into()));
    assert_eq!(out.actions.len(), 3);
    assert_eq!(
        out.actions[2],
        scaling_event(
            &d,
            &format!(
                "Scaled down replica set {} from 4 to 0",
                old.metadata.name.as_deref().unwrap()
            ),
            0
        )
    );

    // Step 2: scaled to 0 but a pod still terminating: only status.
    let mut draining = zero.clone();
    draining.status.replicas = 1;
    let view = view_of([d.clone().into(), draining.into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    assert_eq!(
        crate::replicaset::testsupport::described(&out),
        ["update-status deployment/default/web"]
    );

    // Step 3: no old pod left: the new ReplicaSet at full size.
    let mut gone = zero;
    gone.status = skiff_core::object::ReplicaSetStatus {
        observed_generation: Some(1),
        ..Default::default()
    };
    let view = view_of([d.clone().into(), gone.into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    match &out.actions[0] {
        Action::Create(Object::ReplicaSet(rs)) => {
            assert_eq!(rs.spec.replicas, Some(4));
            assert_eq!(rs.metadata.annotations[MAX_REPLICAS], "4");
            assert_eq!(rs.metadata.annotations[REVISION], "2");
        }
        other => panic!("expected a create, got {}", other.describe()),
    }
    assert_eq!(
        crate::replicaset::testsupport::described(&out)[1..3],
        [
            "update deployment/default/web",
            "update-status deployment/default/web"
        ]
    );
    let new_name = format!("web-{}", pod_template_hash(&d.spec.template, None));
    assert_eq!(
        out.actions[3..],
        [scaling_event(
            &d,
            &format!("Scaled up replica set {new_name} from 0 to 4"),
            0
        )]
    );
}

#[test]
fn a_paused_deployment_creates_nothing_and_only_reports_paused() {
    let (mut d, old) = mid_rollout();
    d.spec.paused = Some(true);
    let view = view_of([d.clone().into(), old.into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    let mut status = d.clone();
    status.status.observed_generation = Some(2);
    status.status.updated_replicas = None;
    status.status.conditions = vec![
        d.status.conditions[0].clone(),
        cond(
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused",
            at_now(),
        ),
    ];
    assert_eq!(
        out,
        Output {
            actions: vec![Action::UpdateStatus(status.into())],
            requeue_after: Some(Duration::from_secs(601)),
        }
    );
}

#[test]
fn resuming_marks_progressing_resumed_and_starts_the_rollout() {
    let (mut d, old) = mid_rollout();
    d.status.conditions[1] = cond(
        "Progressing",
        "Unknown",
        "DeploymentPaused",
        "Deployment is paused",
        ago(100),
    );
    let view = view_of([d.clone().into(), old.into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    let Some(Action::UpdateStatus(Object::Deployment(status))) = out
        .actions
        .iter()
        .find(|a| matches!(a, Action::UpdateStatus(_)))
    else {
        panic!("no status");
    };
    // Resumed (Unknown, kept transition time), then replaced by the new ReplicaSet's creation.
    assert_eq!(
        status.status.conditions[1].reason.as_deref(),
        Some("NewReplicaSetCreated")
    );
    assert_eq!(status.status.conditions[1].status, "True");
    assert!(matches!(
        out.actions[0],
        Action::Create(Object::ReplicaSet(_))
    ));
}

#[test]
fn no_progress_within_the_deadline_marks_progress_deadline_exceeded() {
    let mut d = deployment(2);
    d.spec.progress_deadline_seconds = Some(600);
    let new = owned_rs(&d, &d.spec.template, 1, 2, 0, 900);
    d.metadata.annotations = labels(&[(REVISION, "1")]);
    d.status.observed_generation = Some(1);
    d.status.replicas = Some(2);
    d.status.updated_replicas = Some(2);
    d.status.unavailable_replicas = Some(2);
    let name = new.metadata.name.clone().unwrap();
    d.status.conditions = vec![
        cond(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            ago(700),
        ),
        cond(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            &format!("ReplicaSet {name:?} is progressing."),
            ago(601),
        ),
    ];
    let view = view_of([d.clone().into(), new.into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    let mut status = d.clone();
    status.status.conditions[1] = cond(
        "Progressing",
        "False",
        "ProgressDeadlineExceeded",
        &format!("ReplicaSet {name:?} has timed out progressing."),
        at_now(),
    );
    assert_eq!(
        out,
        Output {
            actions: vec![Action::UpdateStatus(status.clone().into())],
            requeue_after: None,
        }
    );
    assert_eq!(
        rollout_status(&status),
        Err("deployment \"web\" exceeded its progress deadline".to_owned())
    );
    // 599 s without progress is still within the deadline: requeue for the rest (+1 s).
    d.status.conditions[1].last_update_time = Some(ago(599));
    let view = view_of([
        d.clone().into(),
        owned_rs(&d, &d.spec.template, 1, 2, 0, 900).into(),
    ]);
    assert_eq!(
        reconcile_deployment(&view, &key("web"), now()),
        Output {
            actions: Vec::new(),
            requeue_after: Some(Duration::from_secs(2)),
        }
    );
}

#[test]
fn a_scaling_event_scales_active_replica_sets_proportionally() {
    let (mut d, mut old) = mid_rollout();
    d.spec.replicas = Some(10);
    let mut new = owned_rs(&d, &d.spec.template, 2, 4, 4, 10);
    for rs in [&mut old, &mut new] {
        rs.metadata
            .annotations
            .insert(DESIRED_REPLICAS.into(), "10".into());
        rs.metadata
            .annotations
            .insert(MAX_REPLICAS.into(), "13".into());
    }
    old.spec.replicas = Some(6);
    d.spec.replicas = Some(20);
    d.metadata.annotations = labels(&[(REVISION, "2")]);
    let view = view_of([d.clone().into(), old.clone().into(), new.clone().into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    // 20 + 25% surge (5) = 25 allowed, 10 now: +15 shared by size. old: round(6·25/13) = 12
    // (+6), new: round(4·25/13) = 8 (+4); the leftover 5 goes to the largest (old).
    let scaled = |rs: &ReplicaSet, n| {
        let mut rs = rs.clone();
        rs.spec.replicas = Some(n);
        rs.metadata
            .annotations
            .insert(DESIRED_REPLICAS.into(), "20".into());
        rs.metadata
            .annotations
            .insert(MAX_REPLICAS.into(), "25".into());
        Action::Update(rs.into())
    };
    assert_eq!(out.actions[..2], [scaled(&old, 17), scaled(&new, 8)]);
    assert_eq!(
        out.actions[3..],
        [
            scaling_event(
                &d,
                &format!(
                    "Scaled up replica set {} from 6 to 17",
                    old.metadata.name.as_deref().unwrap()
                ),
                0
            ),
            scaling_event(
                &d,
                &format!(
                    "Scaled up replica set {} from 4 to 8",
                    new.metadata.name.as_deref().unwrap()
                ),
                1
            ),
        ]
    );
    assert_eq!(
        crate::replicaset::testsupport::described(&out)[2],
        "update-status deployment/default/web"
    );
}

#[test]
fn history_beyond_the_limit_is_deleted_oldest_revision_first_once_complete() {
    let mut d = deployment(2);
    d.spec.revision_history_limit = Some(1);
    let old_template = |n: usize| image(&d.spec.template, &format!("nginx:{n}"));
    let r1 = owned_rs(&d, &old_template(1), 1, 0, 0, 900);
    let r2 = owned_rs(&d, &old_template(2), 2, 0, 0, 800);
    let r3 = owned_rs(&d, &old_template(3), 3, 0, 0, 700);
    let current = owned_rs(&d, &d.spec.template, 4, 2, 2, 600);
    d.metadata.annotations = labels(&[(REVISION, "4")]);
    d.status.observed_generation = Some(1);
    d.status.replicas = Some(2);
    d.status.updated_replicas = Some(2);
    d.status.ready_replicas = Some(2);
    d.status.available_replicas = Some(2);
    d.status.conditions = vec![
        cond(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            ago(500),
        ),
        cond(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            "done",
            ago(500),
        ),
    ];
    let view = view_of([
        d.into(),
        r3.clone().into(),
        r1.clone().into(),
        r2.clone().into(),
        current.into(),
    ]);
    let out = reconcile_deployment(&view, &key("web"), now());
    let delete = |rs: &ReplicaSet| Action::Delete {
        resource: &ReplicaSet::INFO,
        namespace: "default".into(),
        name: rs.metadata.name.clone().unwrap(),
        options: DeleteOptions {
            uid: rs.metadata.uid.clone(),
            ..DeleteOptions::default()
        },
    };
    assert_eq!(
        out,
        Output {
            actions: vec![delete(&r1), delete(&r2)],
            requeue_after: None
        }
    );
}

#[test]
fn a_name_taken_by_a_foreign_replica_set_bumps_the_collision_count() {
    let d = deployment(1);
    let hash = pod_template_hash(&d.spec.template, None);
    let mut squatter = ReplicaSet {
        metadata: stored_meta(&format!("web-{hash}"), 5),
        ..ReplicaSet::default()
    };
    squatter.metadata.labels = labels(&[("app", "other")]);
    let view = view_of([d.clone().into(), squatter.into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    let mut status = d.clone();
    status.status.collision_count = Some(1);
    assert_eq!(out.actions, vec![Action::UpdateStatus(status.into())]);
}

#[test]
fn an_empty_selector_only_observes_the_generation() {
    let mut d = deployment(1);
    d.spec.selector = Some(LabelSelector::default());
    let view = view_of([d.clone().into()]);
    let mut status = d.clone();
    status.status.observed_generation = Some(1);
    assert_eq!(
        reconcile_deployment(&view, &key("web"), now()).actions,
        vec![Action::UpdateStatus(status.into())]
    );
}

#[test]
fn orphan_replica_sets_matching_the_selector_are_adopted() {
    let (d, mut old) = mid_rollout();
    old.metadata.owner_references.clear();
    let view = view_of([d.clone().into(), old.clone().into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    // Adopted and scaled down in one Update.
    let Action::Update(Object::ReplicaSet(updated)) = &out.actions[1] else {
        panic!("{:?}", crate::replicaset::testsupport::described(&out));
    };
    assert_eq!(updated.metadata.owner_references, vec![controller_ref(&d)]);
    assert_eq!(updated.spec.replicas, Some(3));
    let keys = DeploymentController.keys_for(&view, &old.into());
    assert_eq!(keys, [key("web")]);
}

#[test]
fn rollout_status_uses_kubectl_wording() {
    let mut d = deployment(3);
    d.metadata.generation = Some(2);
    d.status.observed_generation = Some(1);
    assert_eq!(
        rollout_status(&d),
        Ok((
            "Waiting for deployment spec update to be observed...\n".into(),
            false
        ))
    );
    d.status.observed_generation = Some(2);
    d.status.updated_replicas = Some(1);
    d.status.replicas = Some(4);
    assert_eq!(
        rollout_status(&d).unwrap().0,
        "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...\n"
    );
    d.status.updated_replicas = Some(3);
    assert_eq!(
        rollout_status(&d).unwrap().0,
        "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...\n"
    );
    d.status.replicas = Some(3);
    d.status.available_replicas = Some(2);
    assert_eq!(
        rollout_status(&d).unwrap().0,
        "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...\n"
    );
    d.status.available_replicas = Some(3);
    assert_eq!(
        rollout_status(&d),
        Ok(("deployment \"web\" successfully rolled out\n".into(), true))
    );
}

#[test]
fn rollout_history_lists_revisions_with_change_causes() {
    let d = deployment(1);
    let mut r1 = owned_rs(&d, &image(&d.spec.template, "nginx:1"), 1, 0, 0, 100);
    r1.metadata.annotations.insert(
        "kubernetes.io/change-cause".into(),
        "kubectl set image deployment/web web=nginx:1".into(),
    );
    let r12 = owned_rs(&d, &d.spec.template, 12, 1, 1, 50);
    assert_eq!(
        rollout_history(&[&r12, &r1]),
        "REVISION  CHANGE-CAUSE\n1         kubectl set image deployment/web web=nginx:1\n12        <none>\n"
    );
    assert_eq!(rollout_history(&[]), "No rollout history found.");
    assert_eq!(history_revision(&[&r12, &r1], 12), Ok(&r12.spec.template));
    assert_eq!(
        history_revision(&[&r12, &r1], 3),
        Err("unable to find the specified revision".to_owned())
    );
}

#[test]
fn rollback_restores_the_revision_template_without_its_hash() {
    let mut d = deployment(2);
    let v1 = image(&d.spec.template, "nginx:1");
    let mut r1 = owned_rs(&d, &v1, 1, 0, 0, 100);
    r1.metadata.annotations.insert("team".into(), "blue".into());
    let r2 = owned_rs(&d, &d.spec.template, 2, 2, 2, 50);
    d.metadata.annotations = labels(&[(REVISION, "2"), ("team", "red")]);
    let mut expected = d.clone();
    expected.spec.template = v1;
    expected.metadata.annotations = labels(&[(REVISION, "2"), ("team", "blue")]);
    let rolled = Rollback::RolledBack {
        action: Box::new(Action::Update(expected.into())),
        message: "deployment.apps/web rolled back".into(),
    };
    assert_eq!(rollback_to(&d, 1, &[&r1, &r2]), Ok(rolled.clone()));
    // 0 means the previous revision.
    assert_eq!(rollback_to(&d, 0, &[&r2, &r1]), Ok(rolled));
    assert_eq!(
        rollback_to(&d, 2, &[&r1, &r2]),
        Ok(Rollback::Skipped(
            "deployment.apps/web skipped rollback (current template already matches revision 2)"
                .into()
        ))
    );
    assert_eq!(
        rollback_to(&d, 7, &[&r1, &r2]),
        Err("unable to find specified revision 7 in history".into())
    );
    assert_eq!(
        rollback_to(&d, 0, &[&r2]),
        Err("no rollout history found for deployment \"web\"".into())
    );
    d.spec.paused = Some(true);
    assert_eq!(
        rollback_to(&d, 1, &[&r1, &r2]),
        Err("you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume deployment/web' and try again".into())
    );
}

#[test]
fn pause_and_resume_write_spec_paused_with_kubectl_messages() {
    let d = deployment(1);
    let (action, message) = set_paused(&d, true).unwrap();
    let mut paused = d.clone();
    paused.spec.paused = Some(true);
    assert_eq!(action, Action::Update(paused.clone().into()));
    assert_eq!(message, "deployment.apps/web paused");
    assert_eq!(
        set_paused(&paused, true),
        Err("deployments.apps \"web\" is already paused".into())
    );
    assert_eq!(
        set_paused(&paused, false),
        Ok((
            Action::Update(d.clone().into()),
            "deployment.apps/web resumed".into()
        ))
    );
    assert_eq!(
        set_paused(&d, false),
        Err("deployments.apps \"web\" is not paused".into())
    );
}

// ---------------------------------------------------------------------------------------------
// Rollouts to the end, with the ReplicaSet controller and instantly ready pods.
// ---------------------------------------------------------------------------------------------

/// One round: the Deployment controller, then every ReplicaSet; the time moves a second.
/// Returns whether anything was written.
fn round(sim: &mut Sim) -> bool {
    let out = reconcile_deployment(&sim.view, &key("web"), sim.now);
    let mut wrote = !out.actions.is_empty();
    sim.apply(&out.actions);
    let names: Vec<String> = sim
        .view
        .list_in::<ReplicaSet>("default")
        .map(|rs| rs.metadata.name.clone().unwrap())
        .collect();
    for name in names {
        let out = reconcile_replica_set(&sim.view, &key(&name), sim.now);
        wrote |= !out.actions.is_empty();
        sim.apply(&out.actions);
    }
    sim.now += Duration::from_secs(1);
    wrote
}

fn rs_sum(view: &View) -> i32 {
    view.list_in::<ReplicaSet>("default")
        .map(|rs| rs.spec.replicas.unwrap_or(1))
        .sum()
}

fn available_pods(view: &View) -> i32 {
    view.list_in::<ReplicaSet>("default")
        .map(|rs| rs.status.available_replicas.unwrap_or(0))
        .sum()
}

fn settled_view(d: &Deployment) -> (Sim, Deployment) {
    let mut sim = Sim::new(view_of([d.clone().into()]));
    sim.pods_become_ready = true;
    let mut rounds = 0;
    while round(&mut sim) {
        rounds += 1;
        assert!(rounds < 200, "initial rollout did not settle");
    }
    let stored = sim
        .view
        .get::<Deployment>("default", "web")
        .unwrap()
        .clone();
    (sim, stored)
}

#[test]
fn a_rollout_runs_to_completion_against_the_replica_set_controller() {
    let (mut sim, mut d) = settled_view(&deployment(4));
    assert!(rollout_status(&d).unwrap().1);
    d.spec.template = image(&d.spec.template, "nginx:2");
    d.metadata.generation = Some(2);
    sim.view.insert(d.into());
    let mut rounds = 0;
    while round(&mut sim) {
        rounds += 1;
        assert!(rounds < 100);
        assert!(rs_sum(&sim.view) <= 5, "maxSurge exceeded");
    }
    let d = sim.view.get::<Deployment>("default", "web").unwrap();
    assert_eq!(
        rollout_status(d),
        Ok(("deployment \"web\" successfully rolled out\n".into(), true))
    );
    assert_eq!(d.metadata.annotations[REVISION], "2");
    let history = rollout_history(&super::replica_sets_of(&sim.view, d));
    assert_eq!(
        history,
        "REVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n"
    );
}

fn budget() -> impl Strategy<Value = Option<IntOrString>> {
    prop_oneof![
        Just(None),
        (0i32..4).prop_map(|n| Some(IntOrString::Int(n))),
        (0i32..=100).prop_map(|p| Some(IntOrString::String(format!("{p}%")))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn rollouts_converge_within_the_surge_and_unavailability_budgets(
        replicas in 0i32..12,
        surge in budget(),
        unavailable in budget(),
        recreate in prop::bool::weighted(0.25),
    ) {
        let mut d = deployment(replicas);
        if recreate {
            d.spec.strategy.type_ = Some("Recreate".into());
        } else {
            d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
                max_surge: surge.clone(),
                max_unavailable: unavailable.clone(),
            });
        }
        let (mut sim, mut stored) = settled_view(&d);
        let (max_surge, max_unavailable) = if recreate {
            (0, replicas)
        } else {
            let (s, u) = resolve_fenceposts(surge.as_ref(), unavailable.as_ref(), replicas);
            (s, u.min(replicas))
        };
        stored.spec.template = image(&stored.spec.template, "nginx:2");
        stored.metadata.generation = Some(2);
        sim.view.insert(stored.into());
        let mut rounds = 0;
        while round(&mut sim) {
            rounds += 1;
            prop_assert!(rounds < 4 * replicas + 20, "no convergence after {} rounds", rounds);
            prop_assert!(rs_sum(&sim.view) <= replicas + max_surge);
            prop_assert!(available_pods(&sim.view) >= replicas - max_unavailable);
        }
        let d = sim.view.get::<Deployment>("default", "web").unwrap();
        prop_assert_eq!(rollout_status(d).map(|s| s.1), Ok(true));
        prop_assert_eq!(d.status.updated_replicas.unwrap_or(0), replicas);
    }

    #[test]
    fn the_same_view_gives_the_same_output(replicas in 0i32..12, old_available in 0i32..12) {
        let (mut d, mut old) = mid_rollout();
        d.spec.replicas = Some(replicas);
        old.status.available_replicas = Some(old_available.min(4));
        let objects: Vec<Object> = vec![d.into(), old.into()];
        let a = reconcile_deployment(&view_of(objects.clone()), &key("web"), now());
        let b = reconcile_deployment(&view_of(objects.into_iter().rev()), &key("web"), now());
        prop_assert_eq!(a, b);
    }
}

#[test]
fn rolling_update_25_percent_alternates_surge_and_retire_steps() {
    // 4 replicas, maxSurge 1 (25% rounded up), maxUnavailable 1 (25% rounded down), pods
    // ready as soon as they exist. After each Deployment sync: (new, old) spec sizes.
    let (mut sim, mut d) = settled_view(&deployment(4));
    d.spec.template = image(&d.spec.template, "nginx:2");
    d.metadata.generation = Some(2);
    sim.view.insert(d.into());
    let mut steps: Vec<(i32, i32)> = Vec::new();
    for _ in 0..30 {
        let out = reconcile_deployment(&sim.view, &key("web"), sim.now);
        sim.apply(&out.actions);
        let size = |revision: &str| {
            sim.view
                .list_in::<ReplicaSet>("default")
                .find(|rs| rs.metadata.annotations[REVISION] == revision)
                .map_or(0, |rs| rs.spec.replicas.unwrap_or(1))
        };
        let step = (size("2"), size("1"));
        if steps.last() != Some(&step) {
            steps.push(step);
        }
        let names: Vec<String> = sim
            .view
            .list_in::<ReplicaSet>("default")
            .map(|rs| rs.metadata.name.clone().unwrap())
            .collect();
        for name in names {
            let out = reconcile_replica_set(&sim.view, &key(&name), sim.now);
            sim.apply(&out.actions);
        }
        sim.now += Duration::from_secs(1);
    }
    // Never more than 5 pods wanted, never fewer than 3 available.
    assert_eq!(
        steps,
        [(1, 3), (2, 3), (2, 2), (3, 2), (3, 1), (4, 1), (4, 0)]
    );
}

#[test]
fn min_ready_seconds_is_carried_to_the_new_replica_set() {
    let mut d = deployment(2);
    let rs = owned_rs(&d, &d.spec.template, 1, 2, 2, 100);
    d.metadata.annotations = labels(&[(REVISION, "1")]);
    d.spec.min_ready_seconds = Some(15);
    let view = view_of([d.clone().into(), rs.clone().into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    let mut expected = rs;
    expected.spec.min_ready_seconds = Some(15);
    assert_eq!(out.actions[0], Action::Update(expected.into()));
}

#[test]
fn a_deployment_being_deleted_only_writes_status() {
    let (mut d, old) = mid_rollout();
    d.metadata.deletion_timestamp = Some(ago(1));
    let view = view_of([d.clone().into(), old.into()]);
    let out = reconcile_deployment(&view, &key("web"), now());
    assert_eq!(
        crate::replicaset::testsupport::described(&out),
        ["update-status deployment/default/web"]
    );
}

#[test]
fn extreme_replica_counts_do_not_overflow() {
    for replicas in [i32::MAX, i32::MIN, -1] {
        let (mut d, mut old) = mid_rollout();
        d.spec.replicas = Some(replicas);
        old.spec.replicas = Some(i32::MAX);
        old.status.replicas = i32::MAX;
        old.status.available_replicas = Some(i32::MAX);
        old.metadata
            .annotations
            .insert(MAX_REPLICAS.into(), "-7".into());
        let (base, _) = mid_rollout();
        let mut other = owned_rs(
            &base,
            &image(&d.spec.template, "x"),
            i64::MAX,
            i32::MAX,
            3,
            5,
        );
        other.status.replicas = i32::MIN;
        d.status.replicas = Some(i32::MIN);
        let view = view_of([d.clone().into(), old.into(), other.into()]);
        let _ = reconcile_deployment(&view, &key("web"), now());
        d.spec.paused = Some(true);
        let _ = reconcile_deployment(&view_of([d.into()]), &key("web"), now());
    }
}
