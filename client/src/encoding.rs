//! rclone-compatible file name encoding (rclone's `encoding` option, `lib/encoder`).
//!
//! Amazon Drive names are valid UTF-8, cannot contain `/` or NUL and cannot be exactly `.` or
//! `..`. An [`Encoding`] turns a local (Unix, "standard") file name into a name the server
//! accepts and back again, the way rclone does, so that files uploaded by rclone and by this
//! crate have the same names on the server.
//!
//! The scheme:
//! - A reserved character is replaced by a look-alike: `/` becomes `／` (U+FF0F), a control
//!   character becomes its "symbol for" picture (`\t` becomes `␉`), and so on, depending on
//!   the flags.
//! - NUL always becomes `␀` (U+2400).
//! - Each byte that is not valid UTF-8 becomes `‛` (U+201B) and two upper-case hex digits
//!   (`\xFF` becomes `‛FF`).
//! - A local name that already contains a look-alike the decoder would turn back, or `‛`
//!   itself, gets that character *quoted*: prefixed by `‛`.
//!
//! Because the remote name is a `String` and must round-trip, NUL and invalid UTF-8 are
//! escaped whatever the flags say; `InvalidUtf8` is kept for rclone compatibility of the
//! flag list.

use std::fmt;
use std::str::FromStr;

/// Prefix that quotes a literal look-alike, and introduces an escaped byte.
const QUOTE: char = '\u{201B}';
/// `．`: the replacement for `.` (the `Dot`, `LeftPeriod` and `RightPeriod` flags).
const FULLWIDTH_PERIOD: char = '\u{FF0E}';
/// `␀`: the replacement for NUL, always active.
const NUL_SYMBOL: char = '\u{2400}';
/// `␡`: the replacement for DEL (the `Del` flag).
const DEL_SYMBOL: char = '\u{2421}';
/// Added to printable ASCII to get its FULLWIDTH form.
const FULLWIDTH_OFFSET: u32 = 0xFEE0;
/// Added to a control character (or space) to get its "SYMBOL FOR" picture.
const SYMBOL_OFFSET: u32 = 0x2400;

// Bit positions follow rclone's MultiEncoder (its bit 0, `Raw`, is not supported here).
const SLASH: u32 = 1 << 1;
const LT_GT: u32 = 1 << 2;
const DOUBLE_QUOTE: u32 = 1 << 3;
const SINGLE_QUOTE: u32 = 1 << 4;
const BACK_QUOTE: u32 = 1 << 5;
const DOLLAR: u32 = 1 << 6;
const COLON: u32 = 1 << 7;
const QUESTION: u32 = 1 << 8;
const ASTERISK: u32 = 1 << 9;
const PIPE: u32 = 1 << 10;
const HASH: u32 = 1 << 11;
const PERCENT: u32 = 1 << 12;
const BACK_SLASH: u32 = 1 << 13;
const CR_LF: u32 = 1 << 14;
const DEL: u32 = 1 << 15;
const CTL: u32 = 1 << 16;
const LEFT_SPACE: u32 = 1 << 17;
const LEFT_PERIOD: u32 = 1 << 18;
const LEFT_TILDE: u32 = 1 << 19;
const LEFT_CR_LF_HT_VT: u32 = 1 << 20;
const RIGHT_SPACE: u32 = 1 << 21;
const RIGHT_PERIOD: u32 = 1 << 22;
const RIGHT_CR_LF_HT_VT: u32 = 1 << 23;
const INVALID_UTF8: u32 = 1 << 24;
const DOT: u32 = 1 << 25;
const SQUARE_BRACKET: u32 = 1 << 26;
const SEMICOLON: u32 = 1 << 27;

