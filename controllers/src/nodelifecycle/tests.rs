//! Node lifecycle tests: each builds a view, runs passes at chosen times and asserts the exact
//! actions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use skiff_core::object::{Container, Lease, MicroTime, Node, NodeCondition, Object, Pod, Taint};

use super::*;

/// 2023-11-14T22:13:20Z: every test's time zero.
const BASE: u64 = 1_700_000_000;

fn at(seconds: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(BASE) + Duration::from_secs_f64(seconds)
}

fn at_micros(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(BASE) + Duration::from_micros(micros)
}

fn secs(seconds: i64) -> Time {
    Time::from_unix_seconds(i64::try_from(BASE).unwrap() + seconds)
}

fn condition(type_: &str, status: &str, heartbeat: i64) -> NodeCondition {
    NodeCondition {
        type_: type_.into(),
        status: status.into(),
        last_heartbeat_time: Some(secs(heartbeat)),
        last_transition_time: Some(secs(-1000)),
        reason: Some("KubeletReady".into()),
        message: Some("kubelet is posting ready status".into()),
    }
}

/// A node created long ago, Ready with the given status and heartbeat (or never posted).
fn node(name: &str, zone: &str, ready: Option<(&str, i64)>) -> Node {
    let mut n = Node::default();
    n.metadata.name = Some(name.into());
    n.metadata.uid = Some(format!("uid-{name}"));
    n.metadata.resource_version = Some("10".into());
    n.metadata.creation_timestamp = Some(secs(-2000));
    if !zone.is_empty() {
        n.metadata.labels.insert(LABEL_ZONE.into(), zone.into());
    }
    if let Some((status, heartbeat)) = ready {
        n.status.conditions = vec![
            condition("MemoryPressure", "False", heartbeat),
            condition("DiskPressure", "False", heartbeat),
            condition("PIDPressure", "False", heartbeat),
            condition("Ready", status, heartbeat),
        ];
    }
    n
}

fn lease(name: &str, renew_micros: i64) -> Lease {
    let mut l = Lease::default();
    l.metadata.name = Some(name.into());
    l.metadata.namespace = Some(NODE_LEASE_NAMESPACE.into());
    l.spec.renew_time = Some(MicroTime::from_unix_micros(renew_micros));
    l
}

fn taint(key: &str, effect: &str, added: Option<i64>) -> Taint {
    Taint {
        key: key.into(),
        value: None,
        effect: effect.into(),
        time_added: added.map(secs),
    }
}

fn toleration(key: &str, seconds: Option<i64>) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        value: None,
        effect: Some("NoExecute".into()),
        toleration_seconds: seconds,
    }
}

fn pod(name: &str, node: &str, tolerations: Vec<Toleration>) -> Pod {
    let mut p = Pod::new(name, vec![Container::new("c", "nginx")]);
    p.metadata.namespace = Some("default".into());
    p.metadata.uid = Some(format!("uid-{name}"));
    p.metadata.resource_version = Some("20".into());
    p.spec.node_name = Some(node.into());
    p.spec.tolerations = tolerations;
    p.status.phase = Some("Running".into());
    p.status.conditions = vec![PodCondition {
        r#type: "Ready".into(),
        status: "True".into(),
        ..PodCondition::default()
    }];
    p
}

/// The default 300 s tolerations DefaultTolerationSeconds admission adds.
fn default_tolerations() -> Vec<Toleration> {
    vec![
        toleration(TAINT_NOT_READY, Some(300)),
        toleration(TAINT_UNREACHABLE, Some(300)),
    ]
}

fn view_of(objects: impl IntoIterator<Item = Object>) -> View {
    let mut view = View::new();
    for o in objects {
        view.insert(o);
    }
    view
}

/// Applies node and pod writes to the view as the API server would (events ignored).
fn apply(view: &mut View, actions: &[Action]) {
    for action in actions {
        match action {
            Action::Update(o) | Action::UpdateStatus(o) => {
                let mut o = o.clone();
                let rv: u64 = o
                    .metadata()
                    .resource_version
                    .as_deref()
                    .unwrap_or("0")
                    .parse()
                    .unwrap();
                o.metadata_mut().resource_version = Some((rv + 1).to_string());
                view.insert(o);
            }
            Action::Delete {
                namespace, name, ..
            } => {
                if let Some(p) = view.get::<Pod>(namespace, name).cloned() {
                    view.remove(&p.into());
                }
            }
            Action::Create(_) | Action::Bind { .. } => {}
        }
    }
}

fn unknown_node(mut n: Node, now: SystemTime) -> Node {
    for c in &mut n.status.conditions {
        c.status = "Unknown".into();
        c.reason = Some("NodeStatusUnknown".into());
        c.message = Some("Kubelet stopped posting node status.".into());
        c.last_transition_time = Some(time_of(now));
    }
    n
}

fn not_ready_event(n: &Node, now: SystemTime) -> Action {
    event(
        &Object::Node(n.clone()),
        EventType::Normal,
        "NodeNotReady",
        format!(
            "Node {} status is now: NodeNotReady",
            n.metadata.name_or_empty()
        ),
        COMPONENT,
        now,
    )
}

fn eviction(p: &Pod, now: SystemTime) -> Vec<Action> {
    let mut updated = p.clone();
    updated.status.conditions.push(PodCondition {
        r#type: "DisruptionTarget".into(),
        status: "True".into(),
        reason: Some("DeletionByTaintManager".into()),
        message: Some("Taint manager: deleting due to NoExecute taint".into()),
        last_transition_time: Some(time_of(now)),
        ..PodCondition::default()
    });
    vec![
        Action::UpdateStatus(updated.into()),
        event(
            &Object::Pod(p.clone()),
            EventType::Normal,
            "TaintManagerEviction",
            format!(
                "Marking for deletion Pod default/{}",
                p.metadata.name_or_empty()
            ),
            EVICTION_COMPONENT,
            now,
        ),
        Action::Delete {
            resource: &info::POD,
            namespace: "default".into(),
            name: p.metadata.name_or_empty().into(),
            options: DeleteOptions {
                uid: p.metadata.uid.clone(),
                ..DeleteOptions::default()
            },
        },
    ]
}

fn with_taints(mut n: Node, taints: Vec<Taint>) -> Node {
    n.spec.taints = taints;
    n
}

