//! The RLPx frame MAC (devp2p `rlpx.md`, "MAC"): a running keccak256 state, "updated" with
//! `aes256(mac-secret, digest[..16]) ^ x` seeds. One instance per direction; pure, no I/O.

use aes::Aes256;
use alloy_primitives::{B256, Keccak256};
use cipher::{BlockCipherEncrypt, KeyInit};

/// One direction's MAC state (egress or ingress).
#[derive(Clone)]
pub struct MacState {
    aes: Aes256,
    hasher: Keccak256,
}

impl MacState {
    /// A fresh state keyed by `mac-secret` (the keccak state is seeded by the caller).
    pub fn new(mac_secret: B256) -> Self {
        Self {
            aes: Aes256::new(&mac_secret.0.into()),
            hasher: Keccak256::new(),
        }
    }

    /// Feeds raw bytes into the keccak state.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// The full keccak256 digest of everything fed so far (the state goes on).
    pub fn digest32(&self) -> B256 {
        self.hasher.clone().finalize()
    }

    /// The first 16 bytes of the digest: the MAC value put on the wire.
    pub fn digest(&self) -> [u8; 16] {
        let d = self.digest32();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        out
    }

    fn aes_digest(&self) -> [u8; 16] {
        let mut block = self.digest().into();
        self.aes.encrypt_block(&mut block);
        block.into()
    }

    /// Header step: `update(aes(digest) ^ header_ciphertext)`.
    pub fn update_header(&mut self, header_ct: &[u8; 16]) {
        let enc = self.aes_digest();
        let seed: [u8; 16] = std::array::from_fn(|i| enc[i] ^ header_ct[i]);
        self.update(&seed);
    }

    /// Body step: `update(body_ciphertext)`, then `update(aes(digest) ^ digest)`.
    pub fn update_body(&mut self, body_ct: &[u8]) {
        self.update(body_ct);
        let prev = self.digest();
        let enc = self.aes_digest();
        let seed: [u8; 16] = std::array::from_fn(|i| enc[i] ^ prev[i]);
        self.update(&seed);
    }
}
