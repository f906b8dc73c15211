//! The macOS backend's policy text: a Seatbelt (SBPL) profile generated
//! from the same [`SandboxPolicy`] the Linux backend enforces, run with
//! `/usr/bin/sandbox-exec -p PROFILE -- COMMAND`. Pure, so every rule is
//! checked on any host (golden files and a well-formedness check in the
//! tests); this machine cannot run `sandbox-exec`.
//!
//! How the model maps onto SBPL:
//!
//! - deny by default, then the process basics every command needs (exec,
//!   fork, signals within the sandbox, sysctl reads), and after the path
//!   rules the few devices every command uses (`/dev/null`, `/dev/tty`,
//!   the random devices);
//! - filesystem rules from the shallowest path to the deepest: Seatbelt
//!   lets the last matching rule decide, so the deepest rule wins as it
//!   does on Linux. `read` allows reads and denies writes under the path,
//!   `write` allows both, `none` denies both;
//! - deny-read globs as `(regex ...)` denials after every path rule (a
//!   matched directory's contents included), so they beat any allow;
//! - the protected names ([`crate::protected`]) anywhere below a writable
//!   root denied for writing, by a regex that matches them in any case
//!   (APFS is case-insensitive): on macOS a name the command creates
//!   deeper is blocked too;
//! - network: nothing when restricted; everything when enabled; in proxy
//!   mode only outbound connections to each proxy endpoint's loopback
//!   port (Seatbelt names loopback as `localhost`).
//!
//! Paths under `/tmp`, `/var` and `/etc` are also emitted under `/private`:
//! those are symlinks on macOS, and Seatbelt matches real paths.

pub mod regex;

use std::fmt::Write;
use std::path::Path;

use crate::access::Access;
use crate::glob::depth_of;
use crate::protected::{names_in_words, protected_name_ere};
use crate::proxy::ProxyEndpoint;
use crate::resolve::SandboxPolicy;

/// What the profile allows on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatbeltNetwork {
    /// Nothing.
    Denied,
    /// Everything.
    Enabled,
    /// Outbound connections to these loopback proxy endpoints only.
    Proxy(Vec<ProxyEndpoint>),
}

/// Why a policy cannot be written as SBPL exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot express {what} in a Seatbelt profile: {reason}")]
pub struct SeatbeltError {
    /// The rule or pattern at fault.
    pub what: String,
    /// Why.
    pub reason: String,
}

/// Devices every command may use.
const DEVICE_RULES: &str = r#"(allow file-read* file-write-data file-ioctl
  (literal "/dev/null")
  (literal "/dev/zero")
  (literal "/dev/tty")
  (literal "/dev/dtracehelper"))
(allow file-read*
  (literal "/dev/random")
  (literal "/dev/urandom"))
"#;

/// What any process needs to start and run.
const PROCESS_RULES: &str = r#"(allow process-exec)
(allow process-fork)
(allow signal (target same-sandbox))
(allow process-info* (target same-sandbox))
(allow sysctl-read)
(allow pseudo-tty)
(allow ipc-posix-sem)
(allow mach-lookup
  (global-name "com.apple.system.opendirectoryd.libinfo")
  (global-name "com.apple.system.notification_center")
  (global-name "com.apple.logd"))
"#;

/// The SBPL profile for `policy` with `network`.
pub fn seatbelt_profile(
    policy: &SandboxPolicy,
    network: &SeatbeltNetwork,
) -> Result<String, SeatbeltError> {
    let mut out = String::from("(version 1)\n(deny default)\n");
    out.push_str(PROCESS_RULES);

    let mut rules: Vec<_> = policy.rules.iter().collect();
    rules.sort_by_key(|rule| (depth_of(&rule.path), rule.path.clone()));
    for rule in rules {
        let _ = writeln!(
            out,
            "; {} {}",
            rule.access.as_str(),
            comment(&rule.origin.to_string())
        );
        let paths = subpaths(&rule.path);
        match rule.access {
            Access::Read => {
                let _ = writeln!(out, "(allow file-read*{paths})");
                let _ = writeln!(out, "(deny file-write*{paths})");
            }
            Access::Write => {
                let _ = writeln!(out, "(allow file-read* file-write*{paths})");
            }
            Access::None => {
                let _ = writeln!(out, "(deny file-read* file-write*{paths})");
            }
        }
    }

    // After the path rules, so a `read` rule on `/` cannot take them back.
    out.push_str(DEVICE_RULES);

    for glob in &policy.deny_globs {
        let pattern = regex::glob_to_ere(&glob.pattern).map_err(|err| SeatbeltError {
            what: format!("the glob `{}` ({})", glob.pattern, glob.origin),
            reason: err.to_string(),
        })?;
        let _ = writeln!(out, "; deny {}", comment(&glob.origin.to_string()));
        let regexes: String = variants(&glob.root)
            .iter()
            .map(|root| {
                let prefix = regex::escape_literal(root.trim_end_matches('/'));
                quote_regex(&format!("^{prefix}/{pattern}(/.*)?$"))
            })
            .collect();
        let _ = writeln!(out, "(deny file-read* file-write*{regexes})");
    }

    let writable: Vec<_> = policy.writable_roots().collect();
    if policy.protect_metadata && !writable.is_empty() {
        let names = protected_name_ere();
        let _ = writeln!(
            out,
            "; protected: {} below every writable root, at any depth, in any case",
            names_in_words()
        );
        let regexes: String = writable
            .iter()
            .flat_map(|root| variants(root))
            .map(|root| {
                let prefix = regex::escape_literal(root.trim_end_matches('/'));
                quote_regex(&format!("^{prefix}/(.*/)?({names})(/.*)?$"))
            })
            .collect();
        let _ = writeln!(out, "(deny file-write*{regexes})");
    }

    match network {
        SeatbeltNetwork::Denied => out.push_str("; network: none\n"),
        SeatbeltNetwork::Enabled => out.push_str("; network: enabled\n(allow network*)\n"),
        SeatbeltNetwork::Proxy(endpoints) => {
            out.push_str("; network: only the loopback proxy\n");
            let mut ports: Vec<u16> = endpoints.iter().map(|endpoint| endpoint.port).collect();
            ports.sort_unstable();
            ports.dedup();
            let remotes: String = ports
                .iter()
                .map(|port| format!("\n  (remote ip \"localhost:{port}\")"))
                .collect();
            let _ = writeln!(out, "(allow network-outbound{remotes})");
        }
    }
    Ok(out)
}

