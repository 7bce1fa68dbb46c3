//! Account info, quota and usage (reference §6.12, §7.2).

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{Api, id};
use crate::cases::folders::{is_timestamp, unique_bytes};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// The usage categories of §6.12.
const CATEGORIES: [&str; 4] = ["other", "doc", "photo", "video"];

/// `GET account/quota`, checked for shape; (quota, available).
async fn quota(ctx: &Ctx, api: &Api) -> Result<(u64, u64), Failure> {
    let q = api
        .get("account/quota", &[])
        .await
        .ok_json("GET account/quota")?;
    ctx.record_shape("quota", &q);
    let (Some(total), Some(available)) = (q["quota"].as_u64(), q["available"].as_u64()) else {
        return Err(Failure::new(
            "quota and available as unsigned integers",
            q.to_string(),
        ));
    };
    ensure!(
        is_timestamp(&q["lastCalculated"]),
        "lastCalculated as a time",
        "{}",
        q["lastCalculated"]
    );
    ensure!(
        available <= total,
        "available <= quota",
        "available {available} > quota {total}"
    );
    Ok((total, available))
}

/// `GET account/usage`, checked for shape; the totals (bytes, count) over all categories.
async fn usage(ctx: &Ctx, api: &Api) -> Result<(u64, u64), Failure> {
    let u = api
        .get("account/usage", &[])
        .await
        .ok_json("GET account/usage")?;
    ctx.record_shape("usage", &u);
    ensure!(
        is_timestamp(&u["lastCalculated"]),
        "lastCalculated as a time",
        "{}",
        u["lastCalculated"]
    );
    let (mut bytes, mut count) = (0, 0);
    for category in CATEGORIES {
        for kind in ["total", "billable"] {
            let part = &u[category][kind];
            ensure!(
                part["bytes"].is_u64() && part["count"].is_u64(),
                format!("{category}.{kind} with integer bytes and count"),
                "{}",
                u[category]
            );
        }
        bytes += u[category]["total"]["bytes"].as_u64().unwrap_or(0);
        count += u[category]["total"]["count"].as_u64().unwrap_or(0);
    }
    Ok((bytes, count))
}

/// A fresh mock account with `quota` bytes; an API signed in to it.
async fn fresh_account(ctx: &Ctx, quota: u64) -> Result<Api, Failure> {
    let admin = ctx.admin()?;
    let n: u32 = rand::random();
    let email = format!("{}-{n:08x}@conformance.invalid", ctx.scope());
    admin
        .call(
            Method::POST,
            "accounts",
            Some(json!({"email": email, "quota": quota})),
        )
        .await?;
    let minted = admin
        .call(Method::POST, "tokens", Some(json!({"account": email})))
        .await?;
    let token = minted["access_token"]
        .as_str()
        .ok_or_else(|| Failure::new("a minted access_token", minted.to_string()))?;
    Ok(Api {
        token: token.to_string(),
        ..ctx.api()
    })
}

/// `GET account/info` has a string `termsOfUse` and status ACTIVE (§6.12).
async fn info_shape(ctx: Ctx) -> Result<(), Failure> {
    let info = ctx
        .api()
        .get("account/info", &[])
        .await
        .ok_json("GET account/info")?;
    ctx.record("info", &info);
    ensure!(
        info["termsOfUse"].is_string(),
        "termsOfUse as a string",
        "{info}"
    );
    ensure_eq!(info["status"].as_str(), Some("ACTIVE"), "status");
    Ok(())
}

/// `GET account/quota` has a quota above 0 (§6.12).
async fn quota_shape(ctx: Ctx) -> Result<(), Failure> {
    let (total, _) = quota(&ctx, &ctx.api()).await?;
    ensure!(total > 0, "a quota above 0", "{total}");
    Ok(())
}

/// `GET account/usage` has a `lastCalculated` time and integer bytes and counts per category
/// (§6.12).
async fn usage_shape(ctx: Ctx) -> Result<(), Failure> {
    usage(&ctx, &ctx.api()).await.map(|_| ())
}

/// Quota and usage follow an upload (§6.12).
///
/// Only on mocks: a fresh account of its own, so no other check's uploads interfere.
async fn quota_and_usage_follow_an_upload(ctx: Ctx) -> Result<(), Failure> {
    const QUOTA: u64 = 10 << 20;
    const LEN: usize = 12_345;
    ctx.budget(LEN as u64)?;
    let api = fresh_account(&ctx, QUOTA).await?;
    let (total, before) = quota(&ctx, &api).await?;
    ensure_eq!(total, QUOTA, "the fresh account's quota");
    ensure_eq!(before, QUOTA, "available on an empty account");
    ensure_eq!(
        usage(&ctx, &api).await?,
        (0, 0),
        "usage (bytes, count) when empty"
    );
    let root = id(&api.root().await?);
    api.file(&root, "weight.bin", &unique_bytes(&ctx, LEN, 0))
        .await?;
    let (_, after) = quota(&ctx, &api).await?;
    ensure_eq!(after, before - LEN as u64, "available after the upload");
    ensure_eq!(
        usage(&ctx, &api).await?,
        (LEN as u64, 1),
        "usage (bytes, count) summed over the categories"
    );
    Ok(())
}

/// Upload over quota is 403 (§7.2, §6.12).
async fn upload_over_quota_is_403(ctx: Ctx) -> Result<(), Failure> {
    const QUOTA: u64 = 1_000;
    ctx.budget(2 * QUOTA)?;
    let api = fresh_account(&ctx, QUOTA).await?;
    let root = id(&api.root().await?);
    let reply = api
        .upload(
            &root,
            "too-big.bin",
            unique_bytes(&ctx, 2 * QUOTA as usize, 0),
            &[("suppress", "deduplication")],
        )
        .await;
    ctx.record("over_quota", &reply.json());
    reply.expect(403, "an upload larger than the quota")?;
    let (_, available) = quota(&ctx, &api).await?;
    ensure_eq!(available, QUOTA, "available after the refusal");
    let listed: Vec<Value> = api.children(&root).await?;
    ensure!(
        listed.iter().all(|n| n["name"] != "too-big.bin"),
        "no node for the refused upload",
        "{}",
        json!(listed)
    );
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        info_shape("§6.12", []),
        quota_shape("§6.12", []),
        usage_shape("§6.12", []),
        quota_and_usage_follow_an_upload("§6.12", [Capability::FaultInjection]),
        upload_over_quota_is_403("§7.2, §6.12", [Capability::FaultInjection]),
    ]
}
