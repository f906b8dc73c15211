//! `codex`: the command-line front end.
//!
//! `codex sandbox [OPTIONS] [--] COMMAND...` runs COMMAND in the host's
//! sandbox backend, chosen at compile time. When this binary is invoked as
//! `codex-linux-sandbox` (a symlink or copy), it runs the Linux helper's
//! entry point instead, before any parsing, so one binary is enough.

use std::path::Path;

#[cfg(target_os = "macos")]
mod macos;

use clap::{Parser, Subcommand};
use codex_sandboxing::cli::{SandboxArgs, after_help};
use codex_sandboxing::exit_status;

#[derive(Debug, Parser)]
#[command(name = "codex", version, about = "Codex command-line tools.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a command in the sandbox: read the machine, write only where the
    /// profile allows, no network unless it says so.
    #[command(after_help = after_help())]
    Sandbox(SandboxCommand),
}

/// `codex sandbox`: run a command, or `doctor`. A command named `doctor`
/// runs with `codex sandbox -- doctor`.
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    disable_help_subcommand = true
)]
struct SandboxCommand {
    #[command(subcommand)]
    action: Option<SandboxAction>,
    #[command(flatten)]
    run: SandboxArgs,
}

#[derive(Debug, Subcommand)]
enum SandboxAction {
    /// Check everything the sandbox needs from this host, one line per
    /// check with the fix for each failure; exit 0 when the default
    /// profile can run here, 1 when it cannot.
    Doctor {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    // bwrap execs this binary as the inner stage under any arg0.
    #[cfg(target_os = "linux")]
    codex_linux_sandbox::dispatch_inner_stage();
    dispatch_by_arg0();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                exit_status::USAGE
            } else {
                0
            };
            let _ = err.print();
            std::process::exit(code);
        }
    };
    let Command::Sandbox(sandbox) = cli.command;
    if sandbox.action.is_none()
        && sandbox.run.cwd.is_some()
        && sandbox.run.permission_profile.is_none()
    {
        // Codex refuses it too: -C is where the profile is resolved, so
        // it names the profile it resolves.
        eprintln!(
            "error: --cd needs --permission-profile (-P), as in Codex: name the profile to resolve for that directory"
        );
        std::process::exit(exit_status::USAGE);
    }
    let code = match sandbox.action {
        Some(SandboxAction::Doctor { json }) => run_doctor(json),
        None => run_sandbox(&sandbox.run),
    };
    std::process::exit(code)
}

/// Runs the Linux helper when invoked as `codex-linux-sandbox`.
fn dispatch_by_arg0() {
    let arg0 = std::env::args_os().next().unwrap_or_default();
    let name = Path::new(&arg0).file_name().unwrap_or_default();
    if name == "codex-linux-sandbox" {
        #[cfg(target_os = "linux")]
        codex_linux_sandbox::helper_main();
        #[cfg(not(target_os = "linux"))]
        unsupported_host();
    }
}

#[cfg(target_os = "linux")]
fn run_sandbox(args: &SandboxArgs) -> i32 {
    codex_linux_sandbox::run_main(args, "codex sandbox")
}

#[cfg(target_os = "linux")]
fn run_doctor(json: bool) -> i32 {
    codex_linux_sandbox::doctor_main(json)
}

#[cfg(target_os = "macos")]
fn run_sandbox(args: &SandboxArgs) -> i32 {
    macos::run(args)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn run_sandbox(_args: &SandboxArgs) -> i32 {
    unsupported_host()
}

#[cfg(not(target_os = "linux"))]
fn run_doctor(_json: bool) -> i32 {
    eprintln!("codex sandbox doctor: checks Linux hosts only; nothing was checked");
    exit_status::UNSUPPORTED_HOST
}

/// Refuses to run anything where no backend exists (Windows, the BSDs):
/// the command never runs unsandboxed.
#[cfg(not(target_os = "linux"))]
fn unsupported_host() -> ! {
    let os = std::env::consts::OS;
    let reason = if os == "windows" {
        "no Windows sandbox backend exists yet".to_owned()
    } else {
        format!("no sandbox backend for {os} in this build")
    };
    eprintln!("codex sandbox: {reason}; nothing was run");
    std::process::exit(exit_status::UNSUPPORTED_HOST)
}
