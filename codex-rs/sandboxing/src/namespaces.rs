//! Why bwrap could not create the sandbox's namespaces on this host, and
//! what fixes it. Pure: the caller runs the probe (`bwrap --unshare-user
//! --unshare-net --ro-bind / / -- true`) and reads the sysctls; this module
//! only reads bwrap's message in the light of those facts.

use serde::Serialize;

/// The host settings that decide whether unprivileged user namespaces work.
/// `None` means the setting does not exist on this kernel (or could not be
/// read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NamespaceFacts {
    /// `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu 23.10+).
    pub apparmor_restrict_unprivileged_userns: Option<bool>,
    /// `kernel.unprivileged_userns_clone` (Debian and Ubuntu kernels).
    pub unprivileged_userns_clone: Option<bool>,
    /// `user.max_user_namespaces`.
    pub max_user_namespaces: Option<u64>,
    /// The container this process runs in, if any.
    pub container: Option<Container>,
    /// Whether this process runs as root (uid 0).
    pub root: bool,
}

impl NamespaceFacts {
    /// Parses the sysctl files' text (`None` when a file is absent).
    pub fn from_sysctls(
        apparmor_restrict: Option<&str>,
        userns_clone: Option<&str>,
        max_user_namespaces: Option<&str>,
        container: Option<Container>,
        root: bool,
    ) -> Self {
        let flag = |text: Option<&str>| {
            text.and_then(|t| t.trim().parse::<u64>().ok())
                .map(|v| v != 0)
        };
        NamespaceFacts {
            apparmor_restrict_unprivileged_userns: flag(apparmor_restrict),
            unprivileged_userns_clone: flag(userns_clone),
            max_user_namespaces: max_user_namespaces.and_then(|t| t.trim().parse().ok()),
            container,
            root,
        }
    }

    /// A setting that by itself forbids unprivileged user namespaces, with
    /// its fix.
    pub fn blocking_setting(&self) -> Option<(&'static str, &'static str)> {
        if self.max_user_namespaces == Some(0) {
            return Some((
                "user.max_user_namespaces is 0",
                "sudo sysctl -w user.max_user_namespaces=15000 (persist it in /etc/sysctl.d/)",
            ));
        }
        if self.unprivileged_userns_clone == Some(false) && !self.root {
            return Some((
                "kernel.unprivileged_userns_clone is 0",
                "sudo sysctl -w kernel.unprivileged_userns_clone=1 (persist it in /etc/sysctl.d/)",
            ));
        }
        None
    }
}

/// A container runtime this process was detected in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    /// Docker (`/.dockerenv`, or `docker` in the cgroup path).
    Docker,
    /// Podman (`/run/.containerenv`).
    Podman,
    /// A Kubernetes pod (`kubepods` in the cgroup path).
    Kubernetes,
    /// LXC or LXD (`lxc` in the cgroup path).
    Lxc,
}

impl Container {
    /// Detects the container from the marker files' existence and the text
    /// of `/proc/1/cgroup`.
    pub fn detect(dockerenv: bool, containerenv: bool, pid1_cgroup: &str) -> Option<Container> {
        if containerenv {
            Some(Container::Podman)
        } else if pid1_cgroup.contains("kubepods") {
            Some(Container::Kubernetes)
        } else if dockerenv || pid1_cgroup.contains("docker") {
            Some(Container::Docker)
        } else if pid1_cgroup.contains("lxc") {
            Some(Container::Lxc)
        } else {
            None
        }
    }

    /// The name people know it by.
    pub fn name(self) -> &'static str {
        match self {
            Container::Docker => "Docker",
            Container::Podman => "Podman",
            Container::Kubernetes => "Kubernetes",
            Container::Lxc => "LXC",
        }
    }

    /// How to start this kind of container so that bwrap works inside it.
    fn fix(self) -> &'static str {
        match self {
            Container::Docker => {
                "start the container with `--security-opt seccomp=unconfined --security-opt apparmor=unconfined \
                 --security-opt systempaths=unconfined` (Docker's default seccomp profile and AppArmor policy forbid \
                 the namespaces bwrap needs, and its masked /proc paths a /proc of the sandbox's own), or run with \
                 `--enable use_legacy_landlock` (Landlock alone, no namespaces: profiles it can express)"
            }
            Container::Podman => {
                "start the container with `--security-opt seccomp=unconfined --security-opt label=disable \
                 --security-opt systempaths=unconfined`, or run with `--enable use_legacy_landlock` (Landlock \
                 alone, no namespaces: profiles it can express)"
            }
            Container::Kubernetes => {
                "give the pod `securityContext: { seccompProfile: { type: Unconfined }, appArmorProfile: { type: Unconfined } }` \
                 (or run the agent outside the pod)"
            }
            Container::Lxc => {
                "set `security.nesting=true` on the container (lxc config set NAME security.nesting true)"
            }
        }
    }
}