fn names_of_updated_nodes(out: &Output) -> Vec<String> {
    out.actions
        .iter()
        .filter_map(|a| match a {
            Action::Update(Object::Node(n)) => Some(n.metadata.name_or_empty().to_owned()),
            _ => None,
        })
        .collect()
}

/// Renews the Lease of every node whose kubelet is alive (named `ok…`, `bad…` — alive but
/// reporting NotReady — or `n2`) at `t` s.
fn renew_healthy(view: &mut View, t: f64) {
    let healthy: Vec<String> = view
        .list::<Node>()
        .map(|n| n.metadata.name_or_empty().to_owned())
        .filter(|n| n.contains("ok") || n.contains("bad") || n == "n2")
        .collect();
    #[allow(clippy::cast_possible_truncation, reason = "small test times")]
    let renew = (i64::try_from(BASE).unwrap() * 1_000_000) + (t * 1e6) as i64;
    for name in healthy {
        view.insert(lease(&name, renew).into());
    }
}

fn every_pass_for(
    c: &mut NodeLifecycleController,
    view: &mut View,
    from: f64,
    to: f64,
    step: f64,
) -> Vec<Action> {
    let mut all = Vec::new();
    let mut t = from;
    while t <= to {
        renew_healthy(view, t);
        let out = c.reconcile(view, &monitor_key(), at(t));
        apply(view, &out.actions);
        all.extend(out.actions);
        t += step;
    }
    all
}

// ---------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------

#[test]
fn node_marked_unknown_only_once_the_grace_period_has_passed() {
    let n = node("n1", "", Some(("True", 0)));
    let view = view_of([n.clone().into()]);
    let mut c = NodeLifecycleController::default();
    let first = c.reconcile(&view, &monitor_key(), at(0.0));
    assert_eq!(
        first,
        Output {
            actions: vec![],
            requeue_after: Some(Duration::from_secs(5))
        }
    );
    // Exactly at probe + 40 s: upstream's `now.After(probe + grace)` is still false.
    let at_grace = c.reconcile(&view, &monitor_key(), at(40.0));
    assert_eq!(at_grace.actions, vec![]);
    let after = at_micros(40_000_001);
    let out = c.reconcile(&view, &monitor_key(), after);
    assert_eq!(
        out,
        Output {
            actions: vec![
                Action::UpdateStatus(unknown_node(n.clone(), after).into()),
                not_ready_event(&n, after),
            ],
            requeue_after: Some(Duration::from_millis(100)),
        }
    );
}

#[test]
fn ready_condition_message_and_reason_follow_upstream_wording() {
    let n = node("n1", "", Some(("True", 0)));
    let view = view_of([n.into()]);
    let mut c = NodeLifecycleController::default();
    c.reconcile(&view, &monitor_key(), at(0.0));
    let out = c.reconcile(&view, &monitor_key(), at(41.0));
    let Action::UpdateStatus(Object::Node(written)) = &out.actions[0] else {
        panic!("{:?}", out.actions)
    };
    let ready = written.condition("Ready").unwrap();
    assert_eq!(
        (
            ready.status.as_str(),
            ready.reason.as_deref(),
            ready.message.as_deref(),
            ready.last_heartbeat_time
        ),
        (
            "Unknown",
            Some("NodeStatusUnknown"),
            Some("Kubelet stopped posting node status."),
            Some(secs(0))
        )
    );
}

#[test]
fn configured_grace_period_of_50s_is_honoured() {
    let n = node("n1", "", Some(("True", 0)));
    let view = view_of([n.into()]);
    let mut c = NodeLifecycleController::new(Config {
        grace_period: Duration::from_secs(50),
        ..Config::default()
    });
    c.reconcile(&view, &monitor_key(), at(0.0));
    assert_eq!(c.reconcile(&view, &monitor_key(), at(45.0)).actions, vec![]);
    assert_eq!(c.reconcile(&view, &monitor_key(), at(50.0)).actions, vec![]);
    assert_eq!(
        c.reconcile(&view, &monitor_key(), at(50.5)).actions.len(),
        2
    );
}

#[test]
fn new_heartbeat_on_the_ready_condition_restarts_the_grace_period() {
    let mut view = view_of([node("n1", "", Some(("True", 0))).into()]);
    let mut c = NodeLifecycleController::default();
    c.reconcile(&view, &monitor_key(), at(0.0));
    view.insert(node("n1", "", Some(("True", 30))).into());
    assert_eq!(c.reconcile(&view, &monitor_key(), at(35.0)).actions, vec![]);
    assert_eq!(c.reconcile(&view, &monitor_key(), at(75.0)).actions, vec![]);
    assert_eq!(
        c.reconcile(&view, &monitor_key(), at(75.5)).actions.len(),
        2
    );
}

#[test]
fn kubelet_with_clock_far_in_the_past_that_keeps_renewing_is_never_marked_unknown() {
    // The kubelet's clock is 30 years behind: renewTime is in 1993, but it advances.
    let skew: i64 = -30 * 365 * 86_400 * 1_000_000;
    let n = node("n1", "", Some(("True", -1_000_000_000)));
    let mut view = view_of([n.into()]);
    let mut c = NodeLifecycleController::default();
    for step in 0..240_i64 {
        let t = step * 5;
        if step % 2 == 0 {
            let renew = (i64::try_from(BASE).unwrap() + t) * 1_000_000 + skew;
            view.insert(lease("n1", renew).into());
        }
        #[allow(clippy::cast_precision_loss, reason = "small test times")]
        let out = c.reconcile(&view, &monitor_key(), at(t as f64));
        assert_eq!(out.actions, vec![], "at {t} s");
    }
}

#[test]
fn kubelet_with_clock_far_in_the_future_or_stepped_back_is_never_marked_unknown() {
    let n = node("n1", "", Some(("True", 0)));
    let mut view = view_of([n.into()]);
    let mut c = NodeLifecycleController::default();
    let future: i64 = 5 * 3600 * 1_000_000;
    for step in 0..240_i64 {
        let t = step * 5;
        if step % 2 == 0 {
            // An hour into the run the kubelet's clock steps back by ten hours.
            let skew = if t < 3600 {
                future
            } else {
                future - 10 * 3600 * 1_000_000
            };
            let renew = (i64::try_from(BASE).unwrap() + t) * 1_000_000 + skew;
            view.insert(lease("n1", renew).into());
        }
        #[allow(clippy::cast_precision_loss, reason = "small test times")]
        let out = c.reconcile(&view, &monitor_key(), at(t as f64));
        assert_eq!(out.actions, vec![], "at {t} s");
    }
}

