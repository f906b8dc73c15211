//! The legacy Landlock pipeline (`features.use_legacy_landlock`), for
//! hosts where bwrap cannot run: no namespaces, no mounts. This process
//! restricts itself with a Landlock ruleset built from the policy
//! ([`grants`]), sets `no_new_privs`, installs the same seccomp filter as
//! the bwrap pipeline and execs the command in place, so the command's
//! exit status is `codex`'s.
//!
//! It refuses every policy it cannot enforce exactly ([`grants`] says
//! which), and every kernel whose Landlock lacks a right the policy needs
//! ([`missing_rights`]). It never runs a weaker sandbox than asked for.

pub mod grants;

use std::convert::Infallible;
use std::ffi::OsString;
use std::path::Path;

use codex_sandboxing::NetworkMode;
use landlock::{
    ABI, Access, AccessFs, BitFlags, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    path_beneath_rules,
};

use crate::seccomp::{build_filter, exec_filtered};
pub use grants::{LandlockGrants, landlock_grants};

/// Why the legacy Landlock pipeline does not run the command.
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    /// The policy asks for what a Landlock ruleset cannot express; names
    /// it.
    #[error(
        "features.use_legacy_landlock cannot enforce {0}; remove the feature to use the \
         bubblewrap pipeline, which can"
    )]
    Unenforceable(String),
    /// A path of the policy could not be inspected.
    #[error("sandbox setup failed: cannot inspect {} for Landlock: {source}", path.display())]
    Inspect {
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// This kernel's Landlock cannot enforce the policy.
    #[error("features.use_legacy_landlock: {0}; remove the feature to use the bubblewrap pipeline")]
    Kernel(String),
    /// Restricting this process or exec'ing the command failed.
    #[error("sandbox setup failed: {0}")]
    Restrict(String),
}

/// What this kernel's Landlock offers the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandlockKernel {
    /// The ABI version.
    pub abi: u32,
    /// Rights it lacks that do not weaken the policy, and why.
    pub notes: Vec<String>,
}

/// The newest ABI whose filesystem rights this pipeline asks for. Later
/// ABIs add rights about Unix sockets and signals, which the seccomp
/// filter covers.
const ASKED_ABI: ABI = ABI::V5;

/// The rights the kernel at `kernel_abi` cannot enforce, split into those
/// that do not weaken the policy (with why) and those that do (with what
/// they would let through). `Err` when the latter is not empty.
pub fn missing_rights(kernel_abi: i32) -> Result<Vec<String>, String> {
    if kernel_abi < 1 {
        return Err("this kernel has no Landlock".into());
    }
    let supported = AccessFs::from_all(ABI::from(kernel_abi));
    let missing = AccessFs::from_all(ASKED_ABI) & !supported;
    let mut harmless = Vec::new();
    let mut weakening = Vec::new();
    for right in missing.iter() {
        match right {
            AccessFs::Refer => harmless.push(
                "Refer (ABI 2): without it the kernel refuses every rename or link across \
                 directories, which is stricter"
                    .to_owned(),
            ),
            AccessFs::IoctlDev => harmless.push(
                "IoctlDev (ABI 5): device ioctls stay as without a sandbox; the policy is about \
                 files"
                    .to_owned(),
            ),
            AccessFs::Truncate => weakening.push(
                "Truncate (ABI 3): truncate(2) could empty files the policy makes read-only"
                    .to_owned(),
            ),
            other => weakening.push(format!("{other:?}")),
        }
    }
    if weakening.is_empty() {
        Ok(harmless)
    } else {
        Err(format!(
            "this kernel's Landlock (ABI {kernel_abi}) cannot enforce {}",
            weakening.join("; ")
        ))
    }
}

/// The kernel's Landlock ABI and the notes on rights it lacks that do not
/// weaken the policy; an error when it has no Landlock or lacks a right
/// that matters.
pub fn check_kernel() -> Result<LandlockKernel, LandlockError> {
    let abi = crate::probe::landlock_abi().map_err(LandlockError::Kernel)?;
    let notes =
        missing_rights(i32::try_from(abi).unwrap_or(i32::MAX)).map_err(LandlockError::Kernel)?;
    Ok(LandlockKernel { abi, notes })
}

/// Restricts this process to `grants`, installs the seccomp filter for
/// `network` and execs `command` in `cwd`. Returns only with the
/// reason it could not; the command has not run then.
pub fn exec_under_landlock(
    grants: &LandlockGrants,
    network: NetworkMode,
    cwd: &Path,
    command: &[OsString],
) -> Result<Infallible, LandlockError> {
    let filter = build_filter(network).map_err(|err| LandlockError::Restrict(err.to_string()))?;
    restrict_self(grants).map_err(LandlockError::Restrict)?;
    exec_filtered(&filter, command, Some(cwd))
        .map_err(|failure| LandlockError::Restrict(failure.message))
}

/// Applies `grants` to this process (and sets `no_new_privs`). Anything
/// short of what the kernel can enforce is an error.
fn restrict_self(grants: &LandlockGrants) -> Result<(), String> {
    let landlock_error = |err: landlock::RulesetError| format!("Landlock: {err}");
    let read: BitFlags<AccessFs> = AccessFs::from_read(ASKED_ABI);
    let all: BitFlags<AccessFs> = AccessFs::from_all(ASKED_ABI);
    let status = Ruleset::default()
        .handle_access(all)
        .map_err(landlock_error)?
        .create()
        .map_err(landlock_error)?
        .add_rules(path_beneath_rules(
            grants.read.iter().map(AsRef::<Path>::as_ref),
            read,
        ))
        .map_err(landlock_error)?
        .add_rules(path_beneath_rules(
            grants.write.iter().map(AsRef::<Path>::as_ref),
            all,
        ))
        .map_err(landlock_error)?
        .restrict_self()
        .map_err(landlock_error)?;
    if !status.no_new_privs {
        return Err("Landlock: no_new_privs was not set".into());
    }
    match status.ruleset {
        RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced => Ok(()),
        RulesetStatus::NotEnforced => Err("Landlock enforced nothing on this kernel".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rights_that_do_not_weaken_the_policy_may_be_missing() {
        assert!(missing_rights(0).unwrap_err().contains("no Landlock"));
        for abi in [1, 2] {
            let err = missing_rights(abi).unwrap_err();
            assert!(err.contains("Truncate"), "{abi}: {err}");
        }
        let notes = missing_rights(3).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].starts_with("IoctlDev"));
        assert_eq!(missing_rights(4).unwrap().len(), 1);
        for abi in [5, 6, 7, 9] {
            assert_eq!(missing_rights(abi).unwrap(), Vec::<String>::new(), "{abi}");
        }
        let abi1 = missing_rights(1).unwrap_err();
        assert!(
            !abi1.contains("Refer"),
            "Refer alone does not weaken: {abi1}"
        );
    }
}
