//! The results as markdown tables: goodput per loss level against the loss-free share of
//! the link, then what each sender saw (drops, retransmissions, window, RTT) to explain it.

use std::fmt::Write;

use super::{LossyPeer, LossyRound, LossyRow};
use crate::median;

/// From this loss on, JetStreamProto is expected to reach [`TARGET_SHARE`] of the loss-free
/// share and beat kernel TCP.
const TARGET_FROM_LOSS: u8 = 5;
/// The fraction of `(1 - p) x rate` JetStreamProto is expected to reach.
const TARGET_SHARE: f64 = 0.9;
/// What loss-free TCP should reach on a well-shaped 100 Mbit/s link (1448 payload bytes
/// per 1514-byte frame is 95.6%).
const TCP_LOSS_FREE_SHARE: f64 = 0.94;

/// Renders `rows` (from [`measure`](super::measure)): per loss level the median goodput of
/// each peer, the loss-free share `(1 - p) x rate`, JetStreamProto's goodput as a
/// percentage of that share, its within-round ratios to TCP and to quinn (medians), and
/// whether it meets the target; then a table of the link's and the senders' counters.
pub fn table(rows: &[LossyRow]) -> String {
    let mut out = String::new();
    let peers = distinct(rows, |r| r.peer);
    let losses = distinct(rows, |r| r.loss_percent);
    let names: Vec<&str> = peers.iter().map(|p| p.name()).collect();
    let _ = writeln!(
        out,
        "| loss | share Mbit/s | {} | jetstream % of share | jetstream / tcp | jetstream / quinn | target |",
        names.join(" | ")
    );
    let _ = writeln!(out, "|{}", "---|".repeat(6 + peers.len()));
    for &loss in &losses {
        let row_of = |peer| rows.iter().find(|r| r.loss_percent == loss && r.peer == peer);
        let ours = row_of(LossyPeer::Jetstream);
        let share = rows.iter().find(|r| r.loss_percent == loss).map_or(0.0, share_mbit);
        let goodputs: Vec<String> =
            peers.iter().map(|&p| row_of(p).map_or("-".into(), |r| format!("{:.1}", r.goodput_mbit))).collect();
        let percent = ours.map(|r| 100.0 * r.goodput_mbit / share);
        let vs_tcp = ours.zip(row_of(LossyPeer::Tcp)).and_then(|(a, b)| ratio(a, b));
        let vs_quinn = ours.zip(row_of(LossyPeer::Quinn)).and_then(|(a, b)| ratio(a, b));
        let _ = writeln!(
            out,
            "| {loss}% | {share:.1} | {} | {} | {} | {} | {} |",
            goodputs.join(" | "),
            percent.map_or("-".into(), |p| format!("{p:.0}%")),
            vs_tcp.map_or("-".into(), |r| format!("{r:.2}x")),
            vs_quinn.map_or("-".into(), |r| format!("{r:.2}x")),
            verdict(loss, percent, vs_tcp),
        );
    }
    out.push('\n');
    out.push_str(&details(rows, &losses, &peers));
    out.push('\n');
    out.push_str(&notes(rows));
    out
}

/// `(1 - p) x rate` for the row's loss level.
fn share_mbit(row: &LossyRow) -> f64 {
    f64::from(row.rate_mbit) * (1.0 - f64::from(row.loss_percent) / 100.0)
}

/// The median over rounds of `a`'s goodput over `b`'s in the same round.
fn ratio(a: &LossyRow, b: &LossyRow) -> Option<f64> {
    let ratios: Vec<f64> = a.rounds.iter().zip(&b.rounds).map(|(x, y)| x.goodput_mbit / y.goodput_mbit).collect();
    median(&ratios)
}

fn verdict(loss: u8, percent: Option<f64>, vs_tcp: Option<f64>) -> String {
    if loss < TARGET_FROM_LOSS {
        return "-".into();
    }
    let Some(percent) = percent else { return "-".into() };
    let mut missed = Vec::new();
    if percent < TARGET_SHARE * 100.0 {
        missed.push(format!("under {:.0}% of share", TARGET_SHARE * 100.0));
    }
    if vs_tcp.is_some_and(|r| r <= 1.0) {
        missed.push("not above tcp".to_string());
    }
    if missed.is_empty() { "met".into() } else { format!("MISSED: {}", missed.join(", ")) }
}

