//! Names for what a request does, shared by the request journal and the fault layer, and the
//! route table ([`ROUTES`]) that gives them: a new endpoint is one line here beside its route in
//! [`crate::app::router`] (a test checks the two agree).
//!
//! The classification looks only at the method, the path and the `filters` parameter, so it can
//! run before routing and before authentication: a fault rule can match on it.

use std::fmt;

use axum::http::Method;

/// One operation of the API, named as fault rules and the journal name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `GET account/endpoint`.
    Endpoint,
    /// `POST /auth/o2/token`.
    Token,
    /// The sign-in page `/ap/oa`.
    SignIn,
    /// `GET nodes?filters=...isRoot:true`.
    Root,
    /// `GET nodes?filters=...name:...`.
    Lookup,
    /// Other searches, children and trash listings.
    List,
    /// `GET nodes/{id}`.
    GetNode,
    /// `POST nodes` (metadata).
    CreateFolder,
    /// `POST nodes` (content).
    Upload,
    /// `PUT nodes/{id}/content`.
    Overwrite,
    /// `GET nodes/{id}/content`.
    Download,
    /// `GET templink/{token}`.
    Templink,
    /// `PATCH nodes/{id}`.
    Patch,
    /// `POST nodes/{id}/children`.
    Move,
    /// `PUT nodes/{parent}/children/{child}`.
    AddParent,
    /// `DELETE nodes/{parent}/children/{child}`.
    RemoveParent,
    /// `PUT trash/{id}`.
    Trash,
    /// `POST trash/{id}/restore`.
    Restore,
    /// `DELETE nodes/{id}`.
    Purge,
    /// `POST changes`.
    Changes,
    /// `account/info`, `account/quota`, `account/usage`.
    Account,
    /// `nodes/{id}/properties/...`.
    Properties,
    /// `/_mock/...`.
    Admin,
    /// `CONNECT host:443` (interception).
    Connect,
    /// Anything else.
    Other,
}

impl Operation {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Endpoint => "endpoint",
            Self::Token => "token",
            Self::SignIn => "sign_in",
            Self::Root => "root",
            Self::Lookup => "lookup",
            Self::List => "list",
            Self::GetNode => "get_node",
            Self::CreateFolder => "create_folder",
            Self::Upload => "upload",
            Self::Overwrite => "overwrite",
            Self::Download => "download",
            Self::Templink => "templink",
            Self::Patch => "patch",
            Self::Move => "move",
            Self::AddParent => "add_parent",
            Self::RemoveParent => "remove_parent",
            Self::Trash => "trash",
            Self::Restore => "restore",
            Self::Purge => "purge",
            Self::Changes => "changes",
            Self::Account => "account",
            Self::Properties => "properties",
            Self::Admin => "admin",
            Self::Connect => "connect",
            Self::Other => "other",
        }
    }

    /// Every operation, in declaration order.
    pub const ALL: [Operation; 25] = [
        Self::Endpoint,
        Self::Token,
        Self::SignIn,
        Self::Root,
        Self::Lookup,
        Self::List,
        Self::GetNode,
        Self::CreateFolder,
        Self::Upload,
        Self::Overwrite,
        Self::Download,
        Self::Templink,
        Self::Patch,
        Self::Move,
        Self::AddParent,
        Self::RemoveParent,
        Self::Trash,
        Self::Restore,
        Self::Purge,
        Self::Changes,
        Self::Account,
        Self::Properties,
        Self::Admin,
        Self::Connect,
        Self::Other,
    ];

    /// The operations a fault rule can match (the fault layer lets `admin` and `connect` by),
    /// comma-separated: the list the rule parser's error message gives.
    pub fn rule_names() -> String {
        Self::ALL
            .iter()
            .filter(|op| !matches!(op, Self::Admin | Self::Connect))
            .map(|op| op.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Classifies a request by [`ROUTES`] (the first entry that matches); `CONNECT` is
    /// `connect`, a request no entry matches is `other`.
    pub fn classify(method: &Method, path: &str, query: Option<&str>) -> Self {
        if method == Method::CONNECT {
            return Self::Connect;
        }
        let Some(route) = route_of(method, path) else {
            return Self::Other;
        };
        if route.operation != Self::List || route.pattern != "/drive/v1/nodes" {
            return route.operation;
        }
        // A search is named by its filters.
        let filters = query
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .filter(|(k, _)| k == "filters")
                    .map(|(_, v)| v.into_owned())
                    .collect::<String>()
            })
            .unwrap_or_default();
        if filters.contains("isRoot:true") {
            Self::Root
        } else if filters.contains("name:") {
            Self::Lookup
        } else {
            Self::List
        }
    }
}

