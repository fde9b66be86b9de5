//! The little DER `pki` writes itself: GeneralNames for subjectAltName and
//! GeneralSubtrees for nameConstraints. Encoding typed names directly avoids
//! OpenSSL's comma-separated config strings, where a comma inside a URI or a
//! stray `IP:` prefix would silently change the meaning.

use std::net::IpAddr;

use crate::name::{NameConstraint, SubjectAltName};

const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OBJECT_IDENTIFIER: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
const ENUMERATED: u8 = 0x0a;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const UTF8_STRING: u8 = 0x0c;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const CONTEXT_0_CONSTRUCTED: u8 = 0xa0;
const CONTEXT_3_CONSTRUCTED: u8 = 0xa3;
const RFC822_NAME: u8 = 0x81;
const DNS_NAME: u8 = 0x82;
const URI: u8 = 0x86;
const IP_ADDRESS: u8 = 0x87;

/// `GeneralNames` for a subjectAltName extension's value.
pub(crate) fn general_names(names: &[SubjectAltName]) -> Vec<u8> {
    let body: Vec<u8> = names.iter().flat_map(general_name).collect();
    tlv(SEQUENCE, &body)
}

/// basicConstraints (2.5.29.19), the content octets of its OID.
pub(crate) const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
/// keyUsage (2.5.29.15).
pub(crate) const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// extKeyUsage (2.5.29.37).
pub(crate) const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// subjectKeyIdentifier (2.5.29.14).
pub(crate) const SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
/// authorityKeyIdentifier (2.5.29.35).
pub(crate) const AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];
/// subjectAltName (2.5.29.17).
pub(crate) const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// id-ecPublicKey (1.2.840.10045.2.1).
pub(crate) const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1, P-256 (1.2.840.10045.3.1.7).
pub(crate) const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, P-384 (1.3.132.0.34).
pub(crate) const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters.
pub(crate) const ECDSA_SHA256: &[u8] = &[
    SEQUENCE,
    0x0a,
    OBJECT_IDENTIFIER,
    0x08,
    0x2a,
    0x86,
    0x48,
    0xce,
    0x3d,
    0x04,
    0x03,
    0x02,
];
/// AlgorithmIdentifier ecdsa-with-SHA384 (1.2.840.10045.4.3.3), no parameters.
pub(crate) const ECDSA_SHA384: &[u8] = &[
    SEQUENCE,
    0x0a,
    OBJECT_IDENTIFIER,
    0x08,
    0x2a,
    0x86,
    0x48,
    0xce,
    0x3d,
    0x04,
    0x03,
    0x03,
];
/// AlgorithmIdentifier sha256WithRSAEncryption (1.2.840.113549.1.1.11), NULL parameters.
pub(crate) const RSA_SHA256: &[u8] = &[
    SEQUENCE,
    0x0d,
    OBJECT_IDENTIFIER,
    0x09,
    0x2a,
    0x86,
    0x48,
    0x86,
    0xf7,
    0x0d,
    0x01,
    0x01,
    0x0b,
    0x05,
    0x00,
];
/// AlgorithmIdentifier Ed25519 (1.3.101.112), no parameters.
pub(crate) const ED25519: &[u8] = &[SEQUENCE, 0x05, OBJECT_IDENTIFIER, 0x03, 0x2b, 0x65, 0x70];

/// A SEQUENCE of already encoded parts.
pub(crate) fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

/// An OBJECT IDENTIFIER from its content octets.
pub(crate) fn oid(content: &[u8]) -> Vec<u8> {
    tlv(OBJECT_IDENTIFIER, content)
}

/// A BIT STRING of whole bytes.
pub(crate) fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(bytes.len() + 1);
    value.push(0);
    value.extend_from_slice(bytes);
    tlv(BIT_STRING, &value)
}

/// `[n] EXPLICIT` around an encoded value.
pub(crate) fn explicit(n: u8, inner: &[u8]) -> Vec<u8> {
    tlv(CONTEXT_0_CONSTRUCTED | n, inner)
}

