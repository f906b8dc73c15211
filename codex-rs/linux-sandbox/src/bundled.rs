//! The bundled bwrap: `codex-resources/bwrap` beside the running binary.
//! This module only finds it, verifies it and says how to exec it.
//!
//! A release build compiles in the SHA-256 of the bwrap it ships
//! (`CODEX_BWRAP_SHA256` at build time). The file is opened once, the open
//! file is hashed, and bwrap is then exec'd through `/proc/self/fd/N` of
//! that same descriptor, so a file renamed over the path after the check is
//! never run. A build without a digest (or with an all-zero one) is a
//! development build: the check is skipped and that is logged at debug
//! level.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// Where the bundled bwrap lives, relative to the directory of `codex`.
pub const BUNDLED_RELATIVE_PATH: &str = "codex-resources/bwrap";

/// The digest this build expects of its bundled bwrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedDigest {
    /// A development build: no digest was compiled in; nothing is checked.
    Development,
    /// A release build: the bundled bwrap must hash to exactly this.
    Release([u8; 32]),
}

/// The digest compiled into this build. A malformed `CODEX_BWRAP_SHA256`
/// fails the build, not a run.
pub const COMPILED_IN_DIGEST: ExpectedDigest = parse_digest(option_env!("CODEX_BWRAP_SHA256"));

/// Parses a digest given at build time: `None`, empty or all zeros is a
/// development build; otherwise exactly 64 hex digits.
pub const fn parse_digest(text: Option<&str>) -> ExpectedDigest {
    let Some(text) = text else {
        return ExpectedDigest::Development;
    };
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return ExpectedDigest::Development;
    }
    assert!(
        bytes.len() == 64,
        "CODEX_BWRAP_SHA256 must be 64 hex digits"
    );
    let mut digest = [0u8; 32];
    let mut index = 0;
    while index < 32 {
        digest[index] = hex_value(bytes[2 * index]) << 4 | hex_value(bytes[2 * index + 1]);
        index += 1;
    }
    let mut all_zero = true;
    let mut index = 0;
    while index < 32 {
        all_zero &= digest[index] == 0;
        index += 1;
    }
    if all_zero {
        ExpectedDigest::Development
    } else {
        ExpectedDigest::Release(digest)
    }
}

const fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => panic!("CODEX_BWRAP_SHA256 must be 64 hex digits"),
    }
}

/// A SHA-256 digest, shown as lower-case hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha256Hex(pub [u8; 32]);

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// Why the bundled bwrap cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BundledError {
    /// There is no file at the bundled location.
    #[error("no bundled bwrap at {}", path.display())]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The file exists but could not be opened or read.
    #[error(
        "the bundled bwrap {} is unreadable ({source}): expected SHA-256 {expected}, got none; reinstall codex",
        path.display()
    )]
    Unreadable {
        /// The bundled path.
        path: PathBuf,
        /// The digest this build expects, or "none (development build)".
        expected: String,
        /// The read error.
        source: Arc<io::Error>,
    },
    /// The file's digest is not the compiled-in one.
    #[error(
        "the bundled bwrap {} has been modified: expected SHA-256 {expected}, got {actual}; refusing to run it; reinstall codex",
        path.display()
    )]
    Tampered {
        /// The bundled path.
        path: PathBuf,
        /// The compiled-in digest.
        expected: Sha256Hex,
        /// The digest of the file as opened.
        actual: Sha256Hex,
    },
}

/// The bundled bwrap, opened and (in a release build) verified. Holding
/// the open file keeps exactly the verified bytes executable through
/// [`BundledBwrap::exec_path`]; clones share the one open file.
#[derive(Debug, Clone)]
pub struct BundledBwrap {
    file: Arc<File>,
    path: PathBuf,
    digest: Sha256Hex,
    verified: bool,
}

impl BundledBwrap {
    /// Opens `path`, hashes the open file and checks it against `expected`.
    pub fn open(path: &Path, expected: ExpectedDigest) -> Result<Self, BundledError> {
        let expected_text = match expected {
            ExpectedDigest::Release(digest) => Sha256Hex(digest).to_string(),
            ExpectedDigest::Development => "none (development build)".to_owned(),
        };
        let unreadable = |source: io::Error| BundledError::Unreadable {
            path: path.to_path_buf(),
            expected: expected_text.clone(),
            source: Arc::new(source),
        };
        let file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(BundledError::Missing {
                    path: path.to_path_buf(),
                });
            }
            Err(err) => return Err(unreadable(err)),
        };
        let meta = file.metadata().map_err(unreadable)?;
        if !meta.is_file() {
            return Err(unreadable(io::Error::other("not a regular file")));
        }
        let digest = sha256_of(&file).map_err(unreadable)?;
        let verified = match expected {
            ExpectedDigest::Release(wanted) if wanted == digest.0 => true,
            ExpectedDigest::Release(wanted) => {
                return Err(BundledError::Tampered {
                    path: path.to_path_buf(),
                    expected: Sha256Hex(wanted),
                    actual: digest,
                });
            }
            ExpectedDigest::Development => {
                tracing::debug!(
                    path = %path.display(),
                    sha256 = %digest,
                    "development build: no bwrap digest compiled in, bundled bwrap not verified"
                );
                false
            }
        };
        Ok(BundledBwrap {
            file: Arc::new(file),
            path: path.to_path_buf(),
            digest,
            verified,
        })
    }

    /// The path to exec: this process's descriptor of the verified file.
    /// Valid only while `self` lives, and only in this process or a child
    /// forked from it.
    pub fn exec_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }

    /// Where the file was found.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SHA-256 of the file as opened.
    pub fn digest(&self) -> Sha256Hex {
        self.digest
    }

    /// Whether the digest was checked against a compiled-in one (false in a
    /// development build).
    pub fn verified(&self) -> bool {
        self.verified
    }
}

