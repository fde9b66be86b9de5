//! Files cross the border both ways: what `openssl` writes (every key form,
//! CSRs) loads in `pki`, and what `pki` writes (encrypted keys, CSRs,
//! certificates, the CA directory) opens in `openssl` with the properties
//! the docs promise.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;

use e2e::{
    TestResult, extension, fixture, leftover_temp_files, mode, openssl, openssl_line, read_file,
    read_text, require_tool, tempdir, write_file, x509_text,
};
use pki::ca::{CA_CERT_FILE, CA_KEY_FILE};
use pki::key::KeyAlgorithm;
use pki::{
    Ca, CaParams, CertParams, Csr, CsrParams, Error, KeyType, Origin, Passphrase, PrivateKey,
    Profile, SubjectAltName,
};
use pki_fixtures::{FIXTURE_PASSPHRASE, Family};

/// The public half of a key file as `openssl pkey -pubout` prints it.
fn openssl_public_pem(path: &Path, passin: Option<&str>) -> String {
    let mut cmd = openssl_line("pkey -pubout -in");
    cmd.arg(path);
    if let Some(pass) = passin {
        cmd.args(["-passin", pass]);
    }
    cmd.assert_success().stdout
}

/// The public half of a key `pki` loaded, in the same PEM form.
fn pki_public_pem(key: &PrivateKey) -> String {
    String::from_utf8(key.as_pkey().public_key_to_pem().unwrap()).unwrap()
}

#[test]
fn our_encrypted_key_opens_in_openssl_with_its_pass_file() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        let encrypted = fixture(family, "encrypted-key.pem");
        let pass = format!("file:{}", fixture(family, "encrypted-key.pass").display());
        openssl(["pkey", "-noout", "-passin", &pass, "-in"])
            .arg(&encrypted)
            .assert_success();
        // It is the server key, encrypted.
        assert_eq!(
            openssl_public_pem(&encrypted, Some(&pass)),
            openssl_public_pem(&fixture(family, "server-key.pem"), None)
        );
    }
}

#[test]
fn our_encrypted_key_is_pbes2_pbkdf2_hmac_sha256_aes_256_cbc() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        let path = fixture(family, "encrypted-key.pem");
        assert!(
            read_text(&path).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
            "{} is not encrypted PKCS#8",
            path.display()
        );
        let out = openssl_line("asn1parse -in").arg(&path).assert_success();
        for oid in [":PBES2", ":PBKDF2", ":hmacWithSHA256", ":aes-256-cbc"] {
            out.assert_stdout_contains(oid);
        }
    }
}

#[test]
fn our_encrypted_key_refuses_a_wrong_pass_phrase_in_openssl() {
    if !require_tool("openssl") {
        return;
    }
    for family in Family::ALL {
        let path = fixture(family, "encrypted-key.pem");
        openssl([
            "pkey",
            "-noout",
            "-passin",
            "pass:not the pass phrase",
            "-in",
        ])
        .arg(&path)
        .assert_failure()
        .assert_code(1)
        .assert_stderr_contains(&format!("Could not read key from {}", path.display()));
    }
}

#[test]
fn our_encrypted_key_loads_back_with_the_pass_file_contents() -> TestResult {
    for family in Family::ALL {
        let pass =
            Passphrase::from_file_contents(&read_file(&fixture(family, "encrypted-key.pass")));
        assert_eq!(pass, Passphrase::new(FIXTURE_PASSPHRASE));
        let key = PrivateKey::read(fixture(family, "encrypted-key.pem"), Some(&pass))?;
        let plain = PrivateKey::read(fixture(family, "server-key.pem"), None)?;
        assert!(key.as_pkey().public_eq(plain.as_pkey()));
    }
    Ok(())
}

/// Asserts that an encrypted key file loads with `xxxx` and says which
/// error it is without a pass phrase or with a wrong one.
fn assert_encrypted_key_behaves(path: &Path) -> TestResult {
    let key = PrivateKey::read(path, Some(&Passphrase::new("xxxx")))?;
    assert_eq!(key.algorithm(), KeyAlgorithm::Rsa { bits: 2048 });
    assert_eq!(
        pki_public_pem(&key),
        openssl_public_pem(path, Some("pass:xxxx"))
    );
    let origin = Origin::File(path.to_path_buf());
    match PrivateKey::read(path, Some(&Passphrase::new("yyyy"))) {
        Err(Error::WrongPassphrase { origin: o }) => assert_eq!(o, origin),
        other => panic!(
            "expected WrongPassphrase for {}, got {other:?}",
            path.display()
        ),
    }
    match PrivateKey::read(path, None) {
        Err(Error::PassphraseRequired { origin: o }) => assert_eq!(o, origin),
        other => panic!(
            "expected PassphraseRequired for {}, got {other:?}",
            path.display()
        ),
    }
    Ok(())
}

