//! Byte counts on the command line: `1500`, `64K`, `10M`, `1G` (powers of 1024; a trailing
//! `B` or `iB` is accepted, so `64KiB` and `10MB` work too).

/// Parses a byte count.
pub(crate) fn parse(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let number = lower.trim_end_matches("ib").trim_end_matches('b');
    let (digits, shift) = match number.chars().last() {
        Some('k') => (&number[..number.len() - 1], 10),
        Some('m') => (&number[..number.len() - 1], 20),
        Some('g') => (&number[..number.len() - 1], 30),
        Some('t') => (&number[..number.len() - 1], 40),
        _ => (number, 0),
    };
    let value: u64 = digits.trim().parse().map_err(|_| format!("{trimmed:?} is not a size such as 1500, 64K or 1G"))?;
    value.checked_mul(1 << shift).ok_or_else(|| format!("{trimmed:?} is too large"))
}

/// Parses a nonzero byte count that fits in memory.
pub(crate) fn parse_nonzero_usize(text: &str) -> Result<usize, String> {
    match usize::try_from(parse(text)?) {
        Ok(0) => Err("must be at least 1 byte".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is too large")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_powers_of_1024() {
        assert_eq!(parse("1500"), Ok(1500));
        assert_eq!(parse("64K"), Ok(65536));
        assert_eq!(parse("64KiB"), Ok(65536));
        assert_eq!(parse("10MB"), Ok(10 << 20));
        assert_eq!(parse("1g"), Ok(1 << 30));
    }

    #[test]
    fn nonsense_and_overflow_are_refused() {
        assert!(parse("lots").is_err());
        assert!(parse("").is_err());
        assert!(parse("-5").is_err());
        assert!(parse("99999999999T").is_err());
        assert!(parse_nonzero_usize("0").is_err());
    }
}
