//! The command's environment, built from this process's as OpenAI Codex
//! builds it from `[shell_environment_policy]`, in this order:
//!
//! 1. start from every variable (`inherit = "all"`, the default), the core
//!    ones ([`CORE_VARIABLES`], `"core"`) or none (`"none"`);
//! 2. drop names matching `*KEY*`, `*SECRET*` or `*TOKEN*` unless
//!    `ignore_default_excludes = true`;
//! 3. drop names matching an `exclude` pattern;
//! 4. add `set`;
//! 5. if `include_only` is not empty, keep only names matching one of it.
//!
//! Then, as Codex does for a sandboxed command, `PWD` is the working
//! directory and `CODEX_SANDBOX_NETWORK_DISABLED=1` marks a restricted
//! network (both over anything the policy set).
//!
//! Patterns match whole names, in any case; `*` is any run of characters
//! and `?` one character, everything else is literal.
//!
//! One difference, stricter: Codex 0.171 leaves `ignore_default_excludes`
//! at `true`, so by default its commands see `MY_SECRET` and `GH_TOKEN`;
//! here the default is `false` and they do not, unless asked for.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use wildmatch::WildMatchPattern;

use crate::config::{EnvironmentInherit, ShellEnvironmentPolicyToml};

/// The variables `inherit = "core"` keeps, as Codex 0.171 on Linux.
pub const CORE_VARIABLES: [&str; 11] = [
    "HOME", "LANG", "LC_ALL", "LC_CTYPE", "LOGNAME", "PATH", "SHELL", "TEMP", "TMP", "TMPDIR",
    "USER",
];

/// The patterns dropped unless `ignore_default_excludes = true`.
pub const DEFAULT_EXCLUDES: [&str; 3] = ["*KEY*", "*SECRET*", "*TOKEN*"];

/// Set to `1` in the command's environment when its network is restricted.
pub const NETWORK_DISABLED_VARIABLE: &str = "CODEX_SANDBOX_NETWORK_DISABLED";

/// Set by Codex, on macOS only, to [`SEATBELT`] for a command run under
/// Seatbelt; Codex sets nothing on Linux, and neither does this sandbox.
pub const SANDBOX_VARIABLE: &str = "CODEX_SANDBOX";

/// The value of [`SANDBOX_VARIABLE`] under Seatbelt.
pub const SEATBELT: &str = "seatbelt";

/// The directories `execvp` searches when the environment has no `PATH`
/// (glibc's default), which is where the command is then looked up.
pub const DEFAULT_SEARCH_PATH: &str = "/bin:/usr/bin";

/// A command's environment: names and values, sorted by name, each name
/// once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandEnvironment(Vec<(OsString, OsString)>);

impl CommandEnvironment {
    /// The variables, sorted by name.
    pub fn vars(&self) -> &[(OsString, OsString)] {
        &self.0
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.0
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, value)| value.as_os_str())
    }

    /// Where a command name without `/` is looked up: `PATH`, or
    /// [`DEFAULT_SEARCH_PATH`] when it is not set.
    pub fn search_path(&self) -> &OsStr {
        self.get("PATH")
            .unwrap_or_else(|| OsStr::new(DEFAULT_SEARCH_PATH))
    }

    /// Sets `name` to `value`, replacing any value it had.
    pub fn set(&mut self, name: &str, value: impl Into<OsString>) {
        let value = value.into();
        match self.0.iter_mut().find(|(known, _)| known == name) {
            Some((_, existing)) => *existing = value,
            None => {
                self.0.push((name.into(), value));
                self.0.sort();
            }
        }
    }
}

/// The environment `policy` gives a command, from `vars` (this process's).
pub fn policy_environment(
    policy: &ShellEnvironmentPolicyToml,
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> CommandEnvironment {
    let inherit = policy.inherit.unwrap_or(EnvironmentInherit::All);
    let mut env: Vec<(OsString, OsString)> = vars
        .into_iter()
        .filter(|(name, _)| match inherit {
            EnvironmentInherit::All => true,
            EnvironmentInherit::Core => CORE_VARIABLES.iter().any(|core| name == *core),
            EnvironmentInherit::None => false,
        })
        .collect();
    if !policy.ignore_default_excludes.unwrap_or(false) {
        let defaults = patterns(DEFAULT_EXCLUDES);
        env.retain(|(name, _)| !matches_any(&defaults, name));
    }
    let excludes = patterns(&policy.exclude);
    env.retain(|(name, _)| !matches_any(&excludes, name));
    let mut env = {
        env.sort();
        env.dedup_by(|a, b| a.0 == b.0);
        CommandEnvironment(env)
    };
    for (name, value) in &policy.set {
        env.set(name, value);
    }
    if !policy.include_only.is_empty() {
        let include = patterns(&policy.include_only);
        env.0.retain(|(name, _)| matches_any(&include, name));
    }
    env
}

/// `policy` for a sandboxed command in `cwd`: [`policy_environment`], then
/// `PWD` and, when `network_restricted`, [`NETWORK_DISABLED_VARIABLE`].
pub fn sandboxed_environment(
    policy: &ShellEnvironmentPolicyToml,
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    cwd: &Path,
    network_restricted: bool,
) -> CommandEnvironment {
    let mut env = policy_environment(policy, vars);
    env.set("PWD", cwd.as_os_str());
    if network_restricted {
        env.set(NETWORK_DISABLED_VARIABLE, "1");
    }
    env
}

/// A `shell_environment_policy` pattern: `*` and `?` wildcards, matched
/// against a whole variable name in any case, as Codex matches them (the
/// same crate). Compiled without a regular expression: each start pays
/// for every default exclusion.
type NamePattern = WildMatchPattern<'*', '?'>;

fn patterns<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> Vec<NamePattern> {
    patterns
        .into_iter()
        .map(|pattern| NamePattern::new_case_insensitive(pattern.as_ref()))
        .collect()
}

fn matches_any(patterns: &[NamePattern], name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    patterns
        .iter()
        .any(|pattern| pattern.matches(name.as_ref()))
}

#[cfg(test)]
mod tests;
