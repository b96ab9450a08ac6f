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

/// At most this many characters of one line of text quoted from a file, a parser or a helper
/// process are put in a message.
pub(crate) const QUOTED_LINE_CHARS: usize = 200;
/// At most this many characters of such text in all.
pub(crate) const QUOTED_CHARS: usize = 2000;

/// Text quoted from configuration, a parser's message or a helper's output, cut to at most
/// [`QUOTED_LINE_CHARS`] per line and [`QUOTED_CHARS`] in all, saying how much was cut:
/// `… [398012 characters cut]`. Control characters are left for the error printer to escape.
pub(crate) fn cut_quoted(text: &str) -> String {
    let mut out = String::new();
    let mut kept = 0usize;
    let mut cut = 0usize;
    for (n, line) in text.split('\n').enumerate() {
        let length = line.chars().count();
        if kept >= QUOTED_CHARS {
            cut += length + usize::from(n > 0);
            continue;
        }
        if n > 0 {
            out.push('\n');
        }
        let room = QUOTED_LINE_CHARS.min(QUOTED_CHARS - kept);
        out.extend(line.chars().take(room));
        let taken = length.min(room);
        kept += taken;
        if taken < length {
            out.push('…');
            cut += length - taken;
        }
    }
    if cut > 0 {
        let _ = write!(out, " [{cut} characters cut]");
    }
    out
}

/// A value from configuration, quoted (`"…"`, escaped as Rust's `{:?}` does) and cut to at
/// most [`QUOTED_LINE_CHARS`] characters, saying how many were cut.
pub(crate) fn quote(value: &str) -> String {
    let length = value.chars().count();
    if length <= QUOTED_LINE_CHARS {
        return format!("{value:?}");
    }
    let kept: String = value.chars().take(QUOTED_LINE_CHARS).collect();
    format!("{kept:?}… [{} characters cut]", length - QUOTED_LINE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_cut() {
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        let shown = quote(&"y".repeat(1000));
        assert!(shown.ends_with("\"… [800 characters cut]"), "{shown}");
    }

    #[test]
    fn quoted_text_is_cut_per_line_and_in_all_saying_how_much() {
        assert_eq!(cut_quoted("short\ntext"), "short\ntext");
        let long = format!("a = '{}'\n  |     ^\nexpected `]`", "x".repeat(400_000));
        let shown = cut_quoted(&long);
        assert!(shown.starts_with("a = 'xxx"), "{shown}");
        assert!(shown.contains("…\n  |     ^\nexpected `]`"), "{shown}");
        assert!(shown.ends_with(" [399806 characters cut]"), "{shown}");
        let many_lines = "line\n".repeat(10_000);
        let shown = cut_quoted(&many_lines);
        assert!(
            shown.chars().count() < QUOTED_CHARS + 3_000,
            "{}",
            shown.len()
        );
        assert!(shown.ends_with("characters cut]"), "{shown}");
    }

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
