//! What users get wrong: broken PEM, a file given in the wrong place, a key
//! that belongs elsewhere, half a CA, a directory that cannot be written.
//! Each must give its own error that names the file, leave no debris, and
//! never show a pass phrase.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use e2e::{
    TestResult, fixture, leftover_temp_files, read_file, read_text, skip, tempdir, write_file,
};
use pki::ca::{CA_CERT_FILE, CA_KEY_FILE};
use pki::{
    Ca, CaParams, Certificate, Csr, CsrParams, Error, KeyType, Origin, Passphrase, PrivateKey,
};
use pki_fixtures::Family;

/// Three ways to break a PEM file: the body cut in half (END line kept),
/// garbage in place of the body, and no END line at all.
fn corruptions(pem: &str, label: &str) -> Vec<(&'static str, String)> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body: Vec<&str> = pem
        .lines()
        .skip_while(|l| *l != begin)
        .skip(1)
        .take_while(|l| *l != end)
        .collect();
    assert!(body.len() >= 2, "too short to cut:\n{pem}");
    let half = body[..body.len() / 2].join("\n");
    vec![
        ("truncated base64", format!("{begin}\n{half}\n{end}\n")),
        (
            "garbage body",
            format!("{begin}\nthis is !!! not base64 at all ???\n{end}\n"),
        ),
        ("no END line", format!("{begin}\n{}\n", body.join("\n"))),
        ("empty file", String::new()),
    ]
}

