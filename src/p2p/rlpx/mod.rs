//! RLPx: the ECIES handshake and the frame codec (devp2p rlpx.md, EIP-8).
