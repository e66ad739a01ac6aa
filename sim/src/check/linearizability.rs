//! Linearizability of the store's client histories (issue #11, checkers; in the spirit of
//! etcd's robustness tests, which check their client histories with porcupine — this is our
//! own implementation).
//!
//! A history is what the clients saw: for each operation, who invoked it, on which key, when
//! it was invoked and when its answer arrived (simulated time), and the answer. An operation
//! whose answer never arrived (a timeout, a member that died, `ReplicationUnknown`) is
//! **unknown**: it may or may not have taken effect, at any time after its invocation.
//!
//! The history is linearizable (Herlihy & Wing 1990) if the operations can be put in one
//! order that respects real time — if `a` was answered before `b` was invoked, `a` comes first
//! — and in which every answer is what the model gives. The model is a per-key register with
//! revisions: get, create, update (with or without a `resourceVersion` precondition) and
//! delete, each write giving the key a new, strictly larger modification revision.
//!
//! # Search
//!
//! Linearizability is local (Herlihy & Wing, theorem 1), so each key is checked alone. Per key
//! the search is Wing & Gong's (1993) depth-first search with Lowe's (2017) memoisation: the
//! next operation to linearize is any one invoked before the earliest answer among those not
//! yet linearized; a configuration (set of linearized operations, model state) seen before is
//! not explored again. The search stops once every answered operation is linearized (unknown
//! ones may simply not have happened). It explores at most [`Bounds::configurations_max`]
//! configurations per key, and reports the key **undecided** past that rather than hanging.
//!
//! # What it does not cover
//!
//! - Order across keys: the store's revisions are one global counter, so an answer's revision
//!   also orders writes to different keys; the per-key model checks only that each key's
//!   revisions increase. Lists, watches and transactions over several keys are not modelled.
//! - Reads whose answer was lost carry no information and are dropped; so are writes refused
//!   before they could take effect (`NotLeader`: nothing was proposed).

use std::collections::BTreeSet;
use std::fmt;

/// The checker's name in reports.
pub const NAME: &str = "linearizability";

/// Most configurations explored per key before the key is reported undecided.
pub const CONFIGURATIONS_MAX_DEFAULT: u64 = 200_000;

/// An operation on one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// Read the key's value and modification revision.
    Get,
    /// Create the key with value `value` (unique per write in a history).
    Create {
        /// The value written.
        value: u64,
    },
    /// Replace the key's value, only if its modification revision is `expected` when given.
    Update {
        /// The value written.
        value: u64,
        /// The `resourceVersion` precondition.
        expected: Option<u64>,
    },
    /// Remove the key, only if its modification revision is `expected` when given.
    Delete {
        /// The `resourceVersion` precondition.
        expected: Option<u64>,
    },
}

/// Why the store refused a write (it changed nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// A create found the key.
    AlreadyExists,
    /// An update or delete did not find the key.
    NotFound,
    /// The precondition's revision was not the key's.
    Conflict,
}

/// What the client was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// A get found `value` at modification revision `revision`.
    Found {
        /// The value read.
        value: u64,
        /// Its modification revision.
        revision: u64,
    },
    /// A get found no key.
    Absent,
    /// A create or update took effect at `revision`; a delete took effect (`revision` is
    /// then the store's head after it, not checked).
    Written {
        /// The write's revision.
        revision: u64,
    },
    /// The write was refused and changed nothing.
    Refused(Refusal),
    /// No answer: the operation may or may not have taken effect.
    Unknown,
}

