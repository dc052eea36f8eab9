//! The link's counters, read from what `nft`, `tc` and `/proc/net/snmp` print: a
//! snapshot before and after each transfer gives what happened during it.

/// The link's cumulative counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct LinkCounters {
    /// Packets the loss rule dropped arriving at the server (client-to-server direction).
    pub(super) nft_dropped_at_server: u64,
    /// Packets the loss rule dropped arriving at the client (server-to-client direction).
    pub(super) nft_dropped_at_client: u64,
    /// Packets tbf dropped from a full queue on the client's end (client to server).
    pub(super) tbf_dropped_at_client: u64,
    /// Packets tbf dropped from a full queue on the server's end (server to client).
    pub(super) tbf_dropped_at_server: u64,
    /// TCP segments the client's namespace retransmitted (`Tcp: RetransSegs`).
    pub(super) client_tcp_retransmitted: u64,
}

impl LinkCounters {
    /// What happened between `earlier` and `self`. A counter that went backwards (the loss
    /// rule was replaced in between) counts from zero.
    pub(super) fn since(&self, earlier: &LinkCounters) -> LinkCounters {
        let delta = |now: u64, then: u64| if now >= then { now - then } else { now };
        LinkCounters {
            nft_dropped_at_server: delta(self.nft_dropped_at_server, earlier.nft_dropped_at_server),
            nft_dropped_at_client: delta(self.nft_dropped_at_client, earlier.nft_dropped_at_client),
            tbf_dropped_at_client: delta(self.tbf_dropped_at_client, earlier.tbf_dropped_at_client),
            tbf_dropped_at_server: delta(self.tbf_dropped_at_server, earlier.tbf_dropped_at_server),
            client_tcp_retransmitted: delta(self.client_tcp_retransmitted, earlier.client_tcp_retransmitted),
        }
    }
}

/// The packet count of the (only) counter in an `nft list chain` listing.
pub(super) fn nft_dropped_packets(listing: &str) -> Result<u64, String> {
    number_after(listing, "packets").ok_or_else(|| format!("no packet counter in the nft listing: {listing}"))
}

/// The drop count in a `tc -s qdisc show dev X` listing (`(dropped N, overlimits ...`).
pub(super) fn tbf_dropped_packets(listing: &str) -> Result<u64, String> {
    number_after(listing, "(dropped").ok_or_else(|| format!("no drop count in the tc listing: {listing}"))
}

/// `RetransSegs` from the `Tcp:` lines of `/proc/net/snmp` (a header line of names, then
/// a line of values).
pub(super) fn tcp_retransmitted_segments(snmp: &str) -> Result<u64, String> {
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        return Err("no Tcp lines in /proc/net/snmp".into());
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RetransSegs")
        .and_then(|(_, value)| value.parse().ok())
        .ok_or_else(|| "no RetransSegs in /proc/net/snmp".into())
}

/// The number following the first whitespace-separated word equal to `word`, trailing
/// punctuation removed.
fn number_after(text: &str, word: &str) -> Option<u64> {
    let mut words = text.split_whitespace().skip_while(|w| *w != word);
    words.next()?;
    words.next()?.trim_end_matches([',', ')']).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_nft_drop_counter() {
        let listing = "table inet jetstream_lossy {\n\tchain input {\n\t\ttype filter hook input priority filter; \
                       policy accept;\n\t\tiifname \"jls1x0\" numgen random mod 100 < 5 counter packets 1234 bytes \
                       1800000 drop\n\t}\n}\n";
        assert_eq!(nft_dropped_packets(listing), Ok(1234));
        assert!(nft_dropped_packets("table inet t {}").is_err());
    }

    #[test]
    fn reads_the_tbf_drop_count() {
        let listing = "qdisc tbf 8001: root refcnt 3 rate 100Mbit burst 32Kb lat 17.9ms \n Sent 52000000 bytes \
                       35000 pkt (dropped 17, overlimits 900 requeues 0) \n backlog 0b 0p requeues 0\n";
        assert_eq!(tbf_dropped_packets(listing), Ok(17));
        assert!(tbf_dropped_packets("qdisc noqueue 0: root").is_err());
    }

    #[test]
    fn reads_tcp_retransmissions() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 2 64\nTcp: RtoAlgorithm RtoMin OutSegs RetransSegs InErrs\n\
                    Tcp: 1 200 5000 42 0\nUdp: InDatagrams\nUdp: 7\n";
        assert_eq!(tcp_retransmitted_segments(snmp), Ok(42));
        assert!(tcp_retransmitted_segments("Udp: InDatagrams\nUdp: 7\n").is_err());
    }

    #[test]
    fn deltas_survive_a_replaced_counter() {
        let before = LinkCounters { nft_dropped_at_server: 100, client_tcp_retransmitted: 5, ..Default::default() };
        let after = LinkCounters { nft_dropped_at_server: 30, client_tcp_retransmitted: 9, ..Default::default() };
        let delta = after.since(&before);
        assert_eq!((delta.nft_dropped_at_server, delta.client_tcp_retransmitted), (30, 4));
    }
}
