//! Building X.509 certificates: the pieces every certificate `pki` makes
//! shares (a v3 builder with a random serial and checked validity, the
//! subject, key identifiers, basicConstraints and keyUsage for CAs,
//! subjectAltName and extendedKeyUsage written as DER). CAs, self-signed
//! leaves, CSRs and CRLs all come here, so none of them reaches into
//! another for a helper.

use std::time::SystemTime;

use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString};
use openssl::bn::{BigNum, BigNumContext, MsbOption};
use openssl::ec::PointConversionForm;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, Id, PKeyRef};
use openssl::sign::Signer;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Extension, X509Name, X509NameRef};

use crate::cert::{Certificate, Profile};
use crate::error::{Error, OpenSslContext, Result};
use crate::key::{KeyAlgorithm, PrivateKey};
use crate::name::{NameConstraint, SubjectAltName};
use crate::time::{format_time, to_asn1};

/// Bits of randomness in every serial number. CA/Browser Forum rules ask for
/// at least 64; 128 (as mkcert) keeps serials unique without any state, so
/// two `pki` runs at once against one CA cannot collide.
pub const SERIAL_BITS: i32 = 128;

/// Longest CN (RFC 5280's ub-common-name).
pub(crate) const MAX_CN_LEN: usize = 64;

pub(crate) fn check_order(not_before: SystemTime, not_after: SystemTime) -> Result<()> {
    if not_after <= not_before {
        return Err(Error::Validity {
            reason: format!(
                "it would end ({}) before it starts ({})",
                format_time(not_after),
                format_time(not_before)
            ),
        });
    }
    Ok(())
}

/// A random positive serial of [`SERIAL_BITS`] bits.
pub(crate) fn random_serial() -> Result<Asn1Integer> {
    let mut bn = BigNum::new().context("allocate a serial")?;
    loop {
        bn.rand(SERIAL_BITS, MsbOption::MAYBE_ZERO, false)
            .context("draw a random serial")?;
        // Zero is not a valid serial; 2^-128 odds, but cheap to rule out.
        if bn.num_bits() > 0 {
            break;
        }
    }
    bn.to_asn1_integer().context("encode the serial")
}

pub(crate) fn start_builder<T: HasPublic>(
    subject: &X509NameRef,
    issuer: &X509NameRef,
    public: &PKeyRef<T>,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<X509Builder> {
    let mut builder = X509Builder::new().context("start a certificate")?;
    // Version 3 (encoded as 2): v1 certificates cannot carry extensions.
    builder.set_version(2).context("set version 3")?;
    let serial = random_serial()?;
    builder
        .set_serial_number(&serial)
        .context("set the serial")?;
    builder
        .set_subject_name(subject)
        .context("set the subject")?;
    builder.set_issuer_name(issuer).context("set the issuer")?;
    builder.set_pubkey(public).context("set the public key")?;
    let (start, end) = (to_asn1(not_before)?, to_asn1(not_after)?);
    builder.set_not_before(&start).context("set notBefore")?;
    builder.set_not_after(&end).context("set notAfter")?;
    Ok(builder)
}

pub(crate) fn add_ca_extensions(
    builder: &mut X509Builder,
    issuer: Option<&X509>,
    path_len: Option<u32>,
    constraints: &[NameConstraint],
) -> Result<()> {
    let mut bc = BasicConstraints::new();
    bc.critical().ca();
    if let Some(n) = path_len {
        bc.pathlen(n);
    }
    builder
        .append_extension(bc.build().context("build basicConstraints")?)
        .context("add basicConstraints")?;
    builder
        .append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .context("build keyUsage")?,
        )
        .context("add keyUsage")?;
    add_key_identifiers(builder, issuer)?;
    if !constraints.is_empty() {
        let der = crate::der::name_constraints(constraints);
        builder
            .append_extension(der_extension("2.5.29.30", true, &der)?)
            .context("add nameConstraints")?;
    }
    Ok(())
}

