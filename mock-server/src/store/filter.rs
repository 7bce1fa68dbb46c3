//! The `filters` query grammar (reference §5.4): parse, then compile to SQL.
//!
//! ```text
//! filter := conj ( "OR" conj )*          -- AND binds tighter than OR
//! conj   := term ( "AND" term )*
//! term   := field ":" value
//! value  := '"' (escaped | any but '"')* '"' | (escaped | any but space)+
//! escaped:= '\' any                      -- the backslash is dropped, the character kept
//! ```
//!
//! The query string itself is form-decoded before this parser sees it, so `+` is already a
//! space. Keywords are upper case. Parentheses and `NOT` are not supported: the real service
//! did not honour `kind:(FILE OR FOLDER)` nor `(kind:FILE OR kind:FOLDER)` (rclone's comment),
//! so the mock refuses them with 400 instead of guessing. An unescaped `*` is a literal
//! character. A `-` right after `field:` belongs to the value, because ids may begin with one.

use std::fmt;

/// A field that a filter term can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `kind`: FILE, FOLDER or ASSET.
    Kind,
    /// `isRoot`: true or false.
    IsRoot,
    /// `parents`: a parent folder id.
    Parents,
    /// `name`: the exact name.
    Name,
    /// `status`: AVAILABLE, TRASH, PENDING.
    Status,
    /// `id`: the node id.
    Id,
    /// `contentProperties.md5`.
    Md5,
    /// `contentProperties.size`.
    Size,
    /// `contentProperties.extension`.
    Extension,
    /// `contentProperties.contentType`.
    ContentType,
    /// `createdBy`.
    CreatedBy,
    /// `labels`: one of the node's labels.
    Labels,
    /// `description`.
    Description,
}

impl Field {
    /// Every field with its name in the grammar.
    pub const ALL: [(&'static str, Field); 13] = [
        ("kind", Field::Kind),
        ("isRoot", Field::IsRoot),
        ("parents", Field::Parents),
        ("name", Field::Name),
        ("status", Field::Status),
        ("id", Field::Id),
        ("contentProperties.md5", Field::Md5),
        ("contentProperties.size", Field::Size),
        ("contentProperties.extension", Field::Extension),
        ("contentProperties.contentType", Field::ContentType),
        ("createdBy", Field::CreatedBy),
        ("labels", Field::Labels),
        ("description", Field::Description),
    ];

    fn from_name(name: &str) -> Option<Field> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, field)| *field)
    }
}

/// One `field:value` test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The field tested.
    pub field: Field,
    /// The unescaped value.
    pub value: String,
}

/// A parsed filter: a disjunction (OR) of conjunctions (AND) of terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    /// The OR branches; each is a list of terms that must all hold.
    pub any_of: Vec<Vec<Term>>,
}

impl Filter {
    /// Does any term test `status`? Trashed nodes are left out of searches unless it does.
    pub fn mentions_status(&self) -> bool {
        self.terms().any(|t| t.field == Field::Status)
    }

    /// Every term, in order.
    pub fn terms(&self) -> impl Iterator<Item = &Term> {
        self.any_of.iter().flatten()
    }

    /// Is this the root query (`isRoot:true`, optionally with `kind:FOLDER`)?
    pub fn is_root_query(&self) -> bool {
        self.terms()
            .any(|t| t.field == Field::IsRoot && t.value == "true")
    }

    /// Is this a name lookup (`name:` present)?
    pub fn is_name_lookup(&self) -> bool {
        self.terms().any(|t| t.field == Field::Name)
    }
}

/// Why a filter could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FilterError {
    /// What was wrong.
    pub message: String,
    /// Character offset where it went wrong.
    pub at: usize,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Invalid filter: {} at position {}",
            self.message, self.at
        )
    }
}

/// The characters go-acd and the C# client put a backslash before (reference §5.4).
pub const ESCAPED: &[char] = &[
    '+', '-', '&', '|', '!', '(', ')', '{', '}', '[', ']', '^', '\'', '"', '~', '*', '?', ':',
    '\\', ' ',
];

