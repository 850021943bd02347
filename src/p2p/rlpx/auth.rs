//! The auth and ack handshake messages (pre-EIP-8 and EIP-8 forms) and the secrets derived from them
//! (devp2p `rlpx.md`, "Initial Handshake"; EIP-8). Pure computation, no I/O.
//!
//! We always send EIP-8 auth; as responder we answer in the form the initiator used. Both forms are
//! accepted, extra list elements and higher versions included (EIP-8 forward compatibility).

use alloy_primitives::{B256, B512, Keccak256, keccak256};
use alloy_rlp::{Decodable, Encodable, Header};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SecretKey};

use super::ecies::{self, ECIES_OVERHEAD, ecdh_x};
use super::error::RlpxError;
use super::mac::MacState;

/// A node id: the 64-byte uncompressed secp256k1 public key without its `0x04` prefix.
pub type PeerId = B512;

/// Pre-EIP-8 auth packet size (ECIES of 194 bytes).
pub const LEGACY_AUTH_LEN: usize = 194 + ECIES_OVERHEAD;
/// Pre-EIP-8 ack packet size (ECIES of 97 bytes).
pub const LEGACY_ACK_LEN: usize = 97 + ECIES_OVERHEAD;
/// Largest EIP-8 handshake message we accept (its 2-byte prefix could announce 65535).
pub const MAX_HANDSHAKE_LEN: usize = 2048;
/// Version we put in auth and ack.
const HANDSHAKE_VERSION: u8 = 4;

/// The peer id of a public key.
pub fn peer_id(pk: &PublicKey) -> PeerId {
    PeerId::from_slice(&pk.serialize_uncompressed()[1..])
}

/// The public key of a peer id, if it is a curve point.
pub fn public_key(id: &PeerId, what: &'static str) -> Result<PublicKey, RlpxError> {
    let mut buf = [0u8; 65];
    buf[0] = 4;
    buf[1..].copy_from_slice(id.as_slice());
    PublicKey::from_slice(&buf).map_err(|_| RlpxError::InvalidPublicKey { what })
}

/// Which form a handshake message arrived in (we answer in the same form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireForm {
    /// Fixed-size, unprefixed (before EIP-8).
    Legacy,
    /// Size-prefixed RLP list with padding (EIP-8).
    Eip8,
}

/// A decrypted auth message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// Recoverable signature by the initiator's ephemeral key over `static-shared-secret ^ nonce`.
    pub signature: [u8; 65],
    /// The initiator's static node id.
    pub initiator_id: PeerId,
    /// The initiator's nonce.
    pub nonce: B256,
    /// auth-vsn (absent in the legacy form).
    pub version: Option<u64>,
    /// The form it arrived in.
    pub form: WireForm,
}

/// A decrypted ack message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The recipient's ephemeral public key.
    pub ephemeral: PeerId,
    /// The recipient's nonce.
    pub nonce: B256,
    /// ack-vsn (absent in the legacy form).
    pub version: Option<u64>,
    /// The form it arrived in.
    pub form: WireForm,
}

fn malformed(what: &'static str, reason: impl ToString) -> RlpxError {
    RlpxError::MalformedHandshake {
        what,
        reason: reason.to_string(),
    }
}

fn fixed<const N: usize>(what: &'static str, field: &[u8]) -> Result<[u8; N], RlpxError> {
    field.try_into().map_err(|_| {
        malformed(
            what,
            format!("field of {} bytes, expected {N}", field.len()),
        )
    })
}

/// Opens the list of an EIP-8 body; trailing padding after it is ignored, as EIP-8 requires.
fn open_list<'a>(what: &'static str, body: &'a [u8]) -> Result<&'a [u8], RlpxError> {
    let mut buf = body;
    let h = Header::decode(&mut buf).map_err(|e| malformed(what, e))?;
    if !h.list || h.payload_length > buf.len() {
        return Err(malformed(what, "not an RLP list"));
    }
    Ok(&buf[..h.payload_length])
}

fn bytes_field<'a>(what: &'static str, buf: &mut &'a [u8]) -> Result<&'a [u8], RlpxError> {
    Header::decode_bytes(buf, false).map_err(|e| malformed(what, e))
}

