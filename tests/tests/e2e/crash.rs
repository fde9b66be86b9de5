//! Crashes: the real `pki` is killed (SIGKILL) at a named step of a change
//! spanning several files (`PKI_TEST_PAUSE_AT`), and the next command must
//! finish or clear what was started, or say exactly what to do: never a CA
//! directory no command can get out of, never a CRL number used twice.

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime};

use e2e::{
    extension, leftover_temp_files, openssl, pki, read_file, require_tool, tempdir, write_file,
};
use pki::ca::{CA_CERT_FILE, CA_KEY_FILE};
use pki::crl::{CRL_DER_FILE, CRL_NUMBER_FILE, CRL_PEM_FILE};

/// The CA directory `pki(dir)` uses.
fn ca_dir(dir: &Path) -> std::path::PathBuf {
    dir.join("ca")
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("failed to list {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts that `dir/ca` holds a complete CA and nothing else, and that
/// `openssl verify` accepts `leaf` (if given) under it.
fn assert_complete_ca(dir: &Path, leaf: Option<&str>) {
    let ca = ca_dir(dir);
    assert_eq!(names(&ca), [CA_KEY_FILE, CA_CERT_FILE], "{}", ca.display());
    if !require_tool("openssl") {
        return;
    }
    openssl(["pkey", "-noout", "-in"])
        .arg(ca.join(CA_KEY_FILE))
        .assert_success();
    if let Some(leaf) = leaf {
        openssl(["verify", "-x509_strict", "-CAfile"])
            .arg(ca.join(CA_CERT_FILE))
            .arg(dir.join(leaf))
            .assert_success()
            .assert_stdout_contains(": OK");
    }
}

/// `pki ca create` or the first `pki cert` killed once the CA key is on
/// disk and before its certificate: the state that used to say "no CA" to
/// `pki ca show` and `pki cert`, and "a CA already exists" to `pki ca create`.
fn killed_between_key_and_certificate(dir: &Path, killed: &[&str]) {
    pki(dir).args(killed).kill_at("ca-key-written");
    let ca = ca_dir(dir);
    assert!(ca.join(CA_KEY_FILE).exists(), "{:?}", names(&ca));
    assert!(!ca.join(CA_CERT_FILE).exists(), "{:?}", names(&ca));
}

#[test]
fn ca_create_killed_after_the_key_then_ca_create_makes_the_ca() {
    let dir = tempdir();
    killed_between_key_and_certificate(dir.path(), &["ca", "create"]);
    pki(dir.path())
        .args(["ca", "create"])
        .assert_success()
        .assert_stdout_contains("Created a new local CA");
    assert_complete_ca(dir.path(), None);
}

#[test]
fn first_cert_killed_after_the_ca_key_then_cert_makes_a_complete_ca() {
    let dir = tempdir();
    killed_between_key_and_certificate(dir.path(), &["cert", "localhost"]);
    pki(dir.path())
        .args(["cert", "localhost"])
        .assert_success()
        .assert_stdout_contains("Created a new local CA");
    assert_complete_ca(dir.path(), Some("localhost.pem"));
}

#[test]
fn ca_show_after_a_killed_creation_clears_it_and_says_how_to_create_one() {
    let dir = tempdir();
    killed_between_key_and_certificate(dir.path(), &["ca", "create"]);
    let out = pki(dir.path()).args(["ca", "show"]).assert_failure();
    out.assert_code(2)
        .assert_stderr_contains("there is no CA in")
        .assert_stderr_contains("`pki ca create`");
    // The key was never published (no certificate was signed with it): gone.
    assert!(
        names(&ca_dir(dir.path())).is_empty(),
        "{:?}",
        names(&ca_dir(dir.path()))
    );
    pki(dir.path()).args(["ca", "create"]).assert_success();
    pki(dir.path()).args(["ca", "show"]).assert_success();
    assert_complete_ca(dir.path(), None);
}

#[test]
fn killed_before_the_ca_key_or_after_its_certificate_leaves_no_trace() {
    for step in ["ca-creation-marked", "ca-cert-written"] {
        let dir = tempdir();
        pki(dir.path()).args(["ca", "create"]).kill_at(step);
        let ca = ca_dir(dir.path());
        assert!(
            !leftover_temp_files(&ca).is_empty(),
            "{step}: no creation marker {:?}",
            names(&ca)
        );
        pki(dir.path()).args(["cert", "localhost"]).assert_success();
        assert_complete_ca(dir.path(), Some("localhost.pem"));
    }
}

#[test]
fn a_ca_key_without_certificate_that_pki_did_not_leave_is_kept_and_explained() {
    // A certificate removed by hand: the key may be the only copy of a CA
    // that is trusted somewhere, so nothing may delete it.
    let dir = tempdir();
    let ca = ca_dir(dir.path());
    pki(dir.path()).args(["ca", "create"]).assert_success();
    fs::remove_file(ca.join(CA_CERT_FILE)).unwrap();
    let key = read_file(&ca.join(CA_KEY_FILE));
    for command in [
        &["ca", "show"][..],
        &["cert", "localhost"],
        &["ca", "create"],
    ] {
        let out = pki(dir.path()).args(command).assert_failure();
        out.assert_code(2)
            .assert_stderr_contains(&ca.join(CA_KEY_FILE).display().to_string())
            .assert_stderr_contains(&format!("restore {}", ca.join(CA_CERT_FILE).display()))
            .assert_stderr_contains("move it away");
        assert_eq!(read_file(&ca.join(CA_KEY_FILE)), key, "{command:?}");
        assert_eq!(names(&ca), [CA_KEY_FILE], "{command:?}");
    }
    assert!(!dir.path().join("localhost.pem").exists());
}

/// Plants a `pki::fs` temp file that was last written `age` ago.
fn plant_temp(dir: &Path, name: &str, age: Duration) {
    let path = dir.join(name);
    write_file(&path, "half a key");
    File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(SystemTime::now() - age))
        .unwrap_or_else(|e| panic!("failed to date {}: {e}", path.display()));
}

#[test]
fn stale_temp_files_of_killed_runs_are_removed_and_fresh_ones_kept() {
    let dir = tempdir();
    let ca = ca_dir(dir.path());
    pki(dir.path()).args(["ca", "create"]).assert_success();
    let hour = Duration::from_secs(3600);
    for d in [dir.path(), &ca] {
        plant_temp(d, ".pki-Stale1.tmp", hour);
        plant_temp(d, ".pki-Fresh1.tmp", Duration::ZERO);
    }
    // `pki cert` writes into the current directory, `pki crl` into the CA's.
    pki(dir.path()).args(["cert", "localhost"]).assert_success();
    pki(dir.path()).arg("crl").assert_success();
    for d in [dir.path(), &ca] {
        assert_eq!(
            leftover_temp_files(d),
            [".pki-Fresh1.tmp"],
            "{}",
            d.display()
        );
    }
}

/// The CRL number of a CRL file, as `openssl crl` reads it.
fn crl_number(path: &Path, form: &str) -> u64 {
    let out = openssl(["crl", "-noout", "-text", "-inform", form, "-in"])
        .arg(path)
        .assert_success();
    let number = extension(&out.stdout, "CRL Number")
        .unwrap_or_else(|| panic!("no CRL Number\n{out}"))
        .value;
    number
        .parse()
        .unwrap_or_else(|e| panic!("CRL Number {number:?}: {e}\n{out}"))
}

#[test]
fn crl_killed_between_its_files_never_reuses_a_number() {
    if !require_tool("openssl") {
        return;
    }
    for step in ["crl-number-written", "crl-pem-written"] {
        let dir = tempdir();
        let ca = ca_dir(dir.path());
        pki(dir.path()).args(["cert", "localhost"]).assert_success();
        pki(dir.path()).arg("crl").assert_success();
        pki(dir.path()).arg("crl").kill_at(step);
        let published = crl_number(&ca.join(CRL_PEM_FILE), "PEM")
            .max(crl_number(&ca.join(CRL_DER_FILE), "DER"));
        pki(dir.path()).arg("crl").assert_success();
        let next = crl_number(&ca.join(CRL_PEM_FILE), "PEM");
        assert!(
            next > published,
            "{step}: CRL number {next} after {published} was published (crlnumber says {:?})",
            fs::read_to_string(ca.join(CRL_NUMBER_FILE))
        );
        assert_eq!(crl_number(&ca.join(CRL_DER_FILE), "DER"), next, "{step}");
        assert!(leftover_temp_files(&ca).is_empty(), "{step}");
    }
}

/// A run that finds the CA directory's lock held says why it waits (a
/// stopped `pki` would otherwise look like a hang), then goes on once the
/// holder is gone.
#[test]
fn a_run_waiting_for_the_lock_says_so_and_goes_on_after_the_holder_dies() {
    let dir = tempdir();
    pki(dir.path()).args(["cert", "localhost"]).assert_success();
    let holder = pki(dir.path()).arg("crl").pause_at("crl-number-written");
    let root = dir.path().to_path_buf();
    let waiter = std::thread::spawn(move || pki(&root).arg("crl").output());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !waiter.is_finished(),
        "the second run did not wait for the lock"
    );
    holder.kill();
    let out = waiter.join().unwrap();
    out.assert_code(0)
        .assert_stderr_contains("waiting for another pki run that is changing this CA directory")
        .assert_stderr_contains(".pki.lock");
}