/// One entry of the route table: which requests are which [`Operation`].
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The methods (empty: any method).
    pub methods: &'static [&'static str],
    /// The path, in the router's syntax (as axum's `MatchedPath` gives it): `{name}` is one
    /// segment; a last `{*rest}` is any number of segments, none included. Slashes at either
    /// end do not matter.
    pub pattern: &'static str,
    /// What such a request does. `list` on `GET /drive/v1/nodes` is refined by the
    /// `filters` parameter into `root`, `lookup` or `list`.
    pub operation: Operation,
}

const fn route(
    methods: &'static [&'static str],
    pattern: &'static str,
    operation: Operation,
) -> Route {
    Route {
        methods,
        pattern,
        operation,
    }
}

const ANY: &[&str] = &[];
const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];
const PUT: &[&str] = &["PUT"];
const PATCH: &[&str] = &["PATCH"];
const DELETE: &[&str] = &["DELETE"];

/// The route table: every route of the router ([`crate::app::router`]) with its operation, in
/// the order they are tried. The journal classifies requests by it, the fault layer finds the
/// node a request is about by it ([`node_of`]: its `{id}` or `{parent}` segment), and the rule
/// parser names the operations from [`Operation::ALL`]. Entries with any method keep a request
/// of a method the router refuses (405) under its route's name, as the service's logs did.
/// A test checks that the router serves every entry with a concrete method.
pub const ROUTES: &[Route] = &[
    route(ANY, "/auth/o2/token", Operation::Token),
    route(ANY, "/ap/{*rest}", Operation::SignIn),
    route(ANY, "/_mock/{*rest}", Operation::Admin),
    route(ANY, "/drive/v1/account/endpoint", Operation::Endpoint),
    route(ANY, "/drive/v1/account/info", Operation::Account),
    route(ANY, "/drive/v1/account/quota", Operation::Account),
    route(ANY, "/drive/v1/account/usage", Operation::Account),
    route(GET, "/drive/v1/nodes", Operation::List),
    route(POST, "/drive/v1/nodes", Operation::CreateFolder),
    route(GET, "/drive/v1/nodes/{id}", Operation::GetNode),
    route(PATCH, "/drive/v1/nodes/{id}", Operation::Patch),
    route(DELETE, "/drive/v1/nodes/{id}", Operation::Purge),
    route(POST, "/drive/v1/nodes/{id}/children", Operation::Move),
    route(ANY, "/drive/v1/nodes/{id}/children", Operation::List),
    route(
        PUT,
        "/drive/v1/nodes/{parent}/children/{child}",
        Operation::AddParent,
    ),
    route(
        DELETE,
        "/drive/v1/nodes/{parent}/children/{child}",
        Operation::RemoveParent,
    ),
    route(
        ANY,
        "/drive/v1/nodes/{id}/properties/{*rest}",
        Operation::Properties,
    ),
    route(ANY, "/drive/v1/trash", Operation::List),
    route(ANY, "/drive/v1/trash/{id}", Operation::Trash),
    route(ANY, "/drive/v1/trash/{id}/restore", Operation::Restore),
    route(ANY, "/drive/v1/changes", Operation::Changes),
    route(POST, "/cdproxy/nodes", Operation::Upload),
    route(PUT, "/cdproxy/nodes/{id}/content", Operation::Overwrite),
    route(GET, "/cdproxy/nodes/{id}/content", Operation::Download),
    route(ANY, "/cdproxy/templink/{*rest}", Operation::Templink),
    route(ANY, "/s3/{*rest}", Operation::Templink),
];

