//! The sessions remembered between requests, one per protection space, bounded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use http::request::Parts;
use http::uri::{Authority, Scheme};

use super::session::Session;
use crate::mode::AuthMode;

/// The most protection spaces remembered; the least recently used is dropped first.
pub(crate) const MAX_SPACES: usize = 64;

/// Where a remembered session is used again: for an origin server, the scheme, host and
/// port of the request (the realm is the one that last accepted us there); for a proxy,
/// the one proxy the client goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SpaceKey {
    Origin(String),
    Proxy,
}

impl SpaceKey {
    /// The key of a request's space in `mode`: the URI's scheme and authority, or the
    /// `Host` header for an origin-form URI (a test's `/path`).
    pub(crate) fn of(mode: AuthMode, parts: &Parts) -> SpaceKey {
        if mode == AuthMode::Proxy {
            return SpaceKey::Proxy;
        }
        let scheme = parts.uri.scheme().unwrap_or(&Scheme::HTTP);
        let authority = parts.uri.authority().map(Authority::as_str).or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .and_then(|host| host.to_str().ok())
        });
        let authority = authority.unwrap_or_default().to_ascii_lowercase();
        // The default port spelled out or not is the same server.
        let default = if *scheme == Scheme::HTTPS {
            ":443"
        } else {
            ":80"
        };
        let authority = authority.strip_suffix(default).unwrap_or(&authority);
        SpaceKey::Origin(format!("{scheme}://{authority}"))
    }
}

/// Sessions by protection space, most recently used first; shared by every clone of a
/// layer and its services. The lock is held for a lookup or an update, never while a
/// request is sent or a hash computed.
#[derive(Debug, Default)]
pub(crate) struct Spaces {
    entries: Mutex<VecDeque<(SpaceKey, Arc<Session>)>>,
}

impl Spaces {
    /// The session for `key`, marked as the most recently used.
    pub(crate) fn get(&self, key: &SpaceKey) -> Option<Arc<Session>> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let at = entries.iter().position(|(k, _)| k == key)?;
        let entry = entries.remove(at)?;
        let session = Arc::clone(&entry.1);
        entries.push_front(entry);
        Some(session)
    }

    /// Remembers `session` for `key`, in place of any other; drops the least recently
    /// used space beyond [`MAX_SPACES`].
    pub(crate) fn put(&self, key: SpaceKey, session: Arc<Session>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|(k, _)| *k != key);
        entries.push_front((key, session));
        entries.truncate(MAX_SPACES);
    }

    /// Forgets `key`'s session if it is still `session` (a newer one, from a concurrent
    /// request, stays).
    pub(crate) fn forget(&self, key: &SpaceKey, session: &Arc<Session>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|(k, s)| k != key || !Arc::ptr_eq(s, session));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Challenge, Credentials};
    use http::HeaderValue;

    fn session() -> Arc<Session> {
        let offer = HeaderValue::from_static(r#"Digest realm="r", qop="auth", nonce="n""#);
        let challenge = Challenge::strongest([&offer]).unwrap();
        Arc::new(Session::new(&Credentials::new("u", "p"), challenge))
    }

    fn key(uri: &str, host: Option<&str>) -> SpaceKey {
        let mut request = http::Request::get(uri);
        if let Some(host) = host {
            request = request.header("host", host);
        }
        SpaceKey::of(AuthMode::Origin, &request.body(()).unwrap().into_parts().0)
    }

    #[test]
    fn keys_name_scheme_host_and_port() {
        assert_eq!(
            key("http://Example.org/a", None),
            key("http://example.org:80/b", None)
        );
        assert_eq!(
            key("/a", Some("example.org")),
            key("http://example.org/", None)
        );
        assert_ne!(
            key("https://example.org/", None),
            key("http://example.org/", None)
        );
        assert_ne!(
            key("http://example.org:8080/", None),
            key("http://example.org/", None)
        );
        assert_eq!(
            key("https://example.org:443/", None),
            key("https://example.org/", None)
        );
        let proxy = SpaceKey::of(
            AuthMode::Proxy,
            &http::Request::get("http://a/")
                .body(())
                .unwrap()
                .into_parts()
                .0,
        );
        assert_eq!(proxy, SpaceKey::Proxy);
    }

    #[test]
    fn the_least_recently_used_space_goes_first() {
        let spaces = Spaces::default();
        let first = SpaceKey::Origin("http://0".into());
        for n in 0..MAX_SPACES {
            spaces.put(SpaceKey::Origin(format!("http://{n}")), session());
        }
        assert!(spaces.get(&first).is_some()); // now the most recent
        spaces.put(SpaceKey::Origin("http://new".into()), session());
        assert_eq!(spaces.len(), MAX_SPACES);
        assert!(spaces.get(&first).is_some());
        assert!(spaces.get(&SpaceKey::Origin("http://1".into())).is_none());
    }

    #[test]
    fn forget_spares_a_newer_session() {
        let spaces = Spaces::default();
        let (old, new) = (session(), session());
        spaces.put(SpaceKey::Proxy, Arc::clone(&new));
        spaces.forget(&SpaceKey::Proxy, &old);
        assert!(spaces.get(&SpaceKey::Proxy).is_some());
        spaces.forget(&SpaceKey::Proxy, &new);
        assert!(spaces.get(&SpaceKey::Proxy).is_none());
    }
}