/// One operation of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The client that invoked it (one operation at a time per client).
    pub client: u32,
    /// The key.
    pub key: String,
    /// What was asked.
    pub op: Op,
    /// What was answered.
    pub outcome: Outcome,
    /// Simulated time of the invocation, in ns since the run's start.
    pub invoked_ns: u64,
    /// Simulated time of the answer; `None` when it never arrived (`Unknown`).
    pub answered_ns: Option<u64>,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {} ", self.client)?;
        match self.op {
            Op::Get => write!(f, "get")?,
            Op::Create { value } => write!(f, "create v{value}")?,
            Op::Update { value, expected } => {
                write!(f, "update v{value}")?;
                if let Some(e) = expected {
                    write!(f, " if @{e}")?;
                }
            }
            Op::Delete { expected } => {
                write!(f, "delete")?;
                if let Some(e) = expected {
                    write!(f, " if @{e}")?;
                }
            }
        }
        match self.outcome {
            Outcome::Found { value, revision } => write!(f, " -> v{value}@{revision}")?,
            Outcome::Absent => write!(f, " -> absent")?,
            Outcome::Written { revision } => write!(f, " -> ok @{revision}")?,
            Outcome::Refused(r) => write!(f, " -> {r:?}")?,
            Outcome::Unknown => write!(f, " -> unknown")?,
        }
        write!(f, " [{}", ms(self.invoked_ns))?;
        match self.answered_ns {
            Some(a) => write!(f, "..{}]", ms(a)),
            None => write!(f, "..]"),
        }
    }
}

/// Nanoseconds as milliseconds with three decimals (`12.500ms`).
fn ms(ns: u64) -> String {
    format!("{}.{:03}ms", ns / 1_000_000, (ns / 1_000) % 1_000)
}

/// The modification revision of the register's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rev {
    /// Known from an answer.
    Known(u64),
    /// Written by an unknown-outcome operation: some revision above the key's floor.
    Unseen,
}

/// The model's state for one key: its value (if present) and the highest revision the key is
/// known to have had (every later write of the key gets a larger one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Register {
    value: Option<(u64, Rev)>,
    floor: u64,
}

impl fmt::Display for Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            None => write!(f, "absent"),
            Some((v, Rev::Known(r))) => write!(f, "v{v}@{r}"),
            Some((v, Rev::Unseen)) => write!(f, "v{v}@?"),
        }
    }
}

impl Register {
    /// Whether the value's revision can be `r`; the refined state if so.
    fn revision_is(self, r: u64) -> Option<Register> {
        match self.value {
            Some((_, Rev::Known(k))) if k == r => Some(self),
            Some((v, Rev::Unseen)) if r > self.floor => Some(Register {
                value: Some((v, Rev::Known(r))),
                floor: r,
            }),
            _ => None,
        }
    }

    /// Whether the value's revision can differ from `r` (a precondition conflict).
    fn revision_can_differ(self, r: u64) -> bool {
        match self.value {
            Some((_, Rev::Known(k))) => k != r,
            Some((_, Rev::Unseen)) => true,
            None => false,
        }
    }

    /// The register after a write of `value` (`None`: a delete) at `revision` (`None`:
    /// unseen); `None` if that revision cannot come next.
    fn written(self, value: Option<u64>, revision: Option<u64>) -> Option<Register> {
        match revision {
            Some(r) if r <= self.floor => None,
            Some(r) => Some(Register {
                value: value.map(|v| (v, Rev::Known(r))),
                floor: r,
            }),
            None => Some(Register {
                value: value.map(|v| (v, Rev::Unseen)),
                floor: self.floor,
            }),
        }
    }

