//! Just enough of a DNS stub resolver (RFC 1035) for validation: one
//! question (A, AAAA or TXT) to one recursive server over UDP, again over
//! TCP when the answer is truncated. It is what Pebble's `-dnsserver` does,
//! so tests point both servers at one DNS server (pebble-challtestsrv) and
//! dns-01 works without touching the machine's resolver.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Instant;

/// Record types asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    /// IPv4 address.
    A = 1,
    /// Text.
    Txt = 16,
    /// IPv6 address.
    Aaaa = 28,
}

/// The records of one answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// A and AAAA records.
    pub addresses: Vec<IpAddr>,
    /// TXT records, each one's strings joined.
    pub texts: Vec<Vec<u8>>,
}

/// Why a lookup failed, for the `dns` problem's detail.
pub type DnsError = String;

/// The first `nameserver` of /etc/resolv.conf, port 53.
pub fn system_server() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("nameserver"))
            .then(|| words.next()?.parse::<IpAddr>().ok())
            .flatten()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// Asks `server` for `name`'s records of type `kind`, within `deadline`.
pub fn query(
    server: SocketAddr,
    name: &str,
    kind: RecordType,
    deadline: Instant,
) -> Result<Answer, DnsError> {
    let mut id = [0u8; 2];
    openssl::rand::rand_bytes(&mut id).map_err(|e| e.to_string())?;
    let question = encode_query(u16::from_be_bytes(id), name, kind)?;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("no answer from the DNS server {server} in time"))
    };
    let bind = if server.is_ipv4() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    };
    let socket = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    socket.connect(server).map_err(|e| e.to_string())?;
    socket
        .send(&question)
        .map_err(|e| format!("{server}: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let reply = loop {
        socket
            .set_read_timeout(Some(remaining()?))
            .map_err(|e| e.to_string())?;
        let n = socket
            .recv(&mut buf)
            .map_err(|e| format!("no answer from the DNS server {server}: {e}"))?;
        // Another id is a stray or spoofed packet: keep waiting.
        if n >= 12 && buf[..2] == id {
            break buf[..n].to_vec();
        }
    };
    let truncated = reply[2] & 0x02 != 0;
    let reply = if truncated {
        let mut stream = TcpStream::connect_timeout(&server, remaining()?)
            .map_err(|e| format!("{server} (TCP): {e}"))?;
        stream
            .set_read_timeout(Some(remaining()?))
            .map_err(|e| e.to_string())?;
        let len = u16::try_from(question.len()).map_err(|e| e.to_string())?;
        stream
            .write_all(&[&len.to_be_bytes()[..], &question].concat())
            .map_err(|e| e.to_string())?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).map_err(|e| e.to_string())?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut body).map_err(|e| e.to_string())?;
        body
    } else {
        reply
    };
    parse_answer(&reply, kind).map_err(|why| format!("{server} answered badly: {why}"))
}

fn encode_query(id: u16, name: &str, kind: RecordType) -> Result<Vec<u8>, DnsError> {
    let mut out = Vec::with_capacity(32 + name.len());
    out.extend_from_slice(&id.to_be_bytes());
    // Recursion desired; one question.
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))
            .ok_or_else(|| format!("{name:?} is not a DNS name"))?;
        out.push(len);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&(kind as u16).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    Ok(out)
}

/// Skips a possibly compressed name at `pos`; returns the position after it.
fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, &'static str> {
    loop {
        let len = *msg.get(pos).ok_or("a name runs past the end")?;
        match len {
            0 => return Ok(pos + 1),
            l if l & 0xC0 == 0xC0 => return Ok(pos + 2),
            l => pos += 1 + usize::from(l),
        }
    }
}

fn u16_at(msg: &[u8], pos: usize) -> Result<u16, &'static str> {
    msg.get(pos..pos + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or("the message ends early")
}

fn parse_answer(msg: &[u8], kind: RecordType) -> Result<Answer, &'static str> {
    let rcode = msg.get(3).ok_or("too short")? & 0x0F;
    // NXDOMAIN: no records, which the caller reports with the name.
    if rcode == 3 {
        return Ok(Answer::default());
    }
    if rcode != 0 {
        return Err("the server reported an error (SERVFAIL or REFUSED)");
    }
    let questions = u16_at(msg, 4)?;
    let answers = u16_at(msg, 6)?;
    let mut pos = 12;
    for _ in 0..questions {
        pos = skip_name(msg, pos)? + 4;
    }
    let mut out = Answer::default();
    for _ in 0..answers {
        pos = skip_name(msg, pos)?;
        let rtype = u16_at(msg, pos)?;
        let rdlen = usize::from(u16_at(msg, pos + 8)?);
        let start = pos + 10;
        let data = msg
            .get(start..start + rdlen)
            .ok_or("a record runs past the end")?;
        pos = start + rdlen;
        if rtype != kind as u16 {
            continue; // a CNAME on the way
        }
        match kind {
            RecordType::A => {
                let b: [u8; 4] = data.try_into().map_err(|_| "an A record is not 4 bytes")?;
                out.addresses.push(IpAddr::from(b));
            }
            RecordType::Aaaa => {
                let b: [u8; 16] = data
                    .try_into()
                    .map_err(|_| "an AAAA record is not 16 bytes")?;
                out.addresses.push(IpAddr::from(b));
            }
            RecordType::Txt => {
                let mut text = Vec::new();
                let mut i = 0;
                while i < data.len() {
                    let len = usize::from(data[i]);
                    text.extend_from_slice(
                        data.get(i + 1..i + 1 + len)
                            .ok_or("a TXT string runs past its record")?,
                    );
                    i += 1 + len;
                }
                out.texts.push(text);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_txt_answer_with_a_compressed_name() {
        let mut msg = encode_query(7, "_acme-challenge.a.test", RecordType::Txt).unwrap();
        msg[2] = 0x81;
        msg[3] = 0x80;
        msg[7] = 1; // one answer
        msg.extend_from_slice(&[
            0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 7, 3, b'a', b'b', b'c', 2, b'd', b'e',
        ]);
        let answer = parse_answer(&msg, RecordType::Txt).unwrap();
        assert_eq!(answer.texts, vec![b"abcde".to_vec()]);
    }

    #[test]
    fn refuses_a_truncated_record() {
        let mut msg = encode_query(7, "a.test", RecordType::A).unwrap();
        msg[7] = 1;
        msg.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0]);
        assert_eq!(
            parse_answer(&msg, RecordType::A),
            Err("a record runs past the end")
        );
    }
}
