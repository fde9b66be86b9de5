//! Every file `pki` writes goes through here: a temp file in the target's own
//! directory, written, given its mode, then renamed into place. A crash or a
//! full disk leaves either the old file or the new one, never half of one,
//! and a private key is never readable by others, not even for a moment.
//!
//! Only a CA's own files are also synced to disk before the rename
//! ([`write_durable`]): losing a CA key to a power cut means trusting a new
//! CA everywhere, while a leaf is re-issued in milliseconds, and syncing it
//! would double the time `pki cert` takes.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, FileAction, Result};

/// Mode of private keys: readable by the owner only (as mkcert and ssh-keygen write them).
pub const PRIVATE_MODE: u32 = 0o600;
/// Mode of certificates, CSRs and other public material.
pub const PUBLIC_MODE: u32 = 0o644;
/// Mode of a CA directory we create: it holds the CA key.
pub const CA_DIR_MODE: u32 = 0o700;

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
    path: &Path,
    contents: &[u8],
    secrecy: Secrecy,
    overwrite: Overwrite,
) -> Result<()> {
    write(path, contents, secrecy, overwrite, false)
}

/// As [`write_atomic`], and synced to disk before it appears under its name:
/// for files that are costly to lose (a CA's certificate and key).
pub fn write_durable(
    path: &Path,
    contents: &[u8],
    secrecy: Secrecy,
    overwrite: Overwrite,
) -> Result<()> {
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
        source,
    };
    if overwrite == Overwrite::Refuse && path.exists() {
        return Err(Error::AlreadyExists {
            path: path.to_path_buf(),
        });
    }
    let dir = parent_dir(path);
    // tempfile creates the file with mode 0600, so a key is private from its first byte.
    let mut tmp = tempfile::Builder::new()
        .prefix(".pki-")
        .suffix(".tmp")
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
    Ok(())
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|source| Error::Io {
        action: FileAction::Read,
        path: path.to_path_buf(),
        source,
    })
}

/// Creates `dir` (and its parents) if missing; a directory this call creates
/// gets mode 0700. An existing directory is left as it is (an mkcert CAROOT
/// is 0755, and changing it behind the user's back would surprise them).
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(CA_DIR_MODE)
        .create(dir)
        .map_err(|source| Error::Io {
            action: FileAction::CreateDir,
            path: dir.to_path_buf(),
            source,
        })
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
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
        let dir = tempfile::tempdir().map_err(|e| Error::Io {
            action: FileAction::CreateDir,
            path: PathBuf::from("tmp"),
            source: e,
        })?;
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
        let dir = tempfile::tempdir().map_err(|e| Error::Io {
            action: FileAction::CreateDir,
            path: PathBuf::from("tmp"),
            source: e,
        })?;
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
}
