//! Private keys: generating them (`openssl genrsa`, `genpkey`), writing them as
//! PKCS#8 (plain or pass-phrase encrypted) and reading every form the seed
//! recipes leave behind, without ever letting OpenSSL prompt on the terminal.

use std::cell::Cell;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;

use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, Id, PKey, PKeyRef, Private};
use openssl::rsa::Rsa;
use openssl::symm::Cipher;

use crate::error::{Error, OpenSslContext, Origin, Result};
use crate::fs::{self, Overwrite, Secrecy};
use crate::passphrase::Passphrase;
use crate::pem;

/// The kinds of key `pki` generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyType {
    /// RSA with a 2048-bit modulus: the smallest size clients still accept.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus (what the seed recipes' `rsa:4096` makes).
    Rsa4096,
    /// ECDSA on NIST P-256: the default, fast and accepted by every current client.
    #[default]
    P256,
    /// ECDSA on NIST P-384.
    P384,
    /// Ed25519: fast and small, but browsers do not accept it for TLS yet.
    Ed25519,
}

impl KeyType {
    /// Every key type, in the order they are listed to users.
    pub const ALL: [KeyType; 6] = [
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
        KeyType::P256,
        KeyType::P384,
        KeyType::Ed25519,
    ];

    /// The name users type (`rsa2048`, `p256`, `ed25519`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa2048",
            KeyType::Rsa3072 => "rsa3072",
            KeyType::Rsa4096 => "rsa4096",
            KeyType::P256 => "p256",
            KeyType::P384 => "p384",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`KeyType::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key type {0:?}; choose one of rsa2048, rsa3072, rsa4096, p256, p384, ed25519")]
pub struct UnknownKeyType(pub String);

impl FromStr for KeyType {
    type Err = UnknownKeyType;

    fn from_str(s: &str) -> Result<Self, UnknownKeyType> {
        let lower = s.to_ascii_lowercase().replace(['-', '_'], "");
        let found = match lower.as_str() {
            "rsa2048" | "rsa" => KeyType::Rsa2048,
            "rsa3072" => KeyType::Rsa3072,
            "rsa4096" => KeyType::Rsa4096,
            "p256" | "ecdsa" | "ecdsap256" | "prime256v1" | "secp256r1" => KeyType::P256,
            "p384" | "ecdsap384" | "secp384r1" => KeyType::P384,
            "ed25519" => KeyType::Ed25519,
            _ => return Err(UnknownKeyType(s.to_owned())),
        };
        Ok(found)
    }
}

/// What a loaded key is, whatever made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA with this modulus size.
    Rsa {
        /// Modulus size in bits.
        bits: u32,
    },
    /// ECDSA on a named curve.
    Ecdsa {
        /// The curve's short name (`P-256`, `P-384`, or OpenSSL's name for others).
        curve: &'static str,
    },
    /// Ed25519.
    Ed25519,
    /// Something else OpenSSL can hold (Ed448, DSA, …); `pki` does not sign with it.
    Other,
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::Ecdsa { curve } => write!(f, "ECDSA {curve}"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::Other => f.write_str("unsupported algorithm"),
        }
    }
}

/// A private key. Its `Debug` shows the algorithm, never the key.
#[derive(Clone)]
pub struct PrivateKey {
    pkey: PKey<Private>,
}

impl PrivateKey {
    /// Generates a new key; replaces `openssl genrsa -out k.pem 2048` and
    /// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`.
    pub fn generate(key_type: KeyType) -> Result<Self> {
        let pkey = match key_type {
            KeyType::Rsa2048 => rsa(2048)?,
            KeyType::Rsa3072 => rsa(3072)?,
            KeyType::Rsa4096 => rsa(4096)?,
            KeyType::P256 => ec(Nid::X9_62_PRIME256V1)?,
            KeyType::P384 => ec(Nid::SECP384R1)?,
            KeyType::Ed25519 => PKey::generate_ed25519().context("generate an Ed25519 key")?,
        };
        Ok(PrivateKey { pkey })
    }

    /// Wraps a key made elsewhere with the openssl crate.
    pub fn from_pkey(pkey: PKey<Private>) -> Self {
        PrivateKey { pkey }
    }

