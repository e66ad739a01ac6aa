//! User controllers: a [`Controller`] of your own, run by [`crate::ClusterBuilder::controller`]
//! in the same runtime loop as the built-in controllers (informer caches, work queue with
//! backoff, expectations, leader election) — as its own identity, authorized by RBAC.
//!
//! # Identity and permissions
//!
//! A user controller named `n` (its [`Controller::name`]) acts as the service account
//! `kube-system/n`, i.e. the user `system:serviceaccount:kube-system:n` — the way upstream's
//! kube-controller-manager runs each of its controllers with `--use-service-account-credentials`
//! (one service account per controller in `kube-system`, each bound to a ClusterRole named
//! `system:controller:<controller>`). Unlike the embedder's own calls
//! ([`crate::Cluster::client`], trusted and not authorized), every call of a user controller
//! goes through the API server's authorizer (Node, then RBAC), so its writes are limited to
//! what it was granted, and the log names it as the actor of everything it writes.
//!
//! At start-up the cluster creates (or updates) for each user controller:
//!
//! - the ServiceAccount `kube-system/n`;
//! - the ClusterRole `system:controller:n` with the controller's rules, and a
//!   ClusterRoleBinding of the same name to the service account. With
//!   [`crate::ClusterBuilder::controller`] the rules are [`default_rules`]: full access to
//!   every kind the controller watches (what it watches is what it manages) plus creating
//!   Events; with [`crate::ClusterBuilder::controller_with_rules`] they are exactly the
//!   embedder's;
//! - the Role and RoleBinding `system:controller:n` in `kube-system` for its leader-election
//!   Lease ([`lease_rules`]: `create` on leases — upstream RBAC cannot limit `create` by
//!   name — and `get`/`update` on the Lease named `n` only).
//!
//! RBAC is additive: to grant more, bind more roles to the service account.
//!
//! # Leader election and garbage collection
//!
//! The controller is elected on the Lease `kube-system/n` (client-go's defaults: 15 s lease,
//! 10 s renew deadline, 2 s retry) under the identity [`EMBEDDED_IDENTITY`]; when it loses the
//! lease it stops acting and stands for election again a second later, keeping its state.
//! Objects it creates with `ownerReferences` are collected by the built-in garbage collector
//! when their owner is deleted, like a ReplicaSet's pods.

use std::sync::Arc;
use std::time::Duration;

use skiff_controllers::reconcile::Controller;
use skiff_controllers::runtime::election::{LEASE_NAMESPACE, LeaderElectionConfig};
use skiff_controllers::runtime::{self, RunOptions, Shutdown};
use skiff_core::client::{
    AccessDecision, AccessReview, Binding, BoxFuture, Client, ClientError, DeleteOptions, Deleted,
    ListParams, ObjectList, PatchType, Scale, WatchStream,
};
use skiff_core::clock::Clock;
use skiff_core::event::Event;
use skiff_core::object::{
    ClusterRole, ClusterRoleBinding, KindInfo, Object, ObjectMeta, PolicyRule, Role, RoleBinding,
    RoleRef, ServiceAccount, Subject, info,
};
use skiff_store::apiserver::authn::{Authenticator, SERVICE_ACCOUNT_USER_PREFIX, UserInfo};
use skiff_store::apiserver::{ApiHandler, ApiServer};
use skiff_store::wire::{Handler, Request, Response};

/// The `holderIdentity` an embedded cluster's user controllers elect under (upstream's
/// identity is the host name plus a unique suffix; an embedding process is one candidate).
pub const EMBEDDED_IDENTITY: &str = "skiff-embedded";

/// How long a user controller waits after losing its lease before standing again.
pub const REELECT_AFTER: Duration = Duration::from_secs(1);

/// The namespace of user controllers' service accounts (upstream's controllers' own).
pub const SERVICE_ACCOUNT_NAMESPACE: &str = "kube-system";

/// The user a user controller named `name` acts as:
/// `system:serviceaccount:kube-system:<name>`.
pub fn user_of(name: &str) -> String {
    format!("{SERVICE_ACCOUNT_USER_PREFIX}{SERVICE_ACCOUNT_NAMESPACE}:{name}")
}

/// The name of the ClusterRole, ClusterRoleBinding, Role and RoleBinding granted to a user
/// controller: `system:controller:<name>` (upstream's naming of its controllers' roles).
pub fn role_name(name: &str) -> String {
    format!("system:controller:{name}")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn rule(verbs: &[&str], group: &str, resources: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: strings(verbs),
        api_groups: vec![group.to_owned()],
        resources: strings(resources),
        ..PolicyRule::default()
    }
}

