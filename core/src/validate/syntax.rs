//! String syntax checks with upstream's messages (apimachinery `util/validation`,
//! `api/validation/path`), each returning the list of messages (empty when valid), as upstream's
//! `Is…` functions do.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(crate) use crate::selector::syntax::regex_error;
use crate::selector::syntax::{
    validate_dns1123_label, validate_dns1123_subdomain, validate_label_key, validate_label_value,
};

/// upstream `apimachineryvalidation.IsNegativeErrorMsg`.
pub(crate) const IS_NEGATIVE: &str = "must be greater than or equal to 0";
/// upstream core validation `isNotPositiveErrorMsg`.
pub(crate) const NOT_POSITIVE: &str = "must be greater than zero";
/// upstream core validation `isNotIntegerErrorMsg`.
pub(crate) const NOT_INTEGER: &str = "must be an integer";
/// upstream core validation `fileModeErrorMsg`.
pub(crate) const FILE_MODE: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// Longest RFC 1035 label (upstream `DNS1035LabelMaxLength`).
const DNS1035_LABEL_BYTES_MAX: usize = 63;
/// Longest IANA service name used as a port name (upstream `IsValidPortName`).
const PORT_NAME_BYTES_MAX: usize = 15;
/// Longest ConfigMap/Secret key (upstream `IsConfigMapKey` uses `DNS1123SubdomainMaxLength`).
const CONFIG_MAP_KEY_BYTES_MAX: usize = 253;

/// Splits a `; `-joined message list from `crate::selector::syntax` back into upstream's
/// separate messages (upstream reports one field error per message). No single upstream
/// message contains `; `.
fn split(result: Result<(), String>) -> Vec<String> {
    match result {
        Ok(()) => Vec::new(),
        Err(joined) => joined.split("; ").map(str::to_owned).collect(),
    }
}

/// upstream `IsQualifiedName` (a label key, a finalizer, a resource name, …).
pub(crate) fn qualified_name(value: &str) -> Vec<String> {
    split(validate_label_key(value))
}

/// upstream `IsValidLabelValue`.
pub(crate) fn label_value(value: &str) -> Vec<String> {
    split(validate_label_value(value))
}

/// upstream `IsDNS1123Label`.
pub(crate) fn dns1123_label(value: &str) -> Vec<String> {
    split(validate_dns1123_label(value))
}

/// upstream `IsDNS1123Subdomain`.
pub(crate) fn dns1123_subdomain(value: &str) -> Vec<String> {
    split(validate_dns1123_subdomain(value))
}

/// upstream `MaxLenError`.
pub(crate) fn max_len(bytes_max: usize) -> String {
    format!("must be no more than {bytes_max} characters")
}

/// upstream `InclusiveRangeError`.
pub(crate) fn inclusive_range(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// upstream `IsDNS1035Label`: `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63 bytes (Service names).
pub(crate) fn dns1035_label(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > DNS1035_LABEL_BYTES_MAX {
        errors.push(max_len(DNS1035_LABEL_BYTES_MAX));
    }
    let bytes = value.as_bytes();
    let valid = match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_lowercase()
                && (last.is_ascii_lowercase() || last.is_ascii_digit())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        }
        _ => false,
    };
    if !valid {
        errors.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start \
             with an alphabetic character, and end with an alphanumeric character",
            "[a-z]([-a-z0-9]*[a-z0-9])?",
            &["my-name", "abc-123"],
        ));
    }
    errors
}

/// How a kind's `metadata.name` is checked (upstream's per-kind `ValidateNameFunc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// upstream `NameIsDNSSubdomain` (most kinds).
    Subdomain,
    /// upstream `NameIsDNSLabel` (Namespace).
    Label,
    /// upstream `NameIsDNS1035Label` (Service).
    Dns1035Label,
    /// upstream rbac `minimalNameRequirements` = `path.IsValidPathSegmentName` (RBAC kinds,
    /// whose names carry `:` as in `system:kube-scheduler`).
    PathSegment,
}

impl NameRule {
    /// The messages for `name`; with `prefix`, a `generateName` whose trailing `-` is allowed.
    pub(crate) fn check(self, name: &str, prefix: bool) -> Vec<String> {
        if self == NameRule::PathSegment {
            // upstream minimalNameRequirements ignores `prefix`.
            return path_segment_name(name);
        }
        let masked;
        let name = if prefix {
            masked = mask_trailing_dash(name);
            masked.as_str()
        } else {
            name
        };
        match self {
            NameRule::Subdomain => dns1123_subdomain(name),
            NameRule::Label => dns1123_label(name),
            NameRule::Dns1035Label => dns1035_label(name),
            NameRule::PathSegment => path_segment_name(name),
        }
    }
}

