//! The pure renderer: a [`MountPlan`] and the stage that installs seccomp
//! become bwrap's argument vector, with descriptors left as
//! [`Descriptor`]s for the launch to number (or `--explain` to name).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use codex_sandboxing::NetworkMode;

use crate::plan::{MountOp, MountPlan};
use crate::protocol::{Arg, Descriptor, HELPER_ARGV0, InnerStageRequest, inner_stage_args};
use crate::proxy::routes::ListenSpec;

/// Who installs `no_new_privs` and the seccomp filter before the command:
/// the two pipelines give the command the same guarantees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage<'a> {
    /// bwrap itself (`--seccomp FD`): it reads the compiled filter from
    /// [`Descriptor::Seccomp`] and installs it right before exec'ing the
    /// command.
    Bwrap,
    /// bwrap execs the helper, and its inner stage installs them (with the
    /// guard, when the plan asks for it) and execs the command.
    Inner {
        /// How bwrap finds the helper.
        helper: &'a HelperExec,
        /// Whether this bwrap knows `--argv0` (0.9 and later); without it
        /// the stage runs under its path's name.
        argv0: bool,
        /// Where the inner stage listens for the proxy route, in network
        /// mode proxy. The command's proxy variables are not part of the
        /// argv: they reach bwrap as its environment (which it passes on),
        /// since an argument such as `--setenv HTTPS_PROXY
        /// http://user:password@...` is readable by every local user in
        /// `/proc/PID/cmdline`.
        proxy_listen: Option<&'a [ListenSpec]>,
        /// Whether the command goes through [`Descriptor::Command`].
        command_through_fd: bool,
    },
}