    /// The underlying OpenSSL key, for configuring an `SslContextBuilder`.
    pub fn as_pkey(&self) -> &PKey<Private> {
        &self.pkey
    }

    /// What kind of key this is.
    pub fn algorithm(&self) -> KeyAlgorithm {
        algorithm_of(self.pkey.id(), self.pkey.bits(), || {
            self.pkey.ec_key().ok().and_then(|k| k.group().curve_name())
        })
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`); replaces `openssl pkey -out`.
    pub fn to_pem(&self) -> Result<Vec<u8>> {
        if let Some(der) = self.ec_pkcs8()? {
            return Ok(pem::encode("PRIVATE KEY", &der));
        }
        self.pkey
            .private_key_to_pem_pkcs8()
            .context("encode the key as PKCS#8 PEM")
    }

    /// A P-256 or P-384 key's PKCS#8, encoded here byte for byte as OpenSSL
    /// writes it (OpenSSL 3.0's encoder costs as much as generating the
    /// key): `PrivateKeyInfo { 0, { id-ecPublicKey, curve }, ECPrivateKey
    /// { 1, d, [1] publicKey } }` (RFC 5915, RFC 5208). `None` for other keys.
    fn ec_pkcs8(&self) -> Result<Option<Vec<u8>>> {
        use crate::der;
        if self.pkey.id() != Id::EC {
            return Ok(None);
        }
        let ec = self.pkey.ec_key().context("read the EC key")?;
        let (curve, len) = match ec.group().curve_name() {
            Some(Nid::X9_62_PRIME256V1) => (der::P256, 32),
            Some(Nid::SECP384R1) => (der::P384, 48),
            _ => return Ok(None),
        };
        let secret = ec
            .private_key()
            .to_vec_padded(len)
            .context("encode the private scalar")?;
        let mut ctx = openssl::bn::BigNumContext::new().context("start encoding the key")?;
        let point = ec
            .public_key()
            .to_bytes(
                ec.group(),
                openssl::ec::PointConversionForm::UNCOMPRESSED,
                &mut ctx,
            )
            .context("encode the public key")?;
        let ec_private = der::sequence(&[
            &der::integer(&[1]),
            &der::octet_string(&secret),
            &der::explicit(1, &der::bit_string(&point)),
        ]);
        Ok(Some(der::sequence(&[
            &der::integer(&[0]),
            &der::sequence(&[&der::oid(der::EC_PUBLIC_KEY), &der::oid(curve)]),
            &der::octet_string(&ec_private),
        ])))
    }

    /// PKCS#8 DER; replaces `openssl pkey -outform DER`.
    pub fn to_der(&self) -> Result<Vec<u8>> {
        self.pkey
            .private_key_to_pkcs8()
            .context("encode the key as PKCS#8 DER")
    }

    /// Encrypted PKCS#8 PEM (`-----BEGIN ENCRYPTED PRIVATE KEY-----`), AES-256-CBC
    /// under PBES2 with PBKDF2-HMAC-SHA256; replaces
    /// `openssl pkcs8 -topk8 -v2 aes-256-cbc -passout …`.
    pub fn to_pem_encrypted(&self, passphrase: &Passphrase) -> Result<Vec<u8>> {
        passphrase.check_strength()?;
        self.pkey
            .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), passphrase.as_bytes())
            .context("encrypt the key")
    }

