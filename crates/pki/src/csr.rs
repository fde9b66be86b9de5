//! Certificate signing requests: making one (`openssl req -new`), reading
//! one that `openssl req` or another tool made, checking its signature
//! (`openssl req -verify`) and reading what it asks for.

use std::fmt;
use std::path::Path;

use openssl::stack::Stack;
use openssl::x509::{X509Req, X509ReqBuilder};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::cert::{CertParams, Profile, ip_from_bytes, one_line};
use crate::error::{Error, OpenSslContext, Origin, Result};
use crate::fs::{self, Overwrite, Secrecy};
use crate::key::PrivateKey;
use crate::name::SubjectAltName;
use crate::pem;

/// What a new CSR asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrParams {
    names: Vec<SubjectAltName>,
    common_name: Option<String>,
    organization: Option<String>,
    profile: Option<Profile>,
}

impl CsrParams {
    /// Parses the names a user typed; at least one is needed.
    pub fn new<I, S>(names: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let params = CertParams::new(names)?;
        Ok(CsrParams {
            names: params.names().to_vec(),
            common_name: None,
            organization: None,
            profile: None,
        })
    }

    /// Sets the subject CN (default: the first name).
    pub fn common_name(mut self, cn: impl Into<String>) -> Self {
        self.common_name = Some(cn.into());
        self
    }

    /// Sets the subject O.
    pub fn organization(mut self, o: impl Into<String>) -> Self {
        self.organization = Some(o.into());
        self
    }

    /// Asks for the extendedKeyUsage of a profile.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = Some(profile);
        self
    }
}

/// What a CSR asks for in its extensionRequest attribute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedExtensions {
    /// subjectAltName entries (kinds `pki` does not model are left out).
    pub subject_alt_names: Vec<SubjectAltName>,
    /// basicConstraints CA flag, when requested.
    pub ca: Option<bool>,
    /// extendedKeyUsage purposes, by OpenSSL short name (`serverAuth`) or OID.
    pub extended_key_usage: Vec<String>,
    /// Other requested extensions, by OID.
    pub other: Vec<String>,
}

/// A PKCS#10 certificate signing request.
pub struct Csr {
    req: X509Req,
    origin: Origin,
}

impl Csr {
    /// Creates and signs a CSR; replaces `openssl req -new -key k.pem -subj …
    /// -addext subjectAltName=…`.
    pub fn new(params: &CsrParams, key: &PrivateKey) -> Result<Self> {
        let mut builder = X509ReqBuilder::new().context("start a CSR")?;
        let cn = params
            .common_name
            .clone()
            .or_else(|| params.names.first().map(|n| n.to_string()))
            .unwrap_or_default();
        let subject = crate::x509::subject_name(Some(&cn), params.organization.as_deref(), None)?;
        builder
            .set_subject_name(&subject)
            .context("set the CSR subject")?;
        builder
            .set_pubkey(key.as_pkey())
            .context("set the CSR key")?;
        let mut extensions = Stack::new().context("start the CSR extensions")?;
        extensions
            .push(crate::x509::san_extension(&params.names)?)
            .context("add subjectAltName")?;
        if let Some(profile) = params.profile {
            extensions
                .push(crate::x509::eku_extension(profile)?)
                .context("add extendedKeyUsage")?;
        }
        builder
            .add_extensions(&extensions)
            .context("add the CSR extensions")?;
        builder
            .sign(key.as_pkey(), key.signing_digest())
            .context("sign the CSR")?;
        Ok(Csr {
            req: builder.build(),
            origin: Origin::Memory("the CSR"),
        })
    }