/// subjectKeyIdentifier always; authorityKeyIdentifier (key id) when signed
/// by another certificate, as `openssl verify -x509_strict` requires.
pub(crate) fn add_key_identifiers(builder: &mut X509Builder, issuer: Option<&X509>) -> Result<()> {
    // OpenSSL hashes the public key already in the certificate (RFC 5280
    // §4.2.1.2 method 1); encoding the key again to hash it here cost more.
    let skid = SubjectKeyIdentifier::new()
        .build(&builder.x509v3_context(None, None))
        .context("build subjectKeyIdentifier")?;
    builder
        .append_extension(skid)
        .context("add subjectKeyIdentifier")?;
    // The issuer's own key identifier, when it has one (pki's CAs always do).
    if let Some(id) = issuer.and_then(|i| i.subject_key_id()) {
        builder
            .append_extension(authority_key_id_extension(id.as_slice())?)
            .context("add authorityKeyIdentifier")?;
        return Ok(());
    }
    if let Some(issuer) = issuer {
        let akid = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&builder.x509v3_context(Some(issuer), None))
            .context("build authorityKeyIdentifier")?;
        builder
            .append_extension(akid)
            .context("add authorityKeyIdentifier")?;
    }
    Ok(())
}

/// A subjectAltName extension (non-critical: the subject is never empty).
pub(crate) fn san_extension(names: &[SubjectAltName]) -> Result<X509Extension> {
    if names.is_empty() {
        return Err(Error::NoNames);
    }
    der_extension("2.5.29.17", false, &crate::der::general_names(names))
}

/// authorityKeyIdentifier holding just the key id (for CRLs, which have no
/// X509v3 context to derive it from).
pub(crate) fn authority_key_id_extension(key_id: &[u8]) -> Result<X509Extension> {
    der_extension("2.5.29.35", false, &crate::der::key_identifier(key_id))
}

pub(crate) fn der_extension(oid: &str, critical: bool, der: &[u8]) -> Result<X509Extension> {
    let oid = Asn1Object::from_str(oid).context("parse an extension OID")?;
    let value = Asn1OctetString::new_from_bytes(der).context("wrap an extension value")?;
    X509Extension::new_from_der(&oid, critical, &value).context("build an extension")
}

/// A subject with CN, O and OU; each value cut to 64 characters (ub-name).
/// Encoded as DER here and read once by OpenSSL: its name builder costs
/// three times as much for the same bytes.
pub(crate) fn subject_name(
    cn: Option<&str>,
    o: Option<&str>,
    ou: Option<&str>,
) -> Result<X509Name> {
    X509Name::from_der(&subject_name_der(cn, o, ou)).map_err(|e| Error::InvalidSubject {
        field: "CN",
        value: cn.unwrap_or_default().to_owned(),
        reason: crate::error::openssl_reason(&e),
    })
}

/// The DER of [`subject_name`].
pub(crate) fn subject_name_der(cn: Option<&str>, o: Option<&str>, ou: Option<&str>) -> Vec<u8> {
    let values: Vec<(&[u8], String)> = [
        (crate::der::ORGANIZATION, o),
        (crate::der::ORGANIZATIONAL_UNIT, ou),
        (crate::der::COMMON_NAME, cn),
    ]
    .into_iter()
    .filter_map(|(oid, value)| {
        let value = value.filter(|v| !v.is_empty())?;
        Some((oid, value.chars().take(MAX_CN_LEN).collect()))
    })
    .collect();
    let attributes: Vec<(&[u8], &str)> = values.iter().map(|(o, v)| (*o, v.as_str())).collect();
    crate::der::name(&attributes)
}

/// extendedKeyUsage for a profile.
pub(crate) fn eku_extension(profile: Profile) -> Result<X509Extension> {
    der_extension("2.5.29.37", false, &eku_der(profile))
}

/// The extendedKeyUsage value of a profile, DER: id-kp-serverAuth is
/// 1.3.6.1.5.5.7.3.1, id-kp-clientAuth …3.2 (not through OpenSSL's
/// config-string path).
fn eku_der(profile: Profile) -> Vec<u8> {
    let purposes: Vec<u8> = profile
        .extended_key_usages()
        .iter()
        .map(|usage| if *usage == "serverAuth" { 1 } else { 2 })
        .collect();
    crate::der::extended_key_usage(&purposes)
}