/// The rules [`crate::ClusterBuilder::controller`] grants: every verb on each watched kind
/// and its `status` subresource, plus creating and updating core/v1 Events (what
/// [`skiff_controllers::reconcile::event`] writes), in the order the kinds are watched.
pub fn default_rules(controller: &dyn Controller) -> Vec<PolicyRule> {
    let mut rules = Vec::new();
    let mut seen: Vec<&'static str> = Vec::new();
    for watched in controller.watches() {
        let kind: &KindInfo = watched.resource;
        if seen.contains(&kind.plural) {
            continue;
        }
        seen.push(kind.plural);
        rules.push(rule(
            &[
                "get", "list", "watch", "create", "update", "patch", "delete",
            ],
            kind.group,
            &[kind.plural],
        ));
        rules.push(rule(
            &["get", "update", "patch"],
            kind.group,
            &[&format!("{}/status", kind.plural)],
        ));
    }
    rules.push(rule(&["create", "update", "patch"], "", &["events"]));
    rules
}

/// The leader-election rules in `kube-system`: create leases (RBAC cannot restrict `create`
/// by name), and get and update the Lease named `name`.
pub fn lease_rules(name: &str) -> Vec<PolicyRule> {
    let group = info::LEASE.group;
    vec![
        rule(&["create"], group, &["leases"]),
        PolicyRule {
            resource_names: vec![name.to_owned()],
            ..rule(&["get", "update"], group, &["leases"])
        },
    ]
}

/// The objects that give a user controller named `name` its identity and `rules`: its
/// ServiceAccount, ClusterRole and ClusterRoleBinding, and the Role and RoleBinding for its
/// Lease — in the order they are applied.
pub fn rbac_objects(name: &str, rules: Vec<PolicyRule>) -> Vec<Object> {
    let role = role_name(name);
    let meta = |namespace: Option<&str>, name: &str| ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        ..ObjectMeta::default()
    };
    let subject = Subject {
        kind: "ServiceAccount".to_owned(),
        api_group: None,
        name: name.to_owned(),
        namespace: Some(SERVICE_ACCOUNT_NAMESPACE.to_owned()),
    };
    let role_ref = |kind: &str| RoleRef {
        api_group: "rbac.authorization.k8s.io".to_owned(),
        kind: kind.to_owned(),
        name: role.clone(),
    };
    let ns = Some(SERVICE_ACCOUNT_NAMESPACE);
    vec![
        ServiceAccount {
            metadata: meta(ns, name),
            ..ServiceAccount::default()
        }
        .into(),
        ClusterRole {
            metadata: meta(None, &role),
            rules,
            ..ClusterRole::default()
        }
        .into(),
        ClusterRoleBinding {
            metadata: meta(None, &role),
            subjects: vec![subject.clone()],
            role_ref: role_ref("ClusterRole"),
            ..ClusterRoleBinding::default()
        }
        .into(),
        Role {
            metadata: meta(ns, &role),
            rules: lease_rules(name),
            ..Role::default()
        }
        .into(),
        RoleBinding {
            metadata: meta(ns, &role),
            subjects: vec![subject],
            role_ref: role_ref("Role"),
            ..RoleBinding::default()
        }
        .into(),
    ]
}

/// A user controller waiting for [`crate::ClusterBuilder::build`].
pub(crate) struct Registered {
    pub(crate) controller: Box<dyn Controller>,
    pub(crate) rules: Vec<PolicyRule>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("controller", &self.controller.name())
            .field("rules", &self.rules.len())
            .finish()
    }
}

/// Grants each registered controller its identity and rules, then spawns its loop; returns
/// the tasks, or which object could not be applied.
pub(crate) async fn start(
    registered: Vec<Registered>,
    api: &Arc<ApiServer>,
    admin: &dyn Client,
    clock: &Arc<dyn Clock>,
    seed: u64,
    shutdown: &Shutdown,
) -> Result<Vec<tokio::task::JoinHandle<()>>, String> {
    let mut tasks = Vec::new();
    if registered.is_empty() {
        return Ok(tasks);
    }
    let handler = Arc::new(ApiHandler::new(api.clone(), Authenticator::new(seed)));
    for Registered { controller, rules } in registered {
        let name = controller.name();
        for object in rbac_objects(name, rules) {
            let what = object.kind_slash_name();
            crate::apply::apply(admin, object)
                .await
                .map_err(|e| format!("controller {name}: {what}: {e}"))?;
        }
        let client: Arc<dyn Client> = Arc::new(AuthorizedClient::service_account(
            handler.clone(),
            SERVICE_ACCOUNT_NAMESPACE,
            name,
        ));
        tasks.push(tokio::spawn(run_elected(
            controller,
            client,
            clock.clone(),
            seed,
            shutdown.clone(),
        )));
    }
    Ok(tasks)
}

