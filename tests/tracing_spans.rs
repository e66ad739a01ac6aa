//! Observability: every API request, reconcile and kubelet pod sync runs in a `tracing` span
//! carrying its fields — captured here by a subscriber layer of the test's own.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use skiff::Cluster;
use skiff::controllers::runtime::TokioClock;
use skiff::core::object::{Container, Pod};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One span as created: its name and fields, rendered.
type Captured = (String, BTreeMap<String, String>);

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        self.0
            .lock()
            .unwrap()
            .push((attrs.metadata().name().to_owned(), fields));
    }
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn requests_reconciles_and_pod_syncs_run_in_spans_with_their_fields() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    // The subscriber is this thread's; the current-thread runtime runs every task here.
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(async {
                let clock = Arc::new(TokioClock::new(
                    UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                ));
                let cluster = Cluster::builder()
                    .seed(4)
                    .clock(clock)
                    .nodes(1)
                    .build()
                    .await
                    .unwrap();
                let mut pod = Pod::new("web", vec![Container::new("web", "nginx:1.27")]);
                pod.metadata.namespace = Some("default".into());
                cluster.api::<Pod>("default").create(pod).await.unwrap();
                tokio::time::sleep(Duration::from_secs(20)).await;
                cluster.shutdown().await;
            });
    });
    let spans = capture.0.lock().unwrap().clone();
    let has = |name: &str, want: &BTreeMap<String, String>| {
        spans.iter().any(|(n, f)| n == name && f == want)
    };
    let create = fields(&[
        ("verb", "create"),
        ("resource", "pods"),
        ("subresource", ""),
        ("namespace", "default"),
        ("name", "web"),
        ("user", "admin"),
    ]);
    assert!(
        has("request", &create),
        "no request span {create:?} in {spans:#?}"
    );
    let reconcile = fields(&[("controller", "default-scheduler"), ("key", "default/web")]);
    assert!(
        has("reconcile", &reconcile),
        "no reconcile span {reconcile:?} in {spans:#?}"
    );
    let sync = fields(&[("node", "node-1"), ("pod", "default/web")]);
    assert!(
        has("pod_sync", &sync),
        "no pod_sync span {sync:?} in {spans:#?}"
    );
}
