//! Answering a challenge: the parts of an answer (each possibly wrong), the verdict they
//! call for, and the check of what the service did with it.

use std::sync::atomic::Ordering;

use http::{HeaderValue, Response, StatusCode};
use tower_digest_auth::Algorithm;

use super::client::{HeaderBuilder, ext_value, is_stale, param, params, response_digest, spell_nc};
use super::model::{Facts, Issued, Model, Sent};
use super::scenario::{
    AlgorithmChoice, AnswerSpec, Client, Extra, NonceChoice, OpaqueChoice, QopChoice,
    ResponseChoice, UriChoice, UserChoice,
};
use super::{CLOCK_SKEW_SECS, HOST, METHODS, PATHS, REALM, USERS, WINDOW, pick};

impl Model {
    // One recipe, read top to bottom: the parts, the header, the facts, the delivery.
    #[allow(clippy::too_many_lines)]
    pub(super) fn answer(&mut self, spec: &AnswerSpec) {
        let method = pick(&METHODS, spec.method);
        let hash_method = spec.hash_method.map_or(method, |m| pick(&METHODS, m));
        let path = pick(&PATHS, spec.path);

        // The nonce, and the algorithm the client believes it answers.
        let (nonce, nonce_index, nonce_algorithm) = self.choose_nonce(&spec.nonce);
        let claimed = match spec.algorithm {
            AlgorithmChoice::AsNonce | AlgorithmChoice::AsNonceLowercase => Some(nonce_algorithm),
            AlgorithmChoice::Omitted => Some(Algorithm::Md5),
            AlgorithmChoice::Named(i) => Some(pick(&Algorithm::ALL, i)),
            AlgorithmChoice::Unknown => None,
        };
        let hashed_with = claimed.unwrap_or(nonce_algorithm);

        let (username, password, known) = match spec.user {
            UserChoice::Plain(second) | UserChoice::Extended(second) => {
                let (name, password) = USERS[usize::from(second)];
                (name, password, true)
            }
            UserChoice::Both | UserChoice::Userhash => (USERS[0].0, USERS[0].1, true),
            UserChoice::Unknown => ("nobody", "Circle of Life", false),
        };
        let password = if spec.right_password {
            password
        } else {
            "Circle of life"
        };

        let qop = match spec.qop {
            QopChoice::Auth | QopChoice::Omitted => "auth",
            QopChoice::Upper => "AUTH",
            QopChoice::AuthInt => "auth-int",
        };
        let (raw_nc, nc) = spell_nc(spec.nc, spec.nc_format);
        let cnonce: String = spec.cnonce.chars().take(24).collect();
        let uri = match spec.uri {
            UriChoice::Same => path.to_owned(),
            UriChoice::Absolute => format!("http://{HOST}{path}"),
            UriChoice::WrongHost => format!("http://evil.example{path}"),
            UriChoice::Other(i) => pick(&PATHS, i).to_owned(),
        };
        let uri_right = match spec.uri {
            UriChoice::Same => true,
            UriChoice::Absolute => spec.host_header,
            UriChoice::WrongHost => false,
            UriChoice::Other(i) => pick(&PATHS, i) == path,
        };

        let kd = |method: &str| {
            response_digest(
                hashed_with,
                username,
                password,
                &nonce,
                &raw_nc,
                &cnonce,
                qop,
                method,
                &uri,
            )
        };
        let computed = kd(hash_method);
        let response = match spec.response {
            ResponseChoice::Computed => computed.clone(),
            ResponseChoice::Uppercase => computed.to_ascii_uppercase(),
            ResponseChoice::Flipped(at) => {
                let mut bytes = computed.clone().into_bytes();
                let at = usize::from(at) % bytes.len();
                bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
                String::from_utf8(bytes).expect("hex")
            }
            ResponseChoice::Truncated => computed[..computed.len() - 2].to_owned(),
        };

        // The header, in the spelling the spec asks for.
        let mut header = HeaderBuilder::new(spec.quote_all);
        match spec.user {
            UserChoice::Plain(_) | UserChoice::Unknown => header.quoted("username", username),
            UserChoice::Extended(_) => header.param("username*", &ext_value(username)),
            UserChoice::Both => {
                header.quoted("username", username);
                header.param("username*", &ext_value(username));
            }
            UserChoice::Userhash => {
                header.quoted("username", username);
                header.param("userhash", "true");
            }
        }
        header.quoted("realm", if spec.realm { REALM } else { "other realm" });
        header.quoted("nonce", &nonce);
        header.quoted("uri", &uri);
        match spec.algorithm {
            AlgorithmChoice::AsNonce | AlgorithmChoice::Named(_) => {
                header.param("algorithm", hashed_with.name());
            }
            AlgorithmChoice::AsNonceLowercase => {
                header.param("algorithm", &hashed_with.name().to_ascii_lowercase());
            }
            AlgorithmChoice::Omitted => {}
            AlgorithmChoice::Unknown => header.param("algorithm", "SHA-1"),
        }
        if !matches!(spec.qop, QopChoice::Omitted) {
            header.param("qop", qop);
        }
        header.param("nc", &raw_nc);
        header.quoted("cnonce", &cnonce);
        header.quoted("response", &response);
        let opaque = self.opaque.clone().unwrap_or_default();
        match spec.opaque {
            OpaqueChoice::Right if !opaque.is_empty() => header.quoted("opaque", &opaque),
            OpaqueChoice::Wrong => header.quoted("opaque", "not-ours"),
            _ => {}
        }
        match spec.extra {
            Extra::UnknownParam => header.param("x-extension", "some value, with comma"),
            Extra::DuplicateNc => header.param("NC", &raw_nc),
            Extra::None | Extra::SecondHeader => {}
        }
        let value = header.finish();
        let mut headers = vec![value.clone()];
        if matches!(spec.extra, Extra::SecondHeader) {
            headers.push(value);
        }
        if headers.iter().any(|h| HeaderValue::from_bytes(h).is_err()) {
            return; // A cnonce with control characters: not a request a client can send.
        }

        let well_formed = spec.realm
            && uri_right
            && claimed.is_some_and(|a| self.algorithms.contains(&a))
            && !matches!(spec.qop, QopChoice::AuthInt | QopChoice::Omitted)
            && nc.is_some()
            && matches!(
                spec.response,
                ResponseChoice::Computed | ResponseChoice::Uppercase
            )
            && !matches!(spec.opaque, OpaqueChoice::Wrong)
            && !matches!(spec.extra, Extra::DuplicateNc | Extra::SecondHeader)
            && !matches!(spec.user, UserChoice::Both | UserChoice::Userhash)
            && nonce_index.is_some()
            && claimed == Some(nonce_algorithm)
            && hash_method == method;
        // Only a correct answer may pass; skip the hashing for the others.
        let correct = well_formed && known && spec.right_password;
        let rspauth = if correct { kd("") } else { String::new() };
        let facts = Facts {
            nonce: nonce_index,
            correct,
            only_credentials_wrong: well_formed && !(known && spec.right_password),
            nc,
            raw_nc,
            username: username.to_owned(),
            rspauth,
            cnonce,
        };
        let sent = Sent {
            method,
            path,
            host: spec.host_header,
            headers,
            facts,
        };
        self.deliver(&sent, spec.client);
        self.sent.push(sent);
        if self.sent.len() > 16 {
            self.sent.remove(0);
        }
    }

