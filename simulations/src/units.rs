//! Human-friendly quantities in scenario files: durations (`"25ms"`), byte sizes (`"64KiB"`)
//! and link rates (`"100Mbit"`). Each parses from a string and, where a bare number is
//! unambiguous, from a number.

use jetstream_core::Duration;
use serde::Deserialize;
use std::fmt;

/// `"12.5ms"` with `units` = `[("ms", 1e6), ...]`: the number times its unit's factor. An
/// empty unit name in `units` makes the unit optional.
fn scaled(s: &str, kind: &str, units: &[(&str, f64)]) -> Result<f64, String> {
    let s = s.trim();
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    let value: f64 = num.parse().map_err(|_| format!("`{s}` does not start with a number"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{s}` must be a non-negative number"));
    }
    let unit = unit.trim();
    let names = || units.iter().map(|u| u.0).filter(|n| !n.is_empty()).collect::<Vec<_>>().join(", ");
    match units.iter().find(|u| u.0 == unit) {
        Some(&(_, factor)) => Ok(value * factor),
        None if unit.is_empty() => Err(format!("`{s}` needs a unit ({})", names())),
        None => Err(format!("unknown {kind} unit `{unit}` in `{s}` (use {})", names())),
    }
}

/// A span of simulated time, written `"250us"`, `"25ms"`, `"1.5s"` or `"2min"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(try_from = "String")]
pub struct SimDuration(pub Duration);

impl TryFrom<String> for SimDuration {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        const UNITS: &[(&str, f64)] = &[("ns", 1.0), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("min", 60e9)];
        Ok(SimDuration(Duration::from_nanos(scaled(&s, "time", UNITS)?.round() as u64)))
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A number of bytes, written as a number or `"1500B"`, `"64KiB"`, `"10MB"`, `"1GiB"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(try_from = "NumberOrString")]
pub struct ByteSize(pub u64);

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(u64),
    Text(String),
}

impl TryFrom<NumberOrString> for ByteSize {
    type Error = String;

    fn try_from(v: NumberOrString) -> Result<Self, String> {
        let s = match v {
            NumberOrString::Number(n) => return Ok(ByteSize(n)),
            NumberOrString::Text(s) => s,
        };
        const UNITS: &[(&str, f64)] = &[
            ("", 1.0),
            ("B", 1.0),
            ("KB", 1e3),
            ("kB", 1e3),
            ("MB", 1e6),
            ("GB", 1e9),
            ("KiB", 1024.0),
            ("MiB", 1024.0 * 1024.0),
            ("GiB", 1024.0 * 1024.0 * 1024.0),
        ];
        Ok(ByteSize(scaled(&s, "size", UNITS)?.round() as u64))
    }
}

/// A link rate in bits per second, written `"500kbit"`, `"100Mbit"` or `"1Gbit"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Rate(pub u64);

impl TryFrom<String> for Rate {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        const UNITS: &[(&str, f64)] = &[
            ("bit", 1.0),
            ("bps", 1.0),
            ("kbit", 1e3),
            ("kbps", 1e3),
            ("Mbit", 1e6),
            ("mbit", 1e6),
            ("Mbps", 1e6),
            ("Gbit", 1e9),
            ("gbit", 1e9),
            ("Gbps", 1e9),
        ];
        let bps = scaled(&s, "rate", UNITS)?.round() as u64;
        if bps == 0 {
            return Err(format!("rate `{s}` must be positive"));
        }
        Ok(Rate(bps))
    }
}

impl Rate {
    /// How long `bytes` take to serialise onto the link.
    pub fn transmission_time(self, bytes: usize) -> Duration {
        Duration::from_nanos((bytes as u64 * 8).saturating_mul(1_000_000_000) / self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_garbage() {
        let d = |s: &str| SimDuration::try_from(s.to_string()).map(|d| d.0);
        assert_eq!(d("25ms"), Ok(Duration::from_millis(25)));
        assert_eq!(d("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(d("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(d("2min"), Ok(Duration::from_secs(120)));
        assert!(d("25").unwrap_err().contains("needs a unit"));
        assert!(d("25 parsecs").unwrap_err().contains("unknown time unit"));
        assert!(d("-1s").is_err());
        assert!(d("ms").is_err());
    }

    #[test]
    fn sizes_and_rates_parse() {
        let b = |s: &str| ByteSize::try_from(NumberOrString::Text(s.to_string())).map(|b| b.0);
        assert_eq!(b("64KiB"), Ok(65536));
        assert_eq!(b("10MB"), Ok(10_000_000));
        assert_eq!(b("1500"), Ok(1500));
        assert!(b("3 bananas").is_err());
        let r = |s: &str| Rate::try_from(s.to_string()).map(|r| r.0);
        assert_eq!(r("100Mbit"), Ok(100_000_000));
        assert_eq!(r("500kbit"), Ok(500_000));
        assert!(r("0Mbit").is_err());
        assert!(r("100").is_err());
        assert_eq!(Rate(8_000_000).transmission_time(1000), Duration::from_millis(1));
    }
}
