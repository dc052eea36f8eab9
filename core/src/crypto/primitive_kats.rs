//! Known-answer tests for the handshake primitives the key schedule builds on
//! (X25519 and HKDF-SHA256), so a dependency upgrade that changed their output
//! would be caught here rather than as an interop failure. X25519 is our own
//! Edwards-form evaluation ([`super::keys::x25519`]), so it is also cross-checked
//! against x25519-dalek's Montgomery ladder on inputs of every kind.
#![allow(clippy::unwrap_used)]

use super::keys::{PeerKey, PublicKey, StaticKeypair, x25519};
use hkdf::Hkdf;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use sha2::Sha256;

fn arr<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// RFC 7748 §5.2, the two single-shot X25519 vectors.
#[test]
fn rfc7748_x25519_vectors() {
    let cases = [
        (
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
        ),
        (
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
        ),
    ];
    for (scalar, u, out) in cases {
        assert_eq!(hex::encode(x25519(arr(scalar), arr(u))), out);
    }
}

/// RFC 7748 §5.2, the iterated test: k = u = 9, then repeatedly
/// (k, u) = (X25519(k, u), k).
#[test]
fn rfc7748_x25519_iterated() {
    let mut k = [0u8; 32];
    k[0] = 9;
    let mut u = k;
    for i in 1..=1000 {
        (k, u) = (x25519(k, u), k);
        match i {
            1 => assert_eq!(hex::encode(k), "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"),
            1000 => assert_eq!(hex::encode(k), "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"),
            _ => {}
        }
    }
}

/// RFC 7748 §6.1: Alice's and Bob's key pairs and their shared secret.
#[test]
fn rfc7748_diffie_hellman() {
    let alice =
        StaticKeypair::from_secret_bytes(arr("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
    let bob = StaticKeypair::from_secret_bytes(arr("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
    assert_eq!(alice.public_key().to_string(), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    assert_eq!(bob.public_key().to_string(), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    assert_eq!(hex::encode(alice.diffie_hellman(&PeerKey::new(bob.public_key())).unwrap()), shared);
    assert_eq!(hex::encode(bob.diffie_hellman(&PeerKey::new(alice.public_key())).unwrap()), shared);
}

/// The Edwards-form evaluation equals the Montgomery ladder on honest keys, on random
/// 32-byte strings (half of them on the twist, some non-canonical or with the top bit set)
/// and on the edge values 0, 1, p-1, p and 2^255-1.
#[test]
fn x25519_matches_the_ladder_on_every_kind_of_input() {
    let mut rng = ChaCha8Rng::seed_from_u64(7748);
    let mut p_minus_1 = [0xff; 32];
    p_minus_1[0] = 0xec;
    p_minus_1[31] = 0x7f;
    let mut p = p_minus_1;
    p[0] = 0xed;
    let mut one = [0; 32];
    one[0] = 1;
    let mut inputs = vec![[0; 32], one, p_minus_1, p, [0xff; 32]];
    for _ in 0..200 {
        let mut random = [0u8; 32];
        rng.fill_bytes(&mut random);
        inputs.push(random);
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        inputs.push(x25519_dalek::x25519(secret, x25519_dalek::X25519_BASEPOINT_BYTES));
    }
    for u in inputs {
        let mut scalar = [0u8; 32];
        rng.fill_bytes(&mut scalar);
        assert_eq!(x25519(scalar, u), x25519_dalek::x25519(scalar, u), "u = {}", hex::encode(u));
    }
}

/// A fresh key pair with its shared secrets computed in one batch (one field inversion for
/// all) equals the key pair and the secrets computed one by one, including when a peer key
/// lies on the twist (the ladder path) between on-curve ones.
#[test]
fn batched_key_generation_and_agreement_match_single_operations() {
    let mut rng = ChaCha8Rng::seed_from_u64(9001);
    for _ in 0..50 {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let honest = StaticKeypair::from_secret_bytes(secret.map(|b| b ^ 0x5a)).public_key();
        let mut random = [0u8; 32];
        rng.fill_bytes(&mut random);
        let peers = [PeerKey::new(honest), PeerKey::new(PublicKey::from_bytes(random)), PeerKey::new(honest)];
        let (keypair, shared) = StaticKeypair::generate_and_agree(secret, &peers.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(keypair.public_key(), StaticKeypair::from_secret_bytes(secret).public_key());
        assert_eq!(shared.len(), 3);
        for (peer, got) in peers.iter().zip(&shared) {
            assert_eq!(*got, x25519_dalek::x25519(secret, peer.public_key().0));
        }
    }
}

/// One low-order key among several fails the whole batch (it would zero that shared secret).
#[test]
fn a_low_order_key_fails_a_batch() {
    let honest = PeerKey::new(StaticKeypair::from_secret_bytes([3; 32]).public_key());
    let low = PeerKey::new(PublicKey::from_bytes([0; 32]));
    assert!(StaticKeypair::generate_and_agree([4; 32], &[&honest, &low]).is_none());
    assert!(StaticKeypair::generate_and_agree([4; 32], &[&low, &honest]).is_none());
    assert!(StaticKeypair::generate_and_agree([4; 32], &[&honest, &honest]).is_some());
}

/// A low-order peer key would force an all-zero shared secret; the key pair refuses it.
#[test]
fn low_order_peer_keys_are_refused() {
    let ours = StaticKeypair::from_secret_bytes([42; 32]);
    // u = 0 (the identity and the point of order 2 share it) and a point of order 8.
    let order_8 = arr::<32>("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
    for low in [[0u8; 32], order_8] {
        assert_eq!(ours.diffie_hellman(&PeerKey::new(PublicKey::from_bytes(low))), None);
    }
}

/// RFC 5869 Appendix A.1, test case 1 (HKDF-SHA256): both the PRK from
/// extract and the OKM from expand.
#[test]
fn rfc5869_hkdf_sha256_test_case_1() {
    let ikm = [0x0b; 22];
    let salt = arr::<13>("000102030405060708090a0b0c");
    let info = arr::<10>("f0f1f2f3f4f5f6f7f8f9");
    let (prk, hk) = Hkdf::<Sha256>::extract(Some(&salt), &ikm);
    assert_eq!(hex::encode(prk), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
    let mut okm = [0u8; 42];
    hk.expand(&info, &mut okm).unwrap();
    assert_eq!(
        hex::encode(okm),
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    );
}
