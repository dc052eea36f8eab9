//! File transfer over JetStreamProto on tokio: the receiver stores every incoming stream as
//! a file; the sender streams one file in chunks, with progress and throughput.
//!
//! ```sh
//! cargo run -p jetstream-tokio --example file -- receive 127.0.0.1:4433 /tmp/inbox
//! # prints the receiver's public key; then, in another terminal:
//! cargo run -p jetstream-tokio --example file -- send 127.0.0.1:4433 <KEY> ./big.iso
//! ```
//!
//! A file is one stream: the name's length (2 bytes, big-endian), the name (UTF-8, without
//! path separators or `..`), then the file's bytes up to the end of the stream. On a
//! bidirectional stream the receiver answers `OK <bytes> <SHA-256 in hex>` or `ERR <reason>`
//! (and stops the stream when it refuses the file); a unidirectional one gets no answer.

mod common;

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jetstream_tokio::{Connection, Endpoint, PublicKey, RecvStream, SendStream};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes per read from the stream or the file.
const CHUNK: usize = 64 * 1024;
/// The longest answer the sender reads.
const MAX_ANSWER: usize = 1024;
/// Stream error code for a refused file.
const REFUSED: u64 = 1;

/// The receiver's errors: `Send`, since each file is saved on a task of its own.
type SaveError = Box<dyn Error + Send + Sync>;

/// Receives files into `dir` from every client until the endpoint closes.
async fn receive(endpoint: Endpoint, dir: PathBuf) {
    while let Some(conn) = endpoint.accept().await {
        tokio::spawn(receive_files(conn, dir.clone()));
    }
}

/// Stores every stream the client opens (either kind) as a file.
async fn receive_files(conn: Connection, dir: PathBuf) {
    loop {
        let (recv, answer) = tokio::select! {
            Ok((send, recv)) = conn.accept_bi() => (recv, Some(send)),
            Ok(recv) = conn.accept_uni() => (recv, None),
            else => break,
        };
        tokio::spawn(receive_file(recv, answer, dir.clone()));
    }
}

/// Stores one file, and answers on `answer` when the stream has a sending half.
async fn receive_file(mut recv: RecvStream, answer: Option<SendStream>, dir: PathBuf) {
    let reply = match save(&mut recv, &dir).await {
        Ok((name, len, digest)) => {
            println!("received {name}: {len} bytes, SHA-256 {digest}");
            format!("OK {len} {digest}")
        }
        Err(e) => {
            println!("file not saved: {e}");
            let _ = recv.stop(REFUSED); // fails when the stream already ended: nothing to stop
            format!("ERR {e}")
        }
    };
    if let Some(mut send) = answer {
        // The sender may be gone already; there is nobody to tell then.
        let _ = send.write_all(reply.as_bytes()).await;
        let _ = send.finish();
    }
}

/// Reads the header, then the file into `dir`: its name, length and SHA-256.
async fn save(recv: &mut RecvStream, dir: &Path) -> Result<(String, u64, String), SaveError> {
    let mut len = [0; 2];
    recv.read_exact(&mut len).await?;
    let mut name = vec![0; usize::from(u16::from_be_bytes(len))];
    recv.read_exact(&mut name).await?;
    let name = checked_name(name)?;
    let path = dir.join(&name);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await
        .map_err(|e| format!("cannot create {name}: {e}"))?;
    let copied = copy_hashed(recv, &mut file).await;
    if copied.is_err() {
        let _ = tokio::fs::remove_file(&path).await; // no half files
    }
    let (len, digest) = copied?;
    Ok((name, len, digest))
}

/// The name from the header, if it names a file directly inside the target directory.
fn checked_name(name: Vec<u8>) -> Result<String, String> {
    let name = String::from_utf8(name).map_err(|_| "the file name is not UTF-8")?;
    // `:` too: `C:x` would leave the directory on Windows.
    if name.is_empty() || name.contains(['/', '\\', ':', '\0']) || name.contains("..") {
        return Err(format!("refused file name {name:?}"));
    }
    Ok(name)
}

/// Copies the rest of the stream into `file`: the byte count and the SHA-256 in hex.
async fn copy_hashed(recv: &mut RecvStream, file: &mut tokio::fs::File) -> Result<(u64, String), SaveError> {
    let (mut hasher, mut len, mut buf) = (Sha256::new(), 0u64, vec![0; CHUNK]);
    while let Some(n) = recv.read(&mut buf).await? {
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).await?;
        len += n as u64;
    }
    file.flush().await?;
    Ok((len, hex::encode(hasher.finalize())))
}

