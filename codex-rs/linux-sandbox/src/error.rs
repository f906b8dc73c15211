//! Everything that can stop a sandboxed run before the command starts: one
//! variant per cause, each printed as one line that names the cause and
//! the fix, each with its documented exit status.

use std::io;
use std::path::PathBuf;

use codex_sandboxing::proxy::ProxyEnvError;
use codex_sandboxing::request::PolicyError;

use crate::bundled::BundledError;
use crate::landlock::LandlockError;
use crate::launcher::LauncherError;
use crate::locate::CommandError;
use crate::mount_points::LeaseError;
use crate::plan::PlanError;
use crate::protocol::exit_status;
use crate::scan::ScanError;
use crate::seccomp::SeccompError;

/// Why a sandboxed run did not start the command.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The working directory cannot be read.
    #[error("sandbox setup failed: cannot read the current directory: {0}")]
    Cwd(io::Error),
    /// The configuration, profile or policy is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// WSL1 has no Linux namespaces.
    #[error(
        "WSL1 cannot run the sandbox (it has no Linux namespaces); convert the distribution to WSL2 \
         with `wsl --set-version <distro> 2`"
    )]
    Wsl1,
    /// The mounts for the policy cannot be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The start-up scan failed.
    #[error("sandbox setup failed: {0}")]
    Scan(#[from] ScanError),
    /// A mask's mount point could not be made.
    #[error("sandbox setup failed: {0}")]
    MountPoint(#[from] LeaseError),
    /// Network mode proxy without a usable proxy variable.
    #[error(transparent)]
    ProxyRoute(#[from] ProxyEnvError),
    /// Without `/proc` the inner stage is run by path, which the profile
    /// hides.
    #[error(
        "features.inner_stage runs {} inside a sandbox without /proc, where it can only be \
         found by path, but this profile hides it ({hidden_by}); grant it read access or turn the feature off",
        exe.display()
    )]
    HelperHidden {
        /// This executable's real path.
        exe: PathBuf,
        /// Which rule hides it.
        hidden_by: String,
    },
    /// This executable, or the resources beside it, lies inside a writable
    /// root: the command could replace it, and the next start would run
    /// the replacement with no sandbox.
    #[error(
        "refused: {} lies inside the writable root {}, where the command could replace it and the \
         next run would run the replacement unsandboxed; install codex outside every writable root \
         of the profile, or choose another workspace with -C",
        path.display(),
        root.display()
    )]
    SelfWritable {
        /// This executable, or its `codex-resources` directory.
        path: PathBuf,
        /// The writable root it lies in.
        root: PathBuf,
    },
    /// This executable's path could not be found, for an inner stage run
    /// by path.
    #[error("sandbox setup failed: cannot find this executable to run as the inner stage: {0}")]
    HelperNotFound(String),
    /// The legacy Landlock pipeline cannot run this policy or on this
    /// kernel.
    #[error(transparent)]
    Landlock(#[from] LandlockError),
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
    /// The command cannot be run.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The seccomp filter cannot be built (a bug or an unsupported
    /// architecture).
    #[error("internal error: {0}; please report it")]
    Seccomp(#[from] SeccompError),
    /// The built-in proxy could not start.
    #[error("sandbox setup failed: cannot start the built-in proxy: {0}")]
    ProxyStart(io::Error),
    /// Inherited descriptors could not be kept out of the sandbox.
    #[error("sandbox setup failed: cannot keep inherited descriptors out of the sandbox: {0}")]
    InheritedDescriptors(io::Error),
    /// bwrap, or the command without a sandbox, could not be started.
    #[error("sandbox setup failed: cannot run {}: {source}", program.display())]
    Launch {
        /// What could not be run.
        program: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// bwrap cannot create the sandbox's namespaces on this host.
    #[error(
        "sandbox setup failed: {} cannot create the sandbox's namespaces on this host: {cause}; to fix it: {fix}",
        bwrap.display()
    )]
    Namespaces {
        /// The bwrap.
        bwrap: PathBuf,
        /// What went wrong.
        cause: String,
        /// What fixes it here.
        fix: String,
    },
    /// bwrap stopped before starting the command; its own message is on
    /// stderr already.
    #[error(
        "sandbox setup failed: {} exited with status {code} before starting the command; its own message is above",
        bwrap.display()
    )]
    BwrapFailed {
        /// The bwrap.
        bwrap: PathBuf,
        /// Its exit status.
        code: i32,
    },
    /// A bug.
    #[error("internal error: {0}; please report it")]
    Internal(String),
    /// The inner stage stopped before starting the command.
    #[error("sandbox setup failed: the inner stage stopped before starting the command: {0}")]
    InnerStage(String),
}

impl SandboxError {
    /// The exit status `codex` ends with for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            SandboxError::Policy(_)
            | SandboxError::ProxyRoute(_)
            | SandboxError::HelperHidden { .. }
            | SandboxError::SelfWritable { .. } => exit_status::CONFIG,
            SandboxError::Plan(err) => match err {
                PlanError::CwdHidden(_)
                | PlanError::TooManyMounts { .. }
                | PlanError::GitConfig(_)
                | PlanError::GitCodeThroughLink { .. }
                | PlanError::ListedSocketInWritableRoot { .. }
                | PlanError::GitCodeHardLinked(_) => exit_status::CONFIG,
                PlanError::Inspect { .. } => exit_status::SETUP,
            },
            SandboxError::Landlock(err) => match err {
                LandlockError::Unenforceable(_) => exit_status::CONFIG,
                LandlockError::Kernel(_) => exit_status::UNSUPPORTED_HOST,
                LandlockError::Inspect { .. } | LandlockError::Restrict(_) => exit_status::SETUP,
            },
            SandboxError::Wsl1 => exit_status::UNSUPPORTED_HOST,
            SandboxError::BwrapMissing { .. } | SandboxError::BundledBwrap(_) => {
                exit_status::BWRAP_MISSING
            }
            SandboxError::Command(CommandError::NotFound(_)) => exit_status::NOT_FOUND,
            SandboxError::Command(
                CommandError::NotExecutable(_) | CommandError::IsDirectory(_),
            ) => exit_status::NOT_EXECUTABLE,
            SandboxError::Seccomp(_) | SandboxError::Internal(_) => exit_status::INTERNAL,
            SandboxError::Cwd(_)
            | SandboxError::Scan(_)
            | SandboxError::MountPoint(_)
            | SandboxError::HelperNotFound(_)
            | SandboxError::ProxyStart(_)
            | SandboxError::InheritedDescriptors(_)
            | SandboxError::Launch { .. }
            | SandboxError::Namespaces { .. }
            | SandboxError::BwrapFailed { .. }
            | SandboxError::InnerStage(_) => exit_status::SETUP,
        }
    }
}
