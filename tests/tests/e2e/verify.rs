//! `openssl verify -x509_strict` judges every fixture: the good ones pass for
//! the names and purposes they were made for, each bad one fails with its own
//! reason, and `openssl x509 -text` shows the extensions strict clients want.

use std::path::Path;

use e2e::{
    TestCommand, TestResult, extension, fixture, openssl_line, require_tool, tempdir, x509_text,
};
use pki::{Ca, CaParams, CertParams, Error, NameConstraint};
use pki_fixtures::Family;

/// `openssl verify -x509_strict -CAfile <family>/ca.pem <flags…> <family>/<cert>`.
fn verify(family: Family, flags: &str, cert: &str) -> TestCommand {
    let mut cmd = openssl_line("verify -x509_strict -CAfile");
    cmd.arg(fixture(family, "ca.pem"))
        .args(flags.split_whitespace())
        .arg(fixture(family, cert));
    cmd
}

/// Asserts that `openssl verify` refused `cert` with `reason` for the leaf
/// (depth 0), the way OpenSSL 3 words it: `error N at 0 depth lookup: reason`.
fn assert_refused(family: Family, flags: &str, cert: &str, reason: &str) {
    let out = verify(family, flags, cert).assert_failure();
    out.assert_code(2)
        .assert_output_contains(&format!("at 0 depth lookup: {reason}"))
        .assert_output_contains(&format!(
            "error {}: verification failed",
            fixture(family, cert).display()
        ))
        .assert_stdout_lacks(": OK");
}

#[test]
fn server_verifies_for_localhost() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        verify(
            family,
            "-purpose sslserver -verify_hostname localhost",
            "server.pem",
        )
        .assert_success()
        .assert_stdout_contains("server.pem: OK");
    }
}

#[test]
fn server_verifies_for_ipv4_and_ipv6_loopback() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        for ip in ["127.0.0.1", "::1"] {
            verify(
                family,
                &format!("-purpose sslserver -verify_ip {ip}"),
                "server.pem",
            )
            .assert_success()
            .assert_stdout_contains("server.pem: OK");
        }
    }
}

#[test]
fn server_chain_verifies_through_the_intermediate() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        // The chain file itself as the untrusted pool, as a client receives
        // it, and the intermediate on its own. (Temp paths hold no spaces.)
        for pool in ["server-chain.pem", "intermediate.pem"] {
            let pool = fixture(family, pool);
            for name in [
                "-verify_hostname localhost",
                "-verify_ip 127.0.0.1",
                "-verify_ip ::1",
            ] {
                verify(
                    family,
                    &format!("-purpose sslserver {name} -untrusted {}", pool.display()),
                    "server-chain.pem",
                )
                .assert_success()
                .assert_stdout_contains("server-chain.pem: OK");
            }
        }
    }
}

#[test]
fn server_chain_without_the_intermediate_is_unable_to_get_local_issuer() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        assert_refused(
            family,
            "-purpose sslserver",
            "server-chain.pem",
            "unable to get local issuer certificate",
        );
    }
}

#[test]
fn client_verifies_for_sslclient() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        verify(family, "-purpose sslclient", "client.pem")
            .assert_success()
            .assert_stdout_contains("client.pem: OK");
    }
}

#[test]
fn intermediate_verifies_as_a_ca_under_the_root() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        verify(family, "", "intermediate.pem")
            .assert_success()
            .assert_stdout_contains("intermediate.pem: OK");
    }
}

#[test]
fn expired_is_refused_as_expired() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        assert_refused(
            family,
            "-purpose sslserver -verify_hostname localhost",
            "expired.pem",
            "certificate has expired",
        );
    }
}

#[test]
fn not_yet_valid_is_refused_as_not_yet_valid() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        assert_refused(
            family,
            "-purpose sslserver -verify_hostname localhost",
            "not-yet-valid.pem",
            "certificate is not yet valid",
        );
    }
}

#[test]
fn wrong_host_is_refused_for_localhost_as_hostname_mismatch() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        // The certificate is fine in itself: only the name is wrong.
        verify(family, "-purpose sslserver", "wrong-host.pem").assert_success();
        assert_refused(
            family,
            "-purpose sslserver -verify_hostname localhost",
            "wrong-host.pem",
            "hostname mismatch",
        );
    }
}

