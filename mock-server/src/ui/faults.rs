//! The Faults page: the seed, the switches, each rule with its match and fire counts (kept
//! current by the page's script), and forms to add a rule (TOML or JSON), delete one, switch to
//! a built-in profile, or clear them all.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;

use super::escape::Esc;
use super::layout::{Nav, csrf_field, html, page, read_form, see_other};
use crate::faults::FaultPlan;
use crate::faults::profiles::{self, BUILT_IN};
use crate::faults::rule::Rule;
use crate::state::AppState;
use crate::state::AppStateRef;

/// The page, with an optional error about the last submission and the text to refill.
fn render(state: &AppState, error: Option<&str>, draft: &str, format: &str) -> String {
    let faults = &state.faults;
    let settings = serde_json::to_string_pretty(&faults.settings()).unwrap_or_default();
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>Seed <code id=\"seed\">{}</code> · pending phantom uploads <span id=\"phantoms\">{}</span> \
         · <span id=\"live\" class=\"live\">counts update live with JavaScript; reload otherwise</span></p>\
         <h2>Switches</h2><pre id=\"settings\">{}</pre><h2>Rules</h2>",
        faults.seed(),
        faults.phantoms.pending(),
        Esc(&settings)
    );
    let rules = faults.rules();
    if rules.is_empty() {
        body.push_str("<p id=\"no-rules\" class=\"muted\">No rules.</p>");
    }
    body.push_str(
        "<table id=\"rules\"><thead><tr><th>Id</th><th>Scope</th><th>Match</th><th>Action</th>\
         <th>Trigger</th><th>Matches</th><th>Fired</th><th></th></tr></thead><tbody>",
    );
    for rule in &rules {
        let r = &rule.rule;
        let json =
            |v: serde_json::Result<serde_json::Value>| v.map(|v| v.to_string()).unwrap_or_default();
        let _ = write!(
            body,
            "<tr data-rule=\"{id}\"><td class=\"id\">{id}</td><td>{scope}</td><td><code>{m}</code></td>\
             <td><code>{a}</code></td><td><code>{t}</code></td><td class=\"matches\">{matches}</td>\
             <td class=\"fired\">{fired}</td><td><form method=\"post\" action=\"/_mock/ui/faults/delete\">\
             {csrf}<input type=\"hidden\" name=\"id\" value=\"{id}\"><button type=\"submit\" class=\"delete\">Delete</button>\
             </form></td></tr>",
            id = Esc(&r.id),
            scope = Esc(r.scope.as_deref().unwrap_or("")),
            m = Esc(&json(serde_json::to_value(&r.matcher))),
            a = Esc(&json(serde_json::to_value(&r.action))),
            t = Esc(&json(serde_json::to_value(&r.trigger))),
            matches = rule.matches.load(Ordering::SeqCst),
            fired = rule.fired.load(Ordering::SeqCst),
            csrf = csrf_field(state),
        );
    }
    body.push_str("</tbody></table>");
    if let Some(error) = error {
        let _ = write!(
            body,
            "<p id=\"rule-error\" class=\"error\">{}</p>",
            Esc(error)
        );
    }
    let checked = |f: &str| if f == format { " checked" } else { "" };
    let _ = write!(
        body,
        "<h2>Add a rule</h2><form id=\"add-rule\" method=\"post\" action=\"/_mock/ui/faults/add\">{csrf}\
         <p>One rule, or several as <code>[[rules]]</code> (TOML, the profile format) or \
         <code>{{\"rules\": [...]}}</code> (JSON). See docs/mock-behaviour.md.</p>\
         <label><input type=\"radio\" name=\"format\" value=\"toml\"{toml}> TOML</label> \
         <label><input type=\"radio\" name=\"format\" value=\"json\"{json}> JSON</label><br>\
         <textarea id=\"rule-text\" name=\"rule\" rows=\"8\" cols=\"80\" spellcheck=\"false\" \
         placeholder='action = {{ kind = \"error\", error = \"server_error\" }}&#10;match = {{ operation = \"upload\" }}&#10;trigger = {{ first = 1 }}'>{draft}</textarea><br>\
         <button type=\"submit\" id=\"add-rule-submit\">Add</button></form>\
         <h2>Profiles and clearing</h2><form id=\"switch-profile\" method=\"post\" action=\"/_mock/ui/faults/profile\">{csrf}\
         <select name=\"profile\" id=\"profile\">",
        csrf = csrf_field(state),
        toml = checked("toml"),
        json = checked("json"),
        draft = Esc(draft),
    );
    for (name, _) in BUILT_IN {
        let _ = write!(body, "<option value=\"{name}\">{name}</option>");
    }
    let _ = write!(
        body,
        "</select> <button type=\"submit\">Switch to this profile</button> (replaces every rule and switch; \
         the seed stays)</form><form id=\"clear-rules\" method=\"post\" action=\"/_mock/ui/faults/clear\">{}\
         <button type=\"submit\">Clear all rules</button></form>",
        csrf_field(state)
    );
    page(state, Nav::Faults, "Faults", &body)
}

/// `GET /_mock/ui/faults`.
pub async fn show(state: AppStateRef) -> Response {
    html(StatusCode::OK, render(&state, None, "", "toml"))
}