/// OpenSSL 3's `genrsa -aes256` writes encrypted PKCS#8, not the legacy form.
#[test]
fn openssl_genrsa_aes256_key_loads_with_its_pass_phrase() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let dir = tempdir();
    let path = dir.path().join("k.pem");
    openssl_line("genrsa -aes256 -passout pass:xxxx -out")
        .arg(&path)
        .arg("2048")
        .assert_success();
    let text = read_text(&path);
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{text}"
    );
    assert_encrypted_key_behaves(&path)
}

#[test]
fn openssl_genrsa_traditional_aes256_key_loads_with_its_pass_phrase() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let dir = tempdir();
    let path = dir.path().join("k.pem");
    openssl_line("genrsa -traditional -aes256 -passout pass:xxxx -out")
        .arg(&path)
        .arg("2048")
        .assert_success();
    let text = read_text(&path);
    assert!(
        text.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
        "{text}"
    );
    assert!(text.contains("Proc-Type: 4,ENCRYPTED"), "{text}");
    assert!(text.contains("DEK-Info: AES-256-CBC,"), "{text}");
    assert_encrypted_key_behaves(&path)
}

#[test]
fn openssl_plain_keys_in_every_form_load() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    for line in [
        "genrsa -out rsa-pkcs8.pem 2048",
        "rsa -traditional -in rsa-pkcs8.pem -out rsa-traditional.pem",
        "genrsa -traditional -out rsa-genrsa-traditional.pem 2048",
        "ecparam -genkey -name prime256v1 -out ec-ecparam.pem",
        "genpkey -algorithm ed25519 -out ed25519.pem",
        "pkey -in ec-ecparam.pem -outform DER -out ec-pkcs8.der",
        "ec -in ec-ecparam.pem -outform DER -out ec-traditional.der",
        "rsa -traditional -in rsa-pkcs8.pem -outform DER -out rsa-traditional.der",
    ] {
        openssl_line(line).current_dir(d).assert_success();
    }

    const RSA: KeyAlgorithm = KeyAlgorithm::Rsa { bits: 2048 };
    const P256: KeyAlgorithm = KeyAlgorithm::Ecdsa { curve: "P-256" };
    // (file, label of its first PEM block or "" for DER, what it holds)
    let cases = [
        ("rsa-pkcs8.pem", "PRIVATE KEY", RSA),
        ("rsa-traditional.pem", "RSA PRIVATE KEY", RSA),
        ("rsa-genrsa-traditional.pem", "RSA PRIVATE KEY", RSA),
        // ecparam -genkey writes the curve's parameters first, then the key.
        ("ec-ecparam.pem", "EC PARAMETERS", P256),
        ("ed25519.pem", "PRIVATE KEY", KeyAlgorithm::Ed25519),
        ("ec-pkcs8.der", "", P256),
        ("ec-traditional.der", "", P256),
        ("rsa-traditional.der", "", RSA),
    ];
    assert!(read_text(&d.join("ec-ecparam.pem")).contains("-----BEGIN EC PRIVATE KEY-----"));
    for (name, label, algorithm) in cases {
        let path = d.join(name);
        if !label.is_empty() {
            let text = read_text(&path);
            let begin = format!("-----BEGIN {label}-----");
            assert!(text.starts_with(&begin), "{name} starts otherwise:\n{text}");
        }
        let key = PrivateKey::read(&path, None)
            .unwrap_or_else(|e| panic!("pki failed to read {name} made by openssl: {e}"));
        assert_eq!(key.algorithm(), algorithm, "{name}");
        let inform: &[&str] = if name.ends_with(".der") {
            &["-inform", "DER"]
        } else {
            &[]
        };
        let expected = openssl_line("pkey -pubout")
            .args(inform)
            .arg("-in")
            .arg(&path)
            .assert_success()
            .stdout;
        assert_eq!(
            pki_public_pem(&key),
            expected,
            "{name}: another key was read"
        );
    }
    Ok(())
}

