//! Namespace controller tests.

use std::time::UNIX_EPOCH;

use proptest::prelude::*;
use skiff_core::object::{
    ConfigMap, Container, Pod, ReplicaSet, Service, ServiceAccount, Time, info,
};

use super::*;

const BASE: i64 = 1_700_000_000;

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(BASE).unwrap() + seconds)
}

fn namespace(name: &str, deleting: bool) -> Namespace {
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.into());
    ns.metadata.uid = Some(format!("uid-{name}"));
    ns.metadata.resource_version = Some("3".into());
    ns.spec.finalizers = vec!["example.com/audit".into(), FINALIZER_KUBERNETES.into()];
    if deleting {
        ns.metadata.deletion_timestamp = Some(Time::from_unix_seconds(BASE));
        ns.status.phase = Some("Terminating".into());
    } else {
        ns.status.phase = Some("Active".into());
    }
    ns
}

fn meta_in(o: &mut Object, namespace: &str, name: &str) {
    let meta = o.metadata_mut();
    meta.name = Some(name.into());
    meta.namespace = Some(namespace.into());
    meta.uid = Some(format!("uid-{namespace}-{name}"));
}

fn object<T: Into<Object> + Default>(namespace: &str, name: &str) -> Object {
    let mut o: Object = T::default().into();
    meta_in(&mut o, namespace, name);
    o
}

fn pod(namespace: &str, name: &str) -> Object {
    let mut o: Object = Pod::new(name, vec![Container::new("c", "nginx")]).into();
    meta_in(&mut o, namespace, name);
    o
}

fn delete(kind: &'static KindInfo, namespace: &str, name: &str) -> Action {
    Action::Delete {
        resource: kind,
        namespace: namespace.into(),
        name: name.into(),
        options: DeleteOptions {
            uid: Some(format!("uid-{namespace}-{name}")),
            ..DeleteOptions::default()
        },
    }
}

fn view_of(objects: impl IntoIterator<Item = Object>) -> View {
    let mut view = View::new();
    for o in objects {
        view.insert(o);
    }
    view
}

#[test]
fn active_namespace_is_left_alone() {
    let view = view_of([namespace("dev", false).into(), pod("dev", "a")]);
    assert_eq!(reconcile_namespace(&view, "dev", at(0)), Output::none());
    assert_eq!(reconcile_namespace(&view, "missing", at(0)), Output::none());
}

#[test]
fn terminating_namespace_has_all_its_content_deleted_before_anything_else() {
    let view = view_of([
        namespace("dev", true).into(),
        pod("dev", "b"),
        pod("dev", "a"),
        object::<ReplicaSet>("dev", "web"),
        object::<Service>("dev", "web"),
        object::<ConfigMap>("dev", "settings"),
        object::<ServiceAccount>("dev", "default"),
        // Another namespace's content is not touched.
        pod("prod", "a"),
    ]);
    assert_eq!(
        reconcile_namespace(&view, "dev", at(0)),
        Output {
            actions: vec![
                delete(&info::POD, "dev", "a"),
                delete(&info::POD, "dev", "b"),
                delete(&info::SERVICE, "dev", "web"),
                delete(&info::CONFIG_MAP, "dev", "settings"),
                delete(&info::SERVICE_ACCOUNT, "dev", "default"),
                delete(&info::REPLICA_SET, "dev", "web"),
            ],
            requeue_after: Some(RECHECK),
        }
    );
}

#[test]
fn finalizer_waits_for_gracefully_deleted_pods_to_be_gone() {
    let mut leaving = pod("dev", "a");
    leaving.metadata_mut().deletion_timestamp = Some(Time::from_unix_seconds(BASE + 30));
    let mut view = view_of([namespace("dev", true).into(), leaving.clone()]);
    assert_eq!(
        reconcile_namespace(&view, "dev", at(10)),
        Output {
            actions: vec![],
            requeue_after: Some(Duration::from_secs(20)),
        }
    );
    // Past its deletion time but still there (the kubelet has not confirmed): keep waiting.
    assert_eq!(
        reconcile_namespace(&view, "dev", at(40)),
        Output {
            actions: vec![],
            requeue_after: Some(RECHECK),
        }
    );
    view.remove(&leaving);
    let mut finalized = namespace("dev", true);
    finalized.spec.finalizers = vec!["example.com/audit".into()];
    assert_eq!(
        reconcile_namespace(&view, "dev", at(41)),
        Output {
            actions: vec![Action::Update(finalized.into())],
            requeue_after: None,
        }
    );
}

