//! Names for what a request does, shared by the request journal and the fault layer.
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

    /// Classifies a request.
    pub fn classify(method: &Method, path: &str, query: Option<&str>) -> Self {
        if method == Method::CONNECT {
            return Self::Connect;
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let m = method;
        match segments.as_slice() {
            ["auth", "o2", "token"] => Self::Token,
            ["ap", ..] => Self::SignIn,
            ["_mock", ..] => Self::Admin,
            ["drive", "v1", rest @ ..] => Self::classify_metadata(m, rest, query),
            ["cdproxy", "nodes"] if m == Method::POST => Self::Upload,
            ["cdproxy", "nodes", _, "content"] if m == Method::PUT => Self::Overwrite,
            ["cdproxy", "nodes", _, "content"] if m == Method::GET => Self::Download,
            ["cdproxy", "templink", ..] | ["s3", ..] => Self::Templink,
            _ => Self::Other,
        }
    }

    fn classify_metadata(m: &Method, rest: &[&str], query: Option<&str>) -> Self {
        match rest {
            ["account", "endpoint"] => Self::Endpoint,
            ["account", _] => Self::Account,
            ["nodes"] if m == Method::GET => {
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
            ["nodes"] if m == Method::POST => Self::CreateFolder,
            ["nodes", _] if m == Method::GET => Self::GetNode,
            ["nodes", _] if m == Method::PATCH => Self::Patch,
            ["nodes", _] if m == Method::DELETE => Self::Purge,
            ["nodes", _, "children"] if m == Method::POST => Self::Move,
            ["nodes", _, "children"] => Self::List,
            ["nodes", _, "children", _] if m == Method::PUT => Self::AddParent,
            ["nodes", _, "children", _] if m == Method::DELETE => Self::RemoveParent,
            ["nodes", _, "properties", ..] => Self::Properties,
            ["trash"] => Self::List,
            ["trash", _] => Self::Trash,
            ["trash", _, "restore"] => Self::Restore,
            ["changes"] => Self::Changes,
            _ => Self::Other,
        }
    }
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