    /// The states the register can be in after `op` answered `outcome` (empty: impossible).
    fn step(self, op: Op, outcome: Outcome) -> Vec<Register> {
        let mut next = Vec::new();
        // The preconditioned states in which a write may apply (refined by the precondition).
        let applies = |expected: Option<u64>| -> Option<Register> {
            self.value?;
            match expected {
                None => Some(self),
                Some(e) => self.revision_is(e),
            }
        };
        match (op, outcome) {
            (Op::Get, Outcome::Found { value, revision }) => {
                if let Some(s) = self.revision_is(revision)
                    && s.value.is_some_and(|(v, _)| v == value)
                {
                    next.push(s);
                }
            }
            (Op::Get, Outcome::Absent)
            | (Op::Update { .. } | Op::Delete { .. }, Outcome::Refused(Refusal::NotFound))
                if self.value.is_none() =>
            {
                next.push(self);
            }
            (Op::Create { value }, Outcome::Written { revision }) if self.value.is_none() => {
                next.extend(self.written(Some(value), Some(revision)));
            }
            (Op::Create { .. }, Outcome::Refused(Refusal::AlreadyExists))
                if self.value.is_some() =>
            {
                next.push(self);
            }
            (Op::Update { value, expected }, Outcome::Written { revision }) => {
                if let Some(s) = applies(expected) {
                    next.extend(s.written(Some(value), Some(revision)));
                }
            }
            (Op::Delete { expected }, Outcome::Written { .. }) => {
                if let Some(s) = applies(expected) {
                    next.extend(s.written(None, None));
                }
            }
            (
                Op::Update {
                    expected: Some(e), ..
                }
                | Op::Delete { expected: Some(e) },
                Outcome::Refused(Refusal::Conflict),
            ) if self.revision_can_differ(e) => {
                next.push(self);
            }
            (_, Outcome::Unknown) => {
                // It did not happen (lost before it was proposed, or refused) ...
                next.push(self);
                // ... or it took effect, at a revision nobody saw.
                match op {
                    Op::Get => {}
                    Op::Create { value } => {
                        if self.value.is_none() {
                            next.extend(self.written(Some(value), None));
                        }
                    }
                    Op::Update { value, expected } => {
                        if let Some(s) = applies(expected) {
                            next.extend(s.written(Some(value), None));
                        }
                    }
                    Op::Delete { expected } => {
                        if let Some(s) = applies(expected) {
                            next.extend(s.written(None, None));
                        }
                    }
                }
            }
            _ => {}
        }
        next.sort_unstable();
        next.dedup();
        next
    }
}

/// Limits of the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Most configurations explored per key before it is reported undecided.
    pub configurations_max: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            configurations_max: CONFIGURATIONS_MAX_DEFAULT,
        }
    }
}

/// The verdict on one key's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A linearization exists.
    Linearizable,
    /// None exists: why, as text.
    Violation(String),
    /// The search hit its bound.
    Undecided {
        /// Configurations explored.
        explored: u64,
    },
}

/// The verdict on a whole history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Keys checked.
    pub keys: u64,
    /// Operations checked (after dropping those carrying no information).
    pub operations: u64,
    /// One line per key that has no linearization.
    pub violations: Vec<String>,
    /// Keys whose search hit the bound, with the configurations explored.
    pub undecided: Vec<(String, u64)>,
}

/// Checks a whole history, key by key.
pub fn check(history: &[Operation], bounds: Bounds) -> Summary {
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    for op in history.iter().filter(|o| !o.key.is_empty()) {
        keys.insert(op.key.as_str());
    }
    let mut summary = Summary::default();
    for key in keys {
        let ops: Vec<&Operation> = history
            .iter()
            .filter(|o| o.key == key && informative(o))
            .collect();
        summary.keys += 1;
        summary.operations += ops.len() as u64;
        match check_key(&ops, bounds) {
            Verdict::Linearizable => {}
            Verdict::Violation(why) => summary.violations.push(format!("key {key}: {why}")),
            Verdict::Undecided { explored } => summary.undecided.push((key.to_owned(), explored)),
        }
    }
    summary
}

/// False for what carries no information: a read without an answer.
fn informative(op: &Operation) -> bool {
    !(op.op == Op::Get && op.outcome == Outcome::Unknown)
}

/// The deepest point the search reached, for the violation's text.
struct Deepest {
    linearized: Vec<usize>,
    state: Register,
}

