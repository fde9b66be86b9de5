//! Every file `pki` writes goes through here: a temp file in the target's own
//! directory, written, given its mode, then renamed into place. A crash or a
//! full disk leaves either the old file or the new one, never half of one,
//! and a private key is never readable by others, not even for a moment.
//!
//! Only a CA's own files are also synced to disk before the rename
//! ([`write_durable`]): losing a CA key to a power cut means trusting a new
//! CA everywhere, while a leaf is re-issued in milliseconds, and syncing it
//! would double the time `pki cert` takes.
//!
//! A process killed mid-write leaves its temp file (`.pki-XXXXXX.tmp`)
//! behind; the next write into that directory removes the stale ones. Changes
//! that span several files of a CA directory hold its lock (`DirLock`).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use crate::error::{Error, FileAction, Result};

/// Mode of private keys: readable by the owner only (as mkcert and ssh-keygen write them).
pub const PRIVATE_MODE: u32 = 0o600;
/// Mode of certificates, CSRs and other public material.
pub const PUBLIC_MODE: u32 = 0o644;
/// Mode of a CA directory we create: it holds the CA key.
pub const CA_DIR_MODE: u32 = 0o700;

/// Temp files are named `.pki-XXXXXX.tmp` (tempfile's random middle).
const TEMP_PREFIX: &str = ".pki-";
const TEMP_SUFFIX: &str = ".tmp";

/// Age past which a temp file is taken for the leftover of a killed run and
/// removed by the next write into its directory. A live write takes
/// milliseconds (seconds with a slow disk's sync), so fifteen minutes cannot
/// catch one in progress short of a process stopped mid-write (`Ctrl-Z`);
/// even then the stopped write fails cleanly on resuming (its rename finds
/// nothing), and no file is ever half written.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(15 * 60);

/// The lock file of a CA directory (see `DirLock`).
pub const LOCK_FILE: &str = ".pki.lock";

/// Who may read a file being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    /// A private key or pass phrase: mode 0600.
    Private,
    /// A certificate, chain or CSR: mode 0644.
    Public,
}

impl Secrecy {
    fn mode(self) -> u32 {
        match self {
            Secrecy::Private => PRIVATE_MODE,
            Secrecy::Public => PUBLIC_MODE,
        }
    }
}

/// What to do when the target already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Fail with [`Error::AlreadyExists`], even if another process creates the
    /// file while we write (the final step is an exclusive link, not a rename).
    Refuse,
    /// Replace it atomically.
    Replace,
}

/// Writes `contents` to `path` atomically with the mode `secrecy` asks for.
pub fn write_atomic(
    path: impl AsRef<Path>,
    contents: &[u8],
    secrecy: Secrecy,
    overwrite: Overwrite,
) -> Result<()> {
    let path = path.as_ref();
    write(path, contents, secrecy, overwrite, false)
}

/// As [`write_atomic`], and synced to disk before it appears under its name:
/// for files that are costly to lose (a CA's certificate and key).
pub fn write_durable(
    path: impl AsRef<Path>,
    contents: &[u8],
    secrecy: Secrecy,
    overwrite: Overwrite,
) -> Result<()> {
    let path = path.as_ref();
    write(path, contents, secrecy, overwrite, true)
}

fn write(
    path: &Path,
    contents: &[u8],
    secrecy: Secrecy,
    overwrite: Overwrite,
    sync: bool,
) -> Result<()> {
    let io_err = |action, source| Error::Io {
        action,
        path: path.to_path_buf(),
        cause: source,
    };
    if overwrite == Overwrite::Refuse && path.exists() {
        return Err(Error::AlreadyExists {
            path: path.to_path_buf(),
        });
    }
    let dir = parent_dir(path);
    remove_stale_temp_files(&dir);
    // tempfile creates the file with mode 0600, so a key is private from its first byte.
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(&dir)
        .map_err(|e| io_err(FileAction::Write, e))?;
    tmp.write_all(contents)
        .and_then(|()| {
            if sync {
                tmp.as_file().sync_all()
            } else {
                Ok(())
            }
        })
        .map_err(|e| io_err(FileAction::Write, e))?;
    if secrecy == Secrecy::Public {
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(secrecy.mode()))
            .map_err(|e| io_err(FileAction::SetPermissions, e))?;
    }
    let persisted = match overwrite {
        Overwrite::Refuse => tmp.persist_noclobber(path),
        Overwrite::Replace => tmp.persist(path),
    };
    // On failure the temp file is removed when the error (which owns it) drops.
    persisted.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            io_err(FileAction::Write, e.error)
        }
    })?;
    if sync {
        // The rename itself is durable only once the directory is synced: a
        // CA's files must not vanish in a power cut after `pki` said so.
        fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(FileAction::Write, e))?;
    }
    Ok(())
}

