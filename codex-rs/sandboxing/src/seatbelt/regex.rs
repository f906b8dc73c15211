//! Glob patterns as POSIX extended regular expressions, the dialect of
//! Seatbelt's `(regex #"...")` filters.
//!
//! Written by hand: globset renders Rust-regex syntax (`(?-u)`, Unicode
//! classes) that the macOS regex engine does not read. The output uses
//! only what POSIX ERE and Rust's `regex` crate read alike (the tests check
//! every pattern against globset through the latter): escaped literals,
//! `[^/]`, bracket classes, groups, `|`, `?` and `*`.

/// Characters with a meaning in an ERE outside brackets.
const ERE_SPECIAL: &str = ".[]{}()\\*+?^$|";

/// `text` matched literally.
pub fn escape_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ERE_SPECIAL.contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// A glob the two regex dialects cannot both read the same way; the
/// message says which part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Inexpressible(String);

/// Translates a relative glob (the project's syntax, see `crate::glob`)
/// into an unanchored ERE. The error names what cannot be expressed.
pub fn glob_to_ere(pattern: &str) -> Result<String, Inexpressible> {
    let components: Vec<&str> = split_components(pattern);
    let mut out = String::new();
    let last = components.len().saturating_sub(1);
    for (index, component) in components.iter().enumerate() {
        if *component == "**" {
            if index == last {
                // `a/**`: everything below `a` (and `**` alone: anything).
                out.push_str(".*");
            } else {
                // `**/`: zero or more whole directories.
                out.push_str("(.*/)?");
            }
            continue;
        }
        out.push_str(&component_to_ere(component).map_err(Inexpressible)?);
        if index != last {
            out.push('/');
        }
    }
    Ok(out)
}

/// Splits on `/` outside braces and brackets.
fn split_components(pattern: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut in_class, mut escaped, mut start) = (0usize, false, false, 0usize);
    for (at, ch) in pattern.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match ch {
            '\\' => escaped = true,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class => depth += 1,
            '}' if !in_class => depth = depth.saturating_sub(1),
            '/' if !in_class && depth == 0 => {
                parts.push(&pattern[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&pattern[start..]);
    parts
}

/// One path component: `*`, `?`, classes, alternates and literals. A `**`
/// inside a component is a `*`, as in globset.
fn component_to_ere(component: &str) -> Result<String, String> {
    let chars: Vec<char> = component.chars().collect();
    let mut out = String::new();
    let mut at = 0;
    while at < chars.len() {
        match chars[at] {
            '\\' => {
                let next = chars.get(at + 1).ok_or("a trailing `\\` escapes nothing")?;
                out.push_str(&escape_literal(&next.to_string()));
                at += 2;
            }
            '*' => {
                while chars.get(at) == Some(&'*') {
                    at += 1;
                }
                out.push_str("[^/]*");
            }
            '?' => {
                out.push_str("[^/]");
                at += 1;
            }
            '[' => {
                let end = class_end(&chars, at)
                    .ok_or_else(|| format!("unclosed `[` in `{component}`"))?;
                out.push_str(&class_to_ere(&chars[at + 1..end])?);
                at = end + 1;
            }
            '{' => {
                let end = chars[at..]
                    .iter()
                    .position(|c| *c == '}')
                    .map(|offset| at + offset)
                    .ok_or_else(|| format!("unclosed `{{` in `{component}`"))?;
                let inner: String = chars[at + 1..end].iter().collect();
                if inner.contains(['{', '/']) {
                    return Err(format!(
                        "`{component}`: nested or multi-directory alternatives cannot be expressed"
                    ));
                }
                let alternatives = inner
                    .split(',')
                    .map(component_to_ere)
                    .collect::<Result<Vec<_>, _>>()?;
                out.push('(');
                out.push_str(&alternatives.join("|"));
                out.push(')');
                at = end + 1;
            }
            ch => {
                out.push_str(&escape_literal(&ch.to_string()));
                at += 1;
            }
        }
    }
    Ok(out)
}

/// Index of the `]` closing the class opened at `open` (a `]` right after
/// `[` or `[!` is a member).
fn class_end(chars: &[char], open: usize) -> Option<usize> {
    let mut at = open + 1;
    if chars.get(at) == Some(&'!') {
        at += 1;
    }
    if chars.get(at) == Some(&']') {
        at += 1;
    }
    chars[at..]
        .iter()
        .position(|c| *c == ']')
        .map(|offset| at + offset)
}

/// A bracket class body (`abc`, `!a-z`) as an ERE class that never
/// matches `/`. `]` first, `^` not first and `-` last are literal in both
/// dialects; `\\`, `[` and `/` inside a class are not expressible alike.
fn class_to_ere(body: &[char]) -> Result<String, String> {
    let (negated, members) = match body.first() {
        Some('!') => (true, &body[1..]),
        _ => (false, body),
    };
    if members.iter().any(|c| matches!(c, '\\' | '[' | '/')) {
        return Err(
            "a `\\`, `[` or `/` inside a bracket class cannot be expressed in a Seatbelt regex"
                .into(),
        );
    }
    let leading_dash = members.first() == Some(&'-');
    let trailing_dash = members.len() > 1 && members.last() == Some(&'-');
    let inner = &members[usize::from(leading_dash)..members.len() - usize::from(trailing_dash)];
    let mut out = String::from(if negated { "[^" } else { "[" });
    if inner.contains(&']') {
        out.push(']');
    }
    if negated {
        out.push('/');
    }
    out.extend(inner.iter().filter(|c| !matches!(c, ']' | '^')));
    if inner.contains(&'^') {
        out.push('^');
    }
    if leading_dash || trailing_dash {
        out.push('-');
    }
    out.push(']');
    Ok(out)
}
