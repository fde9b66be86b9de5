//! The PKCS#12 files `pki` writes, opened by the programs people import
//! them into: `openssl pkcs12` (OpenSSL 3, with and without `-legacy`),
//! Java's `keytool`, and `curl --cert-type P12` presenting one to a
//! mutual-TLS server.

use std::path::{Path, PathBuf};

use e2e::{
    Output, Server, TestCommand, TestResult, curl, family_dir, fixture, leftover_temp_files, mode,
    openssl, openssl_fingerprint, read_file, require_tool, require_tools, tempdir,
};
use pki::{
    Certificate, Error, Identity, Origin, Overwrite, Passphrase, Pkcs12Encryption, Pkcs12Params,
};
use pki_fixtures::Family;

/// The password of every bundle here. No colon: curl splits `--cert
/// file:password` at the first one.
const PASSWORD: &str = "p12-test-password";

/// The friendly name given to the bundles; keytool shows it lowercased.
const FRIENDLY_NAME: &str = "PKI Fixture Client";

/// What `openssl s_server -www` puts in every page it serves.
const PAGE: &str = "Ciphers supported in s_server binary";

/// The fixture `<stem>.pem` with `<stem>-key.pem`, and the root that issued it.
fn fixture_identity(family: Family, stem: &str) -> pki::Result<Identity> {
    let root = match stem {
        "untrusted-client" => "untrusted-ca.pem",
        _ => "ca.pem",
    };
    let identity = Identity::read(
        fixture(family, &format!("{stem}.pem")),
        fixture(family, &format!("{stem}-key.pem")),
        None,
    )?;
    Ok(identity.with_root(Certificate::read(fixture(family, root))?))
}

fn p12_params(encryption: Pkcs12Encryption) -> Pkcs12Params {
    Pkcs12Params::new()
        .encryption(encryption)
        .friendly_name(FRIENDLY_NAME)
}

/// Writes the fixture bundle of `stem` as `<dir>/<family>-<stem>-<encryption>.p12`.
fn write_p12(
    dir: &Path,
    family: Family,
    stem: &str,
    encryption: Pkcs12Encryption,
) -> pki::Result<PathBuf> {
    let path = dir.join(format!("{}-{stem}-{encryption:?}.p12", family.dir_name()));
    fixture_identity(family, stem)?.write_pkcs12(
        &path,
        &Passphrase::new(PASSWORD),
        &p12_params(encryption),
        Overwrite::Refuse,
    )?;
    Ok(path)
}

/// `openssl pkcs12 -info -nodes -passin pass:PASSWORD [extra…] -in path`.
fn pkcs12_info(path: &Path, extra: &[&str]) -> Output {
    openssl(["pkcs12", "-info", "-nodes", "-passin"])
        .arg(format!("pass:{PASSWORD}"))
        .args(extra)
        .arg("-in")
        .arg(path)
        .output()
}

/// Asserts that `openssl pkcs12 -info` showed the whole client bundle:
/// the friendly name, the leaf and the root, and the key.
fn assert_shows_client_bundle(out: &Output) {
    assert!(out.status.success(), "openssl could not open it\n{out}");
    out.assert_stdout_contains(&format!("friendlyName: {FRIENDLY_NAME}"))
        .assert_stdout_contains("subject=O = pki development certificate, OU = ")
        .assert_stdout_contains(", CN = pki fixture client\n")
        .assert_stdout_contains(", CN = pki fixture root CA\n")
        .assert_stdout_contains("-----BEGIN PRIVATE KEY-----");
    assert_eq!(
        out.stdout.matches("-----BEGIN CERTIFICATE-----").count(),
        2,
        "leaf and root\n{out}"
    );
}

#[test]
fn modern_p12_opens_in_openssl_3_without_legacy_as_aes_256_cbc_with_sha256_mac() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let dir = tempdir();
    for family in Family::ALL {
        let p12 = write_p12(dir.path(), family, "client", Pkcs12Encryption::Modern)?;
        let out = pkcs12_info(&p12, &[]);
        assert_shows_client_bundle(&out);
        // OpenSSL prints the structure on stderr, the contents on stdout.
        out.assert_stderr_contains("MAC: sha256, Iteration 2048")
            .assert_stderr_contains(
                "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256",
            )
            .assert_stderr_contains(
                "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256",
            );
        assert!(!out.stderr.contains("pbeWithSHA1"), "{out}");
    }
    Ok(())
}

#[test]
fn legacy_p12_opens_in_openssl_3_with_legacy_as_3des_and_rc2_with_sha1_mac() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let dir = tempdir();
    for family in Family::ALL {
        let p12 = write_p12(dir.path(), family, "client", Pkcs12Encryption::Legacy)?;
        let out = pkcs12_info(&p12, &["-legacy"]);
        assert_shows_client_bundle(&out);
        out.assert_stderr_contains("MAC: sha1, Iteration 2048")
            .assert_stderr_contains(
                "PKCS7 Encrypted data: pbeWithSHA1And40BitRC2-CBC, Iteration 2048",
            )
            .assert_stderr_contains(
                "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048",
            );
    }
    Ok(())
}

