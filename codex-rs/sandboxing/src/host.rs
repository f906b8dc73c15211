//! Host facts, parsed from text the caller reads (`/proc/version`,
//! `/proc/self/mountinfo`, `/etc/os-release`), so each rule is tested on
//! recorded inputs.

/// What `/proc/version` says about Windows Subsystem for Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wsl {
    /// Not WSL.
    No,
    /// WSL1: no real Linux kernel, no namespaces; the sandbox cannot run.
    Wsl1,
    /// WSL2: a real kernel; the sandbox works.
    Wsl2,
}

/// Classifies `/proc/version`. An explicit `WSL<n>` marker decides; a bare
/// `Microsoft`/`microsoft` marker without one means WSL1.
pub fn detect_wsl(proc_version: &str) -> Wsl {
    let lower = proc_version.to_ascii_lowercase();
    if let Some(index) = lower.find("wsl") {
        let digits: String = lower[index + 3..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        match digits.as_str() {
            "1" => return Wsl::Wsl1,
            "" => {}
            _ => return Wsl::Wsl2,
        }
    }
    if lower.contains("microsoft") {
        Wsl::Wsl1
    } else {
        Wsl::No
    }
}

/// Mount points under `/proc` that are empty directories by design; the
/// kernel lets a fresh `/proc` be mounted despite mounts on them.
const EMPTY_PROC_MOUNT_POINTS: [&str; 1] = ["/proc/sys/fs/binfmt_misc"];

/// Whether a fresh `/proc` can be mounted in a new user namespace.
///
/// The kernel refuses (`mount_too_revealing`) when the `/proc` this mount
/// namespace sees has anything mounted over part of it, as container
/// runtimes do to mask `/proc/kcore` and friends, or when there is no
/// `/proc` mount at all. Returns `false` when such a mount is found.
pub fn proc_mount_expected_to_work(mountinfo: &str) -> bool {
    let mut has_proc = false;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(mount_point) = fields.get(4) else {
            continue;
        };
        let fs_type = fields
            .iter()
            .position(|field| *field == "-")
            .and_then(|separator| fields.get(separator + 1));
        if *mount_point == "/proc" && fs_type == Some(&"proc") {
            has_proc = true;
        } else if mount_point.starts_with("/proc/")
            && !EMPTY_PROC_MOUNT_POINTS.contains(mount_point)
        {
            return false;
        }
    }
    has_proc
}

/// The command that installs bubblewrap on the host described by
/// `/etc/os-release` (empty text if unknown).
pub fn bubblewrap_install_hint(os_release: &str) -> &'static str {
    let mut ids = String::new();
    for line in os_release.lines() {
        if let Some(value) = line
            .strip_prefix("ID=")
            .or_else(|| line.strip_prefix("ID_LIKE="))
        {
            ids.push(' ');
            ids.push_str(&value.trim_matches('"').to_ascii_lowercase());
        }
    }
    let has = |id: &str| ids.split_whitespace().any(|known| known == id);
    if has("debian") || has("ubuntu") {
        "sudo apt-get install bubblewrap"
    } else if has("fedora") || has("rhel") || has("centos") {
        "sudo dnf install bubblewrap"
    } else if has("arch") {
        "sudo pacman -S bubblewrap"
    } else if has("suse") || has("opensuse") {
        "sudo zypper install bubblewrap"
    } else if has("alpine") {
        "sudo apk add bubblewrap"
    } else {
        "install bubblewrap with your package manager"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wsl_markers_decide() {
        let plain = "Linux version 6.8.0-45-generic (buildd@lcy02) (gcc 13.2.0) #45-Ubuntu SMP";
        let wsl2 = "Linux version 5.15.153.1-microsoft-standard-WSL2 (root@941d701f84f1) (gcc (GCC) 11.2.0) #1 SMP";
        let wsl1 = "Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0 (GCC) ) #1237-Microsoft Sat Sep 11 14:32:00 PST 2021";
        assert_eq!(detect_wsl(plain), Wsl::No);
        assert_eq!(detect_wsl(wsl2), Wsl::Wsl2);
        assert_eq!(detect_wsl(wsl1), Wsl::Wsl1);
        assert_eq!(detect_wsl("Linux version 4.4.0 WSL1"), Wsl::Wsl1);
        assert_eq!(detect_wsl("Linux version 6.6 microsoft WSL3"), Wsl::Wsl2);
    }

    const HOST: &str = "\
22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:5 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
24 23 0:21 / /proc/sys/fs/binfmt_misc rw,relatime shared:13 - autofs systemd-1 rw,fd=29
25 22 0:6 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
";

    const DOCKER: &str = "\
600 500 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/l
601 600 0:52 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
602 601 0:52 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw
603 601 0:53 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
";

    #[test]
    fn proc_mount_prediction() {
        assert!(proc_mount_expected_to_work(HOST));
        assert!(!proc_mount_expected_to_work(DOCKER));
        assert!(!proc_mount_expected_to_work(""), "no /proc at all");
        let no_proc = HOST
            .lines()
            .filter(|l| !l.contains(" proc "))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!proc_mount_expected_to_work(&no_proc));
    }

    #[test]
    fn install_hints_follow_the_distribution() {
        assert_eq!(
            bubblewrap_install_hint("ID=debian\nVERSION_ID=\"12\""),
            "sudo apt-get install bubblewrap"
        );
        assert_eq!(
            bubblewrap_install_hint("ID=pop\nID_LIKE=\"ubuntu debian\""),
            "sudo apt-get install bubblewrap"
        );
        assert_eq!(
            bubblewrap_install_hint("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\""),
            "sudo dnf install bubblewrap"
        );
        assert_eq!(
            bubblewrap_install_hint("ID=arch"),
            "sudo pacman -S bubblewrap"
        );
        assert_eq!(
            bubblewrap_install_hint("ID=\"opensuse-tumbleweed\"\nID_LIKE=\"opensuse suse\""),
            "sudo zypper install bubblewrap"
        );
        assert_eq!(
            bubblewrap_install_hint("ID=alpine"),
            "sudo apk add bubblewrap"
        );
        assert_eq!(
            bubblewrap_install_hint(""),
            "install bubblewrap with your package manager"
        );
    }
}