    /// The nonce to answer: (text, index of the issued nonce it is, its algorithm).
    pub(super) fn choose_nonce(&self, choice: &NonceChoice) -> (String, Option<usize>, Algorithm) {
        let issued = |i: u8| (!self.issued.is_empty()).then(|| usize::from(i) % self.issued.len());
        match choice {
            NonceChoice::Issued(i) => match issued(*i) {
                Some(index) => {
                    let n = &self.issued[index];
                    (n.nonce.clone(), Some(index), n.algorithm)
                }
                None => ("no-nonce-yet".to_owned(), None, Algorithm::Md5),
            },
            NonceChoice::Mutated { index, at, to } => match issued(*index) {
                Some(index) => {
                    const B64: &[u8] =
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                    let n = &self.issued[index];
                    let mut bytes = n.nonce.clone().into_bytes();
                    let at = usize::from(*at) % bytes.len();
                    bytes[at] = pick(B64, *to);
                    let text = String::from_utf8(bytes).expect("base64");
                    let same = text == n.nonce;
                    (text, same.then_some(index), n.algorithm)
                }
                None => ("no-nonce-yet".to_owned(), None, Algorithm::Md5),
            },
            NonceChoice::Truncated(i) => match issued(*i) {
                Some(index) => {
                    let n = &self.issued[index];
                    (n.nonce[..n.nonce.len() - 1].to_owned(), None, n.algorithm)
                }
                None => (String::new(), None, Algorithm::Md5),
            },
            NonceChoice::Made(text) => {
                let text: String = text.chars().take(64).collect();
                let index = self.issued.iter().position(|n| n.nonce == text);
                let algorithm = index.map_or(Algorithm::Md5, |i| self.issued[i].algorithm);
                (text, index, algorithm)
            }
        }
    }

