//! Which keys a `config.toml` (or a `-c` override) may hold, and what
//! becomes of each:
//!
//! - **ours**: read and validated by this tool ([`OURS`]);
//! - **Codex's**: any other key the OpenAI Codex CLI accepts (the vendored
//!   list `data/codex-config-keys.txt`, taken from Codex's config schema):
//!   accepted and ignored, so a user's `~/.codex/config.toml` loads as it is;
//! - **unknown**: ignored as Codex ignores it, with one warning that names
//!   the nearest known key (a typo in `default_permissions` must not pass
//!   unseen).
//!
//! A key path is its segments from the top (`permissions`, `dev`,
//! `network`, `enabled`); in a pattern `*` stands for any one segment and a
//! final `**` for everything below (tables the profile parser checks key by
//! key itself).

/// The key patterns this tool reads.
pub const OURS: &[&str] = &[
    "default_permissions",
    "sandbox_mode",
    "sandbox_workspace_write",
    "sandbox_workspace_write.writable_roots",
    "sandbox_workspace_write.network_access",
    "sandbox_workspace_write.exclude_tmpdir_env_var",
    "sandbox_workspace_write.exclude_slash_tmp",
    "permissions",
    "permissions.*",
    "permissions.*.description",
    "permissions.*.extends",
    "permissions.*.filesystem",
    "permissions.*.filesystem.**",
    "permissions.*.workspace_roots",
    "permissions.*.workspace_roots.**",
    "permissions.*.network",
    "permissions.*.network.enabled",
    "permissions.*.network.mode",
    "permissions.*.network.domains",
    "permissions.*.network.domains.*",
    "permissions.*.network.allow_local_binding",
    "permissions.*.network.unix_sockets",
    "permissions.*.network.unix_sockets.*",
    "permissions.*.network.allow_upstream_proxy",
    "permissions.*.network.dangerously_allow_non_loopback_proxy",
    "permissions.*.network.dangerously_allow_all_unix_sockets",
    "permissions.*.network.proxy_url",
    "permissions.*.network.socks_url",
    "permissions.*.network.enable_socks5",
    "permissions.*.network.enable_socks5_udp",
    "permissions.*.network.environment_proxy",
    "features",
    "features.use_legacy_landlock",
    "features.inner_stage",
    "features.guard_protected_names",
    "features.scan_with_ripgrep",
    "features.network_proxy",
    "features.network_proxy.enabled",
    "features.network_proxy.mode",
    "features.network_proxy.domains",
    "features.network_proxy.domains.*",
    "features.network_proxy.allow_local_binding",
    "features.network_proxy.unix_sockets",
    "features.network_proxy.unix_sockets.*",
    "features.network_proxy.allow_upstream_proxy",
    "features.network_proxy.dangerously_allow_non_loopback_proxy",
    "features.network_proxy.dangerously_allow_all_unix_sockets",
    "features.network_proxy.proxy_url",
    "features.network_proxy.socks_url",
    "features.network_proxy.enable_socks5",
    "features.network_proxy.enable_socks5_udp",
    "shell_environment_policy",
    "shell_environment_policy.inherit",
    "shell_environment_policy.ignore_default_excludes",
    "shell_environment_policy.exclude",
    "shell_environment_policy.set",
    "shell_environment_policy.set.*",
    "shell_environment_policy.include_only",
    "managed_proxy",
    "managed_proxy.domains",
    "managed_proxy.domains.*",
    "managed_proxy.mode",
    "managed_proxy.allow_local_binding",
];

/// Codex's key paths, one per line (`#` starts a comment line).
const CODEX_KEYS: &str = include_str!("../../data/codex-config-keys.txt");

/// What a key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// Read by this tool.
    Ours,
    /// Known to Codex, not used here: accepted and ignored.
    Codex,
    /// Known to neither: ignored, with a warning.
    Unknown,
}

/// A key taken out of a configuration before it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// Its path.
    pub path: Vec<String>,
    /// Why: Codex's, or unknown.
    pub kind: KeyKind,
}

impl SetAside {
    /// The warning an unknown key gets, naming the nearest known key.
    pub fn warning(&self, source: &str) -> Option<String> {
        if self.kind != KeyKind::Unknown {
            return None;
        }
        let dotted = dotted(&self.path);
        Some(match nearest_known(&self.path) {
            Some(nearest) => {
                format!("unknown key `{dotted}` ({source}) ignored; did you mean `{nearest}`?")
            }
            None => format!("unknown key `{dotted}` ({source}) ignored"),
        })
    }
}

