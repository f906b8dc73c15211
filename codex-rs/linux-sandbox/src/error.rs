//! Everything that can stop a sandboxed run before the command starts, each
//! with its documented exit status.

use codex_sandboxing::request::PolicyError;

use crate::bundled::BundledError;
use crate::launcher::LauncherError;
use crate::plan::PlanError;

/// The documented exit statuses, shared with every front end.
pub use codex_sandboxing::exit_status as exit_code;

/// Why a sandboxed run did not start the command.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The configuration, profile or policy is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The policy asks for something this backend cannot enforce.
    #[error("{0}")]
    Unenforceable(String),
    /// The host cannot run the sandbox.
    #[error("{0}")]
    UnsupportedHost(String),
    /// No bwrap at all: none on PATH, none bundled.
    #[error("{reason}; install bubblewrap: {hint}")]
    BwrapMissing {
        /// Where bwrap was looked for.
        reason: LauncherError,
        /// The install command for this host.
        hint: &'static str,
    },
    /// The bundled bwrap may not be run (modified or unreadable).
    #[error(transparent)]
    BundledBwrap(BundledError),
    /// bwrap or the planner failed before the command started.
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    /// A bug.
    #[error("internal error: {0}; please report it")]
    Internal(String),
    /// The command does not exist.
    #[error("{0}: command not found")]
    NotFound(String),
    /// The command exists but is not executable.
    #[error("{0}: permission denied (not executable)")]
    NotExecutable(String),
}

impl SandboxError {
    /// The exit status `codex` ends with for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            SandboxError::Policy(_) | SandboxError::Unenforceable(_) => exit_code::CONFIG,
            SandboxError::UnsupportedHost(_) => exit_code::UNSUPPORTED_HOST,
            SandboxError::BwrapMissing { .. } | SandboxError::BundledBwrap(_) => {
                exit_code::BWRAP_MISSING
            }
            SandboxError::Setup(_) => exit_code::SETUP,
            SandboxError::Internal(_) => exit_code::INTERNAL,
            SandboxError::NotFound(_) => exit_code::NOT_FOUND,
            SandboxError::NotExecutable(_) => exit_code::NOT_EXECUTABLE,
        }
    }
}

impl From<PlanError> for SandboxError {
    fn from(err: PlanError) -> Self {
        match err {
            PlanError::CwdHidden(_) | PlanError::TooManyMounts { .. } => {
                SandboxError::Unenforceable(err.to_string())
            }
            PlanError::Inspect { .. } => SandboxError::Setup(err.to_string()),
        }
    }
}
