//! File transfer over JetStreamProto in a hand-written mio poll loop: the receiver stores
//! every incoming stream as a file; the sender streams one file in chunks, with progress and
//! throughput.
//!
//! ```sh
//! cargo run -p jetstream-mio --example file -- receive 127.0.0.1:4433 /tmp/inbox
//! # prints the receiver's public key; then, in another terminal:
//! cargo run -p jetstream-mio --example file -- send 127.0.0.1:4433 <KEY> ./big.iso
//! ```
//!
//! A file is one stream: the name's length (2 bytes, big-endian), the name (UTF-8, without
//! path separators or `..`), then the file's bytes up to the end of the stream. On a
//! bidirectional stream the receiver answers `OK <bytes> <SHA-256 in hex>` or `ERR <reason>`
//! (and stops the stream when it refuses the file); a unidirectional one gets no answer.

mod common;

use std::error::Error;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{EventLoop, unless_blocked};
use jetstream_mio::{ConnectionHandle, Dir, Endpoint, Event, PublicKey, StreamEvent, StreamId};
use mio::Poll;
use sha2::{Digest, Sha256};

/// Bytes per read from the stream or the file.
const CHUNK: usize = 64 * 1024;
/// The longest answer the sender reads.
const MAX_ANSWER: usize = 1024;
/// Stream error code for a refused file.
const REFUSED: u64 = 1;

/// A file coming in on one stream.
struct Upload {
    conn: ConnectionHandle,
    id: StreamId,
    /// The stream is bidirectional: the sender gets an answer.
    answers: bool,
    /// The header read so far, until the file is created.
    header: Vec<u8>,
    file: Option<Saving>,
    /// The answer still to write (once the file is complete or refused), finish included.
    reply: Option<Vec<u8>>,
}

/// The file being written.
struct Saving {
    name: String,
    path: PathBuf,
    file: File,
    hasher: Sha256,
    len: u64,
}

impl Upload {
    fn new(conn: ConnectionHandle, id: StreamId) -> Self {
        Upload { conn, id, answers: id.dir() == Dir::Bi, header: Vec::new(), file: None, reply: None }
    }

    /// Moves what it can; false once the upload is over.
    fn pump(&mut self, endpoint: &mut Endpoint, dir: &Path, buf: &mut [u8]) -> bool {
        if self.reply.is_none() {
            let reply = match unless_blocked(self.receive(endpoint, dir, buf)) {
                Ok(None) => return true,
                Ok(Some(reply)) => reply,
                Err(e) => {
                    println!("file not saved: {e}");
                    if let Some(saving) = self.file.take() {
                        let _ = std::fs::remove_file(saving.path); // no half files
                    }
                    // Fails when the stream already ended: nothing to stop then.
                    let _ = endpoint.connection(self.conn).map(|c| c.stop(self.id, REFUSED));
                    format!("ERR {e}")
                }
            };
            if !self.answers {
                return false;
            }
            self.reply = Some(reply.into_bytes());
        }
        // The sender may be gone; there is nobody to tell then.
        matches!(unless_blocked(self.answer(endpoint)), Ok(None))
    }

    /// Reads what arrived: the answer once the stream ended, `WouldBlock` until then.
    fn receive(&mut self, endpoint: &mut Endpoint, dir: &Path, buf: &mut [u8]) -> io::Result<String> {
        loop {
            let n = endpoint.stream_read(self.conn, self.id, buf)?;
            if n == 0 {
                let saving = self.file.take().ok_or(io::ErrorKind::UnexpectedEof)?;
                let digest = hex::encode(saving.hasher.finalize());
                println!("received {}: {} bytes, SHA-256 {digest}", saving.name, saving.len);
                return Ok(format!("OK {} {digest}", saving.len));
            }
            let mut data = &buf[..n];
            while self.file.is_none() && !data.is_empty() {
                let take = (header_len(&self.header) - self.header.len()).min(data.len());
                self.header.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.header.len() >= 2 && self.header.len() == header_len(&self.header) {
                    self.file = Some(Saving::create(dir, &self.header[2..])?);
                }
            }
            if let Some(saving) = &mut self.file {
                saving.file.write_all(data)?;
                saving.hasher.update(data);
                saving.len += data.len() as u64;
            }
        }
    }

    /// Writes the answer and finishes the stream, or `WouldBlock`.
    fn answer(&mut self, endpoint: &mut Endpoint) -> io::Result<()> {
        let reply = self.reply.as_mut().ok_or(io::ErrorKind::InvalidInput)?;
        while !reply.is_empty() {
            let n = endpoint.stream_write(self.conn, self.id, reply)?;
            reply.drain(..n);
        }
        endpoint.finish(self.conn, self.id)
    }
}

