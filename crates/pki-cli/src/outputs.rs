//! The files a command writes, as one unit: all of them are checked before
//! any work is done, each is written atomically, and if one fails the ones
//! already written by this run are taken back, so a failed command leaves
//! nothing behind.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use pki::fs::{Overwrite, Secrecy};

/// One file to write.
#[derive(Debug)]
pub struct Output {
    /// What it is, for the report ("certificate", "key", …).
    pub what: &'static str,
    /// Where it goes.
    pub path: PathBuf,
    /// Its bytes.
    pub contents: Vec<u8>,
    /// Whether it is private (mode 0600) or public (0644).
    pub secrecy: Secrecy,
}

impl Output {
    /// A public file (certificates, CSRs, chains).
    pub fn public(what: &'static str, path: &Path, contents: Vec<u8>) -> Self {
        Output {
            what,
            path: path.to_path_buf(),
            contents,
            secrecy: Secrecy::Public,
        }
    }

    /// A private file (keys, bundles with a key, PKCS#12).
    pub fn private(what: &'static str, path: &Path, contents: Vec<u8>) -> Self {
        Output {
            what,
            path: path.to_path_buf(),
            contents,
            secrecy: Secrecy::Private,
        }
    }
}

/// Refuses, before anything is generated, paths that already exist (unless
/// `force`), that are directories, or that two outputs share.
pub fn check_free(paths: &[&Path], force: bool) -> Result<()> {
    for (i, path) in paths.iter().enumerate() {
        if paths[..i].contains(path) {
            bail!(
                "{} is given for two outputs; choose a different file for each",
                path.display()
            );
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !parent.is_dir() {
            bail!(
                "cannot write {}: the directory {} does not exist; create it first",
                path.display(),
                parent.display()
            );
        }
        if path.is_dir() {
            bail!("{} is a directory; give a file name", path.display());
        }
        if !force && path.exists() {
            bail!(
                "{} already exists; move it away, choose another path, or pass --force to replace it",
                path.display()
            );
        }
    }
    Ok(())
}

/// Writes every output, or none: on the first failure the files this call
/// already wrote are removed.
pub fn write_all(outputs: &[Output], force: bool) -> Result<()> {
    let overwrite = if force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    for (i, output) in outputs.iter().enumerate() {
        if let Err(e) =
            pki::fs::write_atomic(&output.path, &output.contents, output.secrecy, overwrite)
        {
            for written in &outputs[..i] {
                let _ = std::fs::remove_file(&written.path);
            }
            return Err(with_force_hint(e));
        }
    }
    Ok(())
}

/// Adds "or pass --force" to the library's "already exists" error.
pub fn with_force_hint(e: pki::Error) -> anyhow::Error {
    match e {
        pki::Error::AlreadyExists { path } => anyhow::anyhow!(
            "{} already exists; move it away, choose another path, or pass --force to replace it",
            path.display()
        ),
        other => other.into(),
    }
}
