//! `pki` explains: `verify` must say in a person's words why each negative
//! fixture and each seed recipe's artefact is refused (with OpenSSL's own
//! words alongside), and `inspect` must describe every kind of file the
//! way `openssl` and Python's `json` see it.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::{
    Server, TestResult, curl, fixture, openssl, openssl_date, openssl_fingerprint, openssl_line,
    openssl_name, python, require_tool, require_tools, tempdir, unix_seconds, write_file,
};
use pki::crl::RevocationReason;
use pki::inspect::{Inspection, inspect_file};
use pki::verify::{Purpose, Reason, Rejected, Verified, VerifyParams, peer, verify};
use pki::{Ca, CaParams, CertParams, Certificate, Csr, Passphrase, PrivateKey, Profile};
use pki_fixtures::{FIXTURE_PASSPHRASE, Family};

use crate::seeds::run_article_recipe;

/// The first certificate of a fixture file.
fn cert(family: Family, name: &str) -> Certificate {
    Certificate::read(fixture(family, name)).unwrap()
}

/// The family's root, as the only trust anchor.
fn trusted(family: Family) -> Vec<Certificate> {
    vec![cert(family, "ca.pem")]
}

/// Verifies and expects a refusal.
fn refused(
    leaf: &Certificate,
    intermediates: &[Certificate],
    trusted: &[Certificate],
    params: &VerifyParams,
) -> Rejected {
    match verify(leaf, intermediates, trusted, params) {
        Ok(v) => panic!(
            "expected {} to be refused, but it verified: {}",
            leaf.subject(),
            v.describe()
        ),
        Err(rejected) => rejected,
    }
}

/// Verifies and expects success.
fn verified(
    leaf: &Certificate,
    intermediates: &[Certificate],
    trusted: &[Certificate],
    params: &VerifyParams,
) -> Verified {
    verify(leaf, intermediates, trusted, params)
        .unwrap_or_else(|r| panic!("expected {} to verify, but: {r} ({r:?})", leaf.subject()))
}

/// Asserts the message (whole, as a person reads it) starts with `start`,
/// and that OpenSSL's own words were kept alongside.
fn assert_explained(rejected: &Rejected, start: &str, openssl_said: Option<&str>) {
    let shown = rejected.to_string();
    assert!(
        shown.starts_with(start),
        "expected the message to start with {start:?}\n got: {shown}\n {rejected:?}"
    );
    assert_eq!(rejected.openssl.as_deref(), openssl_said, "{rejected:?}");
}

/// Server purpose, for `host` (a name or an address) as a client
/// connecting to it would check.
fn server_params(host: &str) -> VerifyParams {
    VerifyParams::new().peer(peer(host).unwrap())
}

#[test]
fn good_fixtures_verify_for_their_names_and_purposes() {
    for family in Family::ALL {
        for host in ["localhost", "127.0.0.1", "::1"] {
            let v = verified(
                &cert(family, "server.pem"),
                &[],
                &trusted(family),
                &server_params(host),
            );
            assert_eq!(v.chain.len(), 2, "{}", v.describe());
        }
        verified(
            &cert(family, "client.pem"),
            &[],
            &trusted(family),
            &VerifyParams::new().purpose(Purpose::Client),
        );
    }
}

#[test]
fn expired_says_expired_on_its_not_after_date() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        let path = fixture(family, "expired.pem");
        let r = refused(
            &cert(family, "expired.pem"),
            &[],
            &trusted(family),
            &server_params("localhost"),
        );
        let subject = openssl_name(&path, "subject");
        let not_after = openssl_date(&path, "enddate");
        assert!(matches!(r.reason, Reason::Expired { .. }), "{r:?}");
        assert_explained(
            &r,
            &format!("the certificate '{subject}' expired on {not_after}; issue a new one"),
            Some("certificate has expired"),
        );
    }
}

#[test]
fn not_yet_valid_says_from_when() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        let path = fixture(family, "not-yet-valid.pem");
        let r = refused(
            &cert(family, "not-yet-valid.pem"),
            &[],
            &trusted(family),
            &server_params("localhost"),
        );
        let subject = openssl_name(&path, "subject");
        let not_before = openssl_date(&path, "startdate");
        assert!(matches!(r.reason, Reason::NotYetValid { .. }), "{r:?}");
        assert_explained(
            &r,
            &format!(
                "the certificate '{subject}' is not valid until {not_before}; check this machine's clock"
            ),
            Some("certificate is not yet valid"),
        );
    }
}