/// Asserts a `Malformed` error for `path`, expecting `expected`, whose
/// message names the file.
fn assert_malformed(
    result: Result<impl std::fmt::Debug, Error>,
    path: &Path,
    expected: &str,
    case: &str,
) {
    let err = result.expect_err(case);
    match &err {
        Error::Malformed {
            origin,
            expected: e,
            ..
        } => {
            assert_eq!(origin, &Origin::File(path.to_path_buf()), "{case}");
            assert_eq!(*e, expected, "{case}");
        }
        other => panic!("{case}: expected Malformed, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains(&path.display().to_string()),
        "{case}: {shown}"
    );
}

#[test]
fn corrupt_pem_is_malformed_naming_the_file() -> TestResult {
    let dir = tempdir();
    let family = Family::Ecdsa;
    let key_pem = read_text(&fixture(family, "server-key.pem"));
    let cert_pem = read_text(&fixture(family, "server.pem"));
    let key = PrivateKey::generate(KeyType::P256)?;
    let csr_pem = String::from_utf8(Csr::new(&CsrParams::new(["localhost"])?, &key)?.to_pem()?)?;

    for (i, (case, text)) in corruptions(&key_pem, "PRIVATE KEY").into_iter().enumerate() {
        let path = dir.path().join(format!("key-{i}.pem"));
        write_file(&path, &text);
        assert_malformed(PrivateKey::read(&path, None), &path, "private key", case);
        // A pass phrase changes nothing: there is nothing to decrypt.
        let pass = Passphrase::new("some pass phrase");
        assert_malformed(
            PrivateKey::read(&path, Some(&pass)),
            &path,
            "private key",
            case,
        );
    }
    for (i, (case, text)) in corruptions(&cert_pem, "CERTIFICATE")
        .into_iter()
        .enumerate()
    {
        let path = dir.path().join(format!("cert-{i}.pem"));
        write_file(&path, &text);
        assert_malformed(Certificate::read(&path), &path, "certificate", case);
        assert_malformed(
            Ca::load_files(&path, fixture(family, "ca-key.pem"), None),
            &path,
            "certificate",
            case,
        );
    }
    for (i, (case, text)) in corruptions(&csr_pem, "CERTIFICATE REQUEST")
        .into_iter()
        .enumerate()
    {
        let path = dir.path().join(format!("csr-{i}.pem"));
        write_file(&path, &text);
        assert_malformed(Csr::read(&path), &path, "CSR", case);
    }
    Ok(())
}

#[test]
fn certificate_given_as_key_is_wrong_kind() {
    let path = fixture(Family::Rsa, "server.pem");
    let err = PrivateKey::read(&path, None).unwrap_err();
    match &err {
        Error::WrongKind {
            origin,
            expected,
            found,
        } => {
            assert_eq!(origin, &Origin::File(path.clone()));
            assert_eq!(*expected, "private key");
            assert_eq!(found, "certificate");
        }
        other => panic!("expected WrongKind, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains("certificate") && shown.contains(&path.display().to_string()),
        "{shown}"
    );
    assert!(
        shown.contains("holds a certificate, not a private key"),
        "{shown}"
    );
}

#[test]
fn key_given_as_certificate_or_csr_is_wrong_kind() {
    let path = fixture(Family::Rsa, "server-key.pem");
    match Certificate::read(&path) {
        Err(Error::WrongKind {
            origin,
            expected: "certificate",
            found,
        }) => {
            assert_eq!(origin, Origin::File(path.clone()));
            assert_eq!(found, "private key");
        }
        other => panic!("expected WrongKind, got {other:?}"),
    }
    match Csr::read(&path) {
        Err(Error::WrongKind {
            expected: "CSR",
            found,
            ..
        }) => assert_eq!(found, "private key"),
        other => panic!("expected WrongKind, got {other:?}"),
    }
    // The CA key given as the CA certificate, a common slip of argument order.
    let err = Ca::load_files(&path, fixture(Family::Rsa, "ca.pem"), None).unwrap_err();
    match &err {
        Error::WrongKind {
            expected, found, ..
        } => {
            assert_eq!((*expected, found.as_str()), ("certificate", "private key"));
        }
        other => panic!("expected WrongKind, got {other:?}"),
    }
    assert!(err.to_string().contains("order of arguments"), "{err}");
}

#[test]
fn ca_with_a_key_that_is_not_its_own_is_key_mismatch() {
    for family in Family::ALL {
        for (cert, key) in [
            ("server.pem", "ca-key.pem"),
            ("ca.pem", "intermediate-key.pem"),
            ("ca.pem", "server-key.pem"),
        ] {
            let (cert, key) = (fixture(family, cert), fixture(family, key));
            let err = Ca::load_files(&cert, &key, None).unwrap_err();
            match &err {
                Error::KeyMismatch { cert: c, key: k } => {
                    assert_eq!(c, &Origin::File(cert.clone()));
                    assert_eq!(k, &Origin::File(key.clone()));
                }
                other => panic!("{}: expected KeyMismatch, got {other:?}", cert.display()),
            }
            let shown = err.to_string();
            assert!(
                shown.contains(&cert.display().to_string())
                    && shown.contains(&key.display().to_string()),
                "{shown}"
            );
        }
    }
}

#[test]
fn leaf_with_its_own_key_is_not_a_ca() {
    let cert = fixture(Family::Ecdsa, "server.pem");
    match Ca::load_files(&cert, fixture(Family::Ecdsa, "server-key.pem"), None) {
        Err(Error::NotCa { origin }) => assert_eq!(origin, Origin::File(cert)),
        other => panic!("expected NotCa, got {other:?}"),
    }
}

#[test]
fn ca_directory_without_its_key_is_incomplete() {
    let dir = tempdir();
    write_file(
        &dir.path().join(CA_CERT_FILE),
        read_file(&fixture(Family::Ecdsa, "ca.pem")),
    );
    let err = Ca::load(dir.path(), None).unwrap_err();
    match &err {
        Error::CaIncomplete { dir: d, missing } => {
            assert_eq!(d, dir.path());
            assert_eq!(missing, &dir.path().join(CA_KEY_FILE));
        }
        other => panic!("expected CaIncomplete, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains(&dir.path().join(CA_KEY_FILE).display().to_string()),
        "{shown}"
    );
}

#[test]
fn empty_or_missing_directory_has_no_ca() {
    let dir = tempdir();
    for d in [dir.path().to_path_buf(), dir.path().join("never-created")] {
        let err = Ca::load(&d, None).unwrap_err();
        match &err {
            Error::NoCa { dir: got, cert } => {
                assert_eq!(got, &d);
                assert_eq!(cert, &d.join(CA_CERT_FILE));
            }
            other => panic!("expected NoCa, got {other:?}"),
        }
        assert!(err.to_string().contains(CA_CERT_FILE), "{err}");
    }
}

/// Asserts an `Io` error naming `path`.
fn assert_io(result: pki::Result<()>, path: &Path, case: &str) {
    let err = result.expect_err(case);
    match &err {
        Error::Io { path: p, .. } => assert_eq!(p, path, "{case}"),
        other => panic!("{case}: expected Io, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{case}: {err}"
    );
}

#[test]
fn writing_under_a_regular_file_is_io_and_leaves_nothing() -> TestResult {
    let dir = tempdir();
    let file = dir.path().join("not-a-dir");
    write_file(&file, "x");
    let key = PrivateKey::generate(KeyType::P256)?;
    let path = file.join("key.pem");
    assert_io(
        key.write_pem(&path, None, pki::Overwrite::Refuse),
        &path,
        "key under a file",
    );
    let cert = Certificate::read(fixture(Family::Ecdsa, "server.pem"))?;
    assert_io(
        cert.write_pem(&path, pki::Overwrite::Refuse),
        &path,
        "cert under a file",
    );
    assert!(leftover_temp_files(dir.path()).is_empty());
    match Ca::create_in(file.join("ca"), &CaParams::new(), None) {
        Err(Error::Io { .. }) => {}
        other => panic!("expected Io, got {other:?}"),
    }
    assert_eq!(read_file(&file), b"x");
    Ok(())
}

#[test]
fn writing_a_name_too_long_fails_after_the_temp_file_and_leaves_nothing() -> TestResult {
    // The temp file is made in the directory; only the final link fails.
    let dir = tempdir();
    let path = dir.path().join(format!("{}.pem", "k".repeat(300)));
    let key = PrivateKey::generate(KeyType::P256)?;
    assert_io(
        key.write_pem(&path, None, pki::Overwrite::Refuse),
        &path,
        "key",
    );
    assert_io(
        key.write_pem(
            &path,
            Some(&Passphrase::new("long enough")),
            pki::Overwrite::Refuse,
        ),
        &path,
        "encrypted key",
    );
    let cert = Certificate::read(fixture(Family::Ecdsa, "server.pem"))?;
    assert_io(cert.write_pem(&path, pki::Overwrite::Refuse), &path, "cert");
    assert_eq!(leftover_temp_files(dir.path()), Vec::<String>::new());
    Ok(())
}

#[test]
fn writing_into_a_read_only_directory_is_io_and_leaves_nothing() -> TestResult {
    let dir = tempdir();
    let ro = dir.path().join("read-only");
    std::fs::create_dir(&ro)?;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555))?;
    let probe = ro.join("probe");
    let can_write_anyway = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .is_ok();
    if can_write_anyway {
        // Root (CAP_DAC_OVERRIDE) ignores the mode: the other Io tests
        // cover this case with paths no one can write.
        let _ = std::fs::remove_file(&probe);
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755))?;
        skip("running as root: a 0555 directory is writable, so this check did NOT run");
        return Ok(());
    }
    let path = ro.join("key.pem");
    let key = PrivateKey::generate(KeyType::P256)?;
    let result = key.write_pem(&path, None, pki::Overwrite::Refuse);
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755))?;
    assert_io(result, &path, "read-only directory");
    assert!(leftover_temp_files(&ro).is_empty());
    Ok(())
}

