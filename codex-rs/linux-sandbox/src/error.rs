//! Everything that can stop a sandboxed run before the command starts, each
//! with its documented exit status.

use codex_sandboxing::request::PolicyError;

use crate::bundled::BundledError;
use crate::launcher::LauncherError;
use crate::plan::PlanError;

/// Documented exit statuses for failures of the sandbox itself. The
/// command's own status is passed through unchanged.
pub mod exit_code {
    /// Bad command-line usage.
    pub const USAGE: i32 = 2;
    /// Internal error (a bug): please report it.
    pub const INTERNAL: i32 = 70;
    /// The sandbox could not be set up (bwrap failed before the command).
    pub const SETUP: i32 = 71;
    /// No usable bwrap: none installed and none bundled, or the bundled
    /// one failed verification.
    pub const BWRAP_MISSING: i32 = 72;
    /// The host cannot run the sandbox (WSL1, non-Linux).
    pub const UNSUPPORTED_HOST: i32 = 69;
    /// The configuration or the chosen profile is invalid.
    pub const CONFIG: i32 = 78;
    /// The command exists but cannot be executed.
    pub const NOT_EXECUTABLE: i32 = 126;
    /// The command does not exist.
    pub const NOT_FOUND: i32 = 127;
}

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
