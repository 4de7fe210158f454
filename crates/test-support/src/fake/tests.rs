use super::*;

#[test]
fn like_matches_sql() {
    let like = |text: &str, pattern: &str, db| Like::new(pattern, db).unwrap().matches(text);
    assert!(like("@bob_smith:test", "@%b_b%:%", Db::Postgres));
    assert!(like("@mallory:test", "@%a%y%:%", Db::Postgres));
    assert!(!like("@alice:test", "@%ALICE%:%", Db::Postgres));
    assert!(like("@alice:test", "@%ALICE%:%", Db::Sqlite));
    assert!(!like("@alice:test", "@%test%:%", Db::Sqlite));
    assert!(like("abc", "%", Db::Sqlite));
    assert!(!like("", "_", Db::Sqlite));
    assert!(like("zoë", "zo_", Db::Sqlite), "_ is one character");
    assert!(!like("ZOË", "%zoë%", Db::Sqlite), "only ASCII folds");
    // PostgreSQL's default escape.
    assert!(like("a_b", "%a\\_b%", Db::Postgres));
    assert!(!like("axb", "%a\\_b%", Db::Postgres));
    assert!(like("a\\xb", "%a\\_b%", Db::Sqlite));
    assert!(Like::new("abc\\", Db::Postgres).is_none());
}

/// A slow, obviously correct `LIKE`; `None` for a pattern PostgreSQL
/// refuses (ending with a lone escape).
fn like_reference(text: &[char], pattern: &[char], db: Db) -> Option<bool> {
    let mut escapes = 0;
    for c in pattern.iter().rev() {
        if *c != '\\' {
            break;
        }
        escapes += 1;
    }
    if db == Db::Postgres && escapes % 2 == 1 {
        return None;
    }
    like_recursive(text, pattern, db)
}

fn like_recursive(text: &[char], pattern: &[char], db: Db) -> Option<bool> {
    let eq = |a: char, b: char| match db {
        Db::Sqlite => a.eq_ignore_ascii_case(&b),
        Db::Postgres => a == b,
    };
    Some(match pattern {
        [] => text.is_empty(),
        ['%', rest @ ..] => {
            let mut any = false;
            for skip in 0..=text.len() {
                any |= like_recursive(&text[skip..], rest, db)?;
            }
            any
        }
        ['_', rest @ ..] => !text.is_empty() && like_recursive(&text[1..], rest, db)?,
        ['\\'] if db == Db::Postgres => return None,
        ['\\', c, rest @ ..] if db == Db::Postgres => {
            text.first().is_some_and(|t| *t == *c) && like_recursive(&text[1..], rest, db)?
        }
        [c, rest @ ..] => {
            text.first().is_some_and(|t| eq(*t, *c)) && like_recursive(&text[1..], rest, db)?
        }
    })
}

proptest::proptest! {
    #[test]
    fn like_agrees_with_a_reference(
        text in "[abAB_%\\\\ë]{0,8}",
        pattern in "[abAB_%\\\\ë]{0,8}",
    ) {
        for db in [Db::Sqlite, Db::Postgres] {
            let t: Vec<char> = text.chars().collect();
            let p: Vec<char> = pattern.chars().collect();
            let got = Like::new(&pattern, db).map(|l| l.matches(&text));
            proptest::prop_assert_eq!(got, like_reference(&t, &p, db), "{:?} {:?} {:?}", db, text, pattern);
        }
    }
}

#[test]
fn python_int_rules() {
    let int = |s: &[u8]| PyInt::parse(s).and_then(|v| v.to_i128());
    assert_eq!(int(b" 42 "), Some(42));
    assert_eq!(int(b"+1_000"), Some(1000));
    assert_eq!(int(b"-3"), Some(-3));
    assert_eq!(int(b"\x0b7\x0c"), Some(7));
    assert_eq!(int(b"007"), Some(7));
    assert!(!PyInt::parse(b"-0").unwrap().is_negative());
    for bad in [
        &b""[..],
        b" ",
        b"1.5",
        b"abc",
        b"1__0",
        b"_1",
        b"1_",
        b"0x10",
        b"-",
        b"+-1",
        b"\x1c5",
        b"\xc2\xa05",
        b"5\x00",
    ] {
        assert!(PyInt::parse(bad).is_none(), "{bad:?}");
    }
    assert!(PyInt::parse(&[b'1'; 4300]).is_some());
    assert!(PyInt::parse(&[b'1'; 4301]).is_none());
    let big = PyInt::parse(b"99999999999999999999").unwrap();
    assert!(!big.fits_i64());
    assert!(PyInt::parse(b"9223372036854775807").unwrap().fits_i64());
    assert!(big > PyInt::parse(b"9223372036854775807").unwrap());
}

#[test]
fn twisted_query_parsing() {
    let args = Args::parse("a=1&a=2;b=%41+c&d&e=&%zz=%4");
    assert_eq!(args.get("a"), Some(&[b"1".to_vec(), b"2".to_vec()][..]));
    assert_eq!(args.get("b"), Some(&[b"A c".to_vec()][..]));
    assert_eq!(args.get("d"), None);
    assert_eq!(args.get("e"), Some(&[Vec::new()][..]));
    assert_eq!(args.get("%zz"), Some(&[b"%4".to_vec()][..]));
}

#[test]
fn json_like_python() {
    let mut s = String::new();
    push_json_str(&mut s, "Zoë \"q\" \\ \n 😀 \u{7f}");
    assert_eq!(s, r#""Zo\u00eb \"q\" \\ \n \ud83d\ude00 \u007f""#);
}
