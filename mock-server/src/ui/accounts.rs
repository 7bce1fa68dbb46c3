//! The Accounts pages: each account's quota and usage, its tree (folders browsed a page of
//! children at a time), a node's JSON, file downloads, the trash, and minting a token (shown
//! once).

use std::fmt::Write as _;

use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::escape::{Esc, url_component};
use super::layout::{Nav, UiError, UiResult, bytes, csrf_field, html, page, read_form, time};
use crate::extract::Params;
use crate::state::AppState;
use crate::state::AppStateRef;
use crate::store::filter::Filter;
use crate::store::meta::{Account, Page};
use crate::store::node::Node;
use crate::tokens::issue_tokens;

/// Children per page of the tree view.
const PAGE: u32 = 50;

/// The account with this numeric id, or a 404 page.
fn account(state: &AppState, id: &str) -> UiResult<Account> {
    id.parse::<i64>()
        .ok()
        .map(|id| state.meta.account(id))
        .transpose()?
        .flatten()
        .ok_or_else(|| UiError::not_found(format!("No account {id}")))
}

/// The node of the account, or a 404 page.
fn node(state: &AppState, account: &Account, id: &str) -> UiResult<Node> {
    state
        .meta
        .node(account.id, id)?
        .ok_or_else(|| UiError::not_found(format!("Node does not exist: {id}")))
}

/// The `after` cursor of a paged view (a node sequence number).
fn after(params: &Params) -> UiResult<i64> {
    match params.get("after") {
        Some(v) => v
            .parse()
            .map_err(|_| UiError::bad_request("after must be a number")),
        None => Ok(0),
    }
}

fn node_href(account: &Account, id: &str) -> String {
    format!(
        "/_mock/ui/accounts/{}/nodes/{}",
        account.id,
        url_component(id)
    )
}

fn folder_href(account: &Account, id: &str) -> String {
    format!(
        "/_mock/ui/accounts/{}/tree?folder={}",
        account.id,
        url_component(id)
    )
}

/// `GET /_mock/ui/accounts`.
pub async fn list(state: AppStateRef) -> UiResult<Response> {
    let mut body = String::from(
        "<table id=\"accounts\"><thead><tr><th>Id</th><th>Email</th><th>Used</th><th>Quota</th>\
         <th>By category</th><th></th></tr></thead><tbody>",
    );
    for account in state.meta.accounts()? {
        let used = state.meta.used_bytes(account.id)?;
        let mut usage = String::new();
        for (category, size, count) in state.meta.usage(account.id)? {
            let _ = write!(
                usage,
                "{}: {} in {count} files; ",
                Esc(&category),
                bytes(size)
            );
        }
        let _ = write!(
            body,
            "<tr data-account=\"{id}\"><td>{id}</td><td class=\"email\">{email}</td><td>{used}</td><td>{quota}</td>\
             <td>{usage}</td><td><a href=\"/_mock/ui/accounts/{id}/tree\">Tree</a> · \
             <a href=\"/_mock/ui/accounts/{id}/trash\">Trash</a> · \
             <form class=\"inline\" method=\"post\" action=\"/_mock/ui/accounts/{id}/token\">{csrf}\
             <button type=\"submit\">Mint a token</button></form></td></tr>",
            id = account.id,
            email = Esc(&account.email),
            used = bytes(used),
            quota = bytes(account.quota),
            csrf = csrf_field(&state),
        );
    }
    body.push_str("</tbody></table>");
    Ok(html(
        StatusCode::OK,
        page(&state, Nav::Accounts, "Accounts", &body),
    ))
}

/// The folders from the root down to `folder`, as links.
fn breadcrumb(state: &AppState, account: &Account, folder: &Node) -> UiResult<String> {
    let mut chain = vec![folder.clone()];
    // Follow first parents up to the root (bounded: a corrupt tree cannot loop forever).
    while let Some(parent) = chain.last().and_then(|n| n.parents.first()).cloned() {
        if chain.len() > 64 {
            break;
        }
        match state.meta.node(account.id, &parent)? {
            Some(node) => chain.push(node),
            None => break,
        }
    }
    let mut out = String::from("<nav class=\"crumbs\" id=\"crumbs\">");
    for node in chain.iter().rev() {
        let name = if node.is_root {
            "(root)"
        } else {
            node.name.as_deref().unwrap_or("")
        };
        let _ = write!(
            out,
            " / <a href=\"{}\">{}</a>",
            Esc(&folder_href(account, &node.id)),
            Esc(name)
        );
    }
    out.push_str("</nav>");
    Ok(out)
}

