//! Bad input and unusable hosts: every case ends with a one-line reason and
//! its documented exit status, and the command never runs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{World, assert_code, assert_refused, helper_bin, marker_script, read, stderr, stdout};

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs the marker script with `config` and `options`; asserts `code`, a
/// one-line message containing `needle`, and that nothing ran.
fn refuses(config: Option<&str>, options: &[&str], code: i32, needle: &str) {
    let world = World::new();
    if let Some(config) = config {
        world.config(config);
    }
    let (script, mark) = marker_script(&world);
    let output = world.run(options, &["sh", "-c", &script]);
    assert_refused(&output, &mark, code, &[needle]);
}

#[test]
fn malformed_toml_is_a_config_error_with_its_location() {
    refuses(Some("default_permissions = \n"), &[], 78, "config.toml:1:");
}

/// As Codex, an unknown key is ignored, here with one warning naming the
/// nearest known key: a typo in `default_permissions` leaves the default,
/// read-only, in force.
#[test]
fn an_unknown_key_is_ignored_with_a_warning_and_the_default_stays_read_only() {
    require_sandbox!();
    let world = World::new();
    world.config("default_permission = \":workspace\"\n");
    let output = world.sh(&[], "echo x > typo.txt");
    assert_ne!(output.status.code(), Some(0));
    assert!(!world.ws.join("typo.txt").exists());
    let warnings: Vec<String> = stderr(&output)
        .lines()
        .filter(|line| line.contains("warning:"))
        .map(String::from)
        .collect();
    assert!(
        warnings
            .iter()
            .any(|line| line.contains("unknown key `default_permission`")
                && line.ends_with("did you mean `default_permissions`?")),
        "{warnings:?}"
    );
}

