//! Which addresses the per-address rules (the inbound throttle, address bans) apply to.
//!
//! Public addresses always; loopback and private (LAN) addresses only when the operator asks
//! (`PoolConfig::address_rules_on_local`), as geth exempts the LAN from its throttle. Pure: no
//! state, no I/O.

use std::net::IpAddr;

use crate::p2p::discovery::v4::table::limited_network;

/// Whether the per-address rules apply to `ip` (`on_local`: also to local addresses).
pub fn rules_apply(ip: IpAddr, on_local: bool) -> bool {
    on_local || !is_local(ip)
}

/// Loopback, private, link-local, unique-local and unspecified addresses (IPv4-mapped IPv6
/// judged as the IPv4 address): the addresses discv4's subnet limits leave alone too, so both
/// rules agree on what "local" means.
pub fn is_local(ip: IpAddr) -> bool {
    limited_network(ip).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_addresses_are_exempt_unless_asked() {
        for local in [
            "127.0.3.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.9",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = local.parse().unwrap();
            assert!(is_local(ip), "{local}");
            assert!(!rules_apply(ip, false) && rules_apply(ip, true), "{local}");
        }
        for public in ["203.0.113.7", "8.8.8.8", "2001:db8::1", "::ffff:1.2.3.4"] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(!is_local(ip) && rules_apply(ip, false), "{public}");
        }
    }
}
