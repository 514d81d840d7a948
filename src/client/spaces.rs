//! The sessions remembered between requests, one per protection space, bounded.

use std::borrow::Cow;
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
///
/// A request's key borrows from the request, so finding its session allocates nothing;
/// only a space remembered for the first time gets an owned copy ([`SpaceKey::owned`]).
#[derive(Debug, Clone)]
pub(crate) enum SpaceKey<'a> {
    Origin {
        scheme: Cow<'a, str>,
        /// Without the scheme's default port, which is the same server spelled out.
        authority: Cow<'a, str>,
    },
    Proxy,
}

impl<'a> SpaceKey<'a> {
    /// The key of a request's space in `mode`: the URI's scheme and authority, or the
    /// `Host` header for an origin-form URI (a test's `/path`).
    pub(crate) fn of(mode: AuthMode, parts: &'a Parts) -> SpaceKey<'a> {
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
        let authority = authority.unwrap_or_default();
        let default = if *scheme == Scheme::HTTPS {
            ":443"
        } else {
            ":80"
        };
        SpaceKey::Origin {
            scheme: Cow::Borrowed(scheme.as_str()),
            authority: Cow::Borrowed(authority.strip_suffix(default).unwrap_or(authority)),
        }
    }

    /// The same key, owning its text: what the remembered spaces keep.
    pub(crate) fn owned(&self) -> SpaceKey<'static> {
        match self {
            SpaceKey::Origin { scheme, authority } => SpaceKey::Origin {
                scheme: Cow::Owned(scheme.as_ref().to_owned()),
                authority: Cow::Owned(authority.as_ref().to_owned()),
            },
            SpaceKey::Proxy => SpaceKey::Proxy,
        }
    }
}

/// Scheme and host compare without regard to case (RFC 3986, section 6.2.2.1).
impl PartialEq<SpaceKey<'_>> for SpaceKey<'_> {
    fn eq(&self, other: &SpaceKey<'_>) -> bool {
        match (self, other) {
            (
                SpaceKey::Origin { scheme, authority },
                SpaceKey::Origin {
                    scheme: other_scheme,
                    authority: other_authority,
                },
            ) => same_text(scheme, other_scheme) && same_text(authority, other_authority),
            (SpaceKey::Proxy, SpaceKey::Proxy) => true,
            _ => false,
        }
    }
}

impl Eq for SpaceKey<'_> {}

/// Equal without regard to ASCII case; the same spelling, the usual case, is compared
/// whole first, as a byte-by-byte comparison folding case costs far more.
fn same_text(a: &str, b: &str) -> bool {
    a == b || a.eq_ignore_ascii_case(b)
}

/// Sessions by protection space, most recently used first; shared by every clone of a
/// layer and its services. The lock is held for a lookup or an update, never while a
/// request is sent or a hash computed.
#[derive(Debug, Default)]
pub(crate) struct Spaces {
    entries: Mutex<VecDeque<(SpaceKey<'static>, Arc<Session>)>>,
}

impl Spaces {
    /// The session for `key`, marked as the most recently used.
    pub(crate) fn get(&self, key: &SpaceKey<'_>) -> Option<Arc<Session>> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let at = entries.iter().position(|(k, _)| k == key)?;
        // Usually first already: a client talks to one server most of the time.
        if at > 0 {
            let entry = entries.remove(at)?;
            entries.push_front(entry);
        }
        entries.front().map(|(_, session)| Arc::clone(session))
    }

    /// Remembers `session` for `key`, in place of any other, as the most recently used;
    /// drops the least recently used space beyond [`MAX_SPACES`]. The key is copied only
    /// for a space not remembered yet.
    pub(crate) fn put(&self, key: &SpaceKey<'_>, session: Arc<Session>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let known = match entries.iter().position(|(k, _)| k == key) {
            Some(at) => entries.remove(at),
            None => None,
        };
        let key = known.map_or_else(|| key.owned(), |(key, _)| key);
        entries.push_front((key, session));
        entries.truncate(MAX_SPACES);
    }

    /// Forgets `key`'s session if it is still `session` (a newer one, from a concurrent
    /// request, stays).
    pub(crate) fn forget(&self, key: &SpaceKey<'_>, session: &Arc<Session>) {
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

    fn key(uri: &str, host: Option<&str>) -> SpaceKey<'static> {
        let mut request = http::Request::get(uri);
        if let Some(host) = host {
            request = request.header("host", host);
        }
        SpaceKey::of(AuthMode::Origin, &request.body(()).unwrap().into_parts().0).owned()
    }

    fn origin(authority: String) -> SpaceKey<'static> {
        SpaceKey::Origin {
            scheme: Cow::Borrowed("http"),
            authority: Cow::Owned(authority),
        }
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
        let (parts, ()) = http::Request::get("http://a/")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(SpaceKey::of(AuthMode::Proxy, &parts), SpaceKey::Proxy);
    }

    #[test]
    fn the_least_recently_used_space_goes_first() {
        let spaces = Spaces::default();
        let first = origin("0".into());
        for n in 0..MAX_SPACES {
            spaces.put(&origin(n.to_string()), session());
        }
        assert!(spaces.get(&first).is_some()); // now the most recent
        spaces.put(&origin("new".into()), session());
        assert_eq!(spaces.len(), MAX_SPACES);
        assert!(spaces.get(&first).is_some());
        assert!(spaces.get(&origin("1".into())).is_none());
    }

    #[test]
    fn put_replaces_the_session_of_a_known_space() {
        let spaces = Spaces::default();
        let (old, new) = (session(), session());
        spaces.put(&key("http://Example.org/", None), old);
        spaces.put(&key("/", Some("example.org:80")), Arc::clone(&new));
        assert_eq!(spaces.len(), 1);
        let found = spaces.get(&key("HTTP://EXAMPLE.ORG/x", None)).unwrap();
        assert!(Arc::ptr_eq(&found, &new));
    }

    #[test]
    fn forget_spares_a_newer_session() {
        let spaces = Spaces::default();
        let (old, new) = (session(), session());
        spaces.put(&SpaceKey::Proxy, Arc::clone(&new));
        spaces.forget(&SpaceKey::Proxy, &old);
        assert!(spaces.get(&SpaceKey::Proxy).is_some());
        spaces.forget(&SpaceKey::Proxy, &new);
        assert!(spaces.get(&SpaceKey::Proxy).is_none());
    }
}