/// Keys Codex 0.171 accepts and this tool does not use load silently: a
/// config taken from real users' files runs as it would under Codex.
#[test]
fn a_config_full_of_codex_keys_loads_silently() {
    require_sandbox!();
    let world = World::new();
    world.config(&format!(
        "model = \"gpt-5\"\nmodel_reasoning_effort = \"high\"\napproval_policy = \"never\"\n\
         web_search = \"live\"\npersonality = \"pragmatic\"\nreview_model = \"gpt-5\"\n\
         check_for_update_on_startup = false\nlog_dir = \"/tmp/logs\"\nsqlite_home = \"/tmp/db\"\n{}\
         [notice]\nhide_full_access_warning = true\n[windows]\nsandbox = \"elevated\"\n\
         [analytics]\nenabled = false\n[feedback]\nenabled = false\n[agents]\nmax_threads = 4\n\
         [features]\nshell_tool = true\nunified_exec = true\nweb_search_request = true\n\
         [mcp_servers.docs]\ncommand = \"npx\"\nargs = [\"-y\", \"docs-mcp\"]\n\
         [tui]\nnotifications = true\n",
        common::TEST_PROFILE_CONFIG
    ));
    let output = world.sh(&[], "echo ok > fine.txt && cat fine.txt");
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "ok\n");
    assert!(
        !stderr(&output).contains("unknown key"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unknown_and_legacy_profile_ids_are_refused() {
    refuses(None, &["-P", "nope"], 78, "unknown profile `nope`");
    refuses(
        None,
        &["-P", ":danger-no-sandbox"],
        78,
        ":danger-full-access",
    );
    refuses(
        Some("[permissions.p]\nextends = \"base\"\n"),
        &["-P", "p"],
        78,
        "permissions.p.extends (",
    );
    refuses(
        Some("[permissions.p]\nextends = \":danger-full-access\"\n"),
        &["-P", "p"],
        78,
        "cannot extend the built-in profile `:danger-full-access`",
    );
}

#[test]
fn a_relative_rule_path_is_refused() {
    refuses(
        Some("[permissions.p.filesystem]\n\":root\" = \"read\"\n\"rel/dir\" = \"none\"\n"),
        &["-P", "p"],
        78,
        "absolute path",
    );
}

#[test]
fn a_bad_override_is_refused() {
    refuses(
        None,
        &["-c", "sandbox_workspace_write.network_access=maybe"],
        78,
        "-c sandbox_workspace_write",
    );
    refuses(None, &["-c", "novalue"], 78, "expected key=value");
}

/// Proxy variables to set, and what the refusal must say.
type ProxyCase<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

/// Network mode proxy with a missing, malformed or unroutable proxy
/// variable: refused naming the variable and its value, before anything
/// runs.
#[test]
fn proxy_mode_refuses_endpoints_it_cannot_route() {
    let cases: [ProxyCase<'_>; 5] = [
        (&[], &["none of HTTP_PROXY", "is set"]),
        (
            &[("HTTPS_PROXY", "http://10.0.0.5:3128")],
            &[
                "HTTPS_PROXY=\"http://10.0.0.5:3128\"",
                "not a loopback address",
            ],
        ),
        (
            &[("http_proxy", "http://127.0.0.1")],
            &["http_proxy=\"http://127.0.0.1\"", "no port"],
        ),
        (
            &[("ALL_PROXY", "ftp://127.0.0.1:2121")],
            &["ALL_PROXY=", "unsupported scheme `ftp`"],
        ),
        (
            &[
                ("HTTP_PROXY", "http://127.0.0.1:3128"),
                ("https_proxy", "http://proxy.example:3128"),
            ],
            &["https_proxy=", "proxy.example"],
        ),
    ];
    for (env, needles) in cases {
        let world = World::new();
        world.config(
            "[permissions.p.filesystem]\n\":root\" = \"read\"\n[permissions.p.network]\nenabled = true\nenvironment_proxy = true\n",
        );
        let (script, mark) = marker_script(&world);
        let mut command = world.command(&["-P", "p"], &["sh", "-c", &script]);
        for name in codex_sandboxing::proxy::PROXY_VARIABLES {
            command.env_remove(name);
        }
        let output = command.envs(env.iter().copied()).output().unwrap();
        assert_refused(&output, &mark, 78, needles);
    }
}

#[test]
fn a_missing_working_directory_is_refused() {
    let world = World::new();
    let (script, mark) = marker_script(&world);
    let missing = world.outside.join("missing");
    let output = world
        .command_in(&missing, &[], &["sh", "-c", &script])
        .output()
        .unwrap();
    assert_code(&output, 78);
    assert!(stderr(&output).contains("-C "), "{}", stderr(&output));
    assert!(read(&mark).is_none());
}

#[test]
fn an_empty_command_is_a_usage_error() {
    let world = World::new();
    let output = std::process::Command::new(helper_bin())
        .env("CODEX_HOME", &world.codex_home)
        .output()
        .unwrap();
    assert_code(&output, 2);
}

#[test]
fn a_missing_command_is_127_and_a_non_executable_one_126() {
    require_sandbox!();
    let world = World::new();
    let output = world.run(&[], &["definitely-not-a-command-xyz"]);
    assert_code(&output, 127);
    assert!(stderr(&output).contains("definitely-not-a-command-xyz: command not found"));
    std::fs::write(world.ws.join("data.txt"), "").unwrap();
    assert_code(&world.run(&[], &["./data.txt"]), 126);
    let output = world.run(
        &["-P", ":danger-full-access"],
        &["definitely-not-a-command-xyz"],
    );
    assert_code(&output, 127);
}

#[test]
fn no_bwrap_on_path_is_refused_with_the_install_command() {
    let world = World::new();
    let (script, mark) = marker_script(&world);
    let output = world
        .command(&[], &["/bin/sh", "-c", &script])
        .env("PATH", &world.outside)
        .output()
        .unwrap();
    assert_code(&output, 72);
    assert!(stderr(&output).contains("install"), "{}", stderr(&output));
    assert!(read(&mark).is_none());
}

#[test]
fn a_bwrap_planted_in_the_workspace_is_never_run() {
    require_sandbox!();
    let world = World::new();
    let bin = world.ws.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let planted_mark = world.outside.join("planted-ran");
    write_executable(
        &bin.join("bwrap"),
        &format!("#!/bin/sh\necho x > {}\nexit 0\n", planted_mark.display()),
    );
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
    let output = world
        .command(&[], &["sh", "-c", "echo real"])
        .env("PATH", path)
        .output()
        .unwrap();
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "real\n");
    assert!(read(&planted_mark).is_none(), "the planted bwrap ran");
}

#[test]
fn a_bwrap_that_fails_during_setup_gets_the_setup_status() {
    let world = World::new();
    let fake = world.outside.join("fakebin");
    std::fs::create_dir(&fake).unwrap();
    write_executable(
        &fake.join("bwrap"),
        "#!/bin/sh\necho 'bwrap: simulated setup failure' >&2\nexit 1\n",
    );
    let (script, mark) = marker_script(&world);
    let path = format!("{}:/usr/bin:/bin", fake.display());
    let output = world
        .command(&[], &["sh", "-c", &script])
        .env("PATH", path)
        .output()
        .unwrap();
    assert_code(&output, 71);
    let message = stderr(&output);
    assert!(message.contains("simulated setup failure"), "{message}");
    assert!(message.contains("sandbox setup failed"), "{message}");
    assert!(read(&mark).is_none());
}

#[test]
fn a_host_that_refuses_proc_gets_one_warning_and_one_retry_without_it() {
    require_sandbox!();
    require_own_proc!("it tests the retry after a refused /proc, which --no-proc never asks for");
    let world = World::new();
    let fake = world.outside.join("fakebin");
    std::fs::create_dir(&fake).unwrap();
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v bwrap"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap().trim().to_string();
    write_executable(
        &fake.join("bwrap"),
        &format!(
            "#!/bin/sh\nfor a in \"$@\"; do\n  if [ \"$a\" = --proc ]; then\n    echo \"bwrap: Can't mount proc on /newroot/proc: Operation not permitted\" >&2\n    exit 1\n  fi\ndone\nexec {real} \"$@\"\n"
        ),
    );
    let runs = world.ws.join("runs");
    let path = format!("{}:/usr/bin:/bin", fake.display());
    let script = ["sh", "-c", "echo run >> runs; ls -A /proc | wc -l"];
    let output = world
        .command(&["--disable", "guard_protected_names"], &script)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_code(&output, 0);
    assert_eq!(
        read(&runs).as_deref(),
        Some("run\n"),
        "the command must run exactly once"
    );
    assert_eq!(
        stdout(&output).trim(),
        "0",
        "the host's /proc must be hidden"
    );
    assert_eq!(
        stderr(&output).matches("warning:").count(),
        1,
        "{}",
        stderr(&output)
    );
    // The guard runs too, its supervisor reading the outer stage's /proc;
    // the notice was said once for this host already.
    let guarded = world
        .guarded(&[], &script)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_code(&guarded, 0);
    assert_eq!(read(&runs).as_deref(), Some("run\nrun\n"));
    assert_eq!(stdout(&guarded).trim(), "0");
    assert!(
        !stderr(&guarded).contains("fresh /proc"),
        "{}",
        stderr(&guarded)
    );
}

#[test]
fn no_proc_skips_proc_without_a_warning() {
    require_sandbox!();
    let world = World::new();
    for options in [
        &["--no-proc"][..],
        &["--no-proc", "--disable", "guard_protected_names"],
    ] {
        let output = world
            .guarded(options, &["sh", "-c", "ls -A /proc | wc -l"])
            .output()
            .unwrap();
        assert_code(&output, 0);
        assert_eq!(stdout(&output).trim(), "0", "{options:?}");
        assert!(!stderr(&output).contains("/proc"), "{}", stderr(&output));
    }
}

/// Without a `/proc` of the sandbox's own (a container that masks its
/// `/proc`), the guard reads the command's calls through the outer
/// stage's, which the command never sees: a new protected name is still
/// refused at any depth, an existing one stays read-only, and the rest of
/// the workspace is writable.
#[test]
fn the_guard_runs_without_proc() {
    require_sandbox!();
    let world = World::new();
    let config = world.ws.join(".git/config");
    let before = read(&config);
    let script = "echo x > written; mkdir -p a/b/.git; echo hooked >> .git/config; \
                  python3 -c 'import os, threading; t = threading.Thread(target=os.mkdir, args=(\"a/.codex\",)); t.start(); t.join()'; \
                  ls -A /proc | wc -l";
    let output = world
        .guarded(&["--no-proc"], &["sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(read(&world.ws.join("written")).as_deref(), Some("x\n"));
    assert!(world.ws.join("a/b").is_dir(), "{}", stderr(&output));
    assert!(!world.ws.join("a/b/.git").exists(), "{}", stderr(&output));
    assert!(!world.ws.join("a/.codex").exists(), "{}", stderr(&output));
    assert_eq!(read(&config), before);
    let refusals = stderr(&output).matches("refused to create").count();
    assert_eq!(refusals, 2, "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "0", "the command sees no procfs");
}

#[test]
fn explain_prints_policy_and_argv_and_runs_nothing() {
    let world = World::new();
    let (script, mark) = marker_script(&world);
    let output = world.run(&["--explain"], &["sh", "-c", &script]);
    assert_code(&output, 0);
    let text = stdout(&output);
    assert!(
        text.starts_with(&format!("profile: {}", common::TEST_PROFILE)),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}  ", world.ws.join(".git").display())),
        "{text}"
    );
    assert!(text.contains("protected path"), "{text}");
    assert!(
        text.contains("--unshare-net") && text.contains("--cap-drop ALL"),
        "{text}"
    );
    assert!(read(&mark).is_none());
}

/// What `--explain` shows is what runs: a bwrap on PATH that records its
/// argv before exec'ing the real one sees the explained argv, with
/// numbers where the explanation names descriptors.
#[test]
fn the_argv_that_runs_is_the_argv_explained() {
    require_sandbox!();
    let world = World::new();
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v bwrap"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap().trim().to_string();
    let fake = world.outside.join("fakebin");
    std::fs::create_dir(&fake).unwrap();
    let record = world.outside.join("argv");
    write_executable(
        &fake.join("bwrap"),
        &format!(
            "#!/bin/sh\ncase \" $* \" in *' --json-status-fd '*) printf '%s\\n' \"$@\" > {} ;; esac\nexec {real} \"$@\"\n",
            record.display()
        ),
    );
    let path = format!("{}:/usr/bin:/bin", fake.display());
    for options in [&[][..], &["--disable", "guard_protected_names"][..]] {
        let command = ["sh", "-c", "echo ran"];
        let explained = world
            .command(&[options, &["--explain"]].concat(), &command)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert_code(&explained, 0);
        let text = stdout(&explained);
        let line = text
            .lines()
            .skip_while(|line| !line.starts_with("bwrap command"))
            .nth(1)
            .unwrap_or_else(|| panic!("no bwrap command in {text}"));
        let shown = shell_words::split(line.trim()).unwrap();
        let output = world
            .command(options, &command)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert_code(&output, 0);
        assert_eq!(stdout(&output), "ran\n");
        let ran: Vec<String> = read(&record).unwrap().lines().map(String::from).collect();
        assert_eq!(shown.len(), ran.len() + 1, "{shown:?}\n{ran:?}");
        assert_eq!(shown[0], fake.join("bwrap").display().to_string());
        let mut descriptors = 0;
        for (explained, ran) in shown[1..].iter().zip(&ran) {
            match explained.find('<') {
                Some(at) if explained.ends_with("-fd>") => {
                    descriptors += 1;
                    assert_eq!(ran[..at], explained[..at], "{explained} vs {ran}");
                    assert!(ran[at..].parse::<u32>().is_ok(), "{explained} vs {ran}");
                }
                _ => assert_eq!(explained, ran),
            }
        }
        assert!(descriptors >= 2, "{shown:?}");
    }
}

#[test]
fn a_bwrap_that_cannot_create_namespaces_is_diagnosed_with_a_fix() {
    let world = World::new();
    let fake = world.outside.join("fakebin");
    std::fs::create_dir(&fake).unwrap();
    // What bwrap prints on Ubuntu 24.04 when AppArmor restricts user
    // namespaces.
    write_executable(
        &fake.join("bwrap"),
        "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n",
    );
    let (script, mark) = marker_script(&world);
    let output = world
        .command(&[], &["sh", "-c", &script])
        .env("PATH", format!("{}:/usr/bin:/bin", fake.display()))
        .output()
        .unwrap();
    assert_code(&output, 71);
    let message = stderr(&output);
    let ours = message.lines().last().unwrap();
    for needle in [
        "cannot create the sandbox's namespaces on this host",
        "bwrap said: bwrap: setting up uid map: Permission denied",
        "; to fix it: ",
    ] {
        assert!(ours.contains(needle), "`{needle}` missing: {message}");
    }
    assert!(read(&mark).is_none());
}

/// Runs the helper as `command` would, inside an outer bwrap that shows
/// `proc_version` as the host's `/proc/version` (the only way to make this
/// kernel look like another one to the real binary).
fn run_with_proc_version(
    world: &World,
    proc_version: &str,
    command: std::process::Command,
) -> std::process::Output {
    let fake = world.outside.join("proc-version");
    std::fs::write(&fake, format!("{proc_version}\n")).unwrap();
    let mut outer = std::process::Command::new("bwrap");
    outer
        .args(["--dev-bind", "/", "/", "--ro-bind"])
        .arg(&fake)
        .args(["/proc/version", "--"])
        .arg(command.get_program())
        .args(command.get_args())
        .env("CODEX_HOME", &world.codex_home)
        .stdin(std::process::Stdio::null());
    outer.output().unwrap()
}

/// Real `/proc/version` strings: WSL1 carries a bare `Microsoft` marker,
/// WSL2 an explicit `WSL2` one.
const WSL1_PROC_VERSION: &str = "Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0 (GCC) ) #1237-Microsoft Sat Sep 11 14:32:00 PST 2021";
const WSL2_PROC_VERSION: &str = "Linux version 5.15.167.4-microsoft-standard-WSL2 (root@f9c826d3017f) (gcc (GCC) 11.2.0, GNU ld (GNU Binutils) 2.37) #1 SMP Tue Nov 5 00:21:55 UTC 2024";

#[test]
fn wsl1_is_refused_before_bwrap_runs() {
    require_sandbox!();
    let world = World::new();
    let (script, mark) = marker_script(&world);

    // Control: the binary reads the substituted file (a WSL2 kernel
    // passes the host check; --explain then runs nothing).
    // The outer sandbox leaves no room for a /proc of the inner one, which
    // the guard needs.
    let explained = run_with_proc_version(
        &world,
        WSL2_PROC_VERSION,
        world.command(
            &["--explain", "--disable", "guard_protected_names"],
            &["sh", "-c", &script],
        ),
    );
    assert_code(&explained, 0);
    let refused_explain = run_with_proc_version(
        &world,
        WSL1_PROC_VERSION,
        world.command(&["--explain"], &["sh", "-c", &script]),
    );
    assert_code(&refused_explain, 69);

    let output = run_with_proc_version(
        &world,
        WSL1_PROC_VERSION,
        world.command(&[], &["sh", "-c", &script]),
    );
    assert_refused(&output, &mark, 69, &["WSL1", "wsl --set-version"]);
}

/// A `CODEX_HOME` that names no directory is refused naming it, as in
/// Codex; with neither it nor `HOME`, the built-in defaults apply.
#[test]
fn codex_home_must_name_a_directory_and_none_at_all_means_the_defaults() {
    let world = World::new();
    let (script, mark) = marker_script(&world);
    let file = world.outside.join("a-file");
    std::fs::write(&file, "").unwrap();
    for (home, says) in [
        (world.outside.join("missing"), "does not exist"),
        (file, "is not a directory"),
    ] {
        let output = world
            .command(&[], &["sh", "-c", &script])
            .env("CODEX_HOME", &home)
            .output()
            .unwrap();
        assert_refused(
            &output,
            &mark,
            78,
            &[&format!("CODEX_HOME={}: {says}", home.display())],
        );
    }
    require_sandbox!();
    let output = world
        .command(&[], &["sh", "-c", "echo defaults"])
        .env_remove("CODEX_HOME")
        .env_remove("HOME")
        .output()
        .unwrap();
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "defaults\n");
}

/// A directory named as the command: 126 and "is a directory", as a shell
/// says it.
#[test]
fn a_directory_as_the_command_is_reported_as_one() {
    let world = World::new();
    let output = world.run(&[], &[world.outside.to_str().unwrap()]);
    assert_code(&output, 126);
    assert!(
        stderr(&output).contains(&format!("{}: is a directory", world.outside.display())),
        "{}",
        stderr(&output)
    );
}

/// 50,000 arguments run as they would without the sandbox: bwrap refuses
/// more than 9,000 on its own command line, so a long command reaches the
/// inner stage through a descriptor.
#[test]
fn a_command_of_fifty_thousand_arguments_runs() {
    require_sandbox!();
    let world = World::new();
    let mut command: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        "echo $# \"$1\" \"${50000}\"".into(),
        "sh".into(),
    ];
    command.extend((1..=50_000).map(|n| format!("arg-{n:05}")));
    let output = world.run(&[], &command);
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "50000 arg-00001 arg-50000\n");
}