#[test]
fn openssl_req_csr_is_signed_with_its_cn_promoted_to_san() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let family = Family::Rsa;
    let dir = tempdir();
    let d = dir.path();
    openssl_line("req -newkey rsa:2048 -nodes -keyout k.pem -out r.csr -subj /CN=localhost")
        .current_dir(d)
        .assert_success();
    let key = PrivateKey::read(d.join("k.pem"), None)?;
    let csr = Csr::read(d.join("r.csr"))?;
    csr.verify_signature()?;
    assert_eq!(csr.common_name().as_deref(), Some("localhost"));
    assert!(csr.requested_extensions()?.subject_alt_names.is_empty());

    let ca = Ca::load_files(
        fixture(family, "ca.pem"),
        fixture(family, "ca-key.pem"),
        None,
    )?;
    let params = CertParams::from_csr(&csr)?;
    assert_eq!(params.names(), &[SubjectAltName::parse("localhost")?]);
    let cert = ca.sign_csr(&csr, &params)?;
    assert!(
        cert.matches_key(&key),
        "the certificate is not for the CSR's key"
    );
    assert_eq!(
        cert.subject_alt_names(),
        vec![SubjectAltName::parse("localhost")?]
    );

    let cert_path = d.join("localhost.pem");
    cert.write_pem(&cert_path, pki::Overwrite::Refuse)?;
    let san = extension(&x509_text(&cert_path), "Subject Alternative Name").unwrap();
    assert_eq!(san.value, "DNS:localhost");
    openssl_line("verify -x509_strict -purpose sslserver -verify_hostname localhost -CAfile")
        .arg(fixture(family, "ca.pem"))
        .arg(&cert_path)
        .assert_success()
        .assert_stdout_contains("localhost.pem: OK");
    Ok(())
}

/// `openssl req -verify` of OpenSSL 3.0 exits 0 even when the signature
/// fails (fixed in 3.4, openssl/openssl#23771), so its words are what counts.
const REQ_VERIFY_OK: &str = "Certificate request self-signature verify OK";
const REQ_VERIFY_FAILURE: &str = "Certificate request self-signature verify failure";

#[test]
fn our_csr_passes_openssl_req_verify_and_shows_its_san() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let dir = tempdir();
    for key_type in [KeyType::P256, KeyType::Rsa2048, KeyType::Ed25519] {
        let key = PrivateKey::generate(key_type)?;
        let params = CsrParams::new(["localhost", "127.0.0.1", "::1"])?.profile(Profile::Server);
        let csr = Csr::new(&params, &key)?;
        let path = dir.path().join(format!("{key_type}.csr"));
        csr.write_pem(&path, pki::Overwrite::Refuse)?;
        openssl_line("req -verify -noout -in")
            .arg(&path)
            .assert_success()
            .assert_output_contains(REQ_VERIFY_OK);
        let text = openssl_line("req -text -noout -in")
            .arg(&path)
            .assert_success()
            .stdout;
        assert!(text.contains("Requested Extensions:"), "{text}");
        let san = extension(&text, "Subject Alternative Name").unwrap_or_else(|| panic!("{text}"));
        assert_eq!(
            san.value,
            "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
        );
        let eku = extension(&text, "Extended Key Usage").unwrap_or_else(|| panic!("{text}"));
        assert_eq!(eku.value, "TLS Web Server Authentication");
        assert!(text.contains("CN = localhost"), "{text}");
    }
    Ok(())
}