    /// Reads a key from PEM: PKCS#8, `RSA PRIVATE KEY`, `EC PRIVATE KEY`. The
    /// first private key block is used, so a combined cert + key file works.
    /// An encrypted key gives [`Error::PassphraseRequired`].
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        parse(pem, &Origin::Memory("the key"), None)
    }

    /// Reads a key from PEM that may be encrypted: encrypted PKCS#8, or the
    /// legacy `Proc-Type: 4,ENCRYPTED` form that `openssl genrsa -aes256` writes.
    /// A plain key is read as well; the pass phrase is then unused.
    pub fn from_pem_passphrase(pem: &[u8], passphrase: &Passphrase) -> Result<Self> {
        parse(pem, &Origin::Memory("the key"), Some(passphrase))
    }

    /// Reads a DER key: PKCS#8 (plain or, with a pass phrase, encrypted), or
    /// traditional RSA/EC DER as `openssl genrsa -outform DER` writes it.
    pub fn from_der(der: &[u8], passphrase: Option<&Passphrase>) -> Result<Self> {
        parse(der, &Origin::Memory("the key"), passphrase)
    }

    /// Reads a key file in any of the forms above, PEM or DER, naming the
    /// file in every error.
    pub fn read(path: impl AsRef<Path>, passphrase: Option<&Passphrase>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = fs::read(path)?;
        parse(&bytes, &Origin::file(path), passphrase)
    }

    /// Writes the key as PEM with mode 0600, encrypted when a pass phrase is
    /// given, atomically.
    pub fn write_pem(
        &self,
        path: impl AsRef<Path>,
        passphrase: Option<&Passphrase>,
        overwrite: Overwrite,
    ) -> Result<()> {
        let pem = match passphrase {
            Some(p) => self.to_pem_encrypted(p)?,
            None => self.to_pem()?,
        };
        fs::write_atomic(path, &pem, Secrecy::Private, overwrite)
    }

    /// The digest certificates signed by this key use: SHA-256 (SHA-384 for
    /// P-384, matching its strength), none for Ed25519, which hashes internally.
    pub(crate) fn signing_digest(&self) -> MessageDigest {
        match self.algorithm() {
            KeyAlgorithm::Ed25519 => MessageDigest::null(),
            KeyAlgorithm::Ecdsa { curve: "P-384" } => MessageDigest::sha384(),
            _ => MessageDigest::sha256(),
        }
    }

    /// Whether this key can sign certificates here.
    pub(crate) fn check_can_sign(&self, origin: &Origin) -> Result<()> {
        if self.algorithm() == KeyAlgorithm::Other {
            return Err(Error::Malformed {
                origin: origin.clone(),
                expected: "RSA, ECDSA or Ed25519 private key",
                reason: "this key algorithm is not supported for signing".to_owned(),
            });
        }
        Ok(())
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

pub(crate) fn algorithm_of(id: Id, bits: u32, curve: impl FnOnce() -> Option<Nid>) -> KeyAlgorithm {
    match id {
        Id::RSA | Id::RSA_PSS => KeyAlgorithm::Rsa { bits },
        Id::EC => KeyAlgorithm::Ecdsa {
            curve: match curve() {
                Some(Nid::X9_62_PRIME256V1) => "P-256",
                Some(Nid::SECP384R1) => "P-384",
                Some(Nid::SECP521R1) => "P-521",
                Some(other) => other.short_name().unwrap_or("unknown curve"),
                None => "unnamed curve",
            },
        },
        Id::ED25519 => KeyAlgorithm::Ed25519,
        _ => KeyAlgorithm::Other,
    }
}

/// Smallest RSA modulus `pki` signs a certificate for: browsers, curl,
/// Python and Java refuse smaller ones (NIST SP 800-131A retired them in
/// 2013), and [`KeyType`] never generates one.
pub const MIN_RSA_BITS: u32 = 2048;

/// Refuses a public key that clients would refuse or that `pki` does not
/// issue for: RSA under [`MIN_RSA_BITS`], ECDSA on curves other than P-256
/// and P-384 (the ones [`KeyType`] offers), DSA and anything else besides
/// Ed25519. `origin` is what carries the key (a CSR), for the message.
pub(crate) fn check_public_key<T: HasPublic>(public: &PKeyRef<T>, origin: &Origin) -> Result<()> {
    let weak = |key: String, reason: &'static str| {
        Err(Error::WeakKey {
            origin: origin.clone(),
            key,
            reason,
        })
    };
    let curve = || public.ec_key().ok().and_then(|k| k.group().curve_name());
    match algorithm_of(public.id(), public.bits(), curve) {
        KeyAlgorithm::Rsa { bits } if bits < MIN_RSA_BITS => weak(
            format!("an RSA {bits}-bit key"),
            "is too small: browsers, curl, Python and Java refuse RSA keys under 2048 bits",
        ),
        KeyAlgorithm::Rsa { .. } | KeyAlgorithm::Ed25519 => Ok(()),
        KeyAlgorithm::Ecdsa {
            curve: "P-256" | "P-384",
        } => Ok(()),
        KeyAlgorithm::Ecdsa { curve } => weak(
            format!("an ECDSA key on the curve {curve}"),
            "browsers do not accept in certificates; pki issues for P-256 and P-384 only",
        ),
        KeyAlgorithm::Other => {
            let name = match public.id() {
                Id::DSA => "a DSA key",
                Id::ED448 => "an Ed448 key",
                Id::X25519 | Id::X448 | Id::DH => "a key-agreement key that cannot sign",
                _ => "a key of an algorithm pki does not know",
            };
            weak(
                name.to_owned(),
                "TLS clients do not accept; pki issues for RSA (2048 bits or more), ECDSA P-256 or P-384, and Ed25519",
            )
        }
    }
}

