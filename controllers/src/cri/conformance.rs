//! A conformance suite for [`Runtime`] implementations: the guarantees of the module
//! documentation, checked through the trait alone.
//!
//! Run it against a fresh runtime whose pulls complete at once and whose registry serves
//! `busybox` (and no image named `skiff-conformance/does-not-exist`). It configures the pod
//! CIDR `10.88.0.0/24` itself and needs no time to pass: every stop uses a zero timeout.
//!
//! ```
//! use std::sync::Arc;
//! use skiff_controllers::cri::{conformance, sim::{SimConfig, SimRuntime}};
//! use skiff_core::clock::ManualClock;
//!
//! let runtime = SimRuntime::new(Arc::new(ManualClock::new(1_700_000_000)), SimConfig::default());
//! conformance::run(&runtime).assert_passed();
//! ```

#![allow(
    clippy::needless_pass_by_value,
    clippy::redundant_closure_call,
    clippy::too_many_lines,
    clippy::match_wildcard_for_single_variants,
    reason = "each check is an immediately called closure so `?` ends only that check"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use super::{
    ContainerConfig, ContainerFilter, ContainerMetadata, ContainerState, CriError,
    PodSandboxConfig, PodSandboxMetadata, PullImageResponse, Runtime, SandboxFilter, SandboxState,
};

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// `None` when it held; what went wrong otherwise.
    pub failure: Option<String>,
}

/// Every check's outcome, in the order run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// The checks that failed.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.failure.is_some()).collect()
    }

    /// Panics listing every failed check.
    ///
    /// # Panics
    ///
    /// If any check failed.
    pub fn assert_passed(&self) {
        let failures: Vec<String> = self
            .failures()
            .iter()
            .map(|c| format!("{}: {}", c.name, c.failure.as_deref().unwrap_or("")))
            .collect();
        assert!(
            failures.is_empty(),
            "CRI conformance failures:\n{}",
            failures.join("\n")
        );
    }
}

struct Suite<'a> {
    runtime: &'a dyn Runtime,
    report: Report,
}

impl Suite<'_> {
    fn check(&mut self, name: &'static str, result: Result<(), String>) {
        self.report.checks.push(Check {
            name,
            failure: result.err(),
        });
    }
}

fn expect<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

fn sandbox_config(name: &str, uid: &str) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: PodSandboxMetadata {
            name: name.to_owned(),
            uid: uid.to_owned(),
            namespace: "conformance".to_owned(),
            attempt: 0,
        },
        hostname: name.to_owned(),
        labels: BTreeMap::from([("conformance".to_owned(), uid.to_owned())]),
        annotations: BTreeMap::new(),
        host_network: false,
        dns: super::DnsConfig::default(),
    }
}

