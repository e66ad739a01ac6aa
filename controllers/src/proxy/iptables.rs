//! A [`RuleSet`] in `iptables-save` syntax: what upstream's proxier hands to
//! `iptables-restore --noflush` on every sync (`pkg/proxy/iptables/proxier.go`).
//!
//! Formatting follows the proxier's own output, which is also what upstream's proxier tests
//! compare against: `*filter` then `*nat`, each with its chain declarations
//! (`:KUBE-SERVICES - [0:0]`), then the `-A` lines, then `COMMIT`; in each rule the comment
//! first (`-m comment --comment …`, quoted when it has a space), then `-m tcp -p tcp`, `-d`,
//! `--dport`, then the target; probabilities as `%0.10f`. Addresses are printed as the proxier
//! writes them (`-d 10.96.0.12`, not the `/32` form `iptables-save` prints back after the
//! kernel normalised them). Rules are grouped by chain in declaration order, which
//! `iptables-restore` treats the same as upstream's interleaving.
//!
//! The jumps into `KUBE-SERVICES` from `PREROUTING`/`OUTPUT` and into `KUBE-POSTROUTING` from
//! `POSTROUTING` are ensured once by upstream (`-m comment --comment "kubernetes service
//! portals" -j KUBE-SERVICES`), not restored on each sync; the first line of the output, an
//! `iptables-save` comment, says so.

use std::fmt::Write;

use super::rules::{Match, Rule, RuleSet, Table, Target};

/// `1/n` as upstream's proxier prints it (`fmt.Sprintf("%0.10f", 1.0/float64(n))`).
pub fn probability(n: u32) -> String {
    format!("{:.10}", 1.0 / f64::from(n.max(1)))
}

/// Quotes an argument the way the proxier does: comments with spaces get double quotes.
fn quoted(text: &str) -> String {
    if text.contains(' ') || text.is_empty() {
        format!("\"{text}\"")
    } else {
        text.to_owned()
    }
}

fn write_rule(out: &mut String, chain: &str, rule: &Rule) {
    let _ = write!(out, "-A {chain}");
    if let Some(comment) = &rule.comment {
        let _ = write!(out, " -m comment --comment {}", quoted(comment));
    }
    for m in &rule.matches {
        let _ = match m {
            Match::Protocol(p) => write!(out, " -m {p} -p {p}"),
            Match::Destination(ip) => write!(out, " -d {ip}"),
            Match::DestinationPort(port) => write!(out, " --dport {port}"),
            Match::Source(ip) => write!(out, " -s {ip}"),
            Match::SourceIn(cidr) => write!(out, " -s {cidr}"),
            Match::NotSource(cidr) => write!(out, " ! -s {cidr}"),
            Match::SourceLocal => write!(out, " -m addrtype --src-type LOCAL"),
            Match::DestinationLocal => write!(out, " -m addrtype --dst-type LOCAL"),
            Match::RandomOneIn(n) => write!(
                out,
                " -m statistic --mode random --probability {}",
                probability(*n)
            ),
            Match::Mark {
                mark,
                negated: false,
            } => write!(out, " -m mark --mark {mark:#x}/{mark:#x}"),
            Match::Mark {
                mark,
                negated: true,
            } => write!(out, " -m mark ! --mark {mark:#x}/{mark:#x}"),
            Match::ConntrackState {
                states,
                negated: false,
            } => write!(out, " -m conntrack --ctstate {states}"),
            Match::ConntrackState {
                states,
                negated: true,
            } => write!(out, " -m conntrack ! --ctstate {states}"),
            Match::DestinationIn(cidr) => write!(out, " -d {cidr}"),
            Match::RecentCheck { name, seconds } => write!(
                out,
                " -m recent --name {name} --rcheck --seconds {seconds} --reap"
            ),
            Match::RecentSet { name } => write!(out, " -m recent --name {name} --set"),
        };
    }
    let _ = match &rule.target {
        Target::Jump(chain) => write!(out, " -j {chain}"),
        Target::Dnat(to) => write!(out, " -j DNAT --to-destination {to}"),
        Target::OrMark(mark) => write!(out, " -j MARK --or-mark {mark:#x}"),
        Target::XorMark(mark) => write!(out, " -j MARK --xor-mark {mark:#x}"),
        Target::Masquerade => write!(out, " -j MASQUERADE"),
        Target::Return => write!(out, " -j RETURN"),
        Target::Reject => write!(out, " -j REJECT"),
        Target::Drop => write!(out, " -j DROP"),
        Target::Accept => write!(out, " -j ACCEPT"),
    };
    out.push('\n');
}

fn write_table(out: &mut String, table: &Table) {
    let _ = writeln!(out, "*{}", table.name());
    for chain in table.chains() {
        let _ = writeln!(out, ":{} - [0:0]", chain.name);
    }
    for chain in table.chains() {
        for rule in &chain.rules {
            write_rule(out, &chain.name, rule);
        }
    }
    out.push_str("COMMIT\n");
}

impl RuleSet {
    /// The rule set as `iptables-save` text: a comment line naming the node, the filter
    /// table, the nat table.
    pub fn to_iptables_save(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# kube-proxy rules for node {} (skiff; PREROUTING and OUTPUT jump to KUBE-SERVICES, \
             POSTROUTING to KUBE-POSTROUTING)",
            self.node
        );
        write_table(&mut out, &self.filter);
        write_table(&mut out, &self.nat);
        out
    }

    /// Only the nat table, as `iptables-save -t nat` prints it.
    pub fn nat_to_iptables_save(&self) -> String {
        let mut out = String::new();
        write_table(&mut out, &self.nat);
        out
    }

    /// Only the filter table, as `iptables-save -t filter` prints it.
    pub fn filter_to_iptables_save(&self) -> String {
        let mut out = String::new();
        write_table(&mut out, &self.filter);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_are_printed_with_ten_decimals() {
        assert_eq!(probability(1), "1.0000000000");
        assert_eq!(probability(2), "0.5000000000");
        assert_eq!(probability(3), "0.3333333333");
        assert_eq!(probability(7), "0.1428571429");
    }

    #[test]
    fn comments_with_spaces_are_quoted() {
        assert_eq!(quoted("default/web:http"), "default/web:http");
        assert_eq!(
            quoted("default/web:http cluster IP"),
            "\"default/web:http cluster IP\""
        );
    }
}
