//! ECIES as RLPx uses it (devp2p `rlpx.md`, "ECIES Encryption"): pure crypto, no I/O.
//!
//! `R || iv || AES-128-CTR(kE, iv, m) || HMAC-SHA256(sha256(kM), iv || c || shared-mac-data)`, with
//! `kE || kM` from the NIST SP 800-56 concat KDF over the raw ECDH x coordinate. This module must never
//! touch a socket; the handshake state machine in `handshake.rs` drives it.

use aes::Aes128;
use cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use secp256k1::{PublicKey, SecretKey, ecdh};
use sha2::{Digest, Sha256};

use super::error::RlpxError;

/// Uncompressed public key (65) + IV (16) + HMAC (32).
pub const ECIES_OVERHEAD: usize = 65 + 16 + 32;

type Aes128Ctr = ctr::Ctr128BE<Aes128>;

/// Raw ECDH: the x coordinate of `sk * pk`, not hashed (RLPx needs it raw; see DEPENDENCIES.md).
pub fn ecdh_x(pk: &PublicKey, sk: &SecretKey) -> [u8; 32] {
    let point = ecdh::shared_secret_point(pk, sk);
    let mut x = [0u8; 32];
    x.copy_from_slice(&point[..32]);
    x
}

/// NIST SP 800-56 concatenation KDF with SHA-256, 32 bytes of output (one round), empty `s1`.
fn kdf(secret: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(1u32.to_be_bytes());
    h.update(secret);
    h.finalize().into()
}

fn mac_key(km: &[u8]) -> [u8; 32] {
    Sha256::digest(km).into()
}

/// Encrypts `plain` to `remote`; `shared_mac_data` is authenticated but not sent (the EIP-8 size
/// prefix, or empty for pre-EIP-8 packets).
pub fn encrypt(remote: &PublicKey, plain: &[u8], shared_mac_data: &[u8]) -> Vec<u8> {
    let mut rng = secp256k1::rand::rng();
    let eph = SecretKey::new(&mut rng);
    let mut iv = [0u8; 16];
    secp256k1::rand::RngCore::fill_bytes(&mut rng, &mut iv);
    encrypt_with(remote, plain, shared_mac_data, &eph, iv)
}

/// [`encrypt`] with explicit randomness (tests).
pub fn encrypt_with(
    remote: &PublicKey,
    plain: &[u8],
    shared_mac_data: &[u8],
    eph: &SecretKey,
    iv: [u8; 16],
) -> Vec<u8> {
    let key = kdf(&ecdh_x(remote, eph));
    let (ke, km) = key.split_at(16);
    let mut out = Vec::with_capacity(plain.len() + ECIES_OVERHEAD);
    out.extend_from_slice(&PublicKey::from_secret_key(eph).serialize_uncompressed());
    out.extend_from_slice(&iv);
    let start = out.len();
    out.extend_from_slice(plain);
    // Key and IV lengths are fixed by the types above, so this cannot fail.
    let mut cipher = Aes128Ctr::new_from_slices(ke, &iv).expect("16-byte key and iv");
    cipher.apply_keystream(&mut out[start..]);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&mac_key(km))
        .expect("hmac accepts any key length");
    mac.update(&out[65..]);
    mac.update(shared_mac_data);
    out.extend_from_slice(&mac.finalize().into_bytes());
    out
}

/// Decrypts an ECIES message addressed to `ours`, checking its HMAC first.
pub fn decrypt(ours: &SecretKey, msg: &[u8], shared_mac_data: &[u8]) -> Result<Vec<u8>, RlpxError> {
    if msg.len() < ECIES_OVERHEAD {
        return Err(RlpxError::EciesTooShort {
            len: msg.len(),
            min: ECIES_OVERHEAD,
        });
    }
    let remote = PublicKey::from_slice(&msg[..65]).map_err(|_| RlpxError::InvalidPublicKey {
        what: "ecies ephemeral key",
    })?;
    let key = kdf(&ecdh_x(&remote, ours));
    let (ke, km) = key.split_at(16);
    let tag_at = msg.len() - 32;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&mac_key(km))
        .expect("hmac accepts any key length");
    mac.update(&msg[65..tag_at]);
    mac.update(shared_mac_data);
    mac.verify_slice(&msg[tag_at..])
        .map_err(|_| RlpxError::EciesBadMac)?;
    let iv = &msg[65..81];
    let mut plain = msg[81..tag_at].to_vec();
    let mut cipher = Aes128Ctr::new_from_slices(ke, iv).expect("16-byte key and iv");
    cipher.apply_keystream(&mut plain);
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_tamper() {
        let sk = SecretKey::new(&mut secp256k1::rand::rng());
        let pk = PublicKey::from_secret_key(&sk);
        let c = encrypt(&pk, b"hello rlpx", b"\x01\x02");
        assert_eq!(decrypt(&sk, &c, b"\x01\x02").unwrap(), b"hello rlpx");
        assert!(matches!(
            decrypt(&sk, &c, b"\x01\x03"),
            Err(RlpxError::EciesBadMac)
        ));
        let mut bad = c.clone();
        bad[90] ^= 1;
        assert!(matches!(
            decrypt(&sk, &bad, b"\x01\x02"),
            Err(RlpxError::EciesBadMac)
        ));
        assert!(matches!(
            decrypt(&sk, &c[..50], b""),
            Err(RlpxError::EciesTooShort { .. })
        ));
    }
}
