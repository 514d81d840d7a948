//! Minimal HTTP/1.1 client connection.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::challenge::{Challenge, parse_challenges};
use crate::options::Config;

pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    /// How long a read or write may wait: the socket's own timeouts, or under `--spin`
    /// (a socket that does not block) how long [`retry_until`] polls it.
    pub(crate) timeout: Duration,
    pub(crate) keep_auth_info: bool,
    pub(crate) buf: Vec<u8>,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) challenges: Vec<Challenge>,
    pub(crate) auth_info: Option<Vec<u8>>,
    pub(crate) close: bool,
}

pub(crate) fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Runs `op` until it does more than find the socket not ready: an interrupted call is
/// made again, and one that would block (a `--spin` socket with nothing to read or no
/// room to write) yields the core and tries again, until `give_up`. A blocking socket's
/// own timeout also ends as `WouldBlock`, by then past `give_up`.
fn retry_until<T>(give_up: Instant, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= give_up {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no progress in time",
                    ));
                }
                std::thread::yield_now();
            }
            other => return other,
        }
    }
}

impl Conn {
    pub(crate) fn open(cfg: &Config) -> io::Result<Self> {
        Self::open_to(cfg, cfg.addr)
    }

    pub(crate) fn open_to(cfg: &Config, addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, cfg.timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(cfg.timeout))?;
        stream.set_write_timeout(Some(cfg.timeout))?;
        stream.set_nonblocking(cfg.spin)?;
        Ok(Self {
            stream,
            timeout: cfg.timeout,
            keep_auth_info: cfg.verify_rspauth,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        })
    }

    /// Reads more bytes into the buffer; EOF is an error.
    pub(crate) fn fill(&mut self) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start == 0 {
                return Err(invalid("response head larger than 64 KiB"));
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.read_more()?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.end += n;
        Ok(())
    }

    /// One read; under `--spin` an empty socket is polled until `timeout`.
    fn read_more(&mut self) -> io::Result<usize> {
        let give_up = Instant::now() + self.timeout;
        retry_until(give_up, || self.stream.read(&mut self.buf[self.end..]))
    }

    /// Writes the whole request; under `--spin` a full send buffer is polled until `timeout`.
    fn send(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        let give_up = Instant::now() + self.timeout;
        while !bytes.is_empty() {
            match retry_until(give_up, || self.stream.write(bytes))? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => bytes = &bytes[n..],
            }
        }
        Ok(())
    }

    pub(crate) fn skip(&mut self, mut n: usize) -> io::Result<()> {
        loop {
            let avail = self.end - self.start;
            if avail >= n {
                self.start += n;
                return Ok(());
            }
            n -= avail;
            self.start = self.end;
            self.fill()?;
        }
    }

    pub(crate) fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf[self.start..self.end], b"\r\n") {
                let l = self.buf[self.start..self.start + i].to_vec();
                self.start += i + 2;
                return Ok(l);
            }
            self.fill()?;
        }
    }

    pub(crate) fn roundtrip(&mut self, req: &[u8]) -> io::Result<Response> {
        if self.start != self.end {
            return Err(invalid("unexpected bytes before the response"));
        }
        self.send(req)?;
        self.read_response()
    }

    pub(crate) fn read_response(&mut self) -> io::Result<Response> {
        let head_end = loop {
            if let Some(i) = find(&self.buf[self.start..self.end], b"\r\n\r\n") {
                break self.start + i + 4;
            }
            self.fill()?;
        };
        let head = &self.buf[self.start..head_end - 4];
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let status_line = lines.next().unwrap_or_default();
        let http10 = status_line.starts_with(b"HTTP/1.0 ");
        if !(status_line.starts_with(b"HTTP/1.1 ") || http10) || status_line.len() < 12 {
            return Err(invalid("bad status line"));
        }
        let status = std::str::from_utf8(&status_line[9..12])
            .ok()
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| invalid("bad status code"))?;
        let mut resp = Response {
            status,
            challenges: Vec::new(),
            auth_info: None,
            close: http10,
        };
        let mut content_length: Option<usize> = None;
        let mut chunked = false;
        for line in lines {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(invalid("bad header line"));
            };
            let name = &line[..colon];
            let value = trim(&line[colon + 1..]);
            if name.eq_ignore_ascii_case(b"content-length") {
                let n = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| invalid("bad content-length"))?;
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = value
                    .split(|&b| b == b',')
                    .any(|t| trim(t).eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case(b"connection") {
                for t in value.split(|&b| b == b',') {
                    if trim(t).eq_ignore_ascii_case(b"close") {
                        resp.close = true;
                    } else if trim(t).eq_ignore_ascii_case(b"keep-alive") && http10 {
                        resp.close = false;
                    }
                }
            } else if name.eq_ignore_ascii_case(b"www-authenticate") {
                if !parse_challenges(value, &mut resp.challenges) {
                    return Err(invalid("unparsable WWW-Authenticate"));
                }
            } else if self.keep_auth_info && name.eq_ignore_ascii_case(b"authentication-info") {
                resp.auth_info = Some(value.to_vec());
            }
        }
        self.start = head_end;

        if (100..200).contains(&status) || status == 204 || status == 304 {
            // no body
        } else if chunked {
            loop {
                let l = self.line()?;
                let size_text = l.split(|&b| b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(trim(size_text))
                    .ok()
                    .and_then(|s| usize::from_str_radix(s, 16).ok())
                    .ok_or_else(|| invalid("bad chunk size"))?;
                if size == 0 {
                    while !self.line()?.is_empty() {}
                    break;
                }
                self.skip(size)?;
                if !self.line()?.is_empty() {
                    return Err(invalid("bad chunk end"));
                }
            }
        } else if let Some(n) = content_length {
            self.skip(n)?;
        } else {
            // Body delimited by the end of the connection.
            loop {
                self.start = self.end;
                match self.fill() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            resp.close = true;
        }
        if (100..200).contains(&status) {
            // An interim response: the real one follows.
            return self.read_response();
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread;
    use std::time::{Duration, Instant};

    use super::Conn;
    use crate::options::{Command, Config, parse_args};

    fn spinning_config(port: u16, timeout: &str) -> Config {
        config(port, timeout, true)
    }

    fn config(port: u16, timeout: &str, spin: bool) -> Config {
        let url = format!("http://127.0.0.1:{port}/");
        let mut args = vec!["--url", &url, "--timeout", timeout];
        if spin {
            args.push("--spin");
        }
        match parse_args(args.iter().map(|&a| a.to_owned())) {
            Ok(Command::Run(config)) => *config,
            _ => panic!("arguments should parse"),
        }
    }

    /// A spinning connection finds nothing to read for a while (the socket does not block),
    /// then a response in two pieces, and still reads it whole.
    #[test]
    fn a_spinning_connection_waits_for_a_late_answer_in_pieces() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0_u8; 1024];
            let _ = stream.read(&mut request).unwrap();
            thread::sleep(Duration::from_millis(100));
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Len").unwrap();
            thread::sleep(Duration::from_millis(50));
            stream.write_all(b"gth: 5\r\n\r\nhello").unwrap();
        });
        let mut conn = Conn::open(&spinning_config(port, "5")).unwrap();
        // Nothing has been asked yet: a spinning socket says so at once, without blocking.
        let (mut nothing_yet, asked) = ([0_u8; 1], Instant::now());
        let not_ready = conn.stream.read(&mut nothing_yet).unwrap_err();
        assert_eq!(not_ready.kind(), std::io::ErrorKind::WouldBlock);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "--spin: the read blocked"
        );
        let started = Instant::now();
        let response = conn
            .roundtrip(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(response.status, 200);
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert_eq!(conn.start, conn.end, "the body was consumed");
        server.join().unwrap();
    }

    /// A request larger than the socket buffers: the spinning send finds them full, waits
    /// for the slow reader and sends the rest.
    #[test]
    fn a_spinning_connection_sends_more_than_the_socket_buffers_hold() {
        const SIZE: usize = 32 << 20;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            thread::sleep(Duration::from_millis(100));
            let mut received = 0;
            let mut chunk = vec![0_u8; 1 << 16];
            while received < SIZE {
                match stream.read(&mut chunk).unwrap() {
                    0 => break,
                    n => received += n,
                }
            }
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .unwrap();
            received
        });
        let mut conn = Conn::open(&spinning_config(port, "10")).unwrap();
        let response = conn.roundtrip(&vec![b'x'; SIZE]).unwrap();
        assert_eq!(response.status, 204);
        assert_eq!(server.join().unwrap(), SIZE);
    }

    /// Either way a silent server ends in `TimedOut` after `--timeout`: polled under
    /// `--spin`, the socket's own timeout otherwise.
    #[test]
    fn a_connection_gives_up_after_its_timeout_spinning_or_not() {
        for spin in [true, false] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let mut conn = Conn::open(&config(port, "0.2", spin)).unwrap();
            let (_silent, _) = listener.accept().unwrap();
            let started = Instant::now();
            let Err(error) = conn.roundtrip(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") else {
                panic!("a silent server gave a response (spin: {spin})");
            };
            assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "spin: {spin}");
            let waited = started.elapsed();
            assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(3));
        }
    }
}
