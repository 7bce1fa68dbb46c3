//! tempLinks: `GET nodes/{id}?tempLink=true` and fetching the link without credentials
//! (reference §6.2, §6.7, §8.7, §12.5).

use reqwest::Method;
use serde_json::Value;

use crate::api::{Api, Reply, SCOPE_HEADER, id, md5_hex};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// Size of the files these checks upload.
const SIZE: usize = 4096;

/// Upload a file into the check's folder; its node and bytes.
async fn file(ctx: &Ctx, name: &str) -> Result<(Value, Vec<u8>), Failure> {
    ctx.budget(SIZE as u64)?;
    let folder = ctx.folder().await?;
    let bytes = ctx.data(SIZE);
    let node = ctx.api().file(&folder, name, &bytes).await?;
    Ok((node, bytes))
}

/// `GET nodes/{id}?tempLink=true`, failing unless it is 200.
async fn with_link(api: &Api, node: &str) -> Result<Value, Failure> {
    let reply = api
        .get(&format!("nodes/{node}"), &[("tempLink", "true")])
        .await;
    reply.expect(200, "GET nodes/{id}?tempLink=true")?;
    Ok(reply.json())
}

/// The `tempLink` of a file node, which must be an absolute http(s) URL.
fn link_of(node: &Value) -> Result<url::Url, Failure> {
    let link = node["tempLink"].as_str().ok_or_else(|| {
        Failure::new(
            "a tempLink string on the file",
            format!("tempLink = {}", node["tempLink"]),
        )
    })?;
    let url = url::Url::parse(link)
        .map_err(|e| Failure::new("the tempLink is an absolute URL", format!("{link:?}: {e}")))?;
    ensure!(
        matches!(url.scheme(), "http" | "https"),
        "an http(s) tempLink",
        "{link}"
    );
    Ok(url)
}

/// GET a link with no `Authorization`, optionally with a Range (and the check's scope).
async fn fetch(ctx: &Ctx, link: &url::Url, range: Option<&str>, bearer: bool) -> Reply {
    let api = ctx.api();
    let mut request = api
        .http
        .request(Method::GET, link.clone())
        .header(SCOPE_HEADER, ctx.scope());
    if bearer {
        request = request.bearer_auth(&api.token);
    }
    if let Some(range) = range {
        request = request.header(reqwest::header::RANGE, range);
    }
    api.send(request).await
}

/// File carries templink (§6.2, §8.7).
async fn file_carries_templink(ctx: Ctx) -> Result<(), Failure> {
    let (node, _) = file(&ctx, "linked.bin").await?;
    let with = with_link(&ctx.api(), &id(&node)).await?;
    ctx.record("file_with_templink", &with);
    ensure_eq!(with["id"].clone(), node["id"].clone(), "id");
    ensure_eq!(with["kind"].as_str(), Some("FILE"), "kind");
    link_of(&with)?;
    Ok(())
}

/// No templink unless asked (§6.2).
async fn no_templink_unless_asked(ctx: Ctx) -> Result<(), Failure> {
    let (node, _) = file(&ctx, "plain.bin").await?;
    let reply = ctx.api().node(&id(&node)).await;
    let plain = reply.ok_json("GET nodes/{id}")?;
    ctx.record("file_without_templink", &plain);
    ensure!(
        plain.get("tempLink").is_none_or(Value::is_null),
        "no tempLink without tempLink=true",
        "tempLink = {}",
        plain["tempLink"]
    );
    Ok(())
}

/// Folder accepts templink without link (§6.2).
async fn folder_accepts_templink_without_link(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    let with = with_link(&ctx.api(), &folder).await?;
    ctx.record("folder_with_templink", &with);
    ensure_eq!(with["id"].as_str(), Some(folder.as_str()), "id");
    ensure_eq!(with["kind"].as_str(), Some("FOLDER"), "kind");
    ensure!(
        with["parents"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p == &ctx.target.run_folder)),
        "the folder's parents (rclone's DirMove reads them this way)",
        "{}",
        with["parents"]
    );
    ensure!(
        with.get("tempLink").is_none_or(Value::is_null),
        "no tempLink on a folder",
        "tempLink = {}",
        with["tempLink"]
    );
    Ok(())
}

/// Templink downloads without authorization (§6.7, §8.7).
async fn templink_downloads_without_authorization(ctx: Ctx) -> Result<(), Failure> {
    let (node, bytes) = file(&ctx, "fetch.bin").await?;
    let link = link_of(&with_link(&ctx.api(), &id(&node)).await?)?;
    let reply = fetch(&ctx, &link, None, false).await;
    reply.expect(200, "GET tempLink without Authorization")?;
    ensure_eq!(reply.body.len(), bytes.len(), "tempLink body length");
    ensure_eq!(md5_hex(&reply.body), md5_hex(&bytes), "tempLink body md5");
    ensure_eq!(
        node["contentProperties"]["md5"].as_str(),
        Some(md5_hex(&reply.body).as_str()),
        "contentProperties.md5 of what the tempLink served"
    );
    Ok(())
}