#[test]
fn wrong_host_lists_the_only_name_it_has() {
    for family in Family::ALL {
        let leaf = cert(family, "wrong-host.pem");
        let r = refused(&leaf, &[], &trusted(family), &server_params("localhost"));
        assert_eq!(
            r.reason,
            Reason::NameMismatch {
                wanted: "localhost".to_owned(),
                names: vec!["elsewhere.test".to_owned()],
            }
        );
        assert_explained(
            &r,
            "localhost is not among the certificate's names: elsewhere.test; issue a certificate that includes it",
            Some("hostname mismatch"),
        );
        let r = refused(&leaf, &[], &trusted(family), &server_params("127.0.0.1"));
        assert_explained(
            &r,
            "127.0.0.1 is not among the certificate's names: elsewhere.test",
            Some("IP address mismatch"),
        );
    }
}

#[test]
fn server_for_another_address_lists_its_three_names() {
    for family in Family::ALL {
        let r = refused(
            &cert(family, "server.pem"),
            &[],
            &trusted(family),
            &server_params("10.9.8.7"),
        );
        assert_explained(
            &r,
            "10.9.8.7 is not among the certificate's names: localhost, 127.0.0.1, ::1",
            Some("IP address mismatch"),
        );
    }
}

#[test]
fn untrusted_client_names_its_issuer_as_not_trusted() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        let r = refused(
            &cert(family, "untrusted-client.pem"),
            &[],
            &trusted(family),
            &VerifyParams::new().purpose(Purpose::Client),
        );
        let issuer = openssl_name(&fixture(family, "untrusted-client.pem"), "issuer");
        assert!(issuer.ends_with("CN=pki fixture untrusted CA"), "{issuer}");
        assert_eq!(
            r.reason,
            Reason::UntrustedIssuer {
                issuer: issuer.clone()
            }
        );
        assert_explained(
            &r,
            &format!("issued by '{issuer}', which is not among the trusted CAs"),
            Some("unable to get local issuer certificate"),
        );
    }
}

#[test]
fn server_used_as_client_allows_server_auth_only() {
    for family in Family::ALL {
        let r = refused(
            &cert(family, "server.pem"),
            &[],
            &trusted(family),
            &VerifyParams::new().purpose(Purpose::Client),
        );
        assert_explained(
            &r,
            "the certificate cannot be used for clientAuth: extendedKeyUsage allows serverAuth only",
            Some("unsuitable certificate purpose"),
        );
    }
}

#[test]
fn client_used_as_server_allows_client_auth_only() {
    for family in Family::ALL {
        let r = refused(
            &cert(family, "client.pem"),
            &[],
            &trusted(family),
            &VerifyParams::new().purpose(Purpose::Server),
        );
        assert_explained(
            &r,
            "the certificate cannot be used for serverAuth: extendedKeyUsage allows clientAuth only",
            Some("unsuitable certificate purpose"),
        );
    }
}

#[test]
fn server_chain_leaf_without_its_intermediate_names_the_intermediate() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        let r = refused(
            &cert(family, "server-chain.pem"),
            &[],
            &trusted(family),
            &server_params("localhost"),
        );
        let intermediate = openssl_name(&fixture(family, "intermediate.pem"), "subject");
        assert!(
            intermediate.ends_with("CN=pki fixture intermediate CA"),
            "{intermediate}"
        );
        assert_explained(
            &r,
            &format!(
                "issued by '{intermediate}', which is not among the trusted CAs; \
                 pass that CA's certificate as trusted, or the missing intermediate"
            ),
            Some("unable to get local issuer certificate"),
        );
    }
}

#[test]
fn server_chain_leaf_with_its_intermediate_verifies_through_three_subjects() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        for host in ["localhost", "127.0.0.1", "::1"] {
            let v = verified(
                &cert(family, "server-chain.pem"),
                &[cert(family, "intermediate.pem")],
                &trusted(family),
                &server_params(host),
            );
            let subjects: Vec<String> = ["server-chain.pem", "intermediate.pem", "ca.pem"]
                .iter()
                .map(|f| openssl_name(&fixture(family, f), "subject"))
                .collect();
            assert_eq!(v.describe(), subjects.join(" ← "));
            assert_eq!(v.chain.len(), 3);
        }
    }
}

