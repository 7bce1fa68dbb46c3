//! The Requests page: the journal, newest first, filterable; new rows arrive live (the
//! page's script follows `/_mock/events` with the same filter); a row opens its details.

use std::fmt::Write as _;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;

use super::escape::{Esc, url_component};
use super::filter::{OPERATIONS, RequestFilter};
use super::layout::{Nav, UiError, UiResult, html, page};
use crate::extract::Params;
use crate::journal::Entry;
use crate::state::AppStateRef;

/// How many rows the page renders (the journal keeps more; filters reach them all).
const ROWS: usize = 500;

/// One table row of an entry (the script builds the same cells for live rows).
fn row(out: &mut String, e: &Entry) {
    let target = match &e.query {
        Some(q) => format!("{}?{q}", e.path),
        None => e.path.clone(),
    };
    let class = match e.status {
        0 | 500.. => "s5",
        400..=499 => "s4",
        _ => "s2",
    };
    let _ = write!(
        out,
        "<tr data-seq=\"{seq}\"><td><a class=\"open\" href=\"/_mock/ui/requests/{seq}\">{seq}</a></td>\
         <td>{time}</td><td>{method}</td><td class=\"path\">{target}</td><td>{op}</td>\
         <td>{account}</td><td>{scope}</td><td class=\"{class}\">{status}</td><td>{ms:.1}</td><td>{fault}</td></tr>",
        seq = e.seq,
        time = Esc(&e.time),
        method = Esc(&e.method),
        target = Esc(&target),
        op = Esc(e.operation.name()),
        account = Esc(e.account.as_deref().unwrap_or("")),
        scope = Esc(e.scope.as_deref().unwrap_or("")),
        status = e.status,
        ms = e.duration_ms,
        fault = Esc(e.fault.as_deref().unwrap_or("")),
    );
}

/// `GET /_mock/ui`: the Requests page.
pub async fn list(state: AppStateRef, params: Params) -> UiResult<Response> {
    let filter = RequestFilter::from_params(&params)?;
    let last = state.journal.last_seq();
    let entries: Vec<Entry> = state
        .journal
        .entries_after(0)
        .into_iter()
        .rev()
        .filter(|e| e.seq <= last && filter.matches(e))
        .take(ROWS)
        .collect();
    let chosen = params.get("operation").unwrap_or("");
    let mut body = String::new();
    body.push_str(
        "<form id=\"filter\" class=\"filter\" method=\"get\" action=\"/_mock/ui\">\
         <label>Operation <select name=\"operation\" id=\"f-operation\"><option value=\"\">any</option>",
    );
    for op in OPERATIONS {
        let selected = if op.name() == chosen { " selected" } else { "" };
        let _ = write!(
            body,
            "<option value=\"{0}\"{selected}>{0}</option>",
            op.name()
        );
    }
    let _ = write!(
        body,
        "</select></label> <label>Status <input name=\"status\" id=\"f-status\" size=\"5\" \
         placeholder=\"5xx\" value=\"{}\"></label> <label>Scope <input name=\"scope\" \
         id=\"f-scope\" value=\"{}\"></label> <button type=\"submit\">Filter</button> \
         <a href=\"/_mock/ui\">clear</a> <span id=\"live\" class=\"live\">live updates need JavaScript</span></form>",
        Esc(params.get("status").unwrap_or("")),
        Esc(params.get("scope").unwrap_or("")),
    );
    // The script follows the event stream from here, with the same filter.
    let mut events = format!("/_mock/events?after={last}");
    for key in ["operation", "status", "scope"] {
        if let Some(value) = params.get(key).filter(|v| !v.trim().is_empty()) {
            let _ = write!(events, "&{key}={}", url_component(value));
        }
    }
    let _ = write!(
        body,
        "<table id=\"requests\" data-events=\"{}\"><thead><tr><th>#</th><th>Time</th>\
         <th>Method</th><th>Path</th><th>Operation</th><th>Account</th><th>Scope</th><th>Status</th>\
         <th>ms</th><th>Fault</th></tr></thead><tbody>",
        Esc(&events)
    );
    for entry in &entries {
        row(&mut body, entry);
    }
    body.push_str("</tbody></table>");
    if entries.is_empty() {
        body.push_str("<p id=\"empty\" class=\"muted\">No requests yet.</p>");
    }
    Ok(html(
        StatusCode::OK,
        page(&state, Nav::Requests, "Requests", &body),
    ))
}

/// `GET /_mock/ui/requests/{seq}`: one entry as the journal holds it.
pub async fn detail(state: AppStateRef, Path(seq): Path<String>) -> UiResult<Response> {
    let entry = seq
        .parse::<u64>()
        .ok()
        .and_then(|seq| state.journal.entry(seq))
        .ok_or_else(|| {
            UiError::not_found(format!(
                "No request {seq} in the journal (it keeps the latest 10,000)"
            ))
        })?;
    let json = serde_json::to_string_pretty(&entry).unwrap_or_default();
    let mut body = String::from("<table class=\"fields\" id=\"detail\">");
    let fields: [(&str, String); 11] = [
        ("Sequence", entry.seq.to_string()),
        ("Time", entry.time.clone()),
        ("Method", entry.method.clone()),
        ("Path", entry.path.clone()),
        ("Query", entry.query.clone().unwrap_or_default()),
        ("Operation", entry.operation.name().to_string()),
        ("Account", entry.account.clone().unwrap_or_default()),
        ("Status", entry.status.to_string()),
        ("Duration", format!("{:.1} ms", entry.duration_ms)),
        ("Scope", entry.scope.clone().unwrap_or_default()),
        ("Fault", entry.fault.clone().unwrap_or_default()),
    ];
    for (name, value) in &fields {
        let _ = write!(body, "<tr><th>{name}</th><td>{}</td></tr>", Esc(value));
    }
    let _ = write!(
        body,
        "<tr><th>Authorization</th><td>{}</td></tr></table><h2>As JSON</h2><pre id=\"entry-json\">{}</pre>\
         <p><a href=\"/_mock/ui\">All requests</a></p>",
        Esc(entry.authorization.as_deref().unwrap_or("")),
        Esc(&json)
    );
    let title = format!("Request {}", entry.seq);
    Ok(html(
        StatusCode::OK,
        page(&state, Nav::Requests, &title, &body),
    ))
}
