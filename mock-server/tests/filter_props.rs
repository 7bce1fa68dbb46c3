#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Properties of the `filters` grammar (reference §5.4, §12.11) and of the case-insensitive
//! uniqueness rule as the running server applies it (reference §6.4, §7.1, §12.12).

use acd_mock::MockServer;
use acd_mock::store::filter::{ESCAPED, Field, Term, escape, parse};
use proptest::prelude::*;
use serde_json::{Value, json};

fn term(field: Field, value: &str) -> Term {
    Term {
        field,
        value: value.to_string(),
    }
}

/// Unicode letters (with and without case) and an emoji outside the BMP.
const UNICODE: &[char] = &['é', 'ü', 'Ä', 'ß', '日', '本', 'Ж', 'ω', '😀', 'ñ'];

/// One character of a name: every escaped character, ASCII letters and digits, unicode
/// letters and spaces.
fn name_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(ESCAPED.to_vec()),
        3 => prop::char::range('a', 'z'),
        2 => prop::char::range('A', 'Z'),
        1 => prop::char::range('0', '9'),
        2 => prop::sample::select(UNICODE.to_vec()),
        2 => Just(' '),
    ]
}

fn name_string(min: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(name_char(), min..40).prop_map(|chars| chars.into_iter().collect())
}

/// Node ids as the service made them: 22 characters of `[A-Za-z0-9_-]`, here always beginning
/// with `-` or `_` (reference §2, §12.11).
fn dashed_id() -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = ('a'..='z')
        .chain('A'..='Z')
        .chain('0'..='9')
        .chain(['-', '_'])
        .collect();
    (
        prop::sample::select(vec!['-', '_']),
        prop::collection::vec(prop::sample::select(alphabet), 21),
    )
        .prop_map(|(first, rest)| std::iter::once(first).chain(rest).collect())
}

/// Strings made of the grammar's own pieces, so the parser is driven deep into its states
/// (plain arbitrary strings mostly fail at the first character).
fn grammar_soup() -> impl Strategy<Value = String> {
    let pieces: Vec<&'static str> = vec![
        "name:", "parents:", "kind:", "isRoot:", "bogus:", ":", "\"", "\\", " ", "\t", "AND ",
        "OR ", " AND", " OR", "AND", "OR", "(", ")", "-", "_x", "abc", "é", "😀", "*", "\\\"",
        "\\ ", "\n", "",
    ];
    prop::collection::vec(prop::sample::select(pieces), 0..24).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// go-acd's lookup form: `parents:"<id>" AND name:"<escaped>"` gives back the name.
    #[test]
    fn quoted_escaped_names_round_trip(s in name_string(0)) {
        let filter = parse(&format!("parents:\"abc\" AND name:\"{}\"", escape(&s)));
        prop_assert_eq!(
            filter.map(|f| f.any_of),
            Ok(vec![vec![term(Field::Parents, "abc"), term(Field::Name, &s)]])
        );
    }

    /// The bare form (RB): `name:<escaped>` without quotes gives back the name.
    #[test]
    fn bare_escaped_names_round_trip(s in name_string(1)) {
        let filter = parse(&format!("parents:\"abc\" AND name:{}", escape(&s)));
        prop_assert_eq!(
            filter.map(|f| f.any_of),
            Ok(vec![vec![term(Field::Parents, "abc"), term(Field::Name, &s)]])
        );
        let filter = parse(&format!("name:{} AND kind:FILE", escape(&s)));
        prop_assert_eq!(
            filter.map(|f| f.any_of),
            Ok(vec![vec![term(Field::Name, &s), term(Field::Kind, "FILE")]])
        );
    }

    /// `parse` is total: any input gives `Ok` or `Err`, never a panic.
    #[test]
    fn parse_never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = parse(&s);
    }

    /// The same, on inputs assembled from the grammar's tokens.
    #[test]
    fn parse_never_panics_on_grammar_soup(s in grammar_soup()) {
        if let Err(error) = parse(&s) {
            // The error position points inside (or just past) the input.
            prop_assert!(error.at <= s.chars().count(), "{error:?} for {s:?}");
        }
    }

    /// rclone sends `parents:<id>` unquoted and ids may begin with `-` or `_`: the dash is part
    /// of the value, never a negation.
    #[test]
    fn unquoted_ids_beginning_with_dash_or_underscore(id in dashed_id(), s in name_string(1)) {
        let any_of = |text: String| parse(&text).map(|f| f.any_of);
        prop_assert_eq!(
            any_of(format!("parents:{id}")),
            Ok(vec![vec![term(Field::Parents, &id)]])
        );
        prop_assert_eq!(
            any_of(format!("parents:{id} AND kind:FOLDER")),
            Ok(vec![vec![term(Field::Parents, &id), term(Field::Kind, "FOLDER")]])
        );
        prop_assert_eq!(
            any_of(format!("parents:{id} AND name:{}", escape(&s))),
            Ok(vec![vec![term(Field::Parents, &id), term(Field::Name, &s)]])
        );
        prop_assert_eq!(
            any_of(format!("kind:FILE OR parents:{id}")),
            Ok(vec![vec![term(Field::Kind, "FILE")], vec![term(Field::Parents, &id)]])
        );
    }
}