/// OpenSSL 3 keeps RC2 in its legacy provider, which `pkcs12` loads only
/// with `-legacy`: it checks the SHA-1 MAC, then cannot decrypt the
/// certificates. This is why Modern is the default.
#[test]
fn legacy_p12_fails_in_openssl_3_without_legacy_as_unsupported_rc2() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let dir = tempdir();
    for family in Family::ALL {
        let p12 = write_p12(dir.path(), family, "client", Pkcs12Encryption::Legacy)?;
        let out = pkcs12_info(&p12, &[]);
        out.assert_code(1)
            .assert_stderr_contains("MAC: sha1")
            .assert_stderr_contains("Error outputting keys and certificates")
            .assert_stderr_contains("digital envelope routines")
            .assert_stderr_contains(":unsupported:")
            .assert_stderr_contains("Algorithm (RC2-40-CBC : 0)")
            .assert_stdout_lacks("-----BEGIN PRIVATE KEY-----");
    }
    Ok(())
}

/// `keytool -list` of a bundle: Java reads both encryptions, and shows the
/// friendly name, lowercased, as the alias of one key entry.
#[test]
fn keytool_lists_modern_and_legacy_p12_as_a_private_key_entry_named_by_the_friendly_name()
-> TestResult {
    if !require_tool("keytool") {
        return Ok(());
    }
    let dir = tempdir();
    for encryption in [Pkcs12Encryption::Modern, Pkcs12Encryption::Legacy] {
        let p12 = write_p12(dir.path(), Family::Rsa, "client", encryption)?;
        let out = keytool_list(&p12, PASSWORD).output();
        assert!(out.status.success(), "{encryption:?}\n{out}");
        out.assert_stdout_contains("Keystore type: PKCS12")
            .assert_stdout_contains("Your keystore contains 1 entry")
            .assert_stdout_contains("PrivateKeyEntry");
        let entry = out
            .stdout
            .lines()
            .find(|l| l.contains("PrivateKeyEntry"))
            .unwrap();
        let alias = FRIENDLY_NAME.to_lowercase();
        assert!(
            entry.starts_with(&format!("{alias}, ")),
            "{encryption:?}: alias should be {alias:?}\n{out}"
        );
        // The same certificate as the fixture: keytool's fingerprint is openssl's.
        let fingerprint = openssl_fingerprint(&fixture(Family::Rsa, "client.pem"));
        out.assert_stdout_contains(&format!(
            "Certificate fingerprint (SHA-256): {fingerprint}\n"
        ));
    }
    Ok(())
}

#[test]
fn keytool_refuses_our_p12_with_a_wrong_password_as_incorrect() -> TestResult {
    if !require_tool("keytool") {
        return Ok(());
    }
    let dir = tempdir();
    let p12 = write_p12(
        dir.path(),
        Family::Ecdsa,
        "client",
        Pkcs12Encryption::Modern,
    )?;
    keytool_list(&p12, "not-the-password")
        .assert_failure()
        .assert_code(1)
        .assert_stdout_contains(
            "keytool error: java.io.IOException: keystore password was incorrect",
        );
    Ok(())
}

/// `keytool -list -storetype PKCS12 -keystore p12 -storepass password`.
fn keytool_list(p12: &Path, password: &str) -> TestCommand {
    let mut cmd = TestCommand::new("keytool");
    cmd.args(["-list", "-storetype", "PKCS12", "-keystore"])
        .arg(p12)
        .args(["-storepass", password]);
    cmd
}

#[test]
fn p12_round_trips_through_pki_in_both_encryptions() -> TestResult {
    let dir = tempdir();
    let pass = Passphrase::new(PASSWORD);
    for family in Family::ALL {
        for encryption in [Pkcs12Encryption::Modern, Pkcs12Encryption::Legacy] {
            let written = fixture_identity(family, "client")?;
            let p12 = write_p12(dir.path(), family, "client", encryption)?;
            assert_eq!(mode(&p12), 0o600, "{} holds a key", p12.display());
            assert!(
                leftover_temp_files(dir.path()).is_empty(),
                "{:?}",
                leftover_temp_files(dir.path())
            );

            let back = Identity::read_pkcs12(&p12, &pass)?;
            assert_eq!(
                back.certificate(),
                written.certificate(),
                "{family:?} {encryption:?}"
            );
            assert!(back.key().as_pkey().public_eq(written.key().as_pkey()));
            assert!(back.intermediates().is_empty(), "{family:?} {encryption:?}");
            assert_eq!(back.root(), written.root(), "{family:?} {encryption:?}");
            assert_eq!(
                back.certificate().friendly_name().as_deref(),
                Some(FRIENDLY_NAME)
            );
        }
    }
    Ok(())
}

