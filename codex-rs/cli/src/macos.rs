//! `codex sandbox` on macOS: the Seatbelt profile that
//! `codex_sandboxing::seatbelt` generates from the effective policy, run
//! with `/usr/bin/sandbox-exec`. Everything but the exec is pure and tested
//! on Linux; this file is compiled only on macOS, which the project's
//! machines cannot build for (see the README).

use std::os::unix::process::CommandExt;
use std::process::Command;

use codex_sandboxing::cli::SandboxArgs;
use codex_sandboxing::environment::{SANDBOX_VARIABLE, SEATBELT};
use codex_sandboxing::exit_status::{CONFIG, SETUP};
use codex_sandboxing::request::{Environment, build_policy};
use codex_sandboxing::seatbelt::sandbox_exec_argv;

/// Runs `args.command` under Seatbelt; returns only on failure.
pub fn run(args: &SandboxArgs) -> i32 {
    let (code, message) = match build_and_exec(args) {
        Ok(code) => return code,
        Err(failure) => failure,
    };
    eprintln!("codex sandbox: {message}");
    code
}

fn build_and_exec(args: &SandboxArgs) -> Result<i32, (i32, String)> {
    let env = Environment::from_process()
        .map_err(|err| (SETUP, format!("cannot read the current directory: {err}")))?;
    let policy = build_policy(args, &env).map_err(|err| (CONFIG, err.to_string()))?;
    for warning in &policy.warnings {
        eprintln!("codex sandbox: warning: {warning}");
    }
    let exec_error = match &policy.sandbox {
        Some(sandbox) => {
            let argv = sandbox_exec_argv(sandbox, |name| std::env::var(name).ok(), &args.command)
                .map_err(|err| (CONFIG, err.to_string()))?;
            if args.explain {
                println!(
                    "profile: {} (chosen by {})",
                    policy.profile, policy.chosen_by
                );
                println!("{}", argv[2].to_string_lossy());
                return Ok(0);
            }
            let mut environment = policy.environment.clone();
            environment.set(SANDBOX_VARIABLE, SEATBELT);
            Command::new(&argv[0])
                .args(&argv[1..])
                .current_dir(&sandbox.cwd)
                .env_clear()
                .envs(environment.vars().iter().cloned())
                .exec()
        }
        None => {
            if args.explain {
                println!(
                    "profile: {} (chosen by {}): no sandbox",
                    policy.profile, policy.chosen_by
                );
                return Ok(0);
            }
            let (program, rest) = args
                .command
                .split_first()
                .ok_or((SETUP, "no command to run".to_owned()))?;
            Command::new(program)
                .args(rest)
                .env_clear()
                .envs(policy.environment.vars().iter().cloned())
                .exec()
        }
    };
    Err((SETUP, format!("cannot start the command: {exec_error}")))
}
