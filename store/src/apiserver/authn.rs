//! Authentication (seed §4 step 2): turning a bearer token into a [`UserInfo`].
//!
//! Upstream kube-apiserver runs a union of token authenticators (static token file, service
//! account tokens, bootstrap tokens, …), then an "authenticated group adder" that appends
//! `system:authenticated`, then — only when the request carried no credentials at all and
//! `--anonymous-auth` is on — the anonymous authenticator (`system:anonymous` in
//! `system:unauthenticated`). A bad token is never treated as anonymous: upstream wraps the
//! chain in `union.NewFailOnError` so that an invalid bearer token is a 401 even with
//! anonymous access enabled. Every refusal is `Status` 401 with reason and message
//! `Unauthorized` (upstream `filters/authentication.go`, `apierrors.NewUnauthorized("Unauthorized")`).
//!
//! skiff's token kinds:
//! - the **bootstrap admin token**: user `admin` in `system:masters` (bound to `cluster-admin`);
//! - a **static token file** in upstream's `--token-auth-file` CSV format
//!   (`token,user,uid,"group1,group2"`), parsed with Go `encoding/csv` semantics;
//! - **service-account tokens** issued by [`Authenticator::issue_service_account_token`]: user
//!   `system:serviceaccount:<ns>:<name>` in `system:serviceaccounts` and
//!   `system:serviceaccounts:<ns>`;
//! - **node tokens** issued by [`Authenticator::issue_node_token`]: user `system:node:<name>` in
//!   `system:nodes` (what the Node authorizer and NodeRestriction recognise).
//!
//! # Token format and its strength
//! Issued tokens are `skiff-sa_<namespace>_<name>_<mac>` and `skiff-node_<name>_<mac>`, where
//! `<mac>` is HMAC-SHA256 (RFC 2104 over FIPS 180-4 SHA-256, implemented below and checked
//! against the RFC 4231 vectors) of a domain-separated message under a 256-bit server key. `_`
//! never occurs in a DNS name, so the split is unambiguous. The construction is a standard
//! MAC, but the *key* is only as secret as its source: [`Authenticator::new`] derives it from a
//! `SplitMix64` seed (deterministic by design, for the simulator), which gives at most 64 bits
//! of entropy and is reproducible by anyone who knows the seed. Before production use, build
//! the authenticator with [`Authenticator::with_key`] from OS randomness, and replace the
//! home-made SHA-256 with an audited crate. Issued tokens never expire and cannot be revoked
//! one by one (rotate the key); upstream's bound service-account tokens are JWTs with expiry
//! and a pod binding, which skiff does not model yet.

use std::collections::BTreeMap;
use std::fmt;

use skiff_core::rng::SplitMix64;
use skiff_core::secret::constant_time_eq;

use super::status::{Reason, Status};

/// The user of requests without credentials when anonymous access is on (upstream `user.Anonymous`).
pub const USER_ANONYMOUS: &str = "system:anonymous";
/// The group of anonymous requests (upstream `user.AllUnauthenticated`).
pub const GROUP_UNAUTHENTICATED: &str = "system:unauthenticated";
/// The group every authenticated user gets (upstream `user.AllAuthenticated`).
pub const GROUP_AUTHENTICATED: &str = "system:authenticated";
/// The superuser group, bound to `cluster-admin` (upstream `user.SystemPrivilegedGroup`).
pub const GROUP_MASTERS: &str = "system:masters";
/// The group of node identities (upstream `user.NodesGroup`).
pub const GROUP_NODES: &str = "system:nodes";
/// The group of every service account (upstream `serviceaccount.AllServiceAccountsGroup`).
pub const GROUP_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
/// Prefix of node user names (upstream `nodeidentifier`: `system:node:<name>`).
pub const NODE_USER_PREFIX: &str = "system:node:";
/// Prefix of service-account user names (upstream `serviceaccount.ServiceAccountUsernamePrefix`).
pub const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";
/// The user of the bootstrap admin token.
pub const ADMIN_USER: &str = "admin";
/// Largest token file accepted, so a wrong path (a disk image, say) fails fast instead of
/// filling memory. Upstream has no limit; a token file of 16 MiB holds ~100k users.
pub const TOKEN_FILE_BYTES_MAX: usize = 16 << 20;

const SERVICE_ACCOUNT_TOKEN_PREFIX: &str = "skiff-sa";
const NODE_TOKEN_PREFIX: &str = "skiff-node";
const TOKEN_SEPARATOR: char = '_';