#[test]
fn wrong_host_is_refused_for_127_0_0_1_as_ip_address_mismatch() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        assert_refused(
            family,
            "-purpose sslserver -verify_ip 127.0.0.1",
            "wrong-host.pem",
            "IP address mismatch",
        );
    }
}

#[test]
fn untrusted_client_is_unable_to_get_local_issuer() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        assert_refused(
            family,
            "-purpose sslclient",
            "untrusted-client.pem",
            "unable to get local issuer certificate",
        );
    }
}

/// OpenSSL 3.0 words this "unsuitable certificate purpose" (error 26); the
/// "unsupported certificate purpose" of older write-ups is another error.
#[test]
fn server_is_refused_as_client_for_unsuitable_purpose() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        assert_refused(
            family,
            "-purpose sslclient",
            "server.pem",
            "unsuitable certificate purpose",
        );
        assert_refused(
            family,
            "-purpose sslserver",
            "client.pem",
            "unsuitable certificate purpose",
        );
    }
}

/// Checks what every leaf must carry, as `openssl x509 -text` prints it.
fn assert_leaf_extensions(path: &Path, family: Family, eku: &str) {
    let text = x509_text(path);
    let at = path.display();
    assert!(text.contains("Version: 3 (0x2)"), "{at} is not v3:\n{text}");
    let bc = extension(&text, "Basic Constraints")
        .unwrap_or_else(|| panic!("{at}: no basicConstraints\n{text}"));
    assert!(bc.critical, "{at}: basicConstraints not critical\n{text}");
    assert_eq!(bc.value, "CA:FALSE", "{at}\n{text}");
    let ku = extension(&text, "Key Usage").unwrap_or_else(|| panic!("{at}: no keyUsage\n{text}"));
    assert!(ku.critical, "{at}: keyUsage not critical\n{text}");
    let want = match family {
        Family::Ecdsa => "Digital Signature",
        Family::Rsa => "Digital Signature, Key Encipherment",
    };
    assert_eq!(ku.value, want, "{at}\n{text}");
    let ext_ku =
        extension(&text, "Extended Key Usage").unwrap_or_else(|| panic!("{at}: no EKU\n{text}"));
    assert_eq!(ext_ku.value, eku, "{at}\n{text}");
    let san = extension(&text, "Subject Alternative Name")
        .unwrap_or_else(|| panic!("{at}: no SAN\n{text}"));
    assert!(!san.value.is_empty(), "{at}: empty SAN\n{text}");
    let skid = extension(&text, "Subject Key Identifier")
        .unwrap_or_else(|| panic!("{at}: no SKID\n{text}"));
    let akid = extension(&text, "Authority Key Identifier")
        .unwrap_or_else(|| panic!("{at}: no AKID\n{text}"));
    assert!(
        !skid.value.is_empty() && !akid.value.is_empty(),
        "{at}\n{text}"
    );
    assert_ne!(
        skid.value, akid.value,
        "{at}: a leaf is not its own authority\n{text}"
    );
}

#[test]
fn leaves_are_v3_with_critical_constraints_key_usage_san_and_key_ids() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        for leaf in [
            "server.pem",
            "server-chain.pem",
            "expired.pem",
            "wrong-host.pem",
        ] {
            assert_leaf_extensions(
                &fixture(family, leaf),
                family,
                "TLS Web Server Authentication",
            );
        }
        assert_leaf_extensions(
            &fixture(family, "client.pem"),
            family,
            "TLS Web Client Authentication",
        );
        let san = extension(
            &x509_text(&fixture(family, "server.pem")),
            "Subject Alternative Name",
        )
        .unwrap();
        assert_eq!(
            san.value,
            "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
        );
        let san = extension(
            &x509_text(&fixture(family, "client.pem")),
            "Subject Alternative Name",
        )
        .unwrap();
        assert_eq!(san.value, "email:client@example.test");
    }
}

