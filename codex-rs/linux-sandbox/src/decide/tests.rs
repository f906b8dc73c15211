//! The decisions with security edges, on fixtures of host facts: no
//! process is started and no real filesystem is read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use codex_sandboxing::namespaces::{Container, diagnose_namespace_refusal};
use codex_sandboxing::proxy::domains::DomainPolicy;
use codex_sandboxing::{Access, EffectivePolicy, NetworkMode, SandboxPolicy};

use super::*;
use crate::bundled::{BundledBwrap, ExpectedDigest};
use crate::fs_view::fake::FakeFs;
use crate::host_facts::{BackendFacts, BwrapFacts, HostFacts, ProcFacts};
use crate::locate::CommandError;
use crate::protocol::placeholder_args;
use crate::scan::ScanReport;
use crate::test_support::policy;

/// The tree every fixture plans over.
fn tree() -> FakeFs {
    FakeFs::new()
        .dir("/ws/.git")
        .dir("/usr/bin")
        .dir("/opt/codex")
        .file("/opt/codex/codex", "")
}

/// Host facts of a healthy host with a system bwrap 0.9+.
fn host<'a>(fs: &'a FakeFs, scan: &'a ScanReport) -> BwrapFacts<'a> {
    BwrapFacts {
        fs,
        wsl: Wsl::No,
        proc: ProcFacts::Mountable,
        bwrap: Ok(Bwrap::System(PathBuf::from("/usr/bin/bwrap"))),
        argv0: true,
        install_hint: "sudo apt-get install bubblewrap",
        scan: scan.clone(),
        current_exe: Ok(PathBuf::from("/opt/codex/codex")),
        builtin_proxy_port: 40000,
        privileged_unix_sockets: Vec::new(),
        user_namespace_refused: None,
    }
}

fn facts(host: BwrapFacts<'_>) -> HostFacts<'_> {
    HostFacts {
        command: Ok(PathBuf::from("/usr/bin/true")),
        variables: BTreeMap::new(),
        backend: BackendFacts::Bwrap(host),
    }
}

/// `:workspace`-like: read everything, write `/ws`.
fn workspace(network: NetworkMode) -> SandboxPolicy {
    policy(
        &[("/", Access::Read), ("/ws", Access::Write)],
        "/ws",
        network,
    )
}

fn effective(sandbox: SandboxPolicy) -> EffectivePolicy {
    EffectivePolicy {
        profile: ":test".into(),
        chosen_by: "test".into(),
        cwd: sandbox.cwd.clone(),
        sandbox: Some(sandbox),
        warnings: Vec::new(),
        environment: Default::default(),
    }
}

fn command() -> Vec<std::ffi::OsString> {
    vec!["true".into()]
}

fn bwrap_launch<'p>(plan: &'p LaunchPlan<'_>) -> &'p BwrapLaunch<'p> {
    match &plan.launch {
        Launch::Bwrap(launch) => launch,
        other => panic!("not a bwrap launch: {other:?}"),
    }
}

/// The argv as `--explain` shows it, one string.
fn shown_argv(plan: &LaunchPlan<'_>) -> String {
    placeholder_args(&bwrap_launch(plan).argv())
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The decision for the built-in-like workspace profile, network
/// restricted, on `facts`.
fn decide_workspace<'f>(facts: &'f HostFacts<'_>) -> Result<LaunchPlan<'f>, SandboxError> {
    decide(
        &effective(workspace(NetworkMode::Restricted)),
        facts,
        &command(),
    )
}

#[test]
fn the_guard_runs_in_the_inner_stage_through_the_running_image() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let facts = facts(host(&fs, &scan));
    let plan = decide_workspace(&facts).unwrap();
    assert!(
        plan.blocked.is_none() && plan.warnings.is_empty(),
        "{plan:?}"
    );
    let launch = bwrap_launch(&plan);
    assert_eq!(
        launch.stage,
        StagePlan::Inner {
            helper: HelperExec::Descriptor,
            argv0: true,
            command_fd: false,
        }
    );
    let argv = shown_argv(&plan);
    assert!(
        argv.contains("--argv0 codex-linux-sandbox --as-pid-1 -- /proc/self/fd/<helper-fd> --codex-inner-stage --network restricted --guard-names"),
        "{argv}"
    );
}