/// Splits `table` into what this tool reads (left in it) and the keys set
/// aside (removed and returned), walking it from the top.
pub fn set_aside(table: &mut toml::Table) -> Vec<SetAside> {
    let mut aside = Vec::new();
    walk(table, &mut Vec::new(), &mut aside);
    aside
}

fn walk(table: &mut toml::Table, path: &mut Vec<String>, aside: &mut Vec<SetAside>) {
    let keys: Vec<String> = table.keys().cloned().collect();
    for key in keys {
        path.push(key.clone());
        match classify(path) {
            Decision::Keep => {}
            Decision::Descend => {
                if let Some(toml::Value::Table(inner)) = table.get_mut(&key) {
                    walk(inner, path, aside);
                }
            }
            Decision::Drop(kind) => {
                table.remove(&key);
                aside.push(SetAside {
                    path: path.clone(),
                    kind,
                });
            }
        }
        path.pop();
    }
}

/// What to do with the key at `path`.
enum Decision {
    /// Ours, whole.
    Keep,
    /// Ours, with keys below to sort out one by one.
    Descend,
    /// Not ours.
    Drop(KeyKind),
}

fn classify(path: &[String]) -> Decision {
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    let ours_below = OURS
        .iter()
        .any(|pattern| pattern_continues_below(pattern, &segments));
    if OURS.iter().any(|pattern| matches(pattern, &segments)) {
        return if ours_below
            && !OURS
                .iter()
                .any(|pattern| covers_all_below(pattern, &segments))
        {
            Decision::Descend
        } else {
            Decision::Keep
        };
    }
    if codex_patterns().any(|pattern| matches(pattern, &segments)) {
        Decision::Drop(KeyKind::Codex)
    } else {
        Decision::Drop(KeyKind::Unknown)
    }
}

/// What kind of key `path` is (for tests and messages).
pub fn kind_of(path: &[&str]) -> KeyKind {
    let owned: Vec<String> = path.iter().map(|segment| (*segment).to_owned()).collect();
    match classify(&owned) {
        Decision::Keep | Decision::Descend => KeyKind::Ours,
        Decision::Drop(kind) => kind,
    }
}

/// Codex's key patterns.
pub fn codex_patterns() -> impl Iterator<Item = &'static str> {
    CODEX_KEYS
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// Whether `pattern` names `path`: segment by segment, `*` for any one, a
/// final `**` for any rest.
fn matches(pattern: &str, path: &[&str]) -> bool {
    let parts = split_pattern(pattern);
    let mut index = 0;
    for part in &parts {
        if *part == "**" {
            return true;
        }
        match path.get(index) {
            Some(segment) if *part == "*" || part == segment => index += 1,
            _ => return false,
        }
    }
    index == path.len()
}

/// Whether `pattern` names something strictly below `path`.
fn pattern_continues_below(pattern: &str, path: &[&str]) -> bool {
    let parts = split_pattern(pattern);
    parts.len() > path.len()
        && parts
            .iter()
            .zip(path)
            .all(|(part, segment)| *part == "*" || *part == "**" || part == segment)
}

/// Whether `pattern` is `PATH.**` (everything below `path` is ours).
fn covers_all_below(pattern: &str, path: &[&str]) -> bool {
    let parts = split_pattern(pattern);
    parts.len() == path.len() + 1
        && parts.last() == Some(&"**")
        && parts
            .iter()
            .zip(path)
            .all(|(part, segment)| *part == "*" || part == segment)
}

/// A pattern's segments, quotes removed from quoted ones.
fn split_pattern(pattern: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = pattern;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            parts.push(&quoted[..end]);
            rest = quoted[end..].trim_start_matches('"');
            rest = rest.strip_prefix('.').unwrap_or(rest);
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            parts.push(&rest[..end]);
            rest = rest[end..].strip_prefix('.').unwrap_or("");
        }
    }
    parts
}

/// The known key nearest to `path`: among the keys with the same parent,
/// the one whose last segment is fewest edits away, if it is close.
fn nearest_known(path: &[String]) -> Option<String> {
    let (last, parent) = path.split_last()?;
    let parent: Vec<&str> = parent.iter().map(String::as_str).collect();
    OURS.iter()
        .copied()
        .chain(codex_patterns())
        .filter_map(|pattern| {
            let parts = split_pattern(pattern);
            let (candidate, its_parent) = parts.split_last()?;
            let same_parent = its_parent.len() == parent.len()
                && its_parent
                    .iter()
                    .zip(&parent)
                    .all(|(part, segment)| *part == "*" || part == segment);
            (same_parent && *candidate != "*" && *candidate != "**")
                .then(|| (edit_distance(last, candidate), (*candidate).to_owned()))
        })
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(2))
        .min()
        .map(|(_, candidate)| {
            let mut full: Vec<String> = parent.iter().map(|s| (*s).to_owned()).collect();
            full.push(candidate);
            dotted(&full)
        })
}