/// rclone's flag names, in rclone's bit order (the order `Display` prints them in).
const FLAG_NAMES: [(&str, u32); 27] = [
    ("Slash", SLASH),
    ("LtGt", LT_GT),
    ("DoubleQuote", DOUBLE_QUOTE),
    ("SingleQuote", SINGLE_QUOTE),
    ("BackQuote", BACK_QUOTE),
    ("Dollar", DOLLAR),
    ("Colon", COLON),
    ("Question", QUESTION),
    ("Asterisk", ASTERISK),
    ("Pipe", PIPE),
    ("Hash", HASH),
    ("Percent", PERCENT),
    ("BackSlash", BACK_SLASH),
    ("CrLf", CR_LF),
    ("Del", DEL),
    ("Ctl", CTL),
    ("LeftSpace", LEFT_SPACE),
    ("LeftPeriod", LEFT_PERIOD),
    ("LeftTilde", LEFT_TILDE),
    ("LeftCrLfHtVt", LEFT_CR_LF_HT_VT),
    ("RightSpace", RIGHT_SPACE),
    ("RightPeriod", RIGHT_PERIOD),
    ("RightCrLfHtVt", RIGHT_CR_LF_HT_VT),
    ("InvalidUtf8", INVALID_UTF8),
    ("Dot", DOT),
    ("SquareBracket", SQUARE_BRACKET),
    ("Semicolon", SEMICOLON),
];

/// The flags that replace ASCII characters by their FULLWIDTH form anywhere in a name.
const FULLWIDTH_RULES: [(u32, &[char]); 15] = [
    (SLASH, &['/']),
    (LT_GT, &['<', '>']),
    (DOUBLE_QUOTE, &['"']),
    (SINGLE_QUOTE, &['\'']),
    (BACK_QUOTE, &['`']),
    (DOLLAR, &['$']),
    (COLON, &[':']),
    (QUESTION, &['?']),
    (ASTERISK, &['*']),
    (PIPE, &['|']),
    (HASH, &['#']),
    (PERCENT, &['%']),
    (BACK_SLASH, &['\\']),
    (SQUARE_BRACKET, &['[', ']']),
    (SEMICOLON, &[';']),
];

/// Which characters of a local name are replaced on the remote, as a set of rclone's
/// `encoding` flags (parse one with [`str::parse`], print it with `Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encoding {
    bits: u32,
}

/// Where a character sits in a name: the `Left*` flags apply to the first one only, the
/// `Right*` flags to the last one only.
#[derive(Debug, Clone, Copy)]
struct Position {
    first: bool,
    last: bool,
}

impl Position {
    /// The position of item `index` of `len`.
    fn of(index: usize, len: usize) -> Self {
        Self {
            first: index == 0,
            last: index + 1 == len,
        }
    }
}

/// One piece of a local name: a character, or a byte that is not valid UTF-8.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Char(char),
    Byte(u8),
}

/// One piece of a remote name, as the encoder writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// A character written as itself.
    Plain(char),
    /// A look-alike standing for a reserved character.
    Replaced(char),
    /// A literal character that needs `‛` in front.
    Quoted(char),
    /// An invalid byte, written as `‛` and two hex digits.
    Byte(u8),
}

/// One piece of a remote name, as the decoder reads it.
#[derive(Debug, Clone, Copy)]
enum Piece {
    /// A character with no `‛` in front: a look-alike to undo, or itself.
    Char(char),
    /// A character after `‛`: always itself.
    Quoted(char),
    /// `‛` and two hex digits.
    Byte(u8),
}

impl Encoding {
    /// No flags: only NUL, invalid UTF-8 and `‛` itself are escaped.
    pub const NONE: Encoding = Encoding { bits: 0 };

    /// rclone's default for Amazon Drive: Slash, InvalidUtf8, Dot.
    pub const AMAZON_DRIVE: Encoding = Encoding {
        bits: SLASH | INVALID_UTF8 | DOT,
    };

    /// Local name bytes (a Unix file name, may be invalid UTF-8) -> the name to send to the
    /// server (valid UTF-8).
    pub fn encode(&self, local: &[u8]) -> String {
        if let Some(name) = self.encode_dot_name(local) {
            return name.to_owned();
        }
        let units = split_units(local);
        let mut tokens: Vec<Token> = units
            .iter()
            .enumerate()
            .map(|(index, &unit)| self.encode_unit(unit, Position::of(index, units.len())))
            .collect();
        if self.has(DOT) {
            quote_lone_fullwidth_periods(&mut tokens);
        }
        render(&tokens)
    }

