//! The harness of the end-to-end tests: it writes the fixture set once, runs
//! the verifiers we did not write (`openssl`, `curl`, `python3`) with a time
//! limit, and starts TLS servers on loopback that are killed when dropped, so
//! every test reads like a user's session and none can hang.

use std::time::Duration;

mod acme;
mod acme_client;
mod actix;
mod browser;
mod command;
mod files;
mod inspect;
mod server;
mod tools;

pub use acme::*;
pub use acme_client::*;
pub use actix::*;
pub use browser::*;
pub use command::*;
pub use files::*;
pub use inspect::*;
pub use server::*;
pub use tools::*;

/// What tests return: `?` works on `pki::Error`, `io::Error` and the rest.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// How long any one external command may run before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a server may take to accept connections after it was started.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_split_a_chain() {
        let text = "x\n-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBB\n-----END CERTIFICATE-----\n";
        let blocks = pem_blocks(text, "CERTIFICATE");
        assert_eq!(blocks.len(), 2);
        assert!(blocks[1].contains("BB"));
        assert!(blocks[0].ends_with("-----END CERTIFICATE-----\n"));
    }

    #[test]
    fn unix_seconds_counts_from_1970() {
        assert_eq!(unix_seconds("1970-01-01 00:00:00 UTC"), 0);
        assert_eq!(unix_seconds("2000-02-29 00:00:00 UTC"), 951_782_400);
        assert_eq!(unix_seconds("2025-06-11 14:03:00 UTC"), 1_749_650_580);
    }

    #[test]
    fn command_line_quotes_what_needs_it() {
        let mut cmd = TestCommand::new("openssl");
        cmd.args(["req", "-subj", "/CN=a b"]);
        assert_eq!(cmd.command_line(), "openssl req -subj '/CN=a b'");
    }
}
