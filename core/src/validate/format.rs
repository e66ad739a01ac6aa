//! Bad values rendered as upstream's `field.Error.ErrorBody` prints them: strings through Go's
//! `%q`, numbers plain, maps and structs through Go's `%#v` (or their `String()` method where
//! the Go type has one).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::object::IntOrString;
use crate::selector::LabelSelector;

/// A string quoted as Go's `strconv.Quote` (`%q`) does: `"web"`, `"a\"b"`, `"\x00"`.
///
/// Printable characters stay as they are; `\a \b \f \n \r \t \v` use their short escapes; other
/// ASCII controls become `\xNN`, other non-printable characters `\uNNNN` or `\UNNNNNNNN`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c => {
                let code = u32::from(c);
                // Writing to a String cannot fail.
                let _ = if code < 0x80 {
                    write!(out, "\\x{code:02x}")
                } else if code < 0x1_0000 {
                    write!(out, "\\u{code:04x}")
                } else {
                    write!(out, "\\U{code:08x}")
                };
            }
        }
    }
    out.push('"');
    out
}

/// Approximates Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the
/// ASCII space; not controls, other spaces, or the invisible formatting characters.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(
            c,
            '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{e000}'..='\u{f8ff}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0001}'
                | '\u{e0020}'..='\u{e007f}'
                | '\u{f0000}'..='\u{10ffff}'
        ))
}

/// A `map[string]string` as Go's `%#v` prints it: `map[string]string{"app":"web"}`, keys
/// sorted; an empty map prints as the nil map `map[string]string(nil)` (what an absent field
/// decodes to upstream).
pub(crate) fn go_string_map(map: &BTreeMap<String, String>) -> String {
    if map.is_empty() {
        return "map[string]string(nil)".to_owned();
    }
    let entries: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
        .collect();
    format!("map[string]string{{{}}}", entries.join(", "))
}

/// A `[]string` as Go's `%#v` prints it: `[]string{"a", "b"}`; empty prints as nil.
pub(crate) fn go_string_slice(items: &[String]) -> String {
    if items.is_empty() {
        return "[]string(nil)".to_owned();
    }
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// An `IntOrString` as its Go `String()` method prints it: the number, or the string unquoted.
pub(crate) fn int_or_string(value: &IntOrString) -> String {
    value.to_string()
}

/// A `*metav1.LabelSelector` as its generated Go `String()` method prints it:
/// `&LabelSelector{MatchLabels:map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{},}`.
pub(crate) fn label_selector(selector: &LabelSelector) -> String {
    let mut labels = String::new();
    for (k, v) in &selector.match_labels {
        let _ = write!(labels, "{k}: {v},");
    }
    let mut expressions = String::new();
    for requirement in &selector.match_expressions {
        let _ = write!(
            expressions,
            "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
            requirement.key,
            requirement.operator,
            requirement.values.join(" ")
        );
    }
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{expressions}}},}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(go_quote("web"), r#""web""#);
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\u{0}\t\u{7f}"), r#""\x00\t\x7f""#);
        assert_eq!(go_quote("caf\u{e9}"), "\"caf\u{e9}\"");
        assert_eq!(go_quote("\u{a0}\u{200b}"), r#""\u00a0\u200b""#);
    }

    #[test]
    fn go_string_map_sorts_keys_and_prints_nil_when_empty() {
        let map = BTreeMap::from([
            ("tier".to_owned(), "web".to_owned()),
            ("app".to_owned(), "shop".to_owned()),
        ]);
        assert_eq!(
            go_string_map(&map),
            r#"map[string]string{"app":"shop", "tier":"web"}"#
        );
        assert_eq!(go_string_map(&BTreeMap::new()), "map[string]string(nil)");
    }
}