/// Who made a request (upstream `user.Info`, without `extra`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name, e.g. `jane` or `system:serviceaccount:dev:reader`.
    pub name: String,
    /// A unique id, when the authenticator knows one.
    pub uid: Option<String>,
    /// The groups the user belongs to, in the order the authenticator gave them.
    pub groups: Vec<String>,
}

impl UserInfo {
    /// A user with these groups (nothing appended).
    pub fn new(name: impl Into<String>, groups: &[&str]) -> Self {
        Self {
            name: name.into(),
            uid: None,
            groups: groups.iter().map(ToString::to_string).collect(),
        }
    }

    /// `system:anonymous` in `system:unauthenticated` (upstream `anonymous.NewAuthenticator`).
    pub fn anonymous() -> Self {
        Self::new(USER_ANONYMOUS, &[GROUP_UNAUTHENTICATED])
    }

    /// The bootstrap admin: `admin` in `system:masters` and `system:authenticated`.
    pub fn admin() -> Self {
        Self::new(ADMIN_USER, &[GROUP_MASTERS, GROUP_AUTHENTICATED])
    }

    /// A service account as its token authenticates it (upstream `serviceaccount.UserInfo`
    /// plus the authenticated group).
    pub fn for_service_account(namespace: &str, name: &str) -> Self {
        Self {
            name: format!("{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}"),
            uid: None,
            groups: vec![
                GROUP_SERVICE_ACCOUNTS.to_owned(),
                format!("{GROUP_SERVICE_ACCOUNTS}:{namespace}"),
                GROUP_AUTHENTICATED.to_owned(),
            ],
        }
    }

    /// A node (kubelet) as its token authenticates it: `system:node:<name>` in `system:nodes`.
    pub fn for_node(name: &str) -> Self {
        Self::new(
            format!("{NODE_USER_PREFIX}{name}"),
            &[GROUP_NODES, GROUP_AUTHENTICATED],
        )
    }

    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The node this user speaks for (upstream `nodeidentifier.NodeIdentity`): `Some` only for
    /// a `system:node:` name in the `system:nodes` group; the name may be empty, which the
    /// Node authorizer refuses as an unidentifiable node.
    pub fn node_identity(&self) -> Option<&str> {
        let name = self.name.strip_prefix(NODE_USER_PREFIX)?;
        self.in_group(GROUP_NODES).then_some(name)
    }

    /// Whether this user is the service account `namespace/name` (upstream
    /// `serviceaccount.MatchesUsername`).
    pub fn is_service_account(&self, namespace: &str, name: &str) -> bool {
        self.name
            .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)
            .and_then(|rest| rest.strip_prefix(namespace))
            .and_then(|rest| rest.strip_prefix(':'))
            == Some(name)
    }

    /// Upstream's `AuthenticatedGroupAdder`: every authenticated user but the anonymous one is
    /// in `system:authenticated` (appended unless it, or `system:unauthenticated`, is there).
    #[must_use]
    pub fn with_authenticated_group(mut self) -> Self {
        if self.name != USER_ANONYMOUS
            && !self.in_group(GROUP_AUTHENTICATED)
            && !self.in_group(GROUP_UNAUTHENTICATED)
        {
            self.groups.push(GROUP_AUTHENTICATED.to_owned());
        }
        self
    }
}

/// The 401 every authentication failure returns (upstream's message is the reason itself).
pub fn unauthorized() -> Status {
    Status {
        reason: Reason::Unauthorized,
        message: "Unauthorized".to_owned(),
        name: None,
        kind: None,
        causes: Vec::new(),
    }
}

/// Maps bearer tokens to users.
///
/// # Guarantees
/// - A request with a token that no authenticator accepts is refused (401), also when
///   anonymous access is on.
/// - A request without credentials is anonymous only when anonymous access was enabled.
/// - Issued tokens verify only under the key that issued them, and only for the exact
///   namespace and name (or node name) they were issued for.
#[derive(Clone)]
pub struct Authenticator {
    key: [u8; 32],
    admin_token: String,
    static_tokens: BTreeMap<String, UserInfo>,
    anonymous: bool,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key or the tokens.
        f.debug_struct("Authenticator")
            .field("static_tokens", &self.static_tokens.len())
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator whose signing key and admin token come from a generator seeded with
    /// `seed`. Deterministic, for tests and the simulator: see the module doc on strength.
    pub fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut key = [0_u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        let admin_token = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
        Self::with_key(key, admin_token)
    }

