//! The watcher client: list, then watch each watched kind over the wire, recording every
//! session for [`crate::check::watch_order`]. A session that ends with its last event a
//! `MODIFIED`/`ADDED` or a bookmark resumes from that revision (testing resumption); one that
//! ends otherwise relists, as an informer does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_core::client::{Client, ListParams, WatchEvent};
use skiff_core::object::KindInfo;

use crate::check::watch_order::{Delivered, EventType, Record, WatchLog, WatchSession};
use crate::worker::{RETRY_BACKOFF_MAX, connect, lock, timed};

/// A watch that delivers nothing (not even a bookmark, sent every 60 s) for this long is
/// treated as dead: a partitioned simulated TCP connection stalls instead of failing.
pub const WATCH_SILENCE_MAX: Duration = Duration::from_secs(90);

fn delivered(type_: EventType, object: &skiff_core::object::Object) -> Delivered {
    let meta = object.metadata();
    Delivered {
        type_,
        key: skiff_store::key::object_key(object).unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        resource_version: meta
            .resource_version
            .as_deref()
            .and_then(|rv| rv.parse().ok())
            .unwrap_or(0),
    }
}

/// Watches `resource` forever, appending sessions to `log`.
pub async fn run(
    server: String,
    token: String,
    resource: &'static KindInfo,
    log: Arc<Mutex<WatchLog>>,
) {
    let mut resume: Option<u64> = None;
    loop {
        let Ok(client) = connect(&server, &token).await else {
            tokio::time::sleep(RETRY_BACKOFF_MAX).await;
            continue;
        };
        let from = if let Some(rv) = resume {
            rv
        } else {
            let Ok(list) = timed(client.list(resource, None, ListParams::default())).await else {
                tokio::time::sleep(RETRY_BACKOFF_MAX).await;
                continue;
            };
            // An empty store (a replicated member before its bootstrap): nothing to watch
            // from yet, since resourceVersion "0" means "any" to a watch (upstream), not
            // "after revision 0".
            if list.resource_version == 0 {
                tokio::time::sleep(RETRY_BACKOFF_MAX).await;
                continue;
            }
            list.resource_version
        };
        let params = ListParams {
            resource_version: Some(from.to_string()),
            ..ListParams::default()
        };
        let Ok(mut stream) = timed(client.watch(resource, None, params)).await else {
            resume = None;
            tokio::time::sleep(RETRY_BACKOFF_MAX).await;
            continue;
        };
        let session = {
            let mut log = lock(&log);
            log.sessions.push(WatchSession {
                kind: resource.kind,
                from,
                records: Vec::new(),
            });
            log.sessions.len() - 1
        };
        let push = |record: Record| lock(&log).sessions[session].records.push(record);
        resume = Some(from);
        let ended = loop {
            let next = tokio::time::timeout(WATCH_SILENCE_MAX, stream.next()).await;
            let record = match next {
                Err(_) => break "silent".to_owned(),
                Ok(None) => break "closed".to_owned(),
                Ok(Some(WatchEvent::Added(o))) => Record::Event(delivered(EventType::Added, &o)),
                Ok(Some(WatchEvent::Modified(o))) => {
                    Record::Event(delivered(EventType::Modified, &o))
                }
                Ok(Some(WatchEvent::Deleted(o))) => {
                    Record::Event(delivered(EventType::Deleted, &o))
                }
                Ok(Some(WatchEvent::Bookmark(rv))) => Record::Bookmark(rv),
                Ok(Some(WatchEvent::Error(status))) => {
                    resume = None;
                    break format!("{:?}: {}", status.reason, status.message);
                }
            };
            resume = match &record {
                Record::Event(d) if d.type_ != EventType::Deleted => Some(d.resource_version),
                Record::Bookmark(rv) => Some(*rv),
                _ => None,
            };
            push(record);
        };
        push(Record::Ended(ended));
        drop(stream);
    }
}