/// Largest file [`read`] accepts: 16 MiB. A certificate or key is a few KiB,
/// a chain or PKCS#12 bundle tens of KiB, and the CRL of a large CA a few MiB;
/// a file far larger is the wrong file (a disk image, a log), and reading it
/// whole would only cost memory (a 100 MB file took 280 MB to refuse).
pub const MAX_READ_LEN: u64 = 16 * 1024 * 1024;

/// Largest pass-phrase file [`read_secret`] accepts: 64 KiB, far more than
/// any pass phrase (OpenSSL's own buffer holds 1 KiB), and a bound on a pipe
/// or device that never ends.
pub const MAX_SECRET_LEN: u64 = 64 * 1024;

/// Reads a whole regular file of at most [`MAX_READ_LEN`] bytes, naming it in
/// every error. Anything else is refused before a byte is read
/// ([`Error::NotAFile`], [`Error::TooLarge`]): a named pipe (whose reader
/// waits for a writer forever), a device (`/dev/zero` never ends), a socket,
/// and a directory (an [`Error::Io`] saying "Is a directory", as ever).
pub fn read(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    read_limited(path, MAX_READ_LEN, "certificate, key, CSR or CRL", false)
}

/// Reads a pass-phrase or password file: as [`read`], but a pipe or terminal
/// is accepted too (`--passphrase-file <(pass show ca)`, `/dev/stdin`), as
/// `openssl -passin file:` accepts it, and at most [`MAX_SECRET_LEN`] bytes.
pub fn read_secret(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    read_limited(path, MAX_SECRET_LEN, "pass-phrase file", true)
}

fn read_limited(path: &Path, limit: u64, what: &'static str, streams_ok: bool) -> Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;

    let io_err = |source| Error::Io {
        action: FileAction::Read,
        path: path.to_path_buf(),
        cause: source,
    };
    let refuse = |file_type: fs::FileType| match refused_kind(file_type, streams_ok) {
        // As reading one always said: "failed to read DIR: Is a directory".
        _ if file_type.is_dir() => Err(io_err(std::io::Error::from_raw_os_error(libc::EISDIR))),
        Some(kind) => Err(Error::NotAFile {
            path: path.to_path_buf(),
            kind,
        }),
        None => Ok(()),
    };
    let too_large = || Error::TooLarge {
        path: path.to_path_buf(),
        limit,
        what,
    };
    // Looked at before opening: opening a socket fails with a puzzling
    // error, and opening a FIFO waits for a writer.
    refuse(fs::metadata(path).map_err(io_err)?.file_type())?;
    // O_NONBLOCK in case the path became a FIFO since: the open then returns
    // at once and the check below refuses it. Regular files ignore the flag.
    let flags = if streams_ok { 0 } else { libc::O_NONBLOCK };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    refuse(meta.file_type())?;
    if meta.is_file() && meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// A size limit as people read it: `16 MiB`, `64 KiB`.
pub(crate) fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

/// What a file type is, if [`read`] (or, with `streams_ok`, [`read_secret`])
/// must not read it.
fn refused_kind(file_type: fs::FileType, streams_ok: bool) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt as _;

    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        (!streams_ok).then_some("a named pipe (FIFO)")
    } else if file_type.is_char_device() {
        (!streams_ok).then_some("a character device")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_socket() {
        Some("a socket")
    } else {
        Some("a special file")
    }
}

/// Creates `dir` (and its parents) if missing; a directory this call creates
/// gets mode 0700. An existing directory is left as it is (an mkcert CAROOT
/// is 0755, and changing it behind the user's back would surprise them).
pub fn create_private_dir(dir: impl AsRef<Path>) -> Result<()> {
    let dir = dir.as_ref();
    if dir.is_dir() {
        return Ok(());
    }
    // A file or a dangling link in the way would otherwise be "File exists".
    check_dir(dir)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(CA_DIR_MODE)
        .create(dir)
        .map_err(|source| Error::Io {
            action: FileAction::CreateDir,
            path: dir.to_path_buf(),
            cause: source,
        })
}

/// Removes a file that must go, naming it if it cannot; one already gone is fine.
pub(crate) fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            action: FileAction::Remove,
            path: path.to_path_buf(),
            cause: e,
        }),
        _ => Ok(()),
    }
}