#[test]
fn deletion_runs_in_order_content_then_finalizer() {
    let mut view = view_of([
        namespace("dev", true).into(),
        pod("dev", "a"),
        object::<ConfigMap>("dev", "settings"),
    ]);
    let mut c = NamespaceController::default();
    let key = ObjectKey::new("", "dev");
    let first = c.reconcile(&view, &key, at(0));
    assert_eq!(
        first.actions,
        vec![
            delete(&info::POD, "dev", "a"),
            delete(&info::CONFIG_MAP, "dev", "settings")
        ]
    );
    // The config map goes at once; the pod is bound and waits for its kubelet.
    view.remove(&object::<ConfigMap>("dev", "settings"));
    let mut leaving = pod("dev", "a");
    leaving.metadata_mut().deletion_timestamp = Some(Time::from_unix_seconds(BASE + 30));
    view.insert(leaving.clone());
    assert_eq!(c.reconcile(&view, &key, at(1)).actions, vec![]);
    view.remove(&leaving);
    let Action::Update(Object::Namespace(ns)) = &c.reconcile(&view, &key, at(31)).actions[0] else {
        panic!("expected the finalizing update")
    };
    assert_eq!(ns.spec.finalizers, ["example.com/audit"]);
}

#[test]
fn namespace_already_finalized_is_left_to_other_finalizers() {
    let mut ns = namespace("dev", true);
    ns.spec.finalizers = vec!["example.com/audit".into()];
    let view = view_of([ns.into()]);
    assert_eq!(reconcile_namespace(&view, "dev", at(0)), Output::none());
}

#[test]
fn content_changes_concern_their_namespace_only_while_it_terminates() {
    let view = view_of([
        namespace("dev", true).into(),
        namespace("prod", false).into(),
    ]);
    let c = NamespaceController::default();
    assert_eq!(
        c.keys_for(&view, &pod("dev", "a")),
        [ObjectKey::new("", "dev")]
    );
    assert_eq!(
        c.keys_for(&view, &pod("prod", "a")),
        Vec::<ObjectKey>::new()
    );
    assert_eq!(c.resync_keys(&view), [ObjectKey::new("", "dev")]);
    assert!(c.watches().iter().any(|w| w.resource.kind == "Event"));
}

proptest! {
    #[test]
    fn same_view_gives_the_same_output(
        items in proptest::collection::btree_map((0..3u8, 0..6u8), proptest::bool::ANY, 0..12),
        deleting in proptest::bool::ANY,
        t in 0..100u64,
    ) {
        let mut objects: Vec<Object> = vec![namespace("dev", deleting).into()];
        for ((kind, name), terminating) in items {
            let mut o = match kind {
                0 => pod("dev", &format!("p{name}")),
                1 => object::<ConfigMap>("dev", &format!("c{name}")),
                _ => pod("other", &format!("p{name}")),
            };
            if terminating {
                o.metadata_mut().deletion_timestamp = Some(Time::from_unix_seconds(BASE + 50));
            }
            objects.push(o);
        }
        let forward = view_of(objects.clone());
        let backward = view_of(objects.into_iter().rev());
        let a = reconcile_namespace(&forward, "dev", at(t));
        prop_assert_eq!(&a, &reconcile_namespace(&backward, "dev", at(t)));
        prop_assert_eq!(&a, &reconcile_namespace(&forward, "dev", at(t)));
    }
}

#[test]
fn terminating_namespace_deletes_its_custom_objects_before_finalizing() {
    let game = skiff_core::object::DynamicKind::new(
        "games.example.com",
        "v1",
        "GameServer",
        "gameservers",
    )
    .define();
    let mut kinds = KindRegistry::builtin();
    kinds.register(game).unwrap();
    let mut arena: Object = skiff_core::object::DynamicObject::new(game).into();
    meta_in(&mut arena, "dev", "arena");
    let view = view_of([namespace("dev", true).into(), arena]);
    let controller = NamespaceController {
        kinds: kinds.clone(),
    };
    assert!(controller.watches().contains(&Watched::all(&game.info)));
    assert_eq!(
        reconcile_namespace_in(&kinds, &view, "dev", at(0)),
        Output {
            actions: vec![delete(&game.info, "dev", "arena")],
            requeue_after: Some(RECHECK),
        }
    );
    // Without the registry the custom object is not seen: the namespace is finalized.
    assert!(matches!(
        reconcile_namespace(&view, "dev", at(0)).actions.as_slice(),
        [Action::Update(_)]
    ));
}
