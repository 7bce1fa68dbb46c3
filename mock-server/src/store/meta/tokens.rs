//! Tokens (access, refresh, authorization codes; cached) and tempLink tokens.

use rusqlite::{OptionalExtension, params};

use super::{MetaStore, TokenRow};
use crate::error::ApiResult;
use crate::store::node::Node;
use crate::store::rows::load_node;
use crate::util::random_base64;

impl MetaStore {
    /// Stores a token.
    pub fn insert_token(&self, token: &str, row: &TokenRow) -> ApiResult<()> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO tokens (token, kind, account, client_id, expires, redirect_uri, scope, used) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                token,
                row.kind,
                row.account,
                row.client_id,
                row.expires,
                row.redirect_uri,
                row.scope,
                row.used
            ],
        )?;
        Ok(())
    }

    /// Looks a token up.
    pub fn token(&self, token: &str) -> ApiResult<Option<TokenRow>> {
        let generation = match self.tokens.get(token) {
            Ok(row) => return Ok(Some(row)),
            Err(generation) => generation,
        };
        let conn = self.read()?;
        let row = conn
            .prepare_cached(
                "SELECT kind, account, client_id, expires, redirect_uri, scope, used FROM tokens WHERE token = ?",
            )?
            .query_row(
                [token],
                |r| {
                    Ok(TokenRow {
                        kind: r.get(0)?,
                        account: r.get(1)?,
                        client_id: r.get(2)?,
                        expires: r.get(3)?,
                        redirect_uri: r.get(4)?,
                        scope: r.get(5)?,
                        used: r.get(6)?,
                    })
                },
            )
            .optional()?;
        if let Some(row) = &row {
            self.tokens.fill(generation, token.to_string(), row.clone());
        }
        Ok(row)
    }

    /// Marks an authorization code used; returns false if it already was.
    pub fn use_code(&self, code: &str) -> ApiResult<bool> {
        let conn = self.lock();
        let changed = conn.execute(
            "UPDATE tokens SET used = 1 WHERE token = ? AND kind = 'code' AND used = 0",
            [code],
        )?;
        self.tokens.invalidate();
        Ok(changed == 1)
    }

    /// Sets a token's expiry (tests use it to expire tokens without waiting).
    pub fn set_token_expiry(&self, token: &str, expires: Option<i64>) -> ApiResult<bool> {
        let conn = self.lock();
        let changed = conn.execute(
            "UPDATE tokens SET expires = ? WHERE token = ?",
            params![expires, token],
        )?;
        self.tokens.invalidate();
        Ok(changed == 1)
    }

    /// A tempLink token for a file: an existing one younger than `refresh_after_ms`, or a new
    /// one valid for `lifetime_ms`.
    pub fn templink(
        &self,
        node: &str,
        lifetime_ms: i64,
        refresh_after_ms: i64,
    ) -> ApiResult<String> {
        let conn = self.lock();
        let now = self.clock.now_ms();
        let existing: Option<String> = conn
            .query_row(
                "SELECT token FROM templinks WHERE node = ? AND created > ? AND expires > ? ORDER BY created DESC LIMIT 1",
                params![node, now - refresh_after_ms, now],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(token) = existing {
            return Ok(token);
        }
        let token = random_base64(24);
        conn.execute(
            "INSERT INTO templinks (token, node, created, expires) VALUES (?, ?, ?, ?)",
            params![token, node, now, now + lifetime_ms],
        )?;
        Ok(token)
    }

    /// The node behind a tempLink token, if the token exists and has not expired.
    pub fn templink_node(&self, token: &str) -> ApiResult<Option<Node>> {
        let conn = self.lock();
        let hit: Option<(String, i64)> = conn
            .query_row(
                "SELECT t.node, n.account FROM templinks t JOIN nodes n ON n.id = t.node WHERE t.token = ? AND t.expires > ?",
                params![token, self.clock.now_ms()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match hit {
            Some((node, account)) => load_node(&conn, account, &node),
            None => Ok(None),
        }
    }
}