/// An exclusive lock on a CA directory, held while this value lives: changes
/// spanning several of its files (creating the CA, recording a revocation,
/// numbering and publishing a CRL) are made under it, so two processes never
/// interleave them, and a process finding a half-made change knows it is not
/// another one's change in progress.
///
/// It is an advisory `flock` on `.pki.lock` in the directory. The holder
/// removes the file on release, so a CA directory keeps mkcert's layout; a
/// waiter that then gets the lock on the removed file sees that the name no
/// longer leads to its file, and tries again on the current one.
#[derive(Debug)]
pub(crate) struct DirLock {
    path: PathBuf,
    // Closing it (after `drop` removed the name) releases the lock.
    _file: fs::File,
}

impl DirLock {
    /// Waits for the lock of `dir`, which must exist.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let io = |action, source| Error::Io {
            action,
            path: path.clone(),
            cause: source,
        };
        loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| io(FileAction::Write, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    // Another run holds it; say so before waiting, so a
                    // stopped or stuck process is not a silent hang.
                    if let Some(hook) = WAIT_HOOK.get() {
                        hook(&path);
                    }
                    file.lock().map_err(|e| io(FileAction::Lock, e))?;
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(FileAction::Lock, e)),
            }
            let ours = file.metadata().map_err(|e| io(FileAction::Lock, e))?;
            match fs::metadata(&path) {
                Ok(now) if now.dev() == ours.dev() && now.ino() == ours.ino() => {
                    return Ok(DirLock { path, _file: file });
                }
                // The previous holder removed it while we waited: start again.
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(FileAction::Lock, e)),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Still locked here: the file closes (and unlocks) after this body.
        let _ = fs::remove_file(&self.path);
    }
}

/// Removes the `.pki-*.tmp` files in `dir` older than [`STALE_TEMP_AGE`]:
/// what `kill -9`, a power cut or a full disk at the wrong moment left of a
/// write. Nothing else can clear them (their names are random, and the killed
/// process had no chance to), and they can hold a private key. A fresh one
/// may be another process's write in progress and is left alone. Best effort:
/// a file that cannot be removed (another user's, in a shared directory) is
/// no reason to fail this write.
fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if !(name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)) {
            continue;
        }
        // DirEntry::metadata does not follow symlinks: only our own plain files go.
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let stale = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= STALE_TEMP_AGE);
        if meta.is_file() && stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

type PauseHook = Box<dyn Fn(&str) + Send + Sync>;

static PAUSE_HOOK: OnceLock<PauseHook> = OnceLock::new();

/// Test support, not API: `hook` is called with the name of each step of a
/// multi-file change as it is reached (`ca-key-written`, `crl-pem-written`,
/// …), so the end-to-end tests can kill the process there and check what the
/// next run makes of the directory. The `pki` binary installs it from
/// `PKI_TEST_PAUSE_AT`; this crate reads no environment itself. Only the
/// first call has an effect.
#[doc(hidden)]
pub fn set_pause_hook(hook: impl Fn(&str) + Send + Sync + 'static) {
    let _ = PAUSE_HOOK.set(Box::new(hook));
}

type WaitHook = Box<dyn Fn(&Path) + Send + Sync>;

static WAIT_HOOK: OnceLock<WaitHook> = OnceLock::new();

/// `hook` is called with the lock file's path when a CA directory's lock is
/// held by another process and this one starts waiting for it, so a binary
/// can say why it waits (this crate never prints). Only the first call has
/// an effect.
#[doc(hidden)]
pub fn set_lock_wait_hook(hook: impl Fn(&Path) + Send + Sync + 'static) {
    let _ = WAIT_HOOK.set(Box::new(hook));
}

/// Test support, not API: installs the pause hook that stops for good at
/// `wanted`, after saying `paused at STEP` on stderr, so a test can kill
/// the process there. Binaries call it with `PKI_TEST_PAUSE_AT`.
#[doc(hidden)]
pub fn pause_at(wanted: String) {
    set_pause_hook(move |step| {
        if step != wanted {
            return;
        }
        #[allow(clippy::print_stderr)]
        {
            eprintln!("paused at {step}");
        }
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    });
}

/// Reports reaching `step` to the hook, if one is installed (test support,
/// not API: other crates of the workspace name their steps too).
#[doc(hidden)]
pub fn pause_point(step: &str) {
    if let Some(hook) = PAUSE_HOOK.get() {
        hook(step);
    }
}

