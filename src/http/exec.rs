//! `kubectl exec` over WebSocket: `GET /api/v1/namespaces/{ns}/pods/{name}/exec?command=…`
//! upgraded with the `v5.channel.k8s.io` (or `v4.channel.k8s.io`) subprotocol, as kubectl 1.30+
//! asks first (it falls back to SPDY only when the server refuses the upgrade; SPDY is not
//! served).
//!
//! skiff's exec is synchronous, so the command runs (authorized as `create` on `pods/exec`,
//! through the same wire handler as every request) before the upgrade: a refusal is an ordinary
//! HTTP error with a `Status` body. On success the connection is upgraded (RFC 6455: the
//! `Sec-WebSocket-Accept` of the client's key) and the server sends, as binary messages whose
//! first byte is the channel, standard output (1), standard error (2), then the status on the
//! error channel (3): `Success`, or `NonZeroExitCode` with the exit code as the `ExitCode`
//! cause, from which kubectl takes its own exit code. Then it closes the connection. Standard
//! input and terminal resizes are read and ignored.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::json;
use skiff_core::client::{ExecOutput, ExecParams};
use skiff_store::wire::{Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::query::{percent_decode, segments};
use super::{HttpApi, HttpError, HttpRequest, HttpResponse};

/// RFC 6455's GUID appended to the client's key.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Subprotocols served, most preferred first.
const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// How long the server waits for the client's close after its own.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// SHA-1 (FIPS 180-4), only for the WebSocket handshake's accept value.
#[allow(
    clippy::many_single_char_names,
    reason = "the standard's names: h, w, a..e, f, k, t"
)]
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0_u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..20 => ((b & c) | (!b & d), 0x5A82_7999),
                20..40 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..60 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (hi, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hi = hi.wrapping_add(v);
        }
    }
    let mut out = [0_u8; 20];
    for (chunk, v) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// The `Sec-WebSocket-Accept` answer to a `Sec-WebSocket-Key`.
pub fn websocket_accept(key: &str) -> String {
    let digest = sha1(format!("{}{WEBSOCKET_GUID}", key.trim()).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Whether a request asks for a WebSocket exec.
pub fn is_websocket_exec(request: &HttpRequest) -> bool {
    let path = request.uri.split('?').next().unwrap_or("");
    request.method == "GET"
        && path.ends_with("/exec")
        && request
            .headers
            .get("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
}

/// One server-to-client WebSocket frame (unmasked, final): `opcode` 2 is binary, 8 close.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(u8::try_from(n).unwrap_or(0)),
        n if u16::try_from(n).is_ok() => {
            out.push(126);
            out.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// A binary message on a channel.
fn channel(id: u8, data: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(data.len() + 1);
    payload.push(id);
    payload.extend_from_slice(data);
    frame(2, &payload)
}

/// The error channel's status (upstream `remotecommand` v4 protocol).
fn exit_status(command: &[String], exit_code: i32) -> Vec<u8> {
    let status = if exit_code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {},
            "status": "Failure",
            "message": format!(
                "command terminated with non-zero exit code: error executing command [{}], exit code {exit_code}",
                command.join(" ")
            ),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": exit_code.to_string()}]},
        })
    };
    serde_json::to_vec(&status).unwrap_or_default()
}

/// Everything the server sends after the upgrade.
fn messages(command: &[String], output: &ExecOutput) -> Vec<u8> {
    let mut out = Vec::new();
    if !output.stdout.is_empty() {
        out.extend(channel(1, &output.stdout));
    }
    if !output.stderr.is_empty() {
        out.extend(channel(2, &output.stderr));
    }
    out.extend(channel(3, &exit_status(command, output.exit_code)));
    out.extend(frame(8, &1000_u16.to_be_bytes()));
    out
}

/// A prepared upgrade: the response headers and what to send once upgraded.
pub struct Upgrade {
    /// `Sec-WebSocket-Accept`.
    pub accept: String,
    /// The chosen subprotocol.
    pub protocol: &'static str,
    /// The frames to send.
    pub frames: Vec<u8>,
}

impl HttpApi {
    /// Runs the exec a WebSocket request asks for; `Err` is the HTTP error to answer instead
    /// of upgrading.
    pub(super) async fn websocket_exec(
        &self,
        request: &HttpRequest,
    ) -> Result<Upgrade, HttpResponse> {
        let fail = |e: &HttpError| HttpResponse::error(e);
        let user = self.authenticate(request).map_err(|e| fail(&e))?;
        let (path, query) = request.uri.split_once('?').unwrap_or((&request.uri, ""));
        let parts = segments(path);
        let (namespace, name) = match parts.as_slice() {
            [api, v1, namespaces, ns, pods, name, exec]
                if api == "api"
                    && v1 == "v1"
                    && namespaces == "namespaces"
                    && pods == "pods"
                    && exec == "exec" =>
            {
                (ns.clone(), name.clone())
            }
            _ => return Err(fail(&HttpError::not_found_path())),
        };
        let key = request
            .headers
            .get("sec-websocket-key")
            .ok_or_else(|| fail(&HttpError::bad_request("missing Sec-WebSocket-Key")))?;
        let offered = request
            .headers
            .get("sec-websocket-protocol")
            .cloned()
            .unwrap_or_default();
        let protocol = PROTOCOLS
            .into_iter()
            .find(|p| offered.split(',').any(|o| o.trim() == *p))
            .ok_or_else(|| {
                fail(&HttpError::bad_request(format!(
                    "none of the subprotocols {offered:?} is supported; this server speaks {}",
                    PROTOCOLS.join(", ")
                )))
            })?;
        // `command` repeats, one argument each.
        let mut command = Vec::new();
        let mut container = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match percent_decode(k, true).as_str() {
                "command" => command.push(percent_decode(v, true)),
                "container" => container = Some(percent_decode(v, true)).filter(|c| !c.is_empty()),
                _ => {}
            }
        }
        let exec = Request::PodExec {
            namespace,
            name,
            params: ExecParams {
                container,
                command: command.clone(),
            },
        };
        let output = match self.handler.call(&user, exec).await {
            Ok(Response::Exec(output)) => output,
            Ok(_) => return Err(fail(&super::unexpected())),
            Err(status) => return Err(fail(&super::wire_error(status))),
        };
        Ok(Upgrade {
            accept: websocket_accept(key),
            protocol,
            frames: messages(&command, &output),
        })
    }
}

