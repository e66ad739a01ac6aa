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
use skiff_core::object::{MicroTime, Object, Pod, Time};
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

/// Whether a follower should keep waiting for more of the container's log: it runs, or it has
/// not started yet (the kubelet's status lags the runtime); not once it terminated, is backing
/// off after a crash, or is not in the status at all.
pub fn still_writing(pod: &Pod, container: Option<&str>) -> bool {
    let wanted = container
        .map(str::to_owned)
        .or_else(|| pod.spec.containers.first().map(|c| c.name.clone()));
    let Some(status) = pod
        .status
        .container_statuses
        .iter()
        .chain(&pod.status.init_container_statuses)
        .find(|s| Some(&s.name) == wanted.as_ref())
    else {
        // No status yet: the pod was only just scheduled.
        return pod.status.container_statuses.is_empty();
    };
    let state = status.state.clone().unwrap_or_default();
    let crashed_before = status
        .last_state
        .as_ref()
        .is_some_and(|s| s.terminated.is_some());
    state.running.is_some() || (state.waiting.is_some() && !crashed_before)
}

/// Whether the pod's container (or its only one) may still write; `false` when the pod is gone.
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
    still_writing(&pod, container)
}

/// An RFC 3339 timestamp with up to nine fractional digits, as (Unix seconds, nanoseconds).
fn parse_stamp(stamp: &str) -> Option<(i64, u32)> {
    let body = stamp.strip_suffix('Z')?;
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    let seconds = Time::parse(&format!("{whole}Z")).ok()?.unix_seconds;
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = format!("{fraction:0<9}").parse().ok()?;
    Some((seconds, nanos))
}

/// What a follower has printed of a log read with timestamps: the newest line's time and how
/// many lines carried it, so the next read (from that time on) prints only what is new.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogCursor {
    last: Option<((i64, u32), usize)>,
}

impl LogCursor {
    /// The lines of `text` (each `<RFC 3339 time> <line>`) not printed yet, with or without
    /// their timestamps.
    pub fn take(&mut self, text: &str, show_timestamps: bool) -> String {
        let mut out = String::new();
        let mut seen_at_last = 0;
        for line in text.lines() {
            let (stamp, rest) = line.split_once(' ').unwrap_or((line, ""));
            let Some(at) = parse_stamp(stamp) else {
                continue;
            };
            match &mut self.last {
                Some((t, _)) if at < *t => continue,
                Some((t, sent)) if at == *t => {
                    seen_at_last += 1;
                    if seen_at_last <= *sent {
                        continue;
                    }
                    *sent += 1;
                }
                _ => {
                    self.last = Some((at, 1));
                    seen_at_last = 1;
                }
            }
            out.push_str(if show_timestamps { line } else { rest });
            out.push('\n');
        }
        out
    }

    /// Where the next read starts (`sinceTime`, microseconds; lines at the same microsecond
    /// come again and are skipped).
    pub fn since_micros(&self) -> Option<i64> {
        self.last.map(|((seconds, nanos), _)| {
            seconds
                .saturating_mul(1_000_000)
                .saturating_add(i64::from(nanos / 1000))
        })
    }
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
    let mut cursor = LogCursor::default();
    loop {
        let Ok(text) = read(&*handler, &user, &namespace, &name, params.clone()).await else {
            return;
        };
        let out = cursor.take(&text, show_timestamps);
        if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
            return;
        }
        if let Some(micros) = cursor.since_micros() {
            params.since_time_micros = Some(micros);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_prints_each_line_once_in_time_order() {
        let mut cursor = LogCursor::default();
        let first = "2023-11-14T22:13:20Z a\n2023-11-14T22:13:20.5Z b\n2023-11-14T22:13:20.5Z c\n";
        assert_eq!(cursor.take(first, false), "a\nb\nc\n");
        assert_eq!(cursor.since_micros(), Some(1_700_000_000_500_000));
        // The next read repeats the lines at the last time; only the new ones are printed.
        let again = "2023-11-14T22:13:20.5Z b\n2023-11-14T22:13:20.5Z c\n2023-11-14T22:13:20.5Z d\n2023-11-14T22:13:21Z e\n";
        assert_eq!(
            cursor.take(again, true),
            "2023-11-14T22:13:20.5Z d\n2023-11-14T22:13:21Z e\n"
        );
        assert_eq!(
            parse_stamp("2023-11-14T22:13:20.000000001Z"),
            Some((1_700_000_000, 1))
        );
        assert_eq!(parse_stamp("nonsense"), None);
    }
}