/// Where `sandbox-exec` lives on every macOS.
pub const SANDBOX_EXEC: &str = "/usr/bin/sandbox-exec";

/// The network a policy gets on macOS: restricted and enabled as they
/// are; proxy mode allows only the loopback endpoints the proxy variables
/// name (read through `lookup`), and a missing, malformed or non-loopback
/// one is an error, as on Linux. The built-in domain proxy is not
/// available on macOS yet, so a network it would filter is refused.
pub fn seatbelt_network(
    policy: &SandboxPolicy,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<SeatbeltNetwork, SeatbeltError> {
    match policy.network {
        crate::NetworkMode::Restricted => Ok(SeatbeltNetwork::Denied),
        crate::NetworkMode::Enabled => Ok(SeatbeltNetwork::Enabled),
        crate::NetworkMode::Proxy if policy.domains.is_some() => Err(SeatbeltError {
            what: "features.network_proxy".into(),
            reason: "the built-in proxy runs only on Linux in this build; use environment_proxy \
                     with a loopback proxy instead"
                .into(),
        }),
        crate::NetworkMode::Proxy => crate::proxy::proxy_routes(lookup)
            .map(|routes| SeatbeltNetwork::Proxy(routes.endpoints))
            .map_err(|err| SeatbeltError {
                what: "network mode proxy".into(),
                reason: err.to_string(),
            }),
    }
}

/// The full `sandbox-exec` command line for `command` under `policy`:
/// `/usr/bin/sandbox-exec -p PROFILE -- COMMAND...`.
pub fn sandbox_exec_argv(
    policy: &SandboxPolicy,
    lookup: impl Fn(&str) -> Option<String>,
    command: &[std::ffi::OsString],
) -> Result<Vec<std::ffi::OsString>, SeatbeltError> {
    let profile = seatbelt_profile(policy, &seatbelt_network(policy, lookup)?)?;
    let mut argv: Vec<std::ffi::OsString> = vec![
        SANDBOX_EXEC.into(),
        "-p".into(),
        profile.into(),
        "--".into(),
    ];
    argv.extend(command.iter().cloned());
    Ok(argv)
}

/// `(subpath "...")` filters for a path and its `/private` twin.
fn subpaths(path: &Path) -> String {
    variants(path)
        .iter()
        .map(|variant| format!(" (subpath \"{}\")", quote_body(variant)))
        .collect()
}

/// The path, and its real form under `/private` where macOS links it.
fn variants(path: &Path) -> Vec<String> {
    let text = path.to_string_lossy().into_owned();
    let private = ["/tmp", "/var", "/etc"]
        .iter()
        .any(|linked| path.starts_with(linked) && !path.starts_with("/private"));
    if private {
        vec![text.clone(), format!("/private{text}")]
    } else {
        vec![text]
    }
}

/// Text safe on a `;` comment line: a line break in a configuration key
/// would otherwise end the comment and start a rule.
fn comment(text: &str) -> String {
    text.chars()
        .map(|ch| if ch.is_control() { '?' } else { ch })
        .collect()
}

/// Escapes `"` and `\` for the inside of an SBPL string literal.
fn quote_body(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A `(regex #"...")` filter on its own line. The `#"` literal hands its
/// backslashes to the regex engine as they are (Apple's own profiles
/// write `\.` for a dot), so only `"` is escaped.
fn quote_regex(ere: &str) -> String {
    format!("\n  (regex #\"{}\")", ere.replace('"', "\\\""))
}

#[cfg(test)]
mod tests;