    /// An authenticator with an explicit signing key and bootstrap admin token.
    ///
    /// # Panics
    /// If `admin_token` is empty (an empty token would be "no credentials").
    pub fn with_key(key: [u8; 32], admin_token: impl Into<String>) -> Self {
        let admin_token = admin_token.into();
        assert!(!admin_token.is_empty(), "the admin token must not be empty");
        Self {
            key,
            admin_token,
            static_tokens: BTreeMap::new(),
            anonymous: false,
        }
    }

    /// Turns anonymous access on or off (upstream `--anonymous-auth`; off by default here,
    /// as kubeadm-hardened clusters run it).
    #[must_use]
    pub fn with_anonymous(mut self, enabled: bool) -> Self {
        self.anonymous = enabled;
        self
    }

    /// The bootstrap admin token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Adds the users of a token file (see [`parse_token_file`]); `path` only names the file
    /// in errors. A token already known is replaced, as a later line of one file replaces an
    /// earlier one upstream.
    pub fn load_token_file(&mut self, path: &str, text: &str) -> Result<usize, TokenFileError> {
        let tokens = parse_token_file(path, text)?;
        let count = tokens.len();
        self.static_tokens.extend(tokens);
        Ok(count)
    }

    /// A token for the service account `namespace/name`.
    ///
    /// # Panics
    /// If `namespace` or `name` is empty or contains `_` (neither occurs in a valid DNS name,
    /// which the API server checks before it issues tokens).
    pub fn issue_service_account_token(&self, namespace: &str, name: &str) -> String {
        assert_token_part(namespace);
        assert_token_part(name);
        let mac = self.mac(&[SERVICE_ACCOUNT_TOKEN_PREFIX, namespace, name]);
        format!("{SERVICE_ACCOUNT_TOKEN_PREFIX}_{namespace}_{name}_{mac}")
    }

    /// A token for the kubelet of node `name`.
    ///
    /// # Panics
    /// If `name` is empty or contains `_`.
    pub fn issue_node_token(&self, name: &str) -> String {
        assert_token_part(name);
        let mac = self.mac(&[NODE_TOKEN_PREFIX, name]);
        format!("{NODE_TOKEN_PREFIX}_{name}_{mac}")
    }

    /// Authenticates a request by its bearer token (`None` or empty: no credentials).
    ///
    /// # Errors
    /// `Status` 401 `Unauthorized` for an unknown token, or for no token while anonymous
    /// access is off.
    pub fn authenticate(&self, bearer: Option<&str>) -> Result<UserInfo, Status> {
        let Some(token) = bearer.filter(|t| !t.is_empty()) else {
            return if self.anonymous {
                Ok(UserInfo::anonymous())
            } else {
                Err(unauthorized())
            };
        };
        let user = if constant_time_eq(token.as_bytes(), self.admin_token.as_bytes()) {
            UserInfo::admin()
        } else if let Some(user) = self.static_tokens.get(token) {
            user.clone()
        } else if let Some(user) = self.verify_issued(token) {
            user
        } else {
            return Err(unauthorized());
        };
        Ok(user.with_authenticated_group())
    }

    /// Authenticates by an HTTP `Authorization` header value. As upstream's bearer-token
    /// authenticator (`request/bearertoken`): the value is trimmed and split at spaces; only
    /// `Bearer <token>` (scheme case-insensitive) carries a token, the second word; any other
    /// header, or none, is a request without credentials.
    pub fn authenticate_header(&self, authorization: Option<&str>) -> Result<UserInfo, Status> {
        let token = authorization.and_then(|value| {
            let mut parts = value.trim().splitn(3, ' ');
            let scheme = parts.next()?;
            let token = parts.next()?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        });
        self.authenticate(token)
    }

    fn verify_issued(&self, token: &str) -> Option<UserInfo> {
        let parts: Vec<&str> = token.split(TOKEN_SEPARATOR).collect();
        match parts.as_slice() {
            [SERVICE_ACCOUNT_TOKEN_PREFIX, namespace, name, mac]
                if !namespace.is_empty() && !name.is_empty() =>
            {
                let expected = self.mac(&[SERVICE_ACCOUNT_TOKEN_PREFIX, namespace, name]);
                constant_time_eq(expected.as_bytes(), mac.as_bytes())
                    .then(|| UserInfo::for_service_account(namespace, name))
            }
            [NODE_TOKEN_PREFIX, name, mac] if !name.is_empty() => {
                let expected = self.mac(&[NODE_TOKEN_PREFIX, name]);
                constant_time_eq(expected.as_bytes(), mac.as_bytes())
                    .then(|| UserInfo::for_node(name))
            }
            _ => None,
        }
    }