/// An OCTET STRING.
pub(crate) fn octet_string(bytes: &[u8]) -> Vec<u8> {
    tlv(OCTET_STRING, bytes)
}

/// An `Extension`: its OID, `critical` only when true (DER leaves out a
/// DEFAULT FALSE), and the value wrapped in an OCTET STRING.
pub(crate) fn extension(oid_content: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let mut body = oid(oid_content);
    if critical {
        body.extend([BOOLEAN, 0x01, 0xff]);
    }
    body.extend(octet_string(value));
    tlv(SEQUENCE, &body)
}

/// The `[3] EXPLICIT Extensions` of a TBSCertificate.
pub(crate) fn extensions(encoded: &[Vec<u8>]) -> Vec<u8> {
    tlv(CONTEXT_3_CONSTRUCTED, &tlv(SEQUENCE, &encoded.concat()))
}

/// `version [0] EXPLICIT INTEGER v3`.
pub(crate) const VERSION_3: &[u8] = &[CONTEXT_0_CONSTRUCTED, 0x03, INTEGER, 0x01, 0x02];

/// id-at-commonName (2.5.4.3), the content octets of its OID.
pub(crate) const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// id-at-organizationName (2.5.4.10).
pub(crate) const ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];
/// id-at-organizationalUnitName (2.5.4.11).
pub(crate) const ORGANIZATIONAL_UNIT: &[u8] = &[0x55, 0x04, 0x0b];

/// An X.501 `Name`: one relative distinguished name per attribute, in
/// order, each value a UTF8String (what OpenSSL writes for these
/// DirectoryString attributes, and what RFC 5280 §4.1.2.6 asks for).
pub(crate) fn name(attributes: &[(&[u8], &str)]) -> Vec<u8> {
    let rdns: Vec<u8> = attributes
        .iter()
        .flat_map(|(oid, value)| {
            let mut pair = tlv(OBJECT_IDENTIFIER, oid);
            pair.extend(tlv(UTF8_STRING, value.as_bytes()));
            tlv(SET, &tlv(SEQUENCE, &pair))
        })
        .collect();
    tlv(SEQUENCE, &rdns)
}

/// `NameConstraints` with permitted subtrees only.
pub(crate) fn name_constraints(permitted: &[NameConstraint]) -> Vec<u8> {
    let subtrees: Vec<u8> = permitted
        .iter()
        .flat_map(|c| {
            let base = match c {
                NameConstraint::Dns(suffix) => tlv(DNS_NAME, suffix.as_bytes()),
                NameConstraint::Ip { network, prefix } => {
                    let mut octets = ip_octets(*network);
                    let mask = prefix_mask(octets.len(), *prefix);
                    octets.extend(mask);
                    tlv(IP_ADDRESS, &octets)
                }
            };
            tlv(SEQUENCE, &base)
        })
        .collect();
    tlv(SEQUENCE, &tlv(CONTEXT_0_CONSTRUCTED, &subtrees))
}

fn general_name(name: &SubjectAltName) -> Vec<u8> {
    match name {
        SubjectAltName::Dns(dns) => tlv(DNS_NAME, dns.as_str().as_bytes()),
        SubjectAltName::Ip(ip) => tlv(IP_ADDRESS, &ip_octets(*ip)),
        SubjectAltName::Email(email) => tlv(RFC822_NAME, email.as_bytes()),
        SubjectAltName::Uri(uri) => tlv(URI, uri.as_bytes()),
    }
}

fn ip_octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

fn prefix_mask(len: usize, prefix: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let bits_here = (usize::from(prefix)).saturating_sub(i * 8).min(8);
            // `bits_here` is at most 8, so the shift stays within u16.
            (0xff00u16 >> bits_here) as u8
        })
        .collect()
}

