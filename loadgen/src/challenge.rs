//! Challenge parsing (RFC 9110 section 11).

#[derive(Debug, Default)]
pub(crate) struct Challenge {
    pub(crate) scheme: String,
    pub(crate) params: Vec<(String, String)>,
}

impl Challenge {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(crate) struct Lexer<'a> {
    pub(crate) s: &'a [u8],
    pub(crate) i: usize,
}

impl Lexer<'_> {
    pub(crate) fn skip_ws(&mut self) {
        while self.i < self.s.len() && (self.s[self.i] == b' ' || self.s[self.i] == b'\t') {
            self.i += 1;
        }
    }
    pub(crate) fn skip_ws_commas(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b',') {
            self.i += 1;
        }
    }
    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    pub(crate) fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.i < self.s.len() && is_tchar(self.s[self.i]) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    pub(crate) fn quoted(&mut self) -> Option<String> {
        // At the opening quote.
        self.i += 1;
        let mut out = Vec::new();
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'"' => {
                    self.i += 1;
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
                b'\\' if self.i + 1 < self.s.len() => {
                    out.push(self.s[self.i + 1]);
                    self.i += 2;
                }
                b => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
        None
    }
}

/// Parses one header value that may hold several challenges; appends them to `out`.
/// Returns `false` (keeping what was parsed) on malformed input.
pub(crate) fn parse_challenges(value: &[u8], out: &mut Vec<Challenge>) -> bool {
    let mut lx = Lexer { s: value, i: 0 };
    let mut current: Option<Challenge> = None;
    loop {
        lx.skip_ws_commas();
        if lx.peek().is_none() {
            break;
        }
        let Some(word) = lx.token() else {
            out.extend(current);
            return false;
        };
        lx.skip_ws();
        if lx.peek() == Some(b'=') {
            lx.i += 1;
            lx.skip_ws();
            let v = if lx.peek() == Some(b'"') {
                lx.quoted()
            } else {
                lx.token()
            };
            if let (Some(v), Some(c)) = (v, current.as_mut()) {
                c.params.push((word, v));
            } else {
                out.extend(current);
                return false;
            }
        } else {
            // A word not followed by '=' starts a new challenge.
            out.extend(current.take());
            current = Some(Challenge {
                scheme: word,
                params: Vec::new(),
            });
        }
    }
    out.extend(current);
    true
}

/// Parses a bare parameter list (`Authentication-Info`).
pub(crate) fn parse_params(value: &[u8]) -> Vec<(String, String)> {
    let mut v = b"X ".to_vec();
    v.extend_from_slice(value);
    let mut out = Vec::new();
    parse_challenges(&v, &mut out);
    out.into_iter().next().map(|c| c.params).unwrap_or_default()
}
