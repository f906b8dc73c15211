//! The pure renderer: a [`MountPlan`] becomes bwrap's argument vector.

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::Path;

use codex_sandboxing::NetworkMode;

use crate::inner_stage::args::ProxyStage;
use crate::inner_stage::{HELPER_ARGV0, inner_stage_args};
use crate::plan::{MountOp, MountPlan};
use crate::proxy::routes::ListenSpec;

/// A file descriptor bwrap is told about: a real one when launching, a
/// placeholder when only showing the command (`--explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdArg {
    /// A descriptor open in the process that execs bwrap.
    Fd(RawFd),
    /// Not opened yet; rendered as `<NAME>`.
    Placeholder(&'static str),
}

impl FdArg {
    /// The descriptor number, or `<NAME>` for a placeholder.
    pub(crate) fn render(self) -> OsString {
        match self {
            FdArg::Fd(fd) => fd.to_string().into(),
            FdArg::Placeholder(name) => format!("<{name}>").into(),
        }
    }
}

/// Who installs `no_new_privs` and the seccomp filter before the command:
/// the two pipelines give the command the same guarantees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage<'a> {
    /// bwrap itself (`--seccomp FD`): it reads the compiled filter from the
    /// descriptor and installs it right before exec'ing the command.
    Bwrap {
        /// The descriptor holding the compiled filter.
        seccomp: FdArg,
    },
    /// bwrap execs the helper, and its inner stage installs them and execs
    /// the command (`features.inner_stage`).
    Inner {
        /// How bwrap finds the helper.
        helper: HelperExec<'a>,
        /// Where the inner stage reports a failure.
        report: FdArg,
        /// Whether this bwrap knows `--argv0` (0.9 and later); without it
        /// the stage runs under its path's name.
        argv0: bool,
        /// Proxy routing, in network mode proxy.
        /// The command's proxy variables are not part of it: they reach
        /// bwrap as its environment (which it passes on), since an argument
        /// such as `--setenv HTTPS_PROXY http://user:password@...` is
        /// readable by every local user in `/proc/PID/cmdline`.
        proxy: Option<ProxyStage<'a>>,
    },
}

/// How bwrap finds the helper it execs as the inner stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelperExec<'a> {
    /// `/proc/self/fd/N`, a descriptor of the running executable: what
    /// runs is the image already running, whatever is now on disk. Needs
    /// the sandbox's own `/proc`.
    Descriptor(FdArg),
    /// The executable's real path, for a sandbox without `/proc`; the plan
    /// must leave it visible.
    Path(&'a Path),
}