/// Decodes a decrypted auth body in either form (`form` tells which the packet framing was).
pub fn decode_auth(body: &[u8], form: WireForm) -> Result<Auth, RlpxError> {
    const W: &str = "auth";
    match form {
        WireForm::Legacy => {
            // sig(65) || keccak(ephemeral-pubk)(32) || pubk(64) || nonce(32) || 0x00
            if body.len() != 194 {
                return Err(malformed(W, format!("legacy body of {} bytes", body.len())));
            }
            Ok(Auth {
                signature: fixed(W, &body[..65])?,
                initiator_id: PeerId::from_slice(&body[97..161]),
                nonce: B256::from_slice(&body[161..193]),
                version: None,
                form,
            })
        }
        WireForm::Eip8 => {
            let mut list = open_list(W, body)?;
            let signature = fixed(W, bytes_field(W, &mut list)?)?;
            let id: [u8; 64] = fixed(W, bytes_field(W, &mut list)?)?;
            let nonce: [u8; 32] = fixed(W, bytes_field(W, &mut list)?)?;
            let version = u64::decode(&mut list).map_err(|e| malformed(W, e))?;
            // Further elements are allowed and ignored (EIP-8).
            Ok(Auth {
                signature,
                initiator_id: PeerId::from(id),
                nonce: B256::from(nonce),
                version: Some(version),
                form,
            })
        }
    }
}

/// Decodes a decrypted ack body in either form.
pub fn decode_ack(body: &[u8], form: WireForm) -> Result<Ack, RlpxError> {
    const W: &str = "ack";
    match form {
        WireForm::Legacy => {
            // ephemeral-pubk(64) || nonce(32) || 0x00
            if body.len() != 97 {
                return Err(malformed(W, format!("legacy body of {} bytes", body.len())));
            }
            Ok(Ack {
                ephemeral: PeerId::from_slice(&body[..64]),
                nonce: B256::from_slice(&body[64..96]),
                version: None,
                form,
            })
        }
        WireForm::Eip8 => {
            let mut list = open_list(W, body)?;
            let eph: [u8; 64] = fixed(W, bytes_field(W, &mut list)?)?;
            let nonce: [u8; 32] = fixed(W, bytes_field(W, &mut list)?)?;
            let version = u64::decode(&mut list).map_err(|e| malformed(W, e))?;
            Ok(Ack {
                ephemeral: PeerId::from(eph),
                nonce: B256::from(nonce),
                version: Some(version),
                form,
            })
        }
    }
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// Random padding length for EIP-8 messages (100..=300 bytes, as geth does) so sizes don't
/// fingerprint the implementation.
fn padding_len() -> usize {
    use secp256k1::rand::Rng;
    secp256k1::rand::rng().random_range(100..=300)
}

/// Encodes `rlp(fields) || zero padding` (`payload`: the fields, RLP-encoded one after another),
/// ECIES-encrypts it with the size prefix as shared MAC data and returns `size || ciphertext`.
fn seal_eip8(remote: &PublicKey, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut body);
    body.extend_from_slice(payload);
    body.resize(body.len() + padding_len(), 0);
    let size = (body.len() + ECIES_OVERHEAD) as u16;
    let prefix = size.to_be_bytes();
    let mut out = prefix.to_vec();
    out.extend_from_slice(&ecies::encrypt(remote, &body, &prefix));
    out
}

/// Builds the initiator's EIP-8 auth packet (size prefix included).
pub fn build_auth(
    static_sk: &SecretKey,
    remote_static: &PublicKey,
    eph_sk: &SecretKey,
    nonce: &B256,
) -> Vec<u8> {
    let shared = ecdh_x(remote_static, static_sk);
    let msg = Message::from_digest(xor32(&shared, &nonce.0));
    let (rec, sig64) =
        RecoverableSignature::sign_ecdsa_recoverable(msg, eph_sk).serialize_compact();
    let mut sig = [0u8; 65];
    sig[..64].copy_from_slice(&sig64);
    sig[64] = u8::from(rec);
    let id = peer_id(&PublicKey::from_secret_key(static_sk));
    let mut payload = Vec::new();
    sig.as_slice().encode(&mut payload);
    id.as_slice().encode(&mut payload);
    nonce.as_slice().encode(&mut payload);
    HANDSHAKE_VERSION.encode(&mut payload);
    seal_eip8(remote_static, &payload)
}

