//! Transport parameters: the limits each side announces inside its (encrypted, authenticated)
//! handshake payload.
//!
//! Encoding is a sequence of `(id: varint, length: varint, value)` records; unknown IDs are
//! skipped so later versions can add parameters without breaking older peers.

use crate::coding::{Reader, UnexpectedEnd, Writer, varint_len};
use crate::crypto::CipherSuite;
use crate::packet::ConnectionId;
use crate::time::Duration;
use thiserror::Error;

mod id {
    pub(super) const MAX_IDLE_TIMEOUT: u64 = 0x01;
    pub(super) const MAX_UDP_PAYLOAD_SIZE: u64 = 0x03;
    pub(super) const INITIAL_MAX_DATA: u64 = 0x04;
    pub(super) const INITIAL_MAX_STREAM_DATA_BIDI_LOCAL: u64 = 0x05;
    pub(super) const INITIAL_MAX_STREAM_DATA_BIDI_REMOTE: u64 = 0x06;
    pub(super) const INITIAL_MAX_STREAM_DATA_UNI: u64 = 0x07;
    pub(super) const INITIAL_MAX_STREAMS_BIDI: u64 = 0x08;
    pub(super) const INITIAL_MAX_STREAMS_UNI: u64 = 0x09;
    pub(super) const MAX_ACK_DELAY: u64 = 0x0b;
    pub(super) const INITIAL_SOURCE_CID: u64 = 0x0f;
    pub(super) const MAX_DATAGRAM_FRAME_SIZE: u64 = 0x20;
    pub(super) const CIPHER_SUITES: u64 = 0x40;
}

/// Largest `max_ack_delay` a peer may announce (RFC 9000 §18.2: below 2^14 ms).
const MAX_ACK_DELAY_LIMIT_MS: u64 = 1 << 14;
/// At most this many cipher suites in a preference list.
const MAX_SUITES: usize = 4;

/// Limits and settings one side announces to the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransportParameters {
    /// Zero means no idle timeout from this side.
    pub(crate) max_idle_timeout: Duration,
    pub(crate) max_udp_payload_size: u64,
    pub(crate) initial_max_data: u64,
    pub(crate) initial_max_stream_data_bidi_local: u64,
    pub(crate) initial_max_stream_data_bidi_remote: u64,
    pub(crate) initial_max_stream_data_uni: u64,
    pub(crate) initial_max_streams_bidi: u64,
    pub(crate) initial_max_streams_uni: u64,
    pub(crate) max_ack_delay: Duration,
    /// Zero disables unreliable datagrams towards this side.
    pub(crate) max_datagram_frame_size: u64,
    /// The source connection ID the sender put in its handshake packets; authenticating it
    /// stops an attacker from substituting connection IDs during the handshake.
    pub(crate) initial_source_cid: ConnectionId,
    /// Client: its cipher suites in order of preference. Server: the one suite it chose.
    pub(crate) cipher_suites: SuiteList,
}

/// A short, allocation-free list of cipher suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SuiteList {
    len: u8,
    suites: [Option<CipherSuite>; MAX_SUITES],
}

impl SuiteList {
    pub(crate) fn from_slice(suites: &[CipherSuite]) -> Self {
        let mut out = SuiteList::default();
        for s in suites.iter().take(MAX_SUITES) {
            out.suites[usize::from(out.len)] = Some(*s);
            out.len += 1;
        }
        out
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = CipherSuite> + Clone + '_ {
        self.suites[..usize::from(self.len)].iter().flatten().copied()
    }

    pub(crate) fn first(&self) -> Option<CipherSuite> {
        self.iter().next()
    }
}

/// Transport parameters that cannot be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TransportParameterError {
    /// The encoding is cut short or a record overruns.
    #[error("malformed transport parameters")]
    Malformed,
    /// The same parameter appears twice.
    #[error("duplicate transport parameter {0:#x}")]
    Duplicate(u64),
    /// A value outside its allowed range.
    #[error("transport parameter {0:#x} out of range")]
    OutOfRange(u64),
    /// A required parameter is absent.
    #[error("transport parameter {0:#x} missing")]
    Missing(u64),
}

impl From<UnexpectedEnd> for TransportParameterError {
    fn from(_: UnexpectedEnd) -> Self {
        TransportParameterError::Malformed
    }
}

