//! Headless Chromium with its own NSS database, so a browser judges
//! certificates without the machine's trust being touched.

use std::fs::{self};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::*;

/// A fresh HOME under `parent` with an empty NSS database in `.pki/nssdb`,
/// where Chromium on Linux keeps the certificates it trusts.
pub fn nss_home(parent: &Path) -> PathBuf {
    let home = parent.join("home");
    nss_db(&home.join(".pki").join("nssdb"));
    home
}

/// Creates an empty NSS database (`cert9.db`) in `dir` with `certutil -N`.
pub fn nss_db(dir: &Path) {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("failed to create {}: {e}", dir.display()));
    TestCommand::new("certutil")
        .arg("-N")
        .arg("-d")
        .arg(format!("sql:{}", dir.display()))
        .arg("--empty-password")
        .assert_success();
}

/// `chromium --headless --dump-dom url` with `HOME=home` and a fresh profile,
/// without `--ignore-certificate-errors`: the page's DOM on stdout, or a
/// certificate error in its log.
pub fn chromium_dump(home: &Path, url: &str) -> Output {
    let profile = home.join("profile");
    let mut cmd = TestCommand::new("chromium");
    for var in [
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "https_proxy",
        "HTTPS_PROXY",
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-proxy-server",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .timeout(Duration::from_secs(60));
    cmd.output()
}
