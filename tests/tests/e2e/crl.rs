//! Revocation end to end: a CA directory made by `pki` revokes a client,
//! signs a CRL, and `openssl crl`, `openssl verify -crl_check` and a real
//! mutual-TLS `openssl s_server -crl_check` refuse that client while still
//! serving the other; `pki::verify` says the same in words.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use e2e::{
    Output, Server, TestResult, curl, extension, openssl, openssl_line, openssl_serial, read_file,
    require_tool, require_tools, tempdir,
};
use openssl::x509::X509Crl;
use pki::ca::CA_CERT_FILE;
use pki::crl::{CRL_DER_FILE, CRL_PEM_FILE, Crl, RevocationReason, revoke, revoked};
use pki::verify::{Purpose, Reason, VerifyParams, verify};
use pki::{Ca, CaParams, CertParams, Certificate, Identity, Profile};
use tempfile::TempDir;

/// How long the CRLs here are valid.
const CRL_VALIDITY: Duration = Duration::from_secs(30 * 86_400);

/// What `openssl s_server -www` puts in every page it serves.
const PAGE: &str = "Ciphers supported in s_server binary";

/// A CA directory with a server, two clients (Alice's revoked for key
/// compromise, Bob's not) and a CRL, every file written there:
/// `rootCA.pem`, `crl.pem`, `crl.der`, `server.pem`/`server-key.pem`,
/// `alice.pem`/`alice-key.pem`, `bob.pem`/`bob-key.pem`.
struct Revocation {
    dir: TempDir,
    ca: Ca,
    alice: Identity,
    bob: Identity,
}

impl Revocation {
    fn new() -> pki::Result<Self> {
        let dir = tempdir();
        let ca = Ca::create_in(
            dir.path(),
            &CaParams::new().common_name("CRL test CA"),
            None,
        )?;
        let write = |stem: &str, identity: &Identity| -> pki::Result<()> {
            let d = dir.path();
            identity.write_pem(
                d.join(format!("{stem}.pem")),
                d.join(format!("{stem}-key.pem")),
                None,
                pki::Overwrite::Refuse,
            )
        };
        write("server", &ca.issue(&CertParams::new(["localhost"])?)?)?;
        let alice = ca.issue(&CertParams::new(["alice@example.test"])?.profile(Profile::Client))?;
        let bob = ca.issue(&CertParams::new(["bob@example.test"])?.profile(Profile::Client))?;
        write("alice", &alice)?;
        write("bob", &bob)?;
        revoke(
            dir.path(),
            &alice.certificate().serial_hex(),
            RevocationReason::KeyCompromise,
            SystemTime::now(),
        )?;
        ca.write_crl(dir.path(), CRL_VALIDITY)?;
        Ok(Revocation {
            dir,
            ca,
            alice,
            bob,
        })
    }

    /// The CA directory.
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A file in the CA directory.
    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `openssl crl -noout -text` of a file in the directory.
    fn crl_text(&self, name: &str, form: &str) -> String {
        openssl(["crl", "-noout", "-text", "-inform", form, "-in"])
            .arg(self.file(name))
            .assert_success()
            .stdout
    }

    /// The CRL as the openssl crate reads it from `crl.pem`.
    fn x509_crl(&self) -> X509Crl {
        X509Crl::from_pem(&read_file(&self.file(CRL_PEM_FILE))).unwrap()
    }
}

/// OpenSSL 3.0's `crl -verify` prints its verdict but exits 0 either way,
/// so the words are what tell: "verify OK" or "verify failure".
#[test]
fn crl_verifies_against_its_ca_in_openssl() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let r = Revocation::new()?;
    let out = openssl_line("crl -noout -verify -in crl.pem -CAfile")
        .arg(CA_CERT_FILE)
        .current_dir(r.path())
        .assert_success();
    out.assert_stderr_contains("verify OK");
    assert!(!out.stderr.contains("failure"), "{out}");
    // Negative twin: another CA with the same name did not sign it.
    let other = tempdir();
    Ca::create_in(
        other.path(),
        &CaParams::new().common_name("CRL test CA"),
        None,
    )?;
    let out = openssl_line("crl -noout -verify -in crl.pem -CAfile")
        .arg(other.path().join(CA_CERT_FILE))
        .current_dir(r.path())
        .output();
    out.assert_code(0).assert_stderr_contains("verify failure");
    assert!(!out.stderr.contains("verify OK"), "{out}");
    Ok(())
}