#[test]
fn csr_asking_for_ca_true_is_refused() -> TestResult {
    if !require_tool("openssl") {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    openssl_line(
        "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out ca.csr
         -subj /CN=sneaky.test -addext basicConstraints=critical,CA:TRUE",
    )
    .current_dir(d)
    .assert_success();
    let path = d.join("ca.csr");
    let csr = Csr::read(&path)?;
    assert_eq!(csr.requested_extensions()?.ca, Some(true));
    let ca = Ca::generate(&CaParams::new())?;
    let err = ca.sign_csr(&csr, &CertParams::from_csr(&csr)?).unwrap_err();
    match &err {
        Error::CsrRequestsCa { origin } => assert_eq!(origin, &Origin::File(path.clone())),
        other => panic!("expected CsrRequestsCa, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains(&path.display().to_string()) && shown.contains("CA:TRUE"),
        "{shown}"
    );
    Ok(())
}

/// Asserts that `pki` refuses a CSR DER as altered, from memory and from a
/// file, and that `openssl req -verify` agrees.
fn assert_csr_refused_as_altered(der: &[u8], name: &str) -> TestResult {
    let csr = Csr::from_der(der)?;
    assert!(
        matches!(
            csr.verify_signature(),
            Err(Error::CsrSignature {
                origin: Origin::Memory(_)
            })
        ),
        "{name}: {:?}",
        csr.verify_signature()
    );
    let dir = tempdir();
    let path = dir.path().join(name);
    write_file(&path, der);
    let csr = Csr::read(&path)?;
    let ca = Ca::generate(&CaParams::new())?;
    let err = ca
        .sign_csr(&csr, &CertParams::new(["localhost"])?)
        .unwrap_err();
    match &err {
        Error::CsrSignature { origin } => assert_eq!(origin, &Origin::File(path.clone())),
        other => panic!("{name}: expected CsrSignature, got {other:?}"),
    }
    assert!(err.to_string().contains("does not verify"), "{err}");
    if require_tool("openssl") {
        openssl_line("req -verify -noout -inform DER -in")
            .arg(&path)
            .output()
            .assert_output_contains(REQ_VERIFY_FAILURE);
    }
    Ok(())
}

#[test]
fn csr_with_a_flipped_signature_byte_is_refused() -> TestResult {
    for key_type in [KeyType::P256, KeyType::Rsa2048] {
        let key = PrivateKey::generate(key_type)?;
        let csr = Csr::new(&CsrParams::new(["localhost"])?, &key)?;
        csr.verify_signature()?;
        let mut der = csr.to_der()?;
        // The signature BIT STRING ends the DER; its last byte is signature
        // value (RSA) or the last byte of the INTEGER s (ECDSA).
        let last = der.len() - 1;
        der[last] ^= 0x01;
        assert_csr_refused_as_altered(&der, &format!("flipped-{key_type}.der"))?;
    }
    Ok(())
}

#[test]
fn csr_with_a_swapped_public_key_is_refused() -> TestResult {
    let signer = PrivateKey::generate(KeyType::P256)?;
    let other = PrivateKey::generate(KeyType::P256)?;
    let params = CsrParams::new(["localhost"])?;
    let der = Csr::new(&params, &signer)?.to_der()?;
    let signer_spki = signer.as_pkey().public_key_to_der()?;
    let other_spki = other.as_pkey().public_key_to_der()?;
    assert_eq!(signer_spki.len(), other_spki.len());
    let at = der
        .windows(signer_spki.len())
        .position(|w| w == signer_spki.as_slice())
        .expect("the CSR holds its public key");
    let mut swapped = der.clone();
    swapped[at..at + other_spki.len()].copy_from_slice(&other_spki);
    let parsed = Csr::from_der(&swapped)?;
    assert!(
        parsed
            .as_x509_req()
            .public_key()?
            .public_eq(other.as_pkey())
    );
    assert_csr_refused_as_altered(&swapped, "swapped-key.der")
}

/// Bits in a positive serial written as `openssl x509 -serial` prints it.
fn serial_bits(hex: &str) -> u32 {
    let digits = hex.trim_start_matches('0');
    let Some(first) = digits.chars().next() else {
        return 0;
    };
    let lead = first.to_digit(16).unwrap_or(0);
    (digits.len() as u32 - 1) * 4 + (32 - lead.leading_zeros())
}

#[test]
fn serials_are_distinct_and_at_least_64_bits() {
    if !require_tool("openssl") {
        return;
    }
    let mut seen = Vec::new();
    for family in Family::ALL {
        for name in [
            "ca.pem",
            "intermediate.pem",
            "server.pem",
            "server-chain.pem",
            "client.pem",
            "expired.pem",
        ] {
            let out = openssl_line("x509 -noout -serial -in")
                .arg(fixture(family, name))
                .assert_success();
            let hex = out
                .stdout
                .trim()
                .strip_prefix("serial=")
                .unwrap_or_else(|| panic!("{out}"));
            assert!(
                serial_bits(hex) >= 64,
                "{name}: serial {hex} has under 64 bits"
            );
            assert!(!seen.contains(&hex.to_owned()), "serial {hex} repeats");
            seen.push(hex.to_owned());
        }
    }
}

#[test]
fn ca_directory_is_private_and_its_key_encrypted() -> TestResult {
    let dir = tempdir();
    let ca_dir = dir.path().join("ca");
    let pass = Passphrase::new("ca dir pass phrase");
    Ca::create_in(&ca_dir, &CaParams::new(), Some(&pass))?;
    let key = ca_dir.join(CA_KEY_FILE);
    let cert = ca_dir.join(CA_CERT_FILE);
    assert_eq!(mode(&ca_dir), 0o700, "CA directory mode");
    assert_eq!(mode(&key), 0o600, "{CA_KEY_FILE} mode");
    assert_eq!(mode(&cert), 0o644, "{CA_CERT_FILE} mode");
    assert!(read_text(&key).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    assert!(read_text(&cert).starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(leftover_temp_files(&ca_dir).is_empty());
    if require_tool("openssl") {
        openssl([
            "pkey",
            "-noout",
            "-passin",
            "pass:ca dir pass phrase",
            "-in",
        ])
        .arg(&key)
        .assert_success();
        openssl_line("verify -x509_strict -CAfile")
            .arg(&cert)
            .arg(&cert)
            .assert_success();
    }
    Ok(())
}

#[test]
fn ca_directory_loads_only_with_the_right_pass_phrase() -> TestResult {
    let dir = tempdir();
    let ca_dir = dir.path().join("ca");
    let pass = Passphrase::new("ca dir pass phrase");
    let created = Ca::create_in(&ca_dir, &CaParams::new(), Some(&pass))?;
    let key_origin = Origin::File(ca_dir.join(CA_KEY_FILE));
    match Ca::load(&ca_dir, None) {
        Err(Error::PassphraseRequired { origin }) => assert_eq!(origin, key_origin),
        other => panic!("expected PassphraseRequired, got {other:?}"),
    }
    match Ca::load(&ca_dir, Some(&Passphrase::new("not the one"))) {
        Err(Error::WrongPassphrase { origin }) => assert_eq!(origin, key_origin),
        other => panic!("expected WrongPassphrase, got {other:?}"),
    }
    let loaded = Ca::load(&ca_dir, Some(&pass))?;
    assert_eq!(loaded.certificate(), created.certificate());
    assert!(loaded.key().as_pkey().public_eq(created.key().as_pkey()));
    Ok(())
}

#[test]
fn ca_created_twice_is_ca_exists_and_files_stay_byte_identical() -> TestResult {
    let dir = tempdir();
    let ca_dir = dir.path().join("ca");
    Ca::create_in(&ca_dir, &CaParams::new(), None)?;
    let before = (
        read_file(&ca_dir.join(CA_CERT_FILE)),
        read_file(&ca_dir.join(CA_KEY_FILE)),
    );
    for pass in [None, Some(Passphrase::new("another pass phrase"))] {
        match Ca::create_in(
            &ca_dir,
            &CaParams::new().key_type(KeyType::Ed25519),
            pass.as_ref(),
        ) {
            Err(Error::CaExists { dir }) => assert_eq!(dir, ca_dir),
            other => panic!("expected CaExists, got {other:?}"),
        }
    }
    let after = (
        read_file(&ca_dir.join(CA_CERT_FILE)),
        read_file(&ca_dir.join(CA_KEY_FILE)),
    );
    assert!(before == after, "an existing CA was changed");
    assert!(leftover_temp_files(&ca_dir).is_empty());
    Ok(())
}

#[test]
fn concurrent_create_in_has_exactly_one_winner() -> TestResult {
    let pass = Passphrase::new("race pass phrase");
    for round in 0..8 {
        let dir = tempdir();
        let ca_dir = dir.path().join("ca");
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (barrier, ca_dir, pass) = (barrier.clone(), ca_dir.clone(), pass.clone());
                thread::spawn(move || {
                    barrier.wait();
                    Ca::create_in(&ca_dir, &CaParams::new(), Some(&pass))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<&Ca> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            matches!(loser, Error::CaExists { dir } if *dir == ca_dir),
            "round {round}: the loser got {loser:?}"
        );
        let loaded = Ca::load(&ca_dir, Some(&pass))?;
        assert_eq!(
            loaded.certificate(),
            winners[0].certificate(),
            "round {round}"
        );
        let mut names: Vec<String> = std::fs::read_dir(&ca_dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        names.sort();
        assert_eq!(names, [CA_KEY_FILE, CA_CERT_FILE], "round {round}");
    }
    Ok(())
}