/// Parses the rule text of the form: TOML (one rule, or the profile format with
/// `[[rules]]` and an optional `[settings]`) or JSON (one rule or `{"rules": [...]}`).
fn parse_rules(text: &str, format: &str) -> Result<(Vec<Rule>, Option<FaultPlan>), String> {
    if format == "json" {
        #[derive(serde::Deserialize)]
        struct Many {
            rules: Vec<Rule>,
        }
        if let Ok(many) = serde_json::from_str::<Many>(text) {
            return Ok((many.rules, None));
        }
        return serde_json::from_str::<Rule>(text)
            .map(|rule| (vec![rule], None))
            .map_err(|e| format!("Invalid fault rule: {e}"));
    }
    match toml::from_str::<Rule>(text) {
        Ok(rule) => Ok((vec![rule], None)),
        Err(single) => match toml::from_str::<FaultPlan>(text) {
            Ok(plan) => {
                let has_settings =
                    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("settings"));
                let rules = plan.rules.clone();
                Ok((rules, has_settings.then_some(plan)))
            }
            Err(plan) if text.contains("[[rules]]") || text.contains("[settings]") => {
                Err(format!("Invalid fault TOML: {plan}"))
            }
            Err(_) => Err(format!("Invalid fault rule: {single}")),
        },
    }
}

/// `POST /_mock/ui/faults/add`: adds the rules of the form (all or none).
pub async fn add(state: AppStateRef, request: Request) -> Response {
    let form = match read_form(&state, request.into_body()).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let text = form.get("rule").map(String::as_str).unwrap_or("");
    let format = if form.get("format").map(String::as_str) == Some("json") {
        "json"
    } else {
        "toml"
    };
    let outcome = parse_rules(text, format).and_then(|(rules, plan)| {
        for rule in &rules {
            rule.validate().map_err(|e| e.to_string())?;
        }
        let ids = state.faults.add(rules).map_err(|e| e.to_string())?;
        if let Some(plan) = plan {
            state.faults.set_settings(plan.settings);
        }
        Ok(ids)
    });
    match outcome {
        Ok(_) => see_other("/_mock/ui/faults"),
        Err(error) => html(
            StatusCode::BAD_REQUEST,
            render(&state, Some(&error), text, format),
        ),
    }
}

/// `POST /_mock/ui/faults/delete`: removes the rule named by the `id` field.
pub async fn delete(state: AppStateRef, request: Request) -> Response {
    let form = match read_form(&state, request.into_body()).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let id = form.get("id").map(String::as_str).unwrap_or("");
    if state.faults.remove(id) {
        see_other("/_mock/ui/faults")
    } else {
        let error = format!("No fault rule {id}");
        html(
            StatusCode::NOT_FOUND,
            render(&state, Some(&error), "", "toml"),
        )
    }
}

/// `POST /_mock/ui/faults/profile`: replaces the rules and switches with a built-in profile's.
pub async fn profile(state: AppStateRef, request: Request) -> Response {
    let form = match read_form(&state, request.into_body()).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let name = form.get("profile").map(String::as_str).unwrap_or("");
    let Some((name, text)) = BUILT_IN.iter().find(|(n, _)| *n == name) else {
        let error = format!("No built-in profile {name}");
        return html(
            StatusCode::BAD_REQUEST,
            render(&state, Some(&error), "", "toml"),
        );
    };
    let plan = match profiles::parse(name, text) {
        Ok(plan) => plan,
        Err(error) => {
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                render(&state, Some(&error.to_string()), "", "toml"),
            );
        }
    };
    state.faults.clear(None);
    if let Err(error) = state.faults.add(plan.rules) {
        return html(
            StatusCode::INTERNAL_SERVER_ERROR,
            render(&state, Some(&error.to_string()), "", "toml"),
        );
    }
    state.faults.set_settings(plan.settings);
    see_other("/_mock/ui/faults")
}

/// `POST /_mock/ui/faults/clear`: removes every rule (the switches stay).
pub async fn clear(state: AppStateRef, request: Request) -> Response {
    match read_form(&state, request.into_body()).await {
        Ok(_) => {
            state.faults.clear(None);
            see_other("/_mock/ui/faults")
        }
        Err(refused) => refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_text_parses_in_every_accepted_form() {
        let one_toml = "id = \"a\"\naction = { kind = \"reset\" }";
        let (rules, plan) = parse_rules(one_toml, "toml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((rules.len(), plan.is_none()), (1, true));
        let many_toml = "[settings]\napp_revoked = false\n[[rules]]\naction = { kind = \"reset\" }\n\
                         [[rules]]\naction = { kind = \"reset\" }";
        let (rules, plan) = parse_rules(many_toml, "toml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((rules.len(), plan.is_some()), (2, true));
        let one_json = r#"{"action": {"kind": "reset"}}"#;
        assert_eq!(parse_rules(one_json, "json").map(|r| r.0.len()), Ok(1));
        let many_json = r#"{"rules": [{"action": {"kind": "reset"}}]}"#;
        assert_eq!(parse_rules(many_json, "json").map(|r| r.0.len()), Ok(1));
        let bad = parse_rules("action = { kind = \"explode\" }", "toml").err();
        assert!(bad.is_some_and(|e| e.contains("explode")));
    }
}
