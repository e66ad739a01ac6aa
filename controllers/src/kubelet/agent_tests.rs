//! The agent over an in-memory API (a fake [`Client`]: objects, revisions, field-selected
//! watches, graceful pod deletion).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_core::client::{
    Binding, BoxFuture, Client, ClientError, DeleteOptions, Deleted, ListParams, ObjectList,
    WatchEvent, WatchStream,
};
use skiff_core::clock::{Clock, ManualClock, SystemClock};
use skiff_core::event::Event;
use skiff_core::object::{
    ConfigMap, ConfigMapVolumeSource, Container, KindInfo, Object, ObjectMeta, Pod, Volume,
    VolumeMount,
};
use skiff_core::status::Status;
use tokio::sync::mpsc;

use super::agent::Agent;
use super::{Kubelet, KubeletConfig};
use crate::cri::sim::{SimConfig, SimRuntime};
use crate::cri::{ContainerFilter, Runtime};

type Key = (&'static str, String, String);

#[derive(Default)]
struct State {
    rv: u64,
    objects: BTreeMap<Key, Object>,
    watchers: Vec<(&'static str, String, mpsc::UnboundedSender<WatchEvent>)>,
}

/// An API with just what the kubelet uses.
#[derive(Default)]
struct FakeApi {
    state: Mutex<State>,
}

fn key_of(o: &Object) -> Key {
    let m = o.metadata();
    (
        o.info().kind,
        m.namespace_or_empty().to_owned(),
        m.name_or_empty().to_owned(),
    )
}

fn matches(o: &Object, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|s| {
        let Some((field, value)) = s.split_once('=') else {
            return true;
        };
        match field {
            "metadata.name" => o.metadata().name_or_empty() == value,
            "spec.nodeName" => match o {
                Object::Pod(p) => p.spec.node_name.as_deref() == Some(value),
                _ => false,
            },
            _ => true,
        }
    })
}

impl FakeApi {
    fn put(&self, mut o: Object, added: bool) -> Object {
        let mut s = self.state.lock().unwrap();
        s.rv += 1;
        let rv = s.rv;
        let m = o.metadata_mut();
        m.resource_version = Some(rv.to_string());
        if m.uid.is_none() {
            m.uid = Some(format!("uid-{}", m.name_or_empty()));
        }
        if m.namespace.is_none() && o.info().namespaced {
            o.metadata_mut().namespace = Some("default".into());
        }
        s.objects.insert(key_of(&o), o.clone());
        let event = if added {
            WatchEvent::Added(o.clone())
        } else {
            WatchEvent::Modified(o.clone())
        };
        s.watchers.retain(|(kind, sel, tx)| {
            *kind != o.info().kind || !matches(&o, sel) || tx.send(event.clone()).is_ok()
        });
        o
    }

    fn remove(&self, key: &Key) -> Option<Object> {
        let mut s = self.state.lock().unwrap();
        let o = s.objects.remove(key)?;
        s.watchers.retain(|(kind, sel, tx)| {
            *kind != o.info().kind
                || !matches(&o, sel)
                || tx.send(WatchEvent::Deleted(o.clone())).is_ok()
        });
        Some(o)
    }

    fn get_pod(&self, ns: &str, name: &str) -> Option<Pod> {
        match self
            .state
            .lock()
            .unwrap()
            .objects
            .get(&("Pod", ns.into(), name.into()))
        {
            Some(Object::Pod(p)) => Some(p.clone()),
            _ => None,
        }
    }
}

struct Stream(mpsc::UnboundedReceiver<WatchEvent>);

impl WatchStream for Stream {
    fn next(&mut self) -> BoxFuture<'_, Option<WatchEvent>> {
        Box::pin(self.0.recv())
    }
}

fn not_found(info: &KindInfo, name: &str) -> ClientError {
    ClientError::Status(Status::not_found(info.plural, name))
}

impl Client for FakeApi {
    fn create(
        &self,
        _ns: Option<&str>,
        object: Object,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        Box::pin(async move { Ok(self.put(object, true)) })
    }
    fn get(
        &self,
        r: &'static KindInfo,
        ns: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let key = (r.kind, ns.to_owned(), name.to_owned());
        let found = self.state.lock().unwrap().objects.get(&key).cloned();
        Box::pin(async move { found.ok_or_else(|| not_found(r, &key.2)) })
    }
    fn list(
        &self,
        r: &'static KindInfo,
        _ns: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<ObjectList, ClientError>> {
        let s = self.state.lock().unwrap();
        let items = s
            .objects
            .values()
            .filter(|o| o.info().kind == r.kind && matches(o, &params.field_selector))
            .cloned()
            .collect();
        let rv = s.rv;
        Box::pin(async move {
            Ok(ObjectList {
                resource_version: rv,
                items,
                continue_token: None,
            })
        })
    }
    fn update(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        Box::pin(async move { Ok(self.put(object, false)) })
    }
    fn update_status(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        Box::pin(async move { Ok(self.put(object, false)) })
    }
    fn delete(
        &self,
        r: &'static KindInfo,
        ns: &str,
        name: &str,
        _options: DeleteOptions,
    ) -> BoxFuture<'_, Result<Deleted, ClientError>> {
        let key = (r.kind, ns.to_owned(), name.to_owned());
        let removed = self.remove(&key);
        Box::pin(async move {
            removed
                .map(Deleted::Gone)
                .ok_or_else(|| not_found(r, &key.2))
        })
    }
    fn bind(&self, _: &str, name: &str, _: Binding) -> BoxFuture<'_, Result<Object, ClientError>> {
        let name = name.to_owned();
        Box::pin(async move {
            Err(not_found(
                &<Pod as skiff_core::object::HasKindInfo>::INFO,
                &name,
            ))
        })
    }
    fn history(
        &self,
        _: &'static KindInfo,
        _: &str,
        _: &str,
    ) -> BoxFuture<'_, Result<Vec<Event>, ClientError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn watch(
        &self,
        r: &'static KindInfo,
        _ns: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<Box<dyn WatchStream>, ClientError>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.state
            .lock()
            .unwrap()
            .watchers
            .push((r.kind, params.field_selector, tx));
        Box::pin(async move { Ok(Box::new(Stream(rx)) as Box<dyn WatchStream>) })
    }
}