    /// Server name -> local name bytes. Inverse of `encode`: `decode(encode(b)) == b` for
    /// every byte string `b`.
    ///
    /// A name `encode` cannot produce still decodes to something sensible: a `‛` that
    /// quotes nothing is kept as it is.
    pub fn decode(&self, remote: &str) -> Vec<u8> {
        if let Some(name) = self.decode_dot_name(remote) {
            return name.to_vec();
        }
        let mut out = Vec::with_capacity(remote.len());
        let mut rest = remote;
        let mut first = true;
        while let Some((piece, len)) = self.next_piece(rest) {
            rest = &rest[len..];
            let position = Position {
                first,
                last: rest.is_empty(),
            };
            first = false;
            match piece {
                Piece::Byte(byte) => out.push(byte),
                Piece::Quoted(c) => push_char(&mut out, c),
                Piece::Char(c) => push_char(&mut out, self.original(c, position).unwrap_or(c)),
            }
        }
        out
    }

    /// Convenience: decode to a String for display, using lossy conversion only for display.
    pub fn decode_display(&self, remote: &str) -> String {
        String::from_utf8_lossy(&self.decode(remote)).into_owned()
    }

    /// Whether flag `bit` is set.
    const fn has(self, bit: u32) -> bool {
        self.bits & bit != 0
    }

    /// The `Dot` rule: a name that is exactly `.` or `..`.
    fn encode_dot_name(self, local: &[u8]) -> Option<&'static str> {
        match local {
            b"." if self.has(DOT) => Some("\u{FF0E}"),
            b".." if self.has(DOT) => Some("\u{FF0E}\u{FF0E}"),
            _ => None,
        }
    }

    /// The inverse of [`Self::encode_dot_name`].
    fn decode_dot_name(self, remote: &str) -> Option<&'static [u8]> {
        match remote {
            "\u{FF0E}" if self.has(DOT) => Some(b"."),
            "\u{FF0E}\u{FF0E}" if self.has(DOT) => Some(b".."),
            _ => None,
        }
    }

    /// Encodes one piece of a local name found at `position`.
    fn encode_unit(self, unit: Unit, position: Position) -> Token {
        let c = match unit {
            Unit::Byte(byte) => return Token::Byte(byte),
            Unit::Char(c) => c,
        };
        if let Some(replacement) = self.replacement(c, position) {
            Token::Replaced(replacement)
        } else if c == QUOTE || self.original(c, position).is_some() {
            Token::Quoted(c)
        } else {
            Token::Plain(c)
        }
    }

    /// The look-alike that stands for `c` at `position`, if a flag (or the NUL rule) says so.
    fn replacement(self, c: char, position: Position) -> Option<char> {
        self.anywhere_replacement(c)
            .or_else(|| position.first.then(|| self.left_replacement(c)).flatten())
            .or_else(|| position.last.then(|| self.right_replacement(c)).flatten())
    }

    /// The character a look-alike at `position` stands for: the inverse of
    /// [`Self::replacement`].
    fn original(self, replacement: char, position: Position) -> Option<char> {
        replaced_candidates(replacement)
            .find(|&c| self.replacement(c, position) == Some(replacement))
    }

    /// Replacements that apply wherever the character is.
    fn anywhere_replacement(self, c: char) -> Option<char> {
        match c {
            '\0' => Some(NUL_SYMBOL),
            '\u{7F}' if self.has(DEL) => Some(DEL_SYMBOL),
            '\r' | '\n' if self.has(CR_LF | CTL) => symbol_for(c),
            '\u{1}'..='\u{1F}' if self.has(CTL) => symbol_for(c),
            _ => FULLWIDTH_RULES
                .iter()
                .any(|&(bit, chars)| self.has(bit) && chars.contains(&c))
                .then(|| fullwidth(c))
                .flatten(),
        }
    }

    /// Replacements for the first character of a name.
    fn left_replacement(self, c: char) -> Option<char> {
        match c {
            ' ' if self.has(LEFT_SPACE) => symbol_for(c),
            '.' if self.has(LEFT_PERIOD) => fullwidth(c),
            '~' if self.has(LEFT_TILDE) => fullwidth(c),
            '\t' | '\n' | '\u{B}' | '\r' if self.has(LEFT_CR_LF_HT_VT) => symbol_for(c),
            _ => None,
        }
    }

    /// Replacements for the last character of a name.
    fn right_replacement(self, c: char) -> Option<char> {
        match c {
            ' ' if self.has(RIGHT_SPACE) => symbol_for(c),
            '.' if self.has(RIGHT_PERIOD) => fullwidth(c),
            '\t' | '\n' | '\u{B}' | '\r' if self.has(RIGHT_CR_LF_HT_VT) => symbol_for(c),
            _ => None,
        }
    }

    /// Whether `‛c` in a remote name is a quoted `c`: `c` is `‛` or a look-alike that some
    /// active rule produces somewhere in a name.
    fn is_quotable(self, c: char) -> bool {
        c == QUOTE
            || (c == FULLWIDTH_PERIOD && self.has(DOT))
            || replaced_candidates(c).any(|original| {
                [
                    self.anywhere_replacement(original),
                    self.left_replacement(original),
                    self.right_replacement(original),
                ]
                .contains(&Some(c))
            })
    }

    /// Reads the next piece of a remote name and its length in bytes; `None` at the end.
    fn next_piece(self, rest: &str) -> Option<(Piece, usize)> {
        let c = rest.chars().next()?;
        if c != QUOTE {
            return Some((Piece::Char(c), c.len_utf8()));
        }
        let quote_len = QUOTE.len_utf8();
        let after = &rest[quote_len..];
        if let Some(byte) = parse_escaped_byte(after) {
            return Some((Piece::Byte(byte), quote_len + 2));
        }
        match after.chars().next() {
            Some(quoted) if self.is_quotable(quoted) => {
                Some((Piece::Quoted(quoted), quote_len + quoted.len_utf8()))
            }
            // A `‛` that quotes nothing (never written by `encode`) stands for itself.
            _ => Some((Piece::Char(QUOTE), quote_len)),
        }
    }
}

