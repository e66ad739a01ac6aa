//! `SelfSubjectAccessReview` bodies (`kubectl auth can-i`): JSON, or the protobuf kubectl's
//! typed client sends (`application/vnd.kubernetes.protobuf`): the `k8s\0` magic, then a
//! `runtime.Unknown` (1: typeMeta, 2: raw) whose raw bytes are the review (1: metadata,
//! 2: spec (1: resourceAttributes, 2: nonResourceAttributes), 3: status). Only the fields of
//! the question are read; field numbers as kubectl 1.33 encodes them.

use serde_json::{Value, json};

use super::encode::HttpError;

/// What a review asks: may the caller do `verb` on this resource (or non-resource path)?
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Question {
    /// Namespace; empty for cluster scope or every namespace.
    pub namespace: String,
    /// `get`, `create`, … (`*` for any).
    pub verb: String,
    /// API group (`""` for the core group).
    pub group: String,
    /// API version (informational).
    pub version: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource.
    pub subresource: String,
    /// Object name.
    pub name: String,
    /// A non-resource URL (`/healthz`), when the question is about one.
    pub path: Option<String>,
    /// The user asked about (a `SubjectAccessReview`); empty for the caller.
    pub user: String,
    /// That user's groups.
    pub groups: Vec<String>,
}

const MAGIC: &[u8] = b"k8s\x00";
/// Nesting read at most (the review is three levels deep).
const DEPTH_MAX: usize = 4;

fn invalid(why: &str) -> HttpError {
    HttpError::bad_request(format!(
        "SelfSubjectAccessReview in version \"v1\" cannot be handled as a SelfSubjectAccessReview: {why}"
    ))
}

fn varint(bytes: &[u8], at: &mut usize) -> Result<u64, HttpError> {
    let mut value = 0_u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes
            .get(*at)
            .ok_or_else(|| invalid("truncated protobuf"))?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(invalid("malformed varint"))
}

/// The length-delimited fields of a protobuf message, by field number (others skipped).
fn fields(bytes: &[u8]) -> Result<Vec<(u64, &[u8])>, HttpError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let key = varint(bytes, &mut at)?;
        match key & 7 {
            0 => {
                varint(bytes, &mut at)?;
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = usize::try_from(varint(bytes, &mut at)?)
                    .map_err(|_| invalid("field too long"))?;
                let end = at
                    .checked_add(len)
                    .filter(|end| *end <= bytes.len())
                    .ok_or_else(|| invalid("truncated protobuf"))?;
                out.push((key >> 3, &bytes[at..end]));
                at = end;
            }
            _ => return Err(invalid("unsupported protobuf wire type")),
        }
    }
    Ok(out)
}

fn field(bytes: &[u8], number: u64, depth: usize) -> Result<Option<&[u8]>, HttpError> {
    if depth > DEPTH_MAX {
        return Err(invalid("too deep"));
    }
    Ok(fields(bytes)?
        .into_iter()
        .find(|(n, _)| *n == number)
        .map(|(_, v)| v))
}

fn text(bytes: &[u8], number: u64) -> Result<String, HttpError> {
    Ok(field(bytes, number, 0)?
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default())
}

fn from_protobuf(body: &[u8]) -> Result<Question, HttpError> {
    let unknown = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| invalid("missing the k8s protobuf prefix"))?;
    if let Some(type_meta) = field(unknown, 1, 1)? {
        let kind = text(type_meta, 2)?;
        if !kind.is_empty() && kind != "SelfSubjectAccessReview" {
            return Err(invalid(&format!("unexpected kind {kind:?}")));
        }
    }
    let raw = field(unknown, 2, 1)?.unwrap_or_default();
    let spec = field(raw, 2, 2)?.unwrap_or_default();
    if let Some(attrs) = field(spec, 1, 3)? {
        return Ok(Question {
            namespace: text(attrs, 1)?,
            verb: text(attrs, 2)?,
            group: text(attrs, 3)?,
            version: text(attrs, 4)?,
            resource: text(attrs, 5)?,
            subresource: text(attrs, 6)?,
            name: text(attrs, 7)?,
            ..Question::default()
        });
    }
    if let Some(attrs) = field(spec, 2, 3)? {
        return Ok(Question {
            path: Some(text(attrs, 1)?),
            verb: text(attrs, 2)?,
            ..Question::default()
        });
    }
    Err(invalid(
        "spec: one of resourceAttributes, nonResourceAttributes is required",
    ))
}

