//! Admission (seed §4 step 2): the upstream admission plugins skiff's objects need, and the
//! Service IP and node port allocators, run by [`ApiServer`] after defaulting.
//!
//! # Plugins, in upstream's order
//!
//! - **NamespaceLifecycle** (upstream `apiserver/pkg/admission/plugin/namespace/lifecycle`):
//!   creates and updates of namespaced objects need their namespace (`namespaces "dev" not
//!   found`, 404); creates in a `Terminating` namespace are refused (`unable to create new
//!   content in namespace dev because it is being terminated`, 403, cause
//!   `NamespaceTerminating`); `default`, `kube-system` and `kube-public` may not be deleted
//!   (403). Upstream's immortal set is exactly those three: `kube-node-lease` is created at
//!   start-up like them but may be deleted.
//! - **ServiceAccount** (upstream `plugin/pkg/admission/serviceaccount`), on pod creates: an
//!   unset `serviceAccountName` becomes `default`; the account must exist (`error looking up
//!   service account dev/builder: serviceaccount "builder" not found`, 403); its
//!   `imagePullSecrets` are copied into a pod that has none; with the
//!   `kubernetes.io/enforce-mountable-secrets` annotation the pod may reference only the
//!   account's secrets; mirror pods may reference no account and no secret. Upstream also
//!   mounts a projected API token volume; skiff issues no tokens yet, so none is mounted.
//!   Upstream requires the account to exist and waits (10 tries) for the `default` one,
//!   which its ServiceAccounts controller creates in every namespace. skiff has no such
//!   controller yet, so the API server creates a namespace's `default` ServiceAccount in the
//!   same store transaction as the namespace: the account then always exists, and the
//!   upstream rule — refuse a pod whose account is missing — holds without the wait.
//! - **Priority** (upstream `plugin/pkg/admission/priority`), on pod creates: `priority` and
//!   `preemptionPolicy` resolved from `priorityClassName` (0 and `PreemptLowerPriority` when
//!   unset, as no class is the global default; the two built-in system classes; any other name
//!   is refused: skiff serves no PriorityClass objects). A client-set value that differs is
//!   refused, in upstream's words.
//! - **DefaultTolerationSeconds** (upstream `plugin/pkg/admission/defaulttolerationseconds`),
//!   on pod creates and updates: `node.kubernetes.io/not-ready:NoExecute` and
//!   `node.kubernetes.io/unreachable:NoExecute` tolerations for 300 s unless the pod
//!   tolerates them already (seed §5: pods leave an unreachable node after five minutes).
//! - **Service allocation** (upstream `pkg/registry/core/service/storage`, `ipallocator`,
//!   `portallocator`): see below.
//!
//! # Allocation
//!
//! Cluster IPs come from [`SERVICE_CLUSTER_IP_RANGE`] (the network and broadcast addresses
//! excluded), node ports from [`SERVICE_NODE_PORT_RANGE`]. Each allocation is a raw store key,
//! `/ranges/serviceips/<ip>` or `/ranges/servicenodeports/<port>`, whose value is the owning
//! Service's registry key. The keys are written in the **same transaction** as the Service,
//! each guarded by `Compare::Absent`, and removed in the same transaction as its delete (or
//! the update that stops using them): an allocation can never be doubled, across concurrent
//! creates, several API servers over one store, or a crash, and a reopened store keeps them.
//! A lost race (a compare that fails) is planned again from a fresh read, at most
//! `ALLOCATION_ATTEMPTS_MAX` times. Within one API server, keys being committed are also
//! claimed in memory so concurrent creates do not race for the same free value at all.
//!
//! Upstream picks a free value at random, first from the upper part of the range and then
//! from the lower part it keeps for static requests (KEP-3070 for IPs, KEP-3668 for ports:
//! the lower `min(max(16, size/16), 256)` IPs and `min(max(16, size/32), 128)` ports). skiff
//! keeps that split but takes the lowest free value of each part, so runs are deterministic:
//! in `10.96.0.0/12` dynamic IPs start at `10.96.1.1` (`10.96.0.1` is the `kubernetes`
//! Service's, `10.96.0.10` kube-dns's by kubeadm convention), dynamic node ports at `30086`.
//! A requested value is honoured anywhere in the range when free.