#[test]
fn lease_that_stops_renewing_makes_the_node_unknown_grace_after_the_last_observed_renewal() {
    let n = node("n1", "", Some(("True", 0)));
    let mut view = view_of([n.clone().into(), lease("n1", 1).into()]);
    let mut c = NodeLifecycleController::default();
    c.reconcile(&view, &monitor_key(), at(0.0));
    view.insert(lease("n1", 2).into());
    // Observed at the pass at 10 s: the grace runs from 10 s.
    c.reconcile(&view, &monitor_key(), at(10.0));
    assert_eq!(c.reconcile(&view, &monitor_key(), at(50.0)).actions, vec![]);
    let out = c.reconcile(&view, &monitor_key(), at(55.0));
    assert_eq!(
        out.actions,
        vec![
            Action::UpdateStatus(unknown_node(n.clone(), at(55.0)).into()),
            not_ready_event(&n, at(55.0)),
        ]
    );
}

/// A pass through the runtime's entry at wall time `wall` and monotonic `mono` seconds.
fn pass_at(c: &mut NodeLifecycleController, view: &View, wall: SystemTime, mono: f64) -> Output {
    c.reconcile_at(
        view,
        &monitor_key(),
        Now {
            wall,
            monotonic: Duration::from_secs_f64(mono),
        },
    )
}

#[test]
fn a_forward_step_of_the_controllers_own_wall_clock_does_not_mark_a_renewing_node() {
    let n = node("n1", "", Some(("True", 0)));
    let mut view = view_of([n.clone().into(), lease("n1", 1).into()]);
    let mut c = NodeLifecycleController::default();
    pass_at(&mut c, &view, at(0.0), 100.0);
    view.insert(lease("n1", 2).into());
    // The renewal is observed at monotonic 110 s; then the controller's wall clock jumps
    // 60 s ahead. 35 s of monotonic time later its wall clock reads 95 s after the renewal.
    pass_at(&mut c, &view, at(10.0), 110.0);
    assert_eq!(pass_at(&mut c, &view, at(105.0), 145.0).actions, vec![]);
    assert_eq!(pass_at(&mut c, &view, at(110.0), 149.9).actions, vec![]);
    // The grace ends 40 s of monotonic time after the observation; the written times are
    // the wall clock's.
    let out = pass_at(&mut c, &view, at(115.0), 150.000_001);
    assert_eq!(
        out.actions,
        vec![
            Action::UpdateStatus(unknown_node(n.clone(), at(115.0)).into()),
            not_ready_event(&n, at(115.0)),
        ]
    );
}

#[test]
fn a_backward_step_of_the_controllers_own_wall_clock_does_not_delay_the_marking() {
    let n = node("n1", "", Some(("True", 0)));
    let mut view = view_of([n.clone().into(), lease("n1", 1).into()]);
    let mut c = NodeLifecycleController::default();
    pass_at(&mut c, &view, at(0.0), 0.0);
    view.insert(lease("n1", 2).into());
    pass_at(&mut c, &view, at(10.0), 10.0);
    // The wall clock steps back 30 s; the lease stops renewing.
    assert_eq!(pass_at(&mut c, &view, at(20.0), 50.0).actions, vec![]);
    let out = pass_at(&mut c, &view, at(25.0), 55.0);
    assert_eq!(
        out.actions,
        vec![
            Action::UpdateStatus(unknown_node(n.clone(), at(25.0)).into()),
            not_ready_event(&n, at(25.0)),
        ]
    );
}

#[test]
fn a_never_posted_node_is_timed_from_its_creation_on_the_monotonic_scale() {
    let mut n = node("n1", "", None);
    n.metadata.creation_timestamp = Some(secs(50));
    let view = view_of([n.into()]);
    let mut c = NodeLifecycleController::default();
    // First seen 50 s after its creation (wall), at monotonic 7 s: the 60 s startup grace
    // ends at monotonic 17 s, whatever the wall clock does next (here: 90 s back).
    assert_eq!(pass_at(&mut c, &view, at(100.0), 7.0).actions, vec![]);
    assert_eq!(pass_at(&mut c, &view, at(10.0), 17.0).actions, vec![]);
    let out = pass_at(&mut c, &view, at(11.0), 18.0);
    let Some(Action::UpdateStatus(Object::Node(marked))) = out.actions.first() else {
        panic!("{out:?}");
    };
    let ready = marked.condition("Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("Unknown", Some("NodeStatusNeverUpdated"))
    );
}

#[test]
fn node_that_never_posted_gets_the_startup_grace_and_never_updated_conditions() {
    let n = node("n1", "", None);
    let view = view_of([n.clone().into()]);
    let mut c = NodeLifecycleController::default();
    // Created at -2000 s: the startup grace (from creation) is long gone.
    let out = c.reconcile(&view, &monitor_key(), at(0.0));
    let mut expected = n.clone();
    for type_ in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
        expected.status.conditions.push(NodeCondition {
            type_: type_.into(),
            status: "Unknown".into(),
            last_heartbeat_time: Some(secs(-2000)),
            last_transition_time: Some(secs(0)),
            reason: Some("NodeStatusNeverUpdated".into()),
            message: Some("Kubelet never posted node status.".into()),
        });
    }
    assert_eq!(
        out.actions,
        vec![Action::UpdateStatus(expected.into())],
        "no NodeNotReady event: Ready was never True"
    );
}

#[test]
fn new_node_without_status_waits_for_the_startup_grace() {
    let mut n = node("n1", "", None);
    n.metadata.creation_timestamp = Some(secs(0));
    let view = view_of([n.into()]);
    let mut c = NodeLifecycleController::default();
    assert_eq!(c.reconcile(&view, &monitor_key(), at(0.0)).actions, vec![]);
    assert_eq!(c.reconcile(&view, &monitor_key(), at(60.0)).actions, vec![]);
    assert_eq!(
        c.reconcile(&view, &monitor_key(), at(60.5)).actions.len(),
        1
    );
}