/// The header's length as far as `header` tells: 2 bytes of name length, then the name.
fn header_len(header: &[u8]) -> usize {
    match header {
        [a, b, ..] => 2 + usize::from(u16::from_be_bytes([*a, *b])),
        _ => 2,
    }
}

impl Saving {
    /// Creates the file the header names in `dir`, if the name is acceptable.
    fn create(dir: &Path, name: &[u8]) -> io::Result<Self> {
        let name = checked_name(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let path = dir.join(&name);
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot create {name}: {e}")))?;
        Ok(Saving { name, path, file, hasher: Sha256::new(), len: 0 })
    }
}

/// The name from the header, if it names a file directly inside the target directory.
fn checked_name(name: &[u8]) -> Result<String, String> {
    let name = String::from_utf8(name.to_vec()).map_err(|_| "the file name is not UTF-8")?;
    // `:` too: `C:x` would leave the directory on Windows.
    if name.is_empty() || name.contains(['/', '\\', ':', '\0']) || name.contains("..") {
        return Err(format!("refused file name {name:?}"));
    }
    Ok(name)
}

/// Receives files into `dir` on every stream clients open, until `poll`'s waker fires.
fn receive(mut endpoint: Endpoint, poll: Poll, dir: &Path) -> io::Result<()> {
    let mut event_loop = EventLoop::new(poll, &mut endpoint)?;
    let mut uploads = Vec::new();
    let mut buf = vec![0; CHUNK];
    while !event_loop.wait(&mut endpoint)? {
        while let Some((conn, event)) = endpoint.poll_event() {
            match event {
                Event::Connected => println!("{:?} connected", endpoint.connection(conn).map(|c| c.remote_address())),
                Event::Stream(StreamEvent::Opened { dir }) => {
                    while let Some(id) = endpoint.connection(conn).and_then(|c| c.accept(dir)) {
                        uploads.push(Upload::new(conn, id));
                    }
                }
                Event::ConnectionLost(e) => {
                    println!("{:?} gone: {e}", endpoint.connection(conn).map(|c| c.remote_address()));
                }
                _ => {}
            }
        }
        // Every upload gets a turn: whatever it waits for has come in through the socket.
        uploads.retain_mut(|upload| upload.pump(&mut endpoint, dir, &mut buf));
        endpoint.drive()?;
    }
    Ok(())
}

/// The sending side of one file.
struct Transfer {
    file: File,
    hasher: Sha256,
    /// File bytes read (and handed to the stream once `chunk` is empty).
    read: u64,
    /// What is still to write of the header or the last piece of the file.
    chunk: Vec<u8>,
    offset: usize,
    finished: bool,
    /// Why a write failed: the stream is not written any more; the answer may say why.
    failed: Option<io::Error>,
    answer: Vec<u8>,
    progress: Progress,
}

impl Transfer {
    /// Writes what flow control takes, then reads the answer: the verdict once it is
    /// complete, `None` while waiting.
    fn step(
        &mut self,
        endpoint: &mut Endpoint,
        conn: ConnectionHandle,
        id: StreamId,
    ) -> Result<Option<u64>, Box<dyn Error>> {
        while self.failed.is_none() && !self.finished {
            if self.offset == self.chunk.len() {
                self.chunk.resize(CHUNK, 0);
                let n = self.file.read(&mut self.chunk).inspect_err(|_| {
                    // Without the reset the stream would end as if the file did: a truncated copy.
                    let _ = endpoint.connection(conn).map(|c| c.reset(id, 1));
                })?;
                self.chunk.truncate(n);
                self.offset = 0;
                self.hasher.update(&self.chunk);
                self.read += n as u64;
                if n == 0 {
                    match endpoint.finish(conn, id) {
                        Ok(()) => self.finished = true,
                        Err(e) => self.failed = Some(e),
                    }
                    break;
                }
            }
            match unless_blocked(endpoint.stream_write(conn, id, &self.chunk[self.offset..])) {
                Ok(Some(n)) => self.offset += n,
                Ok(None) => break,
                Err(e) => self.failed = Some(e),
            }
            self.progress.show(self.read);
        }
        // A refused file fails the writes (the receiver stopped the stream); the answer says why.
        let mut buf = [0; MAX_ANSWER];
        loop {
            match unless_blocked(endpoint.stream_read(conn, id, &mut buf)) {
                Ok(Some(0)) => return self.verdict().map(Some),
                Ok(Some(n)) if self.answer.len() + n > MAX_ANSWER => return Err("the answer is too long".into()),
                Ok(Some(n)) => self.answer.extend_from_slice(&buf[..n]),
                Ok(None) => return Ok(None),
                Err(e) => return Err(self.failed.take().unwrap_or(e).into()),
            }
        }
    }

