//! Where the ACME state lives: one SQLite file (`acme.sqlite3`) in the CA
//! directory, so accounts, orders, authorizations, certificates and nonces
//! survive a restart or `kill -9`. SQLite gives what a server writing from
//! several threads, and sometimes two processes on one CA directory, needs
//! without a daemon: transactions (an order is finalized and its
//! certificate recorded, or neither), file locking between processes (WAL
//! journal, a busy timeout instead of "database is locked"), and every
//! commit written before the answer leaves.
//!
//! Nonces cost no write to hand out (every answer carries one): each is
//! its issue time and random bytes under a MAC whose key is in the
//! database, and only a spent nonce is recorded, until it would have
//! expired anyway.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use openssl::hash::MessageDigest;
use openssl::memcmp;
use openssl::pkey::PKey;
use openssl::rand::rand_bytes;
use openssl::sign::Signer;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde_json::Value;

use crate::jws::b64;
use crate::problem::Problem;
use crate::time::now;

/// The database file's name in the CA directory.
pub const DB_FILE: &str = "acme.sqlite3";

/// How long an unused nonce stays good.
const NONCE_LIFETIME_SECS: i64 = 3600;
/// A nonce: 8 bytes of issue time and 8 random bytes, then a MAC over them.
const NONCE_BODY: usize = 16;
const NONCE_MAC: usize = 16;

/// How long another process may hold the write lock before a request fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS used_nonces (
    value TEXT PRIMARY KEY,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    thumbprint TEXT NOT NULL UNIQUE,
    jwk TEXT NOT NULL,
    status TEXT NOT NULL,
    contact TEXT NOT NULL,
    eab_kid TEXT,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(id),
    status TEXT NOT NULL,
    expires INTEGER NOT NULL,
    identifiers TEXT NOT NULL,
    error TEXT,
    certificate TEXT,
    replaces TEXT,
    created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_account ON orders(account);
CREATE TABLE IF NOT EXISTS authzs (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders(id),
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    wildcard INTEGER NOT NULL,
    status TEXT NOT NULL,
    expires INTEGER NOT NULL,
    position INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS authzs_by_order ON authzs(order_id);
CREATE TABLE IF NOT EXISTS challenges (
    id TEXT PRIMARY KEY,
    authz TEXT NOT NULL REFERENCES authzs(id),
    kind TEXT NOT NULL,
    token TEXT NOT NULL,
    status TEXT NOT NULL,
    started INTEGER,
    validated INTEGER,
    error TEXT,
    position INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS challenges_by_authz ON challenges(authz);
CREATE TABLE IF NOT EXISTS certificates (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(id),
    order_id TEXT NOT NULL REFERENCES orders(id),
    serial TEXT NOT NULL UNIQUE,
    pem TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    revoked INTEGER,
    created INTEGER NOT NULL
);
";

/// A new random identifier for a URL or a token: 16 bytes (128 bits), base64url.
pub fn random_id() -> Result<String, Problem> {
    let mut bytes = [0u8; 16];
    rand_bytes(&mut bytes)
        .map_err(|e| Problem::internal(format!("no random bytes from OpenSSL: {e}")))?;
    Ok(b64(bytes))
}

/// An identifier of an order: `dns` or `ip`, and its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identifier {
    /// `dns` or `ip`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The name or address.
    pub value: String,
}

/// An account.
#[derive(Debug, Clone)]
pub struct Account {
    /// Its id (the last segment of its URL).
    pub id: String,
    /// Its key, as a canonical JWK.
    pub jwk: Value,
    /// `valid` or `deactivated`.
    pub status: String,
    /// Its contact URLs.
    pub contact: Vec<String>,
}

/// An order.
#[derive(Debug, Clone)]
pub struct Order {
    /// Its id.
    pub id: String,
    /// The account that placed it.
    pub account: String,
    /// `pending`, `ready`, `processing`, `valid` or `invalid`.
    pub status: String,
    /// When it expires, Unix seconds.
    pub expires: i64,
    /// What it asks for.
    pub identifiers: Vec<Identifier>,
    /// Why it became invalid.
    pub error: Option<Value>,
    /// The id of its certificate, once issued.
    pub certificate: Option<String>,
    /// The ARI certificate id it replaces.
    pub replaces: Option<String>,
}

/// An authorization.
#[derive(Debug, Clone)]
pub struct Authz {
    /// Its id.
    pub id: String,
    /// Its order.
    pub order_id: String,
    /// The account it belongs to.
    pub account: String,
    /// The identifier (without `*.` for a wildcard).
    pub identifier: Identifier,
    /// Whether the order asked for `*.` this name.
    pub wildcard: bool,
    /// `pending`, `valid`, `invalid`, `deactivated`, `expired` or `revoked`.
    pub status: String,
    /// When it expires, Unix seconds.
    pub expires: i64,
}

/// A challenge.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// Its id.
    pub id: String,
    /// Its authorization.
    pub authz: String,
    /// `http-01`, `dns-01` or `tls-alpn-01`.
    pub kind: String,
    /// The random token.
    pub token: String,
    /// `pending`, `processing`, `valid` or `invalid`.
    pub status: String,
    /// When it was validated, Unix seconds.
    pub validated: Option<i64>,
    /// Why it failed.
    pub error: Option<Value>,
}