/// A CRL entry (`RevokedCertificate`): serial, date and, unless
/// unspecified, a reasonCode entry extension (RFC 5280 §5.3.1).
pub(crate) fn revoked_entry(
    serial: &[u8],
    at: std::time::SystemTime,
    reason_code: Option<u8>,
) -> Vec<u8> {
    let mut body = integer(serial);
    body.extend(time(at));
    if let Some(code) = reason_code {
        let reason_oid = [0x06, 0x03, 0x55, 0x1d, 0x15];
        let value = tlv(OCTET_STRING, &tlv(ENUMERATED, &[code]));
        let ext = tlv(SEQUENCE, &[&reason_oid[..], &value].concat());
        body.extend(tlv(SEQUENCE, &ext));
    }
    tlv(SEQUENCE, &body)
}

/// The value of a leaf's basicConstraints: `CA:FALSE`, which DER writes as
/// an empty SEQUENCE (the default is left out).
pub(crate) const NOT_A_CA: [u8; 2] = [SEQUENCE, 0x00];

/// A keyUsage BIT STRING: digitalSignature, and keyEncipherment when asked.
pub(crate) fn leaf_key_usage(key_encipherment: bool) -> Vec<u8> {
    // Bit 0 is the most significant; DER drops trailing zero bits and says
    // how many of the last byte are unused.
    if key_encipherment {
        vec![BIT_STRING, 0x02, 0x05, 0xa0]
    } else {
        vec![BIT_STRING, 0x02, 0x07, 0x80]
    }
}

/// ExtKeyUsageSyntax: a SEQUENCE of `id-kp` purposes (1.3.6.1.5.5.7.3.n).
pub(crate) fn extended_key_usage(purposes: &[u8]) -> Vec<u8> {
    let body: Vec<u8> = purposes
        .iter()
        .flat_map(|&n| {
            tlv(
                OBJECT_IDENTIFIER,
                &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, n],
            )
        })
        .collect();
    tlv(SEQUENCE, &body)
}

/// `AuthorityKeyIdentifier` with only `[0] keyIdentifier`.
pub(crate) fn key_identifier(key_id: &[u8]) -> Vec<u8> {
    tlv(SEQUENCE, &tlv(0x80, key_id))
}

/// A positive INTEGER from big-endian magnitude bytes.
pub(crate) fn integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|&b| b == 0).collect();
    let mut value = if trimmed.first().is_none_or(|&b| b & 0x80 != 0) {
        vec![0]
    } else {
        Vec::new()
    };
    value.extend(trimmed);
    tlv(INTEGER, &value)
}

/// UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5).
pub(crate) fn time(at: std::time::SystemTime) -> Vec<u8> {
    let (y, m, d, hh, mm, ss) = crate::time::utc_parts(at);
    if (1950..2050).contains(&y) {
        let text = format!("{:02}{m:02}{d:02}{hh:02}{mm:02}{ss:02}Z", y % 100);
        tlv(UTC_TIME, text.as_bytes())
    } else {
        let text = format!("{y:04}{m:02}{d:02}{hh:02}{mm:02}{ss:02}Z");
        tlv(GENERALIZED_TIME, text.as_bytes())
    }
}

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_cover_the_prefix() {
        assert_eq!(prefix_mask(4, 8), [0xff, 0, 0, 0]);
        assert_eq!(prefix_mask(4, 12), [0xff, 0xf0, 0, 0]);
        assert_eq!(prefix_mask(4, 32), [0xff; 4]);
        assert_eq!(prefix_mask(4, 0), [0; 4]);
    }

    #[test]
    fn extensions_match_what_openssl_writes() {
        assert_eq!(leaf_key_usage(false), [0x03, 0x02, 0x07, 0x80]);
        assert_eq!(leaf_key_usage(true), [0x03, 0x02, 0x05, 0xa0]);
        assert_eq!(
            extended_key_usage(&[1]),
            [
                0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01
            ]
        );
    }

    #[test]
    fn long_values_use_long_form_lengths() {
        let v = vec![0u8; 300];
        let out = tlv(0x04, &v);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(out.len(), 304);
    }
}
