//! Disconnect reasons (devp2p `rlpx.md`, "Disconnect (0x01)") and their lenient decoding.
//!
//! Peers send the reason as `rlp([reason])`, as a bare integer, or as an empty list, with or without
//! snappy; all are accepted. We always send `rlp([reason])`.

use alloy_rlp::{Decodable, Header};

/// Why a session ends. Numbers are the wire values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// 0x00: disconnect requested.
    Requested,
    /// 0x01: TCP sub-system error.
    TcpError,
    /// 0x02: breach of protocol (malformed message, bad RLP, ...).
    ProtocolBreach,
    /// 0x03: useless peer (e.g. no shared capability, wrong network).
    UselessPeer,
    /// 0x04: too many peers.
    TooManyPeers,
    /// 0x05: already connected.
    AlreadyConnected,
    /// 0x06: incompatible p2p protocol version.
    IncompatibleVersion,
    /// 0x07: null node identity received.
    NullNodeIdentity,
    /// 0x08: client quitting.
    ClientQuitting,
    /// 0x09: unexpected identity in handshake.
    UnexpectedIdentity,
    /// 0x0a: identity is the same as this node.
    ConnectedToSelf,
    /// 0x0b: ping timeout.
    PingTimeout,
    /// 0x10: some other reason specific to a subprotocol (eth: status mismatch, fork id...).
    SubprotocolSpecific,
    /// A value the spec does not define.
    Unknown(u8),
}

impl DisconnectReason {
    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            Self::Requested => 0x00,
            Self::TcpError => 0x01,
            Self::ProtocolBreach => 0x02,
            Self::UselessPeer => 0x03,
            Self::TooManyPeers => 0x04,
            Self::AlreadyConnected => 0x05,
            Self::IncompatibleVersion => 0x06,
            Self::NullNodeIdentity => 0x07,
            Self::ClientQuitting => 0x08,
            Self::UnexpectedIdentity => 0x09,
            Self::ConnectedToSelf => 0x0a,
            Self::PingTimeout => 0x0b,
            Self::SubprotocolSpecific => 0x10,
            Self::Unknown(c) => c,
        }
    }

    /// From a wire value.
    pub fn from_code(c: u8) -> Self {
        match c {
            0x00 => Self::Requested,
            0x01 => Self::TcpError,
            0x02 => Self::ProtocolBreach,
            0x03 => Self::UselessPeer,
            0x04 => Self::TooManyPeers,
            0x05 => Self::AlreadyConnected,
            0x06 => Self::IncompatibleVersion,
            0x07 => Self::NullNodeIdentity,
            0x08 => Self::ClientQuitting,
            0x09 => Self::UnexpectedIdentity,
            0x0a => Self::ConnectedToSelf,
            0x0b => Self::PingTimeout,
            0x10 => Self::SubprotocolSpecific,
            c => Self::Unknown(c),
        }
    }

    /// `rlp([reason])`.
    pub fn encode(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2);
        alloy_rlp::encode_list::<u8, u8>(&[self.code()], &mut out);
        out
    }

    /// Accepts `rlp([reason])`, `rlp([])` (no reason: `Requested`), a bare integer, or empty input.
    pub fn decode(mut buf: &[u8]) -> Option<Self> {
        if buf.is_empty() {
            return Some(Self::Requested);
        }
        if buf[0] >= 0xc0 {
            let h = Header::decode(&mut buf).ok()?;
            if h.payload_length == 0 {
                return Some(Self::Requested);
            }
        }
        u8::decode(&mut buf).ok().map(Self::from_code)
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Self::Requested => "disconnect requested",
            Self::TcpError => "tcp sub-system error",
            Self::ProtocolBreach => "breach of protocol",
            Self::UselessPeer => "useless peer",
            Self::TooManyPeers => "too many peers",
            Self::AlreadyConnected => "already connected",
            Self::IncompatibleVersion => "incompatible p2p protocol version",
            Self::NullNodeIdentity => "null node identity",
            Self::ClientQuitting => "client quitting",
            Self::UnexpectedIdentity => "unexpected identity",
            Self::ConnectedToSelf => "connected to self",
            Self::PingTimeout => "ping timeout",
            Self::SubprotocolSpecific => "subprotocol-specific reason",
            Self::Unknown(c) => return write!(f, "unknown reason {c:#04x}"),
        };
        write!(f, "{text} ({:#04x})", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::DisconnectReason as R;

    #[test]
    fn all_forms_decode() {
        assert_eq!(R::decode(&[0xc1, 0x04]), Some(R::TooManyPeers));
        assert_eq!(R::decode(&[0x04]), Some(R::TooManyPeers));
        assert_eq!(R::decode(&[0x80]), Some(R::Requested));
        assert_eq!(R::decode(&[0xc1, 0x80]), Some(R::Requested));
        assert_eq!(R::decode(&[0xc0]), Some(R::Requested));
        assert_eq!(R::decode(&[0x10]), Some(R::SubprotocolSpecific));
        assert_eq!(R::decode(&[0xc1, 0x33]), Some(R::Unknown(0x33)));
        assert_eq!(R::decode(&[0xc5, 0x01]), None);
        assert_eq!(R::decode(&[0x00]), None);
        for c in 0..=0x10u8 {
            assert_eq!(R::decode(&R::from_code(c).encode()), Some(R::from_code(c)));
        }
        assert_eq!(R::Requested.encode(), vec![0xc1, 0x80]);
    }
}