/// The article's `openssl x509 -req` writes a v1 client certificate
/// without any extension: no subjectAltName for a client to match.
#[test]
fn article_v1_client_without_san_is_explained_as_cn_only() {
    if !require_tools(&["openssl", "sh"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    run_article_recipe(d);
    let client = Certificate::read(d.join("client.crt")).unwrap();
    let root = Certificate::read(d.join("root_ca.crt")).unwrap();
    let r = refused(&client, &[], &[root], &server_params("client"));
    assert_eq!(
        r.reason,
        Reason::NoSubjectAltName {
            common_name: Some("client".to_owned())
        }
    );
    // pki refuses it before OpenSSL, which would fall back to the CN.
    assert_explained(
        &r,
        "the certificate has no subjectAltName, so browsers ignore its CN (client); \
         issue it again with the host names as subjectAltNames",
        None,
    );
}

/// The article's root has CA:TRUE but no keyUsage; strict verification
/// (pki's, like `openssl verify -x509_strict` and Python 3.13) refuses it
/// as a CA even for a leaf `pki` issued correctly from it. The explanation
/// must say what the root lacks. Saying it "is not a CA (no basicConstraints
/// CA:TRUE …)" sends the user to a CA:TRUE that is there, and contradicts
/// `Certificate::is_ca()` and `Ca::warnings()` for the very same root.
#[test]
fn article_root_without_key_usage_is_explained_as_missing_key_usage() -> TestResult {
    if !require_tools(&["openssl", "sh"]) {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    run_article_recipe(d);
    let ca = Ca::load_files(d.join("root_ca.crt"), d.join("root_ca.key"), None)?;
    assert!(
        ca.certificate().is_ca(),
        "pki itself takes the root for a CA"
    );
    let leaf = ca.issue(&CertParams::new(["localhost"])?)?;
    let leaf = leaf.certificate();
    let r = refused(
        leaf,
        &[],
        &[ca.certificate().clone()],
        &server_params("localhost"),
    );
    assert_eq!(
        r.openssl.as_deref(),
        Some("CA cert does not include key usage extension"),
        "{r:?}"
    );
    let shown = r.to_string();
    assert!(
        !shown.starts_with("verification failed:"),
        "a bare OpenSSL message: {shown}"
    );
    assert!(
        shown.contains("'CN=root'"),
        "the message should name the root: {shown}"
    );
    assert!(
        shown.contains("keyUsage") && !shown.contains("is not a CA"),
        "the message should say the root lacks keyUsage, not that it is no CA: \
         {shown}\n{r:?}"
    );
    Ok(())
}

/// The article's self-signed server recipe: not trusted unless told, and
/// for a client matching names it has no subjectAltName at all.
#[test]
fn article_self_signed_server_is_explained_as_self_signed_and_cn_only() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    openssl_line(
        "req -x509 -newkey rsa:2048 -nodes -out cert.pem -keyout key.pem -days 3650
         -subj /CN=localhost",
    )
    .current_dir(d)
    .assert_success();
    let cert = Certificate::read(d.join("cert.pem"))?;
    let r = refused(&cert, &[], &trusted(Family::Ecdsa), &VerifyParams::new());
    assert_explained(
        &r,
        "'CN=localhost' is self-signed and not among the trusted CAs",
        Some("self-signed certificate"),
    );
    let r = refused(
        &cert,
        &[],
        &trusted(Family::Ecdsa),
        &server_params("localhost"),
    );
    assert_explained(
        &r,
        "the certificate has no subjectAltName, so browsers ignore its CN (localhost)",
        None,
    );
    Ok(())
}

/// A sub-CA forged with openssl under the fixture intermediate, whose
/// pathlen 0 forbids any CA below it (pki itself refuses with
/// `Error::PathLenZero`). OpenSSL says "path length constraint exceeded";
/// pki's explanation must say so too, not that the intermediate is no CA.
#[test]
fn sub_ca_forged_under_the_pathlen_0_intermediate_is_explained_as_path_length() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let family = Family::Ecdsa;
    let dir = tempdir();
    let d = dir.path();
    write_file(
        &d.join("sub-ca.cnf"),
        "basicConstraints = critical, CA:TRUE\n\
         keyUsage = critical, keyCertSign, cRLSign\n\
         subjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid\n",
    );
    openssl_line(
        "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout sub-key.pem
         -out sub.csr -subj /CN=forged-sub-CA",
    )
    .current_dir(d)
    .assert_success();
    openssl_line("x509 -req -in sub.csr -days 30 -extfile sub-ca.cnf -out sub.pem -CA")
        .arg(fixture(family, "intermediate.pem"))
        .arg("-CAkey")
        .arg(fixture(family, "intermediate-key.pem"))
        .current_dir(d)
        .assert_success();
    let sub = Ca::load_files(d.join("sub.pem"), d.join("sub-key.pem"), None)?;
    let leaf = sub.issue(&CertParams::new(["localhost"])?)?;
    leaf.certificate()
        .write_pem(d.join("leaf.pem"), pki::Overwrite::Refuse)?;
    let intermediate = cert(family, "intermediate.pem");

    // What OpenSSL itself says of the chain.
    openssl_line("verify -x509_strict -untrusted sub.pem -untrusted")
        .arg(fixture(family, "intermediate.pem"))
        .arg("-CAfile")
        .arg(fixture(family, "ca.pem"))
        .arg("leaf.pem")
        .current_dir(d)
        .assert_failure()
        .assert_output_contains("path length constraint exceeded");

    let r = refused(
        leaf.certificate(),
        &[sub.certificate().clone(), intermediate.clone()],
        &trusted(family),
        &server_params("localhost"),
    );
    assert_eq!(
        r.openssl.as_deref(),
        Some("path length constraint exceeded"),
        "{r:?}"
    );
    let shown = r.to_string();
    assert!(
        shown.contains(&format!("'{}'", intermediate.subject())),
        "the message should name the intermediate whose pathlen is 0: {shown}"
    );
    assert!(intermediate.is_ca());
    assert!(
        (shown.contains("pathlen") || shown.contains("path length"))
            && !shown.contains("is not a CA"),
        "the message should say the intermediate's pathlen 0 allows no CA below it, \
         not that it is no CA: {shown}\n{r:?}"
    );
    Ok(())
}

/// A byte of the signature changed: the certificate is no longer what the CA signed.
#[test]
fn altered_certificate_is_explained_as_a_bad_signature() -> TestResult {
    for family in Family::ALL {
        let good = cert(family, "server.pem");
        let mut der = good.to_der()?;
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let altered = Certificate::from_der(&der)?;
        let r = refused(&altered, &[], &trusted(family), &server_params("localhost"));
        assert_explained(
            &r,
            &format!(
                "the signature on '{}' does not verify: it was not signed by the CA it names, or was altered",
                good.subject()
            ),
            Some("certificate signature failure"),
        );
    }
    Ok(())
}

/// The CA course (seed 004): Alice's CSR names localhost and
/// alice.example.net; the CA signs it; 127.0.0.1 is not among its names,
/// however much the machine thinks it is localhost.
#[test]
fn ca_course_csr_signed_by_pki_is_for_localhost_but_not_127_0_0_1() -> TestResult {
    if !require_tools(&["openssl", "curl"]) {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    let pass = "alice's pass phrase";
    openssl_line(
        "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout alice.key -out alice.csr
         -subj /CN=alice.example.net -addext subjectAltName=DNS:localhost,DNS:alice.example.net",
    )
    .args(["-passout", &format!("pass:{pass}")])
    .current_dir(d)
    .assert_success();
    let ca = Ca::generate(&CaParams::new().common_name("Charlie's CA"))?;
    ca.certificate()
        .write_pem(d.join("ca.pem"), pki::Overwrite::Refuse)?;
    let csr = Csr::read(d.join("alice.csr"))?;
    let signed = ca.sign_csr(&csr, &CertParams::from_csr(&csr)?)?;
    signed.write_pem(d.join("alice.crt"), pki::Overwrite::Refuse)?;
    let trusted = [ca.certificate().clone()];

    let r = refused(&signed, &[], &trusted, &server_params("127.0.0.1"));
    assert_explained(
        &r,
        "127.0.0.1 is not among the certificate's names: localhost, alice.example.net; \
         issue a certificate that includes it",
        Some("IP address mismatch"),
    );
    for host in ["localhost", "alice.example.net"] {
        verified(&signed, &[], &trusted, &server_params(host));
    }

    // The lesson's session: curl with --cacert, first by address, then by name.
    let server = Server::openssl_www(
        d,
        [
            "-cert",
            "alice.crt",
            "-key",
            "alice.key",
            "-pass",
            &format!("pass:{pass}"),
        ],
    );
    let get = |host: &str| {
        curl()
            .args(["--fail", "--cacert", "ca.pem"])
            .arg(server.url(host))
            .current_dir(d)
            .output()
    };
    get("127.0.0.1").assert_code(60).assert_stderr_contains(
        "SSL: no alternative certificate subject name matches target host name '127.0.0.1'",
    );
    let out = get("localhost");
    assert!(out.status.success(), "{out}");
    out.assert_stdout_contains("Ciphers supported in s_server binary");
    Ok(())
}

#[test]
fn inspect_chain_file_gives_leaf_and_intermediate_with_pathlen_0() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    for family in Family::ALL {
        let Inspection::Certificates { certificates } =
            inspect_file(&fixture(family, "server-chain.pem"), None)?
        else {
            panic!("server-chain.pem not seen as certificates");
        };
        assert_eq!(certificates.len(), 2, "{certificates:#?}");
        let (leaf, intermediate) = (&certificates[0], &certificates[1]);
        assert_eq!(
            leaf.subject_alt_names,
            ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]
        );
        assert!(!leaf.is_ca && leaf.path_len.is_none(), "{leaf:#?}");
        assert_eq!(leaf.extended_key_usage, ["serverAuth"]);
        assert_eq!(leaf.version, 3);
        assert!(intermediate.is_ca, "{intermediate:#?}");
        assert_eq!(intermediate.path_len, Some(0));
        assert_eq!(intermediate.key_usage, ["keyCertSign", "cRLSign"]);
        assert_eq!(
            intermediate.subject,
            openssl_name(&fixture(family, "intermediate.pem"), "subject")
        );
        assert_eq!(leaf.issuer, intermediate.subject);
        assert_eq!(
            leaf.sha256_fingerprint,
            openssl_fingerprint(&fixture(family, "server-chain.pem"))
        );
        assert_eq!(
            intermediate.sha256_fingerprint,
            openssl_fingerprint(&fixture(family, "intermediate.pem"))
        );
        assert_eq!(
            leaf.not_after,
            openssl_date(&fixture(family, "server-chain.pem"), "enddate")
        );
    }
    Ok(())
}

