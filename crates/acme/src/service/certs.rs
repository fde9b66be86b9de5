//! Issued certificates: download, revocation (RFC 8555 §7.6) and ARI
//! renewal information (RFC 9773).

use std::time::SystemTime;

use actix_web::HttpRequest;
use actix_web::http::{StatusCode, header};
use pki::crl::RevocationReason;
use pki::{Certificate, SubjectAltName};
use serde_json::{Value, json};

use super::Server;
use super::reply::{Body, Reply};
use crate::jws::{self, unb64};
use crate::problem::Problem;
use crate::store::{CertRecord, Identifier};
use crate::time::{now, rfc3339};

/// Seconds an ARI client is asked to wait before asking again (RFC 9773 suggests hours).
const ARI_RETRY_AFTER_SECS: u64 = 6 * 3600;

impl Server {
    pub(super) fn certificate(
        &self,
        req: &HttpRequest,
        body: &[u8],
        id: &str,
    ) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        signed.expect_post_as_get()?;
        let cert = self
            .store
            .certificate(id)?
            .ok_or_else(|| Problem::not_found("certificate"))?;
        if cert.account != signed.account()?.id {
            return Err(Problem::unauthorized(
                "this certificate belongs to another account",
            ));
        }
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/pem-certificate-chain");
        if !accept.contains("pem-certificate-chain") && !accept.contains("*/*") {
            return Err(Problem::malformed(format!(
                "certificates are served as application/pem-certificate-chain, not {accept}"
            ))
            .with_status(StatusCode::NOT_ACCEPTABLE));
        }
        Ok(Reply {
            status: StatusCode::OK,
            body: Body::PemChain(cert.pem),
            location: None,
            links: Vec::new(),
            retry_after: None,
        })
    }

    pub(super) fn revoke(&self, req: &HttpRequest, body: &[u8]) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, true)?;
        let payload = signed.payload()?;
        let der = unb64(payload["certificate"].as_str().unwrap_or(""), "certificate")?;
        let cert = Certificate::from_der(&der)
            .map_err(|e| Problem::malformed(format!("certificate: {e}")))?;
        let record = self
            .store
            .certificate_by_serial(&cert.serial_hex())?
            .filter(|r| {
                Certificate::from_pem(r.pem.as_bytes())
                    .and_then(|c| c.to_der())
                    .is_ok_and(|stored| stored == der)
            })
            .ok_or_else(|| {
                Problem::malformed("this server did not issue that certificate")
                    .with_status(StatusCode::NOT_FOUND)
            })?;
        let reason = match payload.get("reason").map(Value::as_u64) {
            None => RevocationReason::Unspecified,
            Some(Some(code)) => reason_from_code(code)?,
            Some(None) => return Err(Problem::bad_revocation_reason("reason must be a number")),
        };
        let allowed = match &signed.jws.header.jwk {
            // Signed with the certificate's own key.
            Some(_) => {
                let cert_key = cert
                    .as_x509()
                    .public_key()
                    .ok()
                    .and_then(|k| k.public_key_to_der().ok());
                cert_key.is_some() && cert_key == signed.key.public_der()
            }
            None => {
                let account = signed.account()?;
                let identifiers: Vec<Identifier> = cert
                    .subject_alt_names()
                    .iter()
                    .map(|n| Identifier {
                        kind: if matches!(n, SubjectAltName::Ip(_)) {
                            "ip"
                        } else {
                            "dns"
                        }
                        .into(),
                        value: n.to_string(),
                    })
                    .collect();
                account.id == record.account
                    || self.store.holds_authorizations(&account.id, &identifiers)?
            }
        };
        if !allowed {
            return Err(Problem::unauthorized(
                "only the account that ordered the certificate, an account authorized for all \
                 its names, or the certificate's own key may revoke it",
            ));
        }
        if record.revoked.is_some() {
            return Err(Problem::already_revoked(
                "the certificate is already revoked",
            ));
        }
        // The CA directory first: `pki crl` reads it, and a crash between the
        // two is caught up at the next start (`Store::mark_serials_revoked`).
        pki::crl::revoke(&self.ca_dir, &record.serial, reason, SystemTime::now())
            .map_err(|e| Problem::internal(format!("recording the revocation: {e}")))?;
        if !self.store.mark_revoked(&record.id)? {
            return Err(Problem::already_revoked(
                "the certificate is already revoked",
            ));
        }
        Ok(Reply {
            status: StatusCode::OK,
            body: Body::Empty,
            location: None,
            links: Vec::new(),
            retry_after: None,
        })
    }

    /// The certificate an ARI id (`base64url(AKI).base64url(serial)`) names.
    pub(super) fn cert_by_ari_id(&self, ari_id: &str) -> Result<CertRecord, Problem> {
        let (aki, serial) = ari_id.split_once('.').ok_or_else(|| {
            Problem::malformed(format!(
                "{ari_id:?} is not an ARI certificate id (AKI.serial)"
            ))
        })?;
        // The issuer's key identifier, as the certificates carry it.
        let issuer = self
            .ca
            .certificate()
            .as_x509()
            .subject_key_id()
            .map(|id| jws::b64(id.as_slice()));
        if issuer.as_deref() != Some(aki) {
            return Err(Problem::not_found("certificate issued by this CA"));
        }
        let serial = unb64(serial, "the serial of the ARI id")?;
        let hex = openssl::bn::BigNum::from_slice(&serial)
            .and_then(|bn| bn.to_hex_str().map(|s| s.to_string()))
            .map_err(|_| Problem::malformed("the serial of the ARI id is not a number"))?;
        self.store
            .certificate_by_serial(&hex)?
            .ok_or_else(|| Problem::not_found("certificate"))
    }

    pub(super) fn renewal_info(&self, ari_id: &str) -> Result<Reply, Problem> {
        let cert = self.cert_by_ari_id(ari_id)?;
        let (start, end) = if cert.revoked.is_some() {
            // Renew now: the window is already open (RFC 9773 §4.2).
            let now = now();
            (now - 3600, now - 60)
        } else {
            let lifetime = cert.not_after - cert.not_before;
            let start = cert.not_before + lifetime * 2 / 3;
            (start, start + lifetime / 6)
        };
        Ok(Reply::json(
            StatusCode::OK,
            json!({ "suggestedWindow": { "start": rfc3339(start), "end": rfc3339(end) } }),
        )
        .retry_after(ARI_RETRY_AFTER_SECS))
    }
}

/// RFC 5280 reason codes ACME clients send.
fn reason_from_code(code: u64) -> Result<RevocationReason, Problem> {
    Ok(match code {
        0 => RevocationReason::Unspecified,
        1 => RevocationReason::KeyCompromise,
        2 => RevocationReason::CaCompromise,
        3 => RevocationReason::AffiliationChanged,
        4 => RevocationReason::Superseded,
        5 => RevocationReason::CessationOfOperation,
        6 => RevocationReason::CertificateHold,
        9 => RevocationReason::PrivilegeWithdrawn,
        other => {
            return Err(Problem::bad_revocation_reason(format!(
                "reason {other} is not one this CA records (0-6 or 9)"
            )));
        }
    })
}