impl Default for Encoding {
    /// [`Encoding::AMAZON_DRIVE`].
    fn default() -> Self {
        Self::AMAZON_DRIVE
    }
}

/// Why an encoding flag list could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    /// A name that is not one of rclone's encoding flags.
    #[error(
        "unknown encoding flag {flag:?}; valid flags are: {}",
        valid_flag_list()
    )]
    UnknownFlag {
        /// The name as written.
        flag: String,
    },
    /// An rclone flag this client cannot honour.
    #[error(
        "encoding flag {flag:?} is not supported: Amazon Drive names must be valid UTF-8 \
         without NUL, so names are always encoded"
    )]
    Unsupported {
        /// The name as written.
        flag: String,
    },
}

impl FromStr for Encoding {
    type Err = EncodingError;

    /// Parses rclone's comma list (`"Slash,InvalidUtf8,Dot"`): flag names in any case, spaces
    /// around them allowed, `None` for no flags.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .try_fold(Encoding::NONE, |encoding, name| {
                Ok(Encoding {
                    bits: encoding.bits | flag_bits(name)?,
                })
            })
    }
}

impl fmt::Display for Encoding {
    /// rclone's comma list, e.g. `Slash,InvalidUtf8,Dot`; `None` for no flags.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bits == 0 {
            return f.write_str("None");
        }
        let mut separator = "";
        for (name, bit) in FLAG_NAMES {
            if self.has(bit) {
                write!(f, "{separator}{name}")?;
                separator = ",";
            }
        }
        Ok(())
    }
}

/// The bits of one flag name.
fn flag_bits(name: &str) -> Result<u32, EncodingError> {
    if name.eq_ignore_ascii_case("None") {
        return Ok(0);
    }
    if name.eq_ignore_ascii_case("Raw") {
        return Err(EncodingError::Unsupported {
            flag: name.to_owned(),
        });
    }
    FLAG_NAMES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|&(_, bit)| bit)
        .ok_or_else(|| EncodingError::UnknownFlag {
            flag: name.to_owned(),
        })
}

/// All accepted flag names, for error messages.
fn valid_flag_list() -> String {
    let mut names = vec!["None"];
    names.extend(FLAG_NAMES.iter().map(|&(name, _)| name));
    names.join(", ")
}