#[test]
fn without_proc_the_guard_reads_the_outer_stages_procfs_whatever_the_reason() {
    let (fs, scan) = (tree(), ScanReport::empty());
    for (proc, warned) in [
        (ProcFacts::NotAsked, false),
        (ProcFacts::ExpectedToFail, true),
        (ProcFacts::RefusedAtLaunch, true),
    ] {
        let facts = facts(BwrapFacts {
            proc,
            ..host(&fs, &scan)
        });
        let plan = decide_workspace(&facts).unwrap();
        assert_eq!(plan.warnings == [Warning::NoProc], warned, "{proc:?}");
        let launch = bwrap_launch(&plan);
        assert_eq!(launch.mounts.proc, ProcMode::Skip);
        assert!(launch.mounts.supervises_through_outer_procfs());
        let argv = shown_argv(&plan);
        assert!(
            argv.contains(
                "-- /opt/codex/codex --codex-inner-stage --network restricted --guard-names"
            ),
            "{argv}"
        );
        assert!(argv.contains("--procfs-fd <procfs-fd>"), "{argv}");
        assert!(!argv.contains("--proc /proc"), "{argv}");
    }
    // With its own /proc, the supervisor reads that one.
    let facts = facts(host(&fs, &scan));
    let plan = decide_workspace(&facts).unwrap();
    assert!(!shown_argv(&plan).contains("--procfs-fd"));
}

#[test]
fn without_proc_and_the_guard_the_helper_runs_by_path_with_one_warning() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let mut sandbox = workspace(NetworkMode::Restricted);
    sandbox.guard_protected_names = false;
    sandbox.inner_stage = true;
    for (proc, warned) in [
        (ProcFacts::NotAsked, false),
        (ProcFacts::ExpectedToFail, true),
        (ProcFacts::RefusedAtLaunch, true),
    ] {
        let facts = facts(BwrapFacts {
            proc,
            ..host(&fs, &scan)
        });
        let plan = decide(&effective(sandbox.clone()), &facts, &command()).unwrap();
        assert_eq!(plan.warnings == [Warning::NoProc], warned, "{proc:?}");
        let launch = bwrap_launch(&plan);
        assert_eq!(launch.mounts.proc, ProcMode::Skip);
        assert!(
            shown_argv(&plan).contains("-- /opt/codex/codex --codex-inner-stage"),
            "{}",
            shown_argv(&plan)
        );
    }
}

#[test]
fn a_profile_that_hides_the_helper_is_refused_without_proc() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let mut sandbox = policy(
        &[
            ("/", Access::Read),
            ("/ws", Access::Write),
            ("/opt/codex", Access::None),
        ],
        "/ws",
        NetworkMode::Restricted,
    );
    sandbox.guard_protected_names = false;
    sandbox.inner_stage = true;
    let facts = facts(BwrapFacts {
        proc: ProcFacts::NotAsked,
        ..host(&fs, &scan)
    });
    let err = decide(&effective(sandbox), &facts, &command()).unwrap_err();
    assert!(
        matches!(&err, SandboxError::HelperHidden { exe, .. } if exe == Path::new("/opt/codex/codex")),
        "{err}"
    );
    assert_eq!(err.exit_code(), 78);
}

