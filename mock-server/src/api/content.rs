//! The content API: upload, overwrite, download with Range, tempLink fetch (reference §6.5-6.7).

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::Field;
use axum::extract::{FromRequest, Multipart, Path, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::api::nodes::{created_by, valid_local_id, valid_name};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, UNREADABLE_REQUEST};
use crate::extract::Params;
use crate::faults::hooks::{DownloadFate, FinishedUpload, PhantomPlan, UploadFate};
use crate::faults::layer::mark;
use crate::faults::phantom::{Pending, Phantom};
use crate::faults::rule::RequestFacts;
use crate::operation::Operation;
use crate::state::AppState;
use crate::state::AppStateRef;
use crate::store::blobs::Written;
use crate::store::meta::NewNode;
use crate::store::node::{AVAILABLE, Content, FILE, Node, PENDING, content_type_of, extension_of};
use md5::Digest as _;

/// Largest metadata part accepted.
const MAX_METADATA: usize = 64 * 1024;

/// Refuses a body with neither `Content-Length` nor chunked framing (411).
fn require_length(headers: &HeaderMap) -> ApiResult<()> {
    if is_chunked(headers) || headers.contains_key(header::CONTENT_LENGTH) {
        Ok(())
    } else {
        Err(ApiError::LengthRequired)
    }
}

async fn multipart(request: Request) -> ApiResult<Multipart> {
    require_length(request.headers())?;
    Multipart::from_request(request, &()).await.map_err(|e| {
        ApiError::bad_request(format!(
            "Expected a multipart/form-data body: {}",
            e.body_text()
        ))
    })
}

async fn next_field(parts: &mut Multipart) -> ApiResult<Option<Field<'_>>> {
    parts.next_field().await.map_err(unreadable)
}

/// The service's bare 400 for an upload body it could not read (§6.5); the parser's reason is
/// logged, never sent.
fn unreadable(error: axum::extract::multipart::MultipartError) -> ApiError {
    tracing::debug!(reason = %error.body_text(), "unreadable upload body");
    ApiError::Upload(UNREADABLE_REQUEST)
}

/// Streams a content part to a new blob, hashing it on the way. `corrupt_at`: a
/// `corrupt_stored` fault flips the byte at that offset (the last byte if the content is
/// shorter), so the blob and its md5 are of damaged content.
async fn store_part(
    state: &AppState,
    mut field: Field<'_>,
    corrupt_at: Option<u64>,
) -> ApiResult<Written> {
    let mut writer = state.blobs.writer();
    let mut at = 0u64;
    // The last chunk is held back while a corruption may still land in it.
    let mut held: Option<bytes::Bytes> = None;
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                let start = at;
                at += chunk.len() as u64;
                let chunk = match corrupt_at {
                    Some(offset) if offset >= start && offset < at => {
                        corrupt_at_offset(chunk, offset - start)
                    }
                    _ => chunk,
                };
                if corrupt_at.is_some_and(|offset| offset >= at) {
                    if let Some(previous) = held.replace(chunk) {
                        writer.write(previous).await?;
                    }
                } else {
                    if let Some(previous) = held.take() {
                        writer.write(previous).await?;
                    }
                    writer.write(chunk).await?;
                }
            }
            Ok(None) => {
                // The offset was past the end: the last byte is flipped instead.
                if let Some(last) = held.take() {
                    let end = last.len().saturating_sub(1) as u64;
                    writer.write(corrupt_at_offset(last, end)).await?;
                }
                break;
            }
            Err(e) => return Err(unreadable(e)),
        }
    }
    writer.finish().await
}

/// `chunk` with the byte at `offset` inverted (unchanged if `offset` is outside it).
fn corrupt_at_offset(chunk: bytes::Bytes, offset: u64) -> bytes::Bytes {
    let mut bytes = chunk.to_vec();
    if let Some(byte) = usize::try_from(offset).ok().and_then(|i| bytes.get_mut(i)) {
        *byte = !*byte;
    }
    bytes::Bytes::from(bytes)
}