#[test]
fn ca_and_intermediate_have_critical_ca_true_and_cert_sign() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        let root_text = x509_text(&fixture(family, "ca.pem"));
        let inter_text = x509_text(&fixture(family, "intermediate.pem"));
        for (text, bc_want) in [(&root_text, "CA:TRUE"), (&inter_text, "CA:TRUE, pathlen:0")] {
            assert!(text.contains("Version: 3 (0x2)"), "{text}");
            let bc = extension(text, "Basic Constraints").unwrap();
            assert!(bc.critical, "{text}");
            assert_eq!(bc.value, bc_want, "{text}");
            let ku = extension(text, "Key Usage").unwrap();
            assert!(ku.critical, "{text}");
            assert_eq!(ku.value, "Certificate Sign, CRL Sign", "{text}");
            assert!(
                extension(text, "Subject Key Identifier").is_some(),
                "{text}"
            );
        }
        // The intermediate names the root's key; the root needs no AKID.
        let root_skid = extension(&root_text, "Subject Key Identifier")
            .unwrap()
            .value;
        let inter_akid = extension(&inter_text, "Authority Key Identifier")
            .unwrap()
            .value;
        assert_eq!(inter_akid, root_skid);
    }
}

#[test]
fn name_constrained_ca_issues_localhost_that_openssl_accepts() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let dir = tempdir();
    let ca = Ca::generate(&CaParams::new().permit(NameConstraint::parse("localhost")?))?;
    let ca_pem = dir.path().join("ca.pem");
    ca.certificate()
        .write_pem(&ca_pem, pki::Overwrite::Refuse)?;
    let text = x509_text(&ca_pem);
    let nc = extension(&text, "Name Constraints")
        .unwrap_or_else(|| panic!("no nameConstraints\n{text}"));
    assert!(nc.critical, "{text}");
    assert_eq!(nc.value, "Permitted:\nDNS:localhost", "{text}");

    let leaf = ca.issue(&CertParams::new(["localhost"])?)?;
    let leaf_pem = dir.path().join("localhost.pem");
    leaf.certificate()
        .write_pem(&leaf_pem, pki::Overwrite::Refuse)?;
    openssl_line("verify -x509_strict -purpose sslserver -verify_hostname localhost -CAfile")
        .arg(&ca_pem)
        .arg(&leaf_pem)
        .assert_success()
        .assert_stdout_contains("localhost.pem: OK");
    Ok(())
}

#[test]
fn name_constrained_ca_refuses_example_com() -> TestResult {
    let ca = Ca::generate(&CaParams::new().permit(NameConstraint::parse("localhost")?))?;
    let err = ca
        .issue(&CertParams::new(["localhost", "example.com"])?)
        .unwrap_err();
    match &err {
        Error::OutsideNameConstraints { name, permitted } => {
            assert_eq!(name, "example.com");
            assert_eq!(permitted, "localhost");
        }
        other => panic!("expected OutsideNameConstraints, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains("example.com") && shown.contains("localhost"),
        "{shown}"
    );
    // Names under the constraint are inside it, as RFC 5280 reads DNS subtrees.
    ca.issue(&CertParams::new(["app.localhost"])?)?;
    Ok(())
}

/// What pki refuses to make, openssl can still forge with the CA key; the
/// constraint pki wrote must then stop it at verification.
#[test]
fn example_com_forged_outside_pki_fails_openssl_verify_as_subtree_violation() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    let ca = Ca::generate(&CaParams::new().permit(NameConstraint::parse("localhost")?))?;
    ca.certificate()
        .write_pem(d.join("ca.pem"), pki::Overwrite::Refuse)?;
    ca.key()
        .write_pem(d.join("ca-key.pem"), None, pki::Overwrite::Refuse)?;
    openssl_line(
        "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout forged-key.pem
         -out forged.csr -subj /CN=example.com -addext subjectAltName=DNS:example.com",
    )
    .current_dir(d)
    .assert_success();
    // pki itself will not sign it.
    let csr = pki::Csr::read(d.join("forged.csr"))?;
    let err = ca.sign_csr(&csr, &CertParams::from_csr(&csr)?).unwrap_err();
    assert!(
        matches!(&err, Error::OutsideNameConstraints { name, .. } if name == "example.com"),
        "{err:?}"
    );
    openssl_line(
        "x509 -req -in forged.csr -CA ca.pem -CAkey ca-key.pem -copy_extensions copy -days 1
         -out forged.pem",
    )
    .current_dir(d)
    .assert_success();
    openssl_line("verify -CAfile ca.pem forged.pem")
        .current_dir(d)
        .assert_failure()
        .assert_output_contains("permitted subtree violation");
    Ok(())
}
