//! Transport error codes carried in CONNECTION_CLOSE frames.

use core::fmt;

/// A transport-level error code (QUIC's numbering where meanings match; 0x100 and above are
/// JetStreamProto's handshake codes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransportErrorCode(pub u64);

macro_rules! codes {
    ($($name:ident = $val:expr, $desc:expr;)*) => {
        impl TransportErrorCode {
            $(#[doc = $desc] pub const $name: TransportErrorCode = TransportErrorCode($val);)*

            fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    NO_ERROR = 0x0, "Graceful close without error.";
    INTERNAL_ERROR = 0x1, "The peer hit a bug.";
    CONNECTION_REFUSED = 0x2, "The server refused the connection (accept policy or load).";
    FLOW_CONTROL_ERROR = 0x3, "More data than the advertised limits allow.";
    STREAM_LIMIT_ERROR = 0x4, "A stream beyond the advertised stream count.";
    STREAM_STATE_ERROR = 0x5, "A frame for a stream in a state that forbids it.";
    FINAL_SIZE_ERROR = 0x6, "Data past, or a change of, a stream's final size.";
    FRAME_ENCODING_ERROR = 0x7, "A frame that could not be decoded.";
    TRANSPORT_PARAMETER_ERROR = 0x8, "Invalid transport parameters.";
    PROTOCOL_VIOLATION = 0xa, "Any other violation of the protocol.";
    CRYPTO_BUFFER_EXCEEDED = 0xd, "Handshake data beyond the buffered limit.";
    AEAD_LIMIT_REACHED = 0xf, "Too many failed decryptions with the current keys.";
    HANDSHAKE_FAILED = 0x100, "The handshake message did not authenticate (wrong server key or tampering).";
    CLIENT_NOT_AUTHORIZED = 0x101, "The client's static key is not on the server's allow-list.";
}

impl fmt::Debug for TransportErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

impl fmt::Display for TransportErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