/// Whole days from `now` to a certificate's notAfter as `openssl x509`
/// prints it, rounded down (so negative once it has passed).
fn openssl_days_left(path: &Path, now: SystemTime) -> i64 {
    let end = unix_seconds(&openssl_date(path, "enddate"));
    let now = now.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    (end - now).div_euclid(86_400)
}

#[test]
fn inspect_counts_days_left_as_openssl_dates_give_them() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    for name in ["server.pem", "expired.pem", "not-yet-valid.pem"] {
        let path = fixture(Family::Ecdsa, name);
        let before = SystemTime::now();
        let Inspection::Certificates { certificates } = inspect_file(&path, None)? else {
            panic!("{name} not seen as a certificate");
        };
        let after = SystemTime::now();
        let days = certificates[0].days_left;
        assert!(
            [
                openssl_days_left(&path, before),
                openssl_days_left(&path, after)
            ]
            .contains(&days),
            "{name}: {:#?}",
            certificates[0]
        );
        match name {
            // 825 days from five minutes ago.
            "server.pem" => assert_eq!(days, 824),
            // It ended 30 days and some seconds ago: -31 rounded down, or
            // -30 within the second the fixtures were written.
            "expired.pem" => assert!((-31..=-30).contains(&days), "{days}"),
            _ => assert!(days > 30),
        }
    }
    Ok(())
}

