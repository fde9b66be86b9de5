//! A real browser: headless Chromium trusting the local CA through its own
//! NSS database, and refusing the server before it does.

use e2e::{TestCommand, chromium_dump, nss_home, require_tools, tempdir};
use pki::ca::CA_CERT_FILE;

use crate::server::{HTTPS_PAGE, start_env};

// ---------------------------------------------------------------------------
// A real browser
// ---------------------------------------------------------------------------

#[test]
fn chromium_trusts_the_local_ca_from_its_nss_store_and_only_then() {
    if !require_tools(&["chromium", "certutil"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    // Zero-config: the server makes the CA in CAROOT and a localhost certificate.
    let server = start_env(d, std::iter::empty::<&str>(), &[]);
    let url = server.url("localhost");
    let root = d.join("ca").join(CA_CERT_FILE);
    assert!(root.is_file(), "no {}\n{}", root.display(), server.log());

    // Trusted: the CA is in Chromium's own NSS database.
    let trusted = d.join("trusted");
    let home = nss_home(&trusted);
    TestCommand::new("certutil")
        .arg("-A")
        .arg("-d")
        .arg(format!("sql:{}", home.join(".pki/nssdb").display()))
        .args(["-n", "pki-test", "-t", "C,,", "-i"])
        .arg(&root)
        .assert_success();
    let out = chromium_dump(&home, &url);
    assert!(out.status.success(), "chromium failed\n{out}");
    out.assert_stdout_contains(HTTPS_PAGE)
        .assert_stdout_contains("localhost");

    // Not trusted: an empty NSS database, and Chromium refuses the page.
    let untrusted = d.join("untrusted");
    let home = nss_home(&untrusted);
    let out = chromium_dump(&home, &url);
    out.assert_stdout_lacks(HTTPS_PAGE);
    assert!(
        out.stderr.contains("ERR_CERT_AUTHORITY_INVALID")
            || out.stdout.contains("ERR_CERT_AUTHORITY_INVALID"),
        "chromium should refuse the certificate as from an unknown authority (in its log or its interstitial), not fail on something else\n{out}"
    );
}
