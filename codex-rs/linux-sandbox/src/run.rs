//! The entry point shared by `codex sandbox` and `codex-linux-sandbox`:
//! options and environment in, exit status out. Every host read happens
//! in [`HostFacts::observe`], every choice in [`decide`], and the plan is
//! either explained or executed, so everything that can refuse does so
//! before the command is started.

use codex_sandboxing::EffectivePolicy;
use codex_sandboxing::cli::SandboxArgs;
use codex_sandboxing::request::{Environment, build_policy};

use crate::decide::{LaunchPlan, decide, retry};
use crate::error::SandboxError;
use crate::execute::{Launched, execute};
use crate::explain::explain;
use crate::fs_view::HostFs;
use crate::host_facts::HostFacts;
use crate::host_memory;

/// Runs `args` and returns the exit status to end with. `program` prefixes
/// every message (`codex sandbox`, `codex-linux-sandbox`).
pub fn run_main(args: &SandboxArgs, program: &str) -> i32 {
    init_logging();
    match run(args, program) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{program}: {err}");
            err.exit_code()
        }
    }
}

fn run(args: &SandboxArgs, program: &str) -> Result<i32, SandboxError> {
    let env = Environment::from_process().map_err(SandboxError::Cwd)?;
    let policy = build_policy(args, &env)?;
    for warning in &policy.warnings {
        eprintln!("{program}: warning: {warning}");
    }
    let mut facts = HostFacts::observe(&policy, args, &env.process_cwd, &HostFs)?;
    let plan = decide(&policy, &facts, &args.command)?;
    let failure = match start(&policy, plan, args.explain, program)? {
        Launched::Ran(code) => return Ok(code),
        Launched::SetupFailed(failure) => failure,
    };
    let plan = retry(&policy, &mut facts, &failure, &args.command)?;
    match start(&policy, plan, args.explain, program)? {
        Launched::Ran(code) => Ok(code),
        Launched::SetupFailed(failure) => Err(failure.into()),
    }
}

/// Prints the plan's warnings (an informational notice only the first
/// time on this host, unless explaining), then explains the plan
/// (`--explain`) or executes it.
fn start(
    policy: &EffectivePolicy,
    plan: LaunchPlan<'_>,
    explain_only: bool,
    program: &str,
) -> Result<Launched, SandboxError> {
    for warning in &plan.warnings {
        if let Some(key) = warning.notice_key()
            && !explain_only
        {
            if host_memory::load(host_memory::NOTICES_FILE, &key).is_some() {
                continue;
            }
            host_memory::store(host_memory::NOTICES_FILE, &key, "said");
        }
        eprintln!("{program}: warning: {warning}");
    }
    if explain_only {
        print!("{}", explain(policy, &plan));
        return Ok(Launched::Ran(0));
    }
    execute(plan, program)
}

/// `RUST_LOG` turns on logging; without it nothing is set up, keeping
/// start-up lean.
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}
