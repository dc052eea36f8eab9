//! Stream identifiers.
//!
//! A stream ID's two low bits say who opened it and whether it carries data both ways, so
//! either side can tell from an ID alone whether the peer may use it (layout as in QUIC):
//! bit 0 is the initiator (0 client, 1 server), bit 1 the directionality (0 bidirectional,
//! 1 unidirectional), and the rest is the stream's index among its kind.

use core::fmt;

/// Which end of a connection an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Opened the connection.
    Client,
    /// Accepted the connection.
    Server,
}

impl Side {
    /// The other side.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// Whether a stream carries data in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Both sides send.
    Bi,
    /// Only the opener sends.
    Uni,
}

/// Identifies a stream within a connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub(crate) u64);

impl StreamId {
    /// The `index`-th stream of the given kind.
    pub fn new(initiator: Side, dir: Dir, index: u64) -> Self {
        let side_bit = match initiator {
            Side::Client => 0,
            Side::Server => 1,
        };
        let dir_bit = match dir {
            Dir::Bi => 0,
            Dir::Uni => 2,
        };
        StreamId((index << 2) | dir_bit | side_bit)
    }

    /// Who opened the stream.
    pub fn initiator(self) -> Side {
        if self.0 & 1 == 0 { Side::Client } else { Side::Server }
    }

    /// The stream's directionality.
    pub fn dir(self) -> Dir {
        if self.0 & 2 == 0 { Dir::Bi } else { Dir::Uni }
    }

    /// Index among the streams of the same initiator and directionality.
    pub fn index(self) -> u64 {
        self.0 >> 2
    }

    /// The raw 62-bit value carried on the wire.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.initiator() {
            Side::Client => "client",
            Side::Server => "server",
        };
        let dir = match self.dir() {
            Dir::Bi => "bi",
            Dir::Uni => "uni",
        };
        write!(f, "{who} {dir} {}", self.index())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_bits_encode_initiator_direction_and_index() {
        for side in [Side::Client, Side::Server] {
            for dir in [Dir::Bi, Dir::Uni] {
                let id = StreamId::new(side, dir, 12345);
                assert_eq!((id.initiator(), id.dir(), id.index()), (side, dir, 12345));
            }
        }
        assert_eq!(StreamId::new(Side::Server, Dir::Uni, 0).as_u64(), 3);
    }
}
