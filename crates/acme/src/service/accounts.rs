//! Accounts (RFC 8555 §7.3): the directory, sign-up (with external
//! account binding), updates, deactivation, the orders list and key change.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

use super::Server;
use super::reply::{Reply, Urls};
use crate::jws::{self, AccountKey, Unverified};
use crate::problem::Problem;
use crate::store::Account;

impl Server {
    pub(super) fn directory(&self, req: &HttpRequest) -> Value {
        let urls = Urls::from_request(req, &self.prefix);
        let u = |path: &str| format!("{}/{path}", urls.base);
        json!({
            "newNonce": u("new-nonce"),
            "newAccount": u("new-account"),
            "newOrder": u("new-order"),
            "revokeCert": u("revoke-cert"),
            "keyChange": u("key-change"),
            "renewalInfo": u("renewal-info"),
            "meta": {
                "website": u(""),
                "externalAccountRequired": !self.eab.is_empty(),
                "profiles": {},
            },
        })
    }

    pub(super) fn account_json(&self, urls: &Urls, account: &Account) -> Value {
        json!({
            "status": account.status,
            "contact": account.contact,
            "orders": format!("{}/orders", urls.of("account", &account.id)),
        })
    }

    pub(super) fn new_account(&self, req: &HttpRequest, body: &[u8]) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, true)?;
        let urls = Urls::from_request(req, &self.prefix);
        if signed.jws.header.jwk.is_none() {
            return Err(Problem::malformed(
                "newAccount requests carry the account key as jwk, not a kid",
            ));
        }
        let payload = signed.payload()?;
        if let Some(account) = &signed.account {
            if account.status != "valid" {
                return Err(Problem::unauthorized(format!(
                    "the account with this key is {}",
                    account.status
                ))
                .with_status(StatusCode::UNAUTHORIZED)
                .with_location(urls.of("account", &account.id)));
            }
            return Ok(
                Reply::json(StatusCode::OK, self.account_json(&urls, account))
                    .location(urls.of("account", &account.id)),
            );
        }
        if payload["onlyReturnExisting"].as_bool() == Some(true) {
            return Err(Problem::account_does_not_exist(
                "no account has this key (onlyReturnExisting)",
            ));
        }
        let contact = contacts(&payload)?;
        let eab_kid = match (&payload["externalAccountBinding"], self.eab.is_empty()) {
            (Value::Null, true) => None,
            (Value::Null, false) => {
                return Err(Problem::external_account_required(
                    "this server issues only to accounts bound to a team key: pass the key ID \
                     and HMAC key you were given (certbot --eab-kid/--eab-hmac-key, lego \
                     --eab --kid/--hmac)",
                ));
            }
            (binding, _) => {
                let kid = jws::binding_key_id(binding)?;
                let mac = self
                    .eab
                    .iter()
                    .find(|(k, _)| *k == kid)
                    .map(|(_, mac)| mac)
                    .ok_or_else(|| {
                        Problem::unauthorized(format!(
                            "externalAccountBinding: the key ID {kid:?} is not known here"
                        ))
                    })?;
                let url = format!("{}{}", urls.origin, req.uri().path());
                jws::verify_binding(binding, mac, &signed.key, &url)?;
                Some(kid)
            }
        };
        let (account, created) = self.store.insert_account(
            &signed.key.thumbprint,
            &signed.key.jwk,
            &contact,
            eab_kid.as_deref(),
        )?;
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(Reply::json(status, self.account_json(&urls, &account))
            .location(urls.of("account", &account.id)))
    }

    pub(super) fn update_account(
        &self,
        req: &HttpRequest,
        body: &[u8],
        id: &str,
    ) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        let urls = Urls::from_request(req, &self.prefix);
        let account = signed.account()?;
        if account.id != id {
            return Err(Problem::unauthorized(
                "the request is signed by another account than the one it names",
            ));
        }
        let payload = signed.payload()?;
        if payload.get("contact").is_some() {
            self.store.set_contact(id, &contacts(&payload)?)?;
        }
        if super::asks_deactivation(&payload, "an account")? {
            self.store.deactivate_account(id)?;
        }
        let account = self
            .store
            .account(id)?
            .ok_or_else(|| Problem::not_found("account"))?;
        Ok(Reply::json(
            StatusCode::OK,
            self.account_json(&urls, &account),
        ))
    }

    pub(super) fn account_orders(
        &self,
        req: &HttpRequest,
        body: &[u8],
        id: &str,
    ) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        signed.expect_post_as_get()?;
        if signed.account()?.id != id {
            return Err(Problem::unauthorized("these are another account's orders"));
        }
        let urls = Urls::from_request(req, &self.prefix);
        let orders: Vec<String> = self
            .store
            .orders_of(id)?
            .iter()
            .map(|o| urls.of("order", o))
            .collect();
        Ok(Reply::json(StatusCode::OK, json!({ "orders": orders })))
    }

    pub(super) fn key_change(&self, req: &HttpRequest, body: &[u8]) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        let urls = Urls::from_request(req, &self.prefix);
        let account = signed.account()?;
        let inner = Unverified::from_value(&signed.payload()?)?;
        let new_jwk = inner.header.jwk.as_ref().ok_or_else(|| {
            Problem::malformed("the inner JWS of a key change must carry the new key as jwk")
        })?;
        let new_key = AccountKey::from_jwk(new_jwk)?;
        inner.verify(&new_key)?;
        if inner.header.url != signed.jws.header.url {
            return Err(Problem::malformed(
                "the inner JWS's url must be the outer one's (the keyChange URL)",
            ));
        }
        if inner.header.nonce.is_some() {
            return Err(Problem::malformed(
                "the inner JWS of a key change has no nonce",
            ));
        }
        let change: Value = serde_json::from_slice(&inner.payload)
            .map_err(|_| Problem::malformed("the inner payload is not JSON"))?;
        let account_url = urls.of("account", &account.id);
        if change["account"].as_str() != Some(account_url.as_str()) {
            return Err(Problem::malformed(format!(
                "the inner payload's account must be {account_url}"
            )));
        }
        let old = AccountKey::from_jwk(&change["oldKey"])
            .map_err(|_| Problem::malformed("the inner payload's oldKey is not a JWK"))?;
        if old.thumbprint != signed.key.thumbprint {
            return Err(Problem::unauthorized(
                "oldKey is not the account's current key",
            ));
        }
        match self
            .store
            .change_key(&account.id, &new_key.thumbprint, &new_key.jwk)?
        {
            Ok(()) => {
                let account = self
                    .store
                    .account(&account.id)?
                    .ok_or_else(|| Problem::not_found("account"))?;
                Ok(Reply::json(
                    StatusCode::OK,
                    self.account_json(&urls, &account),
                ))
            }
            Err(other) => Err(Problem::conflict(format!(
                "the new key belongs to another account ({})",
                urls.of("account", &other)
            ))
            .with_location(urls.of("account", &other))),
        }
    }
}

/// `mailto:` contacts from an account payload.
fn contacts(payload: &Value) -> Result<Vec<String>, Problem> {
    let list = match payload.get("contact") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(Problem::malformed("contact must be a list of mailto: URLs")),
    };
    list.iter()
        .map(|c| {
            let text = c.as_str().unwrap_or("");
            match text.strip_prefix("mailto:") {
                Some(addr) if addr.contains('@') && !addr.contains(',') => Ok(text.to_owned()),
                _ => Err(Problem::unsupported_contact(format!(
                    "{text:?} is not a mailto: URL with one address"
                ))),
            }
        })
        .collect()
}
