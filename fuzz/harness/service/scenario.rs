//! The fuzz input: a layer configuration and the steps to take, decoded with `arbitrary`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;

/// One fuzz input.
#[derive(Arbitrary, Debug)]
pub struct Scenario {
    /// Which algorithms to offer, as a bit set over [`Algorithm::ALL`] (none: the default).
    pub(super) algorithms: u8,
    /// Nonce lifetime in seconds (1 to 4096).
    pub(super) lifetime: u16,
    /// The nonce store's capacity (1 to 8), small so eviction happens.
    pub(super) max_entries: u8,
    pub(super) steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
pub(super) enum Step {
    /// A request without credentials (or with Basic ones): fetches real challenges.
    Challenge {
        client: Client,
        method: u8,
        path: u8,
        basic: bool,
    },
    /// An answer to an issued nonce, built from parts, any of which may be wrong.
    Answer(Box<AnswerSpec>),
    /// Sends an earlier answer again, byte for byte, from `client`.
    Replay {
        index: u8,
        client: Client,
    },
    /// Raw header bytes; `$NONCE` is replaced by the latest issued nonce.
    Raw {
        client: Client,
        method: u8,
        path: u8,
        header: Vec<u8>,
    },
    Clock(ClockStep),
    FailCredentials(bool),
    FailNonces(bool),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub(super) enum Client {
    V4,
    /// The same client seen through a dual-stack socket.
    V4Mapped,
    OtherV4,
    V6,
    Withheld,
}

impl Client {
    pub(super) fn addr(self) -> Option<IpAddr> {
        match self {
            Client::V4 => Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))),
            Client::V4Mapped => Some(IpAddr::V6(Ipv4Addr::new(192, 0, 2, 10).to_ipv6_mapped())),
            Client::OtherV4 => Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11))),
            Client::V6 => Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))),
            Client::Withheld => None,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub(super) enum ClockStep {
    Tick(u8),
    Forward(u16),
    PastLifetime,
    /// Into the last quarter of a fresh nonce's life, where successes carry `nextnonce`.
    LastQuarter,
    Back(u16),
}

#[derive(Arbitrary, Debug)]
#[allow(clippy::struct_excessive_bools)] // Each flag is one independent mutation.
pub(super) struct AnswerSpec {
    pub(super) nonce: NonceChoice,
    pub(super) client: Client,
    pub(super) method: u8,
    /// The method hashed into the response, if not the request's.
    pub(super) hash_method: Option<u8>,
    pub(super) path: u8,
    pub(super) uri: UriChoice,
    pub(super) host_header: bool,
    pub(super) user: UserChoice,
    pub(super) right_password: bool,
    pub(super) algorithm: AlgorithmChoice,
    pub(super) qop: QopChoice,
    pub(super) nc: u64,
    pub(super) nc_format: NcFormat,
    pub(super) cnonce: String,
    pub(super) realm: bool,
    pub(super) opaque: OpaqueChoice,
    pub(super) response: ResponseChoice,
    pub(super) extra: Extra,
    pub(super) quote_all: bool,
}

#[derive(Arbitrary, Debug)]
pub(super) enum NonceChoice {
    Issued(u8),
    Mutated { index: u8, at: u8, to: u8 },
    Truncated(u8),
    Made(String),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub(super) enum UriChoice {
    Same,
    Absolute,
    WrongHost,
    Other(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub(super) enum UserChoice {
    Plain(bool),
    Extended(bool),
    Unknown,
    Both,
    Userhash,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub(super) enum AlgorithmChoice {
    AsNonce,
    AsNonceLowercase,
    Omitted,
    Named(u8),
    Unknown,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub(super) enum QopChoice {
    Auth,
    Upper,
    AuthInt,
    Omitted,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub(super) enum NcFormat {
    Hex8,
    Bare,
    Upper,
    /// One client counts in decimal; the server reads it as hex.
    Decimal,
    Padded16,
    TooLong,
    Zero,
    NotHex,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub(super) enum OpaqueChoice {
    Right,
    Omitted,
    Wrong,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub(super) enum ResponseChoice {
    Computed,
    Uppercase,
    Flipped(u8),
    Truncated,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub(super) enum Extra {
    None,
    UnknownParam,
    DuplicateNc,
    SecondHeader,
}
