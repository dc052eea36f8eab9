//! # jetstream-driver
//!
//! The runtime-independent half of JetStreamProto's runtime adapters, written once:
//!
//! - [`udp`]: batched UDP I/O over quinn-udp (`recvmmsg`, GRO, GSO with automatic
//!   fallback, large socket buffers, ECN on receive);
//! - [`Driver`]: an endpoint bound to a socket, with the non-blocking driver steps
//!   (receive a batch, send a batch, fire timers, next deadline) and bounded work per turn;
//! - the async layer ([`Endpoint`], [`Connection`], [`SendStream`], [`RecvStream`]) generic
//!   over a [`Runtime`] that supplies socket readiness, a timer and `spawn`.
//!
//! Users pick `jetstream-tokio`, `jetstream-smol` or `jetstream-mio`; this crate is what
//! they share.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod busy_poll;
mod connection;
mod driver;
mod endpoint;
#[cfg(any(feature = "tokio-io", feature = "futures-io"))]
mod io_traits;
pub mod runtime;
mod state;
mod streams;
mod task;
pub mod udp;

pub use connection::{Connection, DatagramError};
pub use driver::{Clock, Driver, Flush, RECV_CALLS_PER_TURN, SENDS_PER_TURN};
pub use endpoint::{ConnectError, Endpoint, EndpointOptions, random_seed};
pub use runtime::{AsyncTimer, AsyncUdpSocket, Interest, Runtime};
pub use state::ConnectionClosed;
pub use streams::{ReadToEndError, RecvStream, SendStream, StreamError};

/// What an application using one of the async adapters needs in scope: the adapters
/// re-export it whole, next to their `Endpoint` type.
pub mod prelude {
    pub use crate::udp::{IoStats, SocketConfig, SocketReport};
    pub use crate::{
        ConnectError, Connection, ConnectionClosed, DatagramError, EndpointOptions, ReadToEndError, RecvStream,
        SendStream, StreamError, random_seed,
    };
    pub use jetstream_core::{
        ClientConfig, ConnectionStats, EndpointConfig, EndpointStats, PublicKey, ServerConfig, StaticKeypair,
        TransportConfig,
    };
}
