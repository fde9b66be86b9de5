//! stub
pub mod ca;
pub mod cert;
pub mod csr;
pub mod error;
pub mod fs;
pub mod key;
pub mod name;
pub mod passphrase;
mod der;
mod pem;
pub use ca::{Ca, CaParams, Issued};
pub use cert::{CertParams, Certificate, Profile};
pub use csr::{Csr, CsrParams};
pub use error::{Error, Origin, Result};
pub use key::{KeyType, PrivateKey};
pub use name::{NameConstraint, SubjectAltName};
pub use passphrase::Passphrase;