#[test]
fn crl_der_shows_number_1_key_compromise_and_the_revoked_serial() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let r = Revocation::new()?;
    let text = r.crl_text(CRL_DER_FILE, "DER");
    assert_eq!(text, r.crl_text(CRL_PEM_FILE, "PEM"), "PEM and DER differ");
    let number = extension(&text, "CRL Number").unwrap_or_else(|| panic!("no CRL Number\n{text}"));
    assert_eq!(number.value, "1", "{text}");
    assert!(
        extension(&text, "Authority Key Identifier").is_some(),
        "{text}"
    );
    let alice = openssl_serial(&r.file("alice.pem"));
    assert!(
        text.contains(&format!("Serial Number: {alice}\n")),
        "Alice's serial {alice} is not listed\n{text}"
    );
    let reason =
        extension(&text, "CRL Reason Code").unwrap_or_else(|| panic!("no reason code\n{text}"));
    assert_eq!(reason.value, "Key Compromise", "{text}");
    let bob = openssl_serial(&r.file("bob.pem"));
    assert!(!text.contains(&bob), "Bob is not revoked\n{text}");
    assert!(text.contains("Next Update: "), "{text}");
    Ok(())
}

/// `openssl verify -crl_check -CAfile rootCA.pem -CRLfile crl.pem
/// -purpose sslclient <client>`.
fn verify_with_crl(r: &Revocation, client: &str) -> Output {
    openssl_line("verify -x509_strict -crl_check -CRLfile crl.pem -purpose sslclient -CAfile")
        .arg(CA_CERT_FILE)
        .arg(client)
        .current_dir(r.path())
        .output()
}

#[test]
fn openssl_verify_crl_check_refuses_the_revoked_client_as_certificate_revoked() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let r = Revocation::new()?;
    let out = verify_with_crl(&r, "alice.pem");
    out.assert_code(2)
        .assert_output_contains("error 23 at 0 depth lookup: certificate revoked")
        .assert_stdout_lacks("alice.pem: OK");
    let out = verify_with_crl(&r, "bob.pem");
    assert!(out.status.success(), "{out}");
    out.assert_stdout_contains("bob.pem: OK");
    Ok(())
}

/// A mutual-TLS `s_server` that checks the client against the CRL.
fn serve_mtls_with_crl(r: &Revocation) -> Server {
    Server::openssl_www(
        r.path(),
        [
            "-cert",
            "server.pem",
            "-key",
            "server-key.pem",
            "-Verify",
            "1",
            "-verify_return_error",
            "-CAfile",
            CA_CERT_FILE,
            "-CRL",
            CRL_PEM_FILE,
            "-crl_check",
        ],
    )
}

/// `curl --cert <client>.pem --key <client>-key.pem` against `server`.
fn curl_as(r: &Revocation, server: &Server, client: &str) -> Output {
    curl()
        .args(["--fail", "--cacert", CA_CERT_FILE])
        .arg("--cert")
        .arg(format!("{client}.pem"))
        .arg("--key")
        .arg(format!("{client}-key.pem"))
        .arg(server.url("localhost"))
        .current_dir(r.path())
        .output()
}

#[test]
fn mtls_server_with_crl_check_refuses_the_revoked_client_and_serves_the_other() -> TestResult {
    if !require_tools(&["openssl", "curl"]) {
        return Ok(());
    }
    let r = Revocation::new()?;
    let server = serve_mtls_with_crl(&r);
    let out = curl_as(&r, &server, "bob");
    assert!(out.status.success(), "Bob should get the page\n{out}");
    out.assert_stdout_contains(PAGE)
        .assert_stdout_contains("CN=bob@example.test");

    let out = curl_as(&r, &server, "alice");
    // TLS 1.3: the client finishes first and reads the server's alert.
    out.assert_code(56)
        .assert_stderr_contains("alert certificate revoked")
        .assert_stdout_lacks(PAGE);
    server.assert_log_contains("certificate revoked");

    // Bob is still served afterwards.
    let out = curl_as(&r, &server, "bob");
    assert!(out.status.success(), "{out}");
    Ok(())
}

#[test]
fn second_crl_is_number_2_and_revoking_twice_keeps_one_entry() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let r = Revocation::new()?;
    let alice = r.alice.certificate().serial_hex();
    // Again, with another reason and time: the first record stays.
    let again = revoke(
        r.path(),
        &alice,
        RevocationReason::Superseded,
        SystemTime::now() + Duration::from_secs(3600),
    )?;
    assert_eq!(again.reason, RevocationReason::KeyCompromise);
    assert_eq!(revoked(r.path())?.len(), 1);
    let (crl, path) = r.ca.write_crl(r.path(), CRL_VALIDITY)?;
    assert_eq!(path, r.file(CRL_PEM_FILE));
    assert_eq!(crl.revoked_serials(), vec![alice]);

    let text = r.crl_text(CRL_PEM_FILE, "PEM");
    assert_eq!(extension(&text, "CRL Number").unwrap().value, "2", "{text}");
    let serial = openssl_serial(&r.file("alice.pem"));
    assert_eq!(
        text.matches(&format!("Serial Number: {serial}\n")).count(),
        1,
        "{text}"
    );
    assert_eq!(
        extension(&text, "CRL Reason Code").unwrap().value,
        "Key Compromise"
    );
    // The serial typed as openssl prints it, with colons, is the same serial.
    let colons: Vec<String> = serial
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    revoke(
        r.path(),
        &colons.join(":").to_lowercase(),
        RevocationReason::Unspecified,
        SystemTime::now(),
    )?;
    assert_eq!(revoked(r.path())?.len(), 1);
    Ok(())
}

