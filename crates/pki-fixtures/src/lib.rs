//! The certificate fixture set the workspace's tests use, and that
//! `cargo xtask fixtures` writes: a throwaway CA, an intermediate, good
//! server and client certificates, and one file for each way a certificate
//! can be refused (untrusted, expired, not yet valid, wrong host). Living in
//! the library means tests and xtask write the very same set.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use pki::fs::{self, Overwrite, Secrecy};
use pki::{
    Ca, CaParams, CertParams, Certificate, Identity, KeyType, Passphrase, PrivateKey, Profile,
    Result,
};

/// The pass phrase of `encrypted-key.pem`, also written to `encrypted-key.pass`.
pub const FIXTURE_PASSPHRASE: &str = "pki fixture pass phrase";

/// The names of the good server certificates.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The only name of `wrong-host.pem`.
pub const WRONG_HOST: &str = "elsewhere.test";

/// The names of the client certificates.
pub const CLIENT_NAMES: [&str; 1] = ["client@example.test"];

/// How far in the past `expired.pem` ended, and in the future `not-yet-valid.pem` begins.
const OFFSET: Duration = Duration::from_secs(30 * 86_400);

/// Which kind of keys a fixture family uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Every key ECDSA P-256 (subfolder `ecdsa/`).
    Ecdsa,
    /// Every key RSA 2048 (subfolder `rsa/`).
    Rsa,
}

impl Family {
    /// Both families.
    pub const ALL: [Family; 2] = [Family::Ecdsa, Family::Rsa];

    /// The subfolder name.
    pub fn dir_name(self) -> &'static str {
        match self {
            Family::Ecdsa => "ecdsa",
            Family::Rsa => "rsa",
        }
    }

    /// The key type of every key in the family.
    pub fn key_type(self) -> KeyType {
        match self {
            Family::Ecdsa => KeyType::P256,
            Family::Rsa => KeyType::Rsa2048,
        }
    }
}

/// Writes both families into `out/ecdsa` and `out/rsa`, plus `out/README.md`,
/// replacing any earlier set. Returns the family directories.
pub fn write_all(out: &Path) -> Result<Vec<PathBuf>> {
    fs::create_private_dir(out)?;
    fs::write_atomic(
        out.join("README.md"),
        README.as_bytes(),
        Secrecy::Public,
        Overwrite::Replace,
    )?;
    Family::ALL
        .iter()
        .map(|&family| {
            let dir = out.join(family.dir_name());
            write_family(&dir, family)?;
            Ok(dir)
        })
        .collect()
}

/// Writes one family's files into `dir` from fresh throwaway CAs.
pub fn write_family(dir: &Path, family: Family) -> Result<()> {
    fs::create_private_dir(dir)?;
    let kt = family.key_type();
    let w = Writer { dir };
    let ca = Ca::generate(
        &CaParams::new()
            .key_type(kt)
            .common_name("pki fixture root CA"),
    )?;
    let intermediate = ca.issue_intermediate(
        &CaParams::new()
            .key_type(kt)
            .common_name("pki fixture intermediate CA"),
    )?;
    let untrusted = Ca::generate(
        &CaParams::new()
            .key_type(kt)
            .common_name("pki fixture untrusted CA"),
    )?;

    w.cert("ca.pem", ca.certificate())?;
    w.key("ca-key.pem", ca.key())?;
    w.cert("intermediate.pem", intermediate.certificate())?;
    w.key("intermediate-key.pem", intermediate.key())?;

    let server = ca.issue(&CertParams::new(SERVER_NAMES)?.key_type(kt))?;
    w.pair("server", &server)?;
    w.private(
        "encrypted-key.pem",
        &server
            .key()
            .to_pem_encrypted(&Passphrase::new(FIXTURE_PASSPHRASE))?,
    )?;
    w.public(
        "encrypted-key.pass",
        format!("{FIXTURE_PASSPHRASE}\n").as_bytes(),
    )?;

    let chained = intermediate.issue(&CertParams::new(SERVER_NAMES)?.key_type(kt))?;
    w.public("server-chain.pem", &chained.chain_pem()?)?;
    w.key("server-chain-key.pem", chained.key())?;

    let client_params = CertParams::new(CLIENT_NAMES)?
        .key_type(kt)
        .profile(Profile::Client)
        .common_name("pki fixture client");
    let client = ca.issue(&client_params)?;
    w.pair("client", &client)?;
    w.private("client-bundle.pem", &client.bundle_pem()?)?;

    w.cert("untrusted-ca.pem", untrusted.certificate())?;
    w.pair("untrusted-client", &untrusted.issue(&client_params)?)?;

    let now = SystemTime::now();
    let expired = CertParams::new(SERVER_NAMES)?
        .key_type(kt)
        .not_before(now - OFFSET - OFFSET)
        .not_after(now - OFFSET);
    w.pair("expired", &ca.issue(&expired)?)?;
    let future = CertParams::new(SERVER_NAMES)?
        .key_type(kt)
        .not_before(now + OFFSET)
        .valid_for_days(90);
    w.pair("not-yet-valid", &ca.issue(&future)?)?;
    w.pair(
        "wrong-host",
        &ca.issue(&CertParams::new([WRONG_HOST])?.key_type(kt))?,
    )?;
    Ok(())
}

