//! The command line, as clap types. Only the shape of the arguments lives
//! here; what each command does is in its own module.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::{Args, Parser, Subcommand};
use pki::KeyType;
use pki::crl::RevocationReason;

/// Local HTTPS and mutual TLS certificates: mkcert's ease, openssl's reach.
#[derive(Debug, Parser)]
#[command(name = "pki", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// The CA directory. Default: $CAROOT, else $XDG_DATA_HOME/pki, else
    /// ~/.local/share/pki. An mkcert CAROOT works as it is.
    #[arg(long, global = true, value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,

    /// A file whose first line is the pass phrase of an encrypted CA key
    /// (without it, pki asks on the terminal).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "PKI_CA_PASSPHRASE_FILE"
    )]
    pub ca_passphrase_file: Option<PathBuf>,

    /// What to do; without one, pki says what it is and where the CA is.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, show or locate the local CA.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Issue a certificate and key for NAMES from the local CA (mkcert style).
    Cert(CertArgs),
    /// Private keys (`openssl genrsa`, `openssl genpkey`).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Certificate signing requests (`openssl req -new`).
    #[command(subcommand)]
    Csr(CsrCommand),
    /// Sign a CSR with the local CA (`openssl x509 -req -CA …`).
    Sign(SignArgs),
    /// Make a self-signed certificate (`openssl req -x509 -newkey …`).
    SelfSigned(SelfSignedArgs),
    /// Revoke a certificate issued by the local CA.
    Revoke(RevokeArgs),
    /// Write the local CA's certificate revocation list.
    Crl(CrlArgs),
    /// Describe certificates, chains, CSRs, keys, PKCS#12 files, CRLs or a
    /// server's chain (https://HOST:PORT).
    Inspect(InspectArgs),
    /// Check a certificate as a client or server would; exit status 1 if it
    /// would be refused.
    Verify(VerifyArgs),
    /// Install the local CA into the system, browser (NSS) and Java trust
    /// stores, remove it, or tell where it is trusted.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

/// `pki trust …`
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Add the local CA to each trust store that lacks it (creates the CA
    /// first if there is none). Safe to repeat.
    Install(TrustArgs),
    /// Remove the local CA (matched by fingerprint) from each trust store;
    /// the CA files stay.
    Uninstall(TrustArgs),
    /// Tell, per store, whether the local CA is trusted; exit status 1 if a
    /// store present here does not trust it.
    Status(TrustArgs),
}

/// Which trust stores to work on.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Comma-separated: system, nss (Chromium, Chrome, Firefox) and java; a
    /// store named here that is not on this machine is a failure. Default:
    /// $TRUST_STORES (as mkcert reads it), else every store present.
    #[arg(long = "store", value_name = "STORES", value_delimiter = ',')]
    pub stores: Vec<pki_trust::Store>,
}

/// `pki ca …`
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the local CA (refused if one exists).
    Create(CaCreateArgs),
    /// Describe the local CA.
    Show(CaShowArgs),
    /// Print the CA directory (like `mkcert -CAROOT`).
    Path,
    /// Create an intermediate CA under the local CA, in its own directory
    /// (usable with --ca-dir).
    Intermediate(CaIntermediateArgs),
}

/// `pki ca create`
#[derive(Debug, Args)]
pub struct CaCreateArgs {
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    /// Lifetime in days.
    #[arg(long, value_name = "N", default_value_t = pki::ca::DEFAULT_ROOT_DAYS)]
    pub days: u32,
    /// Only allow certificates for these names (`example.test`, `.test`,
    /// `10.0.0.0/8`, `@example.test`); repeatable.
    #[arg(long = "name-constraint", value_name = "NAME")]
    pub name_constraints: Vec<String>,
    #[command(flatten)]
    pub protection: KeyProtection,
}

/// `pki ca show`
#[derive(Debug, Args)]
pub struct CaShowArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `pki ca intermediate`
#[derive(Debug, Args)]
pub struct CaIntermediateArgs {
    /// The directory to create the intermediate in.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The intermediate's common name.
    #[arg(long, value_name = "CN")]
    pub name: Option<String>,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    /// Lifetime in days.
    #[arg(long, value_name = "N", default_value_t = pki::ca::DEFAULT_INTERMEDIATE_DAYS)]
    pub days: u32,
    /// Only allow certificates for these names; repeatable.
    #[arg(long = "name-constraint", value_name = "NAME")]
    pub name_constraints: Vec<String>,
    #[command(flatten)]
    pub protection: KeyProtection,
}

