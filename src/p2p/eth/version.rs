//! eth protocol versions and message ids.

use std::fmt;

/// An eth sub-protocol version histd speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum EthVersion {
    /// eth/68 (EIP-5793): Status with total difficulty, receipts with bloom.
    Eth68 = 68,
    /// eth/69 (EIP-7642): Status with the served block range, receipts without bloom,
    /// `BlockRangeUpdate`; `NewBlockHashes`/`NewBlock` removed.
    Eth69 = 69,
}

impl EthVersion {
    /// Capability name in the devp2p Hello.
    pub const CAPABILITY_NAME: &'static str = "eth";

    /// Every supported version, most preferred (highest) first: the order to advertise in Hello.
    pub const ALL: [Self; 2] = [Self::Eth69, Self::Eth68];

    /// The version number as in Hello and Status.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The version with this number, if supported.
    pub const fn from_number(v: u64) -> Option<Self> {
        match v {
            68 => Some(Self::Eth68),
            69 => Some(Self::Eth69),
            _ => None,
        }
    }

    /// Size of the message-id space this version occupies after the capability offset
    /// (devp2p rlpx.md "message id-based multiplexing"): eth/68 uses 0x00..=0x10, eth/69 adds 0x11.
    pub const fn message_count(self) -> u8 {
        match self {
            Self::Eth68 => 17,
            Self::Eth69 => 18,
        }
    }

    /// The highest version both we and a peer announcing `theirs` (its `eth` capability
    /// versions) support.
    pub fn highest_common(theirs: impl IntoIterator<Item = u64>) -> Option<Self> {
        theirs.into_iter().filter_map(Self::from_number).max()
    }
}

impl fmt::Display for EthVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "eth/{}", self.as_u8())
    }
}

/// eth message ids, relative to the eth capability offset (devp2p `caps/eth.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EthMessageId {
    /// Handshake, first message each way.
    Status = 0x00,
    /// Block announcement (eth/68 only).
    NewBlockHashes = 0x01,
    /// Transaction gossip.
    Transactions = 0x02,
    /// Header request (EIP-2481 request id).
    GetBlockHeaders = 0x03,
    /// Header response.
    BlockHeaders = 0x04,
    /// Body request.
    GetBlockBodies = 0x05,
    /// Body response.
    BlockBodies = 0x06,
    /// Block propagation (eth/68 only).
    NewBlock = 0x07,
    /// Transaction hash announcement.
    NewPooledTransactionHashes = 0x08,
    /// Pooled transaction request.
    GetPooledTransactions = 0x09,
    /// Pooled transaction response.
    PooledTransactions = 0x0a,
    /// Receipt request.
    GetReceipts = 0x0f,
    /// Receipt response.
    Receipts = 0x10,
    /// Served block range update (eth/69, EIP-7642).
    BlockRangeUpdate = 0x11,
}

impl EthMessageId {
    /// The raw id.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The message with id `id` in `version`, or `None` if that version has no such message
    /// (0x0b..=0x0e are unused since eth/67; 0x01/0x07 are gone in eth/69; 0x11 is new in eth/69).
    pub const fn from_u8(version: EthVersion, id: u8) -> Option<Self> {
        let eth68 = matches!(version, EthVersion::Eth68);
        Some(match id {
            0x00 => Self::Status,
            0x01 if eth68 => Self::NewBlockHashes,
            0x02 => Self::Transactions,
            0x03 => Self::GetBlockHeaders,
            0x04 => Self::BlockHeaders,
            0x05 => Self::GetBlockBodies,
            0x06 => Self::BlockBodies,
            0x07 if eth68 => Self::NewBlock,
            0x08 => Self::NewPooledTransactionHashes,
            0x09 => Self::GetPooledTransactions,
            0x0a => Self::PooledTransactions,
            0x0f => Self::GetReceipts,
            0x10 => Self::Receipts,
            0x11 if !eth68 => Self::BlockRangeUpdate,
            _ => return None,
        })
    }

    /// Whether `version` defines this message.
    pub const fn exists_in(self, version: EthVersion) -> bool {
        Self::from_u8(version, self.as_u8()).is_some()
    }

    /// The spec's name of the message.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Status => "Status",
            Self::NewBlockHashes => "NewBlockHashes",
            Self::Transactions => "Transactions",
            Self::GetBlockHeaders => "GetBlockHeaders",
            Self::BlockHeaders => "BlockHeaders",
            Self::GetBlockBodies => "GetBlockBodies",
            Self::BlockBodies => "BlockBodies",
            Self::NewBlock => "NewBlock",
            Self::NewPooledTransactionHashes => "NewPooledTransactionHashes",
            Self::GetPooledTransactions => "GetPooledTransactions",
            Self::PooledTransactions => "PooledTransactions",
            Self::GetReceipts => "GetReceipts",
            Self::Receipts => "Receipts",
            Self::BlockRangeUpdate => "BlockRangeUpdate",
        }
    }

    /// Every id of any supported version, ascending.
    pub const ALL: [Self; 14] = [
        Self::Status,
        Self::NewBlockHashes,
        Self::Transactions,
        Self::GetBlockHeaders,
        Self::BlockHeaders,
        Self::GetBlockBodies,
        Self::BlockBodies,
        Self::NewBlock,
        Self::NewPooledTransactionHashes,
        Self::GetPooledTransactions,
        Self::PooledTransactions,
        Self::GetReceipts,
        Self::Receipts,
        Self::BlockRangeUpdate,
    ];
}

impl fmt::Display for EthMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#04x})", self.name(), self.as_u8())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fit_the_message_space() {
        for v in EthVersion::ALL {
            let defined: Vec<u8> = (0..=255u8)
                .filter(|&id| EthMessageId::from_u8(v, id).is_some())
                .collect();
            assert!(defined.iter().all(|&id| id < v.message_count()), "{v}");
            assert_eq!(*defined.last().unwrap() + 1, v.message_count(), "{v}");
        }
        assert!(!EthMessageId::BlockRangeUpdate.exists_in(EthVersion::Eth68));
        assert!(!EthMessageId::NewBlock.exists_in(EthVersion::Eth69));
    }

    #[test]
    fn negotiation_picks_highest_common() {
        assert_eq!(
            EthVersion::highest_common([66, 67, 68]),
            Some(EthVersion::Eth68)
        );
        assert_eq!(
            EthVersion::highest_common([68, 69, 70]),
            Some(EthVersion::Eth69)
        );
        assert_eq!(EthVersion::highest_common([66, 67]), None);
    }
}
