//! Human-friendly quantities in scenario files: durations (`"25ms"`), byte sizes (`"64KiB"`)
//! and link rates (`"100Mbit"`). Each parses from a string and, where a bare number is
//! unambiguous, from a number.

use jetstream_core::Duration;
use serde::Deserialize;
use std::fmt;

/// Splits `"12.5ms"` into `(12.5, "ms")`.
fn split_number(s: &str) -> Result<(f64, &str), String> {
    let s = s.trim();
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    let value: f64 = num.parse().map_err(|_| format!("`{s}` does not start with a number"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{s}` must be a non-negative number"));
    }
    Ok((value, unit.trim()))
}

/// A span of simulated time, written `"250us"`, `"25ms"`, `"1.5s"` or `"2min"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(try_from = "String")]
pub struct SimDuration(pub Duration);

impl TryFrom<String> for SimDuration {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let (value, unit) = split_number(&s)?;
        let nanos_per_unit = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "min" => 60e9,
            "" => return Err(format!("`{s}` needs a unit (ns, us, ms, s or min)")),
            other => return Err(format!("unknown time unit `{other}` in `{s}` (use ns, us, ms, s or min)")),
        };
        Ok(SimDuration(Duration::from_nanos((value * nanos_per_unit).round() as u64)))
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
        let (value, unit) = split_number(&s)?;
        let multiplier = match unit {
            "" | "B" => 1.0,
            "KB" | "kB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "KiB" => 1024.0,
            "MiB" => 1024.0 * 1024.0,
            "GiB" => 1024.0 * 1024.0 * 1024.0,
            other => return Err(format!("unknown size unit `{other}` in `{s}` (use B, KB, MB, GB, KiB, MiB or GiB)")),
        };
        Ok(ByteSize((value * multiplier).round() as u64))
    }
}

/// A link rate in bits per second, written `"500kbit"`, `"100Mbit"` or `"1Gbit"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Rate(pub u64);

impl TryFrom<String> for Rate {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let (value, unit) = split_number(&s)?;
        let multiplier = match unit {
            "bit" | "bps" => 1.0,
            "kbit" | "kbps" => 1e3,
            "Mbit" | "mbit" | "Mbps" => 1e6,
            "Gbit" | "gbit" | "Gbps" => 1e9,
            "" => return Err(format!("`{s}` needs a unit (bit, kbit, Mbit or Gbit)")),
            other => return Err(format!("unknown rate unit `{other}` in `{s}` (use bit, kbit, Mbit or Gbit)")),
        };
        let bps = (value * multiplier).round() as u64;
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
