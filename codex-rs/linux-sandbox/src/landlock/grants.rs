//! What a Landlock ruleset can say about a policy, decided without the
//! kernel: the paths to grant reading and writing beneath, or why the
//! policy cannot be enforced exactly. Pure over an [`FsView`], so every
//! refusal is a unit test.
//!
//! Landlock only ever adds access: a grant on a directory covers all of
//! it. So it can express a policy whose rules never take back below what
//! they grant above. It cannot express:
//!
//! - `none` anywhere, nor deny-read globs (a read grant above them would
//!   cover them);
//! - a `read` rule inside a `write` rule (a read-only carve-out);
//! - the read-only `.git`, `.codex` and `.agents` of a writable directory
//!   (carve-outs too, and Landlock cannot stop a name being created);
//! - network mode proxy (it needs a network namespace).
//!
//! With the protected-name guard on (`features.guard_protected_names`,
//! the default), the two kinds of carve-out are the guard's to keep
//! ([`crate::plan::kept_by_the_guard`]): Landlock grants the whole
//! writable directory, and the guard refuses every change inside what
//! it keeps. `none` and deny-read globs stay refused: the guard holds
//! writes, never reads.

use std::path::{Path, PathBuf};

use codex_sandboxing::profile::RuleOrigin;
use codex_sandboxing::{Access, NetworkMode, SandboxPolicy};

use codex_sandboxing::protected::names_in_words;

use super::LandlockError;
use crate::fs_view::FsView;
use crate::plan::real_path::{RealKind, real_path};

/// Files every command may write, whatever the policy.
pub const ALWAYS_WRITABLE: [&str; 1] = ["/dev/null"];

/// The paths a Landlock ruleset grants, by their real paths.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LandlockGrants {
    /// Read (and execute) beneath each.
    pub read: Vec<PathBuf>,
    /// Read and write beneath each (files only, or directories without
    /// protected names).
    pub write: Vec<PathBuf>,
}

