//! Generations: what ties a nonce to the Redis data its uses are recorded in.
//!
//! Keys live under hash tags, `prefix{t}` with `t` a hex digit: one tag on a single
//! node, [`CLUSTER_TAGS`] on a Cluster (so the nonces spread over that many hash slots,
//! and as many primaries). Each tag has a generation marker, `prefix{t}generation`, in
//! the same slot as its nonces, created once with a random generation and never expiring.
//! A nonce's [`NonceEpoch`] names its tag (high 4 bits) and the tag's generation when it
//! was issued (low 28 bits). The window script reads the marker in the call that updates
//! the window, whenever the nonce has no window: a missing marker (Redis lost its data:
//! restarted without persistence, flushed, failed over to an empty replica) is created
//! afresh, and a nonce of another generation is answered
//! [`NcCheck::Forgotten`](super::super::NcCheck::Forgotten) at once. No clock and no
//! polling: Redis itself says its data is not what the nonce was issued against. A
//! window that exists needs no look at the marker: it was created under its nonce's
//! generation, after the marker, and Redis does not lose a key while keeping one written
//! after it (a restart, a flush or a failover loses every write, or the latest ones).
//! That keeps the common call (a client reusing its nonce) at one `GET` and one `SET`.

use std::sync::atomic::{AtomicU32, Ordering};

use super::super::NonceEpoch;

/// Hash tags of a Cluster store: its nonces spread over this many slots.
pub(super) const CLUSTER_TAGS: usize = 16;

const TAG_SHIFT: u32 = 28;
const GENERATION_MASK: u32 = (1 << TAG_SHIFT) - 1;

/// The generation of each tag as this process last learned it (0: not yet known; no
/// marker holds 0, so a nonce issued then is answered stale once and the reply teaches
/// the generation).
pub(super) struct Generations {
    known: Box<[AtomicU32]>,
}

impl Generations {
    pub(super) fn new(tags: usize) -> Self {
        Generations {
            known: (0..tags).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// The epoch of a nonce issued now: a random tag, with its generation.
    pub(super) fn current(&self) -> NonceEpoch {
        let tag = if self.known.len() == 1 {
            0
        } else {
            rand::random_range(0..self.known.len())
        };
        let generation = self.known[tag].load(Ordering::Relaxed);
        #[allow(clippy::cast_possible_truncation)] // tag < 16
        NonceEpoch::from_u32(((tag as u32) << TAG_SHIFT) | generation)
    }

    /// The tag and generation a nonce carries; `None` for a tag this store does not
    /// have (a nonce of a store with more tags, before a change of deployment).
    pub(super) fn split(&self, epoch: NonceEpoch) -> Option<(usize, u32)> {
        let tag = (epoch.get() >> TAG_SHIFT) as usize;
        (tag < self.known.len()).then_some((tag, epoch.get() & GENERATION_MASK))
    }

    /// What Redis says tag `tag`'s generation is.
    pub(super) fn learn(&self, tag: usize, generation: u32) {
        if let Some(known) = self.known.get(tag) {
            known.store(generation & GENERATION_MASK, Ordering::Relaxed);
        }
    }
}

/// A generation for a marker that is missing: random, never 0.
pub(super) fn fresh() -> u32 {
    rand::random_range(1..=GENERATION_MASK)
}

/// `prefix{t}`: where tag `tag`'s keys start.
pub(super) fn tag_prefix(prefix: &[u8], tag: usize) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(format!("{{{tag:x}}}").as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_names_its_tag_and_generation() {
        let generations = Generations::new(CLUSTER_TAGS);
        generations.learn(5, 0x0abc_def1);
        for _ in 0..200 {
            let epoch = generations.current();
            let (tag, generation) = generations.split(epoch).unwrap();
            assert_eq!(generation, if tag == 5 { 0x0abc_def1 } else { 0 });
        }
        assert_eq!(
            Generations::new(1).split(NonceEpoch::from_u32(1 << 28)),
            None
        );
        assert_eq!(tag_prefix(b"p:", 11), b"p:{b}");
        assert!((0..1000).all(|_| (1..=GENERATION_MASK).contains(&fresh())));
    }
}
