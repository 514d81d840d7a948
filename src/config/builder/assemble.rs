//! `build`: every setting checked at once, then assembled into the [`Config`] each
//! request reads and handed, with the stores, to the layer.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::{DigestLayerBuilder, Settings};
use crate::basic::BasicConfig;
use crate::config::{Config, ConfigError, MAX_NONCE_LIFETIME, check_text, quote_escape};
use crate::credentials::CredentialStore;
use crate::hash::{Algorithm, HashFunction};
use crate::layer::DigestLayer;
use crate::nonce::{EpochSource, NonceKey, NonceSigner, NonceStore};
use crate::prefix::ExternalPrefix;
use crate::service::Shared;
use crate::throttle::{FailureStore, Throttle};

impl<C, N, R, F> DigestLayerBuilder<C, N, R, F> {
    /// Checks the configuration and makes the layer.
    ///
    /// ```
    /// use tower_digest_auth::{ConfigError, DigestLayer, MemoryCredentials};
    ///
    /// let users = MemoryCredentials::new("api@example.org", [("alice", "s3cret")]);
    /// // The realm must be the one the users' HA1s were computed for.
    /// let typo = DigestLayer::builder("api@example.com", users.clone()).build();
    /// assert!(matches!(typo, Err(ConfigError::RealmNotServed { .. })));
    /// assert!(DigestLayer::builder("api@example.org", users).build().is_ok());
    /// ```
    ///
    /// # Errors
    /// A [`ConfigError`] naming what is wrong.
    pub fn build(self) -> Result<DigestLayer<C, N, R, F>, ConfigError>
    where
        C: CredentialStore,
        N: NonceStore,
        F: FailureStore,
    {
        let nonces = Arc::new(self.nonces);
        let throttle = self.settings.throttle;
        let config = self
            .settings
            .into_config(&self.credentials, nonces.clone())?;
        let throttle = throttle.map(|limits| Throttle::new(limits, self.failures));
        Ok(DigestLayer::new(Shared::new(
            config,
            self.credentials,
            nonces,
            throttle,
            self.rejection,
        )))
    }
}

impl Settings {
    /// Checks every setting and assembles what each request reads.
    fn into_config<C: CredentialStore>(
        self,
        credentials: &C,
        epochs: Arc<dyn EpochSource>,
    ) -> Result<Config, ConfigError> {
        self.check(credentials)?;
        let key = self.key.clone().unwrap_or_else(NonceKey::random);
        self.check_keys(&key)?;
        // Derived from the realm alone, not the key: a restart or a key rotation must not
        // turn every client's next request into a 400 for a changed opaque.
        let opaque = self.opaque.clone().unwrap_or_else(|| {
            let digest = Sha256::digest(format!("tower-digest-auth opaque\0{}", self.realm));
            URL_SAFE_NO_PAD.encode(&digest[..16])
        });
        check_text("opaque", &opaque)?;
        let external_prefix = ExternalPrefix::new(&self.external_prefix, self.forwarded_prefix)
            .ok_or(ConfigError::InvalidPrefix)?;
        let (challenge_prefixes, challenge_suffix) = self.challenge_texts(&opaque);
        let dummy_secret = key.derive(b"dummy ha1");
        let dummy_ha1 = HashFunction::ALL.map(|hash| hash.hex_digest(&[&dummy_secret]));
        let basic = BasicConfig::new(self.protocol.basic, &self.realm, &self.algorithms);
        Ok(Config {
            signer: NonceSigner::new(key, self.previous_keys, &self.realm)
                .with_binding(self.binding),
            epochs,
            realm: self.realm.into(),
            algorithms: self.algorithms,
            lifetime_secs: self.lifetime.as_secs(),
            client_ip: self.client_ip,
            opaque,
            challenge_prefixes,
            challenge_suffix,
            challenge_order: self.challenge_order,
            clock: self.clock,
            allow_anonymous: self.allow_anonymous,
            mode: self.mode,
            external_prefix,
            protocol: self.protocol,
            basic,
            dummy_ha1,
        })
    }

    /// The algorithms, the lifetime, the realm and the domain.
    fn check<C: CredentialStore>(&self, credentials: &C) -> Result<(), ConfigError> {
        if self.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        for (index, algorithm) in self.algorithms.iter().enumerate() {
            if self.algorithms[..index].contains(algorithm) {
                return Err(ConfigError::DuplicateAlgorithm(*algorithm));
            }
        }
        if self.lifetime < Duration::from_secs(1) {
            return Err(ConfigError::LifetimeTooShort);
        }
        if self.lifetime > MAX_NONCE_LIFETIME {
            return Err(ConfigError::LifetimeTooLong);
        }
        check_text("realm", &self.realm)?;
        if credentials.serves_realm(&self.realm) == Some(false) {
            let realm = self.realm.clone();
            return Err(ConfigError::RealmNotServed { realm });
        }
        for uri in &self.domain {
            check_text("domain", uri)?;
        }
        if !self.binding.is_valid() {
            return Err(ConfigError::InvalidAddressPrefix);
        }
        Ok(())
    }

    /// Every key id once, the current key's included.
    fn check_keys(&self, key: &NonceKey) -> Result<(), ConfigError> {
        for (index, previous) in self.previous_keys.iter().enumerate() {
            let reused = previous.id() == key.id()
                || self.previous_keys[..index]
                    .iter()
                    .any(|other| other.id() == previous.id());
            if reused {
                return Err(ConfigError::DuplicateKeyId(previous.id()));
            }
        }
        Ok(())
    }

    /// The fixed text of each algorithm's challenge before its nonce, and the text after.
    fn challenge_texts(&self, opaque: &str) -> (Vec<(Algorithm, String)>, String) {
        // charset=UTF-8 (RFC 7616 section 4): HA1s are computed over UTF-8, and a client
        // that is not told so may hash a non-ASCII name or password as Latin-1.
        let mut suffix = format!("\", opaque=\"{}\", charset=UTF-8", quote_escape(opaque));
        if self.protocol.userhash {
            suffix.push_str(", userhash=true");
        }
        if !self.domain.is_empty() {
            let domain = quote_escape(&self.domain.join(" "));
            suffix = format!("{suffix}, domain=\"{domain}\"");
        }
        let realm = quote_escape(&self.realm);
        // auth alone by default: offering auth-int breaks some clients (the JDK then sends
        // no qop at all), and answering it means reading bodies.
        let qop = if self.protocol.auth_int_limit.is_some() {
            "auth,auth-int"
        } else {
            "auth"
        };
        let prefixes = self
            .algorithms
            .iter()
            .map(|&algorithm| {
                let prefix = format!(
                    "Digest realm=\"{realm}\", qop=\"{qop}\", algorithm={}, nonce=\"",
                    algorithm.name()
                );
                (algorithm, prefix)
            })
            .collect();
        (prefixes, suffix)
    }
}