#[test]
fn pods_on_a_node_that_becomes_unknown_are_marked_not_ready() {
    let n = node("n1", "", Some(("True", 0)));
    let p = pod("web", "n1", default_tolerations());
    let view = view_of([n.clone().into(), p.clone().into()]);
    let mut c = NodeLifecycleController::default();
    c.reconcile(&view, &monitor_key(), at(0.0));
    let now = at(45.0);
    let out = c.reconcile(&view, &monitor_key(), now);
    let mut not_ready = p.clone();
    not_ready.status.conditions[0].status = "False".into();
    not_ready.status.conditions[0].last_transition_time = Some(time_of(now));
    assert_eq!(
        out.actions,
        vec![
            Action::UpdateStatus(unknown_node(n.clone(), now).into()),
            not_ready_event(&n, now),
            Action::UpdateStatus(not_ready.into()),
            event(
                &Object::Pod(p),
                EventType::Warning,
                "NodeNotReady",
                "Node is not ready",
                COMPONENT,
                now
            ),
        ]
    );
}

#[test]
fn deleted_node_is_forgotten() {
    let n = node("n1", "", Some(("True", 0)));
    let mut view = view_of([n.clone().into()]);
    let mut c = NodeLifecycleController::default();
    c.reconcile(&view, &monitor_key(), at(0.0));
    assert!(c.state.nodes.contains_key("n1"));
    view.remove(&n.into());
    c.reconcile(&view, &monitor_key(), at(5.0));
    assert_eq!(c.state.nodes.len(), 0);
    assert_eq!(c.state.zones.len(), 0);
}

// ---------------------------------------------------------------------------------------------
// Taints
// ---------------------------------------------------------------------------------------------

#[test]
fn unreachable_taints_added_in_the_pass_after_the_status_write() {
    let n = node("n1", "", Some(("True", 0)));
    let mut view = view_of([n.clone().into(), node("n2", "", Some(("True", 0))).into()]);
    let mut c = NodeLifecycleController::default();
    every_pass_for(&mut c, &mut view, 0.0, 45.0, 45.0);
    renew_healthy(&mut view, 45.1);
    let now = at(45.1);
    let out = c.reconcile(&view, &monitor_key(), now);
    let mut expected = unknown_node(n, at(45.0));
    expected.metadata.resource_version = Some("11".into());
    expected.spec.taints = vec![
        Taint {
            time_added: Some(time_of(now)),
            ..taint(TAINT_UNREACHABLE, "NoSchedule", None)
        },
        Taint {
            time_added: Some(time_of(now)),
            ..taint(TAINT_UNREACHABLE, "NoExecute", None)
        },
    ];
    assert_eq!(
        out,
        Output {
            actions: vec![Action::Update(expected.into())],
            requeue_after: Some(Duration::from_secs(5)),
        }
    );
}

#[test]
fn kubelet_reported_not_ready_gets_not_ready_taints() {
    let n = node("n1", "", Some(("False", 0)));
    // A Ready node besides: with every node not Ready nothing is tainted NoExecute.
    let view = view_of([n.clone().into(), node("n2", "", Some(("True", 0))).into()]);
    let mut c = NodeLifecycleController::default();
    let now = at(1.0);
    let out = c.reconcile(&view, &monitor_key(), now);
    let expected = with_taints(
        n,
        vec![
            Taint {
                time_added: Some(time_of(now)),
                ..taint(TAINT_NOT_READY, "NoSchedule", None)
            },
            Taint {
                time_added: Some(time_of(now)),
                ..taint(TAINT_NOT_READY, "NoExecute", None)
            },
        ],
    );
    assert_eq!(out.actions, vec![Action::Update(expected.into())]);
}

#[test]
fn taints_removed_when_the_node_is_ready_again() {
    let user_taint = taint("dedicated", "NoSchedule", None);
    let n = with_taints(
        node("n1", "", Some(("True", 100))),
        vec![
            user_taint.clone(),
            taint(TAINT_UNREACHABLE, "NoSchedule", Some(0)),
            taint(TAINT_UNREACHABLE, "NoExecute", Some(0)),
        ],
    );
    let view = view_of([n.clone().into()]);
    let mut c = NodeLifecycleController::default();
    let out = c.reconcile(&view, &monitor_key(), at(101.0));
    assert_eq!(
        out.actions,
        vec![Action::Update(with_taints(n, vec![user_taint]).into())]
    );
}

#[test]
fn not_ready_taint_is_swapped_for_unreachable_without_a_token() {
    let n = with_taints(
        all_unknown(node("n1", "", Some(("Unknown", 0)))),
        vec![
            taint(TAINT_NOT_READY, "NoSchedule", Some(0)),
            taint(TAINT_NOT_READY, "NoExecute", Some(0)),
        ],
    );
    let view = view_of([n.clone().into(), node("n2", "", Some(("True", 0))).into()]);
    let mut c = controller_knowing(&view, at(0.0));
    // Drain the zone's token first so that only an unlimited swap can happen.
    c.state.zones.insert(
        String::new(),
        Zone {
            state: ZoneState::Normal,
            bucket: TokenBucket {
                rate_per_1000s: 100,
                nano_tokens: 0,
                last_micros: unix_micros(at(0.0)),
            },
        },
    );
    let now = at(1.0);
    let out = c.reconcile(&view, &monitor_key(), now);
    let expected = with_taints(
        n,
        vec![
            Taint {
                time_added: Some(time_of(now)),
                ..taint(TAINT_UNREACHABLE, "NoSchedule", None)
            },
            Taint {
                time_added: Some(time_of(now)),
                ..taint(TAINT_UNREACHABLE, "NoExecute", None)
            },
        ],
    );
    assert_eq!(out.actions, vec![Action::Update(expected.into())]);
}

#[test]
fn cordoned_node_gets_the_unschedulable_taint() {
    let mut n = node("n1", "", Some(("True", 0)));
    n.spec.unschedulable = Some(true);
    let view = view_of([n.clone().into()]);
    let mut c = NodeLifecycleController::default();
    let now = at(1.0);
    let out = c.reconcile(&view, &monitor_key(), now);
    let expected = with_taints(
        n,
        vec![Taint {
            time_added: Some(time_of(now)),
            ..taint(TAINT_UNSCHEDULABLE, "NoSchedule", None)
        }],
    );
    assert_eq!(out.actions, vec![Action::Update(expected.into())]);
}