fn from_json(body: &[u8], self_review: bool) -> Result<Question, HttpError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| invalid(&e.to_string()))?;
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let spec = &value["spec"];
    let (user, groups) = if self_review {
        (String::new(), Vec::new())
    } else {
        let groups = spec["groups"]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        (s(&spec["user"]), groups)
    };
    if !self_review && user.is_empty() && groups.is_empty() {
        return Err(HttpError::new(
            422,
            "Invalid",
            "SubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.user: Invalid value: \"\": at least one of user or group must be specified",
        ));
    }
    if let Some(attrs) = spec.get("resourceAttributes") {
        return Ok(Question {
            user,
            groups,
            namespace: s(&attrs["namespace"]),
            verb: s(&attrs["verb"]),
            group: s(&attrs["group"]),
            version: s(&attrs["version"]),
            resource: s(&attrs["resource"]),
            subresource: s(&attrs["subresource"]),
            name: s(&attrs["name"]),
            path: None,
        });
    }
    if let Some(attrs) = spec.get("nonResourceAttributes") {
        return Ok(Question {
            user,
            groups,
            path: Some(s(&attrs["path"])),
            verb: s(&attrs["verb"]),
            ..Question::default()
        });
    }
    Err(invalid(
        "spec: one of resourceAttributes, nonResourceAttributes is required",
    ))
}

/// Reads a review body of `content_type`: a `SelfSubjectAccessReview` (JSON or protobuf) or,
/// with `self_review` false, a `SubjectAccessReview` (JSON) naming a user or groups.
pub fn decode(content_type: &str, body: &[u8], self_review: bool) -> Result<Question, HttpError> {
    match content_type {
        "application/vnd.kubernetes.protobuf" if self_review => from_protobuf(body),
        "" | "application/json" | "*/*" => from_json(body, self_review),
        _ => Err(super::patch::unsupported_media_type(&[
            "application/json",
            "application/vnd.kubernetes.protobuf",
        ])),
    }
}

/// The answered review (JSON; kubectl accepts JSON though it sent protobuf).
pub fn answer(question: &Question, self_review: bool, allowed: bool, reason: &str) -> Value {
    let mut spec = match &question.path {
        Some(path) => json!({"nonResourceAttributes": {"path": path, "verb": question.verb}}),
        None => json!({"resourceAttributes": {
            "namespace": question.namespace, "verb": question.verb, "group": question.group,
            "version": question.version, "resource": question.resource,
            "subresource": question.subresource, "name": question.name}}),
    };
    if !self_review {
        spec["user"] = question.user.clone().into();
        spec["groups"] = json!(question.groups);
    }
    let mut status = json!({"allowed": allowed});
    if !reason.is_empty() {
        status["reason"] = reason.into();
    }
    json!({
        "kind": if self_review { "SelfSubjectAccessReview" } else { "SubjectAccessReview" },
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {},
        "spec": spec,
        "status": status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubectl 1.33's body for `auth can-i create pods --subresource=status -n kube-system`.
    const KUBECTL: &[u8] = b"k8s\x00\n2\n\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview\x12I\n\x10\n\x00\x12\x00\x1a\x00\"\x00*\x002\x008\x00B\x00\x12+\n)\n\x0bkube-system\x12\x06create\x1a\x00\"\x00*\x04pods2\x06status:\x00\x1a\x08\x08\x00\x12\x00\x1a\x00 \x00\x1a\x00\"\x00";

    #[test]
    fn kubectls_protobuf_review_decodes() {
        assert_eq!(
            decode("application/vnd.kubernetes.protobuf", KUBECTL, true).unwrap(),
            Question {
                namespace: "kube-system".into(),
                verb: "create".into(),
                resource: "pods".into(),
                subresource: "status".into(),
                ..Question::default()
            }
        );
    }

    #[test]
    fn truncated_protobuf_is_a_bad_request_not_a_panic() {
        for end in 0..KUBECTL.len() {
            let _ = decode("application/vnd.kubernetes.protobuf", &KUBECTL[..end], true);
        }
        assert_eq!(
            decode("application/vnd.kubernetes.protobuf", &KUBECTL[..20], true)
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn json_review_decodes() {
        let body = br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"verb":"list","group":"apps","resource":"deployments","namespace":"dev"}}}"#;
        assert_eq!(
            decode("application/json", body, true).unwrap(),
            Question {
                namespace: "dev".into(),
                verb: "list".into(),
                group: "apps".into(),
                resource: "deployments".into(),
                ..Question::default()
            }
        );
    }
}