/// `pki cert`
#[derive(Debug, Args)]
pub struct CertArgs {
    #[command(flatten)]
    pub leaf: LeafArgs,
    /// Where to write the certificate (leaf and intermediates).
    #[arg(long, value_name = "FILE")]
    pub cert_file: Option<PathBuf>,
    /// Where to write the private key.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Also write the issuer chain (intermediates and root) here.
    #[arg(long, value_name = "FILE")]
    pub chain_file: Option<PathBuf>,
    /// Also write leaf, intermediates and root here.
    #[arg(long, value_name = "FILE")]
    pub fullchain_file: Option<PathBuf>,
    /// Also write certificate and key in one PEM here (`curl -E`).
    #[arg(long, value_name = "FILE")]
    pub bundle_file: Option<PathBuf>,
    /// Also write a PKCS#12 file here.
    #[arg(long, value_name = "FILE")]
    pub p12_file: Option<PathBuf>,
    /// A file whose first line is the PKCS#12 password (else pki asks).
    #[arg(long, value_name = "FILE", requires = "p12_file")]
    pub p12_password_file: Option<PathBuf>,
    /// Encrypt the PKCS#12 file as old clients need (RC2-40 for certificates,
    /// 3DES for the key, SHA-1 MAC).
    #[arg(long, requires = "p12_file")]
    pub p12_legacy: bool,
    #[command(flatten)]
    pub protection: KeyProtection,
    #[command(flatten)]
    pub force: Force,
}

/// `pki key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a private key into FILE.
    New(KeyNewArgs),
}

/// `pki key new`
#[derive(Debug, Args)]
pub struct KeyNewArgs {
    /// Where to write the key.
    #[arg(value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    #[command(flatten)]
    pub protection: KeyProtection,
    #[command(flatten)]
    pub force: Force,
}

/// `pki csr …`
#[derive(Debug, Subcommand)]
pub enum CsrCommand {
    /// Create a certificate signing request for NAMES.
    New(CsrNewArgs),
}

/// `pki csr new`
#[derive(Debug, Args)]
pub struct CsrNewArgs {
    /// The names to request.
    #[arg(required = true, value_name = "NAMES")]
    pub names: Vec<String>,
    /// Sign the request with this existing key (else a new key is made).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// A file whose first line is the pass phrase of --key, or of the new
    /// key with --encrypt-key.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Encrypt the new key.
    #[arg(long, conflicts_with = "key")]
    pub encrypt_key: bool,
    /// Where to write the new key (default: next to the CSR, `-key.pem`).
    #[arg(long, value_name = "FILE", conflicts_with = "key")]
    pub key_out: Option<PathBuf>,
    /// The type of the new key.
    #[arg(long, value_name = "TYPE", conflicts_with = "key", default_value_t = KeyType::default())]
    pub key_type: KeyType,
    /// Where to write the CSR (default: `<first name>.csr`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Ask for a client certificate (clientAuth).
    #[arg(long)]
    pub client: bool,
    /// The subject's common name (default: the first name).
    #[arg(long, value_name = "CN")]
    pub cn: Option<String>,
    #[command(flatten)]
    pub force: Force,
}

/// `pki sign`
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The CSR (PEM or DER).
    #[arg(value_name = "CSR")]
    pub csr: PathBuf,
    /// Where to write the certificate (default: the CSR's name with `.pem`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The profile: server, client or server+client (default: what the CSR asks, else server).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<pki::Profile>,
    /// Shorthand for --profile client.
    #[arg(long, conflicts_with = "profile")]
    pub client: bool,
    #[command(flatten)]
    pub validity: Validity,
    /// Also write leaf, intermediates and root here.
    #[arg(long, value_name = "FILE")]
    pub fullchain_file: Option<PathBuf>,
    #[command(flatten)]
    pub force: Force,
}