/// Wing & Gong's search with Lowe's memoisation over one key's operations.
///
/// # Panics
///
/// Never on input; only if its own stack discipline is broken.
pub fn check_key(ops: &[&Operation], bounds: Bounds) -> Verdict {
    let n = ops.len();
    // Invocation order (ties by position in the history): the order candidates are tried in.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (ops[i].invoked_ns, i));
    let answered = |i: usize| ops[i].answered_ns.unwrap_or(u64::MAX);
    let must = ops.iter().filter(|o| o.answered_ns.is_some()).count();

    let initial = Register {
        value: None,
        floor: 0,
    };
    let words = n.div_ceil(64);
    let mut seen: BTreeSet<(Vec<u64>, Register)> = BTreeSet::new();
    // Stack of (linearized bitset, linearized sequence, state).
    let mut stack: Vec<(Vec<u64>, Vec<usize>, Register)> = vec![(vec![0; words], vec![], initial)];
    let mut explored: u64 = 0;
    let mut deepest = Deepest {
        linearized: Vec::new(),
        state: initial,
    };
    while let Some((done, seq, state)) = stack.pop() {
        explored += 1;
        if explored > bounds.configurations_max {
            return Verdict::Undecided {
                explored: explored - 1,
            };
        }
        let is_done = |i: usize| done[i / 64] & (1 << (i % 64)) != 0;
        let answered_done = seq
            .iter()
            .filter(|&&i| ops[i].answered_ns.is_some())
            .count();
        if answered_done == must {
            return Verdict::Linearizable;
        }
        if seq.len() > deepest.linearized.len() {
            deepest = Deepest {
                linearized: seq.clone(),
                state,
            };
        }
        // The earliest answer among those not linearized bounds who may go next.
        let horizon = (0..n)
            .filter(|&i| !is_done(i))
            .map(answered)
            .min()
            .unwrap_or(u64::MAX);
        // Push in reverse so the earliest-invoked candidate is explored first.
        let mut children = Vec::new();
        for &i in &order {
            if is_done(i) || ops[i].invoked_ns > horizon {
                continue;
            }
            for next in state.step(ops[i].op, ops[i].outcome) {
                let mut bits = done.clone();
                bits[i / 64] |= 1 << (i % 64);
                if seen.insert((bits.clone(), next)) {
                    let mut s = seq.clone();
                    s.push(i);
                    children.push((bits, s, next));
                }
            }
        }
        stack.extend(children.into_iter().rev());
    }
    Verdict::Violation(explain(ops, &deepest))
}

/// The violation's text: the longest linearizable prefix found, the state it leaves, and
/// the operations that had to come next and cannot.
fn explain(ops: &[&Operation], deepest: &Deepest) -> String {
    let n = ops.len();
    let done: BTreeSet<usize> = deepest.linearized.iter().copied().collect();
    let horizon = (0..n)
        .filter(|i| !done.contains(i))
        .map(|i| ops[i].answered_ns.unwrap_or(u64::MAX))
        .min()
        .unwrap_or(u64::MAX);
    let mut blocked: Vec<usize> = (0..n)
        .filter(|i| !done.contains(i) && ops[*i].invoked_ns <= horizon)
        .collect();
    blocked.sort_by_key(|&i| (ops[i].invoked_ns, i));
    let prefix: Vec<String> = deepest
        .linearized
        .iter()
        .map(|&i| ops[i].to_string())
        .collect();
    let stuck: Vec<String> = blocked.iter().map(|&i| ops[i].to_string()).collect();
    format!(
        "not linearizable: after {} of {} operations ({}) the key is {}, and none of the \
         operations that must come next can: {}",
        deepest.linearized.len(),
        n,
        if prefix.is_empty() {
            "none".to_owned()
        } else {
            prefix.join("; ")
        },
        deepest.state,
        stuck.join("; ")
    )
}

/// Records a history as clients invoke and are answered.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Every operation, in invocation order; unanswered ones have `Outcome::Unknown`.
    pub operations: Vec<Operation>,
}

impl History {
    /// Records an invocation; returns its index for [`History::answer`].
    pub fn invoke(&mut self, client: u32, key: &str, op: Op, invoked_ns: u64) -> usize {
        self.operations.push(Operation {
            client,
            key: key.to_owned(),
            op,
            outcome: Outcome::Unknown,
            invoked_ns,
            answered_ns: None,
        });
        self.operations.len() - 1
    }

    /// Records the answer of operation `index` (an `Unknown` outcome leaves it unanswered).
    pub fn answer(&mut self, index: usize, outcome: Outcome, answered_ns: u64) {
        let Some(op) = self.operations.get_mut(index) else {
            return;
        };
        op.outcome = outcome;
        op.answered_ns = (outcome != Outcome::Unknown).then_some(answered_ns);
    }

