//! Resource arithmetic of the scheduler: a pod's effective request (what the NodeResourcesFit
//! filter checks) and its non-zero request (what LeastAllocated scores), and a node's
//! allocatable amounts, all as plain integers (millicores, bytes, pod count).

use std::collections::BTreeMap;

use skiff_core::object::{Container, PodSpec};
use skiff_core::quantity::Quantity;

/// CPU counted for a container without a cpu request, for scoring only (upstream
/// `DefaultMilliCPURequest`, `pkg/scheduler/util/pod_resources.go`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory counted for a container without a memory request, for scoring only (upstream
/// `DefaultMemoryRequest`: 200 MB, written `200 * 1024 * 1024`).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// CPU (millicores) and memory (bytes), the two resources skiff schedules by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resources {
    /// Millicores.
    pub milli_cpu: i64,
    /// Bytes.
    pub memory: i64,
}

impl Resources {
    /// `milli_cpu` millicores and `memory` bytes.
    pub const fn new(milli_cpu: i64, memory: i64) -> Self {
        Self { milli_cpu, memory }
    }

    /// Component-wise saturating sum.
    #[must_use]
    pub const fn plus(self, other: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.saturating_add(other.milli_cpu),
            memory: self.memory.saturating_add(other.memory),
        }
    }

    /// Component-wise saturating difference.
    #[must_use]
    pub const fn minus(self, other: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.saturating_sub(other.milli_cpu),
            memory: self.memory.saturating_sub(other.memory),
        }
    }

    /// Component-wise maximum.
    #[must_use]
    pub fn max(self, other: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.max(other.milli_cpu),
            memory: self.memory.max(other.memory),
        }
    }
}

/// Millicores of `cpu` in a resource list, if listed.
fn milli_cpu_of(list: &BTreeMap<String, Quantity>) -> Option<i64> {
    list.get("cpu").map(Quantity::milli_value)
}

/// Bytes of `memory` in a resource list, if listed.
fn memory_of(list: &BTreeMap<String, Quantity>) -> Option<i64> {
    list.get("memory").map(Quantity::value)
}

/// A container's requests: as written (absent counts 0), and non-zero (absent counts the
/// defaults; an explicit zero stays zero, as upstream `GetNonzeroRequestForResource`).
fn container_requests(c: &Container) -> (Resources, Resources) {
    let r = &c.resources.requests;
    let (cpu, memory) = (milli_cpu_of(r), memory_of(r));
    (
        Resources::new(cpu.unwrap_or(0), memory.unwrap_or(0)),
        Resources::new(
            cpu.unwrap_or(DEFAULT_MILLI_CPU_REQUEST),
            memory.unwrap_or(DEFAULT_MEMORY_REQUEST),
        ),
    )
}

/// What a pod asks of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodRequests {
    /// The effective request the fit filter checks and nodes account (upstream
    /// `PodRequests`).
    pub fit: Resources,
    /// The same with the non-zero defaults per container, for LeastAllocated scoring.
    pub non_zero: Resources,
}

/// The effective request of a pod (upstream `resourcehelper.PodRequests`): the sum over the
/// app containers and the restartable (sidecar) init containers, or the largest request of an
/// ordinary init container plus the sidecars started before it, whichever is larger. Pod
/// overhead is not counted (skiff carries `overhead` verbatim).
pub fn pod_requests(spec: &PodSpec) -> PodRequests {
    let mut sum = PodRequests::default();
    for c in &spec.containers {
        let (fit, non_zero) = container_requests(c);
        sum.fit = sum.fit.plus(fit);
        sum.non_zero = sum.non_zero.plus(non_zero);
    }
    let mut sidecars = PodRequests::default();
    let mut init_max = PodRequests::default();
    for c in &spec.init_containers {
        let (fit, non_zero) = container_requests(c);
        let during = if c.restart_policy.as_deref() == Some("Always") {
            // A sidecar keeps running beside the app containers.
            sum.fit = sum.fit.plus(fit);
            sum.non_zero = sum.non_zero.plus(non_zero);
            sidecars.fit = sidecars.fit.plus(fit);
            sidecars.non_zero = sidecars.non_zero.plus(non_zero);
            sidecars
        } else {
            PodRequests {
                fit: fit.plus(sidecars.fit),
                non_zero: non_zero.plus(sidecars.non_zero),
            }
        };
        init_max.fit = init_max.fit.max(during.fit);
        init_max.non_zero = init_max.non_zero.max(during.non_zero);
    }
    PodRequests {
        fit: sum.fit.max(init_max.fit),
        non_zero: sum.non_zero.max(init_max.non_zero),
    }
}

/// A node's allocatable cpu, memory and pod count (`status.allocatable`; upstream reads only
/// allocatable, so a node without it has room for nothing).
pub fn node_allocatable(allocatable: &BTreeMap<String, Quantity>) -> (Resources, i64) {
    (
        Resources::new(
            milli_cpu_of(allocatable).unwrap_or(0),
            memory_of(allocatable).unwrap_or(0),
        ),
        allocatable.get("pods").map_or(0, Quantity::value),
    )
}