/// `pki self-signed`
#[derive(Debug, Args)]
pub struct SelfSignedArgs {
    #[command(flatten)]
    pub leaf: LeafArgs,
    /// Where to write the certificate (default: `<name>-self-signed.pem`).
    #[arg(long, value_name = "FILE")]
    pub cert_file: Option<PathBuf>,
    /// Where to write the key (default: `<name>-self-signed-key.pem`).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    #[command(flatten)]
    pub protection: KeyProtection,
    #[command(flatten)]
    pub force: Force,
}

/// `pki revoke`
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// A certificate file issued by the local CA, or its serial in hex.
    #[arg(value_name = "SERIAL|CERT")]
    pub target: String,
    /// Why: unspecified, keyCompromise, caCompromise, affiliationChanged,
    /// superseded, cessationOfOperation, certificateHold, privilegeWithdrawn.
    #[arg(long, value_name = "REASON", default_value = "unspecified")]
    pub reason: RevocationReason,
}

/// `pki crl`
#[derive(Debug, Args)]
pub struct CrlArgs {
    /// Days until clients should fetch a newer CRL.
    #[arg(long, value_name = "N", default_value_t = pki::crl::DEFAULT_CRL_DAYS)]
    pub days: u32,
}

/// `pki inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Files (PEM or DER) or https://HOST[:PORT] addresses.
    #[arg(required = true, value_name = "FILE|URL")]
    pub targets: Vec<String>,
    /// Print JSON (one document per target).
    #[arg(long)]
    pub json: bool,
    /// A file whose first line is the password of a PKCS#12 file or an
    /// encrypted key.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// For https:// addresses: seconds that connecting and the TLS handshake
    /// may take in all.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = crate::inspect::DEFAULT_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub timeout: u64,
}

/// `pki verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The certificate, optionally followed by its intermediates.
    #[arg(value_name = "CERT")]
    pub cert: PathBuf,
    /// The trusted CA certificate(s) (default: the local CA).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// The host name or IP address the certificate must be valid for.
    #[arg(long, value_name = "NAME|IP")]
    pub host: Option<String>,
    /// Check it as a client certificate (clientAuth) instead of a server one.
    #[arg(long)]
    pub client: bool,
    /// Also check revocation against this CRL (PEM or DER).
    #[arg(long, value_name = "FILE")]
    pub crl: Option<PathBuf>,
}

/// `pki completions`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// What a new leaf certificate is: shared by `pki cert` and `pki self-signed`.
#[derive(Debug, Args)]
pub struct LeafArgs {
    /// DNS names, IP addresses, emails or URIs (`localhost 127.0.0.1 ::1 "*.app.test"`).
    #[arg(required = true, value_name = "NAMES")]
    pub names: Vec<String>,
    /// A client certificate (clientAuth) instead of a server one.
    #[arg(long)]
    pub client: bool,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    #[command(flatten)]
    pub validity: Validity,
}

/// `--key-type`, shared by every command that makes a key.
#[derive(Debug, Args)]
pub struct KeyTypeArg {
    /// rsa2048, rsa3072, rsa4096, p256, p384 or ed25519.
    #[arg(long = "key-type", value_name = "TYPE", default_value_t = KeyType::default())]
    pub key_type: KeyType,
}

/// How long a certificate lives.
#[derive(Debug, Args)]
pub struct Validity {
    /// Lifetime in days (default 825, and never past the CA's end).
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
    /// Last day of validity: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC).
    #[arg(long, value_name = "DATE", conflicts_with = "days", value_parser = crate::dates::parse)]
    pub not_after: Option<SystemTime>,
}

/// Whether and how a new private key is encrypted.
#[derive(Debug, Args)]
pub struct KeyProtection {
    /// Encrypt the new private key with a pass phrase (asked twice on a
    /// terminal, or from --passphrase-file).
    #[arg(long)]
    pub encrypt_key: bool,
    /// A file whose first line is the pass phrase for the new key (implies
    /// --encrypt-key).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// `--force`
#[derive(Debug, Args)]
pub struct Force {
    /// Replace output files that already exist.
    #[arg(long)]
    pub force: bool,
}
