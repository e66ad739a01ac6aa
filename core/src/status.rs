//! Refusals of the API, shaped like upstream's `metav1.Status`: an HTTP code, a
//! machine-readable reason, a message in upstream's wording, and details (name, kind, causes).

use crate::validate::FieldError;

/// Upstream `metav1.StatusReason` values skiff returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
#[non_exhaustive]
pub enum Reason {
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 409, create of an existing name.
    AlreadyExists,
    /// 409, a stale resourceVersion or uid precondition.
    Conflict,
    /// 410, a resourceVersion below the compacted one.
    Expired,
    /// 422, validation failed.
    Invalid,
    /// 400.
    BadRequest,
    /// 405.
    MethodNotAllowed,
    /// 500.
    InternalError,
}

impl Reason {
    /// The HTTP status code.
    pub fn code(self) -> u16 {
        match self {
            Reason::Unauthorized => 401,
            Reason::Forbidden => 403,
            Reason::NotFound => 404,
            Reason::AlreadyExists | Reason::Conflict => 409,
            Reason::Expired => 410,
            Reason::Invalid => 422,
            Reason::BadRequest => 400,
            Reason::MethodNotAllowed => 405,
            Reason::InternalError => 500,
        }
    }

    /// The reason as upstream spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::NotFound => "NotFound",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Expired => "Expired",
            Reason::Invalid => "Invalid",
            Reason::BadRequest => "BadRequest",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::InternalError => "InternalError",
        }
    }
}

/// One cause of an `Invalid` status (upstream `StatusCause`).
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, … (upstream `CauseType`).
    pub reason: String,
    /// The field path.
    pub field: String,
    /// The field error rendered as upstream prints it.
    pub message: String,
}

/// A refused request, as upstream's `metav1.Status` with `status: Failure`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, bincode::Encode, bincode::Decode)]
#[error("{message}")]
pub struct Status {
    /// Why.
    pub reason: Reason,
    /// Upstream's message, e.g. `pods "nginx" not found`.
    pub message: String,
    /// The object's name, when the status is about one.
    pub name: Option<String>,
    /// The resource (plural), when the status is about one.
    pub kind: Option<String>,
    /// Field-level causes of an `Invalid` status.
    pub causes: Vec<Cause>,
}

impl Status {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        self.reason.code()
    }

    /// `<resource> "<name>" not found`.
    pub fn not_found(resource: &str, name: &str) -> Self {
        Self::about(
            Reason::NotFound,
            resource,
            name,
            format!("{resource} \"{name}\" not found"),
        )
    }

    /// `<resource> "<name>" already exists`.
    pub fn already_exists(resource: &str, name: &str) -> Self {
        Self::about(
            Reason::AlreadyExists,
            resource,
            name,
            format!("{resource} \"{name}\" already exists"),
        )
    }

    /// upstream's optimistic-concurrency conflict.
    pub fn conflict(resource: &str, name: &str, why: &str) -> Self {
        Self::about(
            Reason::Conflict,
            resource,
            name,
            format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"),
        )
    }

    /// `<Kind> "<name>" is invalid: <errors joined by ", ">` (upstream `NewInvalid`).
    ///
    /// As upstream, the details name the *kind* (`kind` is the qualified kind of the message,
    /// `Deployment.apps`; the HTTP API splits it into `details.kind` and `details.group`), and
    /// each cause carries its field apart from its message (`field.Error.ErrorBody()`, the
    /// error without the field path), so clients that print `<field>: <message>` — kubectl
    /// does — show the path once.
    pub fn invalid(kind: &str, name: &str, errors: &[FieldError]) -> Self {
        let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let message = match rendered.as_slice() {
            [one] => format!("{kind} \"{name}\" is invalid: {one}"),
            many => format!("{kind} \"{name}\" is invalid: [{}]", many.join(", ")),
        };
        let causes = errors
            .iter()
            .zip(&rendered)
            .map(|(e, text)| Cause {
                reason: cause_type(e).to_owned(),
                field: e.field.clone(),
                message: text
                    .strip_prefix(&format!("{}: ", e.field))
                    .unwrap_or(text)
                    .to_owned(),
            })
            .collect();
        Status {
            causes,
            ..Self::about(Reason::Invalid, kind, name, message)
        }
    }

    /// A request the server cannot make sense of.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Status {
            reason: Reason::BadRequest,
            message: message.into(),
            name: None,
            kind: None,
            causes: Vec::new(),
        }
    }

    fn about(reason: Reason, resource: &str, name: &str, message: String) -> Self {
        Status {
            reason,
            message,
            name: Some(name.to_owned()),
            kind: Some(resource.to_owned()),
            causes: Vec::new(),
        }
    }
}

fn cause_type(error: &FieldError) -> &'static str {
    use crate::validate::FieldErrorType as T;
    match error.error_type {
        T::Required => "FieldValueRequired",
        T::NotSupported(..) => "FieldValueNotSupported",
        T::Duplicate(_) => "FieldValueDuplicate",
        T::TooLong(_) => "FieldValueTooLong",
        T::Forbidden => "FieldValueForbidden",
        T::NotFound(_) => "FieldValueNotFound",
        _ => "FieldValueInvalid",
    }
}