struct Writer<'a> {
    dir: &'a Path,
}

impl Writer<'_> {
    fn public(&self, name: &str, bytes: &[u8]) -> Result<()> {
        fs::write_atomic(
            self.dir.join(name),
            bytes,
            Secrecy::Public,
            Overwrite::Replace,
        )
    }

    fn private(&self, name: &str, bytes: &[u8]) -> Result<()> {
        fs::write_atomic(
            self.dir.join(name),
            bytes,
            Secrecy::Private,
            Overwrite::Replace,
        )
    }

    fn cert(&self, name: &str, cert: &Certificate) -> Result<()> {
        self.public(name, &cert.to_pem()?)
    }

    fn key(&self, name: &str, key: &PrivateKey) -> Result<()> {
        self.private(name, &key.to_pem()?)
    }

    /// `<stem>.pem` and `<stem>-key.pem`.
    fn pair(&self, stem: &str, identity: &Identity) -> Result<()> {
        self.cert(&format!("{stem}.pem"), identity.certificate())?;
        self.key(&format!("{stem}-key.pem"), identity.key())
    }
}

const README: &str = "\
# Certificate fixtures

Written by `cargo xtask fixtures` (or `pki::fixtures::write_all`) from fresh,
throwaway CAs. Nothing here is trusted anywhere; regenerate at will. `ecdsa/`
uses P-256 keys throughout, `rsa/` RSA 2048. Private keys are mode 0600.

| file | what it is for |
| --- | --- |
| `ca.pem`, `ca-key.pem` | the root CA the tests trust |
| `intermediate.pem`, `intermediate-key.pem` | an intermediate CA under the root (pathlen 0) |
| `server.pem`, `server-key.pem` | server leaf for localhost, 127.0.0.1 and ::1, issued by the root |
| `server-chain.pem`, `server-chain-key.pem` | the same names issued by the intermediate; the file holds leaf + intermediate, as a server sends them |
| `client.pem`, `client-key.pem` | client certificate (clientAuth) for client@example.test, issued by the root |
| `client-bundle.pem` | client certificate followed by its key, as `curl -E` takes it |
| `untrusted-ca.pem` | a second root that nobody trusts |
| `untrusted-client.pem`, `untrusted-client-key.pem` | a client certificate from the untrusted root: a server must refuse it |
| `expired.pem`, `expired-key.pem` | server leaf that expired 30 days ago |
| `not-yet-valid.pem`, `not-yet-valid-key.pem` | server leaf whose validity starts in 30 days |
| `wrong-host.pem`, `wrong-host-key.pem` | server leaf for elsewhere.test only: wrong for localhost |
| `encrypted-key.pem` | `server-key.pem`, encrypted (PKCS#8, AES-256-CBC, PBKDF2) |
| `encrypted-key.pass` | the pass phrase of `encrypted-key.pem` |
";
