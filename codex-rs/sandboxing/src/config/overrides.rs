//! `-c dotted.key=value` overrides.
//!
//! The key is parsed with TOML's own dotted-key grammar (so quoted segments
//! such as `permissions.dev.filesystem."/data"` work), and the value as a TOML
//! value, falling back to a plain string (`-c sandbox_mode=read-only`).

use super::ConfigError;

/// One parsed `-c` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigOverride {
    /// The argument as the user wrote it, for error messages and `--explain`.
    pub raw: String,
    /// The key's segments, outermost first.
    pub path: Vec<String>,
    /// The value to set.
    pub value: toml::Value,
}

impl ConfigOverride {
    /// Parses `key=value`. Errors name the argument and say what is wrong.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Override {
            arg: raw.to_string(),
            message,
        };
        let Some((key, value)) = raw.split_once('=') else {
            return Err(invalid(
                "expected key=value, for example -c sandbox_mode=read-only".into(),
            ));
        };
        let path = parse_dotted_key(key.trim()).ok_or_else(|| {
            invalid(format!(
                "`{}` is not a dotted TOML key; quote segments that contain dots or slashes, \
                 as in permissions.dev.filesystem.\"/data\"=write",
                key.trim()
            ))
        })?;
        Ok(Self {
            raw: raw.to_string(),
            path,
            value: parse_value(value.trim()),
        })
    }

    /// The override as a one-key table, ready to be merged over a config.
    pub fn to_table(&self) -> toml::Table {
        let mut value = self.value.clone();
        for segment in self.path.iter().rev() {
            let mut table = toml::Table::new();
            table.insert(segment.clone(), value);
            value = toml::Value::Table(table);
        }
        match value {
            toml::Value::Table(table) => table,
            // `path` is never empty, so the loop always wraps the value.
            other => toml::Table::from_iter([(String::new(), other)]),
        }
    }
}

/// Splits a dotted key by letting the TOML parser read `KEY = 0`. Returns
/// `None` unless the document is exactly one chain of tables ending in that 0,
/// which also rejects keys that smuggle in newlines or extra assignments.
fn parse_dotted_key(key: &str) -> Option<Vec<String>> {
    if key.is_empty() || key.contains(['\n', '\r', '#']) {
        return None;
    }
    let document: toml::Table = toml::from_str(&format!("{key} = 0")).ok()?;
    let mut path = Vec::new();
    let mut table = &document;
    loop {
        let mut entries = table.iter();
        let (name, value) = entries.next()?;
        if entries.next().is_some() {
            return None;
        }
        path.push(name.clone());
        match value {
            toml::Value::Table(inner) => table = inner,
            toml::Value::Integer(0) => return Some(path),
            _ => return None,
        }
    }
}

/// A TOML value if `text` is one (`true`, `["/a"]`, `"x"`), else the text.
fn parse_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .filter(|table| table.len() == 1)
        .and_then(|mut table| table.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> ConfigOverride {
        match ConfigOverride::parse(raw) {
            Ok(parsed) => parsed,
            Err(err) => panic!("{raw}: {err}"),
        }
    }

    #[test]
    fn bare_words_become_strings() {
        let o = parsed("sandbox_mode=read-only");
        assert_eq!(o.path, ["sandbox_mode"]);
        assert_eq!(o.value, toml::Value::String("read-only".into()));
    }

    #[test]
    fn toml_values_keep_their_type() {
        assert_eq!(
            parsed("sandbox_workspace_write.network_access=true").value,
            toml::Value::Boolean(true)
        );
        let roots = parsed(r#"sandbox_workspace_write.writable_roots=["/a", "/b"]"#);
        assert_eq!(roots.path, ["sandbox_workspace_write", "writable_roots"]);
        assert_eq!(
            roots.value,
            toml::Value::Array(vec!["/a".into(), "/b".into()])
        );
        assert_eq!(parsed(r#"x="quoted""#).value, toml::Value::from("quoted"));
    }

    #[test]
    fn quoted_segments_keep_dots_and_slashes() {
        let o = parsed(r#"permissions.dev.filesystem."/data/v1.2"=write"#);
        assert_eq!(o.path, ["permissions", "dev", "filesystem", "/data/v1.2"]);
        let table = o.to_table();
        assert_eq!(
            table["permissions"]["dev"]["filesystem"]["/data/v1.2"].as_str(),
            Some("write")
        );
    }

    #[test]
    fn a_value_that_smuggles_a_second_key_stays_a_string() {
        let o = parsed("a=1\nb = 2");
        assert_eq!(o.value, toml::Value::String("1\nb = 2".into()));
    }

    #[test]
    fn malformed_arguments_are_rejected_with_the_argument_named() {
        for raw in ["novalue", "=x", "a..b=1", "a.=1", "a\nb=1", "a b=1", "a#=1"] {
            let err = ConfigOverride::parse(raw).expect_err(raw).to_string();
            assert!(err.contains(raw.split('=').next().unwrap_or(raw)), "{err}");
        }
    }
}