    /// Lowercase hex of HMAC-SHA256 over the parts joined by NUL (no part contains NUL, so the
    /// encoding is injective and the token kinds cannot be confused with one another).
    fn mac(&self, parts: &[&str]) -> String {
        let message = parts.join("\0");
        let tag = hmac_sha256(&self.key, message.as_bytes());
        hex(&tag)
    }
}

fn assert_token_part(part: &str) {
    assert!(
        !part.is_empty() && !part.contains(TOKEN_SEPARATOR) && !part.contains('\0'),
        "cannot issue a token for {part:?}: empty or contains '_'"
    );
}

// ---------------------------------------------------------------------------------------------
// Static token file
// ---------------------------------------------------------------------------------------------

/// Why a token file was refused. CSV errors print as Go's `csv.ParseError` does (what
/// upstream returns for them); the column-count error is upstream's message with the record's
/// line added in Go's `record on line N:` form (upstream omits the line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFileError {
    /// Malformed CSV.
    #[error(transparent)]
    Csv(#[from] CsvError),
    /// A record with fewer than the three required columns.
    #[error(
        "record on line {line}: token file '{path}' must have at least 3 columns (token, user name, user uid), found {found}"
    )]
    TooFewColumns {
        /// The file, as given.
        path: String,
        /// Line the record starts on.
        line: u32,
        /// Columns found.
        found: usize,
    },
    /// The file is larger than [`TOKEN_FILE_BYTES_MAX`].
    #[error("token file '{path}' is {bytes} bytes, more than the {TOKEN_FILE_BYTES_MAX} allowed")]
    TooLarge {
        /// The file, as given.
        path: String,
        /// Its size.
        bytes: usize,
    },
}

/// Go `encoding/csv` error kinds that its default reader can return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvErrorKind {
    /// `ErrBareQuote`: a `"` inside an unquoted field.
    BareQuote,
    /// `ErrQuote`: a quoted field not closed, or followed by something other than a comma.
    Quote,
}

impl fmt::Display for CsvErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CsvErrorKind::BareQuote => "bare \" in non-quoted-field",
            CsvErrorKind::Quote => "extraneous or missing \" in quoted-field",
        })
    }
}

/// A CSV syntax error at a position (Go's `csv.ParseError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvError {
    /// Line the record starts on (1-based).
    pub start_line: u32,
    /// Line of the error (1-based).
    pub line: u32,
    /// Column of the error (1-based byte index, as Go's).
    pub column: u32,
    /// What is wrong.
    pub kind: CsvErrorKind,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Go `csv.ParseError.Error()`.
        let Self {
            start_line,
            line,
            column,
            kind,
        } = self;
        if start_line != line {
            write!(f, "record on line {start_line}; ")?;
        }
        write!(f, "parse error on line {line}, column {column}: {kind}")
    }
}

impl std::error::Error for CsvError {}