/// Splits a local name into characters and invalid bytes.
fn split_units(local: &[u8]) -> Vec<Unit> {
    let mut units = Vec::with_capacity(local.len());
    for chunk in local.utf8_chunks() {
        units.extend(chunk.valid().chars().map(Unit::Char));
        units.extend(chunk.invalid().iter().map(|&byte| Unit::Byte(byte)));
    }
    units
}

/// With `Dot`, a name that would come out as exactly `．` or `．．` would decode as `.` or
/// `..`; quote its literal `．` so it does not.
fn quote_lone_fullwidth_periods(tokens: &mut [Token]) {
    let is_period = |token: &Token| {
        matches!(
            token,
            Token::Plain(FULLWIDTH_PERIOD) | Token::Replaced(FULLWIDTH_PERIOD)
        )
    };
    if tokens.len() <= 2 && tokens.iter().all(is_period) {
        for token in tokens.iter_mut() {
            if let Token::Plain(c) = *token {
                *token = Token::Quoted(c);
            }
        }
    }
}

/// Writes the tokens out as the remote name.
fn render(tokens: &[Token]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(tokens.len());
    for &token in tokens {
        match token {
            Token::Plain(c) | Token::Replaced(c) => out.push(c),
            Token::Quoted(c) => {
                out.push(QUOTE);
                out.push(c);
            }
            Token::Byte(byte) => {
                out.push(QUOTE);
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xF)]));
            }
        }
    }
    out
}

/// Parses the two upper-case hex digits after `‛`. Only bytes 0x80..=0xFF can be invalid
/// UTF-8, so only those are escapes.
fn parse_escaped_byte(s: &str) -> Option<u8> {
    let &[high, low] = s.as_bytes().first_chunk::<2>()?;
    let byte = (hex_value(high)? << 4) | hex_value(low)?;
    (byte >= 0x80).then_some(byte)
}

/// The value of an upper-case hex digit.
fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The characters a look-alike could stand for (at most one of them really does).
fn replaced_candidates(replacement: char) -> impl Iterator<Item = char> {
    let code = u32::from(replacement);
    [
        code.checked_sub(SYMBOL_OFFSET),
        code.checked_sub(FULLWIDTH_OFFSET),
        (replacement == DEL_SYMBOL).then_some(0x7F),
    ]
    .into_iter()
    .flatten()
    .filter_map(char::from_u32)
}

/// The FULLWIDTH form of printable ASCII `c`.
fn fullwidth(c: char) -> Option<char> {
    char::from_u32(u32::from(c) + FULLWIDTH_OFFSET)
}

/// The "SYMBOL FOR" picture of control character (or space) `c`.
fn symbol_for(c: char) -> Option<char> {
    char::from_u32(u32::from(c) + SYMBOL_OFFSET)
}

