//! The Tower service shell every middleware here shares: one definition of the accessors
//! and of the ready swap, so the three services cannot drift apart.

/// `get_ref`, `get_mut` and `into_inner` for a service whose inner service is its
/// `inner` field, as every Tower middleware offers them.
macro_rules! define_inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

/// The inner service that was polled ready, for the request being called; a fresh clone
/// stays behind for the next `poll_ready` (tower-service: "be careful when cloning
/// inner services").
pub(crate) fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

pub(crate) use define_inner_service_accessors;