#[test]
fn writing_under_proc_is_io() -> TestResult {
    let path = PathBuf::from("/proc/pki-e2e-cannot-write-here/key.pem");
    let key = PrivateKey::generate(KeyType::P256)?;
    assert_io(
        key.write_pem(&path, None, pki::Overwrite::Refuse),
        &path,
        "under /proc",
    );
    Ok(())
}

#[test]
fn writing_over_an_existing_file_is_already_exists_and_keeps_it() -> TestResult {
    let dir = tempdir();
    let path = dir.path().join("taken.pem");
    write_file(&path, "old content\n");
    let key = PrivateKey::generate(KeyType::P256)?;
    let cert = Certificate::read(fixture(Family::Ecdsa, "server.pem"))?;
    let csr = Csr::new(&CsrParams::new(["localhost"])?, &key)?;
    let attempts: [(&str, pki::Result<()>); 4] = [
        ("key", key.write_pem(&path, None, pki::Overwrite::Refuse)),
        (
            "encrypted key",
            key.write_pem(
                &path,
                Some(&Passphrase::new("long enough")),
                pki::Overwrite::Refuse,
            ),
        ),
        ("certificate", cert.write_pem(&path, pki::Overwrite::Refuse)),
        ("CSR", csr.write_pem(&path, pki::Overwrite::Refuse)),
    ];
    for (what, result) in attempts {
        match result {
            Err(Error::AlreadyExists { path: p }) => assert_eq!(p, path, "{what}"),
            other => panic!("{what}: expected AlreadyExists, got {other:?}"),
        }
        assert_eq!(read_text(&path), "old content\n", "{what} changed the file");
    }
    assert!(leftover_temp_files(dir.path()).is_empty());
    Ok(())
}