#[test]
fn inspect_csr_made_by_openssl_req() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    openssl_line(
        "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout alice.key
         -out alice.csr -subj /CN=alice.example.net
         -addext subjectAltName=DNS:localhost,DNS:alice.example.net",
    )
    .current_dir(d)
    .assert_success();
    let Inspection::Csr(csr) = inspect_file(&d.join("alice.csr"), None)? else {
        panic!("alice.csr not seen as a CSR");
    };
    assert_eq!(csr.subject, "CN=alice.example.net");
    assert_eq!(
        csr.subject_alt_names,
        ["DNS:localhost", "DNS:alice.example.net"]
    );
    assert_eq!(csr.key, "ECDSA P-256");
    assert!(csr.signature_valid);
    assert_eq!(csr.requests_ca, None);
    Ok(())
}

#[test]
fn inspect_encrypted_key_says_encrypted_and_needs_the_pass_phrase_for_more() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    for family in Family::ALL {
        let path = fixture(family, "encrypted-key.pem");
        let Inspection::Key(key) = inspect_file(&path, None)? else {
            panic!("encrypted-key.pem not seen as a key");
        };
        assert!(key.encrypted, "{key:?}");
        assert_eq!(key.public_key_sha256, None);
        assert!(key.algorithm.starts_with("unknown (encrypted"), "{key:?}");

        let pass = Passphrase::new(FIXTURE_PASSPHRASE);
        let Inspection::Key(key) = inspect_file(&path, Some(&pass))? else {
            panic!("encrypted-key.pem not seen as a key");
        };
        assert!(key.encrypted, "{key:?}");
        let want = match family {
            Family::Ecdsa => "ECDSA P-256",
            Family::Rsa => "RSA 2048",
        };
        assert_eq!(key.algorithm, want);
        // SHA-256 of the SubjectPublicKeyInfo, as openssl computes it.
        let dir = tempdir();
        let spki = dir.path().join("pub.der");
        openssl(["pkey", "-pubout", "-outform", "DER", "-passin"])
            .arg(format!(
                "file:{}",
                fixture(family, "encrypted-key.pass").display()
            ))
            .arg("-in")
            .arg(&path)
            .arg("-out")
            .arg(&spki)
            .assert_success();
        let out = openssl(["dgst", "-sha256", "-c"])
            .arg(&spki)
            .assert_success();
        let digest = out
            .stdout
            .trim_end()
            .rsplit_once("= ")
            .map(|(_, d)| d.to_uppercase())
            .unwrap_or_else(|| panic!("no digest\n{out}"));
        assert_eq!(key.public_key_sha256.as_deref(), Some(digest.as_str()));
    }
    Ok(())
}

