//! A stand-in for the runtime loop while it has not landed: runs controllers level-triggered
//! by polling — every period, list each watched kind (one consistent page per kind), build a
//! [`View`], reconcile every resync key, send the actions in order (the first failure stops
//! the rest of that key's actions and is reported to the controller, as the runtime does).
//! No watches, expectations, work queue or leader election: one instance per controller.

use std::sync::Arc;
use std::time::Duration;

use skiff_controllers::reconcile::{Action, Controller, Watched};
use skiff_controllers::view::View;
use skiff_core::client::{Client, ClientError, ListParams};
use skiff_core::clock::Clock;

/// Sends one action through `client`.
pub async fn send(client: &dyn Client, action: &Action) -> Result<(), ClientError> {
    match action.clone() {
        Action::Create(o) => client.create(None, o).await.map(drop),
        Action::Update(o) => client.update(o).await.map(drop),
        Action::UpdateStatus(o) => client.update_status(o).await.map(drop),
        Action::Delete {
            resource,
            namespace,
            name,
            options,
        } => client
            .delete(resource, &namespace, &name, options)
            .await
            .map(drop),
        Action::Bind {
            namespace,
            name,
            binding,
        } => client.bind(&namespace, &name, binding).await.map(drop),
    }
}

async fn view_of(watches: Vec<Watched>, client: &dyn Client) -> Result<View, ClientError> {
    let mut view = View::new();
    for watched in watches {
        let params = ListParams {
            label_selector: watched.label_selector.clone(),
            field_selector: watched.field_selector.clone(),
            ..ListParams::default()
        };
        let list = client.list(watched.resource, None, params).await?;
        view.observe_revision(list.resource_version);
        for object in list.items {
            view.insert(object);
        }
    }
    Ok(view)
}

/// Runs `controllers` forever, one pass every `period` of `clock`'s time.
pub async fn poll(
    mut controllers: Vec<Box<dyn Controller>>,
    client: Arc<dyn Client>,
    clock: Arc<dyn Clock>,
    period: Duration,
) {
    loop {
        for controller in &mut controllers {
            let Ok(view) = view_of(controller.watches(), client.as_ref()).await else {
                continue;
            };
            let now = clock.wall();
            for key in controller.resync_keys(&view) {
                let output = controller.reconcile(&view, &key, now);
                for action in &output.actions {
                    if let Err(e) = send(client.as_ref(), action).await {
                        controller.action_failed(&key, action, &e);
                        break;
                    }
                }
            }
        }
        tokio::time::sleep(period).await;
    }
}