#[test]
fn the_built_in_proxy_ignores_a_host_proxy_variable_and_says_so() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let mut sandbox = workspace(NetworkMode::Proxy);
    sandbox.domains = Some(DomainPolicy::default());
    let mut with_variable = facts(host(&fs, &scan));
    with_variable
        .variables
        .insert("https_proxy".into(), "http://127.0.0.1:3128".into());
    let plan = decide(&effective(sandbox.clone()), &with_variable, &command()).unwrap();
    assert!(
        plan.warnings.contains(&Warning::HostProxyNotUsed {
            variable: "https_proxy=http://127.0.0.1:3128".into()
        }),
        "{:?}",
        plan.warnings
    );
    // Without the variable the built-in proxy is routed, on the port the
    // facts chose, and its variables reach bwrap's environment only.
    let facts = facts(host(&fs, &scan));
    let plan = decide(&effective(sandbox), &facts, &command()).unwrap();
    let launch = bwrap_launch(&plan);
    let proxy = launch.proxy.as_ref().unwrap();
    assert!(matches!(proxy.upstream, Upstream::Builtin(_)));
    assert!(
        proxy
            .env
            .iter()
            .any(|(name, value)| name == "HTTPS_PROXY" && value == "http://127.0.0.1:40000")
    );
    let argv = shown_argv(&plan);
    assert!(
        argv.contains("--proxy-fd <proxy-fd> --proxy-listen 127.0.0.1:40000"),
        "{argv}"
    );
    assert!(!argv.contains("HTTPS_PROXY"), "{argv}");
}

#[test]
fn proxy_mode_without_a_usable_variable_is_refused() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let facts = facts(host(&fs, &scan));
    let err = decide(
        &effective(workspace(NetworkMode::Proxy)),
        &facts,
        &command(),
    )
    .unwrap_err();
    assert!(matches!(err, SandboxError::ProxyRoute(_)), "{err}");
    assert_eq!(err.exit_code(), 78);
}

#[test]
fn an_old_bwrap_runs_the_stage_unnamed_with_a_warning() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let facts = facts(BwrapFacts {
        argv0: false,
        ..host(&fs, &scan)
    });
    let plan = decide_workspace(&facts).unwrap();
    assert_eq!(
        plan.warnings,
        [Warning::NoArgv0 {
            bwrap: "/usr/bin/bwrap".into()
        }]
    );
    assert!(!shown_argv(&plan).contains("--argv0"));
}

#[test]
fn the_bundled_bwrap_runs_with_a_warning_and_no_bwrap_blocks_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bwrap");
    std::fs::write(&path, "#!/bin/sh\n").unwrap();
    let bundled = BundledBwrap::open(&path, ExpectedDigest::Development).unwrap();
    let (fs, scan) = (tree(), ScanReport::empty());
    let facts_bundled = facts(BwrapFacts {
        bwrap: Ok(Bwrap::Bundled(bundled)),
        ..host(&fs, &scan)
    });
    let plan = decide(
        &effective(workspace(NetworkMode::Restricted)),
        &facts_bundled,
        &command(),
    )
    .unwrap();
    assert!(plan.blocked.is_none());
    assert!(
        matches!(&plan.warnings[..], [Warning::BundledBwrap { path: warned, .. }] if *warned == path)
    );
    let missing = facts(BwrapFacts {
        bwrap: Err(LauncherError::NoBwrap {
            bundled: "/opt/codex/codex-resources/bwrap".into(),
        }),
        ..host(&fs, &scan)
    });
    let plan = decide(
        &effective(workspace(NetworkMode::Restricted)),
        &missing,
        &command(),
    )
    .unwrap();
    let blocked = plan.blocked.as_ref().unwrap();
    assert_eq!(blocked.exit_code(), 72);
    assert!(
        blocked
            .to_string()
            .ends_with("install bubblewrap: sudo apt-get install bubblewrap"),
        "{blocked}"
    );
    assert!(bwrap_launch(&plan).bwrap.is_none());
}

#[test]
fn a_missing_command_blocks_the_run_but_not_the_explanation() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let mut facts = facts(host(&fs, &scan));
    facts.command = Err(CommandError::NotFound("nope".into()));
    let plan = decide_workspace(&facts).unwrap();
    assert_eq!(
        plan.blocked.as_ref().map(SandboxError::exit_code),
        Some(127)
    );
}