/// Checks that `dir` is a directory this process may look into, or does not
/// exist yet (then it may be created). Refuses, saying what the path is and
/// what to do: a file ([`Error::NotADirectory`]), a symbolic link to nothing
/// or to a file, and a directory whose permissions shut this user out
/// ([`Error::DirUnreadable`]), which would otherwise read as "there is no CA".
pub fn check_dir(dir: impl AsRef<Path>) -> Result<()> {
    let dir = dir.as_ref();
    let io_err = |source| Error::Io {
        action: FileAction::Read,
        path: dir.to_path_buf(),
        cause: source,
    };
    let not_a_dir = |what: String, advice: &'static str| Error::NotADirectory {
        path: dir.to_path_buf(),
        what,
        advice,
    };
    let link = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(e)),
    };
    if link.file_type().is_symlink() {
        let target = fs::read_link(dir).map_err(io_err)?;
        match fs::metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(not_a_dir(
                    format!(
                        "a symbolic link to {}, which does not exist",
                        target.display()
                    ),
                    "create the directory it points to, or remove the link and let pki create the directory",
                ));
            }
            Ok(meta) if !meta.is_dir() => {
                return Err(not_a_dir(
                    format!(
                        "a symbolic link to {}, which is a file, not a directory",
                        target.display()
                    ),
                    "point the link at a directory, or use another directory",
                ));
            }
            Ok(_) => {}
            Err(e) => return Err(io_err(e)),
        }
    } else if !link.is_dir() {
        return Err(not_a_dir(
            "a file, not a directory".to_owned(),
            "move the file away, or use another directory",
        ));
    }
    // Looking up an entry needs search permission: stat `dir/.` asks exactly that.
    match fs::metadata(dir.join(".")) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(Error::DirUnreadable {
            dir: dir.to_path_buf(),
        }),
        Err(e) => Err(io_err(e)),
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A temporary directory for this crate's unit tests, its error a `pki` one.
#[cfg(test)]
pub(crate) fn test_dir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|cause| Error::Io {
        action: FileAction::CreateDir,
        path: std::env::temp_dir(),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    }

    #[test]
    fn private_files_are_0600_and_public_0644() -> Result<()> {
        let dir = test_dir()?;
        let key = dir.path().join("k.pem");
        let cert = dir.path().join("c.pem");
        write_atomic(&key, b"k", Secrecy::Private, Overwrite::Refuse)?;
        write_atomic(&cert, b"c", Secrecy::Public, Overwrite::Refuse)?;
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&cert), 0o644);
        Ok(())
    }

    #[test]
    fn refuse_keeps_the_old_file_and_leaves_no_temp() -> Result<()> {
        let dir = test_dir()?;
        let path = dir.path().join("c.pem");
        write_atomic(&path, b"old", Secrecy::Public, Overwrite::Refuse)?;
        let err = write_atomic(&path, b"new", Secrecy::Public, Overwrite::Refuse);
        assert!(matches!(err, Err(Error::AlreadyExists { .. })));
        assert_eq!(read(&path)?, b"old");
        write_atomic(&path, b"new", Secrecy::Public, Overwrite::Replace)?;
        assert_eq!(read(&path)?, b"new");
        let entries = fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0);
        assert_eq!(entries, 1, "a temp file was left behind");
        Ok(())
    }

    #[test]
    fn unwritable_directory_is_an_io_error_naming_the_file() {
        let path = Path::new("/proc/pki-cannot-write-here/c.pem");
        let err = write_atomic(path, b"x", Secrecy::Public, Overwrite::Refuse);
        match err {
            Err(e @ Error::Io { .. }) => assert!(e.to_string().contains("pki-cannot-write-here")),
            other => panic!("expected Io error, got {other:?}"),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn a_write_removes_stale_temp_files_and_keeps_fresh_ones() -> Result<()> {
        let dir = test_dir()?;
        let plant = |name: &str, age: Duration| {
            let path = dir.path().join(name);
            fs::File::options()
                .create_new(true)
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(SystemTime::now() - age))
                .unwrap();
        };
        let old = STALE_TEMP_AGE + Duration::from_secs(60);
        plant(".pki-Stale1.tmp", old);
        plant(".pki-Fresh1.tmp", Duration::ZERO);
        // Not ours by name: kept, however old.
        plant(".pki-ca-creation", old);
        plant("notes.tmp", old);
        write_atomic(
            dir.path().join("c.pem"),
            b"c",
            Secrecy::Public,
            Overwrite::Refuse,
        )?;
        assert_eq!(
            names(dir.path()),
            [".pki-Fresh1.tmp", ".pki-ca-creation", "c.pem", "notes.tmp"]
        );
        Ok(())
    }

    #[test]
    fn the_directory_lock_excludes_a_second_holder_and_leaves_no_file() -> Result<()> {
        let dir = test_dir()?;
        let held = DirLock::acquire(dir.path())?;
        assert_eq!(names(dir.path()), [LOCK_FILE]);
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let lock = DirLock::acquire(&path);
            let _ = tx.send(());
            lock.map(drop)
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "a second holder got the lock"
        );
        drop(held);
        assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok());
        waiter.join().unwrap()?;
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
        Ok(())
    }
}