/// Parses an upstream `--token-auth-file`: CSV records `token,user,uid[,"group1,group2"]`, any
/// number of columns from three up (upstream sets `FieldsPerRecord = -1`), read with Go
/// `encoding/csv` defaults: `,` separator, `"` quoting with `""` for a quote, quoted fields may
/// span lines, `\r\n` read as `\n`, empty lines skipped, no comments, no space trimming.
///
/// As upstream: a record with an empty token is skipped; a repeated token replaces the earlier
/// one (both are logged); an empty uid is no uid; the fourth column is split at every comma,
/// so an empty fourth column yields one empty group name (upstream's `strings.Split`).
/// Users get no `system:authenticated` here; [`Authenticator::authenticate`] adds it.
///
/// # Errors
/// The first malformed record stops the parse (Go's reader stops at its first error).
pub fn parse_token_file(
    path: &str,
    text: &str,
) -> Result<BTreeMap<String, UserInfo>, TokenFileError> {
    if text.len() > TOKEN_FILE_BYTES_MAX {
        return Err(TokenFileError::TooLarge {
            path: path.to_owned(),
            bytes: text.len(),
        });
    }
    let mut tokens = BTreeMap::new();
    let mut reader = CsvReader::new(text);
    let mut record_number = 0_u32;
    while let Some((start_line, record)) = reader.read_record()? {
        if record.len() < 3 {
            return Err(TokenFileError::TooFewColumns {
                path: path.to_owned(),
                line: start_line,
                found: record.len(),
            });
        }
        record_number += 1;
        if record[0].is_empty() {
            tracing::warn!(
                "empty token has been found in token file '{path}', record number '{record_number}'"
            );
            continue;
        }
        let user = UserInfo {
            name: record[1].clone(),
            uid: Some(record[2].clone()).filter(|uid| !uid.is_empty()),
            groups: record
                .get(3)
                .map(|groups| groups.split(',').map(ToOwned::to_owned).collect())
                .unwrap_or_default(),
        };
        if tokens.insert(record[0].clone(), user).is_some() {
            tracing::warn!(
                "duplicate token has been found in token file '{path}', record number '{record_number}'"
            );
        }
    }
    Ok(tokens)
}

/// Go `encoding/csv.Reader` with its default settings, over a string.
struct CsvReader<'a> {
    rest: &'a str,
    /// Lines read so far (Go's `numLine`).
    line: u32,
}

impl<'a> CsvReader<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            rest: text,
            line: 0,
        }
    }

    /// The next line, `\r\n` read as `\n` and a `\r` just before the end of input dropped
    /// (Go's `readLine`); `None` at the end. The last line may lack its `\n`.
    fn read_line(&mut self) -> Option<String> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match self.rest.find('\n') {
            Some(i) => self.rest.split_at(i + 1),
            None => (self.rest, ""),
        };
        self.rest = rest;
        self.line += 1;
        let mut line = line.to_owned();
        if line.ends_with("\r\n") {
            line.truncate(line.len() - 2);
            line.push('\n');
        } else if !line.ends_with('\n') && line.ends_with('\r') {
            line.pop();
        }
        Some(line)
    }

    /// One record and the line it starts on, or `None` at the end of input (Go's
    /// `readRecord`, columns and lines counted as it counts them).
    fn read_record(&mut self) -> Result<Option<(u32, Vec<String>)>, TokenFileError> {
        // Skip empty lines.
        let mut line = loop {
            match self.read_line() {
                None => return Ok(None),
                Some(l) if l == "\n" || l.is_empty() => {}
                Some(l) => break l,
            }
        };
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut column = 1_usize; // 1-based byte column within the current line
        let mut at = 0_usize; // byte offset within `line`
        loop {
            if !line[at..].starts_with('"') {
                // Unquoted field, up to the next comma or the end of the line.
                let rest = &line[at..];
                let newline = usize::from(rest.ends_with('\n'));
                let comma = rest.find(',');
                let field = &rest[..comma.unwrap_or(rest.len() - newline)];
                if let Some(j) = field.find('"') {
                    return Err(csv_error(
                        start_line,
                        self.line,
                        column + j,
                        CsvErrorKind::BareQuote,
                    ));
                }
                fields.push(field.to_owned());
                if let Some(i) = comma {
                    at += i + 1;
                    column += i + 1;
                    continue;
                }
                return Ok(Some((start_line, fields)));
            }
            // Quoted field.
            at += 1;
            column += 1;
            let mut field = String::new();
            loop {
                let rest = &line[at..];
                if let Some(i) = rest.find('"') {
                    field.push_str(&rest[..i]);
                    at += i + 1;
                    column += i + 1;
                    let after = &line[at..];
                    if after.starts_with('"') {
                        // `""`: a quote.
                        field.push('"');
                        at += 1;
                        column += 1;
                    } else if after.starts_with(',') {
                        at += 1;
                        column += 1;
                        fields.push(field);
                        break;
                    } else if after == "\n" || after.is_empty() {
                        fields.push(field);
                        return Ok(Some((start_line, fields)));
                    } else {
                        return Err(csv_error(
                            start_line,
                            self.line,
                            column - 1,
                            CsvErrorKind::Quote,
                        ));
                    }
                } else if !rest.is_empty() {
                    // The field goes on past the end of this line.
                    field.push_str(rest);
                    column += rest.len();
                    if let Some(next) = self.read_line() {
                        column = 1;
                        line = next;
                    } else {
                        line = String::new();
                    }
                    at = 0;
                } else {
                    // End of input inside a quoted field.
                    return Err(csv_error(
                        start_line,
                        self.line,
                        column,
                        CsvErrorKind::Quote,
                    ));
                }
            }
        }
    }
}

