//! A minimal DNS client for TXT records (RFC 1035): one question over UDP with an EDNS0 buffer of
//! 4096 bytes, TCP when the answer is truncated, name servers from `/etc/resolv.conf`. A failed
//! question (timeout, server error) is asked of the next server, and the servers again after a
//! doubling backoff, up to `attempts` rounds: UDP loses packets, and one lost answer must not cost
//! a whole tree walk.
//!
//! Owns only "ask a name server for TXT records". It does no caching and no DNSSEC: EIP-1459 trees
//! are authenticated by their signed root and per-record hashes, not by DNS. Every length in a
//! response is bounds-checked; a malformed response is an error, never a panic.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
};

use super::resolver::{ResolveError, TxtResolver};

const TYPE_TXT: u16 = 16;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
const EDNS_BUFFER: u16 = 4096;

/// Asks the given name servers, in order, for TXT records.
#[derive(Debug, Clone)]
pub struct UdpTxtResolver {
    servers: Vec<SocketAddr>,
    /// How long to wait for one server's answer.
    pub timeout: Duration,
    /// Rounds over all servers before a question fails (at least 1).
    pub attempts: u32,
    /// Pause after the first failed round; doubles after each further one.
    pub backoff: Duration,
}

impl UdpTxtResolver {
    /// A resolver asking `servers` (tried in order).
    pub fn new(servers: Vec<SocketAddr>) -> Self {
        Self {
            servers,
            timeout: Duration::from_secs(2),
            attempts: 3,
            backoff: Duration::from_millis(250),
        }
    }

    /// The name servers of `/etc/resolv.conf`.
    pub fn from_system() -> Result<Self, ResolveError> {
        let path = "/etc/resolv.conf";
        let text = std::fs::read_to_string(path).map_err(|e| ResolveError::Failed {
            name: path.to_string(),
            reason: format!("cannot read name servers: {e}"),
        })?;
        let servers = parse_resolv_conf(&text);
        if servers.is_empty() {
            return Err(ResolveError::Failed {
                name: path.to_string(),
                reason: "no nameserver line".to_string(),
            });
        }
        Ok(Self::new(servers))
    }

    async fn ask(&self, server: SocketAddr, name: &str) -> Result<Vec<String>, ResolveError> {
        let failed = |reason: String| ResolveError::Failed {
            name: name.to_string(),
            reason,
        };
        let id: u16 = secp256k1::rand::random();
        let query = encode_query(id, name).map_err(|r| failed(r.to_string()))?;
        let bind: SocketAddr = if server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(bind)
            .await
            .map_err(|e| failed(format!("bind: {e}")))?;
        sock.send_to(&query, server)
            .await
            .map_err(|e| failed(format!("send to {server}: {e}")))?;
        let mut buf = vec![0u8; usize::from(EDNS_BUFFER)];
        let answer = tokio::time::timeout(self.timeout, async {
            loop {
                let (n, from) = sock.recv_from(&mut buf).await?;
                // Only the server we asked, only our question id: anything else is ignored.
                if from == server && n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                    return Ok::<_, std::io::Error>(buf[..n].to_vec());
                }
            }
        })
        .await
        .map_err(|_| failed(format!("no answer from {server} in {:?}", self.timeout)))?
        .map_err(|e| failed(format!("receive from {server}: {e}")))?;

        match parse_response(&answer, id, name)? {
            Parsed::Records(r) => Ok(r),
            Parsed::Truncated => self.ask_tcp(server, name, &query).await,
        }
    }

    async fn ask_tcp(
        &self,
        server: SocketAddr,
        name: &str,
        query: &[u8],
    ) -> Result<Vec<String>, ResolveError> {
        let failed = |reason: String| ResolveError::Failed {
            name: name.to_string(),
            reason,
        };
        let id = u16::from_be_bytes([query[0], query[1]]);
        let exchange = async {
            let mut stream = TcpStream::connect(server).await?;
            let len = u16::try_from(query.len()).unwrap_or(u16::MAX);
            stream.write_all(&len.to_be_bytes()).await?;
            stream.write_all(query).await?;
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await?;
            let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        };
        let answer = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| failed(format!("no TCP answer from {server} in {:?}", self.timeout)))?
            .map_err(|e| failed(format!("TCP to {server}: {e}")))?;
        match parse_response(&answer, id, name)? {
            Parsed::Records(r) => Ok(r),
            Parsed::Truncated => Err(failed(format!("{server} truncated its TCP answer"))),
        }
    }
}

impl TxtResolver for UdpTxtResolver {
    async fn txt(&self, name: &str) -> Result<Vec<String>, ResolveError> {
        let mut last = ResolveError::Failed {
            name: name.to_string(),
            reason: "no name servers configured".to_string(),
        };
        let mut pause = self.backoff;
        for round in 0..self.attempts.max(1) {
            if round > 0 {
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(2);
            }
            for server in &self.servers {
                match self.ask(*server, name).await {
                    Ok(r) => return Ok(r),
                    // NXDOMAIN is an answer, not a failure: do not ask the next server.
                    Err(e @ ResolveError::NotFound { .. }) => return Err(e),
                    Err(e) => last = e,
                }
            }
            if self.servers.is_empty() {
                break;
            }
        }
        Err(last)
    }
}

