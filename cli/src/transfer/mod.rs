//! `jetstream send` and `jetstream recv`: files over one connection, a stream per file,
//! checked end to end by SHA-256 and resumable after an interrupted connection (see
//! [`protocol`] for the exchange).

mod protocol;
pub(crate) mod recv;
pub(crate) mod send;

use jetstream_driver::{RecvStream, StreamError};

/// Fills `buf` from the stream: `Ok(false)` when the stream ended first.
async fn read_exact(recv: &mut RecvStream, buf: &mut [u8]) -> Result<bool, StreamError> {
    let mut filled = 0;
    while filled < buf.len() {
        match recv.read(&mut buf[filled..]).await? {
            Some(n) => filled += n,
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// Bytes per file read or stream read.
const CHUNK: usize = 256 * 1024;

#[cfg(test)]
mod tests;