#[test]
fn p12_with_a_wrong_password_is_wrong_passphrase_naming_the_file() -> TestResult {
    let dir = tempdir();
    for encryption in [Pkcs12Encryption::Modern, Pkcs12Encryption::Legacy] {
        let p12 = write_p12(dir.path(), Family::Ecdsa, "client", encryption)?;
        let err = Identity::read_pkcs12(&p12, &Passphrase::new("not-the-password")).unwrap_err();
        match &err {
            Error::WrongPassphrase { origin } => assert_eq!(origin, &Origin::File(p12.clone())),
            other => panic!("{encryption:?}: expected WrongPassphrase, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!("the pass phrase for {} is wrong", p12.display())
        );
        assert!(!err.to_string().contains("not-the-password"));
    }
    Ok(())
}

#[test]
fn p12_is_never_overwritten() -> TestResult {
    let dir = tempdir();
    let p12 = write_p12(
        dir.path(),
        Family::Ecdsa,
        "client",
        Pkcs12Encryption::Modern,
    )?;
    let before = read_file(&p12);
    let again = fixture_identity(Family::Ecdsa, "client")?.write_pkcs12(
        &p12,
        &Passphrase::new(PASSWORD),
        &p12_params(Pkcs12Encryption::Modern),
        Overwrite::Refuse,
    );
    match again {
        Err(Error::AlreadyExists { path }) => assert_eq!(path, p12),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(read_file(&p12), before);
    Ok(())
}

/// `s_server` serving the fixture server and requiring a client
/// certificate from the fixture CA.
fn serve_mtls(family: Family) -> Server {
    Server::openssl_www(
        &family_dir(family),
        [
            "-cert",
            "server.pem",
            "-key",
            "server-key.pem",
            "-Verify",
            "1",
            "-verify_return_error",
            "-CAfile",
            "ca.pem",
        ],
    )
}

/// `curl --cert-type P12 --cert p12:PASSWORD --cacert ca.pem url`.
fn curl_p12(family: Family, server: &Server, p12: &Path) -> Output {
    curl()
        .args(["--fail", "--cert-type", "P12", "--cert"])
        .arg(format!("{}:{PASSWORD}", p12.display()))
        .arg("--cacert")
        .arg(fixture(family, "ca.pem"))
        .arg(server.url("localhost"))
        .output()
}

#[test]
fn mtls_curl_presents_a_modern_p12_client_bundle_and_gets_the_page() -> TestResult {
    if !require_tools(&["openssl", "curl"]) {
        return Ok(());
    }
    let dir = tempdir();
    for family in Family::ALL {
        let p12 = write_p12(dir.path(), family, "client", Pkcs12Encryption::Modern)?;
        let server = serve_mtls(family);
        let out = curl_p12(family, &server, &p12);
        assert!(out.status.success(), "curl should have got the page\n{out}");
        out.assert_stdout_contains(PAGE)
            .assert_stdout_contains("CN=pki fixture client");
    }
    Ok(())
}

#[test]
fn mtls_refuses_a_p12_of_the_untrusted_client_as_unknown_ca() -> TestResult {
    if !require_tools(&["openssl", "curl"]) {
        return Ok(());
    }
    let dir = tempdir();
    for family in Family::ALL {
        let p12 = write_p12(
            dir.path(),
            family,
            "untrusted-client",
            Pkcs12Encryption::Modern,
        )?;
        let server = serve_mtls(family);
        let out = curl_p12(family, &server, &p12);
        // TLS 1.3: the client finishes first and reads the server's alert.
        out.assert_code(56)
            .assert_stderr_contains("alert unknown ca")
            .assert_stdout_lacks(PAGE);
        // curl sends the bundle's chain too, so the server meets the
        // untrusted root itself, not just a leaf from an unknown issuer.
        server.assert_log_contains(
            "verify error:num=19:self-signed certificate in certificate chain",
        );
        server.assert_log_contains("CN = pki fixture untrusted CA");
    }
    Ok(())
}

/// curl 7.88 on OpenSSL 3 does not load the legacy provider, so it cannot
/// decrypt the RC2-40 certificate bag of a Legacy bundle: it gives up
/// before the TLS handshake, blaming the password first and then quoting
/// OpenSSL's "unsupported". Legacy bundles are for old importers, not curl.
#[test]
fn curl_on_openssl_3_cannot_read_a_legacy_p12_as_unsupported() -> TestResult {
    if !require_tools(&["openssl", "curl"]) {
        return Ok(());
    }
    let dir = tempdir();
    let p12 = write_p12(
        dir.path(),
        Family::Ecdsa,
        "client",
        Pkcs12Encryption::Legacy,
    )?;
    let server = serve_mtls(Family::Ecdsa);
    let out = curl_p12(Family::Ecdsa, &server, &p12);
    out.assert_code(58)
        .assert_stderr_contains("could not parse PKCS12 file, check password")
        .assert_stderr_contains("digital envelope routines::unsupported")
        .assert_stdout_lacks(PAGE);
    Ok(())
}
