//! Static key files: what `jetstream keygen` writes and `--key FILE` reads.
//!
//! The file is three lines of text, so that an operator can see which public key a file
//! holds without a tool:
//!
//! ```text
//! # JetStreamProto static key pair. Keep this file secret; share only the public key.
//! secret-key = 3f9a...   (64 hex digits)
//! public-key = 8c01...   (64 hex digits, derived from the secret; checked on load)
//! ```

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use jetstream_core::{PublicKey, StaticKeypair};

const HEADER: &str = "# JetStreamProto static key pair. Keep this file secret; share only the public key.";

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyFileError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a key file, or it was edited.
    #[error("{path}: {why}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        why: &'static str,
    },
}

/// Writes a key pair made from `secret` to `path`, readable by its owner only (mode 0600).
/// An existing file is replaced only with `overwrite`.
pub(crate) fn write_key_file(path: &Path, secret: [u8; 32], overwrite: bool) -> Result<PublicKey, KeyFileError> {
    let public = StaticKeypair::from_secret_bytes(secret).public_key();
    let io = |source| KeyFileError::Io { path: path.display().to_string(), source };
    let mut options = OpenOptions::new();
    options.write(true).mode(0o600);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(io)?;
    // `mode` applies only to a new file; an overwritten one may have been more open.
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600)).map_err(io)?;
    writeln!(file, "{HEADER}\nsecret-key = {}\npublic-key = {public}", hex::encode(secret)).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(public)
}

/// Reads a key file written by [`write_key_file`].
pub(crate) fn read_key_file(path: &Path) -> Result<StaticKeypair, KeyFileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Io { path: name.clone(), source })?;
    let malformed = |why| KeyFileError::Malformed { path: name.clone(), why };
    let secret = field(&text, "secret-key").ok_or_else(|| malformed("no `secret-key = ...` line"))?;
    let secret: [u8; 32] = hex::decode(secret)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| malformed("the secret key is not 64 hex digits"))?;
    let keypair = StaticKeypair::from_secret_bytes(secret);
    if let Some(public) = field(&text, "public-key") {
        let public: PublicKey = public.parse().map_err(|_| malformed("the public key is not 64 hex digits"))?;
        if public != keypair.public_key() {
            return Err(malformed("the public key does not belong to the secret key"));
        }
    }
    Ok(keypair)
}

/// The value of a `name = value` line.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == name).then(|| value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("jetstream-keys-{}-{name}", std::process::id()))
    }

    #[test]
    fn a_written_key_reads_back_owner_only() {
        let path = temp_path("roundtrip");
        let _ = std::fs::remove_file(&path);
        let public = write_key_file(&path, [9; 32], false).expect("write");
        assert_eq!(read_key_file(&path).expect("read").public_key(), public);
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // No silent overwrite; an explicit one works.
        assert!(matches!(write_key_file(&path, [1; 32], false), Err(KeyFileError::Io { .. })));
        let replaced = write_key_file(&path, [1; 32], true).expect("overwrite");
        assert_ne!(replaced, public);
        std::fs::remove_file(&path).expect("cleanup");
    }

    #[test]
    fn damaged_files_are_refused_with_the_reason() {
        let path = temp_path("damaged");
        let secret = hex::encode([9u8; 32]);
        let other = StaticKeypair::from_secret_bytes([8; 32]).public_key();
        for (text, why) in [
            ("hello".to_string(), "no `secret-key"),
            ("secret-key = abcd".to_string(), "not 64 hex digits"),
            (format!("secret-key = {secret}\npublic-key = {other}"), "does not belong"),
        ] {
            std::fs::write(&path, text).expect("write");
            let err = read_key_file(&path).expect_err("refused").to_string();
            assert!(err.contains(why), "{err}");
        }
        std::fs::remove_file(&path).expect("cleanup");
        assert!(matches!(read_key_file(&path), Err(KeyFileError::Io { .. })));
    }
}
