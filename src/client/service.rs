//! [`DigestClient`]: sends a request, answers a 401 or 407 with Digest credentials and
//! sends it again, and keeps each protection space's session for the requests after.

use std::borrow::Cow;
use std::fmt;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;
use tower::Service;

use super::body::collect;
use super::challenge::{Challenge, Qop};
use super::error::{BoxError, ChallengeError, Error};
use super::future::ResponseFuture;
use super::session::{Answer, Credentials, Session};
use super::spaces::{SpaceKey, Spaces};
use crate::client_ip::PeerAddr;
use crate::macros::{define_inner_service_accessors, take_ready};
use crate::mode::AuthMode;

/// What a layer and every service it made share.
#[derive(Debug, Clone)]
pub(crate) struct ClientState {
    pub(crate) credentials: Arc<Credentials>,
    pub(crate) spaces: Arc<Spaces>,
    pub(crate) peer: Option<SocketAddr>,
}

/// A client service that logs in with Digest authentication; made by
/// [`DigestClientLayer`](super::DigestClientLayer), whose docs say what it does.
#[must_use]
#[derive(Clone)]
pub struct DigestClient<S> {
    inner: S,
    state: ClientState,
}

impl<S> DigestClient<S> {
    pub(crate) fn new(inner: S, state: ClientState) -> Self {
        DigestClient { inner, state }
    }

    define_inner_service_accessors!();
}

impl<S: fmt::Debug> fmt::Debug for DigestClient<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestClient")
            .field("inner", &self.inner)
            .field("credentials", &self.state.credentials)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResB> Service<Request<B>> for DigestClient<S>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Body + Clone + Send + 'static,
    B::Data: Send,
    ResB: Send + 'static,
{
    type Response = Response<ResB>;
    type Error = Error;
    type Future = ResponseFuture<Result<Response<ResB>, Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx).map_err(Error::inner)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let ready = take_ready(&mut self.inner);
        let state = self.state.clone();
        ResponseFuture {
            inner: Box::pin(send(ready, state, request)),
        }
    }
}

/// Sends `request` with whatever credentials are known for it, then once more for each
/// challenge answered: at most one fresh answer per mode, and one more when that answer
/// is refused with `stale=true` (so at most five sends, origin and proxy both). `service`
/// comes ready (`call` polled it) for the first send, and is made ready again for each
/// retry.
async fn send<S, B, ResB>(
    mut service: S,
    state: ClientState,
    request: Request<B>,
) -> Result<Response<ResB>, Error>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    B: Body + Clone,
{
    let (mut parts, body) = request.into_parts();
    if let Some(peer) = state.peer {
        if parts.extensions.get::<PeerAddr>().is_none() {
            parts.extensions.insert(PeerAddr(peer));
        }
    }
    let mut legs =
        [AuthMode::Origin, AuthMode::Proxy].map(|mode| Leg::new(mode, &parts, &state.spaces));
    let mut entity: Option<Vec<u8>> = None;
    loop {
        // The head is sent with this send's credentials, and a copy without them stays for
        // a retry: the request's own head takes them in the room its map keeps spare (a
        // copy has none), and the credentials are never copied.
        let kept = parts.clone();
        let mut answers: [Option<Answer>; 2] = [None, None];
        for (leg, answer) in legs.iter().zip(&mut answers) {
            let Some(session) = &leg.session else {
                continue;
            };
            if session.challenge().qop() == Qop::AuthInt && entity.is_none() {
                entity = Some(collect(body.clone()).await?);
            }
            let uri = digest_uri(leg.mode, &parts);
            let mut sent = session.answer(&parts.method, &uri, entity.as_deref())?;
            let header = sent.take_header();
            parts.headers.insert(leg.mode.credentials_header(), header);
            *answer = Some(sent);
        }
        let head = std::mem::replace(&mut parts, kept);
        let response = service
            .call(Request::from_parts(head, body.clone()))
            .await
            .map_err(Error::inner)?;
        let status = response.status();
        for (leg, answer) in legs.iter_mut().zip(&answers) {
            if let Some(answer) = answer {
                if !leg.refused_by(status) {
                    leg.accepted(answer, response.headers(), &parts, &state.spaces)?;
                }
            }
        }
        let leg = match status {
            StatusCode::UNAUTHORIZED => &mut legs[0],
            StatusCode::PROXY_AUTHENTICATION_REQUIRED => &mut legs[1],
            _ => return Ok(response),
        };
        if !leg.challenged(response.headers(), &parts, &state)? {
            return Ok(response);
        }
        // Done with the refusal: the same service is made ready to send again.
        drop(response);
        poll_fn(|cx| service.poll_ready(cx))
            .await
            .map_err(Error::inner)?;
    }
}

