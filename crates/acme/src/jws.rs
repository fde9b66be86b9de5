//! The signed requests of RFC 8555 §6.2: a flattened JWS (RFC 7515) whose
//! protected header names the key (`jwk` for a new account, `kid` after),
//! a nonce and the URL. Keys are JWKs (RFC 7517/7518/8037) turned into
//! OpenSSL keys, signatures are checked by OpenSSL, and an account is
//! known by its key's RFC 7638 thumbprint, which is also what challenges
//! prove (the key authorization).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{MessageDigest, hash};
use openssl::memcmp;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::problem::Problem;

/// The signature algorithms accepted, as the `algorithms` member of a
/// `badSignatureAlgorithm` problem lists them.
pub const ALGORITHMS: [&str; 5] = ["RS256", "ES256", "ES384", "ES512", "EdDSA"];

/// Smallest RSA account key accepted: what the CA accepts for certificates.
const MIN_RSA_BITS: u32 = 2048;

/// base64url without padding, as JOSE writes it.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `what` names the field for the error.
pub fn unb64(text: &str, what: &str) -> Result<Vec<u8>, Problem> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| Problem::malformed(format!("{what} is not base64url without padding")))
}

/// A request body as it arrives: the flattened JSON serialization.
#[derive(Debug, Deserialize)]
pub struct Flattened {
    protected: String,
    payload: String,
    signature: String,
    /// The unprotected header, which ACME forbids (RFC 8555 §6.2).
    header: Option<Value>,
}

/// The protected header members ACME uses.
#[derive(Debug, Deserialize)]
pub struct Header {
    /// The signature algorithm.
    pub alg: String,
    /// The account URL, for an existing account.
    pub kid: Option<String>,
    /// The key itself, for a new account (or the new key of a key change).
    pub jwk: Option<Value>,
    /// The anti-replay nonce (absent only in the inner JWS of a key change).
    pub nonce: Option<String>,
    /// The URL the request was sent to.
    pub url: Option<String>,
    /// Extensions the signer says must be understood: none are.
    pub crit: Option<Value>,
    /// RFC 7797's unencoded payload: not used by ACME.
    pub b64: Option<Value>,
}