/// Templink honours range (§12.5, §6.7).
async fn templink_honours_range(ctx: Ctx) -> Result<(), Failure> {
    let (node, bytes) = file(&ctx, "range.bin").await?;
    let link = link_of(&with_link(&ctx.api(), &id(&node)).await?)?;
    let reply = fetch(&ctx, &link, Some("bytes=100-1123"), false).await;
    reply.expect(206, "GET tempLink with Range: bytes=100-1123")?;
    ensure!(
        reply.body[..] == bytes[100..1124],
        "bytes 100-1123 of the file",
        "{} other bytes",
        reply.body.len()
    );
    ensure_eq!(
        reply.header("content-range"),
        Some(format!("bytes 100-1123/{SIZE}")),
        "Content-Range"
    );
    let tail = fetch(&ctx, &link, Some("bytes=-10"), false).await;
    tail.expect(206, "GET tempLink with Range: bytes=-10")?;
    ensure!(
        tail.body[..] == bytes[SIZE - 10..],
        "the last 10 bytes",
        "{} other bytes",
        tail.body.len()
    );
    Ok(())
}

/// Templink with authorization is served or refused (§8.7, §6.7).
///
/// Small-file links were cdproxy URLs that ignore the header (the mock serves
/// them); S3 links refuse it with 400 XML. Either is acceptable, wrong bytes are not.
async fn templink_with_authorization_is_served_or_refused(ctx: Ctx) -> Result<(), Failure> {
    let (node, bytes) = file(&ctx, "authed.bin").await?;
    let link = link_of(&with_link(&ctx.api(), &id(&node)).await?)?;
    let reply = fetch(&ctx, &link, None, true).await;
    match reply.status {
        200 => {
            ensure_eq!(md5_hex(&reply.body), md5_hex(&bytes), "tempLink body md5")
        }
        400 | 403 => ensure!(
            reply.text().contains("<Error>"),
            "an S3 XML <Error> when Authorization is refused",
            "HTTP {}: {}",
            reply.status,
            crate::api::short(&reply.text())
        ),
        other => {
            return Err(Failure::new(
                "200 with the bytes, or an S3 400/403 XML error",
                format!("HTTP {other}: {}", crate::api::short(&reply.text())),
            ));
        }
    }
    Ok(())
}

/// Templink is stable when asked again (§8.7).
///
/// Links live 48 h and are only replaced after 24 h, when an app asks again.
async fn templink_is_stable_when_asked_again(ctx: Ctx) -> Result<(), Failure> {
    let (node, _) = file(&ctx, "again.bin").await?;
    let api = ctx.api();
    let first = link_of(&with_link(&api, &id(&node)).await?)?;
    let second = link_of(&with_link(&api, &id(&node)).await?)?;
    ensure_eq!(second.as_str(), first.as_str(), "the tempLink asked again");
    let reply = fetch(&ctx, &first, None, false).await;
    reply.expect(200, "GET the first tempLink after asking again")?;
    Ok(())
}

/// Unknown templink is 404 or 410 (§7.2, §8.7).
///
/// On a real account an invalid link's status is unrecorded; the mock documents 404.
async fn unknown_templink_is_404_or_410(ctx: Ctx) -> Result<(), Failure> {
    let (node, _) = file(&ctx, "unknown.bin").await?;
    let mut link = link_of(&with_link(&ctx.api(), &id(&node)).await?)?;
    let path = format!("{}x", link.path().trim_end_matches('/'));
    link.set_path(&path);
    let reply = fetch(&ctx, &link, None, false).await;
    ctx.record("unknown_templink", &reply.json());
    ensure!(
        matches!(reply.status, 404 | 410),
        "404 or 410 for a tempLink that does not exist (clients ask again)",
        "HTTP {}: {}",
        reply.status,
        crate::api::short(&reply.text())
    );
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        file_carries_templink("§6.2, §8.7", [Capability::TempLink]),
        no_templink_unless_asked("§6.2", []),
        folder_accepts_templink_without_link("§6.2", []),
        templink_downloads_without_authorization("§6.7, §8.7", [Capability::TempLink]),
        templink_honours_range("§12.5, §6.7", [Capability::TempLink]),
        templink_with_authorization_is_served_or_refused("§8.7, §6.7", [Capability::TempLink]),
        templink_is_stable_when_asked_again("§8.7", [Capability::TempLink]),
        unknown_templink_is_404_or_410(
            "§7.2, §8.7",
            [Capability::TempLink, Capability::FaultInjection]
        ),
    ]
}