/// Passes that changes start less than [`PASS_GAP`] apart share the pass after the gap: the
/// one between only asks to run again when the gap has passed.
#[test]
fn changes_closer_than_the_pass_gap_share_one_pass() {
    let n1 = node("n1", "", Some(("True", 0)));
    let mut view = view_of([n1.into()]);
    let mut c = NodeLifecycleController::default();
    pass_at(&mut c, &view, at(1.0), 100.0);
    let mut n2 = node("n2", "", Some(("True", 0)));
    n2.spec.unschedulable = Some(true);
    view.insert(n2.clone().into());
    let early = pass_at(&mut c, &view, at(1.04), 100.04);
    assert_eq!(early.actions, vec![]);
    assert_eq!(early.requeue_after, Some(Duration::from_millis(60)));
    let out = pass_at(&mut c, &view, at(1.1), 100.1);
    let expected = with_taints(
        n2,
        vec![Taint {
            time_added: Some(time_of(at(1.1))),
            ..taint(TAINT_UNSCHEDULABLE, "NoSchedule", None)
        }],
    );
    assert_eq!(out.actions, vec![Action::Update(expected.into())]);
}

#[test]
fn normal_zone_taints_one_node_every_ten_seconds() {
    // 10 nodes, 2 not ready: the zone is Normal (not more than 2 unhealthy).
    let mut objects: Vec<Object> = Vec::new();
    for i in 0..8 {
        objects.push(node(&format!("ok{i}"), "a", Some(("True", 0))).into());
    }
    objects.push(node("bad1", "a", Some(("False", 0))).into());
    objects.push(node("bad2", "a", Some(("False", 0))).into());
    let mut view = view_of(objects);
    let mut c = NodeLifecycleController::default();
    // The first pass gives both their NoSchedule taint (not limited) and bad1, first in the
    // queue, its NoExecute taint with the bucket's token.
    let out = c.reconcile(&view, &monitor_key(), at(0.0));
    assert_eq!(names_of_updated_nodes(&out), ["bad1", "bad2"]);
    assert_eq!(out.requeue_after, Some(Duration::from_secs(5)));
    apply(&mut view, &out.actions);
    assert_eq!(no_execute_tainted(&view), ["bad1"]);
    every_pass_for(&mut c, &mut view, 5.0, 5.0, 1.0);
    assert_eq!(no_execute_tainted(&view), ["bad1"]);
    renew_healthy(&mut view, 9.9);
    let out = c.reconcile(&view, &monitor_key(), at(9.9));
    assert_eq!(out.actions, vec![]);
    assert_eq!(out.requeue_after, Some(Duration::from_millis(100)));
    every_pass_for(&mut c, &mut view, 10.0, 10.0, 1.0);
    assert_eq!(no_execute_tainted(&view), ["bad1", "bad2"]);
    assert_eq!(c.state.zones["a"].state, ZoneState::Normal);
}

fn zone_with(ready: usize, not_ready: usize, zone: &str) -> Vec<Object> {
    let mut objects: Vec<Object> = Vec::new();
    for i in 0..ready {
        objects.push(node(&format!("{zone}-ok{i:03}"), zone, Some(("True", 0))).into());
    }
    for i in 0..not_ready {
        objects.push(node(&format!("{zone}-bad{i:03}"), zone, Some(("False", 0))).into());
    }
    objects
}

fn no_execute_tainted(view: &View) -> Vec<String> {
    view.list::<Node>()
        .filter(|n| n.spec.taints.iter().any(|t| t.effect == "NoExecute"))
        .map(|n| n.metadata.name_or_empty().to_owned())
        .collect()
}

#[test]
fn partially_disrupted_small_zone_stops_noexecute_tainting() {
    // 5 nodes, 3 not ready (60 % ≥ 55 %): PartialDisruption, and 5 ≤ 50 nodes: rate 0.
    let mut view = view_of(zone_with(2, 3, "a"));
    let mut c = NodeLifecycleController::default();
    let actions = every_pass_for(&mut c, &mut view, 0.0, 600.0, 5.0);
    assert_eq!(c.state.zones["a"].state, ZoneState::PartialDisruption);
    assert_eq!(no_execute_tainted(&view), Vec::<String>::new());
    // NoSchedule taints are not limited: all three got not-ready:NoSchedule in the first pass.
    assert_eq!(actions.len(), 3);
    let tainted: Vec<String> = view
        .list::<Node>()
        .filter(|n| n.spec.taints.iter().any(|t| t.key == TAINT_NOT_READY))
        .map(|n| n.metadata.name_or_empty().to_owned())
        .collect();
    assert_eq!(tainted, ["a-bad000", "a-bad001", "a-bad002"]);
}

#[test]
fn partially_disrupted_large_zone_taints_at_the_secondary_rate() {
    // 60 nodes, 40 not ready: PartialDisruption in a zone larger than 50: 0.01 nodes/s.
    let mut view = view_of(zone_with(20, 40, "a"));
    let mut c = NodeLifecycleController::default();
    every_pass_for(&mut c, &mut view, 0.0, 0.0, 5.0);
    // The first pass tainted the first queued node with the bucket's initial token (upstream
    // SwapLimiter keeps a full bucket full when the rate drops), then one per 100 s.
    assert_eq!(c.state.zones["a"].state, ZoneState::PartialDisruption);
    let first = no_execute_tainted(&view);
    assert_eq!(first, ["a-bad000"]);
    every_pass_for(&mut c, &mut view, 5.0, 99.0, 1.0);
    assert_eq!(no_execute_tainted(&view), ["a-bad000"]);
    every_pass_for(&mut c, &mut view, 100.0, 199.0, 1.0);
    assert_eq!(no_execute_tainted(&view), ["a-bad000", "a-bad001"]);
    every_pass_for(&mut c, &mut view, 200.0, 200.0, 1.0);
    assert_eq!(
        no_execute_tainted(&view),
        ["a-bad000", "a-bad001", "a-bad002"]
    );
}