/// A table of nodes with a link to the next page.
fn node_table(out: &mut String, account: &Account, page: &Page, next: Option<String>) {
    out.push_str(
        "<table id=\"nodes\"><thead><tr><th>Name</th><th>Kind</th><th>Size</th><th>Modified</th>\
         <th>Status</th><th></th></tr></thead><tbody>",
    );
    for node in &page.nodes {
        let name = node.name.as_deref().unwrap_or("(root)");
        let open = if node.is_folder() {
            folder_href(account, &node.id)
        } else {
            node_href(account, &node.id)
        };
        let size = node
            .content
            .as_ref()
            .map(|c| bytes(c.size))
            .unwrap_or_default();
        let download = if node.is_file() {
            format!(
                "<a class=\"download\" href=\"{}/content\">Download</a>",
                Esc(&node_href(account, &node.id))
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr data-id=\"{id}\"><td class=\"name\"><a class=\"open\" href=\"{open}\">{name}</a></td>\
             <td>{kind}</td><td>{size}</td><td>{modified}</td><td>{status}</td>\
             <td><a href=\"{json}\">JSON</a> {download}</td></tr>",
            id = Esc(&node.id),
            open = Esc(&open),
            name = Esc(name),
            kind = Esc(&node.kind),
            modified = time(node.modified),
            status = Esc(&node.status),
            json = Esc(&node_href(account, &node.id)),
        );
    }
    let _ = write!(
        out,
        "</tbody></table><p class=\"muted\">{} in all.",
        page.total
    );
    if let Some(next) = next {
        let _ = write!(
            out,
            " <a id=\"next-page\" href=\"{}\">Next page</a>",
            Esc(&next)
        );
    }
    out.push_str("</p>");
}

/// `GET /_mock/ui/accounts/{account}/tree?folder=ID&after=SEQ`: one page of a folder's
/// children (the root's by default), as a listing would show them now.
pub async fn tree(
    state: AppStateRef,
    Path(account_id): Path<String>,
    params: Params,
) -> UiResult<Response> {
    let account = account(&state, &account_id)?;
    let folder_id = params.get("folder").unwrap_or(&account.root_id).to_string();
    let folder = node(&state, &account, &folder_id)?;
    if !folder.is_folder() {
        return Err(UiError::bad_request(format!(
            "Node {folder_id} is not a folder"
        )));
    }
    let page = state.meta.search(
        account.id,
        &Filter::default(),
        Some(&folder.id),
        after(&params)?,
        PAGE,
    )?;
    let mut body = breadcrumb(&state, &account, &folder)?;
    let next = page
        .next_after
        .map(|seq| format!("{}&after={seq}", folder_href(&account, &folder.id)));
    node_table(&mut body, &account, &page, next);
    let _ = write!(
        body,
        "<p><a href=\"{}\">This folder's JSON</a> · <a href=\"/_mock/ui/accounts/{}/trash\">Trash</a></p>",
        Esc(&node_href(&account, &folder.id)),
        account.id
    );
    let title = format!("Tree of {}", account.email);
    Ok(html(StatusCode::OK, page_html(&state, &title, &body)))
}

fn page_html(state: &AppState, title: &str, body: &str) -> String {
    page(state, Nav::Accounts, title, body)
}

/// `GET /_mock/ui/accounts/{account}/trash?after=SEQ`.
pub async fn trash(
    state: AppStateRef,
    Path(account_id): Path<String>,
    params: Params,
) -> UiResult<Response> {
    let account = account(&state, &account_id)?;
    let page = state.meta.trash_page(account.id, after(&params)?, PAGE)?;
    let next = page
        .next_after
        .map(|seq| format!("/_mock/ui/accounts/{}/trash?after={seq}", account.id));
    let mut body = String::new();
    node_table(&mut body, &account, &page, next);
    let title = format!("Trash of {}", account.email);
    Ok(html(StatusCode::OK, page_html(&state, &title, &body)))
}

/// `GET /_mock/ui/accounts/{account}/nodes/{id}`: the node as the API returns it.
pub async fn show_node(
    state: AppStateRef,
    Path((account_id, id)): Path<(String, String)>,
) -> UiResult<Response> {
    let account = account(&state, &account_id)?;
    let node = node(&state, &account, &id)?;
    let json = serde_json::to_string_pretty(&node.json()).unwrap_or_default();
    let mut body = String::new();
    if node.is_file() {
        let _ = write!(
            body,
            "<p><a id=\"download\" class=\"download\" href=\"{}/content\">Download</a></p>",
            Esc(&node_href(&account, &node.id))
        );
    }
    body.push_str("<p>Parents: ");
    for parent in &node.parents {
        let _ = write!(
            body,
            "<a class=\"parent\" href=\"{}\">{}</a> ",
            Esc(&folder_href(&account, parent)),
            Esc(parent)
        );
    }
    let _ = write!(body, "</p><pre id=\"node-json\">{}</pre>", Esc(&json));
    let name = node.name.as_deref().unwrap_or("(root)");
    Ok(html(StatusCode::OK, page_html(&state, name, &body)))
}

/// The `Content-Disposition` of a download: an ASCII fallback name plus the exact UTF-8 name.
fn disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}")
}

