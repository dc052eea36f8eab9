//! Async stream handles. Each half belongs to one task at a time (`&mut self`), like a
//! socket half.

use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

use bytes::Bytes;
use jetstream_core::{ReadError, StreamId, WriteError};

use crate::connection::Connection;
use crate::state::{ConnectionClosed, ConnectionWaiters, SenderState};

/// Why a stream call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The peer reset the stream (reading) with this application code.
    #[error("peer reset the stream with code {0}")]
    Reset(u64),
    /// The peer asked us to stop sending (writing) with this application code.
    #[error("peer stopped the stream with code {0}")]
    Stopped(u64),
    /// The stream was already finished, reset or stopped on this side.
    #[error("stream already closed")]
    ClosedStream,
    /// The connection ended.
    #[error(transparent)]
    Connection(#[from] ConnectionClosed),
}

impl From<StreamError> for io::Error {
    fn from(e: StreamError) -> io::Error {
        let kind = match e {
            StreamError::Reset(_) | StreamError::Stopped(_) => io::ErrorKind::ConnectionReset,
            StreamError::ClosedStream => io::ErrorKind::BrokenPipe,
            StreamError::Connection(_) => io::ErrorKind::ConnectionAborted,
        };
        io::Error::new(kind, e)
    }
}

/// The connection's own error when the core says "connection closed".
fn closed(waiters: &ConnectionWaiters) -> StreamError {
    StreamError::Connection(waiters.error.clone().unwrap_or(ConnectionClosed::LocallyClosed))
}

fn write_error(e: WriteError, waiters: &ConnectionWaiters) -> StreamError {
    match e {
        WriteError::Stopped(code) => StreamError::Stopped(code),
        WriteError::ConnectionClosed => closed(waiters),
        WriteError::Blocked | WriteError::ClosedStream => StreamError::ClosedStream,
    }
}

/// Largest piece `write_chunk` hands over at once: a chunk bigger than the flow-control
/// window could otherwise never be taken whole.
const MAX_CHUNK_PIECE: usize = 64 * 1024;

/// The sending half of a stream. Dropping it finishes the stream (like closing a socket's
/// write side); call [`SendStream::reset`] to abandon the data instead.
#[derive(Debug)]
pub struct SendStream {
    conn: Connection,
    id: StreamId,
    closed: bool,
}

impl SendStream {
    pub(crate) fn new(conn: Connection, id: StreamId) -> Self {
        conn.with_waiters(|w| w.senders.insert(id, SenderState::default()));
        SendStream { conn, id, closed: false }
    }