impl<'a> Stage<'a> {
    /// Placeholders for the descriptors, for showing the argv without
    /// launching; `helper` is `Some` for the inner stage.
    pub fn placeholders(helper: Option<HelperExec<'a>>, argv0: bool) -> Stage<'a> {
        if let Some(helper) = helper {
            Stage::Inner {
                helper,
                report: FdArg::Placeholder("report-fd"),
                argv0,
                proxy: None,
            }
        } else {
            Stage::Bwrap {
                seccomp: FdArg::Placeholder("seccomp-fd"),
            }
        }
    }

    /// This stage with proxy routing through a placeholder descriptor, for
    /// showing the argv; only the inner stage routes a proxy.
    pub fn with_proxy_placeholders(self, listen: &'a [ListenSpec]) -> Stage<'a> {
        match self {
            Stage::Inner {
                helper,
                report,
                argv0,
                ..
            } => Stage::Inner {
                helper,
                report,
                argv0,
                proxy: Some(ProxyStage {
                    channel: FdArg::Placeholder("proxy-fd"),
                    listen,
                }),
            },
            bwrap @ Stage::Bwrap { .. } => bwrap,
        }
    }
}

/// The placeholder of bwrap's `--json-status-fd` descriptor.
pub const STATUS_PLACEHOLDER: FdArg = FdArg::Placeholder("status-fd");

/// Namespace and session flags every sandbox gets.
///
/// `--unshare-user` is explicit because bwrap skips the user namespace for
/// uid 0 otherwise, and `--cap-drop ALL` because bwrap keeps every
/// capability for uid 0 inside the namespace, which would let the command
/// unmount the read-only binds that protect `.git`.
const ALWAYS: [&str; 8] = [
    "--new-session",
    "--die-with-parent",
    "--unshare-user",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--cap-drop",
    "ALL",
];

/// The full bwrap argv after the program name: flags, mounts, working
/// directory and status descriptor, then what `stage` says (the seccomp
/// descriptor, or the inner stage's program and arguments), `--` and the
/// command.
pub fn bwrap_args(
    plan: &MountPlan,
    status: FdArg,
    stage: Stage<'_>,
    command: &[OsString],
) -> Vec<OsString> {
    let mut args: Vec<OsString> = ALWAYS.iter().map(OsString::from).collect();
    if plan.network != NetworkMode::Enabled {
        args.push("--unshare-net".into());
    }
    for op in &plan.ops {
        let (flag, operands): (&str, Vec<OsString>) = match op {
            MountOp::RoBind(path) => ("--ro-bind", vec![path.into(), path.into()]),
            MountOp::Bind(path) => ("--bind", vec![path.into(), path.into()]),
            MountOp::MaskFile(path) => ("--ro-bind", vec!["/dev/null".into(), path.into()]),
            MountOp::MaskDir(path) => ("--tmpfs", vec![path.into()]),
            MountOp::Dev => ("--dev", vec!["/dev".into()]),
            MountOp::Proc => ("--proc", vec!["/proc".into()]),
            MountOp::Symlink { target, link } => ("--symlink", vec![target.into(), link.into()]),
            MountOp::RemountRo(path) => ("--remount-ro", vec![path.into()]),
        };
        args.push(flag.into());
        args.extend(operands);
    }
    args.push("--chdir".into());
    args.push(plan.chdir.clone().into());
    args.push("--json-status-fd".into());
    args.push(status.render());
    match stage {
        Stage::Bwrap { seccomp } => {
            args.push("--seccomp".into());
            args.push(seccomp.render());
            args.push("--".into());
            args.extend(command.iter().cloned());
        }
        Stage::Inner {
            helper,
            report,
            argv0,
            proxy,
        } => {
            if argv0 {
                args.push("--argv0".into());
                args.push(HELPER_ARGV0.into());
            }
            args.push("--".into());
            let helper_fd = match helper {
                HelperExec::Descriptor(fd) => {
                    let mut program = OsString::from("/proc/self/fd/");
                    program.push(fd.render());
                    args.push(program);
                    Some(fd)
                }
                HelperExec::Path(path) => {
                    args.push(path.into());
                    None
                }
            };
            args.extend(inner_stage_args(
                plan.network,
                plan.guard_protected_names,
                report,
                helper_fd,
                proxy,
                command,
            ));
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ProcMode;
    use std::path::PathBuf;

    fn plan(network: NetworkMode, ops: Vec<MountOp>) -> MountPlan {
        MountPlan {
            ops,
            rules: Vec::new(),
            glob_masks: Vec::new(),
            network,
            chdir: PathBuf::from("/ws dir"),
            proc: ProcMode::Mount,
            guard_protected_names: false,
        }
    }

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn renders_every_op_in_order_then_the_command() {
        let ops = vec![
            MountOp::RoBind("/".into()),
            MountOp::Dev,
            MountOp::Proc,
            MountOp::Bind("/ws dir".into()),
            MountOp::MaskDir("/ws dir/.codex".into()),
            MountOp::MaskFile("/ws dir/.env".into()),
            MountOp::RemountRo("/ws dir/.codex".into()),
        ];
        let args = strings(bwrap_args(
            &plan(NetworkMode::Restricted, ops),
            FdArg::Fd(4),
            Stage::Bwrap {
                seccomp: FdArg::Fd(3),
            },
            &["sh".into(), "-c".into(), "echo hi".into()],
        ));
        assert_eq!(
            args,
            [
                "--new-session",
                "--die-with-parent",
                "--unshare-user",
                "--unshare-pid",
                "--unshare-ipc",
                "--unshare-uts",
                "--cap-drop",
                "ALL",
                "--unshare-net",
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--bind",
                "/ws dir",
                "/ws dir",
                "--tmpfs",
                "/ws dir/.codex",
                "--ro-bind",
                "/dev/null",
                "/ws dir/.env",
                "--remount-ro",
                "/ws dir/.codex",
                "--chdir",
                "/ws dir",
                "--json-status-fd",
                "4",
                "--seccomp",
                "3",
                "--",
                "sh",
                "-c",
                "echo hi",
            ]
        );
    }

    /// The arguments after bwrap's own ones: from `--json-status-fd`'s
    /// value on.
    fn tail_after_status(args: &[String]) -> &[String] {
        let at = args.iter().position(|a| a == "--json-status-fd").unwrap();
        &args[at + 2..]
    }

    #[test]
    fn the_inner_stage_with_argv0_runs_the_helper_descriptor_under_the_helper_name() {
        let args = strings(bwrap_args(
            &plan(NetworkMode::Restricted, vec![]),
            FdArg::Fd(4),
            Stage::Inner {
                helper: HelperExec::Descriptor(FdArg::Fd(6)),
                report: FdArg::Fd(5),
                argv0: true,
                proxy: None,
            },
            &["sh".into(), "-c".into(), "echo hi".into()],
        ));
        assert!(!args.contains(&"--seccomp".to_string()));
        assert_eq!(
            tail_after_status(&args),
            [
                "--argv0",
                "codex-linux-sandbox",
                "--",
                "/proc/self/fd/6",
                "--codex-inner-stage",
                "--network",
                "restricted",
                "--report-fd",
                "5",
                "--helper-fd",
                "6",
                "--",
                "sh",
                "-c",
                "echo hi",
            ]
        );
    }

    #[test]
    fn without_proc_or_argv0_the_inner_stage_is_run_by_path_and_unnamed() {
        let args = strings(bwrap_args(
            &plan(NetworkMode::Enabled, vec![]),
            STATUS_PLACEHOLDER,
            Stage::placeholders(
                Some(HelperExec::Path(Path::new("/opt/codex dir/codex"))),
                false,
            ),
            &["true".into()],
        ));
        assert!(!args.contains(&"--argv0".to_string()));
        assert_eq!(
            tail_after_status(&args),
            [
                "--",
                "/opt/codex dir/codex",
                "--codex-inner-stage",
                "--network",
                "enabled",
                "--report-fd",
                "<report-fd>",
                "--",
                "true",
            ]
        );
    }

    #[test]
    fn proxy_routing_passes_the_routes_to_the_inner_stage() {
        let listen = [ListenSpec::parse("127.0.0.1:3128").unwrap()];
        let args = strings(bwrap_args(
            &plan(NetworkMode::Proxy, vec![]),
            FdArg::Fd(4),
            Stage::Inner {
                helper: HelperExec::Descriptor(FdArg::Fd(6)),
                report: FdArg::Fd(5),
                argv0: false,
                proxy: Some(ProxyStage {
                    channel: FdArg::Fd(7),
                    listen: &listen,
                }),
            },
            &["curl".into()],
        ));
        assert!(args.contains(&"--unshare-net".to_string()));
        assert_eq!(
            tail_after_status(&args),
            [
                "--",
                "/proc/self/fd/6",
                "--codex-inner-stage",
                "--network",
                "proxy",
                "--report-fd",
                "5",
                "--helper-fd",
                "6",
                "--proxy-fd",
                "7",
                "--proxy-listen",
                "127.0.0.1:3128",
                "--",
                "curl",
            ]
        );
    }

    #[test]
    fn enabled_network_shares_the_host_network_namespace() {
        let args = strings(bwrap_args(
            &plan(NetworkMode::Enabled, vec![]),
            STATUS_PLACEHOLDER,
            Stage::placeholders(None, true),
            &[],
        ));
        assert!(!args.contains(&"--unshare-net".to_string()));
        assert!(args.contains(&"--unshare-user".to_string()));
        assert!(args.contains(&"<seccomp-fd>".to_string()));
        assert_eq!(args.last().map(String::as_str), Some("--"));
    }

    #[test]
    fn a_command_that_looks_like_an_option_stays_after_the_last_separator() {
        for helper in [
            None,
            Some(HelperExec::Path(Path::new("/usr/bin/codex"))),
            Some(HelperExec::Descriptor(FdArg::Placeholder("helper-fd"))),
        ] {
            let args = strings(bwrap_args(
                &plan(NetworkMode::Restricted, vec![]),
                STATUS_PLACEHOLDER,
                Stage::placeholders(helper, true),
                &["--bind", "/", "--"].map(OsString::from),
            ));
            let command = ["--bind", "/", "--"];
            assert!(args.ends_with(&command.map(String::from)), "{args:?}");
            assert_eq!(args[args.len() - command.len() - 1], "--", "{args:?}");
        }
    }
}