/// One side of the authentication: the origin server (401) or the proxy (407). Its
/// space's key is read from the request's head when needed ([`SpaceKey::of`] allocates
/// nothing), so that the head can take each send's credentials.
struct Leg {
    mode: AuthMode,
    /// What the next send answers with: the remembered session, or a fresh one.
    session: Option<Arc<Session>>,
    /// `session` is the one remembered for this space (when this request looked).
    remembered: bool,
    /// A challenge of this request was answered already.
    answered: bool,
    /// The answer to a `stale=true` challenge was sent already.
    stale_retried: bool,
}

impl Leg {
    fn new(mode: AuthMode, parts: &Parts, spaces: &Spaces) -> Leg {
        let session = spaces.get(&SpaceKey::of(mode, parts));
        Leg {
            mode,
            remembered: session.is_some(),
            session,
            answered: false,
            stale_retried: false,
        }
    }

    /// Whether `status` refuses this leg's credentials (or, for the origin's, leaves
    /// them unread: a proxy that answers 407 never forwarded them).
    fn refused_by(&self, status: StatusCode) -> bool {
        status == StatusCode::PROXY_AUTHENTICATION_REQUIRED
            || (self.mode == AuthMode::Origin && status == StatusCode::UNAUTHORIZED)
    }

    /// The credentials were accepted: checks `rspauth`, adopts `nextnonce`, and
    /// remembers the session for the next request to this space.
    fn accepted(
        &mut self,
        answer: &Answer,
        headers: &HeaderMap,
        parts: &Parts,
        spaces: &Spaces,
    ) -> Result<(), Error> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let next = match headers
            .get(self.mode.info_header())
            .map(|info| answer.verify(info))
        {
            None => None,
            Some(Ok(next)) => next,
            Some(Err(error)) => {
                spaces.forget(&SpaceKey::of(self.mode, parts), &session);
                return Err(error);
            }
        };
        let (session, changed) = match next {
            Some(nonce) => (Arc::new(session.with_next_nonce(&nonce)), true),
            None => (session, !self.remembered),
        };
        // A session remembered already is not put again: that would only overwrite a
        // newer one that a concurrent request stored meanwhile.
        if changed {
            spaces.put(&SpaceKey::of(self.mode, parts), Arc::clone(&session));
            self.remembered = true;
        }
        self.session = Some(session);
        Ok(())
    }

    /// A 401 or 407 for this leg: whether to send again, with a session for its
    /// challenge. A refused session is forgotten.
    fn challenged(
        &mut self,
        headers: &HeaderMap,
        parts: &Parts,
        state: &ClientState,
    ) -> Result<bool, Error> {
        if let Some(refused) = self.session.take() {
            state
                .spaces
                .forget(&SpaceKey::of(self.mode, parts), &refused);
        }
        let challenge = match Challenge::strongest(headers.get_all(self.mode.challenge_header())) {
            Ok(challenge) => challenge,
            // Not a Digest server: its answer is the caller's to read.
            Err(ChallengeError::NoDigestChallenge) => return Ok(false),
            Err(error) if !self.answered => return Err(error.into()),
            // Refused after an answer: the refusal is the result, whatever came with it.
            Err(_) => return Ok(false),
        };
        // One fresh answer, and one more only for a `stale=true` refusal of it.
        let stale_retry = challenge.stale() && !self.stale_retried;
        if self.answered && !stale_retry {
            return Ok(false);
        }
        self.stale_retried = self.answered;
        self.answered = true;
        self.session = Some(Arc::new(Session::new(&state.credentials, challenge)));
        self.remembered = false;
        Ok(true)
    }
}

