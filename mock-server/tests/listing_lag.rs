#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Eventual consistency (`listing_lag_ms`, reference §8.8): new nodes reach searches and
//! listings late, moved nodes linger under their old parent, trashed nodes still show as
//! AVAILABLE, while `GET nodes/{id}` and the uniqueness check are immediate. Waiting for the
//! lag to pass polls with a deadline.

mod common;

use std::time::{Duration, Instant};

use acd_mock::MockServer;
use acd_mock::faults::FaultPlan;
use acd_mock::faults::settings::{LagRange, Settings};
use common::{Ctx, id_of, ids};
use reqwest::{Method, StatusCode};
use serde_json::json;

const LAG_MS: u64 = 600;

async fn lagging() -> Ctx {
    let plan = FaultPlan {
        settings: Settings {
            listing_lag_ms: Some(LagRange {
                min: LAG_MS,
                max: LAG_MS,
            }),
            ..Settings::default()
        },
        ..FaultPlan::default()
    };
    Ctx::with(MockServer::builder().faults(plan)).await
}

/// Polls `check` until it holds, failing after a deadline well past the lag.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn new_nodes_reach_listings_late_but_exist_at_once() {
    let ctx = lagging().await;
    let root = ctx.root_id().await;
    let folder = ctx.mkdir(&root, "Fresh").await;
    let id = id_of(&folder);

    // Not listed yet...
    assert!(ids(&ctx.lookup(&root, "Fresh").await).is_empty());
    assert!(ids(&ctx.list(&format!("parents:{root}")).await).is_empty());
    // ...yet it exists: GET is immediate, and the name is taken.
    let (status, _) = ctx.node(&id).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = ctx
        .send(
            Method::POST,
            &ctx.m("nodes"),
            Some(&json!({"name": "fresh", "kind": "FOLDER", "parents": [root]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    eventually("the new folder showing in the lookup", || async {
        ids(&ctx.lookup(&root, "Fresh").await) == [id.clone()]
    })
    .await;
}

#[tokio::test]
async fn moved_and_trashed_nodes_linger_in_listings() {
    let ctx = lagging().await;
    let root = ctx.root_id().await;
    let a = id_of(&ctx.mkdir(&root, "A").await);
    let b = id_of(&ctx.mkdir(&root, "B").await);
    eventually("A and B listed", || async {
        ids(&ctx.list(&format!("parents:{root}")).await).len() == 2
    })
    .await;

    // Move A into B: the root still lists A for a while (with its new parents, the "bogus"
    // node rclone drops), and B lists it at once.
    let (status, moved) = ctx
        .send(
            Method::POST,
            &ctx.m(&format!("nodes/{b}/children")),
            Some(&json!({"fromParent": root, "childId": a})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let root_list = ctx.list(&format!("parents:{root}")).await;
    let ghost = root_list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == a.as_str())
        .cloned()
        .expect("the moved node still shows under its old parent");
    assert_eq!(ghost["parents"], json!([b]));
    assert_eq!(
        ids(&ctx.list(&format!("parents:{b}")).await),
        vec![a.clone()]
    );
    eventually("the old parent forgetting the moved node", || async {
        !ids(&ctx.list(&format!("parents:{root}")).await).contains(&a)
    })
    .await;

    // Trash A: B still lists it as AVAILABLE for a while; GET says TRASH at once.
    let (status, _) = ctx.trash(&a).await;
    assert_eq!(status, StatusCode::OK);
    let (_, node) = ctx.node(&a).await;
    assert_eq!(node["status"], "TRASH");
    let listed = ctx.list(&format!("parents:{b}")).await;
    assert_eq!(ids(&listed), vec![a.clone()]);
    assert_eq!(listed["data"][0]["status"], "AVAILABLE");
    eventually("the trashed node leaving the listing", || async {
        ids(&ctx.list(&format!("parents:{b}")).await).is_empty()
    })
    .await;
}