/// Builds the recipient's ack packet in the requested form.
pub fn build_ack(
    remote_static: &PublicKey,
    eph_sk: &SecretKey,
    nonce: &B256,
    form: WireForm,
) -> Vec<u8> {
    let eph = peer_id(&PublicKey::from_secret_key(eph_sk));
    match form {
        WireForm::Legacy => {
            let mut body = Vec::with_capacity(97);
            body.extend_from_slice(eph.as_slice());
            body.extend_from_slice(nonce.as_slice());
            body.push(0);
            ecies::encrypt(remote_static, &body, &[])
        }
        WireForm::Eip8 => {
            let mut payload = Vec::new();
            eph.as_slice().encode(&mut payload);
            nonce.as_slice().encode(&mut payload);
            HANDSHAKE_VERSION.encode(&mut payload);
            seal_eip8(remote_static, &payload)
        }
    }
}

/// Recovers the initiator's ephemeral public key from a verified-to-be-decrypted auth.
pub fn recover_initiator_ephemeral(
    static_sk: &SecretKey,
    auth: &Auth,
) -> Result<PublicKey, RlpxError> {
    let remote_static = public_key(&auth.initiator_id, "auth initiator id")?;
    let shared = ecdh_x(&remote_static, static_sk);
    let msg = Message::from_digest(xor32(&shared, &auth.nonce.0));
    let rec = RecoveryId::try_from(i32::from(auth.signature[64]))
        .map_err(|_| RlpxError::InvalidSignature)?;
    let sig = RecoverableSignature::from_compact(&auth.signature[..64], rec)
        .map_err(|_| RlpxError::InvalidSignature)?;
    sig.recover_ecdsa(msg)
        .map_err(|_| RlpxError::InvalidSignature)
}

/// Decrypts an auth or ack packet (`packet` includes the EIP-8 size prefix when there is one).
pub fn open_packet(sk: &SecretKey, packet: &[u8], form: WireForm) -> Result<Vec<u8>, RlpxError> {
    match form {
        WireForm::Legacy => ecies::decrypt(sk, packet, &[]),
        WireForm::Eip8 => {
            if packet.len() < 2 {
                return Err(RlpxError::EciesTooShort {
                    len: packet.len(),
                    min: 2,
                });
            }
            ecies::decrypt(sk, &packet[2..], &packet[..2])
        }
    }
}

/// Our role in the handshake, which decides which nonce seeds which MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We dialled and sent auth.
    Initiator,
    /// We accepted and sent ack.
    Recipient,
}

/// The session secrets of one connection. `Debug` is deliberately not derived: these are keys.
pub struct Secrets {
    /// AES-256-CTR key of both directions.
    pub aes_secret: B256,
    /// Key of the MAC's AES step.
    pub mac_secret: B256,
    /// MAC over what we send.
    pub egress_mac: MacState,
    /// MAC over what we receive.
    pub ingress_mac: MacState,
}

/// All the inputs of secret derivation, named by side rather than by role.
pub struct SecretInputs<'a> {
    /// Our role.
    pub role: Role,
    /// Our ephemeral key.
    pub our_ephemeral: &'a SecretKey,
    /// The peer's ephemeral public key.
    pub remote_ephemeral: &'a PublicKey,
    /// Our nonce.
    pub our_nonce: &'a B256,
    /// The peer's nonce.
    pub remote_nonce: &'a B256,
    /// The auth packet as sent (with its size prefix).
    pub auth_packet: &'a [u8],
    /// The ack packet as sent (with its size prefix).
    pub ack_packet: &'a [u8],
}

/// Derives the frame secrets (rlpx.md "Secrets").
pub fn derive_secrets(inp: SecretInputs<'_>) -> Secrets {
    let eph = ecdh_x(inp.remote_ephemeral, inp.our_ephemeral);
    let (initiator_nonce, recipient_nonce) = match inp.role {
        Role::Initiator => (inp.our_nonce, inp.remote_nonce),
        Role::Recipient => (inp.remote_nonce, inp.our_nonce),
    };
    let mut h = Keccak256::new();
    h.update(recipient_nonce);
    h.update(initiator_nonce);
    let nonce_hash = h.finalize();
    let shared = keccak256([eph.as_slice(), nonce_hash.as_slice()].concat());
    let aes_secret = keccak256([eph.as_slice(), shared.as_slice()].concat());
    let mac_secret = keccak256([eph.as_slice(), aes_secret.as_slice()].concat());
    // initiator: egress = keccak((mac ^ recipient-nonce) || auth), ingress = keccak((mac ^ initiator-nonce) || ack)
    let mac_for = |nonce: &B256, packet: &[u8]| {
        let mut m = MacState::new(mac_secret);
        m.update(&xor32(&mac_secret.0, &nonce.0));
        m.update(packet);
        m
    };
    let auth_side = mac_for(recipient_nonce, inp.auth_packet);
    let ack_side = mac_for(initiator_nonce, inp.ack_packet);
    let (egress_mac, ingress_mac) = match inp.role {
        Role::Initiator => (auth_side, ack_side),
        Role::Recipient => (ack_side, auth_side),
    };
    Secrets {
        aes_secret,
        mac_secret,
        egress_mac,
        ingress_mac,
    }
}