#[test]
fn one_fully_disrupted_zone_among_healthy_ones_taints_at_the_normal_rate() {
    let mut objects = zone_with(3, 0, "a");
    objects.extend(zone_with(0, 3, "b"));
    let mut view = view_of(objects);
    let mut c = NodeLifecycleController::default();
    every_pass_for(&mut c, &mut view, 0.0, 20.0, 1.0);
    assert_eq!(c.state.zones["b"].state, ZoneState::FullDisruption);
    assert_eq!(
        no_execute_tainted(&view),
        ["b-bad000", "b-bad001", "b-bad002"]
    );
}

#[test]
fn full_disruption_of_every_zone_removes_noexecute_taints_and_stops_evictions() {
    let mut objects = zone_with(0, 2, "a");
    objects.extend(zone_with(0, 1, "b"));
    let mut view = view_of(objects);
    // One node already carries a not-ready NoExecute taint from before, and a pod that does
    // not tolerate it.
    let tainted = with_taints(
        node("a-bad000", "a", Some(("False", 0))),
        vec![
            taint(TAINT_NOT_READY, "NoSchedule", Some(-100)),
            taint(TAINT_NOT_READY, "NoExecute", Some(-100)),
        ],
    );
    view.insert(tainted.clone().into());
    view.insert(pod("web", "a-bad000", vec![]).into());
    let mut c = NodeLifecycleController::default();
    let out = c.reconcile(&view, &monitor_key(), at(0.0));
    assert!(c.state.in_full_disruption());
    let deletes = out
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Delete { .. }))
        .count();
    assert_eq!(deletes, 0, "{:?}", out.actions);
    apply(&mut view, &out.actions);
    every_pass_for(&mut c, &mut view, 5.0, 600.0, 5.0);
    assert_eq!(no_execute_tainted(&view), Vec::<String>::new());
    assert!(view.get::<Pod>("default", "web").is_some());
}

#[test]
fn leaving_full_disruption_restarts_every_grace_period() {
    let mut view = view_of([
        node("n1", "", Some(("Unknown", 0))).into(),
        node("n2", "", Some(("Unknown", 0))).into(),
    ]);
    let mut c = NodeLifecycleController::default();
    c.reconcile(&view, &monitor_key(), at(0.0));
    assert!(c.state.in_full_disruption());
    // n1 comes back at 100 s.
    view.insert(node("n1", "", Some(("True", 100))).into());
    c.reconcile(&view, &monitor_key(), at(100.0));
    assert!(!c.state.in_full_disruption());
    assert_eq!(c.state.nodes["n2"].probe_micros, unix_micros(at(100.0)));
    assert_eq!(c.state.zones[""].state, ZoneState::Normal);
}

// ---------------------------------------------------------------------------------------------
// Eviction
// ---------------------------------------------------------------------------------------------

fn all_unknown(mut n: Node) -> Node {
    for c in &mut n.status.conditions {
        c.status = "Unknown".into();
    }
    n
}

/// A pod whose Ready condition is already False (as on an unreachable node).
fn pod_not_ready(name: &str, node: &str, tolerations: Vec<Toleration>) -> Pod {
    let mut p = pod(name, node, tolerations);
    p.status.conditions[0].status = "False".into();
    p
}

fn unreachable_node_since(added: i64) -> Node {
    with_taints(
        all_unknown(node("n1", "", Some(("Unknown", 0)))),
        vec![
            taint(TAINT_UNREACHABLE, "NoSchedule", Some(added)),
            taint(TAINT_UNREACHABLE, "NoExecute", Some(added)),
        ],
    )
}

/// A controller that already knows every node of the view (no first-sight taint reset),
/// each last heard from at `now`.
fn controller_knowing(view: &View, now: SystemTime) -> NodeLifecycleController {
    let mut c = NodeLifecycleController::default();
    for n in view.list::<Node>() {
        c.state.nodes.insert(
            n.metadata.name_or_empty().into(),
            NodeHealth {
                ready: n.condition("Ready").cloned(),
                probe_micros: unix_micros(now),
                ready_transition_micros: unix_micros(now),
                lease_renew_time: None,
                taint_queued_micros: None,
                token_taken: false,
            },
        );
    }
    c
}

#[test]
fn pod_without_toleration_is_evicted_at_once() {
    let n = unreachable_node_since(100);
    let p = pod("web", "n1", vec![]);
    let view = view_of([
        n.into(),
        node("n2", "", Some(("True", 100))).into(),
        p.clone().into(),
    ]);
    let mut c = controller_knowing(&view, at(100.0));
    let now = at(100.5);
    let out = c.reconcile(&view, &monitor_key(), now);
    assert_eq!(
        out,
        Output {
            actions: eviction(&p, now),
            requeue_after: Some(Duration::from_secs(5)),
        }
    );
}

#[test]
fn pod_with_300s_toleration_is_evicted_exactly_300s_after_the_taint() {
    let n = unreachable_node_since(100);
    let p = pod_not_ready("web", "n1", default_tolerations());
    let mut view = view_of([
        n.into(),
        node("n2", "", Some(("True", 100))).into(),
        p.clone().into(),
    ]);
    let mut c = controller_knowing(&view, at(100.0));
    let early = at(100.0);
    let out = c.reconcile(&view, &monitor_key(), early);
    assert_eq!(out.actions, vec![]);
    assert_eq!(out.requeue_after, Some(Duration::from_secs(5)));
    renew_healthy(&mut view, 399.0);
    let almost = at_micros(399_999_999);
    let out = c.reconcile(&view, &monitor_key(), almost);
    assert_eq!(
        out,
        Output {
            actions: vec![],
            requeue_after: Some(Duration::from_micros(1)),
        }
    );
    let now = at(400.0);
    let out = c.reconcile(&view, &monitor_key(), now);
    assert_eq!(out.actions, eviction(&p, now));
}

#[test]
fn pod_tolerating_forever_is_never_evicted() {
    let n = unreachable_node_since(100);
    let p = pod_not_ready("ds", "n1", vec![toleration(TAINT_UNREACHABLE, None)]);
    let mut view = view_of([
        n.into(),
        node("n2", "", Some(("True", 100))).into(),
        p.into(),
    ]);
    let mut c = controller_knowing(&view, at(100.0));
    renew_healthy(&mut view, 86_400.0 * 365.0);
    let out = c.reconcile(&view, &monitor_key(), at(86_400.0 * 365.0));
    assert_eq!(
        out,
        Output {
            actions: vec![],
            requeue_after: Some(Duration::from_secs(5)),
        }
    );
}

