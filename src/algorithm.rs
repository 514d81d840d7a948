//! The digest algorithms: which ones the layer offers ([`Algorithm`], set with
//! [`DigestLayerBuilder::algorithms`](crate::DigestLayerBuilder::algorithms)) and the
//! hash function under each ([`HashFunction`]), which decides the `HA1` a credential
//! store returns.
//!
//! ```
//! use tower_digest_auth::algorithm::{Algorithm, HashFunction, UnknownAlgorithm};
//!
//! let algorithm: Algorithm = "SHA-256".parse().unwrap();
//! assert_eq!(algorithm.hash_function(), HashFunction::Sha256);
//! let unknown: Result<Algorithm, UnknownAlgorithm> = "SHA-1".parse();
//! assert!(unknown.is_err());
//! ```

// The computations live in the crate-private `hash` module; this module is their public
// face.
pub use crate::hash::{Algorithm, HashFunction, UnknownAlgorithm};
