//! The simulation's only source of randomness: a seeded ChaCha stream, split into independent
//! sub-streams per purpose, so one run's outcome depends on its seed alone.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// A seeded random stream.
#[derive(Debug, Clone)]
pub(crate) struct SimRng(ChaCha8Rng);

impl SimRng {
    /// The stream for `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        SimRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// An independent stream derived from this one's seed and `label` (a link direction, an
    /// endpoint), unaffected by how much this stream has been used.
    pub(crate) fn fork(seed: u64, label: &str) -> Self {
        // FNV-1a over the label, mixed with the seed: distinct labels give distinct streams.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.rotate_left(17);
        for b in label.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        SimRng::new(h ^ seed)
    }

    /// 32 random bytes (an endpoint's seed).
    pub(crate) fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.0.fill_bytes(&mut out);
        out
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p` (never draws for 0, so adding a disabled impairment does
    /// not shift the stream).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (p >= 1.0 || self.unit() < p)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.0.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A standard normal sample (Box-Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_forks_independent() {
        let a: Vec<u64> = (0..4).map(|_| SimRng::new(5).below(1000)).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut x = SimRng::fork(5, "up");
        let mut y = SimRng::fork(5, "down");
        assert_ne!(x.bytes32(), y.bytes32());
        assert_eq!(SimRng::fork(5, "up").bytes32(), SimRng::fork(5, "up").bytes32());
        assert_ne!(SimRng::fork(5, "up").bytes32(), SimRng::fork(6, "up").bytes32());
    }

    #[test]
    fn samples_have_the_right_shape() {
        let mut r = SimRng::new(9);
        let n = 20_000;
        let mean = (0..n).map(|_| r.unit()).sum::<f64>() / f64::from(n);
        assert!((0.48..0.52).contains(&mean));
        let normals: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let m = normals.iter().sum::<f64>() / f64::from(n);
        let var = normals.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / f64::from(n);
        assert!(m.abs() < 0.03 && (0.95..1.05).contains(&var), "{m} {var}");
        assert!((0..1000).all(|_| r.below(7) < 7));
        assert!(!r.chance(0.0) && r.chance(1.0));
    }
}