/// A JWS whose structure is read but whose signature is not yet checked.
#[derive(Debug)]
pub struct Unverified {
    /// The decoded protected header.
    pub header: Header,
    /// The decoded payload (empty for POST-as-GET).
    pub payload: Vec<u8>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Unverified {
    /// Reads a flattened JWS from a request body.
    pub fn parse(body: &[u8]) -> Result<Self, Problem> {
        let outer: Flattened = serde_json::from_slice(body).map_err(|e| {
            Problem::malformed(format!(
                "the body is not a flattened JWS (protected, payload, signature): {e}"
            ))
        })?;
        Self::from_flattened(&outer)
    }

    /// Reads a flattened JWS that is already JSON (the inner one of a key change).
    pub fn from_value(value: &Value) -> Result<Self, Problem> {
        let outer: Flattened = serde_json::from_value(value.clone()).map_err(|e| {
            Problem::malformed(format!(
                "the inner JWS is not a flattened JWS (protected, payload, signature): {e}"
            ))
        })?;
        Self::from_flattened(&outer)
    }

    fn from_flattened(outer: &Flattened) -> Result<Self, Problem> {
        if outer.header.is_some() {
            return Err(Problem::malformed(
                "the JWS has an unprotected header; ACME puts every header member in \"protected\"",
            ));
        }
        let protected = unb64(&outer.protected, "the protected header")?;
        let header: Header = serde_json::from_slice(&protected)
            .map_err(|e| Problem::malformed(format!("the protected header is not valid: {e}")))?;
        if header.crit.is_some() || header.b64.is_some() {
            return Err(Problem::malformed(
                "the protected header names extensions (crit, b64) this server does not use",
            ));
        }
        if header.jwk.is_some() == header.kid.is_some() {
            return Err(Problem::malformed(
                "the protected header must carry exactly one of jwk and kid",
            ));
        }
        Ok(Unverified {
            header,
            payload: unb64(&outer.payload, "the payload")?,
            signing_input: format!("{}.{}", outer.protected, outer.payload),
            signature: unb64(&outer.signature, "the signature")?,
        })
    }

    /// Checks the signature with `key`; the algorithm must be one of
    /// [`ALGORITHMS`] and fit the key.
    pub fn verify(&self, key: &AccountKey) -> Result<(), Problem> {
        let alg = self.header.alg.as_str();
        if !ALGORITHMS.contains(&alg) {
            return Err(Problem::bad_signature_algorithm(format!(
                "the algorithm {alg:?} is not accepted"
            )));
        }
        let pkey = &key.pkey;
        let fits = match (alg, pkey.id()) {
            ("RS256", Id::RSA) => true,
            ("EdDSA", Id::ED25519) => true,
            ("ES256" | "ES384" | "ES512", Id::EC) => key.curve == Some(curve_of_alg(alg)),
            _ => false,
        };
        if !fits {
            return Err(Problem::bad_signature_algorithm(format!(
                "the algorithm {alg} does not fit the {} key",
                key.describe()
            )));
        }
        let input = self.signing_input.as_bytes();
        let verified = match alg {
            "EdDSA" => Verifier::new_without_digest(pkey)
                .and_then(|mut v| v.verify_oneshot(&self.signature, input)),
            "RS256" => Verifier::new(MessageDigest::sha256(), pkey).and_then(|mut v| {
                v.update(input)?;
                v.verify(&self.signature)
            }),
            _ => {
                let (digest, width) = match alg {
                    "ES256" => (MessageDigest::sha256(), 32),
                    "ES384" => (MessageDigest::sha384(), 48),
                    _ => (MessageDigest::sha512(), 66),
                };
                // JWS writes r and s as fixed-width big-endian halves; OpenSSL wants DER.
                if self.signature.len() != 2 * width {
                    return Err(Problem::malformed(format!(
                        "an {alg} signature is {} bytes, this one {}",
                        2 * width,
                        self.signature.len()
                    )));
                }
                let (r, s) = self.signature.split_at(width);
                BigNum::from_slice(r)
                    .and_then(|r| Ok((r, BigNum::from_slice(s)?)))
                    .and_then(|(r, s)| EcdsaSig::from_private_components(r, s))
                    .and_then(|sig| sig.to_der())
                    .and_then(|der| {
                        let mut v = Verifier::new(digest, pkey)?;
                        v.update(input)?;
                        v.verify(&der)
                    })
            }
        };
        match verified {
            Ok(true) => Ok(()),
            _ => Err(Problem::malformed(
                "the JWS signature does not verify with the key it names",
            )),
        }
    }
}

fn curve_of_alg(alg: &str) -> Nid {
    match alg {
        "ES256" => Nid::X9_62_PRIME256V1,
        "ES384" => Nid::SECP384R1,
        _ => Nid::SECP521R1,
    }
}

/// An account key: the JWK as sent, the OpenSSL key made from it and its
/// RFC 7638 thumbprint.
pub struct AccountKey {
    pkey: PKey<Public>,
    curve: Option<Nid>,
    /// The canonical JWK (required members only, sorted), as stored.
    pub jwk: Value,
    /// base64url(SHA-256(canonical JWK)).
    pub thumbprint: String,
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountKey")
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl AccountKey {
    /// Builds the key a JWK describes: RSA (at least 2048 bits), EC on
    /// P-256, P-384 or P-521, or Ed25519.
    pub fn from_jwk(jwk: &Value) -> Result<Self, Problem> {
        let bad = |why: String| Problem::bad_public_key(why);
        let member = |name: &str| -> Result<&str, Problem> {
            jwk.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("the JWK has no {name:?} member")))
        };
        let bytes = |name: &str| -> Result<Vec<u8>, Problem> {
            unb64(member(name)?, &format!("the JWK member {name:?}"))
        };
        let kty = member("kty")?;
        // RFC 7638: the required members only, in lexicographic order,
        // written without whitespace; spelled out, so no map ordering
        // decides the thumbprint.
        let (pkey, curve, jwk, text) = match kty {
            "RSA" => {
                let n = BigNum::from_slice(&bytes("n")?).map_err(|e| bad(e.to_string()))?;
                let e = BigNum::from_slice(&bytes("e")?).map_err(|e| bad(e.to_string()))?;
                if n.num_bits() < MIN_RSA_BITS as i32 {
                    return Err(bad(format!(
                        "the RSA key has {} bits; use at least {MIN_RSA_BITS}",
                        n.num_bits()
                    )));
                }
                let rsa = Rsa::from_public_components(n, e).map_err(|e| bad(e.to_string()))?;
                let canonical = json!({"e": member("e")?, "kty": "RSA", "n": member("n")?});
                let text = format!(
                    r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                    json!(member("e")?),
                    json!(member("n")?)
                );
                (
                    PKey::from_rsa(rsa).map_err(|e| bad(e.to_string()))?,
                    None,
                    canonical,
                    text,
                )
            }
            "EC" => {
                let crv = member("crv")?;
                let (nid, width) = match crv {
                    "P-256" => (Nid::X9_62_PRIME256V1, 32),
                    "P-384" => (Nid::SECP384R1, 48),
                    "P-521" => (Nid::SECP521R1, 66),
                    other => {
                        return Err(bad(format!(
                            "the curve {other:?} is not accepted; use P-256, P-384 or P-521"
                        )));
                    }
                };
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != width || y.len() != width {
                    return Err(bad(format!("{crv} coordinates are {width} bytes each")));
                }
                let group = EcGroup::from_curve_name(nid).map_err(|e| bad(e.to_string()))?;
                let key = BigNum::from_slice(&x)
                    .and_then(|x| Ok((x, BigNum::from_slice(&y)?)))
                    // OpenSSL checks the point here (EC_KEY_check_key
                    // included) and refuses one off the curve.
                    .and_then(|(x, y)| EcKey::from_public_key_affine_coordinates(&group, &x, &y))
                    .map_err(|_| bad(format!("the point is not on {crv}")))?;
                let canonical =
                    json!({"crv": crv, "kty": "EC", "x": member("x")?, "y": member("y")?});
                let text = format!(
                    r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                    json!(crv),
                    json!(member("x")?),
                    json!(member("y")?)
                );
                (
                    PKey::from_ec_key(key).map_err(|e| bad(e.to_string()))?,
                    Some(nid),
                    canonical,
                    text,
                )
            }
            "OKP" => {
                let crv = member("crv")?;
                if crv != "Ed25519" {
                    return Err(bad(format!(
                        "the OKP curve {crv:?} is not accepted; use Ed25519"
                    )));
                }
                let x = bytes("x")?;
                let key = PKey::public_key_from_raw_bytes(&x, Id::ED25519)
                    .map_err(|_| bad("the Ed25519 key is not 32 bytes".to_owned()))?;
                let canonical = json!({"crv": crv, "kty": "OKP", "x": member("x")?});
                let text = format!(
                    r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
                    json!(crv),
                    json!(member("x")?)
                );
                (key, None, canonical, text)
            }
            other => {
                return Err(bad(format!(
                    "the key type {other:?} is not accepted; use RSA, EC or OKP (Ed25519)"
                )));
            }
        };
        let thumbprint = hash(MessageDigest::sha256(), text.as_bytes())
            .map(b64)
            .map_err(|e| bad(e.to_string()))?;
        Ok(AccountKey {
            pkey,
            curve,
            jwk,
            thumbprint,
        })
    }

