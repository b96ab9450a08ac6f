//! Text bound for a terminal: control characters that came from outside are shown escaped.

use std::borrow::Cow;

/// `text` with C0/C1 control characters, DEL and bidi overrides written as escapes, so that text
/// from a network peer cannot move the cursor, erase a line or reorder what is shown.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}
