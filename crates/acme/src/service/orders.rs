//! Orders, their authorizations and challenges (RFC 8555 §7.4, §7.5):
//! what may be ordered, validation started and awaited, and finalize,
//! which signs the CSR with the CA.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use pki::{CertParams, Certificate, Csr, SubjectAltName};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::reply::{Reply, Urls};
use super::{Server, Signed};
use crate::jws::{AccountKey, unb64};
use crate::problem::Problem;
use crate::store::{Authz, CertRecord, Challenge, Identifier, NewOrder, Order, random_id};
use crate::time::{now, rfc3339, unix};
use crate::validate::Attempt;

/// How long an order and its authorizations stay open.
const ORDER_LIFETIME_SECS: i64 = 7 * 24 * 3600;
/// Seconds a client is asked to wait before polling again.
const RETRY_AFTER_SECS: u64 = 1;
/// A validation still running this long after it started was cut off by a
/// restart: a running one ends within 10 s, and one waiting in the pool
/// waits at most 256 ÷ 8 × 10 s.
const STALE_VALIDATION_SECS: i64 = 600;
/// Most identifiers in one order (Let's Encrypt's figure).
const MAX_IDENTIFIERS: usize = 100;

impl Server {
    pub(super) fn new_order(&self, req: &HttpRequest, body: &[u8]) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        let urls = Urls::from_request(req, &self.prefix);
        let account = signed.account()?;
        let payload = signed.payload()?;
        if payload.get("notBefore").is_some() || payload.get("notAfter").is_some() {
            return Err(Problem::malformed(format!(
                "notBefore and notAfter are not taken: certificates last {} days from issuance",
                self.days
            )));
        }
        let identifiers: Vec<Identifier> = serde_json::from_value(payload["identifiers"].clone())
            .map_err(|_| {
            Problem::malformed("identifiers must be a list of {\"type\", \"value\"} objects")
        })?;
        if identifiers.is_empty() || identifiers.len() > MAX_IDENTIFIERS {
            return Err(Problem::malformed(format!(
                "an order names 1 to {MAX_IDENTIFIERS} identifiers"
            )));
        }
        let mut names: Vec<Identifier> = Vec::new();
        let mut problems = Vec::new();
        for id in &identifiers {
            match self.policy.check(&self.ca, id) {
                Ok(name) => {
                    let normal = Identifier {
                        kind: id.kind.clone(),
                        value: name.to_string(),
                    };
                    if !names.contains(&normal) {
                        names.push(normal);
                    }
                }
                Err(p) => problems.push((id.clone(), p)),
            }
        }
        if let Some((_, first)) = problems.first() {
            let mut top = first.clone();
            if problems.len() > 1 {
                top.detail = format!(
                    "{} identifiers are refused; the first: {}",
                    problems.len(),
                    top.detail
                );
            }
            let subproblems: Vec<Value> = problems
                .iter()
                .map(|(id, p)| {
                    let mut doc = p.to_json();
                    doc["identifier"] = json!(id);
                    doc
                })
                .collect();
            top.extra = Some(("subproblems", Value::Array(subproblems)));
            return Err(top);
        }
        let replaces = match payload.get("replaces").and_then(Value::as_str) {
            None => None,
            Some(cert_id) => {
                let cert = self.cert_by_ari_id(cert_id)?;
                if cert.account != account.id {
                    return Err(Problem::unauthorized(
                        "replaces names a certificate of another account",
                    ));
                }
                let old_names = Certificate::from_pem(cert.pem.as_bytes())
                    .map(|c| c.subject_alt_names())
                    .unwrap_or_default();
                let shares = names
                    .iter()
                    .any(|id| old_names.iter().any(|n| n.to_string() == id.value));
                if !shares {
                    return Err(Problem::malformed(
                        "replaces names a certificate that has none of this order's identifiers",
                    ));
                }
                Some(cert_id.to_owned())
            }
        };
        let order_id = random_id()?;
        let expires = now() + ORDER_LIFETIME_SECS;
        let mut authzs = Vec::new();
        for id in &names {
            let wildcard = id.value.starts_with("*.");
            let authz = Authz {
                id: random_id()?,
                order_id: order_id.clone(),
                account: account.id.clone(),
                identifier: Identifier {
                    kind: id.kind.clone(),
                    value: id.value.trim_start_matches("*.").to_owned(),
                },
                wildcard,
                status: "pending".into(),
                expires,
            };
            // Wildcards only by DNS (RFC 8555 §7.1.3); IPs have no DNS challenge (RFC 8738).
            let kinds: &[&str] = match (wildcard, id.kind.as_str()) {
                (true, _) => &["dns-01"],
                (false, "ip") => &["http-01", "tls-alpn-01"],
                _ => &["http-01", "dns-01", "tls-alpn-01"],
            };
            let mut challenges = Vec::new();
            for kind in kinds {
                challenges.push(Challenge {
                    id: random_id()?,
                    authz: authz.id.clone(),
                    kind: (*kind).to_owned(),
                    token: random_id()?,
                    status: "pending".into(),
                    validated: None,
                    error: None,
                });
            }
            authzs.push((authz, challenges));
        }
        let order = Order {
            id: order_id.clone(),
            account: account.id.clone(),
            status: "pending".into(),
            expires,
            identifiers: names,
            error: None,
            certificate: None,
            replaces,
        };
        self.store.insert_order(&NewOrder { order, authzs })?;
        let order = self
            .store
            .order(&order_id)?
            .ok_or_else(|| Problem::internal("the order just recorded is missing"))?;
        Ok(
            Reply::json(StatusCode::CREATED, self.order_json(&urls, &order)?)
                .location(urls.of("order", &order_id)),
        )
    }

    /// The order, owned by the signer, with its expiry applied.
    pub(super) fn owned_order(&self, signed: &Signed, id: &str) -> Result<Order, Problem> {
        let order = self
            .store
            .order(id)?
            .ok_or_else(|| Problem::not_found("order"))?;
        if order.account != signed.account()?.id {
            return Err(Problem::unauthorized(
                "this order belongs to another account",
            ));
        }
        if matches!(order.status.as_str(), "pending" | "ready") && order.expires <= now() {
            self.store.expire_order(id)?;
            return self
                .store
                .order(id)?
                .ok_or_else(|| Problem::not_found("order"));
        }
        Ok(order)
    }

    pub(super) fn order_json(&self, urls: &Urls, order: &Order) -> Result<Value, Problem> {
        let authorizations: Vec<String> = self
            .store
            .authzs_of(&order.id)?
            .iter()
            .map(|a| urls.of("authz", &a.id))
            .collect();
        let mut doc = json!({
            "status": order.status,
            "expires": rfc3339(order.expires),
            "identifiers": order.identifiers,
            "authorizations": authorizations,
            "finalize": format!("{}/finalize", urls.of("order", &order.id)),
        });
        if let Some(cert) = &order.certificate {
            doc["certificate"] = json!(urls.of("cert", cert));
        }
        if let Some(error) = &order.error {
            doc["error"] = error.clone();
        }
        if let Some(replaces) = &order.replaces {
            doc["replaces"] = json!(replaces);
        }
        Ok(doc)
    }

    pub(super) fn get_order(
        &self,
        req: &HttpRequest,
        body: &[u8],
        id: &str,
    ) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        signed.expect_post_as_get()?;
        let urls = Urls::from_request(req, &self.prefix);
        let order = self.owned_order(&signed, id)?;
        let reply = Reply::json(StatusCode::OK, self.order_json(&urls, &order)?);
        Ok(if order.status == "processing" {
            reply.retry_after(RETRY_AFTER_SECS)
        } else {
            reply
        })
    }

    pub(super) fn finalize(
        &self,
        req: &HttpRequest,
        body: &[u8],
        id: &str,
    ) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        let urls = Urls::from_request(req, &self.prefix);
        let order = self.owned_order(&signed, id)?;
        if order.status != "ready" {
            return Err(Problem::order_not_ready(format!(
                "the order is {}, not ready: {}",
                order.status,
                match order.status.as_str() {
                    "pending" => "complete its authorizations first",
                    "valid" => "it has its certificate already",
                    _ => "place a new order",
                }
            )));
        }
        let payload = signed.payload()?;
        let der = unb64(payload["csr"].as_str().unwrap_or(""), "csr")?;
        let csr = Csr::from_der(&der).map_err(|e| Problem::bad_csr(e.to_string()))?;
        let names = csr_names(&csr)?;
        let mut wanted: Vec<String> = order.identifiers.iter().map(|i| i.value.clone()).collect();
        wanted.sort();
        if names != wanted {
            return Err(Problem::bad_csr(format!(
                "the CSR names {} but the order is for {}; request exactly the order's names",
                names.join(", "),
                wanted.join(", ")
            )));
        }
        if csr
            .as_x509_req()
            .public_key()
            .ok()
            .and_then(|k| k.public_key_to_der().ok())
            == signed.key.public_der()
        {
            return Err(Problem::bad_csr(
                "the CSR's key is the account key; use a key of its own for the certificate",
            ));
        }
        let account = signed.account()?.id.clone();
        let finalized = self.store.finalize(id, || {
            let cert = self.issue(&csr, &order)?;
            Ok(CertRecord {
                id: random_id()?,
                account,
                order_id: order.id.clone(),
                serial: cert.0.serial_hex(),
                pem: cert.1,
                not_before: unix(cert.0.not_before()),
                not_after: unix(cert.0.not_after()),
                revoked: None,
            })
        })?;
        if !finalized {
            return Err(Problem::order_not_ready(
                "the order was finalized by another request",
            ));
        }
        let order = self.owned_order(&signed, id)?;
        Ok(Reply::json(StatusCode::OK, self.order_json(&urls, &order)?)
            .location(urls.of("order", id)))
    }

    /// Signs the CSR for the order's names; the certificate and its PEM
    /// chain (leaf, then the issuing CA and any intermediates above it).
    pub(super) fn issue(&self, csr: &Csr, order: &Order) -> Result<(Certificate, String), Problem> {
        let names = order
            .identifiers
            .iter()
            .map(|i| SubjectAltName::parse(&i.value))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Problem::internal(e.to_string()))?;
        let ca_end = self.ca.certificate().not_after();
        let end =
            (SystemTime::now() + Duration::from_secs(u64::from(self.days) * 86_400)).min(ca_end);
        let params = CertParams::from_names(names)
            .map_err(|e| Problem::internal(e.to_string()))?
            .not_after(end);
        // The CSR's own faults are badCSR; anything else is the server's.
        csr.verify_signature()
            .and_then(|()| csr.check_key())
            .map_err(|e| Problem::bad_csr(e.to_string()))?;
        let cert = self.ca.sign_csr(csr, &params).map_err(|e| match e {
            pki::Error::CsrRequestsCa { .. } => Problem::bad_csr(e.to_string()),
            other => Problem::internal(format!("signing the certificate: {other}")),
        })?;
        let mut pem = String::from_utf8_lossy(
            &cert
                .to_pem()
                .map_err(|e| Problem::internal(e.to_string()))?,
        )
        .into_owned();
        // The issuing CA always (certbot needs a chain of at least two),
        // and the intermediates above it; the root only when it issued.
        for (i, issuer) in self.ca.issuer_chain().iter().enumerate() {
            if i > 0 && issuer.is_self_issued() {
                continue;
            }
            pem.push_str(&String::from_utf8_lossy(
                &issuer
                    .to_pem()
                    .map_err(|e| Problem::internal(e.to_string()))?,
            ));
        }
        Ok((cert, pem))
    }

    pub(super) fn authz_json(&self, urls: &Urls, authz: &Authz) -> Result<Value, Problem> {
        let challenges: Vec<Value> = self
            .store
            .challenges_of(&authz.id)?
            .iter()
            .map(|c| challenge_json(urls, c))
            .collect();
        let status = if authz.status == "pending" && authz.expires <= now() {
            "expired"
        } else {
            authz.status.as_str()
        };
        let mut doc = json!({
            "identifier": authz.identifier,
            "status": status,
            "expires": rfc3339(authz.expires),
            "challenges": challenges,
        });
        if authz.wildcard {
            doc["wildcard"] = json!(true);
        }
        Ok(doc)
    }

    pub(super) fn owned_authz(&self, signed: &Signed, id: &str) -> Result<Authz, Problem> {
        let authz = self
            .store
            .authz(id)?
            .ok_or_else(|| Problem::not_found("authorization"))?;
        if authz.account != signed.account()?.id {
            return Err(Problem::unauthorized(
                "this authorization belongs to another account",
            ));
        }
        Ok(authz)
    }

    pub(super) fn authz(&self, req: &HttpRequest, body: &[u8], id: &str) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        let urls = Urls::from_request(req, &self.prefix);
        let authz = self.owned_authz(&signed, id)?;
        self.store
            .fail_stale_validations(&authz.id, now() - STALE_VALIDATION_SECS)?;
        let payload = signed.payload()?;
        if payload.get("status").is_none() && !payload.is_null() && payload != json!({}) {
            return Err(Problem::malformed(
                "an authorization takes POST-as-GET or {\"status\": \"deactivated\"}",
            ));
        }
        if super::asks_deactivation(&payload, "an authorization")? {
            self.store.deactivate_authz(id)?;
        }
        let authz = self
            .store
            .authz(&authz.id)?
            .ok_or_else(|| Problem::not_found("authorization"))?;
        let reply = Reply::json(StatusCode::OK, self.authz_json(&urls, &authz)?);
        Ok(if authz.status == "pending" {
            reply.retry_after(RETRY_AFTER_SECS)
        } else {
            reply
        })
    }

    /// A POST to a challenge: `{}` starts its validation (a receiver that
    /// hears when it ends), an empty payload only reads it. The
    /// authorization's id for [`Server::challenge_reply`].
    pub(super) fn respond_to_challenge(
        &self,
        req: &HttpRequest,
        body: &[u8],
        id: &str,
    ) -> Result<(String, Option<oneshot::Receiver<()>>), Problem> {
        let signed = self.authenticate(req, body, false)?;
        let challenge = self
            .store
            .challenge(id)?
            .ok_or_else(|| Problem::not_found("challenge"))?;
        let authz = self.owned_authz(&signed, &challenge.authz)?;
        self.store
            .fail_stale_validations(&authz.id, now() - STALE_VALIDATION_SECS)?;
        if signed.jws.payload.is_empty() {
            return Ok((authz.id, None));
        }
        // `{}` per RFC 8555 §7.5.1; older clients add members, which are ignored.
        if !signed.payload()?.is_object() {
            return Err(Problem::malformed(
                "respond to a challenge with the payload {}",
            ));
        }
        if authz.expires <= now() {
            return Err(Problem::malformed("the authorization has expired"));
        }
        if !self.pool.has_room() {
            return Err(Problem::rate_limited(format!(
                "{} validations are waiting already; respond to the challenge again in a minute",
                crate::validate::MAX_WAITING
            )));
        }
        let done = if self.store.start_validation(&challenge.id)? {
            Some(self.spawn_validation(&signed.key, &authz, &challenge))
        } else {
            None
        };
        Ok((authz.id, done))
    }

    /// The challenge as it stands, linked to its authorization.
    pub(super) fn challenge_reply(
        &self,
        req: &HttpRequest,
        id: &str,
        authz: &str,
    ) -> Result<Reply, Problem> {
        let urls = Urls::from_request(req, &self.prefix);
        let challenge = self
            .store
            .challenge(id)?
            .ok_or_else(|| Problem::not_found("challenge"))?;
        let mut reply = Reply::json(StatusCode::OK, challenge_json(&urls, &challenge))
            .link(urls.of("authz", authz), "up");
        if challenge.status == "processing" {
            reply = reply.retry_after(RETRY_AFTER_SECS);
        }
        Ok(reply)
    }

    /// Queues the validation; the receiver hears when its outcome is recorded.
    pub(super) fn spawn_validation(
        &self,
        key: &AccountKey,
        authz: &Authz,
        challenge: &Challenge,
    ) -> oneshot::Receiver<()> {
        let (done, finished) = oneshot::channel();
        let validator = self.validator.clone();
        let store = Arc::clone(&self.store);
        let key_authorization = key.key_authorization(&challenge.token);
        let identifier = authz.identifier.clone();
        let moved = challenge.clone();
        let queued = self.pool.run(move || {
            // Its wait in the queue does not count towards looking stale.
            let _ = store.restamp_validation(&moved.id);
            let outcome = validator
                .validate(&Attempt {
                    identifier: &identifier,
                    kind: &moved.kind,
                    token: &moved.token,
                    key_authorization: &key_authorization,
                })
                .map_err(|p| {
                    let mut doc = p.to_json();
                    doc["identifier"] = json!(identifier);
                    doc
                });
            // A database failure here leaves the challenge processing until
            // `fail_stale_validations` gives up on it.
            let _ = store.finish_validation(&moved, outcome);
            let _ = done.send(());
        });
        if !queued {
            let _ = self.store.finish_validation(
                challenge,
                Err(Problem::rate_limited(
                    "too many validations are waiting; respond to the challenge again in a minute",
                )
                .to_json()),
            );
        }
        finished
    }
}

fn challenge_json(urls: &Urls, c: &Challenge) -> Value {
    let mut doc = json!({
        "type": c.kind,
        "url": urls.of("challenge", &c.id),
        "token": c.token,
        "status": c.status,
    });
    if let Some(at) = c.validated {
        doc["validated"] = json!(rfc3339(at));
    }
    if let Some(error) = &c.error {
        doc["error"] = error.clone();
    }
    doc
}

/// The names a CSR asks for (subjectAltNames and a common name), sorted.
fn csr_names(csr: &Csr) -> Result<Vec<String>, Problem> {
    let requested = csr
        .requested_extensions()
        .map_err(|e| Problem::bad_csr(e.to_string()))?;
    let mut names: Vec<String> = requested
        .subject_alt_names
        .iter()
        .map(ToString::to_string)
        .collect();
    if let Some(cn) = csr.common_name() {
        let cn = SubjectAltName::parse(&cn)
            .map(|n| n.to_string())
            .map_err(|e| Problem::bad_csr(format!("the common name: {e}")))?;
        if !names.contains(&cn) {
            names.push(cn);
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}