#[test]
fn wsl1_is_refused_first() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let facts = facts(BwrapFacts {
        wsl: Wsl::Wsl1,
        proc: ProcFacts::ExpectedToFail,
        ..host(&fs, &scan)
    });
    let err = decide_workspace(&facts).unwrap_err();
    assert!(matches!(err, SandboxError::Wsl1), "{err}");
    assert_eq!(err.exit_code(), 69);
}

#[test]
fn without_the_inner_stage_bwrap_installs_the_filter() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let mut sandbox = workspace(NetworkMode::Restricted);
    sandbox.guard_protected_names = false;
    let facts = facts(host(&fs, &scan));
    let plan = decide(&effective(sandbox), &facts, &command()).unwrap();
    let launch = bwrap_launch(&plan);
    assert!(matches!(&launch.stage, StagePlan::Bwrap { filter } if !filter.is_empty()));
    let argv = shown_argv(&plan);
    assert!(argv.ends_with("--seccomp <seccomp-fd> -- true"), "{argv}");
    assert!(argv.contains("--unshare-net"), "{argv}");
}

#[test]
fn an_enabled_network_closes_host_unix_sockets_with_or_without_the_guard() {
    let (fs, scan) = (tree(), ScanReport::empty());
    for guard in [false, true] {
        let mut sandbox = workspace(NetworkMode::Enabled);
        sandbox.guard_protected_names = guard;
        let facts = facts(host(&fs, &scan));
        let plan = decide(&effective(sandbox), &facts, &command()).unwrap();
        assert!(bwrap_launch(&plan).mounts.close_unix_sockets);
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
        let argv = shown_argv(&plan);
        assert!(!argv.contains("--unshare-net"), "{argv}");
        assert!(argv.contains("--as-pid-1"), "{argv}");
        assert!(argv.contains("--close-unix-sockets"), "{argv}");
        assert_eq!(argv.contains("--guard-names"), guard, "{argv}");
    }
    // Only the enabled network needs it: elsewhere the filter or the
    // network namespace already closes them.
    for network in [NetworkMode::Restricted, NetworkMode::Proxy] {
        let facts = facts(host(&fs, &scan));
        let Ok(plan) = decide(&effective(workspace(network)), &facts, &command()) else {
            continue;
        };
        assert!(!shown_argv(&plan).contains("--close-unix-sockets"));
    }
}

#[test]
fn listed_unix_sockets_are_let_through_by_the_supervisor_in_every_network_mode() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let listed = codex_sandboxing::unix_sockets::AllowedUnixSocket {
        path: "/run/user/1000/agent.sock".into(),
        key: ":ssh_agent".into(),
    };
    for network in [NetworkMode::Restricted, NetworkMode::Enabled] {
        let mut sandbox = workspace(network);
        sandbox.guard_protected_names = false;
        sandbox.unix_sockets = vec![listed.clone()];
        let facts = facts(host(&fs, &scan));
        let plan = decide(&effective(sandbox.clone()), &facts, &command()).unwrap();
        let argv = shown_argv(&plan);
        assert!(
            argv.contains("--close-unix-sockets --allow-unix-socket /run/user/1000/agent.sock"),
            "{argv}"
        );
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);

        // Without /proc the supervisor lets them through all the same,
        // reading the outer stage's procfs.
        let facts = facts_without_proc(&fs, &scan);
        let plan = decide(&effective(sandbox), &facts, &command()).unwrap();
        let argv = shown_argv(&plan);
        assert!(
            argv.contains(
                "--close-unix-sockets --allow-unix-socket /run/user/1000/agent.sock \
                 --report-fd <report-fd> --procfs-fd <procfs-fd>"
            ),
            "{argv}"
        );
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    }
}

#[test]
fn a_listed_socket_that_gives_the_host_is_warned_about_on_every_run() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let facts = facts(BwrapFacts {
        privileged_unix_sockets: vec!["/var/run/docker.sock".into()],
        ..host(&fs, &scan)
    });
    let plan = decide_workspace(&facts).unwrap();
    let warning = Warning::PrivilegedUnixSocket {
        path: "/var/run/docker.sock".into(),
    };
    assert!(plan.warnings.contains(&warning), "{:?}", plan.warnings);
    assert_eq!(warning.notice_key(), None);
    assert!(warning.to_string().contains("/var/run/docker.sock"));
}

