//! `codex-linux-sandbox`: runs a command under bubblewrap and seccomp.
//!
//! One start, in order:
//!
//! ```text
//! SandboxArgs + config --build_policy--> EffectivePolicy          (codex-sandboxing)
//!   --HostFacts::observe--> facts        host_facts: every host read, in one place
//!   --decide--> LaunchPlan               decide: pure; plan (mounts), render (argv),
//!                                        seccomp (filter), landlock::grants
//!   --explain | execute                  explain: renders the plan; execute: runs it
//! bwrap -- [inner_stage: no_new_privs, seccomp (+ guard), proxy listeners] -- COMMAND
//! ```
//!
//! [`protocol`] is the contract between the outer stage and the inner
//! stage. Choosing the bwrap is `launcher`, verifying and exec'ing the
//! bundled one `bundled`, the probes run after a failed start `probe`, and
//! `codex sandbox doctor` is `doctor` (its judgements are pure, in
//! `codex_sandboxing::doctor`). The modules public here are the pure ones
//! the fuzz targets and tests drive directly.

mod bundled;
mod decide;
mod doctor;
mod error;
mod execute;
mod explain;
mod fd;
pub mod fs_view;
mod guard;
mod host_facts;
mod host_memory;
mod inner_stage;
mod landlock;
mod launcher;
mod locate;
mod mount_points;
mod parent;
pub mod plan;
mod probe;
pub mod protocol;
mod proxy;
pub mod render;
mod run;
pub mod scan;
mod seccomp;
#[cfg(test)]
mod test_support;

use clap::Parser;
use codex_sandboxing::cli::{SandboxArgs, after_help};

pub use doctor::doctor_main;
pub use inner_stage::dispatch_inner_stage;
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
/// arg0 dispatch from `codex`): becomes the inner stage when asked to,
/// otherwise parses the command line; never returns.
pub fn helper_main() -> ! {
    inner_stage::dispatch_inner_stage();
    let cli = match HelperCli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                protocol::exit_status::USAGE
            } else {
                0
            };
            let _ = err.print();
            std::process::exit(code);
        }
    };
    std::process::exit(run_main(&cli.args, "codex-linux-sandbox"))
}