/// Reads a small part whole.
async fn small_part(mut field: Field<'_>) -> ApiResult<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        if out.len() + chunk.len() > MAX_METADATA {
            return Err(ApiError::bad_request("The metadata part is too large"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
struct UploadMetadata {
    name: Option<String>,
    kind: Option<String>,
    parents: Option<Vec<String>>,
    #[serde(default)]
    labels: Vec<String>,
    description: Option<String>,
    /// The client's own id for the node (§6.5).
    #[serde(rename = "localId")]
    local_id: Option<String>,
}

fn content_of(name: &str, part_type: Option<&str>, written: &Written, now: i64) -> Content {
    let mut content_type = content_type_of(name);
    if content_type == "application/octet-stream"
        && let Some(t) = part_type.filter(|t| !t.is_empty())
    {
        content_type = t.to_string();
    }
    Content {
        size: written.size,
        md5: written.md5.clone(),
        content_type,
        extension: extension_of(name),
        version: 1,
        date: now,
        blob: written.blob.stored(),
    }
}

/// The content's fate by the fault switches and rules, now that its size is known.
fn fate_of(
    state: &AppState,
    caller: &Caller,
    chunked: bool,
    written: &Written,
    facts: &RequestFacts<'_>,
) -> UploadFate {
    let upload = FinishedUpload {
        size: written.size,
        chunked,
        token_expires: caller.expires,
        now_ms: state.now_ms(),
    };
    state.faults.finished_upload(facts, &upload)
}

fn is_chunked(headers: &HeaderMap) -> bool {
    headers
        .get(header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
}

/// `POST nodes[?suppress=deduplication]`, multipart: a `metadata` part, then the content
/// part (its field name and filename are ignored, as the service ignored them). 201 + node.
/// Without `suppress=deduplication`, non-empty content that an AVAILABLE file of the account
/// already has is refused with 409 (see the mock's docs).
pub async fn upload(
    state: AppStateRef,
    caller: Caller,
    params: Params,
    request: Request,
) -> ApiResult<Response> {
    let chunked = is_chunked(request.headers());
    let scope = request
        .headers()
        .get("x-acd-mock-scope")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut parts = multipart(request).await?;
    let field = next_field(&mut parts)
        .await?
        .ok_or_else(|| ApiError::bad_request("The metadata part is missing"))?;
    if field.name() != Some("metadata") {
        return Err(ApiError::bad_request(
            "The first part must be the metadata part",
        ));
    }
    let raw = small_part(field).await?;
    let meta: UploadMetadata = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::bad_request(format!("Invalid metadata JSON: {e}")))?;
    if meta.kind.as_deref().is_some_and(|k| k != FILE) {
        return Err(ApiError::bad_request("Uploads must have kind FILE"));
    }
    let name = valid_name(meta.name)?;
    let local_id = valid_local_id(meta.local_id.as_deref())?.map(str::to_string);
    let parents = meta
        .parents
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| vec![caller.account.root_id.clone()]);
    let field = next_field(&mut parts)
        .await?
        .ok_or_else(|| ApiError::bad_request("The content part is missing"))?;
    let part_type = field.content_type().map(str::to_string);
    let mut facts = RequestFacts {
        operation: Operation::Upload,
        method: "POST",
        path: "/cdproxy/nodes",
        scope: scope.as_deref(),
        account: Some(&caller.account.email),
        body_size: None,
    };
    let stored = state.faults.stored_content(&facts);
    let written = store_part(&state, field, stored.corrupt_at()).await?;
    // Anything after the content part (acd_cli sends stray text) is ignored.
    drop(parts);
    facts.body_size = Some(written.size);
    let fate = fate_of(&state, &caller, chunked, &written, &facts);
    if let UploadFate::Refuse { error, fault } = fate {
        state.blobs.remove(&written.blob.stored());
        return Ok(mark(error.into_response(), fault));
    }
    let content = content_of(&name, part_type.as_deref(), &written, state.now_ms());
    let node = NewNode {
        kind: FILE,
        name,
        parents,
        created_by: created_by(&caller),
        labels: meta.labels,
        description: meta.description,
        content: Some(content),
        status: AVAILABLE,
        hidden_ms: 0,
    };
    if let UploadFate::Phantom(plan) = fate {
        return Ok(phantom(
            &state,
            caller.account.id,
            node,
            local_id.as_deref(),
            plan,
        ));
    }
    let result = (|| {
        if !params.is("suppress", "deduplication")
            && written.size > 0
            && let Some(node_id) =
                state
                    .meta
                    .file_with_md5(caller.account.id, &written.md5, None)?
        {
            return Err(ApiError::Duplicate { node_id });
        }
        let hidden_ms = state.faults.listing_lag();
        state.meta.create_with_local_id(
            caller.account.id,
            NewNode { hidden_ms, ..node },
            Some(caller.account.quota),
            local_id.as_deref(),
        )
    })();
    match result {
        Ok(node) => Ok((StatusCode::CREATED, Json(node.json())).into_response()),
        Err(error) => {
            state.blobs.remove(&written.blob.stored());
            Err(error)
        }
    }
}

/// Keeps a finished upload back as a phantom and answers the rule's error: the node is stored
/// `PENDING` at once (behind the listing lag, its name free for another upload) and turns
/// `AVAILABLE` when due; one that never appears is dropped.
fn phantom(
    state: &AppState,
    account: i64,
    node: NewNode,
    local_id: Option<&str>,
    plan: PhantomPlan,
) -> Response {
    let blob = node.content.as_ref().map(|c| c.blob.clone());
    match plan.appear {
        None => {
            if let Some(blob) = blob {
                state.blobs.remove(&blob);
            }
        }
        Some(appear) => {
            let pending = NewNode {
                status: PENDING,
                hidden_ms: state.faults.listing_lag(),
                ..node
            };
            match state.meta.create_unchecked(account, pending, local_id) {
                Ok(created) => state.faults.phantoms.add(Phantom {
                    account,
                    pending: Pending::Upload { id: created.id },
                    appear,
                }),
                Err(error) => {
                    tracing::info!(%error, "a phantom upload could not be kept");
                    if let Some(blob) = blob {
                        state.blobs.remove(&blob);
                    }
                }
            }
        }
    }
    mark(plan.answer.into_response(), &plan.rule_id)
}

/// Keeps a finished overwrite back as a phantom and answers the rule's error: the node keeps
/// its content and version until the new content lands when due.
fn phantom_overwrite(
    state: &AppState,
    account: i64,
    id: &str,
    content: Content,
    plan: PhantomPlan,
) -> Response {
    match plan.appear {
        None => state.blobs.remove(&content.blob),
        Some(appear) => state.faults.phantoms.add(Phantom {
            account,
            pending: Pending::Overwrite {
                id: id.to_string(),
                content,
            },
            appear,
        }),
    }
    mark(plan.answer.into_response(), &plan.rule_id)
}

/// `PUT nodes/{id}/content`, multipart with the content part only (a metadata part, if sent,
/// is skipped). 200 + node with `version` and `contentProperties.version` bumped.
pub async fn overwrite(
    state: AppStateRef,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
    request: Request,
) -> ApiResult<Response> {
    let chunked = is_chunked(request.headers());
    let scope = request
        .headers()
        .get("x-acd-mock-scope")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let node = state
        .meta
        .node(caller.account.id, &id)?
        .ok_or_else(|| ApiError::node_not_found(&id))?;
    if !node.is_file() {
        return Err(ApiError::bad_request(format!("Node {id} is not a file")));
    }
    let mut parts = multipart(request).await?;
    let mut field = next_field(&mut parts)
        .await?
        .ok_or_else(|| ApiError::bad_request("The content part is missing"))?;
    if field.name() == Some("metadata") && field.file_name().is_none() {
        small_part(field).await?;
        field = next_field(&mut parts)
            .await?
            .ok_or_else(|| ApiError::bad_request("The content part is missing"))?;
    }
    let part_type = field.content_type().map(str::to_string);
    let path = format!("/cdproxy/nodes/{id}/content");
    let mut facts = RequestFacts {
        operation: Operation::Overwrite,
        method: "PUT",
        path: &path,
        scope: scope.as_deref(),
        account: Some(&caller.account.email),
        body_size: None,
    };
    let stored = state.faults.stored_content(&facts);
    let written = store_part(&state, field, stored.corrupt_at()).await?;
    drop(parts);
    facts.body_size = Some(written.size);
    let fate = fate_of(&state, &caller, chunked, &written, &facts);
    if let UploadFate::Refuse { error, fault } = fate {
        state.blobs.remove(&written.blob.stored());
        return Ok(mark(error.into_response(), fault));
    }
    let name = node.name.clone().unwrap_or_default();
    let content = content_of(&name, part_type.as_deref(), &written, state.now_ms());
    if let UploadFate::Phantom(plan) = fate {
        return Ok(phantom_overwrite(
            &state,
            caller.account.id,
            &id,
            content,
            plan,
        ));
    }
    // Deduplication applies to overwrites as to uploads unless suppressed (§6.6: clients
    // passed `suppress=deduplication` here too); the file's own content does not count.
    let duplicate = if params.is("suppress", "deduplication") || written.size == 0 {
        None
    } else {
        state
            .meta
            .file_with_md5(caller.account.id, &written.md5, Some(&id))?
    };
    if let Some(node_id) = duplicate {
        state.blobs.remove(&written.blob.stored());
        return Err(ApiError::Duplicate { node_id });
    }
    match state
        .meta
        .overwrite(caller.account.id, &id, content, Some(caller.account.quota))
    {
        Ok((node, old)) => {
            if let Some(old) = old {
                state.blobs.remove(&old);
            }
            Ok(Json(node.json()).into_response())
        }
        Err(error) => {
            state.blobs.remove(&written.blob.stored());
            Err(error)
        }
    }
}

/// `GET nodes/{id}/content`, honouring `Range`.
pub async fn download(
    state: AppStateRef,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let node = state
        .meta
        .node(caller.account.id, &id)?
        .ok_or_else(|| ApiError::node_not_found(&id))?;
    let size = node.content.as_ref().map_or(0, |c| c.size);
    if node.is_file() && state.faults.download(size) == DownloadFate::PresignedRedirect {
        return presigned_redirect(&state, &node);
    }
    serve(&state, &node, &headers)
}

/// The large-download block: a 307 to a presigned-style URL on the mock (reference §8.7).
fn presigned_redirect(state: &AppState, node: &Node) -> ApiResult<Response> {
    let token = state.meta.templink(&node.id, PRESIGNED_LIFETIME_MS, 0)?;
    let date = crate::util::format_ms(state.now_ms()).replace(['-', ':'], "");
    let date = format!("{}Z", &date[..15]);
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("X-Amz-Algorithm", "AWS4-HMAC-SHA256")
        .append_pair(
            "X-Amz-Credential",
            &format!("AKIAACDMOCK/{}/us-east-1/s3/aws4_request", &date[..8]),
        )
        .append_pair("X-Amz-Date", &date)
        .append_pair("X-Amz-Expires", &(PRESIGNED_LIFETIME_MS / 1000).to_string())
        .append_pair("X-Amz-SignedHeaders", "host")
        .append_pair(
            "X-Amz-Signature",
            &crate::store::blobs::hex(&md5::Md5::digest(token.as_bytes())).repeat(2),
        )
        .finish();
    let location = format!("{}/s3/{token}?{query}", state.base_url);
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    let value = HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.to_string()))?;
    response.headers_mut().insert(header::LOCATION, value);
    Ok(mark(response, "download_block"))
}