/// An issued certificate.
#[derive(Debug, Clone)]
pub struct CertRecord {
    /// Its id.
    pub id: String,
    /// The account that ordered it.
    pub account: String,
    /// The order it answered.
    pub order_id: String,
    /// Its serial, uppercase hex as `openssl x509 -serial` prints it.
    pub serial: String,
    /// The leaf and its chain, PEM.
    pub pem: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// When it was revoked, Unix seconds.
    pub revoked: Option<i64>,
}

/// A new order, with one authorization per identifier and its challenges.
#[derive(Debug)]
pub struct NewOrder {
    /// The order.
    pub order: Order,
    /// Its authorizations, each with its challenges.
    pub authzs: Vec<(Authz, Vec<Challenge>)>,
}

/// The database.
pub struct Store {
    conn: Mutex<Connection>,
    /// The MAC key of nonces, shared by every server on the directory.
    nonce_key: PKey<openssl::pkey::Private>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn json_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(Value::to_string)
}

fn parse_json(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, rusqlite::Error> {
        let conn = Connection::open(dir.join(DB_FILE))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL lets readers go on while one process writes. NORMAL: a commit
        // is in the WAL (the OS's, once written) before the answer leaves,
        // so a killed server loses nothing; only a power cut may lose the
        // last commits, and the WAL is synced at each checkpoint.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        // Every statement stays prepared (rusqlite keeps 16 by default).
        conn.set_prepared_statement_cache_capacity(64);
        // The first server on the directory makes the key; the others read it.
        let mut key = [0u8; 32];
        rand_bytes(&mut key).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        conn.prepare_cached(
            "INSERT INTO secrets (name, value) VALUES ('nonce-key', ?1) ON CONFLICT DO NOTHING",
        )?
        .execute(params![key.to_vec()])?;
        let nonce_key: Vec<u8> = conn
            .prepare_cached("SELECT value FROM secrets WHERE name = 'nonce-key'")?
            .query_row([], |r| r.get(0))?;
        let nonce_key = PKey::hmac(&nonce_key)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Store {
            conn: Mutex::new(conn),
            nonce_key,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (the
        // transaction rolls back), so the connection stays usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh nonce. Handing one out touches no database: it is the time,
    /// random bytes and a MAC under this CA directory's nonce key, so any
    /// server on the directory, before or after a restart, can check it.
    pub fn new_nonce(&self) -> Result<String, Problem> {
        let mut body = [0u8; NONCE_BODY];
        body[..8].copy_from_slice(&now().to_be_bytes());
        rand_bytes(&mut body[8..])
            .map_err(|e| Problem::internal(format!("no random bytes from OpenSSL: {e}")))?;
        let mut nonce = body.to_vec();
        nonce.extend_from_slice(&self.nonce_mac(&body)?);
        Ok(b64(nonce))
    }

    fn nonce_mac(&self, body: &[u8]) -> Result<Vec<u8>, Problem> {
        let mut signer = Signer::new(MessageDigest::sha256(), &self.nonce_key)
            .map_err(|e| Problem::internal(e.to_string()))?;
        signer
            .update(body)
            .and_then(|()| signer.sign_to_vec())
            .map(|mac| mac[..NONCE_MAC].to_vec())
            .map_err(|e| Problem::internal(e.to_string()))
    }

    /// Spends a nonce: true once for each nonce a server on this directory
    /// gave out in the last hour, false ever after (the used ones are
    /// recorded until they would have expired).
    pub fn use_nonce(&self, nonce: &str) -> Result<bool, Problem> {
        let Ok(bytes) =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, nonce)
        else {
            return Ok(false);
        };
        if bytes.len() != NONCE_BODY + NONCE_MAC {
            return Ok(false);
        }
        let (body, mac) = bytes.split_at(NONCE_BODY);
        if !memcmp::eq(&self.nonce_mac(body)?, mac) {
            return Ok(false);
        }
        let mut issued = [0u8; 8];
        issued.copy_from_slice(&body[..8]);
        let issued = i64::from_be_bytes(issued);
        let at = now();
        if issued > at + 60 || at - issued > NONCE_LIFETIME_SECS {
            return Ok(false);
        }
        let conn = self.conn();
        let fresh = conn
            .prepare_cached(
                "INSERT INTO used_nonces (value, expires) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?
            .execute(params![nonce, issued + NONCE_LIFETIME_SECS])?
            == 1;
        // Spent nonces pile up; pruned now and then.
        if body[8] == 0 {
            conn.prepare_cached("DELETE FROM used_nonces WHERE expires < ?1")?
                .execute(params![at])?;
        }
        Ok(fresh)
    }

    fn account_from(row: &Row<'_>) -> rusqlite::Result<Account> {
        let jwk: String = row.get(1)?;
        let contact: String = row.get(3)?;
        Ok(Account {
            id: row.get(0)?,
            jwk: serde_json::from_str(&jwk).unwrap_or(Value::Null),
            status: row.get(2)?,
            contact: serde_json::from_str(&contact).unwrap_or_default(),
        })
    }

    /// The account with this key thumbprint.
    pub fn account_by_thumbprint(&self, thumbprint: &str) -> Result<Option<Account>, Problem> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, jwk, status, contact FROM accounts WHERE thumbprint = ?1",
                params![thumbprint],
                Self::account_from,
            )
            .optional()?)
    }

    /// The account with this id.
    pub fn account(&self, id: &str) -> Result<Option<Account>, Problem> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, jwk, status, contact FROM accounts WHERE id = ?1",
                params![id],
                Self::account_from,
            )
            .optional()?)
    }

    /// Records a new account, or returns the one that has this key already
    /// (two sign-ups with one key racing each other make one account).
    pub fn insert_account(
        &self,
        thumbprint: &str,
        jwk: &Value,
        contact: &[String],
        eab_kid: Option<&str>,
    ) -> Result<(Account, bool), Problem> {
        let id = random_id()?;
        let contact_text = serde_json::to_string(contact).unwrap_or_else(|_| "[]".into());
        let inserted = self
            .conn()
            .prepare_cached(
                "INSERT INTO accounts (id, thumbprint, jwk, status, contact, eab_kid, created)
             VALUES (?1, ?2, ?3, 'valid', ?4, ?5, ?6) ON CONFLICT (thumbprint) DO NOTHING",
            )?
            .execute(params![
                id,
                thumbprint,
                jwk.to_string(),
                contact_text,
                eab_kid,
                now()
            ])?;
        let account = self
            .account_by_thumbprint(thumbprint)?
            .ok_or_else(|| Problem::internal("the account just recorded is missing"))?;
        Ok((account, inserted == 1))
    }

    /// Replaces an account's contact list.
    pub fn set_contact(&self, id: &str, contact: &[String]) -> Result<(), Problem> {
        let text = serde_json::to_string(contact).unwrap_or_else(|_| "[]".into());
        self.conn()
            .prepare_cached("UPDATE accounts SET contact = ?2 WHERE id = ?1")?
            .execute(params![id, text])?;
        Ok(())
    }

    /// Deactivates an account and its pending authorizations (RFC 8555 §7.3.6).
    pub fn deactivate_account(&self, id: &str) -> Result<(), Problem> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("UPDATE accounts SET status = 'deactivated' WHERE id = ?1")?
            .execute(params![id])?;
        tx.prepare_cached("UPDATE authzs SET status = 'deactivated' WHERE account = ?1 AND status IN ('pending', 'valid')")?.execute(params![id])?;
        tx.commit()?;
        Ok(())
    }

    /// Gives an account a new key; `Err(other account id)` if another
    /// account has that key.
    pub fn change_key(
        &self,
        id: &str,
        thumbprint: &str,
        jwk: &Value,
    ) -> Result<Result<(), String>, Problem> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let other: Option<String> = tx
            .prepare_cached("SELECT id FROM accounts WHERE thumbprint = ?1")?
            .query_row(params![thumbprint], |r| r.get(0))
            .optional()?;
        if let Some(other) = other {
            return Ok(Err(other));
        }
        tx.prepare_cached("UPDATE accounts SET thumbprint = ?2, jwk = ?3 WHERE id = ?1")?
            .execute(params![id, thumbprint, jwk.to_string()])?;
        tx.commit()?;
        Ok(Ok(()))
    }

    /// Records an order with its authorizations and challenges.
    pub fn insert_order(&self, new: &NewOrder) -> Result<(), Problem> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let o = &new.order;
        // One live order replaces a certificate (RFC 9773 §5); checked in
        // the write transaction, so two racing orders cannot both.
        if let Some(replaces) = &o.replaces {
            let taken: bool = tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM orders WHERE replaces = ?1
                     AND (status IN ('processing', 'valid')
                          OR (status IN ('pending', 'ready') AND expires > ?2)))",
                )?
                .query_row(params![replaces, now()], |r| r.get(0))?;
            if taken {
                return Err(Problem::already_replaced(
                    "another order already replaces that certificate",
                ));
            }
        }
        let identifiers = serde_json::to_string(&o.identifiers).unwrap_or_else(|_| "[]".into());
        tx.prepare_cached(
            "INSERT INTO orders (id, account, status, expires, identifiers, replaces, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            o.id,
            o.account,
            o.status,
            o.expires,
            identifiers,
            o.replaces,
            now()
        ])?;
        for (position, (a, challenges)) in new.authzs.iter().enumerate() {
            tx.prepare_cached("INSERT INTO authzs (id, order_id, account, kind, value, wildcard, status, expires, position)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?.execute(params![
                    a.id,
                    a.order_id,
                    a.account,
                    a.identifier.kind,
                    a.identifier.value,
                    a.wildcard,
                    a.status,
                    a.expires,
                    position
                ])?;
            for (position, c) in challenges.iter().enumerate() {
                tx.prepare_cached(
                    "INSERT INTO challenges (id, authz, kind, token, status, position)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![c.id, c.authz, c.kind, c.token, c.status, position])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn order_from(row: &Row<'_>) -> rusqlite::Result<Order> {
        let identifiers: String = row.get(4)?;
        Ok(Order {
            id: row.get(0)?,
            account: row.get(1)?,
            status: row.get(2)?,
            expires: row.get(3)?,
            identifiers: serde_json::from_str(&identifiers).unwrap_or_default(),
            error: parse_json(row.get(5)?),
            certificate: row.get(6)?,
            replaces: row.get(7)?,
        })
    }

    /// The order with this id.
    pub fn order(&self, id: &str) -> Result<Option<Order>, Problem> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, account, status, expires, identifiers, error, certificate, replaces
                 FROM orders WHERE id = ?1",
                params![id],
                Self::order_from,
            )
            .optional()?)
    }

    /// The ids of an account's orders, oldest first.
    pub fn orders_of(&self, account: &str) -> Result<Vec<String>, Problem> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT id FROM orders WHERE account = ?1 ORDER BY created, rowid")?;
        let ids = stmt
            .query_map(params![account], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    }

    fn authz_from(row: &Row<'_>) -> rusqlite::Result<Authz> {
        Ok(Authz {
            id: row.get(0)?,
            order_id: row.get(1)?,
            account: row.get(2)?,
            identifier: Identifier {
                kind: row.get(3)?,
                value: row.get(4)?,
            },
            wildcard: row.get(5)?,
            status: row.get(6)?,
            expires: row.get(7)?,
        })
    }

    const AUTHZ_COLUMNS: &str =
        "SELECT id, order_id, account, kind, value, wildcard, status, expires FROM authzs";

    /// The authorization with this id.
    pub fn authz(&self, id: &str) -> Result<Option<Authz>, Problem> {
        Ok(self
            .conn()
            .query_row(
                &format!("{} WHERE id = ?1", Self::AUTHZ_COLUMNS),
                params![id],
                Self::authz_from,
            )
            .optional()?)
    }

    /// An order's authorizations, in the order's order.
    pub fn authzs_of(&self, order_id: &str) -> Result<Vec<Authz>, Problem> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "{} WHERE order_id = ?1 ORDER BY position",
            Self::AUTHZ_COLUMNS
        ))?;
        let rows = stmt
            .query_map(params![order_id], Self::authz_from)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn challenge_from(row: &Row<'_>) -> rusqlite::Result<Challenge> {
        Ok(Challenge {
            id: row.get(0)?,
            authz: row.get(1)?,
            kind: row.get(2)?,
            token: row.get(3)?,
            status: row.get(4)?,
            validated: row.get(5)?,
            error: parse_json(row.get(6)?),
        })
    }

    const CHALLENGE_COLUMNS: &str =
        "SELECT id, authz, kind, token, status, validated, error FROM challenges";

    /// The challenge with this id.
    pub fn challenge(&self, id: &str) -> Result<Option<Challenge>, Problem> {
        Ok(self
            .conn()
            .query_row(
                &format!("{} WHERE id = ?1", Self::CHALLENGE_COLUMNS),
                params![id],
                Self::challenge_from,
            )
            .optional()?)
    }

    /// An authorization's challenges.
    pub fn challenges_of(&self, authz: &str) -> Result<Vec<Challenge>, Problem> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "{} WHERE authz = ?1 ORDER BY position",
            Self::CHALLENGE_COLUMNS
        ))?;
        let rows = stmt
            .query_map(params![authz], Self::challenge_from)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Moves a challenge from pending to processing; false if it was not
    /// pending or its authorization is no longer pending (a second POST
    /// does not start a second validation).
    pub fn start_validation(&self, challenge: &str) -> Result<bool, Problem> {
        let n = self.conn().prepare_cached("UPDATE challenges SET status = 'processing', started = ?2 WHERE id = ?1 AND status = 'pending'
             AND (SELECT status FROM authzs WHERE authzs.id = challenges.authz) = 'pending'")?.execute(params![challenge, now()])?;
        Ok(n == 1)
    }

    /// Stamps a validation's start when a thread takes it up.
    pub fn restamp_validation(&self, challenge: &str) -> Result<(), Problem> {
        self.conn()
            .prepare_cached(
                "UPDATE challenges SET started = ?2 WHERE id = ?1 AND status = 'processing'",
            )?
            .execute(params![challenge, now()])?;
        Ok(())
    }

    /// Records a validation's outcome on the challenge, its authorization
    /// and its order, in one transaction.
    pub fn finish_validation(
        &self,
        challenge: &Challenge,
        outcome: Result<(), Value>,
    ) -> Result<(), Problem> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (status, error) = match &outcome {
            Ok(()) => ("valid", None),
            Err(e) => ("invalid", Some(e.clone())),
        };
        // Only a validation still running records its outcome, and only the
        // first outcome for an authorization decides it and its order (two
        // challenges of one authorization may run at once).
        let recorded = tx
            .prepare_cached(
                "UPDATE challenges SET status = ?2, validated = ?3, error = ?4
             WHERE id = ?1 AND status = 'processing'",
            )?
            .execute(params![
                challenge.id,
                status,
                outcome.is_ok().then(now),
                json_text(&error)
            ])?;
        let decided = recorded == 1
            && tx
                .prepare_cached(
                    "UPDATE authzs SET status = ?2 WHERE id = ?1 AND status = 'pending'",
                )?
                .execute(params![challenge.authz, status])?
                == 1;
        if decided {
            let order_id: String = tx
                .prepare_cached("SELECT order_id FROM authzs WHERE id = ?1")?
                .query_row(params![challenge.authz], |r| r.get(0))?;
            if let Some(error) = &error {
                let order_error = serde_json::json!({
                    "type": format!("{}{}", crate::problem::NAMESPACE, "unauthorized"),
                    "detail": "an authorization of this order failed",
                    "subproblems": [error],
                });
                tx.prepare_cached("UPDATE orders SET status = 'invalid', error = ?2 WHERE id = ?1 AND status = 'pending'")?.execute(params![order_id, order_error.to_string()])?;
            } else {
                tx.prepare_cached("UPDATE orders SET status = 'ready' WHERE id = ?1 AND status = 'pending'
                     AND NOT EXISTS (SELECT 1 FROM authzs WHERE order_id = ?1 AND status != 'valid')")?.execute(params![order_id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Fails the validations of an authorization that started before
    /// `cutoff` and never finished (their server died or restarted), so the
    /// client learns to order again instead of polling for ever.
    pub fn fail_stale_validations(&self, authz: &str, cutoff: i64) -> Result<(), Problem> {
        let stale: Vec<Challenge> = {
            let conn = self.conn();
            let mut stmt = conn.prepare_cached(&format!(
                "{} WHERE authz = ?1 AND status = 'processing' AND started < ?2",
                Self::CHALLENGE_COLUMNS
            ))?;
            stmt.query_map(params![authz, cutoff], Self::challenge_from)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        };
        for challenge in stale {
            let problem = Problem::internal(
                "the validation was interrupted (the server stopped); place a new order",
            );
            self.finish_validation(&challenge, Err(problem.to_json()))?;
        }
        Ok(())
    }

    /// Deactivates an authorization (RFC 8555 §7.5.2); its order can no
    /// longer become ready.
    pub fn deactivate_authz(&self, id: &str) -> Result<(), Problem> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("UPDATE authzs SET status = 'deactivated' WHERE id = ?1 AND status IN ('pending', 'valid')")?.execute(params![id])?;
        tx.prepare_cached("UPDATE orders SET status = 'invalid' WHERE id = (SELECT order_id FROM authzs WHERE id = ?1)
             AND status IN ('pending', 'ready')")?.execute(params![id])?;
        tx.commit()?;
        Ok(())
    }

    /// Marks an order invalid (it expired).
    pub fn expire_order(&self, id: &str) -> Result<(), Problem> {
        self.conn().prepare_cached("UPDATE orders SET status = 'invalid' WHERE id = ?1 AND status IN ('pending', 'ready')")?.execute(params![id])?;
        Ok(())
    }

    /// Finalizes a ready order: `issue` makes the certificate, then the
    /// certificate is recorded and the order becomes valid in one commit. A
    /// crash before the commit leaves the order ready and no certificate
    /// recorded; `Ok(false)` if the order was not ready (any more).
    pub fn finalize(
        &self,
        order_id: &str,
        issue: impl FnOnce() -> Result<CertRecord, Problem>,
    ) -> Result<bool, Problem> {
        // Signed before the write lock is taken: a certificate from a
        // request that loses a race with another finalize is dropped unseen.
        let cert = issue()?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let status: Option<String> = tx
            .prepare_cached("SELECT status FROM orders WHERE id = ?1")?
            .query_row(params![order_id], |r| r.get(0))
            .optional()?;
        if status.as_deref() != Some("ready") {
            return Ok(false);
        }
        tx.prepare_cached("INSERT INTO certificates (id, account, order_id, serial, pem, not_before, not_after, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?.execute(params![
                cert.id,
                cert.account,
                cert.order_id,
                cert.serial,
                cert.pem,
                cert.not_before,
                cert.not_after,
                now()
            ])?;
        tx.prepare_cached("UPDATE orders SET status = 'valid', certificate = ?2 WHERE id = ?1")?
            .execute(params![order_id, cert.id])?;
        // Tests kill the server here: nothing of this order may survive.
        pki::fs::pause_point("acme-certificate-recorded");
        tx.commit()?;
        Ok(true)
    }

    fn cert_from(row: &Row<'_>) -> rusqlite::Result<CertRecord> {
        Ok(CertRecord {
            id: row.get(0)?,
            account: row.get(1)?,
            order_id: row.get(2)?,
            serial: row.get(3)?,
            pem: row.get(4)?,
            not_before: row.get(5)?,
            not_after: row.get(6)?,
            revoked: row.get(7)?,
        })
    }

    const CERT_COLUMNS: &str = "SELECT id, account, order_id, serial, pem, not_before, not_after, revoked FROM certificates";

    /// The certificate with this id.
    pub fn certificate(&self, id: &str) -> Result<Option<CertRecord>, Problem> {
        Ok(self
            .conn()
            .query_row(
                &format!("{} WHERE id = ?1", Self::CERT_COLUMNS),
                params![id],
                Self::cert_from,
            )
            .optional()?)
    }

    /// The certificate with this serial (uppercase hex).
    pub fn certificate_by_serial(&self, serial: &str) -> Result<Option<CertRecord>, Problem> {
        Ok(self
            .conn()
            .query_row(
                &format!("{} WHERE serial = ?1", Self::CERT_COLUMNS),
                params![serial],
                Self::cert_from,
            )
            .optional()?)
    }

    /// Marks a certificate revoked; false if it already was.
    pub fn mark_revoked(&self, id: &str) -> Result<bool, Problem> {
        let n = self
            .conn()
            .prepare_cached(
                "UPDATE certificates SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
            )?
            .execute(params![id, now()])?;
        Ok(n == 1)
    }

    /// Marks revoked every recorded certificate whose serial is in `serials`
    /// (the CA directory's `revoked.txt`, which `pki revoke` also writes and
    /// which a crash may have left ahead of the database).
    pub fn mark_serials_revoked(&self, serials: &[String]) -> Result<(), Problem> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for serial in serials {
            tx.prepare_cached(
                "UPDATE certificates SET revoked = ?2 WHERE serial = ?1 AND revoked IS NULL",
            )?
            .execute(params![serial, now()])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Whether `account` holds valid, unexpired authorizations for every
    /// identifier (which also entitles it to revoke a certificate for them).
    pub fn holds_authorizations(
        &self,
        account: &str,
        identifiers: &[Identifier],
    ) -> Result<bool, Problem> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT 1 FROM authzs WHERE account = ?1 AND kind = ?2 AND value = ?3
             AND status = 'valid' AND expires > ?4 LIMIT 1",
        )?;
        for id in identifiers {
            let value = id.value.trim_start_matches("*.");
            if !stmt.exists(params![account, id.kind, value, now()])? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