/// The bundled location for a `codex` binary at `exe` (its real path).
pub fn bundled_path_for(exe: &Path) -> Option<PathBuf> {
    Some(exe.parent()?.join(BUNDLED_RELATIVE_PATH))
}

fn sha256_of(mut file: &File) -> io::Result<Sha256Hex> {
    let mut hasher = Sha256::new();
    let mut buffer = [0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(Sha256Hex(hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn digests_parse_and_zero_or_absent_means_development() {
        assert_eq!(parse_digest(None), ExpectedDigest::Development);
        assert_eq!(parse_digest(Some("")), ExpectedDigest::Development);
        assert_eq!(
            parse_digest(Some(&"0".repeat(64))),
            ExpectedDigest::Development
        );
        let ExpectedDigest::Release(digest) = parse_digest(Some(ABC_SHA256)) else {
            panic!("a real digest is a release build");
        };
        assert_eq!(Sha256Hex(digest).to_string(), ABC_SHA256);
        let upper = ABC_SHA256.to_ascii_uppercase();
        assert_eq!(parse_digest(Some(&upper)), ExpectedDigest::Release(digest));
    }

    #[test]
    #[should_panic(expected = "64 hex digits")]
    fn a_short_digest_is_rejected() {
        parse_digest(Some("abcd"));
    }

    #[test]
    #[should_panic(expected = "64 hex digits")]
    fn a_non_hex_digest_is_rejected() {
        parse_digest(Some(&"g".repeat(64)));
    }

    #[test]
    fn a_matching_file_is_verified_and_a_changed_one_names_both_digests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bwrap");
        std::fs::write(&path, "abc").unwrap();
        let expected = parse_digest(Some(ABC_SHA256));
        let bundled = BundledBwrap::open(&path, expected).unwrap();
        assert!(bundled.verified());
        assert_eq!(bundled.digest().to_string(), ABC_SHA256);
        assert!(
            bundled
                .exec_path()
                .to_string_lossy()
                .starts_with("/proc/self/fd/")
        );
        std::fs::write(&path, "abd").unwrap();
        let err = BundledBwrap::open(&path, expected).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, BundledError::Tampered { .. }));
        assert!(message.contains(ABC_SHA256), "{message}");
        let actual = Sha256Hex(Sha256::digest(b"abd").into()).to_string();
        assert!(message.contains(&actual), "{message}");
    }

    /// The swap attack: the verified file is replaced by renaming another
    /// one over its path between the check and the exec. What runs must
    /// be the verified bytes. `true` stands for the verified bwrap and
    /// `false` for the swapped-in one; the control shows the path itself
    /// now names the swapped-in program.
    #[test]
    fn a_file_renamed_over_the_path_after_the_check_never_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bwrap");
        std::fs::copy("/bin/true", &path).unwrap();
        let digest = Sha256::digest(std::fs::read(&path).unwrap()).into();
        let bundled = BundledBwrap::open(&path, ExpectedDigest::Release(digest)).unwrap();
        assert!(bundled.verified());

        let swapped_in = dir.path().join("swapped-in");
        std::fs::copy("/bin/false", &swapped_in).unwrap();
        std::fs::rename(&swapped_in, &path).unwrap();

        let through_descriptor = std::process::Command::new(bundled.exec_path())
            .status()
            .unwrap();
        assert!(
            through_descriptor.success(),
            "the swapped-in file ran instead of the verified one"
        );
        let by_path = std::process::Command::new(&path).status().unwrap();
        assert!(
            !by_path.success(),
            "control: the path must now name the swapped-in program"
        );
    }

    #[test]
    fn a_development_build_runs_the_file_unverified() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bwrap");
        std::fs::write(&path, "anything").unwrap();
        let bundled = BundledBwrap::open(&path, ExpectedDigest::Development).unwrap();
        assert!(!bundled.verified());
    }

    #[test]
    fn missing_and_unreadable_files_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let missing = BundledBwrap::open(&dir.path().join("nope"), ExpectedDigest::Development);
        assert!(matches!(missing, Err(BundledError::Missing { .. })));
        let expected = parse_digest(Some(ABC_SHA256));
        let err = BundledBwrap::open(dir.path(), expected).unwrap_err();
        assert!(matches!(err, BundledError::Unreadable { .. }), "{err}");
        assert!(err.to_string().contains(ABC_SHA256), "{err}");
    }

    #[test]
    fn the_bundled_path_sits_beside_the_binary() {
        assert_eq!(
            bundled_path_for(Path::new("/opt/codex/codex")),
            Some(PathBuf::from("/opt/codex/codex-resources/bwrap"))
        );
    }
}
