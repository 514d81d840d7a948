//! `H(method:uri)`, remembered: a keep-alive client asks for the same few pages over and
//! over, and every success hashes two of these (the `response`'s and the `rspauth`'s,
//! with an empty method), a quarter to a third of the hashing a request costs.
//!
//! The URI is the client's to choose, so the cache must not become the client's to fill:
//! it is a fixed table of [`ENTRIES`] per thread, entries of fixed size (URIs longer than
//! [`MAX_URI`] bytes are never kept), replaced round-robin. A flood of distinct URIs costs
//! one copy of at most [`MAX_URI`] bytes per miss and no memory; a hit compares the whole
//! key, so no two inputs share an entry. Nothing here is secret: anyone can hash a method
//! and a URI, so timing differences between a hit and a miss reveal nothing.

use std::cell::RefCell;

use super::{HashFunction, HexDigest};

/// Entries per thread: a few pages in turn, and both digests (method and empty) of each.
const ENTRIES: usize = 8;
/// The longest URI kept; longer ones are hashed every time.
pub(crate) const MAX_URI: usize = 128;
/// The longest method kept (`OPTIONS`, `PROPFIND` and the like fit).
const MAX_METHOD: usize = 16;

#[derive(Clone, Copy)]
struct Entry {
    hash: Option<HashFunction>,
    method: [u8; MAX_METHOD],
    method_len: u8,
    uri: [u8; MAX_URI],
    uri_len: u8,
    /// `H(method:uri)`, then `H(:uri)` (`rspauth`'s).
    digests: [HexDigest; 2],
}

impl Entry {
    const EMPTY: Entry = Entry {
        hash: None,
        method: [0; MAX_METHOD],
        method_len: 0,
        uri: [0; MAX_URI],
        uri_len: 0,
        digests: [HexDigest::EMPTY; 2],
    };

    fn holds(&self, hash: HashFunction, method: &[u8], uri: &[u8]) -> bool {
        self.hash == Some(hash)
            && self.method[..usize::from(self.method_len)] == *method
            && self.uri[..usize::from(self.uri_len)] == *uri
    }
}

struct Table {
    entries: [Entry; ENTRIES],
    next: usize,
}

thread_local! {
    static TABLE: RefCell<Table> = const {
        RefCell::new(Table { entries: [Entry::EMPTY; ENTRIES], next: 0 })
    };
}

/// `H(method:uri)` in hex, from this thread's table when it holds it.
pub(crate) fn ha2(hash: HashFunction, method: &[u8], uri: &[u8]) -> HexDigest {
    ha2_pair(hash, method, uri)[0]
}

/// `H(method:uri)` and `H(:uri)`: the `response`'s `HA2` and the `rspauth`'s, which a
/// success needs both of, from one lookup (a miss computes both).
pub(crate) fn ha2_pair(hash: HashFunction, method: &[u8], uri: &[u8]) -> [HexDigest; 2] {
    let compute = || {
        [
            hash.hex_digest(&[method, b":", uri]),
            hash.hex_digest(&[b":", uri]),
        ]
    };
    let (Ok(method_len), Ok(uri_len)) = (u8::try_from(method.len()), u8::try_from(uri.len()))
    else {
        return compute();
    };
    if method.len() > MAX_METHOD || uri.len() > MAX_URI {
        return compute();
    }
    TABLE
        .try_with(|table| {
            // Never re-entered (hashing calls nothing of ours), but a failed borrow must
            // not panic in a request: compute instead.
            let Ok(mut table) = table.try_borrow_mut() else {
                return compute();
            };
            if let Some(entry) = table.entries.iter().find(|e| e.holds(hash, method, uri)) {
                return entry.digests;
            }
            let digests = compute();
            let slot = table.next;
            table.next = (slot + 1) % ENTRIES;
            let entry = &mut table.entries[slot];
            entry.hash = Some(hash);
            entry.method[..method.len()].copy_from_slice(method);
            entry.method_len = method_len;
            entry.uri[..uri.len()].copy_from_slice(uri);
            entry.uri_len = uri_len;
            entry.digests = digests;
            digests
        })
        .unwrap_or_else(|_| compute())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(hash: HashFunction, method: &[u8], uri: &[u8]) -> HexDigest {
        hash.hex_digest(&[method, b":", uri])
    }

    #[test]
    fn hits_and_misses_give_the_same_digest_as_hashing() {
        let uris: Vec<Vec<u8>> = (0..3 * ENTRIES)
            .map(|n| format!("/page/{n}").into_bytes())
            .collect();
        for round in 0..3 {
            for hash in HashFunction::ALL {
                for (n, uri) in uris.iter().enumerate() {
                    // A few pages in turn (hits), and many (each evicts another).
                    let uri = if round == 0 { &uris[n % 2] } else { uri };
                    for method in [&b"GET"[..], b"", b"POST"] {
                        assert_eq!(
                            ha2(hash, method, uri),
                            direct(hash, method, uri),
                            "{hash:?} {method:?} {uri:?}"
                        );
                        assert_eq!(
                            ha2_pair(hash, method, uri),
                            [direct(hash, method, uri), direct(hash, b"", uri)],
                            "{hash:?} {method:?} {uri:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn keys_that_share_bytes_do_not_share_entries() {
        // "GET:/a" is both (GET, /a) and (GET:/a with an empty method) as one string;
        // the key keeps method and URI apart, as the hash input does not.
        let hash = HashFunction::Md5;
        let first = ha2(hash, b"GET", b"/a");
        assert_eq!(ha2(hash, b"", b"/a"), direct(hash, b"", b"/a"));
        assert_ne!(ha2(hash, b"", b"/a"), first);
        assert_eq!(
            ha2(HashFunction::Sha256, b"GET", b"/a"),
            direct(HashFunction::Sha256, b"GET", b"/a")
        );
        // A prefix of a cached URI is another key.
        assert_eq!(ha2(hash, b"GET", b"/"), direct(hash, b"GET", b"/"));
    }

    #[test]
    fn long_uris_and_methods_are_hashed_every_time() {
        let long = vec![b'a'; MAX_URI + 1];
        let hash = HashFunction::Sha256;
        assert_eq!(ha2(hash, b"GET", &long), direct(hash, b"GET", &long));
        let method = [b'M'; MAX_METHOD + 1];
        assert_eq!(ha2(hash, &method, b"/"), direct(hash, &method, b"/"));
        let at_bound = vec![b'b'; MAX_URI];
        assert_eq!(
            ha2(hash, b"GET", &at_bound),
            direct(hash, b"GET", &at_bound)
        );
        assert_eq!(
            ha2(hash, b"GET", &at_bound),
            direct(hash, b"GET", &at_bound)
        );
    }
}