/// Why namespaces failed and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceDiagnosis {
    /// What went wrong, in words.
    pub cause: String,
    /// The command or setting that fixes it on this host.
    pub fix: String,
}

/// Reads bwrap's message from a failed namespace probe.
pub fn diagnose_namespace_failure(
    bwrap_stderr: &str,
    facts: &NamespaceFacts,
) -> NamespaceDiagnosis {
    diagnose_namespace_refusal("bwrap", bwrap_stderr, facts)
}

/// Reads the message of a failed attempt to create namespaces, which
/// `speaker` (bwrap, or the kernel when codex tried itself) gave.
pub fn diagnose_namespace_refusal(
    speaker: &str,
    message: &str,
    facts: &NamespaceFacts,
) -> NamespaceDiagnosis {
    let message = message.trim();
    let lower = message.to_ascii_lowercase();
    let apparmor = facts.apparmor_restrict_unprivileged_userns == Some(true);
    let apparmor_fix = "allow user namespaces for bwrap with an AppArmor profile: write \
        /etc/apparmor.d/bwrap containing `abi <abi/4.0>, include <tunables/global> profile bwrap /usr/bin/bwrap flags=(unconfined) { userns, }` \
        and run `sudo apparmor_parser -r /etc/apparmor.d/bwrap`, or lift the restriction for every program with \
        `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`";
    let in_container = |cause: &str| {
        facts.container.map(|container| NamespaceDiagnosis {
            cause: format!("{cause}; this is a {} container", container.name()),
            fix: container.fix().to_owned(),
        })
    };
    let diagnosis = if let Some((setting, fix)) = facts.blocking_setting() {
        NamespaceDiagnosis {
            cause: format!("unprivileged user namespaces are disabled: {setting}"),
            fix: fix.to_owned(),
        }
    } else if lower.contains("no permissions to create") && lower.contains("namespace") {
        in_container("the kernel refused to create a user namespace").unwrap_or_else(|| {
            if apparmor {
                NamespaceDiagnosis {
                    cause: "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)".into(),
                    fix: apparmor_fix.into(),
                }
            } else {
                NamespaceDiagnosis {
                    cause: "the kernel does not allow unprivileged user namespaces".into(),
                    fix: "sudo sysctl -w kernel.unprivileged_userns_clone=1 where that sysctl exists, \
                          else sudo sysctl -w user.max_user_namespaces=15000"
                        .into(),
                }
            }
        })
    } else if lower.contains("uid map") && lower.contains("permission denied")
        || lower.contains("rtm_newaddr")
        || lower.contains("rtm_newlink")
    {
        // A namespace was made but is powerless: the AppArmor restriction
        // (Ubuntu 24.04) or a container's seccomp/AppArmor policy.
        if apparmor {
            NamespaceDiagnosis {
                cause:
                    "AppArmor lets bwrap create a user namespace but takes its capabilities away \
                        (kernel.apparmor_restrict_unprivileged_userns=1)"
                        .into(),
                fix: apparmor_fix.into(),
            }
        } else {
            in_container("the new user namespace has no capabilities (uid map or network setup was refused)")
                .unwrap_or_else(|| NamespaceDiagnosis {
                    cause: "the new user namespace has no capabilities (uid map or network setup was refused), \
                            usually by a security module policy"
                        .into(),
                    fix: "check `dmesg` for AppArmor or SELinux denials naming bwrap and allow `userns` for it".into(),
                })
        }
    } else if lower.contains("operation not permitted") || lower.contains("no space left") {
        in_container("creating a namespace was refused").unwrap_or_else(|| NamespaceDiagnosis {
            cause: "creating a namespace was refused".into(),
            fix: "sudo sysctl -w user.max_user_namespaces=15000, and check `dmesg` for security-module denials".into(),
        })
    } else {
        NamespaceDiagnosis {
            cause: "bwrap could not create the sandbox's namespaces".into(),
            fix: "run `codex sandbox doctor` for the host's settings".into(),
        }
    };
    NamespaceDiagnosis {
        cause: if message.is_empty() {
            diagnosis.cause
        } else {
            format!(
                "{} ({speaker} said: {})",
                diagnosis.cause,
                first_line(message)
            )
        },
        fix: diagnosis.fix,
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> NamespaceFacts {
        NamespaceFacts::default()
    }

    #[test]
    fn sysctls_parse_and_absent_ones_stay_unknown() {
        let parsed = NamespaceFacts::from_sysctls(Some("1\n"), None, Some("63229\n"), None, false);
        assert_eq!(parsed.apparmor_restrict_unprivileged_userns, Some(true));
        assert_eq!(parsed.unprivileged_userns_clone, None);
        assert_eq!(parsed.max_user_namespaces, Some(63229));
        assert_eq!(parsed.blocking_setting(), None);
        let off = NamespaceFacts::from_sysctls(None, Some("0"), Some("0"), None, false);
        assert_eq!(
            off.blocking_setting().unwrap().0,
            "user.max_user_namespaces is 0"
        );
    }

    #[test]
    fn ubuntu_24_04_apparmor_restriction_is_recognised() {
        let facts = NamespaceFacts {
            apparmor_restrict_unprivileged_userns: Some(true),
            ..facts()
        };
        for message in [
            "bwrap: setting up uid map: Permission denied\n",
            "bwrap: loopback: Failed RTM_NEWADDR: Operation not permitted\n",
            "bwrap: loopback: Failed RTM_NEWLINK: Operation not permitted\n",
        ] {
            let diagnosis = diagnose_namespace_failure(message, &facts);
            assert!(
                diagnosis.cause.contains("AppArmor"),
                "{message}: {diagnosis:?}"
            );
            assert!(diagnosis.fix.contains("apparmor_parser"), "{diagnosis:?}");
            assert!(
                diagnosis
                    .fix
                    .contains("kernel.apparmor_restrict_unprivileged_userns=0")
            );
            assert!(diagnosis.cause.contains(message.trim()), "{diagnosis:?}");
        }
    }

    #[test]
    fn a_container_gets_the_container_flags() {
        let facts = NamespaceFacts {
            container: Some(Container::Docker),
            ..facts()
        };
        let diagnosis = diagnose_namespace_failure(
            "bwrap: Creating new namespace failed: Operation not permitted",
            &facts,
        );
        assert!(
            diagnosis.cause.contains("Docker container"),
            "{diagnosis:?}"
        );
        assert!(
            diagnosis.fix.contains("seccomp=unconfined"),
            "{diagnosis:?}"
        );
        let diagnosis = diagnose_namespace_failure(
            "bwrap: loopback: Failed RTM_NEWADDR: Operation not permitted",
            &facts,
        );
        assert!(
            diagnosis.fix.contains("seccomp=unconfined"),
            "{diagnosis:?}"
        );
    }

    #[test]
    fn disabled_sysctls_name_the_sysctl_to_change() {
        let message = "bwrap: No permissions to create new namespace, likely because the kernel does not allow non-privileged user namespaces.";
        let clone_off = NamespaceFacts {
            unprivileged_userns_clone: Some(false),
            ..facts()
        };
        let diagnosis = diagnose_namespace_failure(message, &clone_off);
        assert!(
            diagnosis.fix.contains("kernel.unprivileged_userns_clone=1"),
            "{diagnosis:?}"
        );
        let max_zero = NamespaceFacts {
            max_user_namespaces: Some(0),
            ..facts()
        };
        let diagnosis = diagnose_namespace_failure(
            "bwrap: Creating new namespace failed: No space left on device",
            &max_zero,
        );
        assert!(
            diagnosis.fix.contains("user.max_user_namespaces=15000"),
            "{diagnosis:?}"
        );
        let diagnosis = diagnose_namespace_failure(message, &facts());
        assert!(
            diagnosis.cause.contains("does not allow unprivileged"),
            "{diagnosis:?}"
        );
    }

    #[test]
    fn an_unknown_message_points_to_doctor() {
        let diagnosis = diagnose_namespace_failure("bwrap: something new", &facts());
        assert!(diagnosis.fix.contains("codex sandbox doctor"));
        assert!(diagnosis.cause.contains("something new"));
    }

    #[test]
    fn containers_are_detected_from_markers_and_cgroups() {
        assert_eq!(Container::detect(true, false, ""), Some(Container::Docker));
        assert_eq!(Container::detect(false, true, ""), Some(Container::Podman));
        assert_eq!(
            Container::detect(false, false, "0::/kubepods/besteffort/pod1/abc\n"),
            Some(Container::Kubernetes)
        );
        assert_eq!(
            Container::detect(false, false, "12:pids:/docker/0123abcd\n"),
            Some(Container::Docker)
        );
        assert_eq!(
            Container::detect(false, false, "0::/lxc.payload.c1\n"),
            Some(Container::Lxc)
        );
        assert_eq!(Container::detect(false, false, "0::/init.scope\n"), None);
    }
}
