//! skiff's own wire protocol (DESIGN.md, "Wire"): length-prefixed bincode frames over
//! `tokio::net::TcpStream` — real TCP normally, simulated TCP under `--cfg madsim` — between
//! the API server and kubelets, kube-proxies, remote controllers and the CLI.
//!
//! This module holds the framing and the messages; [`decode_frame`] is the body of the
//! `wire_frame` fuzz target. The server and client loops build on it.

mod conn;
pub mod endpoints;
mod frame;
mod member;
mod message;

pub use conn::{
    ACCEPT_LOOPS, Handler, ItemStream, OUTBOX_FRAMES_MAX, RemoteStream, STREAM_BUFFER_ITEMS_MAX,
    WATCH_BUFFER_EVENTS_MAX, WireClient, serve, serve_member,
};
pub use frame::{FRAME_BYTES_MAX, FrameError, LENGTH_PREFIX_BYTES, Split, frame, split_frame};
pub use member::{MemberInfo, Membership, RaftStatus};
pub use message::{
    ClientMessage, EtcdRange, EtcdStatus, PROTOCOL_VERSION, Request, Response, ServerMessage,
    StreamItem,
};

/// Decodes every whole frame at the start of arbitrary bytes as both a client and a server
/// message, as a server and a client would. The body of the `wire_frame` fuzz target: it must
/// never panic, never allocate beyond [`FRAME_BYTES_MAX`] per frame, and every message that
/// decodes must survive a round trip: re-encoded and decoded again it is the same message, and
/// its encoding is stable. (bincode's varints accept non-minimal forms such as `251 1 0` for
/// 1; the wire, unlike the log, does not insist on one encoding per value — a message means
/// what it decodes to.)
///
/// # Panics
///
/// When a decoded message does not round-trip (a codec bug).
pub fn decode_frame(mut bytes: &[u8]) {
    fn round_trip<M: PartialEq + std::fmt::Debug>(
        message: &M,
        encode: impl Fn(&M) -> Vec<u8>,
        decode: impl Fn(&[u8]) -> Result<M, FrameError>,
        side: &str,
    ) {
        let frame = encode(message);
        let again = decode(&frame[LENGTH_PREFIX_BYTES..])
            .unwrap_or_else(|e| panic!("{side} message re-encodes undecodably: {e}"));
        assert_eq!(&again, message, "{side} message changes in a round trip");
        assert_eq!(encode(&again), frame, "{side} message encoding is unstable");
    }
    while let Ok(Split::Frame { payload, consumed }) = split_frame(bytes) {
        if let Ok(message) = ClientMessage::decode(payload) {
            round_trip(
                &message,
                |m| m.to_frame().expect("a decoded message encodes"),
                ClientMessage::decode,
                "client",
            );
        }
        if let Ok(message) = ServerMessage::decode(payload) {
            round_trip(
                &message,
                |m| m.to_frame().expect("a decoded message encodes"),
                ServerMessage::decode,
                "server",
            );
        }
        bytes = &bytes[consumed..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_core::object::{ConfigMap, ObjectMeta};

    #[test]
    fn messages_round_trip_through_frames() {
        let cm = ConfigMap {
            metadata: ObjectMeta::named("settings"),
            ..ConfigMap::default()
        };
        let messages = [
            ClientMessage::Hello {
                protocol: PROTOCOL_VERSION,
                token: "t0ken".into(),
            },
            ClientMessage::Request {
                id: 7,
                request: Request::Create {
                    namespace: Some("default".into()),
                    object: cm.into(),
                },
            },
            ClientMessage::Cancel { id: 7 },
        ];
        let mut stream = Vec::new();
        for m in &messages {
            stream.extend(m.to_frame().unwrap());
        }
        let mut decoded = Vec::new();
        let mut rest = &stream[..];
        while let Split::Frame { payload, consumed } = split_frame(rest).unwrap() {
            decoded.push(ClientMessage::decode(payload).unwrap());
            rest = &rest[consumed..];
            if rest.is_empty() {
                break;
            }
        }
        assert_eq!(decoded, messages);
        decode_frame(&stream);
    }

    #[test]
    fn trailing_bytes_in_a_payload_are_malformed() {
        let mut frame = ClientMessage::Cancel { id: 1 }.to_frame().unwrap();
        frame.push(0);
        let len = u32::try_from(frame.len() - LENGTH_PREFIX_BYTES).unwrap();
        frame[..LENGTH_PREFIX_BYTES].copy_from_slice(&len.to_le_bytes());
        let Split::Frame { payload, .. } = split_frame(&frame).unwrap() else {
            panic!()
        };
        assert_eq!(
            ClientMessage::decode(payload).unwrap_err(),
            FrameError::Malformed("1 trailing bytes after the message".into())
        );
    }
}