/// How bwrap finds the helper it execs as the inner stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelperExec {
    /// `/proc/self/fd/N` of [`Descriptor::Helper`], the running executable
    /// (`/proc/self/exe`, opened at launch): what runs is the image already
    /// running, whatever is now on disk. Needs the sandbox's own `/proc`.
    Descriptor,
    /// The executable's real path, for a sandbox without `/proc`; the plan
    /// must leave it visible.
    Path(PathBuf),
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
/// directory and status descriptor, then what `stage` says (the seccomp
/// descriptor, or the inner stage's program and arguments), `--` and the
/// command.
pub fn bwrap_args(plan: &MountPlan, stage: &Stage<'_>, command: &[OsString]) -> Vec<Arg> {
    let mut args: Vec<Arg> = ALWAYS.iter().map(|flag| Arg::from(*flag)).collect();
    if plan.network != NetworkMode::Enabled {
        args.push("--unshare-net".into());
    }
    for op in &plan.ops {
        let (flag, operands): (&str, Vec<&Path>) = match op {
            MountOp::RoBind(path) => ("--ro-bind", vec![path, path]),
            MountOp::RoBindTry(path) => ("--ro-bind-try", vec![path, path]),
            MountOp::Bind(path) => ("--bind", vec![path, path]),
            MountOp::MaskFile(path) => ("--ro-bind", vec![Path::new("/dev/null"), path]),
            MountOp::MaskDir(path) => ("--tmpfs", vec![path]),
            MountOp::Dev => ("--dev", vec![Path::new("/dev")]),
            MountOp::Proc => ("--proc", vec![Path::new("/proc")]),
            MountOp::Symlink { target, link } => ("--symlink", vec![target, link]),
            MountOp::RemountRo(path) => ("--remount-ro", vec![path]),
        };
        args.push(flag.into());
        args.extend(operands.into_iter().map(Arg::from));
    }
    args.push("--chdir".into());
    args.push(plan.chdir.as_path().into());
    args.push("--json-status-fd".into());
    args.push(Arg::fd(Descriptor::Status));
    match *stage {
        Stage::Bwrap => {
            args.push("--seccomp".into());
            args.push(Arg::fd(Descriptor::Seccomp));
            args.push("--".into());
            args.extend(command.iter().cloned().map(Arg::Text));
        }
        Stage::Inner {
            helper,
            argv0,
            proxy_listen,
            command_through_fd,
        } => {
            if argv0 {
                args.push("--argv0".into());
                args.push(HELPER_ARGV0.into());
            }
            if plan.guard_protected_names || plan.close_unix_sockets {
                // The guard's supervisor reaps every orphan of the sandbox
                // already: it can be the namespace's PID 1 itself, which
                // spares bwrap its own init process (and the command cannot
                // signal it: the kernel shields a namespace's init).
                args.push("--as-pid-1".into());
            }
            args.push("--".into());
            args.push(match helper {
                HelperExec::Descriptor => Arg::Fd {
                    prefix: "/proc/self/fd/",
                    descriptor: Descriptor::Helper,
                },
                HelperExec::Path(path) => path.as_path().into(),
            });
            let request = InnerStageRequest {
                network: plan.network,
                guard: plan
                    .guard_protected_names
                    .then_some(plan.guard_roots.as_slice()),
                close_unix_sockets: plan.close_unix_sockets,
                allowed_unix_sockets: &plan.allowed_unix_sockets,
                through_helper_fd: *helper == HelperExec::Descriptor,
                procfs_fd: plan.supervises_through_outer_procfs(),
                proxy_listen,
                command_through_fd,
            };
            args.extend(inner_stage_args(&request, command));
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ProcMode;
    use crate::protocol::{placeholder_args, resolve_args};
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
            close_unix_sockets: false,
            allowed_unix_sockets: Vec::new(),
            guard_roots: Vec::new(),
            mount_points: Vec::new(),
        }
    }

    /// The argv with descriptors numbered as a launch might number them.
    fn numbered(plan: &MountPlan, stage: Stage<'_>, command: &[OsString]) -> Vec<String> {
        let number = |descriptor| {
            match descriptor {
                Descriptor::Seccomp => "3",
                Descriptor::Status => "4",
                Descriptor::Report => "5",
                Descriptor::Helper => "6",
                Descriptor::Proxy => "7",
                Descriptor::Command => "8",
                Descriptor::Procfs => "9",
            }
            .to_owned()
        };
        strings(resolve_args(&bwrap_args(plan, &stage, command), number))
    }

    /// The argv as `--explain` shows it.
    fn shown(plan: &MountPlan, stage: Stage<'_>, command: &[OsString]) -> Vec<String> {
        strings(placeholder_args(&bwrap_args(plan, &stage, command)))
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
            MountOp::RoBindTry("/ws dir/sub/.git".into()),
            MountOp::RemountRo("/ws dir/.codex".into()),
        ];
        let args = numbered(
            &plan(NetworkMode::Restricted, ops),
            Stage::Bwrap,
            &["sh".into(), "-c".into(), "echo hi".into()],
        );
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
                "--ro-bind-try",
                "/ws dir/sub/.git",
                "/ws dir/sub/.git",
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
        let args = numbered(
            &plan(NetworkMode::Restricted, vec![]),
            Stage::Inner {
                helper: &HelperExec::Descriptor,
                argv0: true,
                proxy_listen: None,
                command_through_fd: false,
            },
            &["sh".into(), "-c".into(), "echo hi".into()],
        );
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
        let args = shown(
            &plan(NetworkMode::Enabled, vec![]),
            Stage::Inner {
                helper: &HelperExec::Path("/opt/codex dir/codex".into()),
                argv0: false,
                proxy_listen: None,
                command_through_fd: false,
            },
            &["true".into()],
        );
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
        let args = numbered(
            &plan(NetworkMode::Proxy, vec![]),
            Stage::Inner {
                helper: &HelperExec::Descriptor,
                argv0: false,
                proxy_listen: Some(&listen),
                command_through_fd: false,
            },
            &["curl".into()],
        );
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
        let args = shown(&plan(NetworkMode::Enabled, vec![]), Stage::Bwrap, &[]);
        assert!(!args.contains(&"--unshare-net".to_string()));
        assert!(args.contains(&"--unshare-user".to_string()));
        assert!(args.contains(&"<seccomp-fd>".to_string()));
        assert_eq!(args.last().map(String::as_str), Some("--"));
    }

    #[test]
    fn a_command_that_looks_like_an_option_stays_after_the_last_separator() {
        for stage in [
            Stage::Bwrap,
            Stage::Inner {
                helper: &HelperExec::Path("/usr/bin/codex".into()),
                argv0: true,
                proxy_listen: None,
                command_through_fd: false,
            },
            Stage::Inner {
                helper: &HelperExec::Descriptor,
                argv0: true,
                proxy_listen: None,
                command_through_fd: false,
            },
        ] {
            let args = shown(
                &plan(NetworkMode::Restricted, vec![]),
                stage,
                &["--bind", "/", "--"].map(OsString::from),
            );
            let command = ["--bind", "/", "--"];
            assert!(args.ends_with(&command.map(String::from)), "{args:?}");
            assert_eq!(args[args.len() - command.len() - 1], "--", "{args:?}");
        }
    }
}
