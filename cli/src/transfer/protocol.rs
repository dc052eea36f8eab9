//! The file transfer exchange: one bidirectional stream per file.
//!
//! ```text
//! sender   -> OFFER:  "JSF1" | name length (u16) | name (UTF-8) | size (u64) | SHA-256 (32 bytes)
//! receiver -> REPLY:  SEND (0) | offset (u64)        send the bytes from `offset` on
//!                  |  HAVE (1) | size (u64)          an identical file is already there
//!                  |  REFUSE (2) | length (u16) | reason (UTF-8)
//! sender   -> the file's bytes from `offset` to the end, then the end of the stream
//! receiver -> VERDICT: OK (0) | FAILED (2) | length (u16) | reason
//! ```
//!
//! Integers are big-endian. The offset lets an interrupted transfer continue where the
//! receiver's partial file ends; the hash in the offer is checked over the whole file, the
//! bytes kept from before the interruption included.

/// The first bytes of an offer: the protocol and its version.
pub(crate) const MAGIC: &[u8; 4] = b"JSF1";
/// The longest file name accepted (most file systems' limit).
pub(crate) const MAX_NAME: usize = 255;
/// The longest reason text.
const MAX_REASON: usize = 1024;

/// Offer bytes before the name.
pub(crate) const OFFER_HEAD: usize = MAGIC.len() + 2;
/// Offer bytes after the name.
pub(crate) const OFFER_TAIL: usize = 8 + 32;

/// What the sender proposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offer {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) sha256: [u8; 32],
}

impl Offer {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, String> {
        let len = u16::try_from(self.name.len())
            .ok()
            .filter(|&l| usize::from(l) <= MAX_NAME)
            .ok_or_else(|| format!("the file name {:?} is longer than {MAX_NAME} bytes", self.name))?;
        let mut out = Vec::with_capacity(OFFER_HEAD + self.name.len() + OFFER_TAIL);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.sha256);
        Ok(out)
    }

    /// The name's length from the first [`OFFER_HEAD`] bytes.
    pub(crate) fn name_len(head: &[u8; OFFER_HEAD]) -> Result<usize, String> {
        if &head[..4] != MAGIC {
            return Err("not a jetstream file offer".into());
        }
        let len = usize::from(u16::from_be_bytes([head[4], head[5]]));
        if len == 0 || len > MAX_NAME {
            return Err(format!("a file name of {len} bytes"));
        }
        Ok(len)
    }

    /// The offer from the name's bytes and the [`OFFER_TAIL`] bytes after them.
    pub(crate) fn decode(name: Vec<u8>, tail: &[u8; OFFER_TAIL]) -> Result<Offer, String> {
        let name = String::from_utf8(name).map_err(|_| "the file name is not UTF-8".to_string())?;
        let size = u64::from_be_bytes(tail[..8].try_into().expect("8 bytes"));
        let sha256 = tail[8..].try_into().expect("32 bytes");
        Ok(Offer { name, size, sha256 })
    }
}

/// The receiver's answer to an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Send { offset: u64 },
    Have { size: u64 },
    Refuse(String),
}

const SEND: u8 = 0;
const HAVE: u8 = 1;
const REFUSE: u8 = 2;

impl Reply {
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Reply::Send { offset } => [&[SEND][..], &offset.to_be_bytes()].concat(),
            Reply::Have { size } => [&[HAVE][..], &size.to_be_bytes()].concat(),
            Reply::Refuse(reason) => encode_reason(REFUSE, reason),
        }
    }

    /// Decodes a complete reply; `Ok(None)` when more bytes are needed.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Option<(Reply, usize)>, String> {
        match bytes.first() {
            None => Ok(None),
            Some(&SEND) => Ok(read_u64(bytes).map(|offset| (Reply::Send { offset }, 9))),
            Some(&HAVE) => Ok(read_u64(bytes).map(|size| (Reply::Have { size }, 9))),
            Some(&REFUSE) => Ok(decode_reason(bytes).map(|(reason, n)| (Reply::Refuse(reason), n))),
            Some(other) => Err(format!("unknown reply {other}")),
        }
    }
}

/// The receiver's verdict on the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Ok,
    Failed(String),
}

const OK: u8 = 0;
const FAILED: u8 = 2;