impl TransportParameters {
    /// Upper bound of the encoded size, for sizing handshake buffers.
    pub(crate) const MAX_ENCODED_LEN: usize = 12 * (1 + 1 + 8) + 2 + 20 + 2 + MAX_SUITES;

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        let put = |w: &mut Writer<'_>, id: u64, v: u64| {
            w.put_varint(id);
            w.put_varint(varint_len(v) as u64);
            w.put_varint(v);
        };
        put(w, id::MAX_IDLE_TIMEOUT, self.max_idle_timeout.as_millis().min(crate::coding::VARINT_MAX as u128) as u64);
        put(w, id::MAX_UDP_PAYLOAD_SIZE, self.max_udp_payload_size);
        put(w, id::INITIAL_MAX_DATA, self.initial_max_data);
        put(w, id::INITIAL_MAX_STREAM_DATA_BIDI_LOCAL, self.initial_max_stream_data_bidi_local);
        put(w, id::INITIAL_MAX_STREAM_DATA_BIDI_REMOTE, self.initial_max_stream_data_bidi_remote);
        put(w, id::INITIAL_MAX_STREAM_DATA_UNI, self.initial_max_stream_data_uni);
        put(w, id::INITIAL_MAX_STREAMS_BIDI, self.initial_max_streams_bidi);
        put(w, id::INITIAL_MAX_STREAMS_UNI, self.initial_max_streams_uni);
        put(w, id::MAX_ACK_DELAY, self.max_ack_delay.as_millis() as u64);
        put(w, id::MAX_DATAGRAM_FRAME_SIZE, self.max_datagram_frame_size);
        w.put_varint(id::INITIAL_SOURCE_CID);
        w.put_length_prefixed(self.initial_source_cid.as_bytes());
        w.put_varint(id::CIPHER_SUITES);
        w.put_varint(1 + u64::from(self.cipher_suites.len)); // count byte + one byte per suite
        w.put_varint(u64::from(self.cipher_suites.len));
        for s in self.cipher_suites.iter() {
            w.put_u8(s.id());
        }
    }

    pub(crate) fn decode(buf: &[u8]) -> Result<Self, TransportParameterError> {
        let mut r = Reader::new(buf);
        let mut seen = 0u128; // bitmap over the parameter ids we know (all < 128)
        let mut p = TransportParameters {
            max_idle_timeout: Duration::ZERO,
            max_udp_payload_size: 65527,
            initial_max_data: 0,
            initial_max_stream_data_bidi_local: 0,
            initial_max_stream_data_bidi_remote: 0,
            initial_max_stream_data_uni: 0,
            initial_max_streams_bidi: 0,
            initial_max_streams_uni: 0,
            max_ack_delay: Duration::from_millis(25),
            max_datagram_frame_size: 0,
            initial_source_cid: ConnectionId::new(&[]).ok_or(TransportParameterError::Malformed)?,
            cipher_suites: SuiteList::default(),
        };
        while !r.is_empty() {
            let pid = r.varint()?;
            let value = r.length_prefixed()?;
            if pid < 128 {
                if seen & (1 << pid) != 0 {
                    return Err(TransportParameterError::Duplicate(pid));
                }
                seen |= 1 << pid;
            }
            let int = || -> Result<u64, TransportParameterError> {
                let mut vr = Reader::new(value);
                let v = vr.varint()?;
                if !vr.is_empty() {
                    return Err(TransportParameterError::Malformed);
                }
                Ok(v)
            };
            match pid {
                id::MAX_IDLE_TIMEOUT => p.max_idle_timeout = Duration::from_millis(int()?),
                id::MAX_UDP_PAYLOAD_SIZE => {
                    p.max_udp_payload_size = int()?;
                    if p.max_udp_payload_size < crate::packet::MIN_INITIAL_SIZE as u64 {
                        return Err(TransportParameterError::OutOfRange(pid));
                    }
                }
                id::INITIAL_MAX_DATA => p.initial_max_data = int()?,
                id::INITIAL_MAX_STREAM_DATA_BIDI_LOCAL => p.initial_max_stream_data_bidi_local = int()?,
                id::INITIAL_MAX_STREAM_DATA_BIDI_REMOTE => p.initial_max_stream_data_bidi_remote = int()?,
                id::INITIAL_MAX_STREAM_DATA_UNI => p.initial_max_stream_data_uni = int()?,
                id::INITIAL_MAX_STREAMS_BIDI | id::INITIAL_MAX_STREAMS_UNI => {
                    let v = int()?;
                    if v > 1 << 60 {
                        return Err(TransportParameterError::OutOfRange(pid));
                    }
                    if pid == id::INITIAL_MAX_STREAMS_BIDI {
                        p.initial_max_streams_bidi = v;
                    } else {
                        p.initial_max_streams_uni = v;
                    }
                }
                id::MAX_ACK_DELAY => {
                    let v = int()?;
                    if v >= MAX_ACK_DELAY_LIMIT_MS {
                        return Err(TransportParameterError::OutOfRange(pid));
                    }
                    p.max_ack_delay = Duration::from_millis(v);
                }
                id::MAX_DATAGRAM_FRAME_SIZE => p.max_datagram_frame_size = int()?,
                id::INITIAL_SOURCE_CID => {
                    p.initial_source_cid = ConnectionId::new(value).ok_or(TransportParameterError::OutOfRange(pid))?;
                }
                id::CIPHER_SUITES => {
                    let mut vr = Reader::new(value);
                    let n = vr.varint()? as usize;
                    if n == 0 || n > MAX_SUITES || vr.remaining() != n {
                        return Err(TransportParameterError::OutOfRange(pid));
                    }
                    // Unknown suite ids are skipped: a newer peer may offer suites we lack.
                    let known: Vec<CipherSuite> =
                        vr.peek_rest().iter().filter_map(|b| CipherSuite::from_id(*b)).collect();
                    p.cipher_suites = SuiteList::from_slice(&known);
                }
                _ => {} // unknown: ignored for forward compatibility
            }
        }
        for required in [id::INITIAL_SOURCE_CID, id::CIPHER_SUITES] {
            if seen & (1 << required) == 0 {
                return Err(TransportParameterError::Missing(required));
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TransportParameters {
        TransportParameters {
            max_idle_timeout: Duration::from_secs(30),
            max_udp_payload_size: 1452,
            initial_max_data: 16 << 20,
            initial_max_stream_data_bidi_local: 1 << 20,
            initial_max_stream_data_bidi_remote: 2 << 20,
            initial_max_stream_data_uni: 3 << 20,
            initial_max_streams_bidi: 100,
            initial_max_streams_uni: 50,
            max_ack_delay: Duration::from_millis(25),
            max_datagram_frame_size: 1200,
            initial_source_cid: ConnectionId::new(&[7; 8]).expect("cid"),
            cipher_suites: SuiteList::from_slice(&[CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305]),
        }
    }

    #[test]
    fn round_trips() {
        let p = sample();
        let mut buf = [0u8; TransportParameters::MAX_ENCODED_LEN];
        let mut w = Writer::new(&mut buf);
        p.encode(&mut w);
        let n = w.position();
        assert_eq!(TransportParameters::decode(&buf[..n]), Ok(p));
    }

    #[test]
    fn rejects_duplicates_out_of_range_and_garbage_and_skips_unknown() {
        let mut buf = [0u8; 256];
        let mut w = Writer::new(&mut buf);
        sample().encode(&mut w);
        // An unknown parameter is skipped.
        w.put_varint(0x1234);
        w.put_length_prefixed(b"future");
        let n = w.position();
        assert!(TransportParameters::decode(&buf[..n]).is_ok());
        // A duplicate of max_idle_timeout.
        let mut w2 = Writer::new(&mut buf[n..]);
        w2.put_varint(0x01);
        w2.put_length_prefixed(&[5]);
        let m = n + w2.position();
        assert_eq!(TransportParameters::decode(&buf[..m]), Err(TransportParameterError::Duplicate(1)));
        // max_udp_payload_size below 1200.
        let mut small = [0u8; 8];
        let mut w3 = Writer::new(&mut small);
        w3.put_varint(0x03);
        w3.put_varint(2);
        w3.put_varint(1000);
        let k = w3.position();
        assert_eq!(TransportParameters::decode(&small[..k]), Err(TransportParameterError::OutOfRange(3)));
        assert_eq!(TransportParameters::decode(&[0x01, 5, 1]), Err(TransportParameterError::Malformed));
        assert_eq!(TransportParameters::decode(&[]), Err(TransportParameterError::Missing(0x0f)));
    }
}
