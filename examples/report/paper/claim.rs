//! What the paper states: the figure written just before a marker, or in a
//! table cell, read with the precision and unit it is written in.

/// A unit a figure can be written in, and its factor to a base unit of
/// its kind (seconds, KiB, or a plain count).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    /// A plain number (a count, or a ratio written without `×`).
    Plain,
    /// A ratio written with `×`.
    Times,
    /// A ratio written as a percentage.
    Percent,
    /// Thousands (`k`) or millions (`M`) of a count.
    Count(f64),
    /// A duration, with its length in seconds.
    Time(f64),
    /// A size, in KiB.
    Size(f64),
}

/// Suffixes, longest first so that `ms` is not read as `s`.
const UNITS: [(&str, Unit); 11] = [
    ("MiB", Unit::Size(1024.0)),
    ("GiB", Unit::Size(1024.0 * 1024.0)),
    ("KiB", Unit::Size(1.0)),
    ("µs", Unit::Time(1e-6)),
    ("ms", Unit::Time(1e-3)),
    ("ns", Unit::Time(1e-9)),
    ("s", Unit::Time(1.0)),
    ("×", Unit::Times),
    ("%", Unit::Percent),
    ("M", Unit::Count(1e6)),
    ("k", Unit::Count(1e3)),
];

/// A number as written: its value and how many decimals it shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Written {
    pub value: f64,
    pub decimals: i32,
}

impl Written {
    /// Whether `actual` (in the same unit) rounds to this figure.
    pub fn matches(self, actual: f64) -> bool {
        let half_step = 0.5 * 10f64.powi(-self.decimals);
        (actual - self.value).abs() <= half_step * (1.0 + 1e-9) + 1e-12
    }
}

/// A stated figure.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// `-` or `–`: no data.
    Nothing,
    /// A verdict word (`met`, `missed`, `undecided`) or a machine fact.
    Word(String),
    /// One number, or a range `low–high` (the smallest and largest of a
    /// set of values), in `unit`.
    Number {
        low: Option<Written>,
        high: Written,
        unit: Unit,
    },
}

/// The claim at the end of `text` (the text before a marker, or a cell).
pub fn parse(text: &str) -> Result<Claim, String> {
    let text = text.trim_end().trim_end_matches('*').trim_end();
    if text.is_empty() {
        return Err("no figure before the marker".into());
    }
    let last_word = text.rsplit([' ', '(', '|']).next().unwrap_or(text);
    if last_word == "-" || last_word == "–" {
        return Ok(Claim::Nothing);
    }
    let (rest, unit) = strip_unit(text);
    let Some((rest, high)) = strip_number(rest) else {
        let bare = text.trim_end_matches(['*', '`', ',', '.', ')', ':']);
        let word = bare.rsplit([' ', '(', '`', '*']).next().unwrap_or(bare);
        return Ok(Claim::Word(word.to_string()));
    };
    let rest = rest.trim_end();
    let low = rest
        .strip_suffix('–')
        .and_then(|before| strip_number(strip_unit(before.trim_end()).0))
        .map(|(_, low)| low);
    Ok(Claim::Number { low, high, unit })
}

/// `text` without a trailing unit (and the space before it).
fn strip_unit(text: &str) -> (&str, Unit) {
    for (suffix, unit) in UNITS {
        if let Some(before) = text.strip_suffix(suffix) {
            if before.ends_with(|c: char| c.is_ascii_digit() || c == ' ') {
                return (before.trim_end(), unit);
            }
        }
    }
    (text, Unit::Plain)
}

/// `text` without a trailing number (digits, `,` thousands separators and
/// one `.`), and that number.
fn strip_number(text: &str) -> Option<(&str, Written)> {
    let start = text
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_digit() || *c == ',' || *c == '.')
        .last()
        .map(|(i, _)| i)?;
    let digits = text[start..].trim_start_matches([',', '.']);
    let start = text.len() - digits.len();
    let glued = text[..start]
        .chars()
        .last()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    if glued || !digits.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let plain: String = digits.chars().filter(|&c| c != ',').collect();
    let value: f64 = plain.parse().ok()?;
    let decimals = plain.split_once('.').map_or(0, |(_, d)| d.len() as i32);
    Some((&text[..start], Written { value, decimals }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> (Option<f64>, f64, i32, Unit) {
        match parse(text).unwrap() {
            Claim::Number { low, high, unit } => {
                (low.map(|l| l.value), high.value, high.decimals, unit)
            }
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn figures_are_read_with_their_precision_and_unit() {
        assert_eq!(number("runs at 7.21 M"), (None, 7.21, 2, Unit::Count(1e6)));
        assert_eq!(number("is **0.77×**"), (None, 0.77, 2, Unit::Times));
        assert_eq!(number("(44,630 µs"), (None, 44630.0, 0, Unit::Time(1e-6)));
        assert_eq!(number("keeps 74%"), (None, 74.0, 0, Unit::Percent));
        assert_eq!(
            number("reaches 0.35–0.96×"),
            (Some(0.35), 0.96, 2, Unit::Times)
        );
        assert_eq!(number("1.6 µs"), (None, 1.6, 1, Unit::Time(1e-6)));
        assert_eq!(number("RSS 420 MiB"), (None, 420.0, 0, Unit::Size(1024.0)));
        assert_eq!(number("a 3.1"), (None, 3.1, 1, Unit::Plain));
        assert_eq!(
            parse("verdict **missed**"),
            Ok(Claim::Word("missed".into()))
        );
        assert_eq!(parse("–"), Ok(Claim::Nothing));
        assert_eq!(parse("commit `6e20da5`"), Ok(Claim::Word("6e20da5".into())));
    }

    #[test]
    fn a_figure_matches_what_rounds_to_it() {
        let w = Written {
            value: 0.77,
            decimals: 2,
        };
        assert!(w.matches(0.7717) && w.matches(0.765) && !w.matches(0.78));
        let whole = Written {
            value: 45.0,
            decimals: 0,
        };
        assert!(whole.matches(44.63) && !whole.matches(44.4));
    }
}