impl Verdict {
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Verdict::Ok => vec![OK],
            Verdict::Failed(reason) => encode_reason(FAILED, reason),
        }
    }

    /// Decodes a complete verdict (the rest of the stream).
    pub(crate) fn decode(bytes: &[u8]) -> Result<Verdict, String> {
        match bytes.first() {
            Some(&OK) if bytes.len() == 1 => Ok(Verdict::Ok),
            Some(&FAILED) => match decode_reason(bytes) {
                Some((reason, n)) if n == bytes.len() => Ok(Verdict::Failed(reason)),
                _ => Err("a malformed verdict".into()),
            },
            None => Err("the receiver closed the stream without a verdict".into()),
            Some(_) => Err("a malformed verdict".into()),
        }
    }
}

fn read_u64(bytes: &[u8]) -> Option<u64> {
    bytes.get(1..9).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
}

fn encode_reason(tag: u8, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason[..end];
    let len = u16::try_from(reason.len()).expect("at most MAX_REASON bytes");
    [&[tag][..], &len.to_be_bytes(), reason.as_bytes()].concat()
}

/// The reason and the bytes it took, once complete.
fn decode_reason(bytes: &[u8]) -> Option<(String, usize)> {
    let len = usize::from(u16::from_be_bytes(bytes.get(1..3)?.try_into().expect("2 bytes")));
    let text = bytes.get(3..3 + len)?;
    Some((String::from_utf8_lossy(text).into_owned(), 3 + len))
}

/// Whether `name` names a file directly inside the receiving directory: no separators, no
/// `.` or `..`, no control characters (which could forge log lines), no leading `.` (the
/// receiver's partial files start with one).
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.len() > MAX_NAME
        || name.starts_with('.')
        || name.contains(['/', '\\', ':'])
        || name.chars().any(char::is_control);
    if bad { Err(format!("refused file name {name:?}: it must be a plain file name")) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_round_trips() {
        let offer = Offer { name: "report ü.pdf".into(), size: 1 << 40, sha256: [7; 32] };
        let bytes = offer.encode().expect("encodes");
        let head: [u8; OFFER_HEAD] = bytes[..OFFER_HEAD].try_into().expect("head");
        let len = Offer::name_len(&head).expect("valid head");
        let name = bytes[OFFER_HEAD..OFFER_HEAD + len].to_vec();
        let tail: [u8; OFFER_TAIL] = bytes[OFFER_HEAD + len..].try_into().expect("tail");
        assert_eq!(Offer::decode(name, &tail), Ok(offer));
    }

    #[test]
    fn bad_offers_are_refused() {
        assert!(Offer::name_len(b"HTTP/1").is_err(), "wrong magic");
        assert!(Offer::name_len(&[b'J', b'S', b'F', b'1', 0, 0]).is_err(), "empty name");
        assert!(Offer::name_len(&[b'J', b'S', b'F', b'1', 1, 0]).is_err(), "a 256-byte name");
        assert!(Offer::decode(vec![0xff, 0xfe], &[0; OFFER_TAIL]).is_err(), "not UTF-8");
        let long = Offer { name: "x".repeat(300), size: 0, sha256: [0; 32] };
        assert!(long.encode().is_err());
    }

    #[test]
    fn replies_and_verdicts_round_trip_and_wait_for_all_their_bytes() {
        for reply in [Reply::Send { offset: 12345 }, Reply::Have { size: 9 }, Reply::Refuse("no space".into())] {
            let bytes = reply.encode();
            assert_eq!(Reply::decode(&bytes), Ok(Some((reply, bytes.len()))));
            assert_eq!(Reply::decode(&bytes[..bytes.len() - 1]), Ok(None), "incomplete");
        }
        assert!(Reply::decode(&[9]).is_err());
        for verdict in [Verdict::Ok, Verdict::Failed("hash mismatch".into())] {
            assert_eq!(Verdict::decode(&verdict.encode()), Ok(verdict));
        }
        assert!(Verdict::decode(&[]).is_err());
        assert!(Verdict::decode(&[0, 0]).is_err());
        let long = "é".repeat(2000);
        let Verdict::Failed(cut) = Verdict::decode(&Verdict::Failed(long).encode()).expect("decodes") else {
            panic!("a failure")
        };
        assert!(cut.len() <= MAX_REASON && cut.chars().all(|c| c == 'é'), "cut at a character boundary");
    }

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        for name in ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\\b", "C:x", ".hidden", "a\nb", "a\0b"] {
            assert!(check_name(name).is_err(), "{name:?}");
        }
        for name in ["report.pdf", "a..b", "ünïcode ✓.txt", "x"] {
            assert_eq!(check_name(name), Ok(()), "{name:?}");
        }
    }
}