/// A `codex` inside a writable root could be replaced by the command, and
/// the next start would run the replacement with no sandbox: it refuses to
/// start (78), naming itself and the root, and runs nothing. The same
/// binary outside every writable root runs (the control).
#[test]
fn codex_refuses_to_run_from_inside_a_writable_root() {
    require_sandbox!();
    let world = World::new();
    let inside = world.ws.join("bin/codex-linux-sandbox");
    std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
    std::fs::copy(helper_bin(), &inside).unwrap();
    let marker = world.ws.join("ran");
    let script = format!("touch {}", marker.display());
    let run = |program: &Path| {
        std::process::Command::new(program)
            .env("CODEX_HOME", &world.codex_home)
            .env("XDG_CACHE_HOME", world.outside.join("cache"))
            .arg("-C")
            .arg(&world.ws)
            .args(["--", "sh", "-c", &script])
            .output()
            .unwrap()
    };
    let output = run(&inside);
    assert_code(&output, 78);
    assert!(
        stderr(&output).contains(&format!(
            "{} lies inside the writable root {}",
            inside.display(),
            world.ws.display()
        )),
        "{}",
        stderr(&output)
    );
    assert!(!marker.exists());
    let outside = world.outside.join("codex-linux-sandbox");
    std::fs::copy(helper_bin(), &outside).unwrap();
    assert_code(&run(&outside), 0);
    assert!(marker.exists());
}