mod services;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use skiff_core::event::{Actor, Revision};
use skiff_core::object::{
    IntOrString, KindInfo, Namespace, Object, ObjectMeta, Pod, Service, ServiceAccount,
    ServicePort, ServiceSpec, Toleration, info,
};
use skiff_core::validate::{FieldError, go_quote, validate_object};

use super::{ApiError, ApiServer, Cause, Reason, Status, rejected};
use crate::codec::StoredValue;
use crate::error::{ReadError, WriteError};
use crate::key::registry_key;
use crate::request::{Compare, Op, Txn};
use services::{
    IpRange, Planner, RangePlan, allocate_cluster_ips, allocate_health_check_node_port,
    allocate_node_ports_create, allocate_node_ports_update, cluster_ip_immutable,
    drop_type_dependent_fields, held_keys, init_ip_family_fields, keep_cluster_ips,
    needs_cluster_ip, node_ports_of, normalize_cluster_ips, patch_allocated_values, range_txn,
};

/// Namespaces that may not be deleted (upstream NamespaceLifecycle's immortal set).
pub const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];
/// Namespaces [`ApiServer::bootstrap`] creates (upstream's bootstrap controller: the immortal
/// ones plus `kube-node-lease`, where kubelets keep their Leases).
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];
/// The ServiceAccount a pod runs as when it names none (upstream `DefaultServiceAccountName`).
pub const DEFAULT_SERVICE_ACCOUNT_NAME: &str = "default";
/// Marks a kubelet's mirror pod (upstream `MirrorPodAnnotationKey`).
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Makes a ServiceAccount restrict the secrets its pods use (upstream
/// `EnforceMountableSecretsAnnotation`).
pub const ENFORCE_MOUNTABLE_SECRETS_ANNOTATION: &str = "kubernetes.io/enforce-mountable-secrets";
/// The node lifecycle controller's taint for a node whose Ready condition is False.
pub const TAINT_NODE_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The node lifecycle controller's taint for a node whose Ready condition is Unknown.
pub const TAINT_NODE_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// upstream `--default-not-ready-toleration-seconds` and
/// `--default-unreachable-toleration-seconds`.
pub const TOLERATION_SECONDS_DEFAULT: i64 = 300;
/// The Service IP range (kubeadm's `--service-cluster-ip-range` default; upstream notes §11).
pub const SERVICE_CLUSTER_IP_RANGE: &str = "10.96.0.0/12";
/// The node port range (upstream `--service-node-port-range` default), inclusive.
pub const SERVICE_NODE_PORT_RANGE: (i32, i32) = (30_000, 32_767);
/// Where cluster IP allocations are recorded, one key per address.
pub const SERVICE_IP_KEY_PREFIX: &str = "/ranges/serviceips/";
/// Where node port allocations are recorded, one key per port.
pub const NODE_PORT_KEY_PREFIX: &str = "/ranges/servicenodeports/";
/// The API server's own Service in `default` (upstream bootstrap controller).
pub const KUBERNETES_SERVICE_NAME: &str = "kubernetes";
/// The port the `kubernetes` Service forwards to (kube-apiserver's `--secure-port` default).
pub const KUBERNETES_SERVICE_TARGET_PORT: i32 = 6443;

/// Plans of one Service write retried after losing a race for a value (each retry re-reads
/// the ranges, so only a writer outside this server can make it lose again).
const ALLOCATION_ATTEMPTS_MAX: usize = 16;
const _: () = assert!(ALLOCATION_ATTEMPTS_MAX > 0);

/// The actor of the objects [`ApiServer::bootstrap`] and the namespace's ServiceAccount
/// stand-in write.
const BOOTSTRAP_ACTOR: &str = "system:apiserver";

/// Upstream's built-in priority classes (`scheduling.SystemPriorityClasses`).
const SYSTEM_PRIORITY_CLASSES: [(&str, i32); 2] = [
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

/// `10.96.0.0` and the prefix length of [`SERVICE_CLUSTER_IP_RANGE`].
const CLUSTER_IP_NETWORK: [u8; 4] = [10, 96, 0, 0];
const CLUSTER_IP_PREFIX_BITS: u32 = 12;

/// The API server's admission state: keys claimed by writes in flight.
#[derive(Debug, Default)]
pub(super) struct Admission {
    claims: Mutex<BTreeSet<String>>,
}

impl Admission {
    fn claims(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Allocation keys claimed by one write until it has committed or failed.
struct Claim<'a> {
    admission: &'a Admission,
    keys: Vec<String>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut claims = self.admission.claims();
        for key in &self.keys {
            let released = claims.remove(key);
            debug_assert!(released, "claim {key} held once");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors in upstream's shapes
// ---------------------------------------------------------------------------------------------

/// The name upstream's `admission.NewForbidden` reports: the object's name, else its
/// `generateName`, else `Unknown` (names are generated after admission).
fn admission_name(meta: &ObjectMeta) -> String {
    [&meta.name, &meta.generate_name]
        .into_iter()
        .flatten()
        .find(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| "Unknown".to_owned())
}

/// upstream `errors.NewForbidden`: `<resource> "<name>" is forbidden: <why>`.
fn forbidden(info: &KindInfo, name: &str, why: &str) -> Status {
    Status {
        reason: Reason::Forbidden,
        message: format!("{} \"{name}\" is forbidden: {why}", info.plural),
        name: Some(name.to_owned()),
        kind: Some(info.plural.to_owned()),
        causes: Vec::new(),
    }
}

/// upstream `errors.NewInternalError`.
fn internal(why: &str) -> Status {
    Status {
        reason: Reason::InternalError,
        message: format!("Internal error occurred: {why}"),
        name: None,
        kind: None,
        causes: vec![Cause {
            reason: String::new(),
            field: String::new(),
            message: why.to_owned(),
        }],
    }
}

/// A Service `Invalid` status from field errors.
fn service_invalid(name: &str, errors: &[FieldError]) -> Status {
    Status::invalid(info::SERVICE.kind, name, errors)
}

/// A string slice as Go's `%#v` prints it, as upstream reports `spec.clusterIPs`.
fn go_string_slice(items: &[String]) -> String {
    if items.is_empty() {
        return "[]string(nil)".to_owned();
    }
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

// ---------------------------------------------------------------------------------------------
// The plugins
// ---------------------------------------------------------------------------------------------

/// Whether a pod tolerates `key:NoExecute` (upstream: an empty key or effect matches all).
fn tolerates_no_execute(tolerations: &[Toleration], key: &str) -> bool {
    tolerations.iter().any(|t| {
        t.key.as_deref().is_none_or(|k| k.is_empty() || k == key)
            && t.effect
                .as_deref()
                .is_none_or(|e| e.is_empty() || e == "NoExecute")
    })
}

/// upstream DefaultTolerationSeconds.
fn add_default_tolerations(pod: &mut Pod) {
    for key in [TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE] {
        if !tolerates_no_execute(&pod.spec.tolerations, key) {
            pod.spec.tolerations.push(Toleration {
                key: Some(key.to_owned()),
                operator: Some("Exists".to_owned()),
                value: None,
                effect: Some("NoExecute".to_owned()),
                toleration_seconds: Some(TOLERATION_SECONDS_DEFAULT),
            });
        }
    }
}

/// upstream Priority admission for a new pod.
fn resolve_priority(pod: &mut Pod) -> Result<(), String> {
    const PREEMPT_LOWER_PRIORITY: &str = "PreemptLowerPriority";
    let class = pod.spec.priority_class_name.as_deref().unwrap_or("");
    let priority = if class.is_empty() {
        // upstream DefaultPriorityWhenNoDefaultClassExists: skiff serves no PriorityClass, so
        // none is the global default.
        0
    } else {
        SYSTEM_PRIORITY_CLASSES
            .iter()
            .find(|(name, _)| *name == class)
            .map(|(_, value)| *value)
            .ok_or_else(|| format!("no PriorityClass with name {class} was found"))?
    };
    if let Some(given) = pod.spec.priority
        && given != priority
    {
        return Err(format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
        ));
    }
    pod.spec.priority = Some(priority);
    if let Some(given) = pod
        .spec
        .preemption_policy
        .as_deref()
        .filter(|p| *p != PREEMPT_LOWER_PRIORITY)
    {
        return Err(format!(
            "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {PREEMPT_LOWER_PRIORITY} from the given PriorityClass name"
        ));
    }
    pod.spec.preemption_policy = Some(PREEMPT_LOWER_PRIORITY.to_owned());
    Ok(())
}

/// Go's `strconv.ParseBool` truths.
fn parse_bool_true(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// Whether a pod references any Secret (upstream `VisitPodSecretNames`, the parts skiff types).
fn references_secrets(pod: &Pod) -> bool {
    let spec = &pod.spec;
    !spec.image_pull_secrets.is_empty()
        || spec.volumes.iter().any(|v| v.secret.is_some())
        || spec.all_containers().any(|c| {
            c.env_from.iter().any(|e| e.secret_ref.is_some())
                || c.env.iter().any(|e| {
                    e.value_from
                        .as_ref()
                        .is_some_and(|v| v.secret_key_ref.is_some())
                })
        })
}

/// upstream `limitSecretReferences`: with the account's enforce annotation, a pod may use only
/// the secrets its account lists.
fn limit_secret_references(account: &ServiceAccount, pod: &Pod) -> Result<(), String> {
    let account_name = account.metadata.name_or_empty();
    let mountable: BTreeSet<&str> = account
        .secrets
        .iter()
        .filter_map(|s| s.name.as_deref())
        .collect();
    for volume in &pod.spec.volumes {
        if let Some(secret) = &volume.secret {
            let name = secret.secret_name.as_deref().unwrap_or("");
            if !mountable.contains(name) {
                return Err(format!(
                    "volume with secret.secretName=\"{name}\" is not allowed because service account {account_name} does not reference that secret"
                ));
            }
        }
    }
    for (containers, what) in [
        (&pod.spec.init_containers, "init container"),
        (&pod.spec.containers, "container"),
    ] {
        for container in containers {
            for env in &container.env {
                if let Some(secret) = env
                    .value_from
                    .as_ref()
                    .and_then(|v| v.secret_key_ref.as_ref())
                {
                    let name = secret.name.as_deref().unwrap_or("");
                    if !mountable.contains(name) {
                        return Err(format!(
                            "{what} {} with envVar {} referencing secret.secretName=\"{name}\" is not allowed because service account {account_name} does not reference that secret",
                            container.name, env.name
                        ));
                    }
                }
            }
            for env_from in &container.env_from {
                if let Some(secret) = &env_from.secret_ref {
                    let name = secret.name.as_deref().unwrap_or("");
                    if !mountable.contains(name) {
                        return Err(format!(
                            "{what} {} with envFrom referencing secret.secretName=\"{name}\" is not allowed because service account {account_name} does not reference that secret",
                            container.name
                        ));
                    }
                }
            }
        }
    }
    let pull: BTreeSet<&str> = account
        .image_pull_secrets
        .iter()
        .filter_map(|s| s.name.as_deref())
        .collect();
    for (i, reference) in pod.spec.image_pull_secrets.iter().enumerate() {
        let name = reference.name.as_deref().unwrap_or("");
        if !pull.contains(name) {
            return Err(format!(
                "imagePullSecrets[{i}].name=\"{name}\" is not allowed because service account {account_name} does not reference that imagePullSecret"
            ));
        }
    }
    Ok(())
}

/// Whether deleting `object` must wait although it has no metadata finalizers: a Namespace
/// waits for its spec finalizers (upstream namespace registry `Delete`).
pub(super) fn holds_deletion(object: &Object) -> bool {
    matches!(object, Object::Namespace(ns) if !ns.spec.finalizers.is_empty())
}

/// A Namespace whose deletion starts is `Terminating` (upstream namespace registry `Delete`).
pub(super) fn mark_terminating(object: &mut Object) {
    if let Object::Namespace(ns) = object {
        ns.status.phase = Some("Terminating".to_owned());
    }
}

/// NamespaceLifecycle on deletes, and the namespace registry's refusal to purge a
/// namespace before its spec finalizers are done.
pub(super) fn admit_delete(current: &Object) -> Result<(), ApiError> {
    let Object::Namespace(ns) = current else {
        return Ok(());
    };
    let name = ns.metadata.name_or_empty();
    if IMMORTAL_NAMESPACES.contains(&name) {
        return Err(forbidden(&info::NAMESPACE, name, "this namespace may not be deleted").into());
    }
    if ns.metadata.deletion_timestamp.is_some() && !ns.spec.finalizers.is_empty() {
        return Err(Status::conflict(
            info::NAMESPACE.plural,
            name,
            "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.",
        )
        .into());
    }
    Ok(())
}

impl ApiServer {
    /// Runs the admission plugins on a create (`old` is `None`) or an update, after defaulting
    /// and before validation. Mutates `object` as upstream's mutating plugins do.
    pub(super) fn admit(&self, object: &mut Object, old: Option<&Object>) -> Result<(), ApiError> {
        let info = object.info();
        let name = admission_name(object.metadata());
        let namespace = object.metadata().namespace_or_empty().to_owned();
        // NamespaceLifecycle: cluster-scoped kinds (Namespaces among them) are always allowed.
        if info.namespaced && !namespace.is_empty() {
            let Object::Namespace(ns) = self.get(&info::NAMESPACE, "", &namespace)? else {
                unreachable!("the namespaces prefix holds Namespaces")
            };
            if old.is_none() && ns.status.phase.as_deref() == Some("Terminating") {
                let mut status = forbidden(
                    info,
                    &name,
                    &format!(
                        "unable to create new content in namespace {namespace} because it is being terminated"
                    ),
                );
                status.causes.push(Cause {
                    reason: "NamespaceTerminating".to_owned(),
                    field: "metadata.namespace".to_owned(),
                    message: format!("namespace {namespace} is being terminated"),
                });
                return Err(status.into());
            }
        }
        match (object, old) {
            (Object::Pod(pod), None) => {
                self.admit_service_account(pod, &name, &namespace)?;
                resolve_priority(pod).map_err(|why| forbidden(info, &name, &why))?;
                add_default_tolerations(pod);
            }
            (Object::Pod(pod), Some(_)) => add_default_tolerations(pod),
            (Object::Service(service), None) => {
                normalize_cluster_ips(&mut service.spec, None);
                let errors = init_ip_family_fields(&mut service.spec, None);
                if !errors.is_empty() {
                    return Err(service_invalid(&name, &errors).into());
                }
            }
            (Object::Service(service), Some(Object::Service(old))) => {
                patch_allocated_values(&mut service.spec, &old.spec);
                normalize_cluster_ips(&mut service.spec, Some(&old.spec));
                drop_type_dependent_fields(service, &old.spec);
                let mut errors = init_ip_family_fields(&mut service.spec, Some(&old.spec));
                errors.extend(cluster_ip_immutable(&service.spec, &old.spec));
                if !errors.is_empty() {
                    return Err(service_invalid(&name, &errors).into());
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// upstream ServiceAccount admission for a new pod.
    fn admit_service_account(
        &self,
        pod: &mut Pod,
        name: &str,
        namespace: &str,
    ) -> Result<(), ApiError> {
        let refuse = |why: &str| ApiError::from(forbidden(&info::POD, name, why));
        if pod.metadata.annotations.contains_key(MIRROR_POD_ANNOTATION) {
            if pod
                .spec
                .service_account_name
                .as_deref()
                .is_some_and(|n| !n.is_empty())
            {
                return Err(refuse("a mirror pod may not reference service accounts"));
            }
            if references_secrets(pod) {
                return Err(refuse("a mirror pod may not reference secrets"));
            }
            return Ok(());
        }
        let account_name = pod
            .spec
            .service_account_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_SERVICE_ACCOUNT_NAME.to_owned());
        pod.spec.service_account_name = Some(account_name.clone());
        pod.spec.service_account = Some(account_name.clone());
        let account = match self.get(&info::SERVICE_ACCOUNT, namespace, &account_name) {
            Ok(Object::ServiceAccount(account)) => account,
            Ok(_) => unreachable!("the serviceaccounts prefix holds ServiceAccounts"),
            Err(ApiError::Rejected(status)) if status.reason == Reason::NotFound => {
                return Err(refuse(&format!(
                    "error looking up service account {namespace}/{account_name}: serviceaccount \"{account_name}\" not found"
                )));
            }
            Err(e) => return Err(e),
        };
        if pod.spec.image_pull_secrets.is_empty() {
            pod.spec
                .image_pull_secrets
                .clone_from(&account.image_pull_secrets);
        }
        let enforce = account
            .metadata
            .annotations
            .get(ENFORCE_MOUNTABLE_SECRETS_ANNOTATION)
            .is_some_and(|v| parse_bool_true(v));
        if enforce {
            limit_secret_references(&account, pod).map_err(|why| refuse(&why))?;
        }
        Ok(())
    }

    /// Commits a validated create: Services with their allocations, Namespaces with their
    /// `default` ServiceAccount, anything else as it is.
    pub(super) async fn commit_create(
        &self,
        actor: &Actor,
        object: Object,
    ) -> Result<Object, ApiError> {
        let info = object.info();
        let name = object.metadata().name_or_empty().to_owned();
        match object {
            Object::Service(service) => Box::pin(self.create_service(actor, service)).await,
            Object::Namespace(namespace) => self.create_namespace(actor, namespace).await,
            object => self
                .store
                .create(actor, object)
                .await
                .map_err(|e| rejected(e, info, &name)),
        }
    }

    /// A Namespace and, in the same transaction, its `default` ServiceAccount unless one is
    /// there already (standing in for upstream's ServiceAccounts controller).
    async fn create_namespace(
        &self,
        actor: &Actor,
        namespace: Namespace,
    ) -> Result<Object, ApiError> {
        let name = namespace.metadata.name_or_empty().to_owned();
        let account = self.new_service_account(&name, DEFAULT_SERVICE_ACCOUNT_NAME);
        let account_key = registry_key(&info::SERVICE_ACCOUNT, &name, DEFAULT_SERVICE_ACCOUNT_NAME);
        let txn = Txn {
            compare: vec![Compare::Absent(account_key)],
            success: vec![
                Op::Create(namespace.clone().into()),
                Op::Create(account.into()),
            ],
            failure: vec![Op::Create(namespace.into())],
        };
        let response = self
            .store
            .txn(actor, txn)
            .await
            .map_err(|e| rejected(e, &info::NAMESPACE, &name))?;
        Ok(applied_object(response.applied.into_iter().next()))
    }

    /// A ServiceAccount object as the API server would create it.
    fn new_service_account(&self, namespace: &str, name: &str) -> ServiceAccount {
        ServiceAccount {
            metadata: ObjectMeta {
                namespace: Some(namespace.to_owned()),
                uid: Some(self.new_uid()),
                creation_timestamp: Some(self.clock.now_time()),
                generation: Some(1),
                ..ObjectMeta::named(name)
            },
            ..ServiceAccount::default()
        }
    }

    /// upstream service `beginCreate`: allocate, validate, and commit with the allocation keys.
    async fn create_service(&self, actor: &Actor, service: Service) -> Result<Object, ApiError> {
        let name = service.metadata.name_or_empty().to_owned();
        let namespace = service.metadata.namespace_or_empty().to_owned();
        let owner = registry_key(&info::SERVICE, &namespace, &name);
        for _ in 0..ALLOCATION_ATTEMPTS_MAX {
            let mut candidate = service.clone();
            let (plan, _claim) = {
                let mut claims = self.admission.claims();
                let mut planner = Planner::read(self, owner.clone(), &claims)?;
                allocate_cluster_ips(&mut planner, &mut candidate.spec)
                    .map_err(|r| r.status(&name))?;
                allocate_node_ports_create(&mut planner, &mut candidate.spec)
                    .map_err(|r| r.status(&name))?;
                allocate_health_check_node_port(
                    &mut planner,
                    &mut candidate.spec,
                    &BTreeSet::new(),
                )
                .map_err(|r| r.status(&name))?;
                let plan = planner.plan;
                claims.extend(plan.take.iter().cloned());
                let claim = Claim {
                    admission: &self.admission,
                    keys: plan.take.clone(),
                };
                (plan, claim)
            };
            let candidate = Object::Service(candidate);
            let errors = validate_object(&candidate);
            if !errors.is_empty() {
                return Err(service_invalid(&name, &errors).into());
            }
            let txn = range_txn(Op::Create(candidate), None, &plan, &owner);
            let response = self
                .store
                .txn(actor, txn)
                .await
                .map_err(|e| rejected(e, &info::SERVICE, &name))?;
            if response.succeeded {
                return Ok(applied_object(response.applied.into_iter().next()));
            }
        }
        Err(internal(&format!(
            "failed to allocate the addresses of service {namespace}/{name} in {ALLOCATION_ATTEMPTS_MAX} attempts"
        ))
        .into())
    }

    /// Commits a validated update: a Service takes and gives back allocations with it.
    pub(super) async fn commit_update(
        &self,
        actor: &Actor,
        current: &Object,
        object: Object,
        expected: Option<Revision>,
    ) -> Result<Object, ApiError> {
        let info = object.info();
        let name = object.metadata().name_or_empty().to_owned();
        match (object, current) {
            (Object::Service(service), Object::Service(old)) => {
                Box::pin(self.update_service(actor, old.clone(), service, expected)).await
            }
            (object, _) => self
                .store
                .update(actor, object, expected)
                .await
                .map_err(|e| rejected(e, info, &name)),
        }
    }

    /// upstream service `beginUpdate`'s allocations: what the new Service uses and the old did
    /// not is taken, what the old used and the new does not is given back, in the update's
    /// transaction.
    async fn update_service(
        &self,
        actor: &Actor,
        mut old: Service,
        service: Service,
        expected: Option<Revision>,
    ) -> Result<Object, ApiError> {
        let name = service.metadata.name_or_empty().to_owned();
        let namespace = service.metadata.namespace_or_empty().to_owned();
        let owner = registry_key(&info::SERVICE, &namespace, &name);
        for attempt in 0..ALLOCATION_ATTEMPTS_MAX {
            if attempt > 0 {
                // Someone changed the Service or a range: plan against what is there now.
                let Object::Service(fresh) = self.get(&info::SERVICE, &namespace, &name)? else {
                    unreachable!("the services prefix holds Services")
                };
                old = fresh;
            }
            let old_revision = old
                .metadata
                .resource_version
                .as_deref()
                .and_then(Revision::parse)
                .expect("stored objects carry their revision");
            let mut candidate = service.clone();
            if attempt > 0 {
                candidate.status.clone_from(&old.status);
            }
            let (plan, _claim) = {
                let mut claims = self.admission.claims();
                let mut planner = Planner::read(self, owner.clone(), &claims)?;
                let old_ports = node_ports_of(&old.spec);
                let spec = &mut candidate.spec;
                if needs_cluster_ip(&old.spec) {
                    keep_cluster_ips(&mut planner, spec).map_err(|r| r.status(&name))?;
                } else {
                    // upstream updateClusterIPs case A: from ExternalName to a type with IPs.
                    allocate_cluster_ips(&mut planner, spec).map_err(|r| r.status(&name))?;
                }
                allocate_node_ports_update(&mut planner, spec, &old_ports)
                    .map_err(|r| r.status(&name))?;
                allocate_health_check_node_port(&mut planner, spec, &old_ports)
                    .map_err(|r| r.status(&name))?;
                let kept: BTreeSet<String> = held_keys(spec).into_iter().collect();
                for key in held_keys(&old.spec) {
                    if !kept.contains(&key) {
                        planner.give_back(&key);
                    }
                }
                let plan = planner.plan;
                claims.extend(plan.take.iter().cloned());
                let claim = Claim {
                    admission: &self.admission,
                    keys: plan.take.clone(),
                };
                (plan, claim)
            };
            let candidate = Object::Service(candidate);
            let errors = validate_object(&candidate);
            if !errors.is_empty() {
                return Err(service_invalid(&name, &errors).into());
            }
            let update = Op::Update {
                object: candidate,
                expected,
            };
            let txn = range_txn(update, Some(old_revision), &plan, &owner);
            let response = self
                .store
                .txn(actor, txn)
                .await
                .map_err(|e| rejected(e, &info::SERVICE, &name))?;
            if response.succeeded {
                return Ok(applied_object(response.applied.into_iter().next()));
            }
        }
        Err(internal(&format!(
            "failed to update the addresses of service {namespace}/{name} in {ALLOCATION_ATTEMPTS_MAX} attempts"
        ))
        .into())
    }

    /// Deletes a stored object; a Service gives its allocations back in the same transaction.
    pub(super) async fn remove(
        &self,
        actor: &Actor,
        current: &Object,
        expected: Option<Revision>,
    ) -> Result<StoredValue, WriteError> {
        let meta = current.metadata();
        let key = registry_key(
            current.info(),
            meta.namespace_or_empty(),
            meta.name_or_empty(),
        );
        let Object::Service(service) = current else {
            return self.store.delete(actor, &key, expected).await;
        };
        for _ in 0..ALLOCATION_ATTEMPTS_MAX {
            let mut give_back = Vec::new();
            for held in held_keys(&service.spec) {
                match self.store.get(&held) {
                    Ok((_, entry))
                        if entry.stored.value == StoredValue::Raw(key.clone().into_bytes()) =>
                    {
                        give_back.push((held, entry.stored.mod_revision));
                    }
                    Err(ReadError::Fatal(e)) => return Err(e.into()),
                    Ok(_) | Err(_) => {}
                }
            }
            let plan = RangePlan {
                take: Vec::new(),
                give_back,
            };
            let delete = Op::Delete {
                key: key.clone(),
                expected,
            };
            let response = self
                .store
                .txn(actor, range_txn(delete, None, &plan, &key))
                .await?;
            if response.succeeded {
                let removed = response.applied.into_iter().next().and_then(|a| a.value);
                return Ok(removed.expect("a delete returns the removed value"));
            }
        }
        tracing::warn!(service = %key, "allocations kept changing; deleting without releasing them");
        self.store.delete(actor, &key, expected).await
    }

    /// Creates what a cluster starts with, idempotently (upstream's bootstrap controller): the
    /// namespaces `default`, `kube-system`, `kube-public` and `kube-node-lease`, each with its
    /// `default` ServiceAccount, and the `kubernetes` Service on the first address of the
    /// Service range.
    pub async fn bootstrap(&self) -> Result<(), ApiError> {
        let actor = Actor::new(BOOTSTRAP_ACTOR);
        for name in SYSTEM_NAMESPACES {
            let namespace = Namespace {
                metadata: ObjectMeta::named(name),
                ..Namespace::default()
            };
            ignore_existing(self.create(&actor, None, namespace.into()).await)?;
            let account = ServiceAccount {
                metadata: ObjectMeta::named(DEFAULT_SERVICE_ACCOUNT_NAME),
                ..ServiceAccount::default()
            };
            if self
                .get(&info::SERVICE_ACCOUNT, name, DEFAULT_SERVICE_ACCOUNT_NAME)
                .is_err()
            {
                ignore_existing(self.create(&actor, Some(name), account.into()).await)?;
            }
        }
        let service = Service {
            metadata: ObjectMeta {
                labels: BTreeMap::from([
                    ("component".to_owned(), "apiserver".to_owned()),
                    ("provider".to_owned(), "kubernetes".to_owned()),
                ]),
                ..ObjectMeta::named(KUBERNETES_SERVICE_NAME)
            },
            spec: ServiceSpec {
                type_: Some("ClusterIP".to_owned()),
                cluster_ip: Some(IpRange::service().first().to_string()),
                ports: vec![ServicePort {
                    name: Some("https".to_owned()),
                    protocol: Some("TCP".to_owned()),
                    port: 443,
                    target_port: Some(IntOrString::Int(KUBERNETES_SERVICE_TARGET_PORT)),
                    ..ServicePort::default()
                }],
                ..ServiceSpec::default()
            },
            ..Service::default()
        };
        if self
            .get(&info::SERVICE, "default", KUBERNETES_SERVICE_NAME)
            .is_err()
        {
            ignore_existing(self.create(&actor, Some("default"), service.into()).await)?;
        }
        Ok(())
    }
}

/// Success when the object was created or is already there.
fn ignore_existing(result: Result<Object, ApiError>) -> Result<(), ApiError> {
    match result {
        Ok(_) => Ok(()),
        Err(ApiError::Rejected(status)) if status.reason == Reason::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The object the first operation of a committed transaction wrote.
fn applied_object(applied: Option<crate::request::Applied>) -> Object {
    match applied.and_then(|a| a.value) {
        Some(StoredValue::Object(object)) => object,
        other => panic!("a create or update returns the stored object, got {other:?}"),
    }
}