    /// The stream's ID.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Writes as much of `buf` as flow control allows now (copying it), or registers `cx`.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize, StreamError>> {
        let id = self.id;
        self.conn
            .poll_with(cx, |conn, waiters, cx| match conn.write(id, buf) {
                Ok(n) => Poll::Ready(Ok(n)),
                Err(WriteError::Blocked) => {
                    waiters.writers.entry(id).or_default().register(cx.waker());
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(write_error(e, waiters))),
            })
            .map(|r| r.map_err(StreamError::from).and_then(|r| r))
    }

    /// Writes some of `buf`, waiting while flow control allows nothing; returns the count.
    pub async fn write(&mut self, buf: &[u8]) -> Result<usize, StreamError> {
        poll_fn(|cx| self.poll_write(cx, buf)).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> Result<(), StreamError> {
        while !buf.is_empty() {
            let n = self.write(buf).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Writes all of `data` without copying it where flow control takes it whole (in pieces
    /// of up to 64 KiB); a piece that does not fit the window is copied in as far as it does.
    pub async fn write_chunk(&mut self, mut data: Bytes) -> Result<(), StreamError> {
        let id = self.id;
        while !data.is_empty() {
            let piece = data.slice(..data.len().min(MAX_CHUNK_PIECE));
            let taken = poll_fn(|cx| {
                self.conn
                    .poll_with(cx, |conn, waiters, cx| match conn.write_bytes(id, piece.clone()) {
                        Ok(()) => Poll::Ready(Ok(piece.len())),
                        // Too big for the window as a whole: copy in what fits.
                        Err(WriteError::Blocked) => match conn.write(id, &piece) {
                            Ok(0) | Err(WriteError::Blocked) => {
                                waiters.writers.entry(id).or_default().register(cx.waker());
                                Poll::Pending
                            }
                            Ok(n) => Poll::Ready(Ok(n)),
                            Err(e) => Poll::Ready(Err(write_error(e, waiters))),
                        },
                        Err(e) => Poll::Ready(Err(write_error(e, waiters))),
                    })
                    .map(|r| r.map_err(StreamError::from).and_then(|r| r))
            })
            .await?;
            let _ = data.split_to(taken);
        }
        Ok(())
    }

    /// Ends the stream after the data written so far. Returns at once; see
    /// [`SendStream::finished`] to wait for the peer's acknowledgement.
    pub fn finish(&mut self) -> Result<(), StreamError> {
        let id = self.id;
        self.closed = true;
        match self.conn.with_core(|conn| conn.finish(id))? {
            Ok(()) => Ok(()),
            Err(WriteError::Stopped(code)) => Err(StreamError::Stopped(code)),
            Err(_) => Err(StreamError::ClosedStream),
        }
    }

    /// Finishes the stream unless it was already finished or reset here (for the I/O traits'
    /// `shutdown`/`close`, which may be called more than once).
    #[cfg(any(feature = "tokio-io", feature = "futures-io"))]
    pub(crate) fn finish_once(&mut self) -> Result<(), StreamError> {
        if self.closed { Ok(()) } else { self.finish() }
    }

    /// Waits until the peer acknowledged everything written, the end included (call
    /// [`SendStream::finish`] first).
    pub async fn finished(&mut self) -> Result<(), StreamError> {
        let id = self.id;
        poll_fn(|cx| {
            self.conn
                .poll_through_end(cx, |_, waiters, cx| {
                    let sender = waiters.senders.entry(id).or_default();
                    if sender.acknowledged {
                        return Poll::Ready(());
                    }
                    sender.waiter.register(cx.waker());
                    Poll::Pending
                })
                .map_err(StreamError::from)
        })
        .await
    }

    /// Abandons the stream: unsent data is dropped and the peer's reads fail with `code`.
    pub fn reset(&mut self, code: u64) -> Result<(), StreamError> {
        let id = self.id;
        self.closed = true;
        self.conn.with_core(|conn| conn.reset(id, code))?.map_err(|_| StreamError::ClosedStream)
    }

    /// Scheduling priority: higher goes first, equal priorities share round-robin.
    pub fn set_priority(&mut self, priority: i32) -> Result<(), StreamError> {
        let id = self.id;
        self.conn.with_core(|conn| conn.set_priority(id, priority))?.map_err(|_| StreamError::ClosedStream)
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        let id = self.id;
        if !self.closed {
            // Errors mean the stream or connection already ended: nothing left to finish.
            let _ = self.conn.with_core(|conn| conn.finish(id));
        }
        self.conn.with_waiters(|w| {
            w.senders.remove(&id);
            w.writers.remove(&id);
        });
    }
}

/// The receiving half of a stream. Dropping it before the end asks the peer to stop
/// sending (code 0).
#[derive(Debug)]
pub struct RecvStream {
    conn: Connection,
    id: StreamId,
    done: bool,
}

impl RecvStream {
    pub(crate) fn new(conn: Connection, id: StreamId) -> Self {
        RecvStream { conn, id, done: false }
    }

    /// The stream's ID.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Reads into `buf`: `Some(n)` bytes, `None` at the end of the stream; or registers `cx`.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<Option<usize>, StreamError>> {
        let id = self.id;
        let result = self
            .conn
            .poll_through_end(cx, |conn, waiters, cx| match conn.read(id, buf) {
                Ok(n) => Poll::Ready(Ok(n)),
                Err(ReadError::Blocked) => {
                    waiters.readers.entry(id).or_default().register(cx.waker());
                    Poll::Pending
                }
                Err(ReadError::Reset(code)) => Poll::Ready(Err(StreamError::Reset(code))),
                Err(ReadError::ConnectionClosed) => Poll::Ready(Err(closed(waiters))),
                Err(ReadError::ClosedStream) => Poll::Ready(Err(StreamError::ClosedStream)),
            })
            .map(|r| r.map_err(StreamError::from).and_then(|r| r));
        if let Poll::Ready(Ok(None) | Err(_)) = result {
            self.done = true;
        }
        result
    }

    /// Reads some bytes into `buf`; `None` at the end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, StreamError> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    /// Reads to the end of the stream, failing with [`ReadToEndError::TooLong`] beyond
    /// `limit` bytes.
    pub async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, ReadToEndError> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while let Some(n) = self.read(&mut buf).await? {
            if out.len() + n > limit {
                return Err(ReadToEndError::TooLong);
            }
            out.extend_from_slice(&buf[..n]);
        }
        Ok(out)
    }

    /// Asks the peer to stop sending; unread data is discarded.
    pub fn stop(&mut self, code: u64) -> Result<(), StreamError> {
        let id = self.id;
        self.done = true;
        self.conn.with_core(|conn| conn.stop(id, code))?.map_err(|_| StreamError::ClosedStream)
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        let id = self.id;
        if !self.done {
            // Errors mean the stream or connection already ended: nothing to stop.
            let _ = self.conn.with_core(|conn| conn.stop(id, 0));
        }
        self.conn.with_waiters(|w| w.readers.remove(&id));
    }
}

/// Why [`RecvStream::read_to_end`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadToEndError {
    /// The stream failed.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The stream is longer than the limit.
    #[error("stream longer than the limit")]
    TooLong,
}
