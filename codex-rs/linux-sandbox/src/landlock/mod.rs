//! The legacy Landlock pipeline (`features.use_legacy_landlock`), for
//! hosts where bwrap cannot run: no namespaces, no mounts. This process
//! restricts itself with a Landlock ruleset built from the policy
//! ([`grants`]), drops every capability ([`capabilities`]), sets
//! `no_new_privs`, installs the same seccomp filter as the bwrap pipeline
//! and supervises the command under the guard ([`LegacyGuard`]), which
//! keeps what mounts keep in the other pipeline; it exits with the
//! command's status.
//!
//! It refuses every policy it cannot enforce exactly ([`grants`] says
//! which), and every kernel whose Landlock lacks a right the policy needs:
//! the landlock crate refuses the ruleset (`CompatLevel::HardRequirement`)
//! and [`check_kernel`] names what is missing. It never runs a weaker
//! sandbox than asked for.

mod capabilities;
pub mod grants;

use codex_sandboxing::environment::CommandEnvironment;
use std::convert::Infallible;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use codex_sandboxing::NetworkMode;
use landlock::{
    ABI, Access, AccessFs, BitFlags, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, Scope, path_beneath_rules,
};

use crate::guard::{GuardedRun, RootLayout, run_guarded};
use crate::protocol::{FailureReport, GuardRoot};

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
    /// What it leaves open that a newer one confines, and what that means.
    pub open: Vec<String>,
}

/// The newest ABI whose filesystem rights this pipeline asks for. Later
/// ABIs add rights about Unix sockets and signals, which the seccomp
/// filter covers.
const ASKED_ABI: ABI = ABI::V5;

/// Rights whose absence does not weaken the policy, with why: asked for
/// best effort. Every other right of [`ASKED_ABI`] is a hard requirement.
const OPTIONAL: [(AccessFs, &str); 2] = [
    (
        AccessFs::Refer,
        "Refer (ABI 2): without it the kernel refuses every rename or link across \
         directories, which is stricter",
    ),
    (
        AccessFs::IoctlDev,
        "IoctlDev (ABI 5): device ioctls stay as without a sandbox; the policy is about files",
    ),
];

fn optional_rights() -> BitFlags<AccessFs> {
    OPTIONAL
        .iter()
        .fold(BitFlags::empty(), |rights, (right, _)| rights | *right)
}

fn required_rights() -> BitFlags<AccessFs> {
    AccessFs::from_all(ASKED_ABI) & !optional_rights()
}

/// The ruleset this pipeline asks the kernel for: the landlock crate
/// refuses it (`CompatLevel::HardRequirement`) on a kernel that cannot
/// enforce a required right, and drops an optional one it lacks. With no
/// PID or network namespace, the command shares the host's processes and
/// abstract Unix sockets: Landlock ABI 6 scopes both to the sandbox (no
/// signal to a process outside it, no connection to an abstract socket
/// made outside it), asked for best effort, and said when missing
/// ([`SCOPES_NOTE`]).
fn ruleset() -> Result<RulesetCreated, landlock::RulesetError> {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(required_rights())?
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(optional_rights())?
        .scope(Scope::Signal | Scope::AbstractUnixSocket)?
        .create()
}

/// What a kernel before Landlock ABI 6 leaves open.
const SCOPES_NOTE: &str = "signals and abstract Unix sockets (ABI 6): without them the command      can signal this user's other processes and connect to abstract sockets made outside it";

/// The rights a write grant gives: every right but making device nodes,
/// which a mount of the bubblewrap pipeline refuses too (`nodev`), and
/// which root could otherwise use to reach a disk outside the roots.
fn write_rights() -> BitFlags<AccessFs> {
    AccessFs::from_all(ASKED_ABI) & !(AccessFs::MakeChar | AccessFs::MakeBlock)
}

/// What a kernel at `abi` lacks: the optional rights (notes, which do not
/// weaken the policy) and the required ones (which do), each with why.
fn missing_at(abi: u32) -> (Vec<&'static str>, Vec<String>) {
    let supported = AccessFs::from_all(ABI::from(i32::try_from(abi).unwrap_or(i32::MAX)));
    let notes = OPTIONAL
        .iter()
        .filter(|(right, _)| !supported.contains(*right))
        .map(|(_, why)| *why)
        .collect();
    let weakening = (required_rights() & !supported)
        .iter()
        .map(|right| match right {
            AccessFs::Truncate => {
                "Truncate (ABI 3): truncate(2) could empty files the policy makes read-only"
                    .to_owned()
            }
            other => format!("{other:?}"),
        })
        .collect();
    (notes, weakening)
}

/// What this kernel's Landlock offers: the crate decides whether the
/// ruleset can be enforced; the ABI and the notes are for showing.
pub fn check_kernel() -> Result<LandlockKernel, LandlockError> {
    let abi = crate::probe::landlock_abi();
    match (ruleset(), abi) {
        (Ok(_), Ok(abi)) => Ok(LandlockKernel {
            abi,
            notes: missing_at(abi).0.into_iter().map(str::to_owned).collect(),
            open: if abi < 6 {
                vec![SCOPES_NOTE.to_owned()]
            } else {
                Vec::new()
            },
        }),
        (_, Err(reason)) => Err(LandlockError::Kernel(reason.to_string())),
        (Err(err), Ok(abi)) => {
            let (_, weakening) = missing_at(abi);
            Err(LandlockError::Kernel(if weakening.is_empty() {
                format!("this kernel's Landlock (ABI {abi}) refuses the ruleset: {err}")
            } else {
                format!(
                    "this kernel's Landlock (ABI {abi}) cannot enforce {}",
                    weakening.join("; ")
                )
            }))
        }
    }
}