fn container_config(name: &str, attempt: u32, command: &[&str]) -> ContainerConfig {
    ContainerConfig {
        metadata: ContainerMetadata {
            name: name.to_owned(),
            attempt,
        },
        image: "busybox".to_owned(),
        command: command.iter().map(|s| (*s).to_owned()).collect(),
        labels: BTreeMap::from([("container".to_owned(), name.to_owned())]),
        ..ContainerConfig::default()
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Runs every check against `runtime`.
pub fn run(runtime: &dyn Runtime) -> Report {
    let mut suite = Suite {
        runtime,
        report: Report::default(),
    };
    let rt = suite.runtime;

    suite.check(
        "version names the v1 API",
        expect(
            "runtime_api_version",
            rt.version().runtime_api_version.as_str(),
            "v1",
        ),
    );
    suite.check(
        "runtime is ready",
        expect(
            "RuntimeReady",
            rt.status().condition("RuntimeReady").map(|c| c.status),
            Some(true),
        ),
    );
    suite.check(
        "network is ready once a pod CIDR is configured",
        rt.update_runtime_config("10.88.0.0/24")
            .map_err(err)
            .and_then(|()| {
                expect(
                    "NetworkReady",
                    rt.status().condition("NetworkReady").map(|c| c.status),
                    Some(true),
                )
            }),
    );
    suite.check(
        "pulling an unknown image fails",
        match rt.pull_image("skiff-conformance/does-not-exist:1") {
            Err(CriError::ImagePull(_)) => Ok(()),
            other => Err(format!("got {other:?}")),
        },
    );
    suite.check(
        "pulled image is listed",
        (|| {
            match rt.pull_image("busybox").map_err(err)? {
                PullImageResponse::Pulled { .. } => {}
                other => return Err(format!("pull did not complete: {other:?}")),
            }
            let image = rt
                .image_status("busybox")
                .map_err(err)?
                .ok_or("image_status: none")?;
            if !rt.list_images().iter().any(|i| i.id == image.id) {
                return Err("list_images lacks the image".to_owned());
            }
            Ok(())
        })(),
    );
    sandboxes(&mut suite);
    containers(&mut suite);
    suite.report
}

fn sandboxes(suite: &mut Suite<'_>) {
    let rt = suite.runtime;
    suite.check(
        "run_pod_sandbox is idempotent and gives an IP in the CIDR",
        (|| {
            let a = rt
                .run_pod_sandbox(&sandbox_config("a", "uid-a"))
                .map_err(err)?;
            let again = rt
                .run_pod_sandbox(&sandbox_config("a", "uid-a"))
                .map_err(err)?;
            expect("same metadata, same id", &again, &a)?;
            let status = rt.pod_sandbox_status(&a).map_err(err)?;
            expect("state", status.state, SandboxState::Ready)?;
            let ip = status.ip.ok_or("no IP")?;
            if !ip.starts_with("10.88.0.") || ip == "10.88.0.0" || ip == "10.88.0.1" {
                return Err(format!("IP {ip} is not a pod address of 10.88.0.0/24"));
            }
            let b = rt
                .run_pod_sandbox(&sandbox_config("b", "uid-b"))
                .map_err(err)?;
            let ip_b = rt.pod_sandbox_status(&b).map_err(err)?.ip;
            if ip_b.as_deref() == Some(ip.as_str()) {
                return Err("two sandboxes share an IP".to_owned());
            }
            rt.remove_pod_sandbox(&b).map_err(err)?;
            Ok(())
        })(),
    );
    suite.check(
        "stopping and removing a sandbox cascades and is idempotent",
        (|| {
            let id = rt
                .run_pod_sandbox(&sandbox_config("c", "uid-c"))
                .map_err(err)?;
            let ip = rt.pod_sandbox_status(&id).map_err(err)?.ip;
            let cid = rt
                .create_container(&id, &container_config("main", 0, &["sleep", "3600"]))
                .map_err(err)?;
            rt.start_container(&cid).map_err(err)?;
            rt.stop_pod_sandbox(&id).map_err(err)?;
            rt.stop_pod_sandbox(&id).map_err(err)?;
            expect(
                "sandbox state",
                rt.pod_sandbox_status(&id).map_err(err)?.state,
                SandboxState::NotReady,
            )?;
            expect(
                "container state",
                rt.container_status(&cid).map_err(err)?.state,
                ContainerState::Exited,
            )?;
            rt.remove_pod_sandbox(&id).map_err(err)?;
            rt.remove_pod_sandbox(&id).map_err(err)?;
            if rt.pod_sandbox_status(&id).is_ok() {
                return Err("removed sandbox still has a status".to_owned());
            }
            if rt.container_status(&cid).is_ok() {
                return Err("container of a removed sandbox remains".to_owned());
            }
            // Its IP is free again: the next sandbox may take it.
            let next = rt
                .run_pod_sandbox(&sandbox_config("d", "uid-d"))
                .map_err(err)?;
            let next_ip = rt.pod_sandbox_status(&next).map_err(err)?.ip;
            expect("released IP reused", next_ip, ip)?;
            rt.remove_pod_sandbox(&next).map_err(err)
        })(),
    );
    suite.check(
        "sandboxes are listed by label and state",
        (|| {
            let filter = SandboxFilter {
                labels: BTreeMap::from([("conformance".to_owned(), "uid-a".to_owned())]),
                state: Some(SandboxState::Ready),
                ..SandboxFilter::default()
            };
            expect("matches", rt.list_pod_sandbox(&filter).len(), 1)
        })(),
    );
}

fn containers(suite: &mut Suite<'_>) {
    let rt = suite.runtime;
    let Ok(sandbox) = rt.run_pod_sandbox(&sandbox_config("a", "uid-a")) else {
        suite.check("containers", Err("no sandbox".to_owned()));
        return;
    };
    suite.check(
        "create_container is idempotent; start runs it once",
        (|| {
            let cfg = container_config("web", 0, &["sleep", "3600"]);
            let id = rt.create_container(&sandbox, &cfg).map_err(err)?;
            expect(
                "same id",
                rt.create_container(&sandbox, &cfg).map_err(err)?,
                id.clone(),
            )?;
            expect(
                "state",
                rt.container_status(&id).map_err(err)?.state,
                ContainerState::Created,
            )?;
            rt.start_container(&id).map_err(err)?;
            expect(
                "state",
                rt.container_status(&id).map_err(err)?.state,
                ContainerState::Running,
            )?;
            match rt.start_container(&id) {
                Err(CriError::FailedPrecondition(_)) => Ok(()),
                other => Err(format!("second start: {other:?}")),
            }
        })(),
    );
    suite.check(
        "exec runs in the pod",
        (|| {
            let id = find(rt, &sandbox, "web")?;
            let out = rt
                .exec_sync(
                    &id,
                    &["echo".to_owned(), "hi".to_owned()],
                    Duration::from_secs(5),
                )
                .map_err(err)?;
            expect(
                "echo",
                (out.stdout_text(), out.exit_code),
                ("hi\n".to_owned(), 0),
            )?;
            let out = rt
                .exec_sync(&id, &["hostname".to_owned()], Duration::from_secs(5))
                .map_err(err)?;
            expect("hostname", out.stdout_text(), "a\n".to_owned())
        })(),
    );
    suite.check(
        "logs hold what the container printed",
        (|| {
            let id = rt
                .create_container(
                    &sandbox,
                    &container_config("say", 0, &["sh", "-c", "echo hello"]),
                )
                .map_err(err)?;
            rt.start_container(&id).map_err(err)?;
            let lines = rt
                .container_logs(&id, &super::LogOptions::default())
                .map_err(err)?;
            expect(
                "lines",
                lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
                vec!["hello"],
            )
        })(),
    );
    suite.check(
        "stop is idempotent; an exited container refuses exec",
        (|| {
            let id = find(rt, &sandbox, "web")?;
            rt.stop_container(&id, Duration::ZERO).map_err(err)?;
            rt.stop_container(&id, Duration::ZERO).map_err(err)?;
            let status = rt.container_status(&id).map_err(err)?;
            expect("state", status.state, ContainerState::Exited)?;
            if status.finished_at.is_none() {
                return Err("no finished_at".to_owned());
            }
            match rt.exec_sync(&id, &["true".to_owned()], Duration::from_secs(1)) {
                Err(CriError::FailedPrecondition(_)) => Ok(()),
                other => Err(format!("exec in exited container: {other:?}")),
            }
        })(),
    );
    suite.check(
        "a restart is a new container with the next attempt",
        (|| {
            let old = find(rt, &sandbox, "web")?;
            let new = rt
                .create_container(&sandbox, &container_config("web", 1, &["sleep", "3600"]))
                .map_err(err)?;
            if new == old {
                return Err("attempt 1 reused the id of attempt 0".to_owned());
            }
            let filter = ContainerFilter {
                sandbox_id: Some(sandbox.clone()),
                labels: BTreeMap::from([("container".to_owned(), "web".to_owned())]),
                ..ContainerFilter::default()
            };
            expect("listed", rt.list_containers(&filter).len(), 2)
        })(),
    );
    suite.check(
        "remove_container is idempotent",
        (|| {
            let id = find(rt, &sandbox, "web")?;
            rt.remove_container(&id).map_err(err)?;
            rt.remove_container(&id).map_err(err)?;
            match rt.container_status(&id) {
                Err(CriError::NotFound(_)) => Ok(()),
                other => Err(format!("status after removal: {other:?}")),
            }
        })(),
    );
    suite.check(
        "create in a missing sandbox is NotFound",
        match rt.create_container("no-such-sandbox", &container_config("x", 0, &["true"])) {
            Err(CriError::NotFound(_)) => Ok(()),
            other => Err(format!("got {other:?}")),
        },
    );
    suite.check(
        "stats cover every container",
        expect(
            "stats",
            rt.list_container_stats().len(),
            rt.list_containers(&ContainerFilter::default()).len(),
        ),
    );
    suite.check(
        "attach shows what the container printed",
        (|| {
            let id = find(rt, &sandbox, "say")?;
            expect("stdout", rt.attach(&id).map_err(err)?, b"hello\n".to_vec())
        })(),
    );
    let _ = rt.remove_pod_sandbox(&sandbox);
    suite.check(
        "an unused image can be removed",
        (|| {
            rt.remove_image("busybox").map_err(err)?;
            expect(
                "image_status",
                rt.image_status("busybox").map_err(err)?,
                None,
            )
        })(),
    );
}

/// The first container named `name` in the sandbox (lowest attempt).
fn find(rt: &dyn Runtime, sandbox: &str, name: &str) -> Result<String, String> {
    rt.list_containers(&ContainerFilter {
        sandbox_id: Some(sandbox.to_owned()),
        ..ContainerFilter::default()
    })
    .into_iter()
    .filter(|c| c.metadata.name == name)
    .min_by_key(|c| c.metadata.attempt)
    .map(|c| c.id)
    .ok_or_else(|| format!("no container {name}"))
}