fn web_pod() -> Pod {
    let mut c = Container::new("web", "nginx:1.27");
    c.volume_mounts = vec![VolumeMount {
        name: "html".into(),
        mount_path: "/usr/share/nginx/html".into(),
        ..VolumeMount::default()
    }];
    let mut p = Pod::new("web", vec![c]);
    p.metadata.namespace = Some("default".into());
    p.spec.node_name = Some("node-1".into());
    p.spec.volumes = vec![Volume {
        name: "html".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: Some("site".into()),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }];
    p
}

fn site() -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some("site".into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        data: BTreeMap::from([("index.html".into(), "hello from a configmap\n".into())]),
        ..ConfigMap::default()
    }
}

fn config() -> KubeletConfig {
    let mut config = KubeletConfig::new("node-1");
    config.pod_cidr = Some("10.244.1.0/24".into());
    config
}

#[tokio::test]
async fn agent_rounds_register_the_node_and_run_a_pod_that_serves_its_config_map() {
    let api = Arc::new(FakeApi::default());
    api.put(site().into(), true);
    api.put(web_pod().into(), true);
    let clock = ManualClock::new(1_700_000_000);
    let runtime = Arc::new(SimRuntime::new(
        Arc::new(clock.clone()),
        SimConfig::default(),
    ));
    let mut agent = Agent::new(
        Kubelet::new(config()),
        api.clone(),
        Arc::new(clock.clone()),
        runtime.clone(),
        runtime.clone(),
        runtime.clone(),
    );
    // Rounds without the watch loop: the view is filled from the writes' answers and a list.
    for _ in 0..6 {
        let list = api
            .list(
                &<Pod as skiff_core::object::HasKindInfo>::INFO,
                None,
                ListParams::default(),
            )
            .await
            .unwrap();
        for o in list.items {
            agent_view_insert(&mut agent, o);
        }
        agent.round().await;
        clock.advance(Duration::from_secs(1));
    }
    let pod = api.get_pod("default", "web").unwrap();
    assert_eq!(pod.status.phase.as_deref(), Some("Running"));
    assert!(api.state.lock().unwrap().objects.contains_key(&(
        "Node",
        String::new(),
        "node-1".into()
    )));
    assert!(api.state.lock().unwrap().objects.contains_key(&(
        "Lease",
        "kube-node-lease".into(),
        "node-1".into()
    )));
    // nginx serves the ConfigMap mounted over its document root.
    let ip = pod.status.pod_ip.unwrap();
    let page = runtime.http_get(&ip, 80, "/").unwrap();
    assert_eq!(page.body, b"hello from a configmap\n");
    // The ConfigMap changes: within the 10 s TTL the kubelet reads it again and the file
    // follows.
    let mut changed = site();
    changed.data.insert("index.html".into(), "changed\n".into());
    api.put(changed.into(), false);
    for _ in 0..10 {
        clock.advance(Duration::from_secs(1));
        agent.round().await;
    }
    assert_eq!(runtime.http_get(&ip, 80, "/").unwrap().body, b"changed\n");
}

fn agent_view_insert(agent: &mut Agent, o: Object) {
    agent.view_mut().insert(o);
}

#[tokio::test]
async fn agent_loop_watches_its_pods_and_deletes_them_after_graceful_termination() {
    let api = Arc::new(FakeApi::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let runtime = Arc::new(SimRuntime::new(clock.clone(), SimConfig::default()));
    let agent = Agent::new(
        Kubelet::new(config()),
        api.clone(),
        clock,
        runtime.clone(),
        runtime.clone(),
        runtime.clone(),
    );
    let task = tokio::spawn(agent.run());
    let mut p = Pod::new(
        "sleeper",
        vec![Container {
            command: vec!["sleep".into(), "3600".into()],
            ..Container::new("c", "busybox:1.36")
        }],
    );
    p.metadata.namespace = Some("default".into());
    p.spec.node_name = Some("node-1".into());
    p.spec.termination_grace_period_seconds = Some(0);
    api.put(p.into(), true);
    let mut running = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if api
            .get_pod("default", "sleeper")
            .and_then(|p| p.status.phase)
            .as_deref()
            == Some("Running")
        {
            running = true;
            break;
        }
    }
    assert!(running, "pod never reported Running");
    // The API server's graceful delete (grace 0 here): the kubelet stops the container,
    // removes the sandbox and deletes the pod for good.
    let mut p = api.get_pod("default", "sleeper").unwrap();
    p.metadata.deletion_timestamp = Some(skiff_core::object::Time::from_unix_seconds(0));
    p.metadata.deletion_grace_period_seconds = Some(0);
    api.put(p.into(), false);
    let mut gone = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if api.get_pod("default", "sleeper").is_none() {
            gone = true;
            break;
        }
    }
    task.abort();
    assert!(gone, "pod was not deleted");
    assert!(
        runtime
            .list_containers(&ContainerFilter::default())
            .is_empty()
    );
}