/// How long a presigned URL lives.
const PRESIGNED_LIFETIME_MS: i64 = 10 * 60 * 1000;

/// `GET /s3/{token}?X-Amz-...`: S3's answer to a presigned URL. A request that also carries
/// `Authorization` gets S3's 400 `InvalidArgument` ("Only one auth mechanism allowed"); others
/// get the bytes, with Range. An expired URL gets 403 `AccessDenied`.
pub async fn presigned(
    state: AppStateRef,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(ApiError::S3 {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidArgument",
            message: "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
                      Signature query string parameter or the Authorization header should be specified"
                .into(),
            argument: Some("Authorization"),
        });
    }
    let node = state
        .meta
        .templink_node(&token)?
        .ok_or_else(|| ApiError::S3 {
            status: StatusCode::FORBIDDEN,
            code: "AccessDenied",
            message: "Request has expired".into(),
            argument: None,
        })?;
    serve(&state, &node, &headers)
}

/// `GET templink/{token}`: the file behind a tempLink, without authentication. An unknown or
/// expired link is a 404 (clients re-request the link on 404 or 410).
pub async fn templink(
    state: AppStateRef,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let node = state
        .meta
        .templink_node(&token)?
        .ok_or_else(|| ApiError::NotFound("The tempLink does not exist or has expired".into()))?;
    serve(&state, &node, &headers)
}

