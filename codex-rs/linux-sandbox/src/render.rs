//! The pure renderer: a [`MountPlan`] becomes bwrap's argument vector.

use std::ffi::OsString;
use std::os::fd::RawFd;

use codex_sandboxing::NetworkMode;

use crate::plan::{MountOp, MountPlan};

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
    fn render(self) -> OsString {
        match self {
            FdArg::Fd(fd) => fd.to_string().into(),
            FdArg::Placeholder(name) => format!("<{name}>").into(),
        }
    }
}

/// The descriptors bwrap reads the seccomp program from and reports to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchFds {
    /// `--seccomp`: the compiled filter, applied right before exec.
    pub seccomp: FdArg,
    /// `--json-status-fd`: tells whether the command was started.
    pub status: FdArg,
}

impl LaunchFds {
    /// Placeholders, for showing the argv without launching.
    pub const PLACEHOLDERS: LaunchFds = LaunchFds {
        seccomp: FdArg::Placeholder("seccomp-fd"),
        status: FdArg::Placeholder("status-fd"),
    };
}

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
/// directory, seccomp and status descriptors, then `--` and the command.
pub fn bwrap_args(plan: &MountPlan, fds: LaunchFds, command: &[OsString]) -> Vec<OsString> {
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
    args.push("--seccomp".into());
    args.push(fds.seccomp.render());
    args.push("--json-status-fd".into());
    args.push(fds.status.render());
    args.push("--".into());
    args.extend(command.iter().cloned());
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
            LaunchFds {
                seccomp: FdArg::Fd(3),
                status: FdArg::Fd(4),
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
                "--seccomp",
                "3",
                "--json-status-fd",
                "4",
                "--",
                "sh",
                "-c",
                "echo hi",
            ]
        );
    }

    #[test]
    fn enabled_network_shares_the_host_network_namespace() {
        let args = strings(bwrap_args(
            &plan(NetworkMode::Enabled, vec![]),
            LaunchFds::PLACEHOLDERS,
            &[],
        ));
        assert!(!args.contains(&"--unshare-net".to_string()));
        assert!(args.contains(&"--unshare-user".to_string()));
        assert!(args.contains(&"<seccomp-fd>".to_string()));
        assert_eq!(args.last().map(String::as_str), Some("--"));
    }

    #[test]
    fn a_command_that_looks_like_an_option_stays_after_the_separator() {
        let args = strings(bwrap_args(
            &plan(NetworkMode::Restricted, vec![]),
            LaunchFds::PLACEHOLDERS,
            &["--bind".into(), "/".into()],
        ));
        let separator = args.iter().position(|a| a == "--").unwrap();
        assert_eq!(&args[separator + 1..], ["--bind", "/"]);
    }
}