/// Escapes a value the way clients did before putting it in a filter.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 2);
    for c in value.chars() {
        if ESCAPED.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    _src: &'a str,
}

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> FilterError {
        FilterError {
            message: message.into(),
            at: self.pos,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    /// Consumes `word` if it stands next, followed by a space.
    fn keyword(&mut self, word: &str) -> bool {
        let len = word.chars().count();
        let matches = self.chars.len() > self.pos + len
            && self.chars[self.pos..self.pos + len]
                .iter()
                .copied()
                .eq(word.chars())
            && is_space(self.chars[self.pos + len]);
        if matches {
            self.pos += len;
        }
        matches
    }

    fn term(&mut self) -> Result<Term, FilterError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == ':' || is_space(c) {
                break;
            }
            if c == '(' || c == ')' {
                return Err(self.err("parentheses are not supported"));
            }
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        if self.peek() != Some(':') {
            return Err(self.err(format!("expected field:value, found {name:?}")));
        }
        let field = Field::from_name(&name).ok_or_else(|| FilterError {
            message: format!("unknown field {name:?}"),
            at: start,
        })?;
        self.pos += 1; // ':'
        let value = if self.peek() == Some('"') {
            self.quoted()?
        } else {
            self.bare()?
        };
        Ok(Term { field, value })
    }

    fn quoted(&mut self) -> Result<String, FilterError> {
        self.pos += 1; // opening quote
        let mut value = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated quoted value")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(value);
                }
                Some('\\') => {
                    self.pos += 1;
                    let c = self.peek().ok_or_else(|| self.err("dangling backslash"))?;
                    value.push(c);
                    self.pos += 1;
                }
                Some(c) => {
                    value.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn bare(&mut self) -> Result<String, FilterError> {
        let mut value = String::new();
        while let Some(c) = self.peek() {
            if is_space(c) {
                break;
            }
            self.pos += 1;
            if c == '\\' {
                let next = self.peek().ok_or_else(|| self.err("dangling backslash"))?;
                value.push(next);
                self.pos += 1;
            } else if c == '(' && value.is_empty() {
                return Err(self.err("parenthesised value lists are not supported"));
            } else {
                value.push(c);
            }
        }
        if value.is_empty() {
            return Err(self.err("empty value"));
        }
        Ok(value)
    }
}

/// Parses a `filters` value (already form-decoded).
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    let mut p = Parser {
        chars: input.chars().collect(),
        pos: 0,
        _src: input,
    };
    let mut filter = Filter::default();
    let mut conj = Vec::new();
    p.skip_space();
    if p.peek().is_none() {
        return Ok(filter);
    }
    loop {
        p.skip_space();
        conj.push(p.term()?);
        p.skip_space();
        if p.peek().is_none() {
            break;
        }
        if p.keyword("AND") {
            continue;
        }
        if p.keyword("OR") {
            filter.any_of.push(std::mem::take(&mut conj));
            continue;
        }
        return Err(p.err("expected AND or OR"));
    }
    filter.any_of.push(conj);
    Ok(filter)
}

/// A filter compiled to a SQL condition over the `nodes` table aliased `n`.
#[derive(Debug, Clone)]
pub struct SqlCondition {
    /// The condition text, with `?` placeholders.
    pub sql: String,
    /// The values of the placeholders, in order.
    pub params: Vec<rusqlite::types::Value>,
}

/// How `name:` terms compare names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameMatch {
    /// Exactly, case included (the default: see reference §5.4).
    #[default]
    CaseSensitive,
    /// Ignoring case, like the uniqueness rule.
    CaseInsensitive,
}

/// Compiles a filter to SQL. Values that cannot match (a non-boolean `isRoot`, a non-numeric
/// size) are errors, as a strict service would answer 400.
///
/// `now` (epoch ms) makes `parents:` also match a node that left that parent less than the
/// listing lag ago (the `ghost_parents` table).
pub fn to_sql(filter: &Filter, names: NameMatch, now: i64) -> Result<SqlCondition, FilterError> {
    compile(filter, names, now, false)
}

/// Like [`to_sql`], for a query driven by one folder's children: `parents:` terms are checked
/// per candidate instead of listing a folder's children.
pub fn to_sql_per_candidate(
    filter: &Filter,
    names: NameMatch,
    now: i64,
) -> Result<SqlCondition, FilterError> {
    compile(filter, names, now, true)
}

