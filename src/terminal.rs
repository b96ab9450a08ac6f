//! Text on its way to a terminal: control characters escaped so that nothing read from a file or
//! a registry can move the cursor, erase a line or reorder what is shown; long lists shortened.

use std::borrow::Cow;
use std::fmt::Write as _;

/// At most this many items of a list are named in a message; the rest are counted.
pub(crate) const LISTED_ITEMS: usize = 10;

/// Whether `c` would be interpreted by a terminal rather than shown: C0 controls (all of them,
/// newline and tab included), DEL, C1 controls, and the Unicode bidirectional controls
/// (embeddings, overrides, isolates and marks) that reorder the text around them.
pub(crate) fn is_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character written as an escape: `\n`, `\r`, `\t`, `\x1b` for the
/// other C0 controls and DEL, `\u{9b}` for C1 and `\u{202e}` for bidi controls. Text without
/// any is returned as it is.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && is_control(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Joins the first [`LISTED_ITEMS`] items with `, ` and counts the rest: `a, b, … and 7 more`.
pub(crate) fn shortened_list<I>(items: I) -> String
where
    I: IntoIterator,
    I::Item: std::fmt::Display,
{
    let mut out = String::new();
    let mut rest = 0usize;
    for (n, item) in items.into_iter().enumerate() {
        if n < LISTED_ITEMS {
            if n > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{item}");
        } else {
            rest += 1;
        }
    }
    if rest > 0 {
        let _ = write!(out, " and {rest} more");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_plain_text_is_borrowed() {
        let cases = [
            ("plain text: ok", "plain text: ok"),
            ("a\rb", "a\\rb"),
            ("line\nnext\ttab", "line\\nnext\\ttab"),
            ("\x1b[2KDone", "\\x1b[2KDone"),
            ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
            ("nul\0del\x7f", "nul\\x00del\\x7f"),
            ("csi\u{9b}31m", "csi\\u{9b}31m"),
            ("abc\u{202e}fed", "abc\\u{202e}fed"),
            (
                "\u{2066}iso\u{2069}\u{200f}\u{61c}",
                "\\u{2066}iso\\u{2069}\\u{200f}\\u{61c}",
            ),
            ("ünïcödé ✓ 日本", "ünïcödé ✓ 日本"),
        ];
        for (input, expected) in cases {
            assert_eq!(escape_controls(input), expected, "{input:?}");
        }
        assert!(matches!(escape_controls("fine"), Cow::Borrowed(_)));
    }

    #[test]
    fn long_lists_are_cut_after_ten_items() {
        assert_eq!(shortened_list(Vec::<String>::new()), "");
        assert_eq!(shortened_list(["a"]), "a");
        assert_eq!(shortened_list(1..=10), "1, 2, 3, 4, 5, 6, 7, 8, 9, 10");
        assert_eq!(
            shortened_list(1..=300_000),
            "1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 299990 more"
        );
    }
}