/// What the guard keeps in a legacy start, where Landlock alone would
/// leave it open: no protected name made or changed in the writable roots
/// (with the paths inside them it alone keeps read-only,
/// [`crate::plan::kept_by_the_guard`]), no owner, mode, times or extended
/// attribute changed outside what the command may write (Landlock has no
/// right for those), and, with the host's network, no host Unix socket
/// but the listed ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyGuard {
    /// The writable roots.
    pub roots: Vec<GuardRoot>,
    /// The real paths kept read-only inside them.
    pub kept: Vec<PathBuf>,
    /// Whether the host's Unix sockets are closed (the network is the
    /// host's; elsewhere the seccomp filter refuses `connect`).
    pub close_unix_sockets: bool,
    /// The host sockets the profile lists, left open then.
    pub allowed_unix_sockets: Vec<PathBuf>,
}

/// Restricts this process to `grants`, then supervises the command under
/// the guard ([`crate::guard::run_guarded`]): the supervisor is this
/// process, inside the same Landlock domain as the command, so nothing it
/// carries out for the command can write where the command could not. It
/// never returns: it exits with the command's status, or with a one-line
/// reason on stderr (prefixed by `program`) and
/// [`crate::protocol::exit_status::SETUP`] before the command started.
/// This process must be single-threaded (the guard forks).
pub fn run_guarded_under_landlock(
    grants: &LandlockGrants,
    launch: LandlockRun<'_>,
    guard: LegacyGuard,
    program: &str,
) -> Result<Infallible, LandlockError> {
    restrict_self(grants)?;
    capabilities::drop_all().map_err(LandlockError::Restrict)?;
    run_guarded(
        GuardedRun {
            network: launch.network,
            roots: Some((
                guard.roots,
                RootLayout::InPlace {
                    kept: guard.kept,
                    // Written to, never changed: `/dev/null` is the host's.
                    writable: grants
                        .write
                        .iter()
                        .filter(|path| {
                            !grants::ALWAYS_WRITABLE
                                .iter()
                                .any(|always| path.as_path() == Path::new(always))
                        })
                        .cloned()
                        .collect(),
                },
            )),
            close_unix_sockets: guard.close_unix_sockets,
            allowed_unix_sockets: guard.allowed_unix_sockets,
            procfs: None,
            command: launch.command,
            without_bwrap: Some((launch.cwd, launch.env)),
        },
        FailureReport::Stderr {
            program: program.to_owned(),
        },
    )
}

/// The command a legacy start runs, and how.
#[derive(Debug, Clone, Copy)]
pub struct LandlockRun<'a> {
    /// The seccomp filter's network mode.
    pub network: NetworkMode,
    /// Where the command runs.
    pub cwd: &'a Path,
    /// The command and its arguments.
    pub command: &'a [OsString],
    /// Its whole environment.
    pub env: &'a CommandEnvironment,
}

/// Applies `grants` to this process (and sets `no_new_privs`) with the
/// [`ruleset`] that [`check_kernel`] checked.
fn restrict_self(grants: &LandlockGrants) -> Result<(), LandlockError> {
    let landlock_error =
        |err: landlock::RulesetError| LandlockError::Restrict(format!("Landlock: {err}"));
    let read: BitFlags<AccessFs> = AccessFs::from_read(ASKED_ABI);
    let all = write_rights();
    let status = ruleset()
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
    tracing::debug!(?status, "Landlock restriction");
    if !status.no_new_privs {
        return Err(LandlockError::Restrict(
            "Landlock: no_new_privs was not set".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rights_that_do_not_weaken_the_policy_may_be_missing() {
        for abi in [1, 2] {
            let (_, weakening) = missing_at(abi);
            assert!(
                weakening.iter().any(|why| why.starts_with("Truncate")),
                "{abi}: {weakening:?}"
            );
        }
        let (notes, weakening) = missing_at(1);
        assert_eq!(notes.len(), 2, "Refer and IoctlDev: {notes:?}");
        assert_eq!(
            weakening.len(),
            1,
            "Refer alone does not weaken: {weakening:?}"
        );
        let (notes, weakening) = missing_at(3);
        assert!(weakening.is_empty());
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].starts_with("IoctlDev"));
        assert_eq!(missing_at(4).0.len(), 1);
        for abi in [5, 6, 7, 9] {
            assert_eq!(missing_at(abi), (Vec::new(), Vec::new()), "{abi}");
        }
    }

    #[test]
    fn the_required_rights_are_every_asked_right_but_the_optional_ones() {
        assert_eq!(
            required_rights() | optional_rights(),
            AccessFs::from_all(ASKED_ABI)
        );
        assert!(required_rights().contains(AccessFs::Truncate | AccessFs::WriteFile));
        assert!(!required_rights().intersects(AccessFs::Refer | AccessFs::IoctlDev));
    }
}