#[test]
fn inspect_p12_opens_only_with_its_password() -> TestResult {
    let dir = tempdir();
    let p12 = dir.path().join("client.p12");
    let family = Family::Ecdsa;
    let pass = Passphrase::new("p12-test-password");
    pki::Identity::new(
        cert(family, "client.pem"),
        PrivateKey::read(fixture(family, "client-key.pem"), None)?,
    )?
    .with_root(cert(family, "ca.pem"))
    .write_pkcs12(
        &p12,
        &pass,
        &pki::Pkcs12Params::new().friendly_name("client"),
        pki::Overwrite::Refuse,
    )?;

    let Inspection::Pkcs12 {
        opened,
        friendly_name,
        key,
        certificates,
    } = inspect_file(&p12, None)?
    else {
        panic!("client.p12 not seen as PKCS#12");
    };
    assert!(!opened && friendly_name.is_none() && key.is_none() && certificates.is_empty());

    let Inspection::Pkcs12 {
        opened,
        friendly_name,
        key,
        certificates,
    } = inspect_file(&p12, Some(&pass))?
    else {
        panic!("client.p12 not seen as PKCS#12");
    };
    assert!(opened);
    assert_eq!(friendly_name.as_deref(), Some("client"));
    assert_eq!(key.map(|k| k.algorithm).as_deref(), Some("ECDSA P-256"));
    assert_eq!(certificates.len(), 2);
    assert_eq!(
        certificates[0].subject_alt_names,
        ["email:client@example.test"]
    );
    assert!(certificates[1].is_ca && certificates[1].self_issued);

    let err = inspect_file(&p12, Some(&Passphrase::new("not-the-password"))).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("the pass phrase for {} is wrong", p12.display())
    );
    Ok(())
}