    /// Reads a PEM CSR (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`).
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        parse(pem, Origin::Memory("the CSR"))
    }

    /// Reads a DER CSR.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        parse(der, Origin::Memory("the CSR"))
    }

    /// Reads a PEM or DER CSR file, naming it in errors.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        parse(&fs::read(path)?, Origin::file(path))
    }

    /// PEM (`-----BEGIN CERTIFICATE REQUEST-----`).
    pub fn to_pem(&self) -> Result<Vec<u8>> {
        self.req.to_pem().context("encode the CSR as PEM")
    }

    /// DER; replaces `openssl req -outform DER`.
    pub fn to_der(&self) -> Result<Vec<u8>> {
        self.req.to_der().context("encode the CSR as DER")
    }

    /// Writes the CSR as PEM, mode 0644, atomically.
    pub fn write_pem(&self, path: impl AsRef<Path>, overwrite: Overwrite) -> Result<()> {
        fs::write_atomic(path, &self.to_pem()?, Secrecy::Public, overwrite)
    }

    /// The underlying OpenSSL request.
    pub fn as_x509_req(&self) -> &X509Req {
        &self.req
    }

    /// Where the CSR came from, for messages.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Checks the self-signature; replaces `openssl req -verify -noout`.
    pub fn verify_signature(&self) -> Result<()> {
        let refused = || Error::CsrSignature {
            origin: self.origin.clone(),
        };
        let key = self.req.public_key().map_err(|_| refused())?;
        match self.req.verify(&key) {
            Ok(true) => Ok(()),
            _ => Err(refused()),
        }
    }

    /// Refuses a CSR whose key clients would refuse (RSA under 2048 bits,
    /// ECDSA on a curve other than P-256 or P-384, DSA, …) with
    /// [`Error::WeakKey`], which names the CSR and the key.
    pub fn check_key(&self) -> Result<()> {
        let key = self.req.public_key().map_err(|_| Error::CsrSignature {
            origin: self.origin.clone(),
        })?;
        crate::key::check_public_key(&key, &self.origin)
    }

    /// The subject, as [`crate::Certificate::subject`] prints it.
    pub fn subject(&self) -> String {
        one_line(self.req.subject_name())
    }

    /// The subject's CN, if any.
    pub fn common_name(&self) -> Option<String> {
        self.req
            .subject_name()
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .next()
            .and_then(|e| e.data().to_string().ok())
    }

    /// The extensions the CSR asks for; replaces reading `openssl req -text`.
    pub fn requested_extensions(&self) -> Result<RequestedExtensions> {
        let der = self.to_der()?;
        let malformed = |reason: String| Error::Malformed {
            origin: self.origin.clone(),
            expected: "CSR",
            reason,
        };
        let (_, parsed) =
            x509_parser::certification_request::X509CertificationRequest::from_der(&der)
                .map_err(|e| malformed(e.to_string()))?;
        let mut out = RequestedExtensions::default();
        let Some(extensions) = parsed.requested_extensions() else {
            return Ok(out);
        };
        for ext in extensions {
            match ext {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for gn in &san.general_names {
                        if let Some(name) = from_general_name(gn)? {
                            out.subject_alt_names.push(name);
                        }
                    }
                }
                ParsedExtension::BasicConstraints(bc) => out.ca = Some(bc.ca),
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    out.extended_key_usage.extend(eku_names(eku));
                }
                ParsedExtension::KeyUsage(_) | ParsedExtension::SubjectKeyIdentifier(_) => {}
                _ => out.other.push(format!("{ext:?}")),
            }
        }
        Ok(out)
    }

    /// The names a certificate for this CSR should carry: its subjectAltNames
    /// or, for a CSR without any (what `openssl req -new` makes by default),
    /// its CN, so that the certificate never relies on CN alone.
    pub fn names(&self) -> Result<Vec<SubjectAltName>> {
        let requested = self.requested_extensions()?.subject_alt_names;
        if !requested.is_empty() {
            return Ok(requested);
        }
        match self.common_name() {
            Some(cn) => Ok(vec![SubjectAltName::parse(&cn)?]),
            None => Err(Error::NoNames),
        }
    }

    /// The profile the CSR's extendedKeyUsage asks for, if it asks.
    pub fn requested_profile(&self) -> Result<Option<Profile>> {
        let eku = self.requested_extensions()?.extended_key_usage;
        let server = eku.iter().any(|e| e == "serverAuth");
        let client = eku.iter().any(|e| e == "clientAuth");
        Ok(match (server, client) {
            (true, true) => Some(Profile::ServerClient),
            (true, false) => Some(Profile::Server),
            (false, true) => Some(Profile::Client),
            (false, false) => None,
        })
    }
}

impl fmt::Debug for Csr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Csr")
            .field("origin", &self.origin)
            .field("subject", &self.subject())
            .finish_non_exhaustive()
    }
}

impl CertParams {
    /// Parameters for signing `csr`: its names (see [`Csr::names`]), its
    /// CN, and the profile its extendedKeyUsage asks for (server if none).
    pub fn from_csr(csr: &Csr) -> Result<Self> {
        let mut params = CertParams::from_names(csr.names()?)?;
        if let Some(profile) = csr.requested_profile()? {
            params = params.profile(profile);
        }
        if let Some(cn) = csr.common_name() {
            params = params.common_name(cn);
        }
        Ok(params)
    }
}

/// extendedKeyUsage purposes by OpenSSL short name, unknown ones by OID.
pub(crate) fn eku_names(eku: &x509_parser::extensions::ExtendedKeyUsage<'_>) -> Vec<String> {
    let known = [
        (eku.server_auth, "serverAuth"),
        (eku.client_auth, "clientAuth"),
        (eku.code_signing, "codeSigning"),
        (eku.email_protection, "emailProtection"),
        (eku.time_stamping, "timeStamping"),
        (eku.ocsp_signing, "OCSPSigning"),
        (eku.any, "anyExtendedKeyUsage"),
    ];
    known
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, n)| (*n).to_owned())
        .chain(eku.other.iter().map(|oid| oid.to_id_string()))
        .collect()
}

fn from_general_name(gn: &GeneralName<'_>) -> Result<Option<SubjectAltName>> {
    Ok(match gn {
        GeneralName::DNSName(d) => Some(SubjectAltName::parse(&format!("DNS:{d}"))?),
        GeneralName::IPAddress(ip) => ip_from_bytes(ip).map(SubjectAltName::Ip),
        GeneralName::RFC822Name(e) => Some(SubjectAltName::parse(&format!("email:{e}"))?),
        GeneralName::URI(u) => Some(SubjectAltName::parse(&format!("URI:{u}"))?),
        _ => None,
    })
}

fn parse(bytes: &[u8], origin: Origin) -> Result<Csr> {
    let malformed = |reason: String| Error::Malformed {
        origin: origin.clone(),
        expected: "CSR",
        reason,
    };
    let req = if pem::looks_like_pem(bytes) {
        let found = pem::labelled(
            bytes,
            &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"],
            &origin,
            "CSR",
        )?;
        let block = &found[0];
        // OpenSSL only reads the modern label; the old one has the same contents.
        let text = String::from_utf8_lossy(block.text)
            .replace("NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST");
        X509Req::from_pem(text.as_bytes())
            .map_err(|e| malformed(crate::error::openssl_reason(&e)))?
    } else {
        X509Req::from_der(bytes).map_err(|_| malformed(pem::neither_reason(bytes)))?
    };
    Ok(Csr { req, origin })
}