/// `nameserver <ip>` lines of a resolv.conf, port 53.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The wire form of a TXT question for `name`, with an EDNS0 OPT record.
pub fn encode_query(id: u16, name: &str) -> Result<Vec<u8>, &'static str> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // recursion desired
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]); // 1 question, 1 additional (OPT)
    let name = name.trim_end_matches('.');
    if name.len() > 253 {
        return Err("name longer than 253 bytes");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("empty or over-long label in name");
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&TYPE_TXT.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root name, type 41, class = our UDP buffer size, ttl 0, no options.
    q.push(0);
    q.extend_from_slice(&TYPE_OPT.to_be_bytes());
    q.extend_from_slice(&EDNS_BUFFER.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Ok(q)
}

/// What a response said.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The TXT records (strings of each record joined).
    Records(Vec<String>),
    /// The answer did not fit: ask again over TCP.
    Truncated,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// Skips a (possibly compressed) name.
    fn skip_name(&mut self) -> Option<()> {
        for _ in 0..128 {
            let len = *self.take(1)?.first()?;
            match len {
                0 => return Some(()),
                l if l & 0xC0 == 0xC0 => return self.take(1).map(|_| ()),
                l if l & 0xC0 == 0 => {
                    self.take(usize::from(l))?;
                }
                _ => return None,
            }
        }
        None
    }
}

/// Parses a response to question `id` for `name`.
pub fn parse_response(buf: &[u8], id: u16, name: &str) -> Result<Parsed, ResolveError> {
    let failed = |reason: &str| ResolveError::Failed {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    let malformed = || failed("malformed DNS response");
    let mut c = Cursor { buf, pos: 0 };
    if c.u16().ok_or_else(malformed)? != id {
        return Err(failed("response to another question"));
    }
    let flags = c.u16().ok_or_else(malformed)?;
    if flags & 0x8000 == 0 {
        return Err(failed("not a response"));
    }
    if flags & 0x0200 != 0 {
        return Ok(Parsed::Truncated);
    }
    match flags & 0x000F {
        0 => {}
        3 => {
            return Err(ResolveError::NotFound {
                name: name.to_string(),
            });
        }
        2 => return Err(failed("server failure (SERVFAIL)")),
        5 => return Err(failed("query refused (REFUSED)")),
        _ => return Err(failed("DNS error response")),
    }
    let questions = c.u16().ok_or_else(malformed)?;
    let answers = c.u16().ok_or_else(malformed)?;
    c.take(4).ok_or_else(malformed)?;
    for _ in 0..questions {
        c.skip_name().ok_or_else(malformed)?;
        c.take(4).ok_or_else(malformed)?;
    }
    let mut records = Vec::new();
    for _ in 0..answers {
        c.skip_name().ok_or_else(malformed)?;
        let rtype = c.u16().ok_or_else(malformed)?;
        let class = c.u16().ok_or_else(malformed)?;
        c.take(4).ok_or_else(malformed)?;
        let len = c.u16().ok_or_else(malformed)?;
        let rdata = c.take(usize::from(len)).ok_or_else(malformed)?;
        if rtype != TYPE_TXT || class != CLASS_IN {
            continue; // CNAMEs and the like: the TXT records follow them in the answer.
        }
        let mut text = Vec::with_capacity(rdata.len());
        let mut r = Cursor { buf: rdata, pos: 0 };
        while r.pos < rdata.len() {
            let n = *r
                .take(1)
                .ok_or_else(malformed)?
                .first()
                .ok_or_else(malformed)?;
            text.extend_from_slice(r.take(usize::from(n)).ok_or_else(malformed)?);
        }
        // Tree records are ASCII; a record that is not text is not one of them.
        if let Ok(s) = String::from_utf8(text) {
            records.push(s);
        }
    }
    Ok(Parsed::Records(records))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(id: u16, flags: u16, txt: &[&[u8]]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&id.to_be_bytes());
        r.extend_from_slice(&flags.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0]);
        r.extend_from_slice(b"\x01a\x07example\x00\x00\x10\x00\x01");
        r.extend_from_slice(&[0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
        let rdata: Vec<u8> = txt
            .iter()
            .flat_map(|s| [&[s.len() as u8][..], s].concat())
            .collect();
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(&rdata);
        r
    }

    #[test]
    fn joins_the_strings_of_a_record() {
        let r = response(7, 0x8180, &[b"enrtree-", b"branch:"]);
        assert_eq!(
            parse_response(&r, 7, "a.example"),
            Ok(Parsed::Records(vec!["enrtree-branch:".into()]))
        );
    }

    #[test]
    fn errors_and_truncation() {
        assert!(matches!(
            parse_response(&response(7, 0x8183, &[]), 7, "x"),
            Err(ResolveError::NotFound { .. })
        ));
        assert_eq!(
            parse_response(&response(7, 0x8380, &[]), 7, "x"),
            Ok(Parsed::Truncated)
        );
        assert!(parse_response(&response(8, 0x8180, &[b"x"]), 7, "x").is_err());
        let mut cut = response(7, 0x8180, &[b"hello"]);
        cut.truncate(cut.len() - 2);
        assert!(matches!(
            parse_response(&cut, 7, "x"),
            Err(ResolveError::Failed { .. })
        ));
        for n in 0..cut.len() {
            let _ = parse_response(&cut[..n], 7, "x");
        }
    }

    #[test]
    fn query_and_resolv_conf() {
        let q = encode_query(1, "all.mainnet.ethdisco.net").unwrap();
        assert_eq!(&q[12..17], b"\x03all\x07");
        assert!(encode_query(1, "a..b").is_err());
        let servers =
            parse_resolv_conf("# x\nnameserver 127.0.0.53\nnameserver ::1\noptions edns0\n");
        assert_eq!(
            servers,
            vec![
                "127.0.0.53:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
    }
}
