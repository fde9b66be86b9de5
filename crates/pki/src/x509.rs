//! Building X.509 certificates: the pieces every certificate `pki` makes
//! shares (a v3 builder with a random serial and checked validity, the
//! subject, key identifiers, basicConstraints and keyUsage for CAs,
//! subjectAltName and extendedKeyUsage written as DER). CAs, self-signed
//! leaves, CSRs and CRLs all come here, so none of them reaches into
//! another for a helper.

use std::time::SystemTime;

use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString};
use openssl::bn::{BigNum, MsbOption};
use openssl::pkey::{HasPublic, PKeyRef};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Extension, X509Name, X509NameRef};

use crate::cert::Profile;
use crate::error::{Error, OpenSslContext, Result};
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
    X509Name::from_der(&crate::der::name(&attributes)).map_err(|e| Error::InvalidSubject {
        field: "CN",
        value: cn.unwrap_or_default().to_owned(),
        reason: crate::error::openssl_reason(&e),
    })
}

/// extendedKeyUsage for a profile.
pub(crate) fn eku_extension(profile: Profile) -> Result<X509Extension> {
    // id-kp-serverAuth is 1.3.6.1.5.5.7.3.1, id-kp-clientAuth …3.2; written
    // as DER, not through OpenSSL's config-string path.
    let purposes: Vec<u8> = profile
        .extended_key_usages()
        .iter()
        .map(|usage| if *usage == "serverAuth" { 1 } else { 2 })
        .collect();
    der_extension(
        "2.5.29.37",
        false,
        &crate::der::extended_key_usage(&purposes),
    )
}

#[cfg(test)]
mod tests {
    use openssl::nid::Nid;

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
}
