//! The host Unix sockets a profile lets the command reach:
//! `[permissions.NAME.network] unix_sockets = { "PATH" = "allow" }`,
//! Codex's key, given this meaning on Linux (Codex's own proxy ignores it
//! there). Every other host socket stays closed in every network mode.
//!
//! A key is an absolute path, `~` or `~/...`, `$NAME` or `${NAME}` (then
//! optionally `/...`) naming a variable of the environment `codex` runs
//! in, or one of two shorthands:
//!
//! - `:ssh_agent`: `$SSH_AUTH_SOCK`;
//! - `:gpg_agent`: `S.gpg-agent` in `$GNUPGHOME`, in
//!   `$XDG_RUNTIME_DIR/gnupg` (where gpg 2.1+ puts it) and in `~/.gnupg`.
//!
//! `deny` takes back an `allow` of the same path (from a profile it
//! extends, say). A variable that is not set allows nothing (with a
//! warning); a relative or empty key is an error naming it.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// One entry of a profile's `unix_sockets` table, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocketEntry {
    /// The key as written.
    pub key: String,
    /// `allow` (true) or `deny`.
    pub allow: bool,
    /// Where it was declared, for messages.
    pub origin: String,
}

/// A host socket the command may connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedUnixSocket {
    /// Its absolute, normalised path (symbolic links left in place: the
    /// sandbox compares the socket file it leads to at each connect).
    pub path: PathBuf,
    /// The key that allowed it.
    pub key: String,
}

/// A key that names no socket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("network.unix_sockets.\"{key}\" ({origin}): {message}")]
pub struct UnixSocketKeyError {
    /// The key at fault.
    pub key: String,
    /// Where it was declared.
    pub origin: String,
    /// What is wrong.
    pub message: String,
}

/// The sockets `entries` allow, with the warnings to print, reading
/// variables from `vars` and `~` as `home`.
pub fn resolve_unix_sockets(
    entries: &[UnixSocketEntry],
    vars: &[(OsString, OsString)],
    home: Option<&Path>,
) -> Result<(Vec<AllowedUnixSocket>, Vec<String>), UnixSocketKeyError> {
    let mut allowed: Vec<AllowedUnixSocket> = Vec::new();
    let mut denied: Vec<PathBuf> = Vec::new();
    let mut warnings = Vec::new();
    for entry in entries {
        let error = |message: &str| UnixSocketKeyError {
            key: entry.key.clone(),
            origin: entry.origin.clone(),
            message: message.to_string(),
        };
        let paths = paths_of(&entry.key, vars, home).map_err(|message| error(&message))?;
        if paths.is_empty() {
            warnings.push(format!(
                "{}: network.unix_sockets.\"{}\" names no socket here (its variable is not set, \
                 or not an absolute path): nothing is allowed for it",
                entry.origin, entry.key
            ));
        }
        for path in paths {
            if entry.allow {
                if !allowed.iter().any(|known| known.path == path) {
                    allowed.push(AllowedUnixSocket {
                        path,
                        key: entry.key.clone(),
                    });
                }
            } else {
                denied.push(path);
            }
        }
    }
    allowed.retain(|socket| !denied.contains(&socket.path));
    Ok((allowed, warnings))
}

/// The paths `key` names; empty when it names a variable that is not set
/// (or not an absolute path); an error for a key of no known form.
fn paths_of(
    key: &str,
    vars: &[(OsString, OsString)],
    home: Option<&Path>,
) -> Result<Vec<PathBuf>, String> {
    let var = |name: &str| {
        vars.iter()
            .find(|(known, _)| known == name)
            .map(|(_, value)| PathBuf::from(value))
            .filter(|path| path.is_absolute())
    };
    let paths: Vec<PathBuf> = match key {
        ":ssh_agent" => var("SSH_AUTH_SOCK").into_iter().collect(),
        ":gpg_agent" => [
            var("GNUPGHOME"),
            var("XDG_RUNTIME_DIR").map(|dir| dir.join("gnupg")),
            home.map(|home| home.join(".gnupg")),
        ]
        .into_iter()
        .flatten()
        .map(|dir| dir.join("S.gpg-agent"))
        .collect(),
        _ if key.starts_with('$') => {
            let (name, rest) = split_variable(&key[1..])?;
            var(name)
                .map(|value| value.join(rest.trim_start_matches('/')))
                .into_iter()
                .collect()
        }
        "~" => home.map(Path::to_path_buf).into_iter().collect(),
        _ if key.starts_with("~/") => home.map(|home| home.join(&key[2..])).into_iter().collect(),
        _ if key.starts_with('/') => vec![PathBuf::from(key)],
        _ => {
            return Err(
                "a Unix socket is an absolute path, ~/..., $VARIABLE/..., :ssh_agent or \
                 :gpg_agent"
                    .into(),
            );
        }
    };
    Ok(paths.iter().map(|path| normalize(path)).collect())
}

