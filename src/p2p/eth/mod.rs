//! The eth sub-protocol (eth/68, eth/69): message types and their codecs.