/// upstream `maskTrailingDash`: a generated name is the prefix plus random characters, so a
/// trailing `-` is allowed; upstream replaces the last two bytes by `a` before checking.
fn mask_trailing_dash(name: &str) -> String {
    let bytes = name.as_bytes();
    if bytes.len() > 1 && bytes.ends_with(b"-") {
        let mut masked = bytes[..bytes.len() - 2].to_vec();
        masked.push(b'a');
        String::from_utf8_lossy(&masked).into_owned()
    } else {
        name.to_owned()
    }
}

/// upstream `path.IsValidPathSegmentName`.
pub(crate) fn path_segment_name(name: &str) -> Vec<String> {
    for illegal in [".", ".."] {
        if name == illegal {
            return vec![format!("may not be '{illegal}'")];
        }
    }
    ["/", "%"]
        .iter()
        .filter(|illegal| name.contains(**illegal))
        .map(|illegal| format!("may not contain '{illegal}'"))
        .collect()
}

/// upstream `IsValidPortNum`: 1..=65535.
pub(crate) fn port_num(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range(1, 65535)]
    }
}

/// upstream `IsValidPortName` (an IANA_SVC_NAME): at most 15 bytes of `[-a-z0-9]`, at least
/// one letter, no `--`, no leading or trailing `-`.
pub(crate) fn port_name(port: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let bytes = port.as_bytes();
    if bytes.len() > PORT_NAME_BYTES_MAX {
        errors.push(max_len(PORT_NAME_BYTES_MAX));
    }
    if bytes.is_empty()
        || !bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        errors.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_owned(),
        );
    }
    if !bytes.iter().any(u8::is_ascii_lowercase) {
        errors.push("must contain at least one letter (a-z)".to_owned());
    }
    if port.contains("--") {
        errors.push("must not contain consecutive hyphens".to_owned());
    }
    if bytes.first() == Some(&b'-') || bytes.last() == Some(&b'-') {
        errors.push("must not begin or end with a hyphen".to_owned());
    }
    errors
}

/// upstream `IsRelaxedEnvVarName` (the `RelaxedEnvironmentVariableValidation` rule, on by
/// default since 1.32): printable ASCII other than `=`.
pub(crate) fn env_var_name(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.is_empty() {
        errors.push("environment variable name must be non-empty".to_owned());
    }
    if value.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        errors.push(
            "a valid environment variable name must consist only of printable ASCII characters \
             other than '='"
                .to_owned(),
        );
    }
    errors
}

