//! Payload keys in Qdrant's syntax (`a.b[0].c`, `a[]`), parsed once into steps.

use super::*;

/// One step of a parsed payload key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeySegment<'a> {
    /// An object field: `name` or `"quoted.name"`.
    Field(&'a str),
    /// One array element: `[2]`.
    Index(usize),
    /// Every array element: `[]`.
    Every,
}

/// Parses a payload key with Qdrant's syntax: a field name, then any of `.name`, `[N]` and
/// `[]`. Names are letters, digits, `_` and `-`, or any text in double quotes without `"` or
/// `\` (`"a.b"` is one field named `a.b`).
pub(crate) fn parse_key(key: &str) -> Result<Vec<KeySegment<'_>>, String> {
    if key.is_empty() {
        return Err("the key is empty".to_owned());
    }
    let bad = |at: usize, what: &str| {
        Err(format!(
            "key `{key}` is malformed at byte {at}: {what}; keys look like `a.b`, `a[].b`, \
             `a[0]` or `\"a.b\".c`"
        ))
    };
    let mut segments = Vec::new();
    let mut pos = 0;
    let bytes = key.as_bytes();
    let mut first = true;
    while pos < key.len() {
        let expect_name = first || bytes.get(pos) == Some(&b'.');
        if expect_name {
            if !first {
                pos += 1;
            }
            first = false;
            let rest = key.get(pos..).unwrap_or("");
            if let Some(quoted) = rest.strip_prefix('"') {
                match quoted.find(['"', '\\']) {
                    Some(end) if quoted.as_bytes().get(end) == Some(&b'"') => {
                        segments.push(KeySegment::Field(quoted.get(..end).unwrap_or("")));
                        pos += end + 2;
                    }
                    Some(end) => return bad(pos + 1 + end, "`\\` inside a quoted name"),
                    None => return bad(pos, "unterminated quoted name"),
                }
            } else {
                let len = rest
                    .char_indices()
                    .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == '-'))
                    .map_or(rest.len(), |(i, _)| i);
                if len == 0 {
                    return bad(pos, "expected a field name");
                }
                segments.push(KeySegment::Field(rest.get(..len).unwrap_or("")));
                pos += len;
            }
        } else if bytes.get(pos) == Some(&b'[') {
            let rest = key.get(pos + 1..).unwrap_or("");
            let Some(end) = rest.find(']') else {
                return bad(pos, "unclosed `[`");
            };
            let inside = rest.get(..end).unwrap_or("");
            if inside.is_empty() {
                segments.push(KeySegment::Every);
            } else if inside.bytes().all(|b| b.is_ascii_digit()) {
                match inside.parse() {
                    Ok(index) => segments.push(KeySegment::Index(index)),
                    Err(_) => return bad(pos + 1, "array index too large"),
                }
            } else {
                return bad(pos + 1, "expected `[]` or an array index `[N]`");
            }
            pos += end + 2;
        } else {
            return bad(pos, "expected `.`, `[]` or `[N]`");
        }
        // Each step goes one level down, so a longer key reaches nothing in a payload within
        // the limit; refusing it bounds every walk along a key.
        if segments.len() > MAX_PAYLOAD_DEPTH {
            return Err(format!(
                "key `{key:.40}...` has more than {MAX_PAYLOAD_DEPTH} steps (MAX_PAYLOAD_DEPTH)"
            ));
        }
    }
    Ok(segments)
}
