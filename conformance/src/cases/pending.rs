//! Non-AVAILABLE nodes in listings during the lag (reference §8.8, §4, §5.4): the service
//! listed new folders as `PENDING` for a while (rclone's `FindLeaf` sleeps on them), and a node
//! trashed moments ago kept showing in listings while a filter on `status` saw it as TRASH.
//!
//! Both need the mock's lag settings, which apply to a whole mock, so the check runs on a
//! private embedded acd-mock with its own settings and moves its clock instead of waiting; it
//! runs only when the target is the embedded mock.

use acd_mock::faults::FaultPlan;
use acd_mock::faults::settings::{LagRange, Settings};
use serde_json::Value;

use crate::api::{Api, id};
use crate::cases::clock::{advance, private_mock};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// The listing lag of the private mock: 10 minutes.
const LAG_MS: u64 = 600_000;

/// How long a new folder is listed as PENDING after its lag: 1 hour.
const PENDING_MS: u64 = 3_600_000;

/// The status `parents:PARENT AND name:NAME` lists, if the node is listed (with `extra` ANDed).
async fn listed_status(
    api: &Api,
    parent: &str,
    name: &str,
    extra: &str,
) -> Result<Option<String>, Failure> {
    let filters = format!("parents:{parent} AND name:{name}{extra}");
    let nodes = api
        .list_all("nodes", &[("filters", filters.as_str())])
        .await?;
    Ok(nodes
        .first()
        .and_then(|n| n["status"].as_str())
        .map(str::to_string))
}

/// A new folder: hidden during the lag, listed PENDING after it, then AVAILABLE; by id
/// AVAILABLE throughout. A file trashed within the lag: listed as before where the filter does
/// not test `status`, TRASH where it does.
async fn listings_show_pending_folders_and_fresh_trash_as_the_service_did(
    ctx: Ctx,
) -> Result<(), Failure> {
    if !ctx.target.is_embedded_mock() {
        return Err(Failure::skip(
            "sets a mock's listing lag and moves its clock: runs on the embedded mock only",
        ));
    }
    let plan = FaultPlan {
        settings: Settings {
            listing_lag_ms: Some(LagRange {
                min: LAG_MS,
                max: LAG_MS,
            }),
            pending_folder_ms: Some(LagRange {
                min: PENDING_MS,
                max: PENDING_MS,
            }),
            ..Settings::default()
        },
        ..FaultPlan::default()
    };
    let (_server, api, admin) =
        private_mock(&ctx, acd_mock::MockServer::builder().faults(plan)).await?;
    let root = id(&api.root().await?);
    let folder = id(&api.folder(&root, "fresh").await?);
    let file = id(&api.file(&root, "soon-trashed.txt", b"bytes").await?);

    ensure_eq!(
        listed_status(&api, &root, "fresh", "").await?,
        None,
        "the folder listed during its lag"
    );
    advance(&admin, "11m").await?;
    ensure_eq!(
        listed_status(&api, &root, "fresh", "").await?.as_deref(),
        Some("PENDING"),
        "the folder's listed status just after its lag"
    );
    let by_id: Value = api
        .node(&folder)
        .await
        .ok_json("GET nodes/{id} of the folder")?;
    ensure_eq!(
        by_id["status"].as_str(),
        Some("AVAILABLE"),
        "the folder's status by id"
    );

    api.trash(&file).await.expect(200, "PUT trash/{id}")?;
    ensure_eq!(
        listed_status(&api, &root, "soon-trashed.txt", "")
            .await?
            .as_deref(),
        Some("AVAILABLE"),
        "the trashed file in a listing without a status filter, within the lag"
    );
    ensure_eq!(
        listed_status(&api, &root, "soon-trashed.txt", " AND status:TRASH")
            .await?
            .as_deref(),
        Some("TRASH"),
        "the trashed file where the filter asks for TRASH"
    );

    advance(&admin, "61m").await?;
    ensure_eq!(
        listed_status(&api, &root, "fresh", "").await?.as_deref(),
        Some("AVAILABLE"),
        "the folder's listed status an hour later"
    );
    let gone = listed_status(&api, &root, "soon-trashed.txt", "").await?;
    ensure!(
        gone.is_none(),
        "the trashed file gone from the listing after the lag",
        "{gone:?}"
    );
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        listings_show_pending_folders_and_fresh_trash_as_the_service_did(
            "§8.8, §4, §5.4",
            [Capability::FaultInjection]
        ),
    ]
}