/// upstream `IsConfigMapKey`: at most 253 bytes of `[-._a-zA-Z0-9]`, not `.`, `..` or `..*`.
pub(crate) fn config_map_key(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > CONFIG_MAP_KEY_BYTES_MAX {
        errors.push(max_len(CONFIG_MAP_KEY_BYTES_MAX));
    }
    let valid = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !valid {
        errors.push(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    // upstream hasChDirPrefix.
    if value == "." {
        errors.push("must not be '.'".to_owned());
    } else if value == ".." {
        errors.push("must not be '..'".to_owned());
    } else if value.starts_with("..") {
        errors.push("must not start with '..'".to_owned());
    }
    errors
}

/// upstream `IsHTTPHeaderName`: `[-A-Za-z0-9]+`.
pub(crate) fn http_header_name(value: &str) -> Vec<String> {
    let valid = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if valid {
        Vec::new()
    } else {
        vec![regex_error(
            "a valid HTTP header must consist of alphanumeric characters or '-'",
            "[-A-Za-z0-9]+",
            &["X-Header-Name"],
        )]
    }
}

/// upstream `IsValidPercent`: `[0-9]+%`. Returns the percentage when valid.
pub(crate) fn percent(value: &str) -> Result<i64, String> {
    let digits = value.strip_suffix('%').unwrap_or("");
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // upstream strconv.Atoi; an out-of-range number reads as 0 there and saturates here.
        Ok(digits.parse::<i64>().unwrap_or(i64::MAX))
    } else {
        Err(regex_error(
            "a valid percent string must be a numeric string followed by an ending '%'",
            "[0-9]+%",
            &["1%", "93%"],
        ))
    }
}

/// upstream `netutils.ParseIPSloppy`: IPv4 dotted quads may carry leading zeros (read as
/// decimal), IPv6 as usual.
pub(crate) fn parse_ip_sloppy(value: &str) -> Option<IpAddr> {
    if value.contains(':') {
        return value.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let mut octets = [0u8; 4];
    let mut parts = value.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let trimmed = part.trim_start_matches('0');
        let number: u32 = if trimmed.is_empty() {
            0
        } else if trimmed.len() > 3 {
            return None;
        } else {
            trimmed.parse().ok()?
        };
        *octet = u8::try_from(number).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

/// An IPv4-mapped IPv6 address counts as IPv4, as Go's `To4` does.
pub(crate) fn is_ipv4(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some(),
    }
}

/// upstream `IsValidIP`'s message.
pub(crate) const INVALID_IP: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
/// upstream `IsValidCIDR`'s message.
pub(crate) const INVALID_CIDR: &str =
    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";

/// upstream `netutils.ParseCIDRSloppy`: an address (leading zeros allowed) and a decimal
/// prefix length no longer than the address.
pub(crate) fn is_valid_cidr(value: &str) -> bool {
    let Some((address, prefix)) = value.split_once('/') else {
        return false;
    };
    if parse_ip_sloppy(address).is_none()
        || prefix.is_empty()
        || !prefix.bytes().all(|b| b.is_ascii_digit())
    {
        return false;
    }
    let bits_max: u32 = if address.contains(':') { 128 } else { 32 };
    prefix.parse::<u32>().is_ok_and(|bits| bits <= bits_max)
}

/// upstream `ValidateNonSpecialIP`'s messages for an address that parsed.
pub(crate) fn special_ip_messages(value: &str, ip: IpAddr) -> Vec<String> {
    let v4 = match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    };
    let (unspecified, loopback, link_local, link_local_multicast) = match (v4, ip) {
        (Some(v4), _) => {
            let o = v4.octets();
            (
                v4.is_unspecified(),
                v4.is_loopback(),
                o[0] == 169 && o[1] == 254,
                o[0] == 224 && o[1] == 0 && o[2] == 0,
            )
        }
        (None, IpAddr::V6(v6)) => {
            let s = v6.segments();
            (
                v6.is_unspecified(),
                v6.is_loopback(),
                s[0] & 0xffc0 == 0xfe80,
                s[0] & 0xff0f == 0xff02,
            )
        }
        (None, IpAddr::V4(_)) => (false, false, false, false),
    };
    let mut messages = Vec::new();
    if unspecified {
        messages.push(format!("may not be unspecified ({value})"));
    }
    if loopback {
        messages.push("may not be in the loopback range (127.0.0.0/8, ::1/128)".to_owned());
    }
    if link_local {
        messages.push("may not be in the link-local range (169.254.0.0/16, fe80::/10)".to_owned());
    }
    if link_local_multicast {
        messages.push(
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)".to_owned(),
        );
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_name_prefix_may_end_with_a_dash() {
        assert!(NameRule::Subdomain.check("web-", true).is_empty());
        assert!(!NameRule::Subdomain.check("web-", false).is_empty());
        assert!(NameRule::Subdomain.check("-", true).len() == 1);
    }

    #[test]
    fn sloppy_ip_parsing_accepts_leading_zeros_only_in_ipv4() {
        assert_eq!(
            parse_ip_sloppy("010.001.0.1"),
            Some(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)))
        );
        assert_eq!(parse_ip_sloppy("256.0.0.1"), None);
        assert_eq!(parse_ip_sloppy("1.2.3"), None);
        assert_eq!(parse_ip_sloppy("1.2.3.4.5"), None);
        assert!(parse_ip_sloppy("2001:db8::1").is_some());
        assert!(is_valid_cidr("10.0.0.0/8"));
        assert!(!is_valid_cidr("10.0.0.0/33"));
        assert!(is_valid_cidr("2001:db8::/64"));
    }

    #[test]
    fn port_names_follow_iana_svc_name() {
        assert!(port_name("http").is_empty());
        assert_eq!(
            port_name("-8080-"),
            [
                "must contain at least one letter (a-z)",
                "must not begin or end with a hyphen"
            ]
        );
    }
}