#[test]
fn create_in_with_a_dangling_symlink_for_the_cert_takes_back_the_key() -> TestResult {
    // `exists()` does not see a dangling symlink, so the key gets written
    // before the certificate's exclusive link fails; the key must go again.
    let dir = tempdir();
    let ca_dir = dir.path().join("ca");
    std::fs::create_dir(&ca_dir)?;
    std::os::unix::fs::symlink(dir.path().join("nowhere"), ca_dir.join(CA_CERT_FILE))?;
    match Ca::create_in(&ca_dir, &CaParams::new(), None) {
        Err(Error::CaExists { dir }) => assert_eq!(dir, ca_dir),
        other => panic!("expected CaExists, got {other:?}"),
    }
    assert!(
        !ca_dir.join(CA_KEY_FILE).exists(),
        "a half CA (key only) was left behind"
    );
    assert!(leftover_temp_files(&ca_dir).is_empty());
    Ok(())
}

/// A pass phrase distinctive enough that finding it anywhere means a leak.
const SECRET: &str = "zebra-quasar-7741-passphrase";

fn assert_no_secret(err: &Error) {
    for shown in [format!("{err}"), format!("{err:?}"), format!("{err:#?}")] {
        assert!(!shown.contains(SECRET), "the pass phrase leaked: {shown}");
        assert!(
            !shown.contains("zebra"),
            "part of the pass phrase leaked: {shown}"
        );
    }
}

#[test]
fn pass_phrase_never_shows_in_errors() -> TestResult {
    let secret = Passphrase::new(SECRET);
    let path = fixture(Family::Ecdsa, "encrypted-key.pem");
    let err = PrivateKey::read(&path, Some(&secret)).unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase { .. }), "{err:?}");
    assert_no_secret(&err);
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    let err = PrivateKey::from_pem_passphrase(&read_file(&path), &secret).unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase { .. }), "{err:?}");
    assert_no_secret(&err);

    let dir = tempdir();
    let ca_dir = dir.path().join("ca");
    Ca::create_in(
        &ca_dir,
        &CaParams::new(),
        Some(&Passphrase::new("the real one")),
    )?;
    let err = Ca::load(&ca_dir, Some(&secret)).unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase { .. }), "{err:?}");
    assert_no_secret(&err);
    assert_eq!(format!("{secret:?}"), "Passphrase(***)");
    Ok(())
}

/// The message of `PassphraseTooShort` says "the pass phrase is empty" for
/// any phrase under four characters; for "abc" that is not true.
#[test]
fn too_short_pass_phrase_is_not_called_empty() -> TestResult {
    let dir = tempdir();
    let key = PrivateKey::generate(KeyType::P256)?;
    let path = dir.path().join("key.pem");
    let err = key
        .write_pem(&path, Some(&Passphrase::new("abc")), pki::Overwrite::Refuse)
        .unwrap_err();
    assert!(matches!(err, Error::PassphraseTooShort), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("at least 4 characters"), "{shown}");
    assert!(
        !path.exists(),
        "a key was written with a refused pass phrase"
    );
    assert!(leftover_temp_files(dir.path()).is_empty());
    assert!(
        !shown.contains("empty"),
        "a three-character pass phrase is called empty: {shown}"
    );
    Ok(())
}

/// An operating-system error is said once, whether a program prints the
/// library's error or walks its chain, and both binaries print it once.
#[test]
fn a_missing_file_is_reported_with_its_cause_once() {
    let dir = tempdir();
    let missing = dir.path().join("missing.pem");
    let err = Certificate::read(&missing).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&missing.display().to_string()), "{text}");
    assert_eq!(
        text.matches("No such file or directory").count(),
        1,
        "{text}"
    );
    assert!(
        std::error::Error::source(&err).is_none(),
        "the cause is in the message; as a source too, chains print it twice: {err:?}"
    );

    let once = |out: &e2e::Output| {
        assert_eq!(
            out.stderr.matches("No such file or directory").count(),
            1,
            "{out}"
        );
    };
    let out = e2e::pki(dir.path()).arg("inspect").arg(&missing).output();
    out.assert_code(2);
    once(&out);
    let out = e2e::TestCommand::new(e2e::workspace_bin("actix-https", "actix-https"))
        .current_dir(dir.path())
        .env("CAROOT", dir.path().join("ca"))
        .args(["--bind", "127.0.0.1:0", "--cert"])
        .arg(&missing)
        .arg("--key")
        .arg(&missing)
        .output();
    out.assert_code(2);
    once(&out);
}