/// Appends `c` as UTF-8.
fn push_char(out: &mut Vec<u8>, c: char) {
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(flags: &str) -> Encoding {
        flags.parse().unwrap()
    }

    /// Encodes with `encoding`, checks that it decodes back, and returns the remote name.
    fn round_trip(encoding: Encoding, local: impl AsRef<[u8]>) -> String {
        let local = local.as_ref();
        let remote = encoding.encode(local);
        assert_eq!(
            encoding.decode(&remote),
            local,
            "{encoding}: {local:?} -> {remote:?} does not decode back"
        );
        remote
    }

    fn default_remote(local: &[u8]) -> String {
        round_trip(Encoding::AMAZON_DRIVE, local)
    }

    fn all_flags() -> Encoding {
        Encoding {
            bits: FLAG_NAMES.iter().fold(0, |bits, &(_, bit)| bits | bit),
        }
    }

    #[test]
    fn slash_becomes_fullwidth_solidus() {
        assert_eq!(default_remote(b"a/b"), "a\u{FF0F}b");
        assert_eq!(default_remote(b"/"), "\u{FF0F}");
    }

    #[test]
    fn dot_names_are_replaced_but_other_periods_are_not() {
        assert_eq!(default_remote(b"."), "\u{FF0E}");
        assert_eq!(default_remote(b".."), "\u{FF0E}\u{FF0E}");
        assert_eq!(default_remote(b"..."), "...");
        assert_eq!(default_remote(b".hidden"), ".hidden");
        assert_eq!(default_remote(b"name."), "name.");
    }

    #[test]
    fn literal_fullwidth_dot_names_are_quoted() {
        assert_eq!(default_remote("．".as_bytes()), "‛．");
        assert_eq!(default_remote("．．".as_bytes()), "‛．‛．");
        assert_eq!(default_remote("．．．".as_bytes()), "．．．");
        assert_eq!(default_remote("．.".as_bytes()), "．.");
    }

    #[test]
    fn dot_with_period_flags_quotes_only_literal_fullwidth_periods() {
        let encoding = enc("Dot,LeftPeriod,RightPeriod");
        assert_eq!(round_trip(encoding, ".x."), "．x．");
        assert_eq!(round_trip(encoding, ".．".as_bytes()), "．‛．");
        assert_eq!(round_trip(encoding, "．.".as_bytes()), "‛．．");
        assert_eq!(round_trip(encoding, b".."), "．．");
    }

    #[test]
    fn invalid_utf8_bytes_become_quoted_hex() {
        assert_eq!(default_remote(b"\xff"), "‛FF");
        assert_eq!(default_remote(b"a\xc3"), "a‛C3");
        assert_eq!(default_remote(b"\xe2\x82x"), "‛E2‛82x");
        assert_eq!(default_remote(b"\x80\x0a"), "‛80\n");
    }

    #[test]
    fn nul_is_always_encoded() {
        assert_eq!(default_remote(b"a\0b"), "a␀b");
        assert_eq!(round_trip(Encoding::NONE, b"\0"), "␀");
        assert_eq!(default_remote("␀".as_bytes()), "‛␀");
    }

    #[test]
    fn literal_look_alikes_and_the_quote_are_quoted() {
        assert_eq!(default_remote("a／b".as_bytes()), "a‛／b");
        assert_eq!(default_remote("‛".as_bytes()), "‛‛");
        assert_eq!(default_remote("‛FF".as_bytes()), "‛‛FF");
        assert_eq!(round_trip(Encoding::NONE, "‛".as_bytes()), "‛‛");
        // Without Slash, a fullwidth solidus is an ordinary character.
        assert_eq!(round_trip(Encoding::NONE, "／".as_bytes()), "／");
    }

    #[test]
    fn plain_names_are_unchanged() {
        for name in [
            "hello.txt",
            "Résumé 2024 (final).pdf",
            "日本語のファイル",
            "emoji 🎉",
            "back\\slash:colon*?",
            "\u{FFFD}",
            "tab\there",
        ] {
            assert_eq!(default_remote(name.as_bytes()), name);
        }
        assert_eq!(default_remote(b""), "");
    }

    #[test]
    fn control_and_delete_flags() {
        let encoding = enc("Ctl,Del");
        assert_eq!(round_trip(encoding, b"a\tb\x01\x1f"), "a␉b␁␟");
        assert_eq!(round_trip(encoding, b"\x7f"), "␡");
        assert_eq!(round_trip(encoding, "␉".as_bytes()), "‛␉");
        assert_eq!(round_trip(encoding, "␡".as_bytes()), "‛␡");
        assert_eq!(round_trip(enc("CrLf"), b"a\r\nb\t"), "a␍␊b\t");
    }

    #[test]
    fn space_flags_apply_at_the_edges_only() {
        let encoding = enc("LeftSpace,RightSpace");
        assert_eq!(round_trip(encoding, b" a b "), "␠a b␠");
        assert_eq!(round_trip(encoding, b" "), "␠");
        assert_eq!(round_trip(encoding, b"  "), "␠␠");
        assert_eq!(round_trip(encoding, "␠a␠".as_bytes()), "‛␠a‛␠");
        assert_eq!(round_trip(encoding, "a␠b".as_bytes()), "a␠b");
        assert_eq!(round_trip(enc("LeftSpace"), "a␠".as_bytes()), "a␠");
        // A literal quote before a replaced trailing space.
        assert_eq!(round_trip(enc("RightSpace"), "‛ ".as_bytes()), "‛‛␠");
    }

    #[test]
    fn other_edge_flags() {
        assert_eq!(round_trip(enc("LeftTilde"), b"~x~"), "～x~");
        assert_eq!(round_trip(enc("LeftTilde"), "～x".as_bytes()), "‛～x");
        let crlf = enc("LeftCrLfHtVt,RightCrLfHtVt");
        assert_eq!(round_trip(crlf, b"\nx\ty\x0b"), "␊x\ty␋");
        assert_eq!(round_trip(enc("RightPeriod"), b"a.b."), "a.b．");
    }

    #[test]
    fn fullwidth_flags_match_rclone() {
        let encoding = enc(
            "LtGt,DoubleQuote,SingleQuote,BackQuote,Dollar,Colon,Question,Asterisk,Pipe,\
             Hash,Percent,BackSlash,SquareBracket,Semicolon",
        );
        assert_eq!(
            round_trip(encoding, b"<>\"'`$:?*|#%\\[];"),
            "＜＞＂＇｀＄：？＊｜＃％＼［］；"
        );
        assert_eq!(round_trip(encoding, "：".as_bytes()), "‛：");
    }

    #[test]
    fn onedrive_style_flags_match_rclone() {
        let encoding = enc(
            "Slash,LtGt,DoubleQuote,Colon,Question,Asterisk,Pipe,Hash,Percent,BackSlash,Del,Ctl,\
             LeftTilde,RightSpace,RightPeriod,InvalidUtf8,Dot",
        );
        assert_eq!(
            round_trip(encoding, "~a/b~.\\*<>?:|#%\"."),
            "～a／b~.＼＊＜＞？：｜＃％＂．"
        );
        // Ctl stops at 0x1F: DEL needs Del, and ␠ (U+2420) is not quoted by Ctl.
        assert_eq!(round_trip(enc("Ctl"), b"\x7f"), "\x7f");
        assert_eq!(round_trip(enc("Ctl"), "␠".as_bytes()), "␠");
    }

    #[test]
    fn decode_keeps_quotes_that_quote_nothing() {
        let encoding = Encoding::AMAZON_DRIVE;
        assert_eq!(encoding.decode("‛"), "‛".as_bytes());
        assert_eq!(encoding.decode("‛41"), "‛41".as_bytes());
        assert_eq!(encoding.decode("‛ff"), "‛ff".as_bytes());
        assert_eq!(encoding.decode("‛x"), "‛x".as_bytes());
        assert_eq!(encoding.decode("a‛／b"), "a／b".as_bytes());
    }

    #[test]
    fn decode_display_is_lossy() {
        assert_eq!(Encoding::AMAZON_DRIVE.decode_display("a‛FF"), "a\u{FFFD}");
        assert_eq!(Encoding::AMAZON_DRIVE.decode_display("a／b"), "a/b");
    }

    #[test]
    fn flag_lists_parse_and_print() {
        assert_eq!(Encoding::AMAZON_DRIVE.to_string(), "Slash,InvalidUtf8,Dot");
        assert_eq!(enc("Slash,InvalidUtf8,Dot"), Encoding::AMAZON_DRIVE);
        assert_eq!(enc(" dot , SLASH,invalidutf8"), Encoding::AMAZON_DRIVE);
        assert_eq!(Encoding::default(), Encoding::AMAZON_DRIVE);
        assert_eq!(enc("None"), Encoding::NONE);
        assert_eq!(Encoding::NONE.to_string(), "None");
        assert_eq!(enc("None,Slash").to_string(), "Slash");
        let all = all_flags();
        assert_eq!(enc(&all.to_string()), all);
    }

    #[test]
    fn bad_flag_lists_are_rejected() {
        let error = "Slash,Bogus".parse::<Encoding>().unwrap_err();
        assert_eq!(
            error,
            EncodingError::UnknownFlag {
                flag: "Bogus".into()
            }
        );
        let message = error.to_string();
        assert!(message.contains("\"Bogus\""), "{message}");
        assert!(message.contains("Slash") && message.contains("InvalidUtf8"));
        assert!(matches!(
            "".parse::<Encoding>(),
            Err(EncodingError::UnknownFlag { .. })
        ));
        assert!(matches!(
            "Slash,,Dot".parse::<Encoding>(),
            Err(EncodingError::UnknownFlag { .. })
        ));
        assert!(matches!(
            "raw".parse::<Encoding>(),
            Err(EncodingError::Unsupported { .. })
        ));
    }

    /// Byte strings rich in the characters the encoder treats specially.
    fn tricky_name() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            any::<u8>().prop_map(|byte| vec![byte]),
            prop::sample::select(vec![
                "‛", "／", "/", "．", ".", " ", "␠", "␀", "\0", "\t", "␉", "\n", "␊", "\r", "␍",
                "\x0b", "␋", "~", "～", "\x7f", "␡", "\x01", "␁", "：", ":", "*", "＊", "\\", "＼",
                "A", "F", "8", "é", "日", "\u{FFFD}",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            prop::sample::select(vec![&b"\xff"[..], b"\xc3", b"\xe2\x82", b"\xf0\x9f\x8e"])
                .prop_map(<[u8]>::to_vec),
        ];
        prop::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
    }

    fn any_encoding() -> impl Strategy<Value = Encoding> {
        let all = all_flags().bits;
        any::<u32>().prop_map(move |bits| Encoding { bits: bits & all })
    }

    proptest! {
        #[test]
        fn default_round_trips_any_bytes(local in prop::collection::vec(any::<u8>(), 0..32)) {
            let encoding = Encoding::AMAZON_DRIVE;
            prop_assert_eq!(encoding.decode(&encoding.encode(&local)), local);
        }

        #[test]
        fn default_round_trips_tricky_names(local in tricky_name()) {
            let encoding = Encoding::AMAZON_DRIVE;
            prop_assert_eq!(encoding.decode(&encoding.encode(&local)), local);
        }

        #[test]
        fn default_output_is_a_valid_amazon_drive_name(local in tricky_name()) {
            let remote = Encoding::AMAZON_DRIVE.encode(&local);
            prop_assert!(!remote.contains('/') && !remote.contains('\0'), "{remote:?}");
            prop_assert!(remote != "." && remote != "..", "{remote:?}");
        }

        #[test]
        fn flag_sets_round_trip(
            local in tricky_name(),
            flags in prop::sample::select(vec![
                "None",
                "Slash,Ctl,Del,LeftSpace,RightSpace,BackSlash,InvalidUtf8,Dot",
                "Slash,LeftPeriod,RightPeriod,LeftTilde,Dot",
                "Slash,LtGt,DoubleQuote,Colon,Question,Asterisk,Pipe,BackSlash,Ctl,RightSpace,\
                 RightPeriod,InvalidUtf8,Dot",
                "LeftCrLfHtVt,RightCrLfHtVt,CrLf,LeftSpace",
            ]),
        ) {
            let encoding: Encoding = flags.parse().unwrap();
            prop_assert_eq!(encoding.decode(&encoding.encode(&local)), local);
        }

        #[test]
        fn any_flag_set_round_trips(local in tricky_name(), encoding in any_encoding()) {
            let remote = encoding.encode(&local);
            prop_assert_eq!(encoding.decode(&remote), local);
        }

        #[test]
        fn any_flag_set_round_trips_any_bytes(
            local in prop::collection::vec(any::<u8>(), 0..16),
            encoding in any_encoding(),
        ) {
            prop_assert_eq!(encoding.decode(&encoding.encode(&local)), local);
        }

        #[test]
        fn decode_accepts_any_string(remote in "\\PC{0,12}|[‛．／␀ FA8.]{0,6}", encoding in any_encoding()) {
            let local = encoding.decode(&remote);
            // Whatever it decodes to encodes and decodes back to the same bytes.
            prop_assert_eq!(encoding.decode(&encoding.encode(&local)), local);
        }

        #[test]
        fn names_without_special_characters_are_unchanged(chars in prop::collection::vec(any::<char>(), 0..20)) {
            let name: String = chars
                .into_iter()
                .filter(|c| !matches!(c, '/' | '\0' | '‛' | '／' | '␀'))
                .collect();
            prop_assume!(name != "." && name != ".." && name != "．" && name != "．．");
            prop_assert_eq!(Encoding::AMAZON_DRIVE.encode(name.as_bytes()), name);
        }
    }
}