    /// What the complete answer means: the byte count, if the receiver confirmed it all.
    fn verdict(&mut self) -> Result<u64, Box<dyn Error>> {
        let answer = String::from_utf8_lossy(&self.answer);
        if let Some(reason) = answer.strip_prefix("ERR ") {
            return Err(format!("the receiver refused the file: {reason}").into());
        }
        if let Some(e) = self.failed.take() {
            return Err(e.into());
        }
        let expected = format!("OK {} {}", self.read, hex::encode(self.hasher.clone().finalize()));
        if !self.finished || answer != expected {
            return Err(format!("the receiver answered {answer:?}, expected {expected:?}").into());
        }
        self.progress.done(self.read);
        Ok(self.read)
    }
}

/// Connects and sends the file at `path` under its own name.
fn send(addr: SocketAddr, key: PublicKey, path: &Path) -> Result<u64, Box<dyn Error>> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or("PATH must end in a UTF-8 file name")?;
    send_file(addr, key, path, name)
}

/// Connects and streams the file at `path` as `name`; the byte count, once the receiver
/// confirmed length and digest.
fn send_file(addr: SocketAddr, key: PublicKey, path: &Path, name: &str) -> Result<u64, Box<dyn Error>> {
    let file = File::open(path)?;
    let progress = Progress::new(file.metadata()?.len());
    let name_len = u16::try_from(name.len()).map_err(|_| "the file name is longer than 65535 bytes")?;
    let chunk = [&name_len.to_be_bytes(), name.as_bytes()].concat();
    let mut transfer = Transfer {
        file,
        hasher: Sha256::new(),
        read: 0,
        chunk,
        offset: 0,
        finished: false,
        failed: None,
        answer: Vec::new(),
        progress,
    };
    common::run_client(addr, key, |endpoint, conn, id| transfer.step(endpoint, conn, id))
}

/// Progress on stderr, at most four times a second; the throughput at the end.
struct Progress {
    total: u64,
    start: Instant,
    last: Instant,
}

impl Progress {
    fn new(total: u64) -> Self {
        let now = Instant::now();
        Progress { total, start: now, last: now }
    }

    fn show(&mut self, sent: u64) {
        if self.last.elapsed() >= Duration::from_millis(250) {
            self.last = Instant::now();
            eprint!("\r{:.1} of {:.1} MiB", mib(sent), mib(self.total));
        }
    }

    fn done(&self, sent: u64) {
        let secs = self.start.elapsed().as_secs_f64();
        eprint!("\r");
        println!(
            "sent {:.1} MiB in {secs:.2} s ({:.1} MiB/s); the receiver confirmed its SHA-256",
            mib(sent),
            mib(sent) / secs
        );
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["receive", addr, dir] => {
            if !Path::new(dir).is_dir() {
                return Err(format!("{dir} is not a directory").into());
            }
            Ok(receive(common::listen(addr)?, Poll::new()?, Path::new(dir))?)
        }
        ["send", addr, key, path] => {
            let (addr, key) = common::server_args(addr, key)?;
            send(addr, key, Path::new(path)).map(drop)
        }
        _ => Err("usage: file receive ADDR DIR | file send ADDR KEY PATH".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
            let dir = std::env::temp_dir().join(format!("jetstream-mio-file-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(dir.join("inbox")).expect("create the temporary directory");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Bytes that depend on their position (a multiplicative hash), so that reordering shows.
    fn pattern(len: u64) -> Vec<u8> {
        (0..len).map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8).collect()
    }

    #[test]
    fn a_file_arrives_byte_identical_and_a_bad_name_is_refused() {
        let tmp = TempDir::new();
        let (inbox, source) = (tmp.0.join("inbox"), tmp.0.join("pattern.bin"));
        let data = pattern((3 << 20) + 12_345);
        std::fs::write(&source, &data).expect("write the source file");
        let (endpoint, key) = common::server_endpoint("127.0.0.1:0".parse().expect("addr")).expect("server");
        let addr = endpoint.local_addr().expect("server address");
        let receiver_inbox = inbox.clone();
        let (stop, receiver) = common::spawn(move |poll| receive(endpoint, poll, &receiver_inbox));

        let path = source.clone();
        let sent = common::within(move || send(addr, key, &path).map_err(|e| e.to_string()));
        assert_eq!(sent, Ok(data.len() as u64));
        let received = std::fs::read(inbox.join("pattern.bin")).expect("the file arrived");
        assert!(received == data, "the file arrived byte-identical");

        let refused =
            common::within(move || send_file(addr, key, &source, "../escaped.bin").map_err(|e| e.to_string()));
        let err = refused.expect_err("a name with .. is refused");
        assert!(err.contains("refused file name"), "{err}");
        assert!(!tmp.0.join("escaped.bin").exists(), "nothing written outside the directory");

        stop.wake().expect("wake the receiver");
        receiver.recv_timeout(common::LIMIT).expect("the receiver stops").expect("the receiver ran without error");
    }
}
