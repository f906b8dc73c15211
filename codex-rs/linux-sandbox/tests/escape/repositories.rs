//! Attacks on what exists when the sandbox starts, what a rename frees and
//! what the next run reads: a repository host git would later run the
//! config or hooks of. Each is judged from the host; these rows need the
//! protected-name guard (without it the start-up scan protects only what
//! it finds, 8 levels deep).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{Attack, Target, exists, plain};
use crate::common::World;
use crate::require_sandbox;

/// What a planted config holds.
const PLANTED: &str = "[core]\n\tfsmonitor = touch planted\n";

/// Makes `dir` a git directory as git makes one: `HEAD`, `objects`,
/// `refs`, `hooks` and a `config` reading "host".
fn make_git_dir(dir: &Path) {
    for sub in ["objects", "refs/heads", "hooks"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(dir.join("config"), "host\n").unwrap();
}

/// Whether host git would take `dir` for a repository (its signs: `HEAD`
/// beside `objects` and `refs`, or beside `commondir`).
fn is_repository(dir: PathBuf) -> bool {
    exists(dir.join("HEAD"))
        && (exists(dir.join("commondir"))
            || (exists(dir.join("objects")) && exists(dir.join("refs"))))
}

/// Whether `config` now holds the planted text.
fn planted(config: PathBuf) -> bool {
    std::fs::read_to_string(config).is_ok_and(|text| text.contains("fsmonitor"))
}

/// A script writing the planted config to `path` (relative to the
/// workspace).
fn plant(path: &str) -> String {
    format!(
        "printf '{}' > {path}",
        PLANTED.replace('\n', "\\n").replace('\t', "\\t")
    )
}

/// A workspace holding `wt`, a worktree whose `.git` file names the
/// separate git directory `gitdir` (relative to the workspace).
fn with_separate_gitdir(world: &World, gitdir: &str) -> Target {
    let target = plain(world);
    make_git_dir(&target.ws.join(gitdir));
    std::fs::create_dir(target.ws.join("wt")).unwrap();
    std::fs::write(target.ws.join("wt/.git"), format!("gitdir: ../{gitdir}\n")).unwrap();
    target
}

/// A workspace holding an empty `pkg/.git`.
fn with_empty_git(world: &World) -> Target {
    let target = plain(world);
    std::fs::create_dir_all(target.ws.join("pkg/.git")).unwrap();
    target
}

/// A workspace holding a nested repository `sub` with two disabled hooks
/// (scripts of mode 644, which git skips): `pre-commit` and
/// `post-checkout`.
fn with_disabled_hooks(world: &World) -> Target {
    let target = plain(world);
    let hooks = target.ws.join("sub/.git/hooks");
    make_git_dir(&target.ws.join("sub/.git"));
    for hook in ["pre-commit", "post-checkout"] {
        std::fs::write(hooks.join(hook), "#!/bin/sh\ntouch planted\n").unwrap();
        std::fs::set_permissions(hooks.join(hook), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    target
}

/// Whether a hook of [`with_disabled_hooks`] is executable now.
fn any_hook_executable(target: &Target) -> bool {
    ["pre-commit", "post-checkout"].iter().any(|hook| {
        std::fs::metadata(target.ws.join("sub/.git/hooks").join(hook))
            .is_ok_and(|meta| meta.permissions().mode() & 0o111 != 0)
    })
}

/// A child moves its working directory back and forth between `decoy` and
/// the nested repository's hooks while this process hard-links
/// `/proc/CHILD/cwd/pre-commit`: a guard that judges one file and links
/// what the path leads to a moment later links the hook, whose copy would
/// then be writable under another name.
const LINK_RACE: &str = r#"
import os, signal
decoy = os.path.abspath("decoy")
hooks = os.path.abspath("sub/.git/hooks")
child = os.fork()
if child == 0:
    while True:
        os.chdir(decoy)
        os.chdir(hooks)
try:
    for _ in range(3000):
        try:
            os.link(f"/proc/{child}/cwd/pre-commit", "h", follow_symlinks=True)
        except OSError:
            continue
        if os.stat("h").st_ino == os.stat(os.path.join(hooks, "pre-commit")).st_ino:
            break
        os.unlink("h")
finally:
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
"#;

/// Ten levels down: deeper than any start-up scan looks.
const DEEP: &str = "a/b/c/d/e/f/g/h/i/j";

/// The attacks, in the order of the issue's classes.
pub(super) fn attacks() -> Vec<Attack> {
    vec![
        Attack {
            name: "fill an empty .git into a repository (class 1)",
            setup: with_empty_git,
            script: |_| {
                format!(
                    "mkdir pkg/.git/objects pkg/.git/refs; echo 'ref: refs/heads/main' > \
                     pkg/.git/HEAD; {}",
                    plant("pkg/.git/config")
                )
            },
            escaped: |t| exists(t.ws.join("pkg/.git/config")) || exists(t.ws.join("pkg/.git/HEAD")),
            control: true,
        },
        Attack {
            name: "a first run in pkg leaves what a second run fills (class 1, two runs)",
            setup: |w| {
                let target = plain(w);
                let pkg = target.ws.join("pkg");
                std::fs::create_dir(&pkg).unwrap();
                w.command_in(&pkg, &[], &["true"]).output().unwrap();
                target
            },
            script: |_| {
                format!(
                    "mkdir -p pkg/.git/objects pkg/.git/refs; echo 'ref: refs/heads/main' > \
                     pkg/.git/HEAD; {}",
                    plant("pkg/.git/config")
                )
            },
            escaped: |t| {
                exists(t.ws.join("pkg/.git/HEAD")) || planted(t.ws.join("pkg/.git/config"))
            },
            control: true,
        },
        Attack {
            name: "create in an empty .git through a descriptor of it (class 1)",
            setup: with_empty_git,
            script: |_| {
                "/usr/bin/python3 -c \"import os; d = os.open('pkg/.git', os.O_RDONLY | \
                 os.O_DIRECTORY); os.close(os.open('HEAD', os.O_CREAT | os.O_WRONLY, dir_fd=d))\""
                    .into()
            },
            escaped: |t| exists(t.ws.join("pkg/.git/HEAD")),
            control: true,
        },
        Attack {
            name: "hard link a file into an empty .git (class 1)",
            setup: with_empty_git,
            script: |_| {
                format!(
                    "{}; ln planted-config pkg/.git/config",
                    plant("planted-config")
                )
            },
            escaped: |t| exists(t.ws.join("pkg/.git/config")),
            control: true,
        },
        Attack {
            name: "fill an empty .codex with a config (class 1)",
            setup: |w| {
                let target = plain(w);
                std::fs::create_dir_all(target.ws.join("sub/.codex")).unwrap();
                target
            },
            script: |_| {
                "echo 'default_permissions = \":danger-full-access\"' > sub/.codex/config.toml"
                    .into()
            },
            escaped: |t| exists(t.ws.join("sub/.codex/config.toml")),
            control: true,
        },
        Attack {
            name: "rewrite a repository ten levels down (class 2)",
            setup: |w| {
                let target = plain(w);
                make_git_dir(&target.ws.join(DEEP).join(".git"));
                target
            },
            script: |_| {
                format!(
                    "{}; echo 'touch planted' > {DEEP}/.git/hooks/pre-commit",
                    plant(&format!("{DEEP}/.git/config"))
                )
            },
            escaped: |t| {
                let git = t.ws.join(DEEP).join(".git");
                planted(git.join("config")) || exists(git.join("hooks/pre-commit"))
            },
            control: true,
        },
        Attack {
            name: "make a disabled hook of a nested repository executable (chmod, fchmod)",
            setup: with_disabled_hooks,
            script: |_| {
                "chmod +x sub/.git/hooks/pre-commit; /usr/bin/python3 -c \"import os; \
                 os.fchmod(os.open('sub/.git/hooks/post-checkout', os.O_RDONLY), 0o755)\""
                    .into()
            },
            escaped: any_hook_executable,
            control: true,
        },
        Attack {
            name: "make a disabled hook executable through a POSIX ACL (setxattr, fsetxattr)",
            setup: with_disabled_hooks,
            script: |_| {
                "/usr/bin/python3 -c \"import os, struct; \
                 acl = struct.pack('<I', 2) + b''.join(struct.pack('<HHI', tag, 7, 0xffffffff) \
                 for tag in (1, 4, 0x20)); \
                 os.setxattr('sub/.git/hooks/pre-commit', 'system.posix_acl_access', acl); \
                 os.setxattr(os.open('sub/.git/hooks/post-checkout', os.O_RDONLY), \
                 'system.posix_acl_access', acl)\""
                    .into()
            },
            escaped: any_hook_executable,
            control: true,
        },
        Attack {
            name: "link a hook out of a nested repository through a path another process swaps",
            setup: |w| {
                let target = with_disabled_hooks(w);
                std::fs::create_dir(target.ws.join("decoy")).unwrap();
                std::fs::write(target.ws.join("decoy/pre-commit"), "decoy\n").unwrap();
                target
            },
            script: |t| {
                let script = t.outside.join("link-race.py");
                std::fs::write(&script, LINK_RACE).unwrap();
                format!("/usr/bin/python3 {}", script.display())
            },
            escaped: |t| {
                std::fs::metadata(t.ws.join("sub/.git/hooks/pre-commit"))
                    .is_ok_and(|meta| std::os::unix::fs::MetadataExt::nlink(&meta) > 1)
            },
            control: true,
        },
        Attack {
            name: "move a separate gitdir's parent away, plant one in its place (class 3)",
            setup: |w| with_separate_gitdir(w, "store/realgit"),
            script: |_| {
                format!(
                    "mv store store.old; mkdir -p store/realgit; {}",
                    plant("store/realgit/config")
                )
            },
            escaped: |t| {
                planted(t.ws.join("store/realgit/config")) || exists(t.ws.join("store.old"))
            },
            control: true,
        },
        Attack {
            name: "move a separate gitdir's grandparent away (class 3)",
            setup: |w| with_separate_gitdir(w, "deep/store/realgit"),
            script: |_| {
                format!(
                    "mv deep deep.old; mkdir -p deep/store/realgit; {}",
                    plant("deep/store/realgit/config")
                )
            },
            escaped: |t| {
                planted(t.ws.join("deep/store/realgit/config")) || exists(t.ws.join("deep.old"))
            },
            control: true,
        },
        Attack {
            name: "exchange a separate gitdir's parent with an empty directory (class 3)",
            setup: |w| with_separate_gitdir(w, "store/realgit"),
            script: |_| {
                format!(
                    "mkdir other; /usr/bin/python3 -c \"import ctypes; ctypes.CDLL(None).syscall(\
                     {renameat2}, -100, b'store', -100, b'other', 2)\"; mkdir -p store/realgit; {}",
                    plant("store/realgit/config"),
                    renameat2 = libc::SYS_renameat2
                )
            },
            escaped: |t| {
                planted(t.ws.join("store/realgit/config")) || exists(t.ws.join("other/realgit"))
            },
            control: true,
        },
        Attack {
            name: "move away what a .git link points to (class 3)",
            setup: |w| {
                let target = plain(w);
                make_git_dir(&target.ws.join("store2/proj.git"));
                std::fs::create_dir(target.ws.join("proj")).unwrap();
                std::os::unix::fs::symlink("../store2/proj.git", target.ws.join("proj/.git"))
                    .unwrap();
                target
            },
            script: |_| {
                format!(
                    "mv store2 store2.old; mkdir -p store2/proj.git; {}",
                    plant("store2/proj.git/config")
                )
            },
            escaped: |t| {
                planted(t.ws.join("store2/proj.git/config")) || exists(t.ws.join("store2.old"))
            },
            control: true,
        },
        Attack {
            name: "a first run moves a gitdir's parent, a second plants one (class 3, two runs)",
            setup: |w| {
                let target = with_separate_gitdir(w, "store/realgit");
                w.sh(&[], "mv store store.old");
                target
            },
            script: |_| format!("mkdir -p store/realgit; {}", plant("store/realgit/config")),
            escaped: |t| planted(t.ws.join("store/realgit/config")),
            control: true,
        },
        Attack {
            name: "make what a dangling .git link names (class 4)",
            setup: |w| {
                let target = plain(w);
                std::fs::create_dir(target.ws.join("proj")).unwrap();
                std::os::unix::fs::symlink("../gone/proj.git", target.ws.join("proj/.git"))
                    .unwrap();
                target
            },
            script: |_| {
                format!(
                    "mkdir -p gone/proj.git/objects gone/proj.git/refs; {}; echo 'ref: \
                     refs/heads/main' > gone/proj.git/HEAD",
                    plant("gone/proj.git/config")
                )
            },
            escaped: |t| is_repository(t.ws.join("gone/proj.git")),
            control: true,
        },
        Attack {
            name: "make what a dangling .git link names, HEAD first, commondir last (class 4)",
            setup: |w| {
                let target = plain(w);
                std::fs::create_dir(target.ws.join("proj")).unwrap();
                std::os::unix::fs::symlink("../gone/proj.git", target.ws.join("proj/.git"))
                    .unwrap();
                target
            },
            script: |_| {
                "mkdir -p gone/proj.git; echo 'ref: refs/heads/main' > gone/proj.git/HEAD; \
                 echo ../../store > gone/proj.git/commondir"
                    .into()
            },
            escaped: |t| is_repository(t.ws.join("gone/proj.git")),
            control: true,
        },
        Attack {
            name: "rewrite a repository in a directory that cannot be listed (class 5)",
            setup: |w| {
                let target = plain(w);
                let locked = target.ws.join("locked");
                make_git_dir(&locked.join("repo/.git"));
                set_mode(&locked, 0o311);
                target
            },
            script: |_| plant("locked/repo/.git/config"),
            escaped: |t| {
                let locked = t.ws.join("locked");
                let planted = planted(locked.join("repo/.git/config"));
                set_mode(&locked, 0o755);
                planted
            },
            control: true,
        },
        Attack {
            name: "rewrite the hooks core.hooksPath names, make the fsmonitor it runs (class 10)",
            setup: |w| {
                with_config(
                    w,
                    "[core]\n\thooksPath = .husky\n\tfsmonitor = tools/monitor.sh\n",
                    &[".husky/pre-commit"],
                )
            },
            script: |_| {
                "echo 'touch planted' >> .husky/pre-commit; echo x > .husky/post-checkout; \
                 mkdir -p tools; echo 'touch planted' > tools/monitor.sh"
                    .into()
            },
            escaped: |t| {
                rewritten(t.ws.join(".husky/pre-commit"))
                    || exists(t.ws.join(".husky/post-checkout"))
                    || exists(t.ws.join("tools/monitor.sh"))
            },
            control: true,
        },
        Attack {
            name: "rewrite a file include.path pulls in, and what it includes (class 10)",
            setup: |w| {
                let target = plain(w);
                append_config(&target.ws, "[include]\n\tpath = ../config/git.inc\n");
                std::fs::create_dir(target.ws.join("config")).unwrap();
                std::fs::write(
                    target.ws.join("config/git.inc"),
                    "[includeIf \"gitdir:/\"]\n\tpath = more.inc\n",
                )
                .unwrap();
                target
            },
            script: |_| format!("{}; {}", plant("config/git.inc"), plant("config/more.inc")),
            escaped: |t| {
                planted(t.ws.join("config/git.inc")) || exists(t.ws.join("config/more.inc"))
            },
            control: true,
        },
        Attack {
            name: "write the user's hook husky 9's generated .husky/_ runs (class 10)",
            setup: |w| {
                with_config(
                    w,
                    "[core]\n\thooksPath = .husky/_\n",
                    &[".husky/_/pre-commit"],
                )
            },
            script: |_| "echo 'touch planted' > .husky/pre-commit".into(),
            escaped: |t| exists(t.ws.join(".husky/pre-commit")),
            control: true,
        },
        Attack {
            name: "rewrite the script a symlinked hook leads to (class 10)",
            setup: |w| {
                let target = with_config(
                    w,
                    "[core]\n\thooksPath = .husky\n",
                    &[".husky/", "scripts/push.sh"],
                );
                std::os::unix::fs::symlink("../scripts/push.sh", target.ws.join(".husky/pre-push"))
                    .unwrap();
                target
            },
            script: |_| "echo 'touch planted' >> scripts/push.sh".into(),
            escaped: |t| rewritten(t.ws.join("scripts/push.sh")),
            control: true,
        },
        Attack {
            name: "replace a symlinked hooks directory by a directory of hooks (class 10)",
            setup: |w| {
                let target = with_config(w, "[core]\n\thooksPath = .husky\n", &["tools/hooks/"]);
                std::os::unix::fs::symlink("tools/hooks", target.ws.join(".husky")).unwrap();
                target
            },
            script: |_| {
                "rm .husky && mkdir .husky && echo 'touch planted' > .husky/pre-commit".into()
            },
            escaped: |t| {
                exists(t.ws.join(".husky/pre-commit")) && !t.ws.join(".husky").is_symlink()
            },
            control: true,
        },
        Attack {
            name: "rewrite a hook through another hard link to it (class 10)",
            setup: |w| {
                let target = with_config(
                    w,
                    "[core]\n\thooksPath = githooks\n",
                    &["githooks/pre-commit"],
                );
                std::fs::hard_link(
                    target.ws.join("githooks/pre-commit"),
                    target.ws.join("notes.txt"),
                )
                .unwrap();
                target
            },
            script: |_| "echo 'touch planted' >> notes.txt".into(),
            escaped: |t| rewritten(t.ws.join("githooks/pre-commit")),
            control: true,
        },
        Attack {
            name: "make the hooks of core.worktree and of a linked worktree inside (class 10)",
            setup: |w| {
                let target = plain(w);
                append_config(
                    &target.ws,
                    "[core]\n\thooksPath = .husky\n\tworktree = ../app\n",
                );
                let admin = target.ws.join(".git/worktrees/feat");
                std::fs::create_dir_all(&admin).unwrap();
                let feat = target.ws.join(".worktrees/feat");
                std::fs::create_dir_all(&feat).unwrap();
                std::fs::write(
                    admin.join("gitdir"),
                    format!("{}\n", feat.join(".git").display()),
                )
                .unwrap();
                std::fs::write(admin.join("commondir"), "../..\n").unwrap();
                std::fs::write(admin.join("HEAD"), "ref: refs/heads/main\n").unwrap();
                std::fs::write(feat.join(".git"), format!("gitdir: {}\n", admin.display()))
                    .unwrap();
                target
            },
            script: |_| {
                "mkdir -p app/.husky .worktrees/feat/.husky; echo x > app/.husky/pre-commit; \
                 echo x > .worktrees/feat/.husky/pre-commit"
                    .into()
            },
            escaped: |t| {
                exists(t.ws.join("app/.husky/pre-commit"))
                    || exists(t.ws.join(".worktrees/feat/.husky/pre-commit"))
            },
            control: true,
        },
        Attack {
            name: "rewrite the script a core.fsmonitor command hands to sh (class 10)",
            setup: |w| {
                with_config(
                    w,
                    "[core]\n\tfsmonitor = sh tools/monitor.sh\n",
                    &["tools/monitor.sh"],
                )
            },
            script: |_| "echo 'touch planted' >> tools/monitor.sh".into(),
            escaped: |t| rewritten(t.ws.join("tools/monitor.sh")),
            control: true,
        },
        Attack {
            name: "replace the directory a hooks path climbs out of by a link (class 10)",
            setup: |w| {
                with_config(
                    w,
                    "[core]\n\thooksPath = build/../hooks\n",
                    &["build/", "hooks/"],
                )
            },
            script: |_| {
                "mv build build.old && mkdir -p x/y x/hooks && ln -s x/y build && \
                 echo 'touch planted' > x/hooks/pre-commit"
                    .into()
            },
            escaped: |t| t.ws.join("build").is_symlink(),
            control: true,
        },
        Attack {
            name: "make the scripts a core.fsmonitor command line names, missing at start (class 10)",
            setup: |w| {
                let target = plain(w);
                append_config(
                    &target.ws,
                    "[core]\n\tfsmonitor = \"bash -c 'tools/quoted.sh \\\"$@\\\"' sh tools/later.sh\"\n",
                );
                target
            },
            script: |_| {
                "mkdir -p tools && echo x > tools/quoted.sh; echo x > tools/later.sh".into()
            },
            escaped: |t| {
                exists(t.ws.join("tools/quoted.sh")) || exists(t.ws.join("tools/later.sh"))
            },
            control: true,
        },
        Attack {
            name: "rewrite an include named through ~user (class 10)",
            setup: |w| {
                let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
                    .unwrap()
                    .unwrap();
                let up = "/..".repeat(user.dir.components().count().saturating_sub(1));
                let config = format!(
                    "[include]\n\tpath = ~{}{up}{}/shared.inc\n",
                    user.name,
                    w.ws.display()
                );
                with_config(w, &config, &["shared.inc"])
            },
            script: |_| plant("shared.inc"),
            escaped: |t| planted(t.ws.join("shared.inc")),
            control: true,
        },
        Attack {
            name: "make the core.fsmonitor of a submodule git status recurses into (class 10)",
            setup: |w| {
                let target = plain(w);
                let module = target.ws.join(".git/modules/lib");
                make_git_dir(&module);
                std::fs::write(
                    module.join("config"),
                    "[core]\n\tworktree = ../../../lib\n\tfsmonitor = tools/monitor.sh\n",
                )
                .unwrap();
                std::fs::create_dir_all(target.ws.join("lib")).unwrap();
                target
            },
            script: |_| "mkdir -p lib/tools && echo x > lib/tools/monitor.sh".into(),
            escaped: |t| exists(t.ws.join("lib/tools/monitor.sh")),
            control: true,
        },
        Attack {
            name: "race a mode flip against a write into a separate gitdir",
            setup: |w| with_separate_gitdir(w, "store/realgit"),
            script: |t| race(t, "store/realgit", "write", "store/realgit/config"),
            escaped: |t| planted(t.ws.join("store/realgit/config")),
            control: true,
        },
        Attack {
            name: "race a mode flip against completing a bare repository",
            setup: |w| {
                let target = plain(w);
                let bare = target.ws.join("bare");
                std::fs::create_dir_all(bare.join("objects")).unwrap();
                std::fs::write(bare.join("HEAD"), "ref: refs/heads/main\n").unwrap();
                target
            },
            script: |t| race(t, "bare", "mkdir", "bare/refs"),
            escaped: |t| is_repository(t.ws.join("bare")),
            control: true,
        },
        Attack {
            name: "write the hooks of a workspace that is a bare repository",
            setup: |w| {
                let target = plain(w);
                for dir in ["objects", "refs", "hooks"] {
                    std::fs::create_dir_all(target.ws.join(dir)).unwrap();
                }
                std::fs::write(target.ws.join("HEAD"), "ref: refs/heads/main\n").unwrap();
                target
            },
            script: |_| "echo 'touch planted' > hooks/pre-receive".into(),
            escaped: |t| exists(t.ws.join("hooks/pre-receive")),
            control: true,
        },
        Attack {
            name: "plant a bare repository under an ordinary name (class 11)",
            setup: plain,
            script: |_| {
                format!(
                    "mkdir -p bare/objects bare/refs; {}; echo 'ref: refs/heads/main' > bare/HEAD",
                    plant("bare/config")
                )
            },
            escaped: |t| is_repository(t.ws.join("bare")),
            control: true,
        },
        Attack {
            name: "complete a bare repository by renaming its last sign into place (class 11)",
            setup: plain,
            script: |_| {
                "mkdir -p bare/objects bare/refs.tmp; echo 'ref: refs/heads/main' > bare/HEAD; \
                 mv bare/refs.tmp bare/refs"
                    .into()
            },
            escaped: |t| is_repository(t.ws.join("bare")),
            control: true,
        },
    ]
}

/// A race: one thread flips the search permission of `dir` while the
/// other tries, up to 2,000 times, `write` (a config into `path`) or
/// `mkdir` (`path`); `dir` is searchable again at the end, and a last try
/// follows if every raced one failed.
const RACE: &str = r#"
import os, sys, threading
d, action, path = sys.argv[1], sys.argv[2], sys.argv[3]
stop = False
def flip():
    while not stop:
        try:
            os.chmod(d, 0o600)
            os.chmod(d, 0o700)
        except OSError:
            pass
def attempt():
    try:
        if action == "write":
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
            os.write(fd, b"[core]\n\tfsmonitor = touch planted\n")
            os.close(fd)
        else:
            os.mkdir(path)
        return True
    except OSError:
        return False
flipper = threading.Thread(target=flip)
flipper.start()
done = False
try:
    for _ in range(2000):
        if attempt():
            done = True
            break
finally:
    stop = True
    flipper.join()
    os.chmod(d, 0o700)
# Once more with the mode still: the control must see the effect however
# the race went (a loaded machine can lose every round).
if not done:
    attempt()
"#;

/// Writes [`RACE`] outside the workspace; the command to run it.
fn race(target: &Target, dir: &str, action: &str, path: &str) -> String {
    let script = target.outside.join("race.py");
    std::fs::write(&script, RACE).unwrap();
    format!(
        "/usr/bin/python3 {} {dir} {action} {path}",
        script.display()
    )
}

/// A workspace whose repository's config ends with `config`, holding
/// `layout`: a path ending in `/` is a directory, any other a file reading
/// "host".
fn with_config(world: &World, config: &str, layout: &[&str]) -> Target {
    let target = plain(world);
    append_config(&target.ws, config);
    for entry in layout {
        let path = target.ws.join(entry);
        if entry.ends_with('/') {
            std::fs::create_dir_all(&path).unwrap();
        } else {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "host\n").unwrap();
        }
    }
    target
}

/// Whether the file `path`, made reading "host", reads otherwise now.
fn rewritten(path: PathBuf) -> bool {
    std::fs::read_to_string(path).unwrap() != "host\n"
}

/// Appends `text` to the workspace repository's config.
fn append_config(ws: &Path, text: &str) {
    let config = ws.join(".git/config");
    let mut current = std::fs::read_to_string(&config).unwrap_or_default();
    current.push_str(text);
    std::fs::write(config, current).unwrap();
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// What one run does to the way to a path git runs cannot stop the next
/// start: a directory on the way made unsearchable (`chmod 000`, which an
/// unprivileged user cannot see past) is kept read-only in place of what
/// it hides, and the parent of a missing hooks directory made read-only
/// (`chmod 0555`) neither keeps the mount point on the host nor stops the
/// next one from being made. Root searches and writes anywhere, so the
/// mode changes matter to an unprivileged user only; the runs must work
/// either way.
#[test]
fn a_mode_changed_on_the_way_to_what_git_runs_does_not_stop_the_next_start() {
    require_sandbox!();
    let world = World::new();
    with_config(
        &world,
        "[core]\n\tfsmonitor = tools/monitor.sh\n\thooksPath = scripts/hooks\n",
        &["tools/monitor.sh", "scripts/"],
    );
    let first = world.sh(
        &["-P", ":workspace"],
        "chmod 000 tools && chmod 0555 scripts",
    );
    assert!(first.status.success(), "{}", crate::common::stderr(&first));
    assert!(
        !exists(world.ws.join("scripts/hooks")),
        "the mount point was left behind"
    );
    let second = world.sh(
        &["-P", ":workspace"],
        "chmod 755 tools; echo x > tools/monitor.sh; true",
    );
    assert!(
        second.status.success(),
        "{}",
        crate::common::stderr(&second)
    );
    set_mode(&world.ws.join("tools"), 0o755);
    set_mode(&world.ws.join("scripts"), 0o755);
    assert!(!rewritten(world.ws.join("tools/monitor.sh")));
    assert!(!exists(world.ws.join("scripts/hooks")));
}

/// Two sandboxes in one workspace whose configuration names a missing
/// hooks directory: the second starts on the first one's mount point (an
/// empty directory on the host) and leases it too, so the first one's end
/// cannot remove it under the second, whose mask would then be gone; the
/// second cannot make the hooks, and the last end leaves nothing. The
/// control makes them unsandboxed.
#[test]
fn a_hooks_directory_shared_by_two_sandboxes_stays_masked_until_both_end() {
    require_sandbox!();
    let plant = "sleep 3; mkdir -p .husky; echo x > .husky/pre-commit";
    let world = World::new();
    with_config(&world, "[core]\n\thooksPath = .husky\n", &[]);
    let mut first = world
        .command(&["-P", ":workspace"], &["sleep", "2"])
        .spawn()
        .unwrap();
    // The legacy pipeline makes no mount point: its guard refuses the
    // missing kept path itself.
    if !crate::common::legacy_pass() {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !world.ws.join(".husky").exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            world.ws.join(".husky").is_dir(),
            "the first sandbox made no mount point"
        );
    }
    let second = world
        .command(&["-P", ":workspace"], &["sh", "-c", plant])
        .spawn()
        .unwrap();
    first.wait().unwrap();
    second.wait_with_output().unwrap();
    assert!(
        !exists(world.ws.join(".husky/pre-commit")),
        "the hook was made"
    );
    assert!(
        !exists(world.ws.join(".husky")),
        "the mount point was left behind"
    );

    let control = World::new();
    control.sh(&["-P", ":danger-full-access"], plant);
    assert!(exists(control.ws.join(".husky/pre-commit")));
}