fn facts_without_proc<'a>(fs: &'a FakeFs, scan: &'a ScanReport) -> HostFacts<'a> {
    facts(BwrapFacts {
        proc: ProcFacts::NotAsked,
        ..host(fs, scan)
    })
}

#[test]
fn without_proc_an_enabled_network_still_closes_host_unix_sockets() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let mut sandbox = workspace(NetworkMode::Enabled);
    sandbox.guard_protected_names = false;
    let facts = facts(BwrapFacts {
        proc: ProcFacts::NotAsked,
        ..host(&fs, &scan)
    });
    let plan = decide(&effective(sandbox), &facts, &command()).unwrap();
    assert!(bwrap_launch(&plan).mounts.close_unix_sockets);
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    let argv = shown_argv(&plan);
    assert!(
        argv.contains("--close-unix-sockets --report-fd <report-fd> --procfs-fd <procfs-fd>"),
        "{argv}"
    );
}

#[test]
fn a_container_that_refuses_user_namespaces_is_named_before_bwrap_runs() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let namespace_facts = NamespaceFacts {
        container: Some(Container::Docker),
        ..NamespaceFacts::default()
    };
    let facts = facts(BwrapFacts {
        proc: ProcFacts::ExpectedToFail,
        user_namespace_refused: Some(Box::new(diagnose_namespace_refusal(
            "the kernel",
            "creating a user namespace: Operation not permitted",
            &namespace_facts,
        ))),
        ..host(&fs, &scan)
    });
    let err = decide_workspace(&facts).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SandboxError::Namespaces { .. }), "{text}");
    assert_eq!(err.exit_code(), 71);
    for needle in [
        "/usr/bin/bwrap cannot create the sandbox's namespaces",
        "this is a Docker container (the kernel said: creating a user namespace: Operation not permitted)",
        "seccomp=unconfined",
        "use_legacy_landlock",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

#[test]
fn the_retry_follows_only_a_refused_proc_and_diagnoses_namespaces() {
    let (fs, scan) = (tree(), ScanReport::empty());
    let mut sandbox = workspace(NetworkMode::Restricted);
    sandbox.guard_protected_names = false;
    let policy = effective(sandbox);
    let failure = |namespaces: Result<(), ProbeFailure>, proc_refused, proc| SetupFailure {
        bwrap: "/usr/bin/bwrap".into(),
        code: 1,
        proc,
        namespaces,
        proc_refused,
        namespace_facts: NamespaceFacts::default(),
    };
    let mut facts = facts(host(&fs, &scan));
    let err = retry(
        &policy,
        &mut facts,
        &failure(
            Err(ProbeFailure(
                "bwrap: setting up uid map: Permission denied".into(),
            )),
            false,
            ProcMode::Mount,
        ),
        &command(),
    )
    .unwrap_err();
    assert!(matches!(err, SandboxError::Namespaces { .. }), "{err}");
    let err = retry(
        &policy,
        &mut facts,
        &failure(Ok(()), false, ProcMode::Mount),
        &command(),
    )
    .unwrap_err();
    assert!(
        matches!(err, SandboxError::BwrapFailed { code: 1, .. }),
        "{err}"
    );
    assert_eq!(err.exit_code(), 71);
    let err = retry(
        &policy,
        &mut facts,
        &failure(Ok(()), true, ProcMode::Skip),
        &command(),
    )
    .unwrap_err();
    assert!(matches!(err, SandboxError::BwrapFailed { .. }), "{err}");
    let plan = retry(
        &policy,
        &mut facts,
        &failure(Ok(()), true, ProcMode::Mount),
        &command(),
    )
    .unwrap();
    assert_eq!(plan.warnings, [Warning::NoProc]);
    assert_eq!(bwrap_launch(&plan).mounts.proc, ProcMode::Skip);
}
