//! Builds bubblewrap's C sources (fetched by `just vendor-bwrap` into
//! third_party/bubblewrap/) into a static library that `src/main.rs` calls.
//!
//! bubblewrap's own build uses meson and links libcap (and optionally
//! libselinux). Neither is needed here: `config.h` is generated below with
//! the few values bubblewrap reads, SELinux support is left out, and
//! `shim/` provides the two libcap items bubblewrap uses.

use std::path::{Path, PathBuf};

/// bubblewrap's C files, as listed in its meson.build.
const SOURCES: [&str; 6] = [
    "bubblewrap.c",
    "bind-mount.c",
    "network.c",
    "utils.c",
    "chroot_realpath.c",
    "safe_openat.c",
];

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.join("../..");
    let lock = workspace.join("third_party/bubblewrap.lock");
    let sources = std::env::var_os("CODEX_BWRAP_SOURCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("third_party/bubblewrap"));
    println!("cargo:rerun-if-env-changed=CODEX_BWRAP_SOURCE_DIR");
    println!("cargo:rerun-if-changed={}", lock.display());
    println!("cargo:rerun-if-changed={}", sources.display());
    println!("cargo:rerun-if-changed=shim");

    let version = lock_value(&lock, "version");
    let digest = lock_value(&lock, "sha256");
    check_vendored(&sources, &version, &digest);

    let out_dir = PathBuf::from(env("OUT_DIR"));
    let config_dir = out_dir.join("config");
    std::fs::create_dir_all(&config_dir).unwrap_or_else(|err| fail(&format!("{err}")));
    std::fs::write(
        config_dir.join("config.h"),
        format!("#define PACKAGE_STRING \"bubblewrap {version}\"\n"),
    )
    .unwrap_or_else(|err| fail(&format!("cannot write config.h: {err}")));

    let mut build = cc::Build::new();
    build
        .include(&config_dir)
        .include(manifest_dir.join("shim"))
        .include(&sources)
        .define("_GNU_SOURCE", None)
        .define("main", "bwrap_main")
        .flag_if_supported("-std=gnu99")
        // bubblewrap's code is checked upstream with its own flags; its
        // warnings under cc's defaults are not ours to fix.
        .warnings(false)
        .file(manifest_dir.join("shim/capability.c"));
    for source in SOURCES {
        let path = sources.join(source);
        println!("cargo:rerun-if-changed={}", path.display());
        build.file(path);
    }
    build.compile("bubblewrap");
}

/// Fails the build unless `sources` holds the bubblewrap release the lock
/// pins, as unpacked by `just vendor-bwrap`.
fn check_vendored(sources: &Path, version: &str, digest: &str) {
    let stamp = sources.join(".codex-vendored");
    println!("cargo:rerun-if-changed={}", stamp.display());
    if !sources.join("bubblewrap.c").is_file() {
        fail(&format!(
            "the bubblewrap sources are missing from {}; run `just vendor-bwrap` \
             (scripts/vendor-bwrap.sh) to fetch the release pinned in third_party/bubblewrap.lock",
            sources.display()
        ));
    }
    let found = std::fs::read_to_string(&stamp).unwrap_or_default();
    if found.trim() != format!("{version} {digest}") {
        fail(&format!(
            "{} holds bubblewrap sources other than the {version} pinned in third_party/bubblewrap.lock \
             (stamp: {:?}); run `just vendor-bwrap` to replace them",
            sources.display(),
            found.trim()
        ));
    }
}

/// The value of `key = "value"` in the lock file.
fn lock_value(lock: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(lock)
        .unwrap_or_else(|err| fail(&format!("cannot read {}: {err}", lock.display())));
    text.lines()
        .find_map(|line| {
            let value = line.strip_prefix(key)?.trim_start().strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| fail(&format!("{} has no `{key}` line", lock.display())))
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| fail(&format!("cargo did not set {name}")))
}

fn fail(message: &str) -> ! {
    eprintln!("error: codex-bwrap: {message}");
    std::process::exit(1)
}