/// The request target as the server in `mode` sees it: a proxy gets the absolute URI,
/// an origin server the path and query (hyper's client sends origin-form), `CONNECT` the
/// authority. Only the absolute URI is not in the request as one piece of text.
fn digest_uri(mode: AuthMode, parts: &Parts) -> Cow<'_, str> {
    let uri = &parts.uri;
    if parts.method == Method::CONNECT {
        if let Some(authority) = uri.authority() {
            return Cow::Borrowed(authority.as_str());
        }
    }
    if mode == AuthMode::Proxy && uri.scheme().is_some() {
        return Cow::Owned(uri.to_string());
    }
    Cow::Borrowed(uri.path_and_query().map_or("/", |pq| pq.as_str()))
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::{Future, poll_fn};
    use std::pin::pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};

    use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
    use http::{HeaderValue, Request, Response, StatusCode};
    use tower::{Layer, ServiceExt, service_fn};

    use crate::client::DigestClientLayer;

    fn challenge(nonce: &str, stale: bool) -> Response<String> {
        let offer = format!(r#"Digest realm="r", qop="auth", nonce="{nonce}", stale={stale}"#);
        let mut response = Response::new(String::new());
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let offer = HeaderValue::from_str(&offer).unwrap();
        response.headers_mut().insert(WWW_AUTHENTICATE, offer);
        response
    }

    /// What a future that needs no waking gives, or `None` while it waits.
    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Option<F::Output> {
        match future.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        }
    }

    /// A server that refuses a request it was not made ready for (each call uses up the
    /// readiness, and a clone starts without it): challenges, then accepts.
    #[derive(Clone, Default)]
    struct Strict {
        ready: bool,
        sent: Arc<Mutex<usize>>,
    }

    impl tower::Service<Request<String>> for Strict {
        type Response = Response<String>;
        type Error = &'static str;
        type Future = std::future::Ready<Result<Response<String>, &'static str>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.ready = true;
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<String>) -> Self::Future {
            let mut sent = self.sent.lock().unwrap();
            *sent += 1;
            let response = match (std::mem::take(&mut self.ready), *sent) {
                (false, _) => Err("called without poll_ready"),
                (true, 1) => Ok(challenge("one", false)),
                (true, _) => Ok(Response::new(String::new())),
            };
            std::future::ready(response)
        }
    }

    #[test]
    fn every_send_is_made_ready_first() {
        let server = Strict::default();
        let sent = Arc::clone(&server.sent);
        let client = DigestClientLayer::new("Mufasa", "Circle of Life").layer(server);
        let request = Request::get("http://device.example/").body(String::new());
        let response = poll_once(pin!(client.oneshot(request.unwrap()))).unwrap();
        assert_eq!(response.unwrap().status(), StatusCode::OK);
        assert_eq!(*sent.lock().unwrap(), 2);
    }

    #[test]
    fn a_request_ending_late_keeps_the_session_a_concurrent_one_renewed() {
        // Nonce `one` is refused as stale from its third answer on, for nonce `two`; the
        // second answer (the late request) waits until released.
        let released = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (release, log) = (Arc::clone(&released), Arc::clone(&sent));
        let server = service_fn(move |request: Request<String>| {
            let header = request.headers().get(AUTHORIZATION);
            let header = header.map_or(String::new(), |h| h.to_str().unwrap().to_owned());
            let old = header.contains(r#"nonce="one""#);
            let mut response = Some(match header.as_str() {
                "" => challenge("one", false),
                _ if old && header.contains("nc=00000003") => challenge("two", true),
                _ => Response::new(String::new()),
            });
            let wait = old && header.contains("nc=00000002");
            log.lock().unwrap().push(header);
            let release = Arc::clone(&release);
            poll_fn(move |_| {
                if wait && !release.load(Ordering::SeqCst) {
                    return Poll::Pending;
                }
                Poll::Ready(Ok::<_, Infallible>(response.take().unwrap()))
            })
        });
        let client = DigestClientLayer::new("Mufasa", "Circle of Life").layer(server);
        let get = || {
            let request = Request::get("http://device.example/").body(String::new());
            client.clone().oneshot(request.unwrap())
        };
        assert_eq!(poll_once(pin!(get())).unwrap().unwrap().status(), 200);
        let mut late = pin!(get());
        assert!(poll_once(late.as_mut()).is_none());
        assert_eq!(poll_once(pin!(get())).unwrap().unwrap().status(), 200);
        released.store(true, Ordering::SeqCst);
        assert_eq!(poll_once(late.as_mut()).unwrap().unwrap().status(), 200);
        // The late request's older session does not replace the renewed one.
        assert_eq!(poll_once(pin!(get())).unwrap().unwrap().status(), 200);
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 6);
        assert!(sent[5].contains(r#"nonce="two""#) && sent[5].contains("nc=00000002"));
    }
}
