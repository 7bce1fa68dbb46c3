//! Uploading and downloading whole files (reference §6.5, §6.7, §8.13, §12.14).

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::api::{Api, Reply, id, md5_hex};
use crate::cases::folders::{
    MISSING_ID, child_ids, get_node, is_timestamp, unique_bytes, wait_listed,
};
use crate::check::{Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// The MD5 of no bytes.
pub(crate) const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// Upload a multipart body made of a `metadata` part naming `name` and the given content part.
async fn upload_part(
    api: &Api,
    parent: &str,
    name: &str,
    part: impl Fn() -> Part,
    query: &[(&str, &str)],
) -> Reply {
    let metadata = json!({"name": name, "kind": "FILE", "parents": [parent]}).to_string();
    // A multipart body is a stream: each attempt builds it again.
    api.transport
        .send_with(|| {
            let form = Form::new()
                .text("metadata", metadata.clone())
                .part("content", part());
            Some(
                api.request(Method::POST, api.content_url("nodes"))
                    .query(query)
                    .multipart(form),
            )
        })
        .await
}

/// A content part of `bytes` with this file name.
fn named_part(bytes: Part, file_name: &str) -> Part {
    bytes
        .file_name(file_name.to_string())
        .mime_str("application/octet-stream")
        .unwrap_or_else(|_| Part::bytes(Vec::new()))
}

/// Fail unless a file node's `contentProperties` hold `bytes`' size and MD5.
pub(crate) fn ensure_content(node: &Value, bytes: &[u8], what: &str) -> Result<(), Failure> {
    let cp = &node["contentProperties"];
    ensure_eq!(
        cp["size"].as_u64(),
        Some(bytes.len() as u64),
        format!("{what}: contentProperties.size")
    );
    ensure_eq!(
        cp["md5"].as_str(),
        Some(md5_hex(bytes).as_str()),
        format!("{what}: contentProperties.md5")
    );
    Ok(())
}

/// Fail unless downloading `node` gives 200 and exactly `bytes`.
pub(crate) async fn ensure_download(api: &Api, node: &str, bytes: &[u8]) -> Result<(), Failure> {
    let reply = api.download(node, None).await;
    reply.expect(200, &format!("GET nodes/{node}/content"))?;
    ensure!(
        reply.body.as_ref() == bytes,
        format!(
            "the {} uploaded bytes (md5 {})",
            bytes.len(),
            md5_hex(bytes)
        ),
        "{} bytes (md5 {})",
        reply.body.len(),
        md5_hex(&reply.body)
    );
    Ok(())
}

/// Upload `len` seeded bytes as `name`, then check the reply, the node by id and the download.
async fn roundtrip(ctx: &Ctx, parent: &str, name: &str, len: usize) -> Result<(), Failure> {
    let api = ctx.api();
    let bytes = unique_bytes(ctx, len, 0);
    let reply = api
        .upload(
            parent,
            name,
            bytes.clone(),
            &[("suppress", "deduplication")],
        )
        .await;
    reply.expect(201, &format!("upload {name:?} ({len} bytes)"))?;
    let node = reply.json();
    ctx.record(&format!("upload_{len}"), &node);
    ensure_content(&node, &bytes, &format!("the upload reply for {len} bytes"))?;
    let by_id = get_node(&api, &id(&node)).await?;
    ensure_content(&by_id, &bytes, &format!("GET nodes/{{id}} for {len} bytes"))?;
    ensure_download(&api, &id(&node), &bytes).await
}

/// Empty file roundtrip (§6.5, §6.7, §8.13).
async fn empty_file_roundtrip(ctx: Ctx) -> Result<(), Failure> {
    let parent = ctx.folder().await?;
    roundtrip(&ctx, &parent, "empty.bin", 0).await
}

/// One byte roundtrip (§6.5, §6.7).
async fn one_byte_roundtrip(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(1)?;
    let parent = ctx.folder().await?;
    roundtrip(&ctx, &parent, "one.bin", 1).await
}

/// Sizes around 64 kib (§6.5, §6.7).
async fn sizes_around_64_kib(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(3 * 65536)?;
    let parent = ctx.folder().await?;
    for len in [65535, 65536, 65537] {
        roundtrip(&ctx, &parent, &format!("f{len}.bin"), len).await?;
    }
    Ok(())
}

/// Sizes around 1 mib (§6.5, §6.7).
async fn sizes_around_1_mib(ctx: Ctx) -> Result<(), Failure> {
    const MIB: usize = 1 << 20;
    ctx.budget(3 * MIB as u64 + 1)?;
    let parent = ctx.folder().await?;
    for len in [MIB - 1, MIB, MIB + 1] {
        roundtrip(&ctx, &parent, &format!("f{len}.bin"), len).await?;
    }
    Ok(())
}

/// Streamed chunked upload (§6.5).
async fn streamed_chunked_upload(ctx: Ctx) -> Result<(), Failure> {
    const LEN: usize = 300_001;
    ctx.budget(LEN as u64)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let bytes = unique_bytes(&ctx, LEN, 0);
    // Odd-sized chunks and no length: the multipart body goes out chunked, as
    // go-acd streams it through a pipe.
    let part = || {
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = bytes
            .chunks(7_777)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        named_part(Part::stream(body), "streamed.bin")
    };
    let reply = upload_part(
        &api,
        &parent,
        "streamed.bin",
        part,
        &[("suppress", "deduplication")],
    )
    .await;
    ctx.record("streamed_upload", &reply.json());
    reply.expect(201, "a chunked upload")?;
    let node = reply.json();
    ensure_content(&node, &bytes, "the chunked upload reply")?;
    ensure_download(&api, &id(&node), &bytes).await
}

/// Upload reply carries content properties (§6.5, §4, §12.3).
async fn upload_reply_carries_content_properties(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(64)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let bytes = unique_bytes(&ctx, 64, 0);
    let reply = api
        .upload(
            &parent,
            "notes.txt",
            bytes.clone(),
            &[("suppress", "deduplication")],
        )
        .await;
    ctx.record("upload", &reply.json());
    reply.expect(201, "upload notes.txt")?;
    let node = reply.json();
    ensure!(!id(&node).is_empty(), "an id", "{node}");
    ensure_eq!(node["name"].as_str(), Some("notes.txt"), "name");
    ensure_eq!(node["kind"].as_str(), Some("FILE"), "kind");
    ensure_eq!(node["status"].as_str(), Some("AVAILABLE"), "status");
    ensure_eq!(node["parents"].clone(), json!([parent]), "parents");
    for field in ["createdDate", "modifiedDate"] {
        ensure!(
            is_timestamp(&node[field]),
            format!("{field} as a time"),
            "{}",
            node[field]
        );
    }
    ensure!(
        node["version"].is_u64(),
        "an integer version",
        "{}",
        node["version"]
    );
    let cp = &node["contentProperties"];
    ensure_content(&node, &bytes, "the upload reply")?;
    ensure_eq!(
        cp["extension"].as_str(),
        Some("txt"),
        "contentProperties.extension"
    );
    ensure!(
        cp["contentType"].as_str().is_some_and(|t| t.contains('/')),
        "contentProperties.contentType as a MIME type",
        "{}",
        cp["contentType"]
    );
    ensure_eq!(cp["version"].as_u64(), Some(1), "contentProperties.version");
    ensure!(
        is_timestamp(&cp["contentDate"]),
        "contentProperties.contentDate as a time",
        "{}",
        cp["contentDate"]
    );
    Ok(())
}

/// Metadata name wins over part filename (§6.5).
async fn metadata_name_wins_over_part_filename(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(100)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let bytes = unique_bytes(&ctx, 100, 0);
    let part = || named_part(Part::bytes(bytes.clone()), "foo");
    let reply = upload_part(
        &api,
        &parent,
        "chosen-name.dat",
        part,
        &[("suppress", "deduplication")],
    )
    .await;
    reply.expect(201, "upload with a different part filename")?;
    let node = reply.json();
    ensure_eq!(node["name"].as_str(), Some("chosen-name.dat"), "name");
    let listed = api.children(&parent).await?;
    let names: Vec<&str> = listed.iter().filter_map(|n| n["name"].as_str()).collect();
    ensure!(
        !names.contains(&"foo"),
        "no node named after the part's filename",
        "{names:?}"
    );
    Ok(())
}

/// Duplicate content refused without suppress (§6.5, §12.14).
async fn duplicate_content_refused_without_suppress(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(2 * 4096)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let bytes = unique_bytes(&ctx, 4096, 0);
    // Content no file of the account has: accepted without suppress.
    let first = api
        .upload(&parent, "original.bin", bytes.clone(), &[])
        .await;
    first.expect(201, "upload of new content without suppress=deduplication")?;
    let original = first.json();
    let again = api.upload(&parent, "copy.bin", bytes.clone(), &[]).await;
    ctx.record("duplicate", &again.json());
    ensure!(
        (400..500).contains(&again.status),
        "a 4xx refusal (\"Attempted to upload a duplicate File\")",
        "HTTP {}: {}",
        again.status,
        again.text()
    );
    ensure!(
        again.text().contains("duplicate"),
        "a message about a duplicate file",
        "{}",
        again.text()
    );
    if again.status == 409 {
        // The conflicting node, as for NAME_ALREADY_EXISTS (the mock's documented shape).
        let info = again.json()["info"]["nodeId"].clone();
        ensure!(
            info.is_null() || info.as_str() == Some(id(&original).as_str()),
            format!("info.nodeId absent or {}", id(&original)),
            "{info}"
        );
    }
    wait_listed(&ctx, &api, &parent, &id(&original), true).await?;
    let ids = child_ids(&api, &parent).await?;
    ensure_eq!(
        ids,
        vec![id(&original)],
        "the live children after the refusal"
    );
    Ok(())
}

/// Duplicate content accepted with suppress (§6.5).
async fn duplicate_content_accepted_with_suppress(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(2 * 4096)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let bytes = unique_bytes(&ctx, 4096, 0);
    let a = api.file(&parent, "a.bin", &bytes).await?;
    let b = api.file(&parent, "b.bin", &bytes).await?;
    ctx.record("second_copy", &b);
    ensure!(id(&a) != id(&b), "two distinct nodes", "one id {}", id(&a));
    ensure_content(&b, &bytes, "the second copy")?;
    ensure_download(&api, &id(&b), &bytes).await
}

/// Empty files are never duplicates (§12.14, §8.13).
async fn empty_files_are_never_duplicates(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let mut ids = Vec::new();
    for name in ["empty-1", "empty-2", "empty-3"] {
        let reply = api.upload(&parent, name, Vec::new(), &[]).await;
        ctx.record("empty_upload", &reply.json());
        reply.expect(201, &format!("an empty upload {name:?} without suppress"))?;
        ensure_content(&reply.json(), &[], name)?;
        ensure_eq!(
            reply.json()["contentProperties"]["md5"].as_str(),
            Some(EMPTY_MD5),
            "the md5 of an empty file"
        );
        ids.push(id(&reply.json()));
    }
    ids.sort();
    ids.dedup();
    ensure_eq!(ids.len(), 3, "distinct empty files");
    Ok(())
}

/// Upload name clash is 409 (§6.5, §7.1).
async fn upload_name_clash_is_409(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(2 * 32)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let first = api
        .file(&parent, "same.txt", &unique_bytes(&ctx, 32, 1))
        .await?;
    let reply = api
        .upload(
            &parent,
            "same.txt",
            unique_bytes(&ctx, 32, 2),
            &[("suppress", "deduplication")],
        )
        .await;
    ctx.record("name_clash", &reply.json());
    reply.expect(409, "an upload onto an existing name")?;
    let body = reply.json();
    ensure_eq!(body["code"].as_str(), Some("NAME_ALREADY_EXISTS"), "code");
    ensure_eq!(
        body["info"]["nodeId"].as_str(),
        Some(id(&first).as_str()),
        "info.nodeId"
    );
    Ok(())
}

/// Upload to missing parent is 400 (§6.5).
async fn upload_to_missing_parent_is_400(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(16)?;
    let api = ctx.api();
    let reply = api
        .upload(
            MISSING_ID,
            "lost.bin",
            unique_bytes(&ctx, 16, 0),
            &[("suppress", "deduplication")],
        )
        .await;
    ctx.record("missing_parent", &reply.json());
    reply.expect(400, "an upload into a parent that does not exist")?;
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        empty_file_roundtrip("§6.5, §6.7, §8.13", []),
        one_byte_roundtrip("§6.5, §6.7", []),
        sizes_around_64_kib("§6.5, §6.7", []),
        sizes_around_1_mib("§6.5, §6.7", []),
        streamed_chunked_upload("§6.5", []),
        upload_reply_carries_content_properties("§6.5, §4, §12.3", []),
        metadata_name_wins_over_part_filename("§6.5", []),
        duplicate_content_refused_without_suppress("§6.5, §12.14", []),
        duplicate_content_accepted_with_suppress("§6.5", []),
        empty_files_are_never_duplicates("§12.14, §8.13", []),
        upload_name_clash_is_409("§6.5, §7.1", []),
        upload_to_missing_parent_is_400("§6.5", []),
    ]
}