    /// Sends an answer from `client` and checks the verdict against the model.
    pub(super) fn deliver(&mut self, sent: &Sent, client: Client) {
        let facts = &sent.facts;
        let now = self.now_secs();
        let issued = facts.nonce.map(|i| self.issued[i].clone());
        let same_client = client
            .addr()
            .zip(issued.as_ref())
            .is_some_and(|(ip, n)| ip.to_canonical() == n.client);
        let genuine = issued.is_some() && same_client;
        // A nonce of ours from any address: its response is checked (a right one from
        // another address is answered stale, never accepted).
        let ours = issued.is_some() && client.addr().is_some();
        let fresh = issued.as_ref().is_some_and(|n| {
            now.saturating_sub(n.at_secs) < self.lifetime_secs && n.at_secs <= now + CLOCK_SKEW_SECS
        });
        let used = facts.nonce.and_then(|i| self.accepted.get(&i));
        let replay = match (used, facts.nc) {
            (Some(used), Some(nc)) => used.contains(&nc),
            _ => false,
        };
        let in_window = match (used, facts.nc) {
            (Some(used), Some(nc)) => {
                let highest = used.iter().copied().max().unwrap_or(0);
                nc > highest || highest - nc < WINDOW
            }
            _ => true,
        };
        let fail_credentials = self.fail_credentials.load(Ordering::Relaxed);
        let fail_nonces = self.fail_nonces.load(Ordering::Relaxed);
        let may_fail =
            (fail_credentials && ours) || (fail_nonces && genuine && facts.correct && fresh);

        let response = self.send(client, sent.method, sent.path, sent.host, &sent.headers);
        let status = self.check_common(&response, client, may_fail);
        let stale = is_stale(&response);
        let verified = genuine && facts.correct;

        if status == StatusCode::OK {
            assert!(
                verified,
                "200 without the right password, nonce, client or request"
            );
            assert!(fresh, "200 for an expired nonce");
            assert!(!replay, "second 200 for one (nonce, nc)");
            assert!(!fail_credentials && !fail_nonces, "200 while a store fails");
            let issued = issued.expect("verified");
            self.accepted_answer(&response, facts, client, &issued);
        }
        if replay && verified && status == StatusCode::UNAUTHORIZED {
            self.reached.replays_refused += 1;
        }
        if stale {
            assert!(
                ours && facts.correct,
                "stale=true for a response that did not verify"
            );
        }
        if client.addr().is_some() && !fail_credentials && genuine && facts.only_credentials_wrong {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "wrong password or unknown user"
            );
            assert!(!stale, "stale=true for a wrong password");
        }

        // Expiry sweeps may drop entries from here on.
        let lifetime = self.lifetime_secs;
        if self
            .accepted
            .keys()
            .any(|&i| self.issued[i].at_secs.saturating_add(lifetime) < now)
        {
            self.may_forget = true;
        }
        // Liveness: a correct, fresh, unused answer passes unless the store may have
        // forgotten something.
        if verified
            && fresh
            && !replay
            && in_window
            && !fail_credentials
            && !fail_nonces
            && !self.may_forget
        {
            assert_eq!(status, StatusCode::OK, "a correct answer was refused");
        }
    }

    /// Checks a 200 against what the client knows, and records the accepted `nc`.
    pub(super) fn accepted_answer(
        &mut self,
        response: &Response<String>,
        facts: &Facts,
        client: Client,
        issued: &Issued,
    ) {
        let index = facts.nonce.expect("verified");
        let nc = facts.nc.expect("verified");
        self.accepted.entry(index).or_default().insert(nc);
        if self.accepted.len() >= self.max_entries {
            self.may_forget = true;
        }
        assert_eq!(
            response.body(),
            &facts.username,
            "the inner service saw another user"
        );
        let info = response
            .headers()
            .get("authentication-info")
            .expect("Authentication-Info on success")
            .as_bytes();
        // The echoed cnonce may be UTF-8 text.
        let info = std::str::from_utf8(info).expect("UTF-8").to_owned();
        let info = params(&info);
        assert_eq!(
            param(&info, "rspauth"),
            Some(facts.rspauth.as_str()),
            "rspauth"
        );
        assert_eq!(param(&info, "nc"), Some(facts.raw_nc.as_str()));
        assert_eq!(param(&info, "cnonce"), Some(facts.cnonce.as_str()));
        if let Some(next) = param(&info, "nextnonce") {
            self.reached.next_nonces += 1;
            let algorithm = issued.algorithm;
            let ip = client.addr().expect("verified");
            self.learn(next.to_owned(), algorithm, ip);
        }
    }
}