/// Runs a user controller until `shutdown`: elected on `kube-system/<name>`, standing again
/// [`REELECT_AFTER`] a lost election.
pub(crate) async fn run_elected(
    mut controller: Box<dyn Controller>,
    client: Arc<dyn Client>,
    clock: Arc<dyn Clock>,
    seed: u64,
    mut shutdown: Shutdown,
) {
    let name = controller.name();
    let mut attempt: u64 = 0;
    loop {
        attempt += 1;
        let options = RunOptions {
            leader_election: Some(LeaderElectionConfig {
                namespace: LEASE_NAMESPACE.to_owned(),
                ..LeaderElectionConfig::new(EMBEDDED_IDENTITY)
            }),
            seed: seed ^ attempt.rotate_left(17),
            shutdown: shutdown.clone(),
            ..RunOptions::default()
        };
        match runtime::run(&mut *controller, client.clone(), clock.clone(), options).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(controller = name, %error, "user controller stopped acting");
            }
        }
        tokio::select! {
            biased;
            () = shutdown.wait() => return,
            () = tokio::time::sleep(REELECT_AFTER) => {}
        }
    }
}

/// The API in-process as one user, **authorized**: every call goes through the API server's
/// authorizer as the wire protocol's calls do (a refusal is upstream's 403 `Forbidden`),
/// unlike [`skiff_store::apiserver::LocalClient`], which trusts its caller.
pub struct AuthorizedClient {
    handler: Arc<ApiHandler>,
    user: UserInfo,
}

impl std::fmt::Debug for AuthorizedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizedClient")
            .field("user", &self.user.name)
            .finish_non_exhaustive()
    }
}

impl AuthorizedClient {
    /// A client acting as `user` through `handler`.
    pub fn new(handler: Arc<ApiHandler>, user: UserInfo) -> Self {
        Self { handler, user }
    }

    /// A client acting as the service account `namespace/name`.
    pub fn service_account(handler: Arc<ApiHandler>, namespace: &str, name: &str) -> Self {
        Self::new(handler, UserInfo::for_service_account(namespace, name))
    }

    /// The user it acts as.
    pub fn user(&self) -> &str {
        &self.user.name
    }

    async fn call(&self, request: Request) -> Result<Response, ClientError> {
        self.handler
            .call(&self.user, request)
            .await
            .map_err(ClientError::Status)
    }
}

fn unexpected(response: &Response) -> ClientError {
    ClientError::Transport(format!("unexpected response {response:?}"))
}

fn object(response: Response) -> Result<Object, ClientError> {
    match response {
        Response::Object(o) => Ok(o),
        other => Err(unexpected(&other)),
    }
}

impl Client for AuthorizedClient {
    fn create(
        &self,
        namespace: Option<&str>,
        object_: Object,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let request = Request::Create {
            namespace: namespace.map(str::to_owned),
            object: object_,
        };
        Box::pin(async move { object(self.call(request).await?) })
    }

    fn get(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let request = Request::Get {
            resource: resource.plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        Box::pin(async move { object(self.call(request).await?) })
    }

    fn list(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<ObjectList, ClientError>> {
        let request = Request::List {
            resource: resource.plural.to_owned(),
            namespace: namespace.map(str::to_owned),
            params,
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::List(list) => Ok(list),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn update(&self, object_: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        Box::pin(async move { object(self.call(Request::Update { object: object_ }).await?) })
    }

    fn update_status(&self, object_: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        Box::pin(async move { object(self.call(Request::UpdateStatus { object: object_ }).await?) })
    }

    fn delete(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
        options: DeleteOptions,
    ) -> BoxFuture<'_, Result<Deleted, ClientError>> {
        let request = Request::Delete {
            resource: resource.plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            options,
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::Deleted(d) => Ok(d),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn bind(
        &self,
        namespace: &str,
        name: &str,
        binding: Binding,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let request = Request::Bind {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            binding,
        };
        Box::pin(async move { object(self.call(request).await?) })
    }

    fn history(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Vec<Event>, ClientError>> {
        let request = Request::History {
            resource: resource.plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::History(events) => Ok(events),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn watch(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<Box<dyn WatchStream>, ClientError>> {
        let request = Request::Watch {
            resource: resource.plural.to_owned(),
            namespace: namespace.map(str::to_owned),
            params,
        };
        Box::pin(async move {
            self.handler
                .watch(&self.user, request)
                .await
                .map_err(ClientError::Status)
        })
    }

    fn patch(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        patch: Vec<u8>,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let request = Request::Patch {
            resource: resource.plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            patch_type,
            patch,
        };
        Box::pin(async move { object(self.call(request).await?) })
    }

    fn get_scale(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Scale, ClientError>> {
        let request = Request::GetScale {
            resource: resource.plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::Scale(s) => Ok(s),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn update_scale(
        &self,
        resource: &'static KindInfo,
        scale: Scale,
    ) -> BoxFuture<'_, Result<Scale, ClientError>> {
        let request = Request::UpdateScale {
            resource: resource.plural.to_owned(),
            scale,
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::Scale(s) => Ok(s),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn access_review(
        &self,
        review: AccessReview,
    ) -> BoxFuture<'_, Result<AccessDecision, ClientError>> {
        Box::pin(async move {
            match self.call(Request::AccessReview { review }).await? {
                Response::Access(a) => Ok(a),
                other => Err(unexpected(&other)),
            }
        })
    }
}