fn compile(
    filter: &Filter,
    names: NameMatch,
    now: i64,
    per_candidate: bool,
) -> Result<SqlCondition, FilterError> {
    use rusqlite::types::Value;
    let mut params = Vec::new();
    let mut branches = Vec::new();
    for conj in &filter.any_of {
        // With a selective term (name, id, md5) the query is driven by that term's index and
        // `parents:` is checked per candidate; without one it is driven by the parent's
        // children. Either way a lookup or a page costs the same whatever the folder's size.
        let selective = per_candidate
            || conj
                .iter()
                .any(|t| matches!(t.field, Field::Name | Field::Id | Field::Md5));
        let mut parts = Vec::new();
        for term in conj {
            let v = term.value.clone();
            let bad = |what: &str| FilterError {
                message: format!("{what}: {v:?}"),
                at: 0,
            };
            let part = match term.field {
                Field::Kind => {
                    params.push(Value::Text(v.clone()));
                    "n.kind = ?"
                }
                // A literal, not a parameter, so the partial index on roots applies.
                Field::IsRoot => match v.as_str() {
                    "true" => "n.is_root = 1",
                    "false" => "n.is_root = 0",
                    _ => return Err(bad("isRoot must be true or false")),
                },
                Field::Parents if selective => {
                    params.extend([
                        Value::Text(v.clone()),
                        Value::Text(v.clone()),
                        Value::Integer(now),
                    ]);
                    "(EXISTS (SELECT 1 FROM parents p WHERE p.child = n.id AND p.parent = ?) \
                     OR EXISTS (SELECT 1 FROM ghost_parents g WHERE g.child = n.id AND g.parent = ? AND g.until > ?))"
                }
                Field::Parents => {
                    params.extend([
                        Value::Text(v.clone()),
                        Value::Text(v.clone()),
                        Value::Integer(now),
                    ]);
                    "n.id IN (SELECT p.child FROM parents p WHERE p.parent = ? \
                     UNION ALL SELECT g.child FROM ghost_parents g WHERE g.parent = ? AND g.until > ?)"
                }
                Field::Name => match names {
                    NameMatch::CaseSensitive => {
                        params.push(Value::Text(v.clone()));
                        "n.name = ?"
                    }
                    NameMatch::CaseInsensitive => {
                        params.push(Value::Text(v.to_lowercase()));
                        "n.name_lower = ?"
                    }
                },
                Field::Status => {
                    params.push(Value::Text(v.clone()));
                    "n.status = ?"
                }
                Field::Id => {
                    params.push(Value::Text(v.clone()));
                    "n.id = ?"
                }
                Field::Md5 => {
                    params.push(Value::Text(v.to_lowercase()));
                    "n.md5 = ?"
                }
                Field::Size => {
                    let size: i64 = v.parse().map_err(|_| bad("size must be a number"))?;
                    params.push(Value::Integer(size));
                    "n.size = ?"
                }
                Field::Extension => {
                    params.push(Value::Text(v.clone()));
                    "n.extension = ?"
                }
                Field::ContentType => {
                    params.push(Value::Text(v.clone()));
                    "n.content_type = ?"
                }
                Field::CreatedBy => {
                    params.push(Value::Text(v.clone()));
                    "n.created_by = ?"
                }
                Field::Labels => {
                    params.push(Value::Text(v.clone()));
                    "EXISTS (SELECT 1 FROM json_each(n.labels) l WHERE l.value = ?)"
                }
                Field::Description => {
                    params.push(Value::Text(v.clone()));
                    "n.description = ?"
                }
            };
            parts.push(part.to_string());
        }
        branches.push(format!("({})", parts.join(" AND ")));
    }
    let sql = if branches.is_empty() {
        "1".to_string()
    } else {
        branches.join(" OR ")
    };
    Ok(SqlCondition { sql, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(field: Field, value: &str) -> Term {
        Term {
            field,
            value: value.to_string(),
        }
    }

    #[test]
    fn parses_the_forms_clients_send() {
        let f = parse("kind:FOLDER AND isRoot:true").unwrap_or_default();
        assert_eq!(
            f.any_of,
            vec![vec![
                term(Field::Kind, "FOLDER"),
                term(Field::IsRoot, "true")
            ]]
        );
        let f = parse(r#"parents:"-abc_def" AND name:"my\ file\ \(1\).txt""#).unwrap_or_default();
        assert_eq!(
            f.any_of,
            vec![vec![
                term(Field::Parents, "-abc_def"),
                term(Field::Name, "my file (1).txt")
            ]]
        );
        let f = parse("parents:-xY AND name:a\\ b").unwrap_or_default();
        assert_eq!(
            f.any_of,
            vec![vec![term(Field::Parents, "-xY"), term(Field::Name, "a b")]]
        );
        let f = parse("kind:FILE OR kind:FOLDER AND status:TRASH").unwrap_or_default();
        assert_eq!(
            f.any_of,
            vec![
                vec![term(Field::Kind, "FILE")],
                vec![term(Field::Kind, "FOLDER"), term(Field::Status, "TRASH")]
            ]
        );
    }

    #[test]
    fn refuses_what_the_service_did_not_understand() {
        for bad in [
            "kind:(FILE OR FOLDER)",
            "(kind:FILE OR kind:FOLDER)",
            "kind",
            "kind:",
            "bogus:1",
            "name:\"open",
            "name:a\\",
            "kind:FILE and kind:FOLDER",
            "kind:FILE AND",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn empty_filter_matches_everything() {
        assert_eq!(parse("  ").map(|f| f.any_of.len()), Ok(0));
    }
}
