//! Text from outside (a pulled commit's author or message, a path, a column name, a cell)
//! made safe to show: control characters are written as visible escapes instead of reaching
//! the terminal, where ESC, CSI, OSC (`ESC ]52` writes the clipboard), BEL and a bare CR act.
//! Every human printer goes through `escape`; JSON and other machine formats stay exact.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as is. `layout` keeps newline and tab (for text
/// that spans lines); without it they are escaped too (for one table cell or one line).
fn is_unsafe(c: char, layout: bool) -> bool {
    match c {
        '\n' | '\t' => !layout,
        // C0, DEL and C1 controls (C1 includes CSI U+009B and OSC U+009D).
        c if c.is_control() => true,
        // Bidirectional overrides and isolates, which reorder what is shown.
        '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// `text` with every unsafe character written as an escape: `\r`, `\n`, `\t`, `\x1b` for
/// ASCII controls, `\u{9b}` for the rest. `layout`: keep newlines and tabs.
pub fn escape(text: &str, layout: bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c, layout)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !is_unsafe(c, layout) {
            out.push(c);
            continue;
        }
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// Text that may span lines: controls escaped, newlines and tabs kept.
pub fn escape_text(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

/// One line or one table cell: newlines and tabs escaped too.
#[cfg(any(feature = "cli", test))]
pub fn escape_line(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn controls_become_visible() {
        assert_eq!(escape_text("plain ünïcode"), "plain ünïcode");
        assert_eq!(
            escape_text("a\u{1b}]52;c;SGVsbG8=\u{7}b\rc\u{9b}31md\u{202e}e\nf\tg\u{7f}"),
            "a\\x1b]52;c;SGVsbG8=\\x07b\\rc\\u{9b}31md\\u{202e}e\nf\tg\\x7f"
        );
        assert_eq!(escape_line("a\nb\tc"), "a\\nb\\tc");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn nothing_unsafe_survives(text in any::<String>()) {
            let line = escape_line(&text);
            prop_assert!(!line.chars().any(|c| is_unsafe(c, false)));
            let kept = escape_text(&text);
            prop_assert!(!kept.chars().any(|c| is_unsafe(c, true)));
            prop_assert_eq!(kept.matches('\n').count(), text.matches('\n').count());
        }
    }
}