/// `GET /_mock/ui/accounts/{account}/nodes/{id}/content`: the file's bytes, streamed, as an
/// attachment (no fault rules apply: this is not the API's download).
pub async fn download(
    state: AppStateRef,
    Path((account_id, id)): Path<(String, String)>,
) -> UiResult<Response> {
    let account = account(&state, &account_id)?;
    let node = node(&state, &account, &id)?;
    let content = node
        .content
        .as_ref()
        .filter(|_| node.is_file())
        .ok_or_else(|| UiError::bad_request(format!("Node {id} is not a file")))?;
    let stream = state.blobs.read(&content.blob, 0, content.size)?;
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(content.size));
    if let Ok(value) = HeaderValue::from_str(&disposition(node.name.as_deref().unwrap_or("file"))) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(super::layout::secure(response))
}

/// `POST /_mock/ui/accounts/{account}/token`: mints tokens and shows them this once.
pub async fn mint(
    state: AppStateRef,
    Path(account_id): Path<String>,
    request: Request,
) -> Response {
    if let Err(refused) = read_form(&state, request.into_body()).await {
        return refused;
    }
    let minted = account(&state, &account_id).and_then(|account| {
        let tokens = issue_tokens(
            &state.meta,
            account.id,
            "",
            None,
            state.config.token_lifetime,
        )?;
        Ok((account, tokens))
    });
    let (account, tokens) = match minted {
        Ok(minted) => minted,
        Err(error) => return error.into_response(),
    };
    let body = format!(
        "<p>Shown once: this page is not cached and the mock keeps no copy to show again.</p>\
         <table class=\"fields\"><tr><th>Access token</th><td><code id=\"minted-token\">{access}</code> \
         <button type=\"button\" class=\"copy\" data-copy=\"minted-token\">Copy</button></td></tr>\
         <tr><th>Refresh token</th><td><code id=\"minted-refresh\">{refresh}</code> \
         <button type=\"button\" class=\"copy\" data-copy=\"minted-refresh\">Copy</button></td></tr>\
         <tr><th>Expires in</th><td>{expires} s</td></tr></table>\
         <p><a href=\"/_mock/ui/accounts\">Accounts</a></p>",
        access = Esc(&tokens.access_token),
        refresh = Esc(&tokens.refresh_token),
        expires = tokens.expires_in,
    );
    let title = format!("Token for {}", account.email);
    html(StatusCode::OK, page_html(&state, &title, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_cannot_break_the_header() {
        let d = disposition("a\"b;c\r\nd é.txt");
        assert!(
            d.starts_with("attachment; filename=\"a_b_c__d _.txt\"; filename*=UTF-8''"),
            "{d}"
        );
        assert!(d.ends_with("a%22b%3Bc%0D%0Ad%20%C3%A9.txt"), "{d}");
        assert!(HeaderValue::from_str(&d).is_ok());
    }
}