// ---- case-insensitive uniqueness through the real server ---------------------------------

/// Letters with a one-to-one case mapping, caseless characters and spaces (no `ß`: its upper
/// case is two letters).
const CASED: &[char] = &['Ä', 'ä', 'Ö', 'ö', 'É', 'é', 'Ж', 'ж', 'Ω', 'ω', '日', '😀'];

fn folder_name() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => prop::char::range('a', 'z'),
        4 => prop::char::range('A', 'Z'),
        1 => prop::char::range('0', '9'),
        3 => prop::sample::select(CASED.to_vec()),
        1 => Just(' '),
    ];
    prop::collection::vec(c, 1..24).prop_map(|chars| chars.into_iter().collect())
}

/// Flips the case of the characters whose flag is set.
fn flip_case(name: &str, flips: &[bool]) -> String {
    name.chars()
        .zip(flips.iter().copied().chain(std::iter::repeat(false)))
        .flat_map(|(c, flip)| -> Vec<char> {
            if !flip {
                vec![c]
            } else if c.is_lowercase() {
                c.to_uppercase().collect()
            } else if c.is_uppercase() {
                c.to_lowercase().collect()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request failed");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body unreadable");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply { status, body }
}

#[test]
fn names_are_unique_ignoring_case_and_found_by_exact_lookup() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt
        .block_on(MockServer::builder().start())
        .expect("server starts");
    let token = server.mint_token(None).expect("token").access_token;
    let client = reqwest::Client::new();
    let meta = server.metadata_url();
    let admin = acd_mock::admin::Client::new(server.url()).expect("admin client");

    proptest!(ProptestConfig::with_cases(24), |(
        name in folder_name(),
        flips in prop::collection::vec(any::<bool>(), 24),
    )| {
        let flipped = flip_case(&name, &flips);
        prop_assume!(flipped.to_lowercase() == name.to_lowercase());
        let (root, first, second, lookup, flipped_lookup) = rt.block_on(async {
            // Each case starts from an empty tree (shrinking re-runs names already used).
            admin
                .reset_account("user@example.com")
                .await
                .unwrap_or_else(|e| panic!("reset must answer 200: {e}"));
            let root = send(
                client
                    .get(format!("{meta}nodes"))
                    .bearer_auth(&token)
                    .query(&[("filters", "kind:FOLDER AND isRoot:true")]),
            )
            .await;
            assert_eq!(root.status, 200, "{:?}", root.body);
            let root = root.body["data"][0]["id"].as_str().expect("root id").to_string();
            let create = |n: &str| {
                client
                    .post(format!("{meta}nodes"))
                    .bearer_auth(&token)
                    .body(json!({"name": n, "kind": "FOLDER", "parents": [root]}).to_string())
            };
            let first = send(create(&name)).await;
            let second = send(create(&flipped)).await;
            let find = |n: &str| {
                client.get(format!("{meta}nodes")).bearer_auth(&token).query(&[(
                    "filters",
                    format!("parents:\"{root}\" AND name:\"{}\"", escape(n)),
                )])
            };
            let lookup = send(find(&name)).await;
            let flipped_lookup = send(find(&flipped)).await;
            (root, first, second, lookup, flipped_lookup)
        });

        prop_assert_eq!(first.status, 201, "first create: {:?}", first.body);
        let id = first.body["id"].as_str().unwrap_or_default().to_string();
        prop_assert_eq!(first.body["name"].as_str(), Some(name.as_str()));
        prop_assert_eq!(&first.body["parents"], &json!([root]));

        prop_assert_eq!(second.status, 409, "second create of {:?}: {:?}", flipped, second.body);
        prop_assert_eq!(second.body["code"].as_str(), Some("NAME_ALREADY_EXISTS"));
        prop_assert_eq!(second.body["info"]["nodeId"].as_str(), Some(id.as_str()));
        let message = second.body["message"].as_str().unwrap_or_default();
        prop_assert!(
            message.contains(&name.to_lowercase()),
            "message {:?} lacks the lowercased name {:?}", message, name.to_lowercase()
        );

        prop_assert_eq!(lookup.status, 200, "{:?}", lookup.body);
        let data = lookup.body["data"].as_array().cloned().unwrap_or_default();
        prop_assert_eq!(data.len(), 1, "lookup of {:?}: {:?}", name, lookup.body);
        prop_assert_eq!(data[0]["id"].as_str(), Some(id.as_str()));
        prop_assert_eq!(&lookup.body["count"], &json!(1));

        // `name:` matches case-sensitively by default (reference §5.4): a differently cased
        // lookup finds nothing.
        prop_assert_eq!(flipped_lookup.status, 200);
        let expected = usize::from(flipped == name);
        prop_assert_eq!(
            flipped_lookup.body["data"].as_array().map(Vec::len),
            Some(expected),
            "lookup of {:?}: {:?}", flipped, flipped_lookup.body
        );
    });
    drop(server);
}