impl Route {
    /// Whether `path` matches the pattern, telling `capture` each `{name}` segment's value
    /// on the way (allocates nothing: every request is matched against the table).
    fn walk<'p>(&self, path: &'p str, mut capture: impl FnMut(&'static str, &'p str)) -> bool {
        let mut given = path.trim_matches('/').split('/');
        for want in self.pattern.trim_matches('/').split('/') {
            if want.starts_with("{*") {
                return true;
            }
            let Some(got) = given.next() else {
                return false;
            };
            match want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                Some(name) => capture(name, got),
                None if want == got => {}
                None => return false,
            }
        }
        given.next().is_none()
    }

    /// Whether a request the router matched as `route` (its `MatchedPath`) is this entry's:
    /// the same pattern, or one under this entry's `{*rest}`.
    pub fn serves(&self, route: &str) -> bool {
        match self.pattern.strip_suffix("{*rest}") {
            Some(prefix) => route.starts_with(prefix) || route == prefix.trim_end_matches('/'),
            None => route == self.pattern,
        }
    }

    fn allows(&self, method: &Method) -> bool {
        self.methods.is_empty() || self.methods.contains(&method.as_str())
    }
}

/// The first entry of [`ROUTES`] for this request.
pub fn route_of(method: &Method, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.allows(method) && r.walk(path, |_, _| {}))
}

/// The node a request is about (its route's `{id}` or `{parent}`), whatever the method: the
/// fault layer's per-node rate limit counts by it.
pub fn node_of(path: &str) -> Option<&str> {
    ROUTES.iter().find_map(|r| {
        let mut node = None;
        let matched = r.walk(path, |name, value| {
            if node.is_none() && matches!(name, "id" | "parent") {
                node = Some(value);
            }
        });
        if matched { node } else { None }
    })
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_what_rclone_sends() {
        let c = |m: Method, p: &str, q: Option<&str>| Operation::classify(&m, p, q);
        assert_eq!(
            c(Method::GET, "/drive/v1/account/endpoint", None),
            Operation::Endpoint
        );
        assert_eq!(
            c(
                Method::GET,
                "/drive/v1/nodes",
                Some("filters=kind%3AFOLDER+AND+isRoot%3Atrue")
            ),
            Operation::Root
        );
        assert_eq!(
            c(
                Method::GET,
                "/drive/v1/nodes",
                Some("filters=parents%3A%22x%22+AND+name%3A%22y%22")
            ),
            Operation::Lookup
        );
        assert_eq!(
            c(Method::GET, "/drive/v1/nodes", Some("filters=parents%3Ax")),
            Operation::List
        );
        assert_eq!(
            c(
                Method::POST,
                "/cdproxy/nodes",
                Some("suppress=deduplication")
            ),
            Operation::Upload
        );
        assert_eq!(
            c(Method::PUT, "/cdproxy/nodes/abc/content", None),
            Operation::Overwrite
        );
        assert_eq!(
            c(Method::GET, "/cdproxy/nodes/abc/content", None),
            Operation::Download
        );
        assert_eq!(
            c(Method::PUT, "/drive/v1/trash/abc", None),
            Operation::Trash
        );
        assert_eq!(
            c(Method::POST, "/drive/v1/trash/abc/restore", None),
            Operation::Restore
        );
        assert_eq!(
            c(Method::POST, "/drive/v1/nodes/a/children", None),
            Operation::Move
        );
        assert_eq!(
            c(Method::PUT, "/drive/v1/nodes/a/children/b", None),
            Operation::AddParent
        );
        assert_eq!(c(Method::POST, "/auth/o2/token", None), Operation::Token);
        assert_eq!(c(Method::GET, "/nowhere", None), Operation::Other);
    }
}
