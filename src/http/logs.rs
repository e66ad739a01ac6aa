//! `GET /api/v1/namespaces/{ns}/pods/{name}/log` (upstream's `pods/log` subresource, what
//! `kubectl logs` asks): the log as `text/plain`, with `container`, `tailLines`,
//! `sinceSeconds`, `sinceTime`, `timestamps`, `previous`, `limitBytes` and `follow`.
//!
//! `follow=true` streams: the log so far, then new lines as the kubelet reports them (polled
//! once a second through the API server, with timestamps to know what was sent), until the
//! container stops running, the pod is gone, or the client leaves.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use skiff_core::client::LogParams;
use skiff_core::object::{MicroTime, Object, Time};
use skiff_store::apiserver::authn::UserInfo;
use skiff_store::wire::{Handler, Request, Response};
use tokio::sync::mpsc;

use super::query::Query;
use super::{HttpApi, HttpBody, HttpError, HttpResponse, wire_error};

/// How often a followed log is read again.
pub const FOLLOW_POLL: Duration = Duration::from_secs(1);

fn number(query: &Query, key: &str) -> Result<Option<u64>, HttpError> {
    match query.get(key) {
        None | Some("") => Ok(None),
        Some(text) => text.parse::<i64>().map_or_else(
            |_| Err(HttpError::bad_request(format!("invalid {key} {text:?}"))),
            // Upstream: a negative tailLines means "all", other negatives are invalid.
            |n| Ok(u64::try_from(n).ok()),
        ),
    }
}

/// The query as `PodLogOptions`.
fn log_params(query: &Query) -> Result<LogParams, HttpError> {
    let since_time_micros = match query.get("sinceTime") {
        None | Some("") => None,
        Some(text) => Some(
            MicroTime::parse(text)
                .or_else(|_| {
                    Time::parse(text)
                        .map(|t| MicroTime::from_unix_micros(t.unix_seconds * 1_000_000))
                })
                .map_err(|e| HttpError::bad_request(format!("invalid sinceTime {text:?}: {e}")))?
                .unix_micros,
        ),
    };
    Ok(LogParams {
        container: query
            .get("container")
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
        tail_lines: number(query, "tailLines")?,
        since_seconds: number(query, "sinceSeconds")?,
        since_time_micros,
        timestamps: query.flag("timestamps"),
        previous: query.flag("previous"),
        limit_bytes: number(query, "limitBytes")?,
    })
}

async fn read(
    handler: &dyn Handler,
    user: &UserInfo,
    namespace: &str,
    name: &str,
    params: LogParams,
) -> Result<String, skiff_core::status::Status> {
    let request = Request::PodLogs {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        params,
    };
    match handler.call(user, request).await? {
        Response::Logs(text) => Ok(text),
        _ => Err(skiff_core::status::Status::bad_request("unexpected answer")),
    }
}

/// Whether the pod's container (or its only one) still runs; `false` when the pod is gone.
async fn still_running(
    handler: &dyn Handler,
    user: &UserInfo,
    namespace: &str,
    name: &str,
    container: Option<&str>,
) -> bool {
    let request = Request::Get {
        resource: "pods".to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    let Ok(Response::Object(Object::Pod(pod))) = handler.call(user, request).await else {
        return false;
    };
    let wanted = container
        .map(str::to_owned)
        .or_else(|| pod.spec.containers.first().map(|c| c.name.clone()));
    pod.status
        .container_statuses
        .iter()
        .chain(&pod.status.init_container_statuses)
        .find(|s| Some(&s.name) == wanted.as_ref())
        .is_some_and(|s| s.state.as_ref().is_some_and(|st| st.running.is_some()))
}

/// Follows a log: sends what is new each poll, deduplicating by timestamp.
async fn follow(
    handler: Arc<dyn Handler>,
    user: UserInfo,
    namespace: String,
    name: String,
    params: LogParams,
    tx: mpsc::Sender<Bytes>,
) {
    let show_timestamps = params.timestamps;
    let mut params = LogParams {
        timestamps: true,
        limit_bytes: None,
        ..params
    };
    // The last timestamp sent and how many lines carried it.
    let mut last: Option<(String, usize)> = None;
    loop {
        let Ok(text) = read(&*handler, &user, &namespace, &name, params.clone()).await else {
            return;
        };
        let mut out = String::new();
        let mut seen_at_last = 0;
        for line in text.lines() {
            let (stamp, rest) = line.split_once(' ').unwrap_or((line, ""));
            if let Some((t, sent)) = &last {
                if stamp < t.as_str() {
                    continue;
                }
                if stamp == t {
                    seen_at_last += 1;
                    if seen_at_last <= *sent {
                        continue;
                    }
                }
            }
            match &mut last {
                Some((t, sent)) if t == stamp => *sent += 1,
                _ => {
                    last = Some((stamp.to_owned(), 1));
                    seen_at_last = 1;
                }
            }
            if show_timestamps {
                out.push_str(line);
            } else {
                out.push_str(rest);
            }
            out.push('\n');
        }
        if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
            return;
        }
        if let Some((t, _)) = &last
            && let Ok(at) = MicroTime::parse(t)
        {
            params.since_time_micros = Some(at.unix_micros);
            params.since_seconds = None;
            params.tail_lines = None;
        }
        if !still_running(
            &*handler,
            &user,
            &namespace,
            &name,
            params.container.as_deref(),
        )
        .await
        {
            return;
        }
        tokio::select! {
            biased;
            () = tx.closed() => return,
            () = tokio::time::sleep(FOLLOW_POLL) => {}
        }
    }
}

impl HttpApi {
    /// Serves `GET …/pods/{name}/log`.
    pub(super) async fn pod_log(
        &self,
        user: &UserInfo,
        namespace: &str,
        name: &str,
        query: &Query,
    ) -> Result<HttpResponse, HttpError> {
        let params = log_params(query)?;
        if query.flag("follow") {
            // Authorize and find the pod before answering 200 (errors keep their status).
            read(
                &*self.handler,
                user,
                namespace,
                name,
                LogParams {
                    tail_lines: Some(0),
                    ..params.clone()
                },
            )
            .await
            .map_err(wire_error)?;
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(follow(
                self.handler.clone(),
                user.clone(),
                namespace.to_owned(),
                name.to_owned(),
                params,
                tx,
            ));
            return Ok(HttpResponse {
                status: 200,
                content_type: "text/plain",
                body: HttpBody::Stream(rx),
            });
        }
        let text = read(&*self.handler, user, namespace, name, params)
            .await
            .map_err(wire_error)?;
        Ok(HttpResponse {
            status: 200,
            content_type: "text/plain",
            body: HttpBody::Full(text.into_bytes()),
        })
    }
}
