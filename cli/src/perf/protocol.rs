//! The perf exchange on the wire: every bidirectional stream the client opens starts with
//! one byte naming its job, so one server answers every mode and every client version
//! that speaks these three.
//!
//! - `U` upload: the client writes until it finishes the stream; the server answers with
//!   the number of bytes it read after the kind byte (8 bytes, big-endian) and finishes.
//! - `E` echo: the server writes back every byte it reads, and finishes when the client does.
//! - `C` CPU: the server notes its process CPU time; when the client finishes the stream,
//!   the server answers with the CPU time it used since, in microseconds (8 bytes,
//!   big-endian), or `u64::MAX` when it cannot tell.
//!
//! Unreliable datagrams are echoed as they are.

/// A stream's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    Upload,
    Echo,
    Cpu,
}

impl StreamKind {
    pub(crate) fn byte(self) -> u8 {
        match self {
            StreamKind::Upload => b'U',
            StreamKind::Echo => b'E',
            StreamKind::Cpu => b'C',
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            b'U' => Some(StreamKind::Upload),
            b'E' => Some(StreamKind::Echo),
            b'C' => Some(StreamKind::Cpu),
            _ => None,
        }
    }
}

/// Stream error code with which the server stops a stream of unknown kind.
pub(crate) const UNKNOWN_KIND: u64 = 1;

/// The CPU answer when the server cannot read its CPU time.
pub(crate) const CPU_UNKNOWN: u64 = u64::MAX;

/// Reads an 8-byte answer.
pub(crate) fn decode_u64(answer: &[u8]) -> Result<u64, String> {
    <[u8; 8]>::try_from(answer)
        .map(u64::from_be_bytes)
        .map_err(|_| format!("the server answered {} bytes where 8 were expected", answer.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_others_are_unknown() {
        for kind in [StreamKind::Upload, StreamKind::Echo, StreamKind::Cpu] {
            assert_eq!(StreamKind::from_byte(kind.byte()), Some(kind));
        }
        assert_eq!(StreamKind::from_byte(b'x'), None);
    }

    #[test]
    fn answers_are_exactly_eight_bytes() {
        assert_eq!(decode_u64(&42u64.to_be_bytes()), Ok(42));
        assert!(decode_u64(&[1, 2, 3]).is_err());
    }
}
