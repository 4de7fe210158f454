//! Python's and Twisted's view of the request: the query string as
//! `parse_qs` splits it, and integers as `int()` reads them.

use super::*;

/// The query's arguments as Twisted's `parse_qs(qs, keep_blank_values=1)`
/// gives them: every value of each name, as bytes, in order.
#[derive(Debug, Default)]
pub(crate) struct Args(pub(crate) HashMap<Vec<u8>, Vec<Vec<u8>>>);

impl Args {
    pub(crate) fn parse(query: &str) -> Args {
        let mut args: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
        for item in query
            .as_bytes()
            .split(|&b| b == b'&')
            .flat_map(|s| s.split(|&b| b == b';'))
        {
            let Some(eq) = item.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (name, value) = (unquote(&item[..eq]), unquote(&item[eq + 1..]));
            args.entry(name).or_default().push(value);
        }
        Args(args)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&[Vec<u8>]> {
        self.0.get(name.as_bytes()).map(Vec::as_slice)
    }
}

/// `urllib.parse.unquote_to_bytes(s.replace(b"+", b" "))`.
pub(crate) fn unquote(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// An integer as Python holds it: unbounded, compared exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PyInt {
    pub(crate) negative: bool,
    /// Decimal digits without leading zeros; `"0"` for zero.
    pub(crate) digits: String,
}

impl PyInt {
    /// Python's `int(value)` on bytes; `None` where it raises.
    pub(crate) fn parse(value: &[u8]) -> Option<PyInt> {
        // Python's whitespace for bytes: space, \t, \n, \v, \f, \r.
        let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
        let start = value.iter().position(|b| !space(b))?;
        let end = value.iter().rposition(|b| !space(b))? + 1;
        let t = &value[start..end];
        let (negative, body) = match t.first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        // Digits with single underscores between them.
        let mut digits = String::with_capacity(body.len());
        let mut prev_digit = false;
        for &b in body {
            match b {
                b'0'..=b'9' => {
                    digits.push(b as char);
                    prev_digit = true;
                }
                b'_' if prev_digit => prev_digit = false,
                _ => return None,
            }
        }
        if !prev_digit || digits.len() > PY_INT_MAX_DIGITS {
            return None;
        }
        let trimmed = digits.trim_start_matches('0');
        let digits = if trimmed.is_empty() { "0" } else { trimmed }.to_owned();
        let negative = negative && digits != "0";
        Some(PyInt { negative, digits })
    }

    pub(crate) fn is_negative(&self) -> bool {
        self.negative
    }

    /// Whether a database driver can bind it as a signed 64-bit integer.
    pub(crate) fn fits_i64(&self) -> bool {
        self.to_i128().is_some_and(|v| i64::try_from(v).is_ok())
    }

    pub(crate) fn to_i128(&self) -> Option<i128> {
        let v: i128 = self.digits.parse().ok()?;
        Some(if self.negative { -v } else { v })
    }

    /// The value if non-negative, saturated to `u128::MAX`.
    pub(crate) fn to_u128_saturating(&self) -> u128 {
        if self.negative {
            0
        } else {
            self.digits.parse().unwrap_or(u128::MAX)
        }
    }
}

impl Ord for PyInt {
    fn cmp(&self, other: &PyInt) -> Ordering {
        let magnitude = self
            .digits
            .len()
            .cmp(&other.digits.len())
            .then_with(|| self.digits.cmp(&other.digits));
        match (self.negative, other.negative) {
            (false, false) => magnitude,
            (true, true) => magnitude.reverse(),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
        }
    }
}

impl PartialOrd for PyInt {
    fn partial_cmp(&self, other: &PyInt) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