/// The grants for `policy`, or what Landlock cannot enforce in it.
pub fn landlock_grants(
    policy: &SandboxPolicy,
    fs: &dyn FsView,
) -> Result<LandlockGrants, LandlockError> {
    let refuse = |what: String| Err(LandlockError::Unenforceable(what));
    if policy.network == NetworkMode::Proxy {
        return refuse("network mode proxy (it needs the sandbox's own network namespace)".into());
    }
    if let Some(glob) = policy.deny_globs.first() {
        return refuse(format!(
            "the deny-read glob `{}` ({}): a read grant above it would cover its matches",
            glob.pattern, glob.origin
        ));
    }
    // The policy's own rules first: they name what the user wrote; the
    // configuration directories kept read-only come last.
    let (added, written): (Vec<_>, Vec<_>) = policy
        .rules
        .iter()
        .partition(|rule| rule.origin == RuleOrigin::Configuration);
    for rule in written.into_iter().chain(added) {
        match rule.access {
            Access::None => {
                return refuse(format!(
                    "`none` on {} ({}): Landlock can only add access, never take it back below a grant",
                    rule.path.display(),
                    rule.origin
                ));
            }
            Access::Read if policy.guard_protected_names => {}
            Access::Read => {
                if let Some(outer) = policy.rules.iter().find(|other| {
                    other.access == Access::Write && rule.path.starts_with(&other.path)
                }) {
                    return refuse(format!(
                        "the read-only {} ({}) inside the writable {} ({})",
                        rule.path.display(),
                        rule.origin,
                        outer.path.display(),
                        outer.origin
                    ));
                }
            }
            Access::Write => {}
        }
    }
    let mut grants = LandlockGrants::default();
    for rule in &policy.rules {
        let real = real_path(fs, &rule.path).map_err(|source| LandlockError::Inspect {
            path: rule.path.clone(),
            source,
        })?;
        if matches!(real.kind, RealKind::Missing { .. }) {
            continue;
        }
        if rule.access == Access::Write
            && real.kind == RealKind::Dir
            && policy.protect_metadata
            && !policy.guard_protected_names
        {
            return refuse(format!(
                "read-only {} inside the writable {} ({})",
                names_in_words(),
                rule.path.display(),
                rule.origin
            ));
        }
        let list = match rule.access {
            Access::Write => &mut grants.write,
            _ => &mut grants.read,
        };
        list.push(real.path);
    }
    grants.write.extend(
        ALWAYS_WRITABLE
            .iter()
            .map(|path| Path::new(path).to_path_buf()),
    );
    Ok(grants)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs_view::fake::FakeFs;

    /// A policy without the guard: what Landlock alone must express.
    fn policy(rules: &[(&str, Access)], network: NetworkMode) -> SandboxPolicy {
        let mut policy = crate::test_support::policy(rules, "/ws", network);
        policy.guard_protected_names = false;
        policy
    }

    fn fs() -> FakeFs {
        FakeFs::new()
            .dir("/ws")
            .dir("/usr")
            .file("/home/me/.history", "")
            .file("/dev/null", "")
    }

    #[test]
    fn read_everything_write_files_is_expressible() {
        let grants = landlock_grants(
            &policy(
                &[("/", Access::Read), ("/home/me/.history", Access::Write)],
                NetworkMode::Restricted,
            ),
            &fs(),
        )
        .unwrap();
        assert_eq!(grants.read, [PathBuf::from("/")]);
        assert_eq!(
            grants.write,
            [
                PathBuf::from("/home/me/.history"),
                PathBuf::from("/dev/null")
            ]
        );
    }

    #[test]
    fn missing_paths_are_granted_nothing() {
        let grants = landlock_grants(
            &policy(
                &[("/usr", Access::Read), ("/nope", Access::Read)],
                NetworkMode::Enabled,
            ),
            &fs(),
        )
        .unwrap();
        assert_eq!(grants.read, [PathBuf::from("/usr")]);
    }

    /// Rules, network mode, and what the refusal must name.
    type Case<'a> = (&'a [(&'a str, Access)], NetworkMode, &'a str);

    #[test]
    fn what_landlock_cannot_take_back_is_refused_naming_it() {
        let cases: [Case<'_>; 4] = [
            (
                &[("/", Access::Read), ("/usr", Access::None)],
                NetworkMode::Restricted,
                "`none` on /usr",
            ),
            (
                &[("/ws", Access::Write), ("/ws/sub", Access::Read)],
                NetworkMode::Restricted,
                "the read-only /ws/sub",
            ),
            (
                &[("/", Access::Read), ("/ws", Access::Write)],
                NetworkMode::Restricted,
                "read-only .git, .codex, .agents and .aws inside the writable /ws",
            ),
            (
                &[("/", Access::Read)],
                NetworkMode::Proxy,
                "network mode proxy",
            ),
        ];
        for (rules, network, needle) in cases {
            let err = landlock_grants(&policy(rules, network), &fs())
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
            assert!(err.contains("bubblewrap pipeline"), "{err}");
        }
    }

    /// The guard keeps the carve-outs: Landlock grants the whole
    /// directory; `none`, deny globs and the proxy stay refused.
    #[test]
    fn with_the_guard_carve_outs_are_the_guards_and_the_rest_still_refused() {
        let guarded = |rules: &[(&str, Access)], network| {
            let mut policy = policy(rules, network);
            policy.guard_protected_names = true;
            landlock_grants(&policy, &fs())
        };
        let grants = guarded(
            &[
                ("/", Access::Read),
                ("/ws", Access::Write),
                ("/ws/sub", Access::Read),
            ],
            NetworkMode::Restricted,
        )
        .unwrap();
        assert_eq!(grants.write[0], PathBuf::from("/ws"));
        for (rules, network, needle) in [
            (
                &[("/", Access::Read), ("/usr", Access::None)][..],
                NetworkMode::Restricted,
                "`none` on /usr",
            ),
            (
                &[("/", Access::Read)][..],
                NetworkMode::Proxy,
                "network mode proxy",
            ),
        ] {
            let err = guarded(rules, network).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn a_writable_directory_is_expressible_when_nothing_in_it_is_protected() {
        let mut unprotected = policy(&[("/ws", Access::Write)], NetworkMode::Restricted);
        unprotected.protect_metadata = false;
        let grants = landlock_grants(&unprotected, &fs()).unwrap();
        assert_eq!(grants.write[0], PathBuf::from("/ws"));
    }
}
