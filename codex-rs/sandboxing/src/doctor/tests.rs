use super::*;
use crate::namespaces::Container;

const DEBIAN: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
const PLAIN_KERNEL: &str = "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1";
const WSL1: &str = "Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0 (GCC) ) #1237-Microsoft Sat Sep 11 14:32:00 PST 2021";
const STATUS: &str = "Name:\tcodex\nNoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n";

fn working_bwrap(path: &str) -> BwrapObservation {
    BwrapObservation {
        path: PathBuf::from(path),
        version: Some("bubblewrap 0.8.0".into()),
        argv0: false,
        namespaces: Ok(()),
        proc_mount: Ok(()),
    }
}

fn healthy() -> HostObservations {
    HostObservations {
        kernel_release: "6.1.0-18-amd64".into(),
        proc_version: PLAIN_KERNEL.into(),
        os_release: DEBIAN.into(),
        landlock_abi: Ok(3),
        proc_self_status: STATUS.into(),
        namespaces: NamespaceFacts {
            max_user_namespaces: Some(63229),
            ..NamespaceFacts::default()
        },
        system_bwrap: Some(working_bwrap("/usr/bin/bwrap")),
        bundled_bwrap: BundledObservation::Missing {
            path: PathBuf::from("/opt/codex/codex-resources/bwrap"),
        },
        config: Ok(":workspace".into()),
        guard: GuardObservation {
            enabled: true,
            seccomp_actions: Some(
                "kill_process kill_thread trap errno user_notif trace log allow\n".into(),
            ),
            yama_ptrace_scope: Some(1),
        },
        bare_repositories: BareRepositorySetting::Value(Some("explicit".into())),
        unix_sockets: UnixSocketObservation::default(),
        default_start: Ok(()),
    }
}

/// How the real start of a host that cannot run ends.
fn failed_start() -> Result<(), FailureText> {
    Err("exit 71: sandbox setup failed".into())
}

fn status_of(report: &DoctorReport, id: &str) -> Status {
    report
        .checks
        .iter()
        .find(|check| check.id == id)
        .unwrap_or_else(|| panic!("no check {id}"))
        .status
}

fn fix_of(report: &DoctorReport, id: &str) -> String {
    report
        .checks
        .iter()
        .find(|check| check.id == id)
        .and_then(|check| check.fix.clone())
        .unwrap_or_default()
}

#[test]
fn a_healthy_host_passes_and_can_run() {
    let report = diagnose(&healthy());
    assert!(report.default_profile_can_run, "{report:#?}");
    for id in [
        "config",
        "kernel",
        "wsl",
        "seccomp",
        "system_bwrap",
        "user_namespaces",
        "proc_mount",
    ] {
        assert_eq!(status_of(&report, id), Status::Pass, "{id}");
    }
    assert_eq!(status_of(&report, "bundled_bwrap"), Status::Info);
    let text = render_text(&report);
    assert!(
        text.contains("✔ system_bwrap: /usr/bin/bwrap (bubblewrap 0.8.0), no --argv0"),
        "{text}"
    );
    assert!(
        text.ends_with("the default profile can run here\n"),
        "{text}"
    );
    assert!(!text.contains("fix:"), "{text}");
}

#[test]
fn wsl1_fails_with_the_conversion_command() {
    let host = HostObservations {
        proc_version: WSL1.into(),
        default_start: failed_start(),
        ..healthy()
    };
    let report = diagnose(&host);
    assert!(!report.default_profile_can_run);
    assert_eq!(status_of(&report, "wsl"), Status::Fail);
    assert_eq!(status_of(&report, "default_start"), Status::Fail);
    assert!(fix_of(&report, "wsl").contains("wsl --set-version"));
    assert!(
        render_text(&report).ends_with("the default profile cannot run here: 2 checks failed\n")
    );
}

