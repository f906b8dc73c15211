//! `codex-linux-sandbox`: runs a command under bubblewrap and seccomp.
//!
//! Pure parts ([`plan`], [`render`], [`seccomp`], [`explain`]) are separate
//! from the code that touches the system ([`locate`], [`launch`], [`run`]),
//! so every rule of the policy is unit-tested without root. Choosing the
//! bwrap is [`launcher`]; verifying and exec'ing the bundled one is
//! [`bundled`]; host probes are [`probe`], and `codex sandbox doctor` is
//! [`doctor`] (its judgements are pure, in `codex_sandboxing::doctor`).
//!
//! ```text
//! EffectivePolicy --plan--> MountPlan --render--> bwrap argv --launch--> bwrap --seccomp FD -- CMD
//!                                                   (features.inner_stage)  bwrap -- helper [inner stage] -- CMD
//! ```
//!
//! The [`inner_stage`] is the part that runs inside the namespaces.

pub mod argv0_cache;
pub mod bundled;
pub mod doctor;
pub mod error;
pub mod explain;
mod fd;
pub mod fs_view;
pub mod guard;
pub mod inner_stage;
pub mod landlock;
pub mod launch;
pub mod launcher;
pub mod locate;
pub mod parent;
pub mod plan;
pub mod probe;
pub mod protocol;
pub mod proxy;
pub mod render;
pub mod run;
pub mod scan;
pub mod seccomp;
#[cfg(test)]
mod test_support;

use clap::Parser;
use codex_sandboxing::cli::{SandboxArgs, after_help};

pub use doctor::doctor_main;
pub use error::exit_code;
pub use run::run_main;

/// The helper's own command line: the same options as `codex sandbox`.
#[derive(Debug, Parser)]
#[command(
    name = "codex-linux-sandbox",
    about = "Run a command in the Codex Linux sandbox (bubblewrap + seccomp).",
    after_help = after_help()
)]
struct HelperCli {
    #[command(flatten)]
    args: SandboxArgs,
}

/// Entry point of the `codex-linux-sandbox` helper (also reached through
/// arg0 dispatch from `codex`): becomes the [`inner_stage`] when asked to,
/// otherwise parses the command line; never returns.
pub fn helper_main() -> ! {
    inner_stage::dispatch_inner_stage();
    let cli = match HelperCli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                exit_code::USAGE
            } else {
                0
            };
            let _ = err.print();
            std::process::exit(code);
        }
    };
    std::process::exit(run_main(&cli.args, "codex-linux-sandbox"))
}