/// What the leaf encoder needs of its issuer, taken once per CA.
#[derive(Debug, Clone)]
pub(crate) struct IssuerParts {
    /// The issuer's subject, DER: the leaf's issuer field.
    pub(crate) name: Vec<u8>,
    /// The issuer's subjectKeyIdentifier, for the leaf's authorityKeyIdentifier.
    pub(crate) key_id: Option<Vec<u8>>,
    /// The end of the issuer's validity, which no leaf may pass.
    pub(crate) not_after: SystemTime,
}

impl IssuerParts {
    pub(crate) fn of(issuer: &X509) -> Result<Self> {
        Ok(IssuerParts {
            not_after: crate::time::to_system_time(issuer.not_after()),
            name: issuer
                .subject_name()
                .to_der()
                .context("encode the issuer's name")?,
            key_id: issuer.subject_key_id().map(|id| id.as_slice().to_vec()),
        })
    }
}

/// What a leaf says, apart from its key and issuer.
pub(crate) struct LeafContents<'a> {
    /// The subject, DER (see [`subject_name_der`]).
    pub(crate) subject: Vec<u8>,
    pub(crate) not_before: SystemTime,
    pub(crate) not_after: SystemTime,
    pub(crate) profile: Profile,
    pub(crate) names: &'a [SubjectAltName],
}

/// The signature algorithms the leaf encoder signs with: the ones `pki`'s
/// own CA keys use, with the digest [`PrivateKey`] signs certificates with.
#[derive(Debug, Clone, Copy)]
enum Signing {
    EcdsaSha256,
    EcdsaSha384,
    RsaSha256,
    Ed25519,
}

impl Signing {
    /// By the key's own type: an RSA-PSS key (which `KeyAlgorithm` counts
    /// as RSA) signs with PSS, whose parameters only OpenSSL's builder
    /// writes, so it is left to that path.
    fn for_key(key: &PrivateKey) -> Option<Self> {
        match (key.as_pkey().id(), key.algorithm()) {
            (Id::EC, KeyAlgorithm::Ecdsa { curve: "P-256" }) => Some(Signing::EcdsaSha256),
            (Id::EC, KeyAlgorithm::Ecdsa { curve: "P-384" }) => Some(Signing::EcdsaSha384),
            (Id::RSA, _) => Some(Signing::RsaSha256),
            (Id::ED25519, _) => Some(Signing::Ed25519),
            _ => None,
        }
    }

    fn algorithm_identifier(self) -> &'static [u8] {
        match self {
            Signing::EcdsaSha256 => crate::der::ECDSA_SHA256,
            Signing::EcdsaSha384 => crate::der::ECDSA_SHA384,
            Signing::RsaSha256 => crate::der::RSA_SHA256,
            Signing::Ed25519 => crate::der::ED25519,
        }
    }

    fn sign(self, key: &PrivateKey, data: &[u8]) -> Result<Vec<u8>> {
        let ecdsa = |digest: &[u8]| {
            let ec = key.as_pkey().ec_key().context("use the CA's EC key")?;
            EcdsaSig::sign(digest, &ec)
                .and_then(|sig| sig.to_der())
                .context("sign the certificate")
        };
        match self {
            Signing::EcdsaSha256 => ecdsa(&openssl::sha::sha256(data)),
            Signing::EcdsaSha384 => ecdsa(&openssl::sha::sha384(data)),
            Signing::RsaSha256 => {
                let mut signer = Signer::new(MessageDigest::sha256(), key.as_pkey())
                    .context("start signing the certificate")?;
                signer.update(data).context("sign the certificate")?;
                signer.sign_to_vec().context("sign the certificate")
            }
            Signing::Ed25519 => Signer::new_without_digest(key.as_pkey())
                .and_then(|mut signer| signer.sign_oneshot_to_vec(data))
                .context("sign the certificate"),
        }
    }
}

