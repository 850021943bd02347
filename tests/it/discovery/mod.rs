//! Discovery: discv4 on real UDP sockets, EIP-1459 DNS lists, the merged feed.

mod dns;
mod dns_server;
mod hostile;
mod sources;
mod v4_bucket;
mod v4_guard;
mod v4_loopback;
mod wire;