    /// Forgets operation `index`: it certainly never took effect and carries no information
    /// (a write refused before it was proposed). It stays in place with an empty key, which
    /// [`check`] skips.
    pub fn forget(&mut self, index: usize) {
        if let Some(op) = self.operations.get_mut(index) {
            op.key.clear();
            op.op = Op::Get;
            op.outcome = Outcome::Unknown;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        client: u32,
        op: Op,
        outcome: Outcome,
        invoked_ms: u64,
        answered_ms: Option<u64>,
    ) -> Operation {
        Operation {
            client,
            key: "cm-a".into(),
            op,
            outcome,
            invoked_ns: invoked_ms * 1_000_000,
            answered_ns: answered_ms.map(|a| a * 1_000_000),
        }
    }

    fn written(revision: u64) -> Outcome {
        Outcome::Written { revision }
    }

    fn found(value: u64, revision: u64) -> Outcome {
        Outcome::Found { value, revision }
    }

    fn verdicts(history: &[Operation]) -> Summary {
        check(history, Bounds::default())
    }

    #[test]
    fn a_sequential_linearizable_history_passes() {
        let history = [
            op(1, Op::Get, Outcome::Absent, 0, Some(1)),
            op(1, Op::Create { value: 1 }, written(2), 2, Some(3)),
            op(2, Op::Get, found(1, 2), 4, Some(5)),
            op(
                2,
                Op::Update {
                    value: 2,
                    expected: Some(2),
                },
                written(5),
                6,
                Some(7),
            ),
            op(
                1,
                Op::Update {
                    value: 3,
                    expected: Some(2),
                },
                Outcome::Refused(Refusal::Conflict),
                8,
                Some(9),
            ),
            op(
                1,
                Op::Create { value: 4 },
                Outcome::Refused(Refusal::AlreadyExists),
                10,
                Some(11),
            ),
            op(1, Op::Delete { expected: None }, written(6), 12, Some(13)),
            op(
                2,
                Op::Delete { expected: None },
                Outcome::Refused(Refusal::NotFound),
                14,
                Some(15),
            ),
            op(2, Op::Get, Outcome::Absent, 16, Some(17)),
        ];
        assert_eq!(
            verdicts(&history),
            Summary {
                keys: 1,
                operations: 9,
                violations: vec![],
                undecided: vec![],
            }
        );
    }

    /// The planted bug in miniature: client 1's update was answered at 20 ms; client 2's read
    /// began at 30 ms and still saw the old value.
    #[test]
    fn a_stale_read_after_a_completed_write_fails_with_the_exact_violation() {
        let history = [
            op(1, Op::Create { value: 1 }, written(4), 0, Some(10)),
            op(
                1,
                Op::Update {
                    value: 2,
                    expected: Some(4),
                },
                written(7),
                11,
                Some(20),
            ),
            op(2, Op::Get, found(1, 4), 30, Some(31)),
        ];
        let summary = verdicts(&history);
        assert_eq!(summary.undecided, vec![]);
        assert_eq!(
            summary.violations,
            vec![
                "key cm-a: not linearizable: after 2 of 3 operations (client 1 create v1 -> ok @4 \
                 [0.000ms..10.000ms]; client 1 update v2 if @4 -> ok @7 [11.000ms..20.000ms]) the \
                 key is v2@7, and none of the operations that must come next can: client 2 get \
                 -> v1@4 [30.000ms..31.000ms]"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn an_unknown_write_that_later_becomes_visible_passes() {
        let history = [
            op(1, Op::Create { value: 1 }, written(3), 0, Some(5)),
            // Its answer was lost (the member died): it may have taken effect.
            op(
                1,
                Op::Update {
                    value: 2,
                    expected: None,
                },
                Outcome::Unknown,
                6,
                None,
            ),
            op(2, Op::Get, found(2, 9), 100, Some(101)),
            op(
                2,
                Op::Update {
                    value: 3,
                    expected: Some(9),
                },
                written(12),
                102,
                Some(103),
            ),
        ];
        assert_eq!(verdicts(&history).violations, Vec::<String>::new());
    }

    #[test]
    fn an_unknown_write_that_never_shows_passes() {
        let history = [
            op(1, Op::Create { value: 1 }, written(3), 0, Some(5)),
            op(1, Op::Delete { expected: None }, Outcome::Unknown, 6, None),
            op(2, Op::Get, found(1, 3), 100, Some(101)),
        ];
        assert_eq!(verdicts(&history).violations, Vec::<String>::new());
    }

    #[test]
    fn a_read_of_a_value_never_written_fails() {
        let history = [
            op(1, Op::Create { value: 1 }, written(3), 0, Some(5)),
            op(2, Op::Get, found(9, 3), 10, Some(11)),
        ];
        assert_eq!(verdicts(&history).violations.len(), 1);
    }

    #[test]
    fn concurrent_overlapping_operations_pass_in_either_order() {
        let write = |v| {
            op(
                1,
                Op::Update {
                    value: v,
                    expected: None,
                },
                written(5),
                10,
                Some(20),
            )
        };
        let base = op(1, Op::Create { value: 1 }, written(3), 0, Some(5));
        // A read overlapping the update may see the value before it ...
        let before = [
            base.clone(),
            write(2),
            op(2, Op::Get, found(1, 3), 12, Some(18)),
        ];
        // ... or after it.
        let after = [
            base.clone(),
            write(2),
            op(2, Op::Get, found(2, 5), 12, Some(18)),
        ];
        // Two overlapping creates: exactly one wins, whichever invoked first.
        let creates = [
            op(1, Op::Create { value: 1 }, written(3), 0, Some(10)),
            op(
                2,
                Op::Create { value: 2 },
                Outcome::Refused(Refusal::AlreadyExists),
                1,
                Some(9),
            ),
        ];
        let creates_other_way = [
            op(
                1,
                Op::Create { value: 1 },
                Outcome::Refused(Refusal::AlreadyExists),
                0,
                Some(10),
            ),
            op(2, Op::Create { value: 2 }, written(3), 1, Some(9)),
        ];
        for history in [&before[..], &after, &creates, &creates_other_way] {
            assert_eq!(
                verdicts(history).violations,
                Vec::<String>::new(),
                "{history:#?}"
            );
        }
    }

    #[test]
    fn revisions_of_a_key_must_increase() {
        let history = [
            op(1, Op::Create { value: 1 }, written(8), 0, Some(5)),
            op(
                1,
                Op::Update {
                    value: 2,
                    expected: None,
                },
                written(6),
                6,
                Some(7),
            ),
        ];
        assert_eq!(verdicts(&history).violations.len(), 1);
    }

    #[test]
    fn the_search_bound_reports_undecided_instead_of_hanging() {
        // Many concurrent reads and unknown writes: more configurations than the bound.
        let mut history = vec![op(1, Op::Create { value: 1 }, written(1), 0, Some(1))];
        for c in 0..12 {
            history.push(op(
                c + 2,
                Op::Update {
                    value: 100 + u64::from(c),
                    expected: None,
                },
                Outcome::Unknown,
                2,
                None,
            ));
        }
        history.push(op(99, Op::Get, found(1, 1), 3, Some(1000)));
        let summary = check(
            &history,
            Bounds {
                configurations_max: 10,
            },
        );
        assert_eq!(summary.undecided, vec![("cm-a".to_owned(), 10)]);
        assert_eq!(summary.violations, Vec::<String>::new());
    }

    #[test]
    fn the_recorder_marks_lost_answers_unknown_and_forgets_refused_proposals() {
        let mut h = History::default();
        let a = h.invoke(1, "k", Op::Create { value: 1 }, 10);
        let b = h.invoke(2, "k", Op::Get, 11);
        let c = h.invoke(3, "k", Op::Delete { expected: None }, 12);
        h.answer(a, written(2), 20);
        h.answer(b, Outcome::Unknown, 21);
        h.forget(c);
        assert_eq!(h.operations[0].answered_ns, Some(20));
        assert_eq!(h.operations[1].answered_ns, None);
        let summary = check(&h.operations, Bounds::default());
        assert_eq!((summary.keys, summary.operations), (1, 1));
    }
}
