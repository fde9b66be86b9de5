//! A pass phrase that cannot leak: it has no `Display`, its `Debug` prints
//! stars, and its bytes are overwritten when it is dropped.

use std::fmt;

use crate::error::{Error, Result};

/// Shortest pass phrase accepted for encrypting: OpenSSL's own prompt
/// (`openssl genrsa -aes256`) refuses fewer than 4 characters, and we match it so
/// keys we write can be re-encrypted or opened with the same phrase there.
pub const MIN_LEN: usize = 4;

/// A pass phrase for an encrypted private key or PKCS#12 file.
///
/// ```
/// let p = pki::Passphrase::new("correct horse");
/// assert_eq!(format!("{p:?}"), "Passphrase(***)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Passphrase(Vec<u8>);

impl Passphrase {
    /// Wraps the given bytes. Trailing newlines are kept: strip them when
    /// reading from a file (see [`Passphrase::from_file_contents`]).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Passphrase(bytes.into())
    }

    /// Takes the first line of a pass-phrase file, as `openssl -passin file:` does.
    pub fn from_file_contents(contents: &[u8]) -> Self {
        let line = contents.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Passphrase(line.to_vec())
    }

    /// The raw bytes, for handing to OpenSSL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Refuses pass phrases too short to encrypt with ([`MIN_LEN`]).
    pub fn check_strength(&self) -> Result<()> {
        if self.0.len() < MIN_LEN {
            return Err(Error::PassphraseTooShort);
        }
        Ok(())
    }
}

impl From<&str> for Passphrase {
    fn from(s: &str) -> Self {
        Passphrase::new(s)
    }
}

impl From<String> for Passphrase {
    fn from(s: String) -> Self {
        Passphrase::new(s)
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(***)")
    }
}

impl Drop for Passphrase {
    fn drop(&mut self) {
        // Overwrite the secret before the allocator reuses the memory.
        for b in self.0.iter_mut() {
            *b = 0;
        }
        std::hint::black_box(&mut self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let p = Passphrase::new("hunter22");
        let shown = format!("{p:?} {p:#?}");
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn file_contents_take_the_first_line() {
        assert_eq!(
            Passphrase::from_file_contents(b"s3cret\r\nignored\n").as_bytes(),
            b"s3cret"
        );
        assert_eq!(Passphrase::from_file_contents(b"").as_bytes(), b"");
    }

    #[test]
    fn short_pass_phrases_are_refused() {
        assert!(matches!(
            Passphrase::new("abc").check_strength(),
            Err(Error::PassphraseTooShort)
        ));
        assert!(Passphrase::new("abcd").check_strength().is_ok());
    }
}