#[test]
fn shortest_toleration_of_several_taints_decides() {
    let mut n = unreachable_node_since(100);
    n.spec
        .taints
        .push(taint("maintenance", "NoExecute", Some(200)));
    let tolerations = vec![
        toleration(TAINT_UNREACHABLE, Some(300)),
        toleration("maintenance", Some(60)),
    ];
    let p = pod_not_ready("web", "n1", tolerations);
    let mut view = view_of([
        n.into(),
        node("n2", "", Some(("True", 100))).into(),
        p.clone().into(),
    ]);
    let mut c = controller_knowing(&view, at(100.0));
    renew_healthy(&mut view, 250.0);
    let out = c.reconcile(&view, &monitor_key(), at(250.0));
    assert_eq!(out.requeue_after, Some(Duration::from_secs(5)));
    let out = c.reconcile(&view, &monitor_key(), at(258.0));
    assert_eq!(out.requeue_after, Some(Duration::from_secs(2)));
    let out = c.reconcile(&view, &monitor_key(), at(260.0));
    assert_eq!(out.actions, eviction(&p, at(260.0)));
}

#[test]
fn terminating_pods_are_not_evicted_again() {
    let n = unreachable_node_since(100);
    let mut p = pod_not_ready("web", "n1", vec![]);
    p.metadata.deletion_timestamp = Some(secs(130));
    let view = view_of([
        n.into(),
        node("n2", "", Some(("True", 100))).into(),
        p.into(),
    ]);
    let mut c = controller_knowing(&view, at(100.0));
    assert_eq!(
        c.reconcile(&view, &monitor_key(), at(101.0)).actions,
        vec![]
    );
}

#[test]
fn whole_story_node_dies_pod_evicted_about_grace_plus_300s_later() {
    let mut view = view_of([
        node("n1", "", Some(("True", 0))).into(),
        node("n2", "", Some(("True", 0))).into(),
        node("n3", "", Some(("True", 0))).into(),
        pod("web", "n1", default_tolerations()).into(),
    ]);
    let mut c = NodeLifecycleController::default();
    let mut deleted_at = None;
    let mut t = 0.0;
    while t <= 400.0 {
        // n2 and n3 keep heartbeating; n1 went silent at 0 s.
        for name in ["n2", "n3"] {
            #[allow(clippy::cast_possible_truncation, reason = "small test times")]
            let renew = (i64::try_from(BASE).unwrap() * 1_000_000) + (t * 1e6) as i64;
            view.insert(lease(name, renew).into());
        }
        let out = c.reconcile(&view, &monitor_key(), at(t));
        if out
            .actions
            .iter()
            .any(|a| matches!(a, Action::Delete { name, .. } if name == "web"))
        {
            deleted_at = Some(t);
            break;
        }
        apply(&mut view, &out.actions);
        t += 5.0;
    }
    // Unknown at 45 s (first pass after 40 s), tainted at 50 s (next monitor pass), evicted
    // 300 s later.
    assert_eq!(deleted_at, Some(350.0));
}

// ---------------------------------------------------------------------------------------------
// Pieces
// ---------------------------------------------------------------------------------------------

#[test]
fn zone_state_follows_compute_zone_state() {
    let t = Some("True");
    let f = Some("False");
    assert_eq!(
        compute_zone_state(&[f, f], 55),
        (2, ZoneState::FullDisruption)
    );
    assert_eq!(
        compute_zone_state(&[None], 55),
        (1, ZoneState::FullDisruption)
    );
    assert_eq!(compute_zone_state(&[t, f, f], 55), (2, ZoneState::Normal));
    assert_eq!(
        compute_zone_state(&[t, t, f, f, f], 55),
        (3, ZoneState::PartialDisruption)
    );
    assert_eq!(
        compute_zone_state(&[t, t, t, f, f, f], 55),
        (3, ZoneState::Normal)
    );
    assert_eq!(compute_zone_state(&[], 55), (0, ZoneState::Normal));
}

#[test]
fn token_bucket_fills_at_its_rate_and_swaps_like_upstream() {
    let mut b = TokenBucket::full(100, 0);
    assert!(b.try_take(0));
    assert!(!b.try_take(9_999_999));
    assert_eq!(b.wait_micros(), Some(1));
    assert!(b.try_take(10_000_000));
    // An empty bucket swapped to another rate starts empty; a full one full.
    b.swap_rate(10, 10_000_000);
    assert!(!b.try_take(10_000_000));
    let mut full = TokenBucket::full(100, 0);
    full.swap_rate(10, 0);
    assert!(full.try_take(0));
    full.swap_rate(0, 0);
    assert!(!full.try_take(1_000_000_000));
    assert_eq!(full.wait_micros(), None);
}

// ---------------------------------------------------------------------------------------------
// Same input, same output
// ---------------------------------------------------------------------------------------------

fn arb_cluster() -> impl Strategy<Value = (Vec<Object>, u64)> {
    let arb_node = (
        0..6usize,
        prop_oneof![Just("a"), Just("b"), Just("")],
        prop_oneof![
            Just(None),
            Just(Some("True")),
            Just(Some("False")),
            Just(Some("Unknown"))
        ],
        -100..100i64,
        proptest::option::of(-100..100i64),
        proptest::bool::ANY,
    );
    (
        proptest::collection::vec(arb_node, 0..8),
        proptest::collection::vec((0..6usize, proptest::option::of(0..400i64)), 0..8),
        0..1000u64,
    )
        .prop_map(|(nodes, pods, now)| {
            let mut objects: Vec<Object> = Vec::new();
            for (i, zone, ready, heartbeat, added, leased) in nodes {
                let name = format!("n{i}");
                let mut n = node(&name, zone, ready.map(|s| (s, heartbeat)));
                if let Some(added) = added {
                    n.spec
                        .taints
                        .push(taint(TAINT_UNREACHABLE, "NoExecute", Some(added)));
                }
                objects.push(n.into());
                if leased {
                    objects.push(lease(&name, heartbeat * 1_000_000).into());
                }
            }
            for (j, (i, seconds)) in pods.into_iter().enumerate() {
                let tolerations = vec![toleration(TAINT_UNREACHABLE, seconds)];
                objects.push(pod(&format!("p{j}"), &format!("n{i}"), tolerations).into());
            }
            (objects, now)
        })
}