/// Encodes and signs a leaf certificate as DER without OpenSSL's
/// certificate object (building one, or reading one back, costs OpenSSL
/// 3.0 more than the signature): v3, a random serial, the issuer's name,
/// and the extensions every `pki` leaf carries, in the order the OpenSSL
/// path writes them: basicConstraints, keyUsage, extendedKeyUsage, key
/// identifiers (RFC 5280 §4.2.1.2 method 1), subjectAltName. `None` when
/// the CA's key is not one of [`Signing`]'s (the caller then builds with
/// OpenSSL).
pub(crate) fn sign_leaf<T: HasPublic>(
    issuer_key: &PrivateKey,
    issuer: &IssuerParts,
    public: &PKeyRef<T>,
    leaf: &LeafContents<'_>,
) -> Result<Option<Certificate>> {
    let Some(signing) = Signing::for_key(issuer_key) else {
        return Ok(None);
    };
    use crate::der;
    check_order(leaf.not_before, leaf.not_after)?;
    let (start, end) = (encodable(leaf.not_before)?, encodable(leaf.not_after)?);
    let (spki, key_id) = subject_public_key_info(public)?;
    let key_encipherment = matches!(public.id(), Id::RSA);
    let mut extensions = vec![
        der::extension(der::BASIC_CONSTRAINTS, true, &der::NOT_A_CA),
        der::extension(der::KEY_USAGE, true, &der::leaf_key_usage(key_encipherment)),
        der::extension(der::EXT_KEY_USAGE, false, &eku_der(leaf.profile)),
        der::extension(der::SUBJECT_KEY_ID, false, &der::octet_string(&key_id)),
    ];
    if let Some(id) = &issuer.key_id {
        extensions.push(der::extension(
            der::AUTHORITY_KEY_ID,
            false,
            &der::key_identifier(id),
        ));
    }
    if leaf.names.is_empty() {
        return Err(Error::NoNames);
    }
    extensions.push(der::extension(
        der::SUBJECT_ALT_NAME,
        false,
        &der::general_names(leaf.names),
    ));
    let tbs = der::sequence(&[
        der::VERSION_3,
        &der::integer(&random_serial_bytes()?),
        signing.algorithm_identifier(),
        &issuer.name,
        &der::sequence(&[&der::time(start), &der::time(end)]),
        &leaf.subject,
        &spki,
        &der::extensions(&extensions),
    ]);
    let signature = signing.sign(issuer_key, &tbs)?;
    let certificate = der::sequence(&[
        &tbs,
        signing.algorithm_identifier(),
        &der::bit_string(&signature),
    ]);
    Ok(Some(Certificate::from_own_der(certificate)))
}

/// A time X.509 can carry, unchanged (see `time::encodable_secs`).
fn encodable(time: SystemTime) -> Result<SystemTime> {
    crate::time::encodable_secs(time).map(|_| time)
}

/// [`SERIAL_BITS`] random bits, never all zero.
fn random_serial_bytes() -> Result<[u8; (SERIAL_BITS / 8) as usize]> {
    let mut serial = [0u8; (SERIAL_BITS / 8) as usize];
    loop {
        openssl::rand::rand_bytes(&mut serial).context("draw a random serial")?;
        // Zero is not a valid serial; 2^-128 odds, but cheap to rule out.
        if serial.iter().any(|&b| b != 0) {
            return Ok(serial);
        }
    }
}

/// The SubjectPublicKeyInfo of a key, DER, and its key identifier (the
/// SHA-1 of the subjectPublicKey bits, RFC 5280 §4.2.1.2 method 1, as
/// OpenSSL computes it). P-256 and P-384 keys are encoded here from their
/// point (OpenSSL 3.0's encoder costs as much as generating the key); any
/// other goes through OpenSSL.
fn subject_public_key_info<T: HasPublic>(public: &PKeyRef<T>) -> Result<(Vec<u8>, [u8; 20])> {
    use crate::der;
    if public.id() == Id::EC {
        let ec = public.ec_key().context("read the EC public key")?;
        let curve = match ec.group().curve_name() {
            Some(Nid::X9_62_PRIME256V1) => Some(der::P256),
            Some(Nid::SECP384R1) => Some(der::P384),
            _ => None,
        };
        if let Some(curve) = curve {
            let mut ctx = BigNumContext::new().context("start encoding the public key")?;
            let point = ec
                .public_key()
                .to_bytes(ec.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)
                .context("encode the public key")?;
            let spki = der::sequence(&[
                &der::sequence(&[&der::oid(der::EC_PUBLIC_KEY), &der::oid(curve)]),
                &der::bit_string(&point),
            ]);
            return Ok((spki, openssl::sha::sha1(&point)));
        }
    }
    let spki = public
        .public_key_to_der()
        .context("encode the public key")?;
    let key_id = key_identifier(&spki)?;
    Ok((spki, key_id))
}