fn rsa(bits: u32) -> Result<PKey<Private>> {
    let rsa = Rsa::generate(bits).context("generate an RSA key")?;
    PKey::from_rsa(rsa).context("wrap the RSA key")
}

fn ec(curve: Nid) -> Result<PKey<Private>> {
    let key = EcKey::generate(group(curve)?).context("generate an EC key")?;
    PKey::from_ec_key(key).context("wrap the EC key")
}

/// The curve's group, built once per process: building it costs about as
/// much as generating a key on it.
fn group(curve: Nid) -> Result<&'static EcGroup> {
    static P256: OnceLock<EcGroup> = OnceLock::new();
    static P384: OnceLock<EcGroup> = OnceLock::new();
    let cell = match curve {
        Nid::X9_62_PRIME256V1 => &P256,
        Nid::SECP384R1 => &P384,
        _ => {
            return Err(Error::Unsupported {
                what: "generating keys on curves other than P-256 and P-384",
            });
        }
    };
    if let Some(group) = cell.get() {
        return Ok(group);
    }
    let group = EcGroup::from_curve_name(curve).context("load the EC curve")?;
    Ok(cell.get_or_init(|| group))
}

/// Labels of PEM blocks that hold a private key.
const KEY_LABELS: [&str; 4] = [
    "PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
];

fn parse(bytes: &[u8], origin: &Origin, passphrase: Option<&Passphrase>) -> Result<PrivateKey> {
    let malformed = |reason: String| Error::Malformed {
        origin: origin.clone(),
        expected: "private key",
        reason,
    };
    let key = if pem::looks_like_pem(bytes) {
        let found = pem::labelled(bytes, &KEY_LABELS, origin, "private key")?;
        let block = &found[0];
        with_passphrase(origin, passphrase, |cb| {
            PKey::private_key_from_pem_callback(block.text, cb)
        })?
    } else {
        // DER: PKCS#8 (plain or encrypted) first, then traditional RSA/EC.
        match with_passphrase(origin, passphrase, |cb| {
            PKey::private_key_from_pkcs8_callback(bytes, cb)
        }) {
            Ok(key) => key,
            Err(e @ (Error::WrongPassphrase { .. } | Error::PassphraseRequired { .. })) => {
                return Err(e);
            }
            Err(_) => PKey::private_key_from_der(bytes)
                .map_err(|_| malformed(pem::neither_reason(bytes)))?,
        }
    };
    let key = PrivateKey { pkey: key };
    key.check_can_sign(origin)?;
    Ok(key)
}

