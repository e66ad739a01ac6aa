//! Checkers of your own, for the testkit (`testkit`, simulator build): a
//! [`Checker`] sees every committed event once, in revision order, like the built-in
//! checkers, and the final objects once the cluster has converged; what it reports becomes a
//! [`Violation::User`] in the run's report.

use skiff_core::event::Event;
use skiff_core::object::Object;

use super::Violation;

/// An invariant of your own, checked against the committed log.
///
/// ```
/// use skiff_core::event::{Change, Event};
/// use skiff_sim::check::user::Checker;
///
/// /// No ConfigMap is ever deleted.
/// struct NoConfigMapDeletes;
///
/// impl Checker for NoConfigMapDeletes {
///     fn name(&self) -> &'static str {
///         "no-configmap-deletes"
///     }
///     fn observe(&mut self, event: &Event, out: &mut Vec<String>) {
///         if let Change::Delete(o) = &event.change
///             && o.info().kind == "ConfigMap"
///         {
///             out.push(format!("ConfigMap {} deleted at revision {}", o.metadata().name_or_empty(), event.revision));
///         }
///     }
/// }
/// ```
pub trait Checker: Send {
    /// The checker's name in reports.
    fn name(&self) -> &'static str;
    /// One committed event (each exactly once, in revision order); push a message per
    /// violation.
    fn observe(&mut self, event: &Event, out: &mut Vec<String>);
    /// What must still become true before the cluster counts as converged (the liveness
    /// phase waits for an empty list, at most its bound): e.g. "ConfigMap x has no pod".
    fn unconverged(&self, objects: &[Object]) -> Vec<String> {
        let _ = objects;
        Vec::new()
    }
    /// The objects once the cluster has converged; push a message per violation.
    fn finish(&mut self, objects: &[Object], out: &mut Vec<String>) {
        let _ = (objects, out);
    }
}

/// The user checkers of one run.
#[derive(Default)]
pub struct UserCheckers {
    checkers: Vec<Box<dyn Checker>>,
}

impl std::fmt::Debug for UserCheckers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.checkers.iter().map(|c| c.name()))
            .finish()
    }
}

fn tag(name: &'static str, messages: Vec<String>, out: &mut Vec<Violation>) {
    out.extend(messages.into_iter().map(|message| Violation::User {
        checker: name,
        message,
    }));
}

impl UserCheckers {
    /// The checkers, in the order they report.
    pub fn new(checkers: Vec<Box<dyn Checker>>) -> Self {
        Self { checkers }
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.checkers.is_empty()
    }

    /// The checkers' names.
    pub fn names(&self) -> Vec<&'static str> {
        self.checkers.iter().map(|c| c.name()).collect()
    }

    /// Feeds one event to every checker.
    pub fn observe(&mut self, event: &Event, out: &mut Vec<Violation>) {
        for checker in &mut self.checkers {
            let mut messages = Vec::new();
            checker.observe(event, &mut messages);
            tag(checker.name(), messages, out);
        }
    }

    /// Every checker's liveness conditions still unmet, prefixed with its name.
    pub fn unconverged(&self, objects: &[Object]) -> Vec<String> {
        self.checkers
            .iter()
            .flat_map(|c| {
                c.unconverged(objects)
                    .into_iter()
                    .map(move |m| format!("[{}] {m}", c.name()))
            })
            .collect()
    }

    /// Hands the final objects to every checker.
    pub fn finish(&mut self, objects: &[Object], out: &mut Vec<Violation>) {
        for checker in &mut self.checkers {
            let mut messages = Vec::new();
            checker.finish(objects, &mut messages);
            tag(checker.name(), messages, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::{config_map_event, update_event};

    struct NoUpdates;

    impl Checker for NoUpdates {
        fn name(&self) -> &'static str {
            "no-updates"
        }
        fn observe(&mut self, event: &Event, out: &mut Vec<String>) {
            if matches!(event.change, skiff_core::event::Change::Update { .. }) {
                out.push(format!("update at revision {}", event.revision));
            }
        }
        fn unconverged(&self, objects: &[Object]) -> Vec<String> {
            objects
                .iter()
                .map(|o| format!("{} exists", o.metadata().name_or_empty()))
                .collect()
        }
    }

    #[test]
    fn a_user_checker_reports_as_a_user_violation_under_its_name() {
        let mut checkers = UserCheckers::new(vec![Box::new(NoUpdates)]);
        let mut out = Vec::new();
        checkers.observe(&config_map_event(1, "a"), &mut out);
        assert_eq!(out, []);
        checkers.observe(&update_event(2, "a"), &mut out);
        assert_eq!(
            out,
            [Violation::User {
                checker: "no-updates",
                message: "update at revision 2".into(),
            }]
        );
        assert_eq!(out[0].to_string(), "update at revision 2");
        assert_eq!(out[0].checker(), "no-updates");
        assert_eq!(out[0].class(), crate::check::Class::Correctness);
        let objects = [crate::check::tests::config_map("a", 1)];
        assert_eq!(checkers.unconverged(&objects), ["[no-updates] a exists"]);
    }
}
