//! The CLI's verbs, one module each.

pub mod bench;
pub mod connect;
pub mod describe;
pub mod etcdctl;
pub mod kube;
pub mod node;
pub mod print;
pub mod proxy_rules;
pub mod rollout;
pub mod up;
pub mod validate;
pub mod verbs;
pub mod watch;