/// The key identifier of a SubjectPublicKeyInfo: the SHA-1 of its
/// subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1, as OpenSSL computes it).
fn key_identifier(spki: &[u8]) -> Result<[u8; 20]> {
    use x509_parser::prelude::FromDer;
    x509_parser::x509::SubjectPublicKeyInfo::from_der(spki)
        .map(|(_, info)| openssl::sha::sha1(&info.subject_public_key.data))
        .map_err(|e| Error::Malformed {
            origin: crate::error::Origin::Memory("the public key"),
            expected: "SubjectPublicKeyInfo",
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The subject pki encodes is byte for byte what OpenSSL's name
    /// builder makes of the same values, multi-byte ones included.
    #[test]
    fn subject_der_is_openssls() -> Result<()> {
        for (cn, o, ou) in [
            ("localhost", "pki development CA", "alice@host"),
            ("bücher.example", "Ünïcødé Org", ""),
            (&"x".repeat(64) as &str, "o", "ou"),
        ] {
            let ours = subject_name(Some(cn), Some(o), Some(ou))?
                .to_der()
                .context("encode")?;
            let mut builder = X509Name::builder().context("builder")?;
            for (nid, value) in [
                (Nid::ORGANIZATIONNAME, o),
                (Nid::ORGANIZATIONALUNITNAME, ou),
                (Nid::COMMONNAME, cn),
            ] {
                if !value.is_empty() {
                    builder.append_entry_by_nid(nid, value).context("append")?;
                }
            }
            let theirs = builder.build().to_der().context("encode")?;
            assert_eq!(ours, theirs, "{cn} / {o} / {ou}");
        }
        Ok(())
    }

    /// Every leaf the encoder makes is read by OpenSSL, verifies under its
    /// CA with X509_STRICT for its purpose, and carries the extensions the
    /// OpenSSL path writes: for each CA key, each leaf key and profile.
    #[test]
    fn encoded_leaves_read_and_verify_for_every_key_and_profile() -> Result<()> {
        use crate::verify::{Purpose, VerifyParams, verify};
        use crate::{Ca, CaParams, CertParams, KeyType};
        let names = [
            "localhost",
            "*.bücher.test",
            "127.0.0.1",
            "::1",
            "email:alice@example.test",
            "URI:spiffe://example.test/a,b",
        ];
        for ca_type in [
            KeyType::P256,
            KeyType::P384,
            KeyType::Rsa2048,
            KeyType::Ed25519,
        ] {
            let ca = Ca::generate(&CaParams::new().key_type(ca_type))?;
            for leaf_type in [
                KeyType::P256,
                KeyType::P384,
                KeyType::Rsa2048,
                KeyType::Ed25519,
            ] {
                for (profile, purpose) in [
                    (Profile::Server, Purpose::Server),
                    (Profile::Client, Purpose::Client),
                    (Profile::ServerClient, Purpose::Server),
                ] {
                    let params = CertParams::new(names)?.key_type(leaf_type).profile(profile);
                    let issued = ca.issue(&params)?;
                    let leaf = issued.certificate();
                    let what = format!("{ca_type} CA, {leaf_type} leaf, {profile:?}");
                    let der = leaf.to_der()?;
                    // OpenSSL reads it, and its encoding is ours.
                    assert_eq!(leaf.as_x509().to_der().context("encode")?, der, "{what}");
                    let ca_key = ca.certificate().as_x509().public_key().context("key")?;
                    assert!(leaf.as_x509().verify(&ca_key).context("verify")?, "{what}");
                    let verified = verify(
                        leaf,
                        &[],
                        &[ca.certificate().clone()],
                        &VerifyParams::new().purpose(purpose),
                    );
                    assert!(verified.is_ok(), "{what}: {verified:?}");
                    assert!(leaf.matches_key(issued.key()), "{what}");
                    assert_eq!(leaf.subject_alt_names(), params.names(), "{what}");
                    assert!(!leaf.claims_ca(), "{what}");
                    let (_, parsed) = x509_parser::parse_x509_certificate(&der)
                        .unwrap_or_else(|e| panic!("{what}: x509-parser refuses it: {e}"));
                    let critical: Vec<(String, bool)> = parsed
                        .extensions()
                        .iter()
                        .map(|e| (e.oid.to_id_string(), e.critical))
                        .collect();
                    let mut expected = vec![
                        ("2.5.29.19".to_owned(), true),
                        ("2.5.29.15".to_owned(), true),
                        ("2.5.29.37".to_owned(), false),
                        ("2.5.29.14".to_owned(), false),
                        ("2.5.29.35".to_owned(), false),
                        ("2.5.29.17".to_owned(), false),
                    ];
                    if ca.certificate().as_x509().subject_key_id().is_none() {
                        expected.remove(4);
                    }
                    assert_eq!(critical, expected, "{what}");
                    assert_eq!(
                        leaf.as_x509()
                            .authority_key_id()
                            .map(|id| id.as_slice().to_vec()),
                        ca.certificate()
                            .as_x509()
                            .subject_key_id()
                            .map(|id| id.as_slice().to_vec()),
                        "{what}"
                    );
                    let key_encipherment = parsed
                        .key_usage()
                        .ok()
                        .flatten()
                        .is_some_and(|ku| ku.value.key_encipherment());
                    assert_eq!(key_encipherment, leaf_type == KeyType::Rsa2048, "{what}");
                }
            }
        }
        Ok(())
    }

    /// An RSA-PSS CA key is not the encoder's (it would write a PKCS#1
    /// v1.5 algorithm over a PSS signature); it is left to OpenSSL.
    #[test]
    fn rsa_pss_keys_are_left_to_openssl() -> Result<()> {
        let pss = openssl::pkey_ctx::PkeyCtx::new_id(Id::RSA_PSS)
            .and_then(|mut ctx| {
                // OpenSSL's default size for RSA-PSS keys, 2048 bits.
                ctx.keygen_init()?;
                ctx.keygen()
            })
            .context("generate an RSA-PSS key")?;
        assert!(Signing::for_key(&PrivateKey::from_pkey(pss)).is_none());
        let rsa = PrivateKey::generate(crate::KeyType::Rsa2048)?;
        assert!(matches!(Signing::for_key(&rsa), Some(Signing::RsaSha256)));
        Ok(())
    }

    /// A CA key the encoder does not sign with (P-521 here) still issues,
    /// through OpenSSL's builder, a leaf that verifies.
    #[test]
    fn other_ca_keys_issue_through_openssl() -> Result<()> {
        use crate::{Ca, CertParams};
        let group = openssl::ec::EcGroup::from_curve_name(Nid::SECP521R1).context("group")?;
        let key = openssl::ec::EcKey::generate(&group)
            .and_then(openssl::pkey::PKey::from_ec_key)
            .context("key")?;
        // A self-signed CA certificate for the P-521 key, built as pki builds roots.
        let subject = subject_name(Some("P-521 CA"), None, None)?;
        let now = SystemTime::now();
        let mut builder = start_builder(
            &subject,
            &subject,
            &key,
            now,
            now + std::time::Duration::from_secs(86_400),
        )?;
        add_ca_extensions(&mut builder, None, None, &[])?;
        builder
            .sign(&key, MessageDigest::sha512())
            .context("sign")?;
        let ca = Ca::from_parts(
            Certificate::from_x509(builder.build()),
            PrivateKey::from_pkey(key),
            Vec::new(),
        )?;
        let issued = ca.issue(&CertParams::new(["localhost"])?)?;
        let ca_key = ca.certificate().as_x509().public_key().context("key")?;
        assert!(
            issued
                .certificate()
                .as_x509()
                .verify(&ca_key)
                .context("verify")?
        );
        Ok(())
    }
}