/// One line per loss level and peer: the spread over rounds and what the link and the
/// sender counted (medians over rounds).
fn details(rows: &[LossyRow], losses: &[u8], peers: &[LossyPeer]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| loss | peer | Mbit/s min-max | time s | nft drops fwd/rev | tbf drops | retransmitted | sender lost | \
         congestion events | probe timeouts | mean cwnd KB | end cwnd KB | mean srtt ms | min rtt ms |"
    );
    let _ = writeln!(out, "|{}", "---|".repeat(14));
    for &loss in losses {
        for &peer in peers {
            let Some(row) = rows.iter().find(|r| r.loss_percent == loss && r.peer == peer) else { continue };
            let (lo, hi) = row
                .rounds
                .iter()
                .fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(r.goodput_mbit), hi.max(r.goodput_mbit)));
            let count = |f: fn(&LossyRound) -> Option<f64>| {
                median(&row.rounds.iter().filter_map(f).collect::<Vec<_>>()).map_or("-".into(), |v| format!("{v:.0}"))
            };
            let sender = |f: fn(&crate::bulk::SenderStats) -> f64| {
                median(&row.rounds.iter().filter_map(|r| r.sender.as_ref().map(f)).collect::<Vec<_>>())
            };
            let shown = |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
            let _ = writeln!(
                out,
                "| {loss}% | {peer} | {lo:.1}-{hi:.1} | {:.2} | {}/{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                row.completion.as_secs_f64(),
                count(|r| Some(r.nft_dropped_forward as f64)),
                count(|r| Some(r.nft_dropped_reverse as f64)),
                count(|r| Some(r.tbf_dropped as f64)),
                count(|r| r.retransmissions.map(|n| n as f64)),
                shown(sender(|s| s.packets_lost as f64), 0),
                shown(sender(|s| s.congestion_events as f64), 0),
                count(|r| r.sender.and_then(|s| s.probe_timeouts).map(|n| n as f64)),
                shown(sender(|s| s.mean_cwnd as f64 / 1000.0), 0),
                shown(sender(|s| s.final_cwnd as f64 / 1000.0), 0),
                shown(sender(|s| s.mean_rtt.as_secs_f64() * 1000.0), 2),
                shown(sender(|s| s.min_rtt.as_secs_f64() * 1000.0), 2),
            );
        }
    }
    out
}

fn notes(rows: &[LossyRow]) -> String {
    let mut out = String::from(
        "share: (1 - p) x rate, what a sender could deliver if every lost packet cost exactly its own \
         airtime; the goodputs are application bytes per second, medians over rounds.\n\
         jetstream / tcp, / quinn: median over rounds of the ratio within a round.\n\
         target (from 5% loss): jetstream at least 90% of share and above tcp.\n\
         nft drops fwd/rev: packets dropped by the loss rule towards the server (data) and towards the client \
         (acknowledgements), handshake included; tbf drops: packets dropped from a full shaper queue.\n\
         retransmitted: tcp = RetransSegs of the client's namespace, jetstream = packets whose contents were \
         resent; quinn counts none (it resends what its lost packets carried).\n\
         probe timeouts: jetstream's; quinn does not count them.\n\
         sender lost, congestion events, cwnd, srtt, min rtt: the sending connection's counters (QUIC-like \
         peers); the means are over samples every 10 ms of the transfer.\n",
    );
    if let Some(tcp) = rows.iter().find(|r| r.peer == LossyPeer::Tcp && r.loss_percent == 0) {
        let expected = TCP_LOSS_FREE_SHARE * f64::from(tcp.rate_mbit);
        let verdict = if tcp.goodput_mbit >= expected {
            "the shaper lets a sender fill the link"
        } else {
            "BELOW: check the tbf burst"
        };
        let _ = writeln!(
            out,
            "loss-free tcp: {:.1} Mbit/s (expected at least {expected:.0}): {verdict}.",
            tcp.goodput_mbit
        );
    }
    out
}

/// The distinct values of `key` over `rows`, in order of first appearance (the peers, the
/// loss levels).
fn distinct<T: PartialEq>(rows: &[LossyRow], key: impl Fn(&LossyRow) -> T) -> Vec<T> {
    let mut values = Vec::new();
    for value in rows.iter().map(key) {
        if !values.contains(&value) {
            values.push(value);
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn row(peer: LossyPeer, loss_percent: u8, goodputs: &[f64]) -> LossyRow {
        let rounds = goodputs
            .iter()
            .map(|&goodput_mbit| LossyRound {
                bytes: 1,
                elapsed: Duration::from_secs(4),
                goodput_mbit,
                nft_dropped_forward: 10,
                nft_dropped_reverse: 2,
                tbf_dropped: 0,
                retransmissions: None,
                sender: None,
            })
            .collect();
        let mut row = LossyRow::new(peer, loss_percent, 100);
        row.rounds = rounds;
        row.summarize();
        row
    }

    #[test]
    fn shares_ratios_and_verdicts() {
        let rows = vec![
            row(LossyPeer::Jetstream, 0, &[93.0, 92.0, 94.0]),
            row(LossyPeer::Tcp, 0, &[94.0, 95.0, 94.5]),
            row(LossyPeer::Jetstream, 10, &[86.0, 80.0, 84.0]),
            row(LossyPeer::Tcp, 10, &[65.0, 64.0, 70.0]),
        ];
        let text = table(&rows);
        assert!(text.contains("|---|---|---|---|---|---|---|---|\n| 0%"), "{text}");
        // 10%: share 90, jetstream median 84 = 93%, ratios 86/65, 80/64, 84/70 -> median 1.25.
        // 0%: ratios 93/94, 92/95, 94/94.5 -> median 0.99.
        assert!(text.contains("| 10% | 90.0 | 84.0 | 65.0 | 93% | 1.25x | - | met |"), "{text}");
        assert!(text.contains("| 0% | 100.0 | 93.0 | 94.5 | 93% | 0.99x | - | - |"), "{text}");
        assert!(text.contains("loss-free tcp: 94.5 Mbit/s"), "{text}");
        assert!(text.contains("| 10% | tcp | 64.0-70.0 | 4.00 | 10/2 |"), "{text}");
    }

    #[test]
    fn a_miss_says_why() {
        let rows = vec![row(LossyPeer::Jetstream, 5, &[70.0]), row(LossyPeer::Tcp, 5, &[84.0])];
        assert!(table(&rows).contains("MISSED: under 90% of share, not above tcp"));
    }
}