    /// Whether this key is the public half of a certificate's key (for
    /// revocation signed with the certificate's key).
    pub fn public_der(&self) -> Option<Vec<u8>> {
        self.pkey.public_key_to_der().ok()
    }

    /// The key authorization of a challenge token (RFC 8555 §8.1).
    pub fn key_authorization(&self, token: &str) -> String {
        format!("{token}.{}", self.thumbprint)
    }

    fn describe(&self) -> String {
        match self.pkey.id() {
            Id::RSA => format!("RSA {}-bit", self.pkey.bits()),
            Id::ED25519 => "Ed25519".to_owned(),
            _ => match self.curve {
                Some(Nid::X9_62_PRIME256V1) => "P-256".to_owned(),
                Some(Nid::SECP384R1) => "P-384".to_owned(),
                _ => "P-521".to_owned(),
            },
        }
    }
}

/// Checks an external account binding (RFC 8555 §7.3.4): a JWS with
/// HS256/384/512 under the team's MAC key, whose payload is the account's
/// own JWK and whose URL is the newAccount URL.
pub fn verify_binding(
    binding: &Value,
    mac_key: &[u8],
    account: &AccountKey,
    url: &str,
) -> Result<(), Problem> {
    let jws = Unverified::from_value(binding)
        .map_err(|p| Problem::malformed(format!("externalAccountBinding: {}", p.detail)))?;
    let digest = match jws.header.alg.as_str() {
        "HS256" => MessageDigest::sha256(),
        "HS384" => MessageDigest::sha384(),
        "HS512" => MessageDigest::sha512(),
        other => {
            return Err(Problem::malformed(format!(
                "externalAccountBinding: the algorithm {other:?} is not HS256, HS384 or HS512"
            )));
        }
    };
    if jws.header.nonce.is_some() || jws.header.url.as_deref() != Some(url) {
        return Err(Problem::malformed(
            "externalAccountBinding: the header must have the newAccount URL and no nonce",
        ));
    }
    let key = PKey::hmac(mac_key).map_err(|e| Problem::internal(e.to_string()))?;
    let expected = Signer::new(digest, &key)
        .and_then(|mut s| {
            s.update(jws.signing_input.as_bytes())?;
            s.sign_to_vec()
        })
        .map_err(|e| Problem::internal(e.to_string()))?;
    if expected.len() != jws.signature.len() || !memcmp::eq(&expected, &jws.signature) {
        return Err(Problem::unauthorized(
            "externalAccountBinding: the MAC does not verify with the key of that key ID",
        ));
    }
    let bound: Value = serde_json::from_slice(&jws.payload).map_err(|_| {
        Problem::malformed("externalAccountBinding: the payload is not the account's JWK")
    })?;
    let bound = AccountKey::from_jwk(&bound)?;
    if bound.thumbprint != account.thumbprint {
        return Err(Problem::unauthorized(
            "externalAccountBinding: it binds another key than the account's",
        ));
    }
    Ok(())
}

/// The key ID the binding names.
pub fn binding_key_id(binding: &Value) -> Result<String, Problem> {
    let jws = Unverified::from_value(binding)?;
    jws.header
        .kid
        .ok_or_else(|| Problem::malformed("externalAccountBinding: the header has no kid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_is_rfc_7638s_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let key = AccountKey::from_jwk(&jwk).unwrap();
        assert_eq!(
            key.thumbprint,
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(key.jwk, json!({"e": "AQAB", "kty": "RSA", "n": jwk["n"]}));
    }

    #[test]
    fn refuses_small_rsa_and_foreign_curves() {
        let small = json!({"kty": "RSA", "n": b64([0xC1u8; 128]), "e": "AQAB"});
        let err = AccountKey::from_jwk(&small).unwrap_err();
        assert_eq!(err.kind, "badPublicKey");
        assert!(err.detail.contains("1024 bits"), "{err}");
        let curve = json!({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"});
        assert!(
            AccountKey::from_jwk(&curve)
                .unwrap_err()
                .detail
                .contains("secp256k1")
        );
    }
}