#[test]
fn inspect_crl_in_pem_and_der_lists_the_revoked_serial_openssl_shows() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let dir = tempdir();
    let ca_dir = dir.path().join("ca");
    let ca = Ca::create_in(
        &ca_dir,
        &CaParams::new().common_name("CRL inspection CA"),
        None,
    )?;
    let client = ca.issue(&CertParams::new(["bob@example.test"])?.profile(Profile::Client))?;
    pki::crl::revoke(
        &ca_dir,
        &client.certificate().serial_hex(),
        RevocationReason::Superseded,
        SystemTime::now(),
    )?;
    ca.write_crl(&ca_dir, Duration::from_secs(7 * 86_400))?;
    let text = openssl_line("crl -noout -text -in")
        .arg(ca_dir.join("crl.pem"))
        .assert_success()
        .stdout;
    for file in ["crl.pem", "crl.der"] {
        let Inspection::Crl(crl) = inspect_file(&ca_dir.join(file), None)? else {
            panic!("{file} not seen as a CRL");
        };
        assert_eq!(crl.revoked.len(), 1, "{crl:?}");
        assert!(
            text.contains(&format!("Serial Number: {}\n", crl.revoked[0])),
            "{file}: {crl:?}\n{text}"
        );
        assert!(crl.issuer.ends_with("CN=CRL inspection CA"), "{crl:?}");
        assert!(crl.next_update.is_some(), "{crl:?}");
    }
    Ok(())
}

/// Python's `json` reads `to_json()`, and the fields it finds agree with
/// `openssl x509`: names, days left, SHA-256 fingerprint.
#[test]
fn inspect_json_parses_in_python_and_agrees_with_openssl() -> TestResult {
    if !require_tools(&["openssl", "python3"]) {
        return Ok(());
    }
    const FIELDS: &str = r#"
import json, sys
d = json.load(sys.stdin)
print("kind:", d["kind"])
for c in d["certificates"]:
    print("names:", ", ".join(c["subject_alt_names"]))
    print("days_left:", c["days_left"])
    print("sha256_fingerprint:", c["sha256_fingerprint"])
    print("is_ca:", json.dumps(c["is_ca"]), "path_len:", json.dumps(c["path_len"]))
"#;
    for family in Family::ALL {
        let path = fixture(family, "server-chain.pem");
        let before = SystemTime::now();
        let json = inspect_file(&path, None)?.to_json();
        let after = SystemTime::now();
        let out = python(FIELDS, Vec::<&str>::new())
            .stdin(json.clone())
            .assert_success();
        let days = [
            openssl_days_left(&path, before),
            openssl_days_left(&path, after),
        ];
        let shown = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("days_left: "))
            .unwrap_or_else(|| panic!("no days_left\n{out}"));
        assert!(
            days.iter().any(|d| d.to_string() == shown),
            "days_left {shown}, openssl's notAfter gives {days:?}\n{out}"
        );
        let intermediate = fixture(family, "intermediate.pem");
        out.assert_stdout_contains("kind: certificates\n")
            .assert_stdout_contains("names: DNS:localhost, IP:127.0.0.1, IP:::1\n")
            .assert_stdout_contains("names: \n")
            .assert_stdout_contains(&format!(
                "sha256_fingerprint: {}\nis_ca: false path_len: null\n",
                openssl_fingerprint(&path)
            ))
            .assert_stdout_contains(&format!(
                "sha256_fingerprint: {}\nis_ca: true path_len: 0\n",
                openssl_fingerprint(&intermediate)
            ));
        // The JSON names no secrets and no file contents beyond the summary.
        assert!(!json.contains("BEGIN"), "{json}");
    }
    // A key file's JSON parses as well, tagged as a key.
    let json = inspect_file(&fixture(Family::Rsa, "encrypted-key.pem"), None)?.to_json();
    python(
        "import json, sys; d = json.load(sys.stdin); print(d['kind'], d['encrypted'])",
        Vec::<&str>::new(),
    )
    .stdin(json)
    .assert_success()
    .assert_stdout_contains("key True");
    Ok(())
}