#[test]
fn pki_verify_with_the_crl_says_revoked_and_passes_the_other_client() -> TestResult {
    let r = Revocation::new()?;
    let trusted = [r.ca.certificate().clone()];
    let params = || {
        VerifyParams::new()
            .purpose(Purpose::Client)
            .crl(r.x509_crl())
    };
    let rejected = verify(r.alice.certificate(), &[], &trusted, &params()).unwrap_err();
    assert_eq!(
        rejected.reason,
        Reason::Revoked {
            subject: r.alice.certificate().subject()
        }
    );
    assert_eq!(
        rejected.to_string(),
        format!(
            "'{}' has been revoked by its CA",
            r.alice.certificate().subject()
        )
    );
    verify(r.bob.certificate(), &[], &trusted, &params())
        .unwrap_or_else(|e| panic!("Bob is not revoked: {e}"));
    // The same CRL read back through pki, from DER.
    let crl = Crl::read(r.file(CRL_DER_FILE))?;
    assert!(crl.is_revoked(r.alice.certificate()));
    assert!(!crl.is_revoked(r.bob.certificate()));
    Ok(())
}

#[test]
fn pki_verify_with_only_another_cas_crl_says_no_crl_from_the_issuer() -> TestResult {
    let r = Revocation::new()?;
    let other = Revocation::new()?;
    let trusted = [r.ca.certificate().clone()];
    // Same subject, other key: the CRL must be signed by the issuer, not just name it.
    let params = VerifyParams::new()
        .purpose(Purpose::Client)
        .crl(other.x509_crl());
    for client in [&r.alice.certificate(), &r.bob.certificate()] {
        let rejected = verify(client, &[], &trusted, &params).unwrap_err();
        let issuer = r.ca.certificate().subject();
        assert_eq!(
            rejected.reason,
            Reason::NoCrl {
                issuer: issuer.clone()
            }
        );
        assert_eq!(
            rejected.to_string(),
            format!(
                "no CRL signed by the issuer '{issuer}' was given, so revocation cannot be checked"
            )
        );
    }
    Ok(())
}

/// The revoked client's certificate is still a good certificate in itself:
/// without a CRL nobody knows, which is why servers must be given one.
#[test]
fn without_a_crl_the_revoked_client_still_verifies() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let r = Revocation::new()?;
    let cert = Certificate::read(r.file("alice.pem"))?;
    verify(
        &cert,
        &[],
        &[r.ca.certificate().clone()],
        &VerifyParams::new().purpose(Purpose::Client),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    openssl_line("verify -x509_strict -purpose sslclient -CAfile")
        .arg(CA_CERT_FILE)
        .arg("alice.pem")
        .current_dir(r.path())
        .assert_success()
        .assert_stdout_contains("alice.pem: OK");
    Ok(())
}

/// A CRL is only good until its nextUpdate: `openssl verify -crl_check`
/// (and so `s_server -crl_check`) refuses every client once it has passed,
/// so nobody trusts a revocation list that may be missing new entries.
/// `VerifyParams::crl` promises `-crl_check`, so `pki::verify` must refuse too.
#[test]
fn pki_verify_refuses_an_expired_crl_as_openssl_crl_check_does() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let r = Revocation::new()?;
    // Past the CRL's nextUpdate (30 days), well within the certificates' 825.
    let later = SystemTime::now() + CRL_VALIDITY + Duration::from_secs(10 * 86_400);
    let epoch = later.duration_since(std::time::UNIX_EPOCH)?.as_secs();
    openssl_line("verify -x509_strict -crl_check -CRLfile crl.pem -purpose sslclient -CAfile")
        .arg(CA_CERT_FILE)
        .args(["-attime", &epoch.to_string(), "bob.pem"])
        .current_dir(r.path())
        .assert_failure()
        .assert_output_contains("error 12 at 0 depth lookup: CRL has expired");

    let params = VerifyParams::new()
        .purpose(Purpose::Client)
        .at(later)
        .crl(r.x509_crl());
    let trusted = [r.ca.certificate().clone()];
    match verify(r.bob.certificate(), &[], &trusted, &params) {
        Ok(v) => panic!(
            "pki accepted {} against a CRL whose nextUpdate had passed",
            v.describe()
        ),
        Err(rejected) => {
            let shown = rejected.to_string();
            assert!(
                shown.contains("CRL") && shown.contains("expired"),
                "{shown}\n{rejected:?}"
            );
        }
    }
    Ok(())
}
