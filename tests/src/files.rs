//! Files: the fixture set written once per run, temporary directories,
//! reading and writing with the path in every panic, and snapshots of a
//! directory to prove a refused command changed nothing.

use std::collections::BTreeMap;
use std::fs::{self};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use pki_fixtures::Family;
use tempfile::TempDir;

/// Name prefix of the fixture directories in the system's temp directory.
const FIXTURES_PREFIX: &str = "pki-e2e-fixtures-";

/// The fixture set (`pki_fixtures::write_all`), written once per test
/// process into a temporary directory that lives as long as the process.
/// It holds `ecdsa/` and `rsa/`; the file names are in `README.md` there.
pub fn fixtures() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        remove_stale_fixture_sets();
        let dir = tempfile::Builder::new()
            .prefix(FIXTURES_PREFIX)
            .tempdir()
            .unwrap_or_else(|e| panic!("failed to create a directory for the fixtures: {e}"));
        // Kept for the whole process: tests on other threads read it until the end.
        let root = dir.keep();
        if let Err(e) = pki_fixtures::write_all(&root) {
            panic!(
                "failed to write the fixture set into {}: {e}",
                root.display()
            );
        }
        root
    })
}

/// Removes fixture sets earlier test processes left behind (statics are
/// never dropped, so no process removes its own). Only sets older than an
/// hour go, so a test run going on at the same time keeps its set.
fn remove_stale_fixture_sets() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with(FIXTURES_PREFIX)
        {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if stale {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The fixture directory of one family (`<root>/ecdsa` or `<root>/rsa`).
pub fn family_dir(family: Family) -> PathBuf {
    fixtures().join(family.dir_name())
}

/// A fixture file of one family, for instance `fixture(Family::Rsa, "ca.pem")`.
pub fn fixture(family: Family, name: &str) -> PathBuf {
    let path = family_dir(family).join(name);
    assert!(
        path.is_file(),
        "fixture {} does not exist; is the file name in pki's fixtures README?",
        path.display()
    );
    path
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("pki-e2e-")
        .tempdir()
        .unwrap_or_else(|e| panic!("failed to create a temporary directory: {e}"))
}

/// Writes a test input file (a pass phrase, a config, a tampered PEM).
#[expect(
    clippy::disallowed_methods,
    reason = "test inputs need no atomic write, and writing them through pki::fs would test pki with itself"
)]
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>) {
    fs::write(path, contents)
        .unwrap_or_else(|e| panic!("failed to write test input {}: {e}", path.display()));
}

/// Reads a file the test expects to be there.
pub fn read_file(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("failed to read {}: {e}", path.display()))
}

/// Reads a text file the test expects to be there.
pub fn read_text(path: &Path) -> String {
    String::from_utf8_lossy(&read_file(path)).into_owned()
}

/// The PEM blocks of a text labelled `label`, each with its BEGIN and END
/// lines and a final newline, in order. Used to split a chain file by hand,
/// without asking `pki` to parse what `pki` wrote.
pub fn pem_blocks(text: &str, label: &str) -> Vec<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let Some(stop) = rest[start..].find(&end).map(|i| start + i + end.len()) else {
            break;
        };
        out.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    out
}

/// The names of the files in `dir` that `pki::fs` would leave behind if a
/// write failed halfway (its temp files start with `.pki-`).
pub fn leftover_temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("failed to list {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".pki-"))
        .collect()
}

/// The Unix permission bits of a file or directory.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("failed to stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// What `dir` holds, recursively: regular files by content (by length when
/// over 1 MiB), links by target, anything else by kind. Never opens a FIFO
/// or device, so it can describe the special files the tests make.
pub fn dir_snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let entries =
            fs::read_dir(dir).unwrap_or_else(|e| panic!("failed to list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("failed to list {}: {e}", dir.display()))
                .path();
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            let meta = fs::symlink_metadata(&path)
                .unwrap_or_else(|e| panic!("failed to look at {}: {e}", path.display()));
            let what = if meta.file_type().is_symlink() {
                let target = fs::read_link(&path)
                    .unwrap_or_else(|e| panic!("failed to read link {}: {e}", path.display()));
                format!("link to {}", target.display())
            } else if meta.is_dir() {
                walk(root, &path, out);
                "directory".to_owned()
            } else if meta.is_file() && meta.len() <= 1 << 20 {
                String::from_utf8_lossy(&read_file(&path)).into_owned()
            } else if meta.is_file() {
                format!("{} bytes", meta.len())
            } else {
                "special file".to_owned()
            };
            out.insert(rel, what);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