#[test]
fn no_system_bwrap_warns_and_the_bundled_one_carries_the_run() {
    let host = HostObservations {
        system_bwrap: None,
        bundled_bwrap: BundledObservation::Usable {
            sha256: "ab".repeat(32),
            verified: true,
            probes: Some(working_bwrap("/opt/codex/codex-resources/bwrap")),
        },
        ..healthy()
    };
    let report = diagnose(&host);
    assert!(report.default_profile_can_run, "{report:#?}");
    assert_eq!(status_of(&report, "system_bwrap"), Status::Warn);
    assert_eq!(
        fix_of(&report, "system_bwrap"),
        "sudo apt-get install bubblewrap"
    );
    assert_eq!(status_of(&report, "bundled_bwrap"), Status::Pass);
    assert_eq!(status_of(&report, "user_namespaces"), Status::Pass);
}

#[test]
fn no_bwrap_at_all_fails_with_the_install_command() {
    let host = HostObservations {
        system_bwrap: None,
        default_start: failed_start(),
        ..healthy()
    };
    let report = diagnose(&host);
    assert!(!report.default_profile_can_run);
    assert_eq!(status_of(&report, "bundled_bwrap"), Status::Fail);
    assert_eq!(status_of(&report, "user_namespaces"), Status::Fail);
    assert_eq!(
        fix_of(&report, "bundled_bwrap"),
        "sudo apt-get install bubblewrap"
    );
}

#[test]
fn a_refused_bundled_bwrap_only_fails_when_it_is_needed() {
    let refused = BundledObservation::Refused {
        reason: "the bundled bwrap X has been modified: expected SHA-256 a, got b".into(),
    };
    let with_system = HostObservations {
        bundled_bwrap: refused.clone(),
        ..healthy()
    };
    let report = diagnose(&with_system);
    assert!(report.default_profile_can_run);
    assert_eq!(status_of(&report, "bundled_bwrap"), Status::Warn);
    let alone = HostObservations {
        system_bwrap: None,
        bundled_bwrap: refused,
        default_start: failed_start(),
        ..healthy()
    };
    let report = diagnose(&alone);
    assert!(!report.default_profile_can_run);
    assert_eq!(status_of(&report, "bundled_bwrap"), Status::Fail);
    assert_eq!(fix_of(&report, "bundled_bwrap"), "reinstall codex");
}

#[test]
fn ubuntu_apparmor_restriction_fails_user_namespaces_with_its_fix() {
    let mut host = healthy();
    host.default_start = failed_start();
    host.namespaces.apparmor_restrict_unprivileged_userns = Some(true);
    host.system_bwrap = Some(BwrapObservation {
        namespaces: Err("bwrap: setting up uid map: Permission denied".into()),
        proc_mount: Err("bwrap: setting up uid map: Permission denied".into()),
        ..working_bwrap("/usr/bin/bwrap")
    });
    let report = diagnose(&host);
    assert!(!report.default_profile_can_run);
    assert_eq!(status_of(&report, "user_namespaces"), Status::Fail);
    assert!(fix_of(&report, "user_namespaces").contains("apparmor_parser"));
    assert_eq!(status_of(&report, "proc_mount"), Status::Info);
    let text = render_text(&report);
    assert!(
        text.contains("kernel.apparmor_restrict_unprivileged_userns=1"),
        "{text}"
    );
    assert!(text.contains("✘ user_namespaces: "), "{text}");
    assert!(
        text.contains("    fix: allow user namespaces for bwrap"),
        "{text}"
    );
}

#[test]
fn a_container_that_masks_proc_only_warns() {
    let mut host = healthy();
    host.namespaces.container = Some(Container::Docker);
    host.system_bwrap = Some(BwrapObservation {
        proc_mount: Err("bwrap: Can't mount proc on /newroot/proc: Operation not permitted".into()),
        ..working_bwrap("/usr/bin/bwrap")
    });
    let report = diagnose(&host);
    assert!(report.default_profile_can_run);
    assert_eq!(status_of(&report, "proc_mount"), Status::Warn);
    assert!(render_text(&report).contains("· container: running in a Docker container"));
}

