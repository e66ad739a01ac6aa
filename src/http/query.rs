//! Request lines: the path split into segments and the query string decoded
//! (`application/x-www-form-urlencoded`, as Go's `url.ParseQuery` reads it).

use std::collections::BTreeMap;

/// Decodes `%XX` escapes and `+` (a space in a query). Invalid escapes are kept verbatim, as
/// they are not ours to reject.
pub fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| char::from(b).to_digit(16);
                if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                    i += 3;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A decoded query string; a repeated key keeps its first value (as Go's `Values.Get`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(BTreeMap<String, String>);

impl Query {
    /// Parses the part of a URI after `?`.
    pub fn parse(query: &str) -> Self {
        let mut map = BTreeMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            map.entry(percent_decode(key, true))
                .or_insert_with(|| percent_decode(value, true));
        }
        Self(map)
    }

    /// The value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The value of `key`, or `""`.
    pub fn text(&self, key: &str) -> String {
        self.get(key).unwrap_or("").to_owned()
    }

    /// A boolean parameter as upstream reads one (`true` or `1`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

/// Splits a path into its non-empty, percent-decoded segments.
pub fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded_like_go() {
        let q = Query::parse("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1&limit=500&watch=0&x");
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(q.flag("watch"));
        assert_eq!(q.get("limit"), Some("500"));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%zz", false), "%zz");
        assert_eq!(
            segments("/api/v1/namespaces/default/pods/"),
            ["api", "v1", "namespaces", "default", "pods"]
        );
    }
}