/// A requested byte range, resolved against the file size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) Range header: the whole file.
    Full,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// Cannot be satisfied: 416.
    Unsatisfiable,
}

/// Resolves a `Range` header against a size. Malformed or multi-range headers are ignored
/// (the whole file is served), as RFC 9110 allows.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (start, end) = (start.trim(), end.trim());
    match (start.parse::<u64>().ok(), end.parse::<u64>().ok()) {
        (None, Some(suffix)) if start.is_empty() => {
            if suffix == 0 || size == 0 {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Part(size.saturating_sub(suffix), size - 1)
            }
        }
        (Some(first), last) if end.is_empty() || last.is_some() => {
            if first >= size {
                return RangeRequest::Unsatisfiable;
            }
            match last {
                Some(last) if last < first => RangeRequest::Full,
                Some(last) => RangeRequest::Part(first, last.min(size - 1)),
                None => RangeRequest::Part(first, size - 1),
            }
        }
        _ => RangeRequest::Full,
    }
}

/// Serves a file's bytes: 200, 206 with `Content-Range`, or 416.
fn serve(state: &AppState, node: &Node, headers: &HeaderMap) -> ApiResult<Response> {
    let content = node
        .content
        .as_ref()
        .filter(|_| node.is_file())
        .ok_or_else(|| ApiError::bad_request(format!("Node {} is not a file", node.id)))?;
    let size = content.size;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, len) = match parse_range(range, size) {
        RangeRequest::Full => (StatusCode::OK, 0, size),
        RangeRequest::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        RangeRequest::Unsatisfiable => {
            let mut response = (
                StatusCode::RANGE_NOT_SATISFIABLE,
                Json(serde_json::json!({"logref": crate::util::logref(), "message": "Requested range not satisfiable", "code": ""})),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(response);
        }
    };
    let stream = state.blobs.read(&content.blob, start, len)?;
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&content.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", content.md5)) {
        h.insert(header::ETAG, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + len - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Part(0, 4));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Part(5, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Part(0, 9));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Part(8, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=4-2"), 10), Full);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Full);
        assert_eq!(parse_range(Some("bytes=x-y"), 10), Full);
    }
}