/// Runs an OpenSSL read with a pass-phrase callback that never prompts, and
/// sorts failures by whether OpenSSL asked for a pass phrase.
fn with_passphrase(
    origin: &Origin,
    passphrase: Option<&Passphrase>,
    read: impl FnOnce(
        &mut dyn FnMut(&mut [u8]) -> Result<usize, openssl::error::ErrorStack>,
    ) -> Result<PKey<Private>, openssl::error::ErrorStack>,
) -> Result<PKey<Private>> {
    let asked = Cell::new(false);
    let mut callback = |buf: &mut [u8]| {
        asked.set(true);
        match passphrase {
            // A phrase longer than OpenSSL's buffer cannot be right; give it
            // nothing so the read fails as a wrong pass phrase.
            Some(p) if p.as_bytes().len() <= buf.len() => {
                buf[..p.as_bytes().len()].copy_from_slice(p.as_bytes());
                Ok(p.as_bytes().len())
            }
            _ => Ok(0),
        }
    };
    match read(&mut callback) {
        Ok(key) => Ok(key),
        Err(_) if asked.get() && passphrase.is_none() => Err(Error::PassphraseRequired {
            origin: origin.clone(),
        }),
        Err(_) if asked.get() => Err(Error::WrongPassphrase {
            origin: origin.clone(),
        }),
        Err(e) => Err(Error::Malformed {
            origin: origin.clone(),
            expected: "private key",
            reason: crate::error::openssl_reason(&e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_type_generates_and_round_trips() -> Result<()> {
        for kt in [
            KeyType::P256,
            KeyType::P384,
            KeyType::Ed25519,
            KeyType::Rsa2048,
        ] {
            let key = PrivateKey::generate(kt)?;
            let back = PrivateKey::from_pem(&key.to_pem()?)?;
            assert!(back.as_pkey().public_eq(key.as_pkey()), "{kt}");
            let back = PrivateKey::from_der(&key.to_der()?, None)?;
            assert!(back.as_pkey().public_eq(key.as_pkey()), "{kt}");
        }
        Ok(())
    }

    #[test]
    fn encrypted_key_needs_the_right_pass_phrase() -> Result<()> {
        let key = PrivateKey::generate(KeyType::P256)?;
        let pem = key.to_pem_encrypted(&Passphrase::new("right one"))?;
        assert!(String::from_utf8_lossy(&pem).contains("BEGIN ENCRYPTED PRIVATE KEY"));
        assert!(matches!(
            PrivateKey::from_pem(&pem),
            Err(Error::PassphraseRequired { .. })
        ));
        assert!(matches!(
            PrivateKey::from_pem_passphrase(&pem, &Passphrase::new("wrong one")),
            Err(Error::WrongPassphrase { .. })
        ));
        let back = PrivateKey::from_pem_passphrase(&pem, &Passphrase::new("right one"))?;
        assert!(back.as_pkey().public_eq(key.as_pkey()));
        Ok(())
    }

    #[test]
    fn debug_does_not_show_the_key() -> Result<()> {
        let key = PrivateKey::generate(KeyType::P256)?;
        let shown = format!("{key:?}");
        assert!(shown.contains("P-256"), "{shown}");
        assert!(!shown.contains("BEGIN"), "{shown}");
        Ok(())
    }

    #[test]
    fn weak_public_keys_are_refused_naming_the_key() -> Result<()> {
        let origin = Origin::Memory("the CSR");
        for kt in KeyType::ALL {
            check_public_key(PrivateKey::generate(kt)?.as_pkey(), &origin)?;
        }
        let small = PKey::from_rsa(Rsa::generate(1024).context("rsa")?).context("wrap")?;
        let err = check_public_key(&small, &origin).map_err(|e| e.to_string());
        assert!(
            matches!(&err, Err(m) if m.contains("RSA 1024-bit") && m.contains("pki key new")),
            "{err:?}"
        );
        let k1_group = EcGroup::from_curve_name(Nid::SECP256K1).context("secp256k1")?;
        let k1 =
            PKey::from_ec_key(EcKey::generate(&k1_group).context("generate")?).context("wrap")?;
        let err = check_public_key(&k1, &origin).map_err(|e| e.to_string());
        assert!(matches!(&err, Err(m) if m.contains("secp256k1")), "{err:?}");
        Ok(())
    }

    #[test]
    fn key_type_names_parse() {
        assert_eq!("P-256".parse(), Ok(KeyType::P256));
        assert_eq!("RSA4096".parse(), Ok(KeyType::Rsa4096));
        assert!("rsa1024".parse::<KeyType>().is_err());
        for kt in KeyType::ALL {
            assert_eq!(kt.as_str().parse(), Ok(kt));
        }
    }

    /// The PKCS#8 pki writes for P-256 and P-384 keys is byte for byte
    /// OpenSSL's, and reads back as the same key.
    #[test]
    fn ec_pkcs8_is_openssls() -> Result<()> {
        for kt in [KeyType::P256, KeyType::P384] {
            for _ in 0..20 {
                let key = PrivateKey::generate(kt)?;
                let ours = key.to_pem()?;
                let theirs = key
                    .pkey
                    .private_key_to_pem_pkcs8()
                    .context("encode with OpenSSL")?;
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&theirs),
                    "{kt}"
                );
                let back = PrivateKey::from_pem(&ours)?;
                assert!(back.pkey.public_eq(&key.pkey), "{kt}");
            }
        }
        Ok(())
    }
}