/// Sends the frames on the upgraded connection, then waits (bounded) for the client's close.
pub async fn send(upgraded: hyper::upgrade::Upgraded, frames: Vec<u8>) {
    let mut io = hyper_util::rt::TokioIo::new(upgraded);
    if io.write_all(&frames).await.is_err() || io.flush().await.is_err() {
        return;
    }
    let mut sink = [0_u8; 1024];
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Ok(n) = io.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    let _ = io.shutdown().await;
}

/// The 101 response of an upgrade.
pub fn switching_protocols(upgrade: &Upgrade) -> hyper::Response<super::Payload> {
    let mut out = hyper::Response::new(super::Payload(super::PayloadInner::Full(Some(
        Bytes::new(),
    ))));
    *out.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
    let headers = out.headers_mut();
    for (name, value) in [
        ("upgrade", "websocket".to_owned()),
        ("connection", "Upgrade".to_owned()),
        ("sec-websocket-accept", upgrade.accept.clone()),
        ("sec-websocket-protocol", upgrade.protocol.to_owned()),
    ] {
        if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_accepts_rfc_6455s_example_key() {
        // RFC 6455 §1.3.
        assert_eq!(
            websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(
            sha1(b"abc").iter().fold(String::new(), |mut s, b| {
                use std::fmt::Write as _;
                let _ = write!(s, "{b:02x}");
                s
            }),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn messages_carry_the_channel_then_the_exit_status() {
        let out = messages(
            &["sh".into(), "-c".into(), "exit 3".into()],
            &ExecOutput {
                stdout: b"hi\n".to_vec(),
                stderr: Vec::new(),
                exit_code: 3,
            },
        );
        assert_eq!(&out[..6], &[0x82, 4, 1, b'h', b'i', b'\n']);
        // The status is longer than 125 bytes: a 16-bit length follows 126.
        assert_eq!(&out[6..8], &[0x82, 126]);
        let len = usize::from(u16::from_be_bytes([out[8], out[9]]));
        assert_eq!(out[10], 3, "the error channel");
        let status: serde_json::Value = serde_json::from_slice(&out[11..10 + len]).unwrap();
        assert_eq!(status["reason"], "NonZeroExitCode");
        assert_eq!(status["details"]["causes"][0]["message"], "3");
        assert_eq!(&out[out.len() - 4..], &[0x88, 2, 0x03, 0xe8]);
    }
}