proptest! {
    #[test]
    fn same_view_and_state_give_the_same_output((objects, now) in arb_cluster()) {
        let view = view_of(objects);
        let mut a = NodeLifecycleController::default();
        let mut b = NodeLifecycleController::default();
        for step in 0..4u64 {
            let t = at_micros((now + step * 7) * 1_000_000);
            let out_a = a.reconcile(&view, &monitor_key(), t);
            let out_b = b.reconcile(&view, &monitor_key(), t);
            prop_assert_eq!(&out_a, &out_b);
            prop_assert_eq!(&a.state, &b.state);
        }
    }
}

#[test]
fn failed_taint_write_gives_the_token_back_and_keeps_the_node_first_in_line() {
    let mut view = view_of([
        node("bad1", "a", Some(("False", 0))).into(),
        node("bad2", "a", Some(("False", 0))).into(),
        node("ok1", "a", Some(("True", 0))).into(),
    ]);
    let mut c = NodeLifecycleController::default();
    renew_healthy(&mut view, 0.0);
    let out = c.reconcile(&view, &monitor_key(), at(0.0));
    let update_of = |name: &str| {
        out.actions
            .iter()
            .find(|a| matches!(a, Action::Update(Object::Node(n)) if n.metadata.name_or_empty() == name))
            .unwrap()
            .clone()
    };
    let (failed, unrelated) = (update_of("bad1"), update_of("bad2"));
    let reset = ClientError::Transport("connection reset".into());
    c.action_failed(&monitor_key(), &failed, &reset);
    // Everything but bad1's write landed; bad1 is tainted again at once, before bad2.
    let landed: Vec<Action> = out
        .actions
        .iter()
        .filter(|a| **a != failed)
        .cloned()
        .collect();
    apply(&mut view, &landed);
    every_pass_for(&mut c, &mut view, 0.5, 0.5, 1.0);
    assert_eq!(no_execute_tainted(&view), ["bad1"]);
    // A failed write that took no token (bad2's NoSchedule taint) gives nothing back.
    c.action_failed(&monitor_key(), &unrelated, &reset);
    every_pass_for(&mut c, &mut view, 1.0, 1.0, 1.0);
    assert_eq!(no_execute_tainted(&view), ["bad1"]);
    every_pass_for(&mut c, &mut view, 10.5, 10.5, 1.0);
    assert_eq!(no_execute_tainted(&view), ["bad1", "bad2"]);
}

#[test]
fn controller_restart_keeps_taints_and_eviction_timers() {
    // A fresh controller (no memory) over a node tainted 250 s ago by its predecessor.
    let n = unreachable_node_since(0);
    let p = pod_not_ready("web", "n1", default_tolerations());
    let mut view = view_of([
        n.into(),
        node("n2", "", Some(("True", 250))).into(),
        p.clone().into(),
    ]);
    let mut c = NodeLifecycleController::default();
    renew_healthy(&mut view, 250.0);
    let out = c.reconcile(&view, &monitor_key(), at(250.0));
    assert_eq!(
        out,
        Output {
            actions: vec![],
            requeue_after: Some(Duration::from_secs(5)),
        }
    );
    renew_healthy(&mut view, 300.0);
    assert_eq!(
        c.reconcile(&view, &monitor_key(), at(300.0)).actions,
        eviction(&p, at(300.0))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The skew invariant: whatever the kubelet's clock says (any offset, stepping at every
    /// renewal), a kubelet that renews at least every 35 s is never marked Unknown (passes
    /// every 5 s observe a renewal at most 5 s late, so at most 40 s apart).
    #[test]
    fn renewing_kubelet_is_never_marked_unknown_whatever_its_clock(
        gaps in proptest::collection::vec(1..=35u64, 1..40),
        skews in proptest::collection::vec(-315_360_000_000_000..315_360_000_000_000i64, 40),
    ) {
        let mut view = view_of([
            node("n1", "", Some(("True", 0))).into(),
            node("n2", "", Some(("True", 0))).into(),
        ]);
        let mut c = NodeLifecycleController::default();
        let mut renewals = Vec::new();
        let mut t = 0;
        for gap in &gaps {
            t += gap;
            renewals.push(t);
        }
        let end = t;
        let mut next = 0;
        let mut last_renew = None;
        let mut pass = 0;
        while pass <= end {
            while next < renewals.len() && renewals[next] <= pass {
                let mut renew = (i64::try_from(BASE + renewals[next]).unwrap()) * 1_000_000
                    + skews[next % skews.len()];
                if Some(renew) == last_renew {
                    renew += 1;
                }
                last_renew = Some(renew);
                view.insert(lease("n1", renew).into());
                view.insert(lease("n2", renew).into());
                next += 1;
            }
            #[allow(clippy::cast_precision_loss, reason = "small test times")]
            let out = c.reconcile(&view, &monitor_key(), at(pass as f64));
            prop_assert_eq!(out.actions, vec![], "at {} s", pass);
            pass += 5;
        }
    }

    /// The rate limit: however many nodes of a zone are not Ready, NoExecute taints are
    /// added to at most 1 + elapsed × 0.1/s of them.
    #[test]
    fn noexecute_tainting_never_exceeds_the_zone_rate(
        ready in 0..8usize,
        not_ready in 1..12usize,
        seconds in 1..120u32,
    ) {
        let mut view = view_of(zone_with(ready, not_ready, "a"));
        let mut c = NodeLifecycleController::default();
        every_pass_for(&mut c, &mut view, 0.0, f64::from(seconds), 0.5);
        let tainted = no_execute_tainted(&view).len();
        let allowed = 1 + usize::try_from(seconds / 10).unwrap();
        prop_assert!(tainted <= allowed, "{} tainted in {} s", tainted, seconds);
        if ready > 0 && not_ready <= 2 {
            // A Normal zone taints at exactly that rate.
            prop_assert_eq!(tainted, allowed.min(not_ready));
        }
    }
}