/// Levenshtein distance between `a` and `b`, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// `a.b."c/d"`: a key path as TOML writes it.
pub fn dotted(path: &[String]) -> String {
    path.iter()
        .map(|segment| {
            if !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                segment.clone()
            } else {
                format!("\"{segment}\"")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn every_key_codex_accepts_loads_as_ours_or_codexs_never_unknown() {
        let mut count = 0;
        for pattern in codex_patterns() {
            // A map key of the user's choosing stands for any name.
            let path: Vec<&str> = split_pattern(pattern)
                .into_iter()
                .map(|part| if part == "*" { "some_name" } else { part })
                .collect();
            assert_ne!(kind_of(&path), KeyKind::Unknown, "{pattern}");
            count += 1;
        }
        assert!(count > 700, "{count} keys read from the vendored list");
    }

    #[test]
    fn ours_stay_codexs_are_set_aside_silently_unknown_ones_with_the_nearest_key() {
        let mut config = table(
            "default_permission = \":workspace\"\nmodel = \"o3\"\n\
             [notice]\nhide_full_access_warning = true\n\
             [features]\nshell_tool = true\ninner_stage = true\nnonsense = true\n\
             [sandbox_workspace_write]\nnetwork_acess = true\nexclude_slash_tmp = true\n\
             [permissions.dev]\nbogus = 1\n[permissions.dev.filesystem]\n\":root\" = \"read\"\n",
        );
        let aside = set_aside(&mut config);
        let kinds: Vec<(String, KeyKind)> = aside
            .iter()
            .map(|key| (dotted(&key.path), key.kind.clone()))
            .collect();
        for expected in [
            ("default_permission", KeyKind::Unknown),
            ("model", KeyKind::Codex),
            ("notice", KeyKind::Codex),
            ("features.shell_tool", KeyKind::Codex),
            ("features.nonsense", KeyKind::Unknown),
            ("sandbox_workspace_write.network_acess", KeyKind::Unknown),
            ("permissions.dev.bogus", KeyKind::Unknown),
        ] {
            assert!(
                kinds.contains(&(expected.0.to_owned(), expected.1.clone())),
                "{expected:?} in {kinds:?}"
            );
        }
        assert_eq!(kinds.len(), 7, "{kinds:?}");
        assert_eq!(
            config.to_string(),
            table(
                "[features]\ninner_stage = true\n[sandbox_workspace_write]\nexclude_slash_tmp = true\n\
                 [permissions.dev.filesystem]\n\":root\" = \"read\"\n"
            )
            .to_string()
        );
        let warnings: Vec<String> = aside
            .iter()
            .filter_map(|key| key.warning("config.toml"))
            .collect();
        assert!(
            warnings.contains(
                &"unknown key `default_permission` (config.toml) ignored; did you mean `default_permissions`?"
                    .to_owned()
            ),
            "{warnings:?}"
        );
        assert!(
            warnings.contains(
                &"unknown key `sandbox_workspace_write.network_acess` (config.toml) ignored; did you mean `sandbox_workspace_write.network_access`?"
                    .to_owned()
            ),
            "{warnings:?}"
        );
        assert!(
            warnings.contains(&"unknown key `features.nonsense` (config.toml) ignored".to_owned()),
            "{warnings:?}"
        );
    }

    #[test]
    fn patterns_match_segment_by_segment() {
        assert!(matches(
            "permissions.*.filesystem.**",
            &["permissions", "dev", "filesystem"]
        ));
        assert!(matches(
            "permissions.*.filesystem.**",
            &["permissions", "dev", "filesystem", ":root"]
        ));
        assert!(!matches("permissions.*.network", &["permissions", "dev"]));
        assert_eq!(
            split_pattern("notice.\"hide_gpt-5.1-codex-max_migration_prompt\""),
            ["notice", "hide_gpt-5.1-codex-max_migration_prompt"]
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            dotted(&["permissions".into(), "dev".into(), "/data".into()]),
            "permissions.dev.\"/data\""
        );
    }
}
