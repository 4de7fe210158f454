//! Neutralising text on its way out. Every piece of text a renderer writes
//! goes through [`neutral`]; outside text also gets a length cap.
//!
//! Escaped as visible text, in Rust's notation:
//! - control characters (Unicode `Cc`: C0 with newline, carriage return and
//!   tab, DEL, C1 — the terminal's escape sequences start there): `\n`,
//!   `\r`, `\t`, `\u{1b}`;
//! - line and paragraph separators (U+2028, U+2029), which some clients
//!   break lines at;
//! - format characters (Unicode `Cf`): the bidi controls (U+202A–U+202E,
//!   U+2066–U+2069, U+200E, U+200F, U+061C), zero-width characters
//!   (U+200B–U+200D, U+2060, U+FEFF), the soft hyphen and the other
//!   invisible formatters; and the invisible fillers used for blank names
//!   (U+034F, U+115F, U+1160, U+3164, U+FFA0);
//! - `@room` (any case, as a whole word): its `@` becomes `\u{40}`, so
//!   that the legacy `.m.rule.roomnotif` push rule cannot ping the room.
//!
//! What remains is printable text that starts no line and moves no cursor.
//! HTML escaping is the HTML renderer's job, after this.

/// Display names are cut at this many characters.
pub const NAME_CAP: usize = 64;
/// User and room IDs (the Matrix limit is 255 bytes).
pub const ID_CAP: usize = 255;
/// Search terms and words echoed back.
pub const TERM_CAP: usize = 100;
/// Error messages from Synapse or the network.
pub const ERROR_CAP: usize = 500;
/// Rule descriptions and names from the policy file.
pub const DESCRIPTION_CAP: usize = 200;

/// Whether `c` is shown as an escape.
fn escaped(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{034f}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061c}'
                | '\u{06dd}'
                | '\u{070f}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08e2}'
                | '\u{115f}'..='\u{1160}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{3164}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0001}'
                | '\u{e0020}'..='\u{e007f}'
        )
}

/// Whether `text` holds no character that [`neutral`] escapes (for tests
/// of the renderings).
pub fn is_neutralised(text: &str) -> bool {
    !text.chars().any(escaped)
}

fn escape(c: char) -> String {
    match c {
        '\n' => "\\n".to_owned(),
        '\r' => "\\r".to_owned(),
        '\t' => "\\t".to_owned(),
        c => format!("\\u{{{:x}}}", u32::from(c)),
    }
}

/// `text`, neutralised (see the [module docs](self)) and cut at `cap`
/// characters of output, ending with `…` when cut. An escape is never cut
/// in the middle.
pub fn neutral(text: &str, cap: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut pieces: Vec<String> = Vec::with_capacity(chars.len());
    for (i, &c) in chars.iter().enumerate() {
        let piece = if escaped(c) {
            escape(c)
        } else if c == '@' && pings_room(&chars[i + 1..]) {
            "\\u{40}".to_owned()
        } else {
            c.to_string()
        };
        pieces.push(piece);
    }
    // Cutting can make a whole word of `@room` (`@roomy` → `@room…`):
    // escape such an `@` too, and cut again.
    loop {
        let (out, kept) = cut(&pieces, cap);
        let tail: Vec<char> = out.chars().collect();
        let mut at = 0;
        let mut forged = None;
        for (i, p) in pieces[..kept].iter().enumerate() {
            if p == "@" && pings_room(&tail[at + 1..]) {
                forged = Some(i);
                break;
            }
            at += p.chars().count();
        }
        match forged {
            Some(i) => pieces[i] = "\\u{40}".to_owned(),
            None => return out,
        }
    }
}

/// The pieces that fit in `cap` characters (with `…` when cut), and how
/// many pieces were kept.
fn cut(pieces: &[String], cap: usize) -> (String, usize) {
    let total: usize = pieces.iter().map(|p| p.chars().count()).sum();
    if total <= cap {
        return (pieces.concat(), pieces.len());
    }
    let mut out = String::new();
    let mut used = 0;
    let mut kept = 0;
    for p in pieces {
        let n = p.chars().count();
        if used + n + 1 > cap {
            break;
        }
        used += n;
        kept += 1;
        out.push_str(p);
    }
    out.push('…');
    (out, kept)
}

/// Whether `rest` (what follows an `@`) makes `@room` a whole word.
fn pings_room(rest: &[char]) -> bool {
    rest.len() >= 4
        && rest[..4]
            .iter()
            .zip("room".chars())
            .all(|(a, b)| a.to_lowercase().eq(std::iter::once(b)))
        && rest
            .get(4)
            .is_none_or(|c| !(c.is_alphanumeric() || *c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_act() {
        assert_eq!(neutral("a\nb\tc\r", 99), "a\\nb\\tc\\r");
        assert_eq!(neutral("\u{1b}[31mred", 99), "\\u{1b}[31mred");
        assert_eq!(neutral("\u{202e}gnp.exe", 99), "\\u{202e}gnp.exe");
        assert_eq!(neutral("a\u{200b}b\u{2028}", 99), "a\\u{200b}b\\u{2028}");
        assert_eq!(neutral("\u{9b}2J", 99), "\\u{9b}2J");
        assert_eq!(neutral("Zoë 🔴 日本", 99), "Zoë 🔴 日本");
    }

    #[test]
    fn at_room_cannot_ping() {
        assert_eq!(neutral("hi @room!", 99), "hi \\u{40}room!");
        assert_eq!(neutral("@ROOM", 99), "\\u{40}ROOM");
        assert_eq!(neutral("@room:hs", 99), "\\u{40}room:hs");
        assert_eq!(neutral("@roomba:hs", 99), "@roomba:hs");
        assert_eq!(neutral("@roo", 99), "@roo");
        assert_eq!(neutral("@roomba", 7), "@roomba");
        assert_eq!(neutral("@roomba", 6), "…");
        assert_eq!(neutral("@roomba@roomba", 13), "@roomba…");
    }

    proptest::proptest! {
        #[test]
        fn any_text_comes_out_inert_and_capped(text in "\\PC*|[\\x00-\\x{a0}\\x{2000}-\\x{2070}]*|(@[rRoOmM]{0,5}[ :_a]?)*", cap in 1usize..80) {
            let out = neutral(&text, cap);
            proptest::prop_assert!(is_neutralised(&out), "{:?}", out);
            proptest::prop_assert!(out.chars().count() <= cap, "{:?}", out);
            let chars: Vec<char> = out.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                proptest::prop_assert!(*c != '@' || !pings_room(&chars[i + 1..]), "{:?}", out);
            }
        }
    }

    #[test]
    fn caps_at_whole_escapes() {
        assert_eq!(neutral("abcdef", 6), "abcdef");
        assert_eq!(neutral("abcdefg", 6), "abcde…");
        assert_eq!(neutral("ab\ncdefg", 6), "ab\\nc…");
        assert_eq!(neutral("abcd\nefg", 6), "abcd…");
        assert_eq!(neutral("", 0), "");
    }
}
