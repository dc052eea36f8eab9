//! Results of one section laid out for printing: a row per measured quantity, a column per
//! peer, a value per round; then ratio columns "ours / theirs", each the median over rounds
//! of the ratio within a round (slow phases of a shared machine hit both sides alike).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::median;

/// A ratio column: `ours / theirs`, by column name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ratio {
    /// The numerator's column.
    pub ours: String,
    /// The denominator's column.
    pub theirs: String,
    /// The column's heading.
    pub title: String,
}

/// One section's values: `rows × columns × rounds`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Grid {
    /// Row names in display order.
    pub rows: Vec<String>,
    /// Column names in display order.
    pub columns: Vec<String>,
    /// Values by (row, column), one slot per round (`None`: the run failed).
    pub values: BTreeMap<String, BTreeMap<String, Vec<Option<f64>>>>,
}

impl Grid {
    /// A grid with these columns (rows appear as values are recorded).
    pub fn new(columns: Vec<String>) -> Self {
        Grid { columns, ..Grid::default() }
    }

    /// Records `value` for `row` and `column` in `round`.
    pub fn record(&mut self, round: usize, row: &str, column: &str, value: Option<f64>) {
        if !self.rows.iter().any(|r| r == row) {
            self.rows.push(row.to_string());
        }
        if !self.columns.iter().any(|c| c == column) {
            self.columns.push(column.to_string());
        }
        let slots = self.values.entry(row.to_string()).or_default().entry(column.to_string()).or_default();
        if slots.len() <= round {
            slots.resize(round + 1, None);
        }
        slots[round] = value;
    }

    fn rounds(&self, row: &str, column: &str) -> &[Option<f64>] {
        self.values.get(row).and_then(|r| r.get(column)).map_or(&[], Vec::as_slice)
    }

    /// The median over the rounds that produced a value.
    pub fn median(&self, row: &str, column: &str) -> Option<f64> {
        median(&self.rounds(row, column).iter().flatten().copied().collect::<Vec<_>>())
    }

    /// The median over rounds of `ours / theirs` taken within each round.
    pub fn ratio(&self, row: &str, ratio: &Ratio) -> Option<f64> {
        let theirs = self.rounds(row, &ratio.theirs);
        let within: Vec<f64> = self
            .rounds(row, &ratio.ours)
            .iter()
            .zip(theirs)
            .filter_map(|(ours, theirs)| Some(ours.as_ref()? / theirs.filter(|t| *t != 0.0)?))
            .collect();
        median(&within)
    }

    /// The grid as a text table: medians, then the ratio columns.
    pub fn render(&self, row_title: &str, ratios: &[Ratio]) -> String {
        let mut header = vec![row_title.to_string()];
        header.extend(self.columns.iter().cloned());
        header.extend(ratios.iter().map(|r| r.title.clone()));
        let mut lines = vec![header];
        for row in &self.rows {
            let mut line = vec![row.clone()];
            line.extend(self.columns.iter().map(|c| self.median(row, c).map_or("-".into(), format_value)));
            line.extend(ratios.iter().map(|r| self.ratio(row, r).map_or("-".into(), |x| format!("{x:.2}x"))));
            lines.push(line);
        }
        let widths: Vec<usize> =
            (0..lines[0].len()).map(|i| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for line in &lines {
            for (i, cell) in line.iter().enumerate() {
                let _ = if i == 0 {
                    write!(out, "{cell:<w$}", w = widths[i])
                } else {
                    write!(out, "  {cell:>w$}", w = widths[i])
                };
            }
            out.push('\n');
        }
        out
    }
}

/// Four significant figures at most, with k/M for large values.
pub fn format_value(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.3}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_within_round_ratios() {
        let mut grid = Grid::new(vec!["a".into(), "b".into()]);
        for (round, (a, b)) in [(2.0, 1.0), (9.0, 3.0), (4.0, 1.0)].into_iter().enumerate() {
            grid.record(round, "rate", "a", Some(a));
            grid.record(round, "rate", "b", Some(b));
        }
        grid.record(3, "rate", "a", None);
        assert_eq!(grid.median("rate", "a"), Some(4.0));
        // Ratios within rounds are 2, 3, 4: median 3 (the ratio of medians would be 4).
        let ratio = Ratio { ours: "a".into(), theirs: "b".into(), title: "a / b".into() };
        assert_eq!(grid.ratio("rate", &ratio), Some(3.0));
        assert_eq!(grid.ratio("other", &ratio), None);
        let table = grid.render("metric", &[ratio]);
        assert!(table.contains("a / b"), "{table}");
        assert!(table.lines().nth(1).is_some_and(|l| l.starts_with("rate") && l.ends_with("3.00x")), "{table}");
    }

    #[test]
    fn values_are_formatted_compactly() {
        assert_eq!(format_value(2_345_678.0), "2.346M");
        assert_eq!(format_value(12_345.0), "12.3k");
        assert_eq!(format_value(123.4), "123");
        assert_eq!(format_value(12.34), "12.3");
        assert_eq!(format_value(1.234), "1.23");
    }
}