#[cfg(test)]
mod tests {
    //! The EIP-8 test vectors (`shared/testdata/devp2p/devp2p-vectors.json`).
    use super::*;
    use alloy_primitives::hex;
    use serde_json::Value;

    fn vectors() -> Value {
        let path = crate::p2p::rlpx::tests_support::vectors_path();
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn hs(v: &Value, section: &str, key: &str) -> Vec<u8> {
        hex::decode(v["rlpx_handshake"][section][key].as_str().unwrap()).unwrap()
    }

    fn key(v: &Value, name: &str) -> SecretKey {
        let b: [u8; 32] = hs(v, "keys", name).try_into().unwrap();
        SecretKey::from_secret_bytes(b).unwrap()
    }

    fn form_of(packet: &[u8], legacy_len: usize) -> WireForm {
        if packet.len() == legacy_len && packet[0] == 4 {
            WireForm::Legacy
        } else {
            WireForm::Eip8
        }
    }

    #[test]
    fn auth_vectors_decrypt_in_all_forms() {
        let v = vectors();
        let key_b = key(&v, "Static Key B");
        let pub_a = peer_id(&PublicKey::from_secret_key(&key(&v, "Static Key A")));
        let eph_a = PublicKey::from_secret_key(&key(&v, "Ephemeral Key A"));
        let nonce_a = B256::from_slice(&hs(&v, "keys", "Nonce A"));
        for (name, version) in [
            ("auth1_v4", None),
            ("auth2_eip8", Some(4)),
            ("auth3_eip8_v56", Some(56)),
        ] {
            let packet = hs(&v, name, "packet");
            let form = form_of(&packet, LEGACY_AUTH_LEN);
            let body = open_packet(&key_b, &packet, form).unwrap();
            assert_eq!(body, hs(&v, name, "decrypted_body_decoded"), "{name}");
            let auth = decode_auth(&body, form).unwrap();
            assert_eq!(auth.initiator_id, pub_a, "{name}");
            assert_eq!(auth.nonce, nonce_a, "{name}");
            assert_eq!(auth.version, version, "{name}");
            assert_eq!(
                recover_initiator_ephemeral(&key_b, &auth).unwrap(),
                eph_a,
                "{name}"
            );
        }
    }

    #[test]
    fn ack_vectors_decrypt_in_all_forms() {
        let v = vectors();
        let key_a = key(&v, "Static Key A");
        let eph_b = peer_id(&PublicKey::from_secret_key(&key(&v, "Ephemeral Key B")));
        let nonce_b = B256::from_slice(&hs(&v, "keys", "Nonce B"));
        for (name, version) in [
            ("ack1_v4", None),
            ("ack2_eip8", Some(4)),
            ("ack3_eip8_v57", Some(57)),
        ] {
            let packet = hs(&v, name, "packet");
            let form = form_of(&packet, LEGACY_ACK_LEN);
            let body = open_packet(&key_a, &packet, form).unwrap();
            assert_eq!(body, hs(&v, name, "decrypted_body_decoded"), "{name}");
            let ack = decode_ack(&body, form).unwrap();
            assert_eq!(ack.ephemeral, eph_b, "{name}");
            assert_eq!(ack.nonce, nonce_b, "{name}");
            assert_eq!(ack.version, version, "{name}");
        }
    }

    #[test]
    fn secrets_and_ingress_mac_match_vectors() {
        let v = vectors();
        let eph_b = key(&v, "Ephemeral Key B");
        let eph_a = PublicKey::from_secret_key(&key(&v, "Ephemeral Key A"));
        let nonce_a = B256::from_slice(&hs(&v, "keys", "Nonce A"));
        let nonce_b = B256::from_slice(&hs(&v, "keys", "Nonce B"));
        let auth = hs(&v, "auth2_eip8", "packet");
        let ack = hs(&v, "ack2_eip8", "packet");
        let mut s = derive_secrets(SecretInputs {
            role: Role::Recipient,
            our_ephemeral: &eph_b,
            remote_ephemeral: &eph_a,
            our_nonce: &nonce_b,
            remote_nonce: &nonce_a,
            auth_packet: &auth,
            ack_packet: &ack,
        });
        let exp = &v["rlpx_handshake"]["secrets_auth2_ack2_node_B"];
        let get = |k: &str| hex::decode(exp[k].as_str().unwrap()).unwrap();
        assert_eq!(s.aes_secret.as_slice(), get("aes-secret"));
        assert_eq!(s.mac_secret.as_slice(), get("mac-secret"));
        s.ingress_mac.update(b"foo");
        assert_eq!(
            s.ingress_mac.digest32().as_slice(),
            get("ingress-mac(\"foo\")")
        );
    }

    /// Every (auth, ack) pair of the vectors, seen from the initiator A: A holds only its own static
    /// and ephemeral keys and nonce, so B's ephemeral key and nonce must come out of the ack packet.
    /// The aes and mac secrets do not depend on the packets, so all three pairs must give the
    /// published values; the MAC states do, so each is checked against B's derivation of the same
    /// pair (A's egress is B's ingress and vice versa), and for (Auth₂, Ack₂) against the published
    /// `ingress-mac("foo")` of B, which is A's egress MAC.
    #[test]
    fn initiator_secrets_match_vectors() {
        let v = vectors();
        let (key_a, key_b) = (key(&v, "Static Key A"), key(&v, "Static Key B"));
        let (eph_a, eph_b) = (key(&v, "Ephemeral Key A"), key(&v, "Ephemeral Key B"));
        let nonce_a = B256::from_slice(&hs(&v, "keys", "Nonce A"));
        let exp = &v["rlpx_handshake"]["secrets_auth2_ack2_node_B"];
        let get = |k: &str| hex::decode(exp[k].as_str().unwrap()).unwrap();
        for (auth_name, ack_name) in [
            ("auth1_v4", "ack1_v4"),
            ("auth2_eip8", "ack2_eip8"),
            ("auth3_eip8_v56", "ack3_eip8_v57"),
        ] {
            let what = format!("{auth_name}/{ack_name}");
            let auth_packet = hs(&v, auth_name, "packet");
            let ack_packet = hs(&v, ack_name, "packet");

            // A: opens the ack with its static key, nothing of B's but the packet.
            let form = form_of(&ack_packet, LEGACY_ACK_LEN);
            let ack = decode_ack(&open_packet(&key_a, &ack_packet, form).unwrap(), form).unwrap();
            let remote_eph = public_key(&ack.ephemeral, "ack ephemeral key").unwrap();
            let mut a = derive_secrets(SecretInputs {
                role: Role::Initiator,
                our_ephemeral: &eph_a,
                remote_ephemeral: &remote_eph,
                our_nonce: &nonce_a,
                remote_nonce: &ack.nonce,
                auth_packet: &auth_packet,
                ack_packet: &ack_packet,
            });
            assert_eq!(a.aes_secret.as_slice(), get("aes-secret"), "{what}");
            assert_eq!(a.mac_secret.as_slice(), get("mac-secret"), "{what}");

            // B: opens the auth with its static key and derives the recipient side.
            let form = form_of(&auth_packet, LEGACY_AUTH_LEN);
            let auth =
                decode_auth(&open_packet(&key_b, &auth_packet, form).unwrap(), form).unwrap();
            let mut b = derive_secrets(SecretInputs {
                role: Role::Recipient,
                our_ephemeral: &eph_b,
                remote_ephemeral: &recover_initiator_ephemeral(&key_b, &auth).unwrap(),
                our_nonce: &ack.nonce,
                remote_nonce: &auth.nonce,
                auth_packet: &auth_packet,
                ack_packet: &ack_packet,
            });
            assert_eq!(a.aes_secret, b.aes_secret, "{what}");
            assert_eq!(a.mac_secret, b.mac_secret, "{what}");
            for m in [
                &mut a.egress_mac,
                &mut a.ingress_mac,
                &mut b.egress_mac,
                &mut b.ingress_mac,
            ] {
                m.update(b"foo");
            }
            assert_eq!(a.egress_mac.digest32(), b.ingress_mac.digest32(), "{what}");
            assert_eq!(a.ingress_mac.digest32(), b.egress_mac.digest32(), "{what}");
            // Different packets, different MACs: the pairs are not accidentally the same state.
            assert_ne!(a.egress_mac.digest32(), a.ingress_mac.digest32(), "{what}");
            if auth_name == "auth2_eip8" {
                assert_eq!(
                    a.egress_mac.digest32().as_slice(),
                    get("ingress-mac(\"foo\")"),
                    "{what}"
                );
            }
        }
    }

    /// Frames sealed by the initiator's codec from the (Auth₂, Ack₂) secrets open with the
    /// recipient's, in both directions: the derived states are usable, not only equal.
    #[test]
    fn initiator_and_recipient_codecs_from_vectors_talk() {
        use crate::p2p::rlpx::frame::FrameCodec;
        use bytes::{Bytes, BytesMut};
        use tokio_util::codec::{Decoder, Encoder};

        let v = vectors();
        let (eph_a, eph_b) = (key(&v, "Ephemeral Key A"), key(&v, "Ephemeral Key B"));
        let nonce_a = B256::from_slice(&hs(&v, "keys", "Nonce A"));
        let nonce_b = B256::from_slice(&hs(&v, "keys", "Nonce B"));
        let (auth, ack) = (
            hs(&v, "auth2_eip8", "packet"),
            hs(&v, "ack2_eip8", "packet"),
        );
        let side = |role, ours: &SecretKey, theirs: &SecretKey, on: &B256, rn: &B256| {
            FrameCodec::new(derive_secrets(SecretInputs {
                role,
                our_ephemeral: ours,
                remote_ephemeral: &PublicKey::from_secret_key(theirs),
                our_nonce: on,
                remote_nonce: rn,
                auth_packet: &auth,
                ack_packet: &ack,
            }))
        };
        let mut a = side(Role::Initiator, &eph_a, &eph_b, &nonce_a, &nonce_b);
        let mut b = side(Role::Recipient, &eph_b, &eph_a, &nonce_b, &nonce_a);
        let pass = |from: &mut FrameCodec, to: &mut FrameCodec, msg: &[u8]| {
            let mut wire = BytesMut::new();
            from.encode(Bytes::copy_from_slice(msg), &mut wire).unwrap();
            assert_eq!(&to.decode(&mut wire).unwrap().unwrap()[..], msg);
        };
        pass(&mut a, &mut b, b"\x10from-a");
        pass(&mut b, &mut a, b"\x11from-b");
        pass(&mut a, &mut b, b"\x12again");
    }

    #[test]
    fn our_auth_and_ack_roundtrip() {
        let mut rng = secp256k1::rand::rng();
        let (a, b) = (SecretKey::new(&mut rng), SecretKey::new(&mut rng));
        let eph = SecretKey::new(&mut rng);
        let nonce = B256::repeat_byte(7);
        let packet = build_auth(&a, &PublicKey::from_secret_key(&b), &eph, &nonce);
        let body = open_packet(&b, &packet, WireForm::Eip8).unwrap();
        let auth = decode_auth(&body, WireForm::Eip8).unwrap();
        assert_eq!(auth.initiator_id, peer_id(&PublicKey::from_secret_key(&a)));
        assert_eq!(
            recover_initiator_ephemeral(&b, &auth).unwrap(),
            PublicKey::from_secret_key(&eph)
        );
        for form in [WireForm::Legacy, WireForm::Eip8] {
            let ack = build_ack(&PublicKey::from_secret_key(&a), &eph, &nonce, form);
            let body = open_packet(&a, &ack, form).unwrap();
            assert_eq!(decode_ack(&body, form).unwrap().nonce, nonce);
        }
    }

    #[test]
    fn garbage_bodies_are_errors() {
        for body in [
            &b""[..],
            b"\xc0",
            b"\xf8\xff",
            b"\xc3\x01\x02\x03",
            &[0u8; 194],
        ] {
            assert!(decode_auth(body, WireForm::Eip8).is_err());
            assert!(decode_ack(body, WireForm::Eip8).is_err());
        }
        assert!(decode_auth(&[0u8; 10], WireForm::Legacy).is_err());
    }
}