/// `NAME` and what follows it in `NAME/rest` or `{NAME}/rest`.
fn split_variable(text: &str) -> Result<(&str, &str), String> {
    let (name, rest) = match text.strip_prefix('{') {
        Some(braced) => braced
            .split_once('}')
            .ok_or_else(|| "an unclosed ${ in a Unix socket key".to_string())?,
        None => text.split_at(text.find('/').unwrap_or(text.len())),
    };
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid || !(rest.is_empty() || rest.starts_with('/')) {
        return Err(format!(
            "`${text}` is not a variable reference ($NAME or ${{NAME}}, then /...)"
        ));
    }
    Ok((name, rest))
}

/// `path` without `.` components, `..` taken lexically (as a socket path
/// is written, before any link is followed).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, allow: bool) -> UnixSocketEntry {
        UnixSocketEntry {
            key: key.into(),
            allow,
            origin: "config.toml".into(),
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect()
    }

    fn paths(entries: &[UnixSocketEntry], env: &[(&str, &str)]) -> Vec<PathBuf> {
        let (allowed, _) =
            resolve_unix_sockets(entries, &vars(env), Some(Path::new("/home/me"))).unwrap();
        allowed.into_iter().map(|socket| socket.path).collect()
    }

    #[test]
    fn every_form_of_key_names_its_paths() {
        let env = [
            ("SSH_AUTH_SOCK", "/tmp/ssh-x/agent.1"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ("DOCKER", "/var/run"),
        ];
        for (key, path) in [
            ("/run/a.sock", "/run/a.sock"),
            ("~/.ssh/agent.sock", "/home/me/.ssh/agent.sock"),
            ("$SSH_AUTH_SOCK", "/tmp/ssh-x/agent.1"),
            ("${DOCKER}/docker.sock", "/var/run/docker.sock"),
            ("$DOCKER/./x/../docker.sock", "/var/run/docker.sock"),
            (":ssh_agent", "/tmp/ssh-x/agent.1"),
        ] {
            assert_eq!(
                paths(&[entry(key, true)], &env),
                [PathBuf::from(path)],
                "{key}"
            );
        }
        assert_eq!(
            paths(&[entry(":gpg_agent", true)], &env),
            [
                PathBuf::from("/run/user/1000/gnupg/S.gpg-agent"),
                "/home/me/.gnupg/S.gpg-agent".into()
            ]
        );
    }

    #[test]
    fn deny_takes_back_an_allow_of_the_same_path() {
        let env = [("SSH_AUTH_SOCK", "/run/agent")];
        let entries = [
            entry(":ssh_agent", true),
            entry("/run/other", true),
            entry("/run/agent", false),
        ];
        assert_eq!(paths(&entries, &env), [PathBuf::from("/run/other")]);
    }

    #[test]
    fn an_unset_or_relative_variable_allows_nothing_with_a_warning() {
        for env in [&[][..], &[("SSH_AUTH_SOCK", "relative/agent")][..]] {
            let (allowed, warnings) =
                resolve_unix_sockets(&[entry(":ssh_agent", true)], &vars(env), None).unwrap();
            assert!(allowed.is_empty());
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(warnings[0].contains(":ssh_agent"), "{warnings:?}");
        }
    }

    #[test]
    fn a_key_of_no_known_form_is_an_error_naming_it() {
        for key in [
            "relative.sock",
            "",
            "$",
            "${OPEN",
            "$A-B",
            "$1X",
            "${A}x",
            "@abstract",
        ] {
            let err = resolve_unix_sockets(&[entry(key, true)], &[], None).unwrap_err();
            assert_eq!(err.key, key);
            assert!(err.to_string().contains("config.toml"), "{err}");
        }
    }
}