/// Connects and sends the file at `path` under its own name.
async fn send(addr: SocketAddr, key: PublicKey, path: &Path) -> Result<(), Box<dyn Error>> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or("PATH must end in a UTF-8 file name")?;
    let endpoint = common::client_endpoint(addr)?;
    let conn = endpoint.connect(addr, key).await?;
    let sent = send_file(&conn, path, name).await;
    conn.close(0, b"done");
    endpoint.wait_idle().await;
    sent.map(drop)
}

/// Streams the file at `path` as `name` on a new stream; the byte count, once the receiver
/// confirmed length and digest.
async fn send_file(conn: &Connection, path: &Path, name: &str) -> Result<u64, Box<dyn Error>> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut progress = Progress::new(file.metadata().await?.len());
    let name_len = u16::try_from(name.len()).map_err(|_| "the file name is longer than 65535 bytes")?;
    let (mut send, mut recv) = conn.open_bi().await?;
    let (mut hasher, mut sent, mut buf) = (Sha256::new(), 0u64, vec![0; CHUNK]);
    let mut written = send.write_all(&[&name_len.to_be_bytes(), name.as_bytes()].concat()).await;
    while written.is_ok() {
        let n = match file.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                let _ = send.reset(1); // dropping `send` would finish the stream: a truncated file
                return Err(e.into());
            }
        };
        if n == 0 {
            written = send.finish();
            break;
        }
        hasher.update(&buf[..n]);
        written = send.write_all(&buf[..n]).await;
        sent += n as u64;
        progress.show(sent);
    }
    // A refused file fails the writes (the receiver stopped the stream); the answer says why.
    let answer = recv.read_to_end(MAX_ANSWER).await.map(|a| String::from_utf8_lossy(&a).into_owned());
    match (written, answer) {
        (_, Ok(answer)) if answer.starts_with("ERR ") => {
            Err(format!("the receiver refused the file: {}", &answer[4..]).into())
        }
        (Err(e), _) => Err(e.into()),
        (Ok(()), Err(e)) => Err(e.into()),
        (Ok(()), Ok(answer)) => {
            let expected = format!("OK {sent} {}", hex::encode(hasher.finalize()));
            if answer != expected {
                return Err(format!("the receiver answered {answer:?}, expected {expected:?}").into());
            }
            progress.done(sent);
            Ok(sent)
        }
    }
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["receive", addr, dir] => {
            if !Path::new(dir).is_dir() {
                return Err(format!("{dir} is not a directory").into());
            }
            receive(common::listen(addr)?, dir.into()).await;
            Ok(())
        }
        ["send", addr, key, path] => {
            let (addr, key) = common::server_args(addr, key)?;
            send(addr, key, Path::new(path)).await
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
            let dir = std::env::temp_dir().join(format!("jetstream-tokio-file-{}-{nanos}", std::process::id()));
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

    #[tokio::test]
    async fn a_file_arrives_byte_identical_and_a_bad_name_is_refused() {
        let tmp = TempDir::new();
        let (inbox, source) = (tmp.0.join("inbox"), tmp.0.join("pattern.bin"));
        let data = pattern((3 << 20) + 12_345);
        std::fs::write(&source, &data).expect("write the source file");
        let (endpoint, key) = common::server_endpoint("127.0.0.1:0".parse().expect("addr")).expect("server");
        let addr = endpoint.local_addr().expect("server address");
        tokio::spawn(receive(endpoint, inbox.clone()));
        tokio::time::timeout(common::LIMIT, async {
            send(addr, key, &source).await.expect("send");
            let received = std::fs::read(inbox.join("pattern.bin")).expect("the file arrived");
            assert!(received == data, "the file arrived byte-identical");

            let client = common::client_endpoint(addr).expect("client");
            let conn = client.connect(addr, key).await.expect("connect");
            let err = send_file(&conn, &source, "../escaped.bin").await.expect_err("a name with .. is refused");
            assert!(err.to_string().contains("refused file name"), "{err}");
            assert!(!tmp.0.join("escaped.bin").exists(), "nothing written outside the directory");
        })
        .await
        .expect("within the time limit");
    }
}