#[test]
fn config_errors_old_kernels_and_missing_seccomp_fail() {
    let host = HostObservations {
        config: Err("unknown profile `nope`".into()),
        kernel_release: "3.2.0-4-amd64".into(),
        proc_self_status: "Name:\tcodex\n".into(),
        default_start: failed_start(),
        ..healthy()
    };
    let report = diagnose(&host);
    assert!(!report.default_profile_can_run);
    // The guard needs Linux 5.9 as well.
    for id in ["config", "kernel", "seccomp", "guard", "default_start"] {
        assert_eq!(status_of(&report, id), Status::Fail, "{id}");
    }
    assert!(render_text(&report).ends_with("cannot run here: 5 checks failed\n"));
}

#[test]
fn the_verdict_is_the_real_starts_whatever_the_checks_say() {
    // A failed check that the default profile does not need (the guard, for
    // a profile without it) leaves a working start: it can run, and says
    // which checks failed.
    let host = HostObservations {
        guard: GuardObservation {
            yama_ptrace_scope: Some(3),
            ..healthy().guard
        },
        ..healthy()
    };
    let report = diagnose(&host);
    assert_eq!(status_of(&report, "guard"), Status::Fail);
    assert!(report.default_profile_can_run);
    assert!(
        render_text(&report).ends_with(
            "the default profile can run here; 1 check failed, which other profiles or features may need\n"
        ),
        "{}",
        render_text(&report)
    );
    // A failed start cannot run, even where every other check passed, and
    // shows the run's own message.
    let host = HostObservations {
        default_start: Err("exit 71: sandbox setup failed: bwrap exited with status 1".into()),
        ..healthy()
    };
    let report = diagnose(&host);
    assert!(!report.default_profile_can_run);
    let text = render_text(&report);
    assert!(
        text.contains(
            "✘ default_start: `codex sandbox -- true` failed: exit 71: sandbox setup failed"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("cannot run here: 1 check failed\n"),
        "{text}"
    );
}

#[test]
fn facts_that_do_not_decide_are_information() {
    let host = HostObservations {
        landlock_abi: Err("not supported by the kernel (ENOSYS)".into()),
        proc_self_status: "Seccomp:\t2\n".into(),
        ..healthy()
    };
    let report = diagnose(&host);
    assert!(report.default_profile_can_run);
    assert_eq!(status_of(&report, "landlock"), Status::Info);
    assert_eq!(status_of(&report, "seccomp"), Status::Pass);
}

/// Which hand-over held calls get is said, by the kernel's version.
#[test]
fn the_guard_says_whether_held_calls_are_handed_over_on_the_callers_cpu() {
    let summary = |release: &str| {
        let host = HostObservations {
            kernel_release: release.into(),
            ..healthy()
        };
        let report = diagnose(&host);
        assert_eq!(status_of(&report, "guard"), Status::Pass, "{release}");
        report
            .checks
            .iter()
            .find(|check| check.id == "guard")
            .map(|check| check.summary.clone())
            .unwrap()
    };
    assert!(summary("6.6.0").contains("handed over on the caller's CPU"));
    assert!(summary("6.18.44-fc").contains("handed over on the caller's CPU"));
    assert!(summary("6.5.13").contains("wait for the supervisor's CPU to wake"));
    assert!(summary("5.10.0-28-amd64").contains("wait for the supervisor's CPU to wake"));
}

#[test]
fn the_guard_needs_user_notification_linux_5_9_and_a_yama_scope_below_2() {
    let report = diagnose(&healthy());
    assert_eq!(status_of(&report, "guard"), Status::Pass);
    assert!(report.default_profile_can_run);
    let failing = [
        HostObservations {
            kernel_release: "5.4.0-150-generic".into(),
            ..healthy()
        },
        HostObservations {
            guard: GuardObservation {
                seccomp_actions: Some("kill_process kill_thread trap errno trace log allow".into()),
                ..healthy().guard
            },
            ..healthy()
        },
        HostObservations {
            guard: GuardObservation {
                yama_ptrace_scope: Some(2),
                ..healthy().guard
            },
            ..healthy()
        },
    ];
    for host in failing {
        let report = diagnose(&host);
        assert_eq!(status_of(&report, "guard"), Status::Fail, "{host:?}");
        assert!(fix_of(&report, "guard").contains("--disable guard_protected_names"));
    }
    // Without the guard none of that matters.
    let unguarded = HostObservations {
        kernel_release: "5.4.0-150-generic".into(),
        guard: GuardObservation {
            enabled: false,
            ..healthy().guard
        },
        ..healthy()
    };
    let report = diagnose(&unguarded);
    assert_eq!(status_of(&report, "guard"), Status::Info);
    assert!(report.default_profile_can_run);
    // No Yama at all is fine.
    let no_yama = HostObservations {
        guard: GuardObservation {
            yama_ptrace_scope: None,
            ..healthy().guard
        },
        ..healthy()
    };
    assert_eq!(status_of(&diagnose(&no_yama), "guard"), Status::Pass);
}

/// `safe.bareRepository=explicit` passes; unset or `all` warns with the
/// setting that fixes it, without stopping the default profile; no git is
/// a fact.
#[test]
fn host_git_trusting_bare_repositories_is_a_warning() {
    let with = |setting| HostObservations {
        bare_repositories: setting,
        ..healthy()
    };
    let explicit = diagnose(&with(BareRepositorySetting::Value(Some("Explicit".into()))));
    assert_eq!(status_of(&explicit, "bare_repositories"), Status::Pass);
    for setting in [
        BareRepositorySetting::Value(None),
        BareRepositorySetting::Value(Some("all".into())),
    ] {
        let report = diagnose(&with(setting));
        assert_eq!(status_of(&report, "bare_repositories"), Status::Warn);
        assert!(report.default_profile_can_run);
        let check = report
            .checks
            .iter()
            .find(|c| c.id == "bare_repositories")
            .unwrap();
        assert_eq!(
            check.fix.as_deref(),
            Some("git config --global safe.bareRepository explicit")
        );
    }
    let none = diagnose(&with(BareRepositorySetting::NoGit));
    assert_eq!(status_of(&none, "bare_repositories"), Status::Info);
}

#[test]
fn host_unix_sockets_are_listed_as_allowed_or_closed() {
    let summary = |sockets: UnixSocketObservation| {
        let report = diagnose(&HostObservations {
            unix_sockets: sockets,
            ..healthy()
        });
        let check = report
            .checks
            .iter()
            .find(|check| check.id == "unix_sockets")
            .unwrap()
            .clone();
        (check.status, check.summary, report.default_profile_can_run)
    };
    let (status, text, runs) = summary(UnixSocketObservation::default());
    assert_eq!(status, Status::Info);
    assert!(text.contains("no host Unix socket"), "{text}");
    assert!(runs);
    let (status, text, _) = summary(UnixSocketObservation {
        allowed: vec!["/run/user/1000/ssh-agent".into()],
        privileged: Vec::new(),
        present: vec![
            "/var/run/docker.sock".into(),
            "/run/user/1000/ssh-agent".into(),
        ],
    });
    assert_eq!(status, Status::Info);
    assert!(
        text.contains(
            "reach these host Unix sockets (network.unix_sockets): /run/user/1000/ssh-agent"
        ),
        "{text}"
    );
    assert!(
        text.contains("closed to it: /var/run/docker.sock"),
        "{text}"
    );
    assert!(
        !text.contains("closed to it: /var/run/docker.sock, /run"),
        "{text}"
    );
    let (status, text, runs) = summary(UnixSocketObservation {
        allowed: vec!["/var/run/docker.sock".into()],
        privileged: vec!["/var/run/docker.sock".into()],
        present: vec!["/var/run/docker.sock".into()],
    });
    assert_eq!(status, Status::Warn);
    assert!(text.contains("take over the host"), "{text}");
    assert!(runs, "a warning does not stop the default profile");
}