fn csv_error(start_line: u32, line: u32, column: usize, kind: CsvErrorKind) -> TokenFileError {
    TokenFileError::Csv(CsvError {
        start_line,
        line,
        column: u32::try_from(column).unwrap_or(u32::MAX),
        kind,
    })
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// HMAC-SHA256 (RFC 2104 over FIPS 180-4 SHA-256)
// ---------------------------------------------------------------------------------------------

const SHA256_BLOCK_BYTES: usize = 64;

/// SHA-256 round constants (FIPS 180-4 §4.2.2).
const SHA256_K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// SHA-256 initial hash value (FIPS 180-4 §5.3.3).
const SHA256_H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

#[allow(
    clippy::many_single_char_names,
    reason = "FIPS 180-4 names the message schedule w and the working variables a to h"
)]
fn sha256_compress(state: &mut [u32; 8], block: &[u8]) {
    debug_assert_eq!(block.len(), SHA256_BLOCK_BYTES);
    let mut w = [0_u32; 64];
    for (i, word) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16]
            .wrapping_add(s0)
            .wrapping_add(w[i - 7])
            .wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for i in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(SHA256_K[i])
            .wrapping_add(w[i]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = s.wrapping_add(v);
    }
}

/// SHA-256 of the concatenation of `parts`.
fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut state = SHA256_H0;
    let mut buffer = Vec::with_capacity(SHA256_BLOCK_BYTES * 2);
    let mut total_bytes = 0_u64;
    for part in parts {
        total_bytes += part.len() as u64;
        buffer.extend_from_slice(part);
        let full = buffer.len() / SHA256_BLOCK_BYTES * SHA256_BLOCK_BYTES;
        for block in buffer[..full].chunks_exact(SHA256_BLOCK_BYTES) {
            sha256_compress(&mut state, block);
        }
        buffer.drain(..full);
    }
    // Padding: 0x80, zeros, then the message length in bits (big-endian u64).
    buffer.push(0x80);
    while buffer.len() % SHA256_BLOCK_BYTES != SHA256_BLOCK_BYTES - 8 {
        buffer.push(0);
    }
    buffer.extend_from_slice(&(total_bytes.wrapping_mul(8)).to_be_bytes());
    for block in buffer.chunks_exact(SHA256_BLOCK_BYTES) {
        sha256_compress(&mut state, block);
    }
    let mut digest = [0_u8; 32];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// HMAC-SHA256 (RFC 2104): `H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m))`, keys longer than a block hashed.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block_key = [0_u8; SHA256_BLOCK_BYTES];
    if key.len() > SHA256_BLOCK_BYTES {
        block_key[..32].copy_from_slice(&sha256(&[key]));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let ipad = block_key.map(|b| b ^ 0x36);
    let opad = block_key.map(|b| b ^ 0x5c);
    let inner = sha256(&[&ipad, message]);
    sha256(&[&opad, &inner])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_fips_180_examples() {
        assert_eq!(
            hex(&sha256(&[b"abc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(&[b""])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(&[
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            ])),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        // Split input hashes like the whole.
        assert_eq!(sha256(&[b"ab", b"c"]), sha256(&[b"abc"]));
        let million_a = vec![b'a'; 1_000_000];
        assert_eq!(
            hex(&sha256(&[&million_a])),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // Test case 1.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn node_identity_needs_prefix_and_group() {
        assert_eq!(UserInfo::for_node("w1").node_identity(), Some("w1"));
        assert_eq!(
            UserInfo::new("system:node:w1", &[]).node_identity(),
            None,
            "no system:nodes group"
        );
        assert_eq!(UserInfo::new("w1", &[GROUP_NODES]).node_identity(), None);
        assert_eq!(
            UserInfo::new("system:node:", &[GROUP_NODES]).node_identity(),
            Some("")
        );
    }

    #[test]
    fn service_account_match_is_exact() {
        let sa = UserInfo::for_service_account("dev", "reader");
        assert!(sa.is_service_account("dev", "reader"));
        assert!(!sa.is_service_account("de", "v:reader"));
        assert!(!sa.is_service_account("dev", "read"));
    }
}
