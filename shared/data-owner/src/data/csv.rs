//! CSV text to a header and rows, with the `csv` crate (RFC 4180: quoted fields, doubled quotes,
//! `\n`, `\r\n` or `\r` line ends). The separator is `;` when the first line holds more `;` than
//! `,` (the page's rule; European spreadsheets write `;`), else `,`. In a `;` file, cells written
//! with a decimal comma (`3,5`, `-0,25`, `1,5e3`) are read with a decimal point, with a note.
//! Lines whose fields are all blank are skipped.

use super::part::plural;
use super::{err, DataError};

/// A parsed CSV file: the trimmed header and the data rows (untrimmed fields).
#[derive(Clone, Debug, PartialEq)]
pub struct Csv {
    /// Column names.
    pub header: Vec<String>,
    /// Data rows, each with `header.len()` fields.
    pub rows: Vec<Vec<String>>,
    /// The separator found (`,` or `;`).
    pub delimiter: char,
    /// Cells whose decimal comma was read as a decimal point.
    pub decimal_commas: usize,
}

impl Csv {
    /// The notes of parsing (decimal commas), as plain sentences.
    pub fn notes(&self) -> Vec<String> {
        if self.decimal_commas == 0 {
            return Vec::new();
        }
        vec![format!(
            "{} written with a decimal comma (\"3,5\") read as numbers: the file is separated \
             by \";\".",
            plural(self.decimal_commas, "value")
        )]
    }
}

/// The separator of `text`: `;` when its first line holds more `;` than `,`.
pub fn detect_delimiter(text: &str) -> char {
    let first = text.split('\n').next().unwrap_or("");
    if first.matches(';').count() > first.matches(',').count() {
        ';'
    } else {
        ','
    }
}

/// Parses CSV text as described in the module documentation.
///
/// # Errors
/// No data row, or a row whose field count differs from the header's.
pub fn parse_csv(text: &str) -> Result<Csv, DataError> {
    let delimiter = detect_delimiter(text);
    let mut rows = read_records(text, delimiter)?;
    if rows.len() < 2 {
        return err("The CSV file needs a header row and at least one data row.");
    }
    let header: Vec<String> = rows
        .remove(0)
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    for (i, r) in rows.iter().enumerate() {
        if r.len() != header.len() {
            return err(format!(
                "CSV row {} has {} fields, the header has {}.",
                i + 2,
                r.len(),
                header.len()
            ));
        }
    }
    let decimal_commas = if delimiter == ';' {
        read_decimal_commas(&mut rows)
    } else {
        0
    };
    Ok(Csv {
        header,
        rows,
        delimiter,
        decimal_commas,
    })
}

fn read_records(text: &str, delimiter: char) -> Result<Vec<Vec<String>>, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter as u8)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| DataError(format!("The CSV file is malformed: {e}.")))?;
        if record.iter().any(|v| !v.trim().is_empty()) {
            rows.push(record.iter().map(str::to_string).collect());
        }
    }
    Ok(rows)
}

/// Whether `v` is a number written with a decimal comma: `[+-]digits,digits[e[+-]digits]`.
fn is_decimal_comma(v: &str) -> bool {
    let t = v.trim();
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (int, rest) = match t.split_once(',') {
        Some(p) => p,
        None => return false,
    };
    let (frac, exp) = match rest.split_once(['e', 'E']) {
        Some((f, e)) => (f, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (rest, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (int.is_empty() || digits(int)) && digits(frac) && exp.is_none_or(digits)
}

fn read_decimal_commas(rows: &mut [Vec<String>]) -> usize {
    let mut n = 0;
    for cell in rows.iter_mut().flatten() {
        if is_decimal_comma(cell) {
            *cell = cell.replace(',', ".");
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_semicolons_and_errors() {
        let c = parse_csv("a;b\n\"1;2\";3\r\n\n4;\"x\"\"y\"").unwrap();
        assert_eq!(c.header, ["a", "b"]);
        assert_eq!(c.rows, [["1;2", "3"], ["4", "x\"y"]]);
        assert!(parse_csv("a,b\n").is_err());
        assert!(parse_csv("a,b\n1,2,3")
            .unwrap_err()
            .0
            .contains("row 2 has 3"));
        assert_eq!(parse_csv("a,b\r1,2\r").unwrap().rows, [["1", "2"]]);
        assert_eq!(parse_csv("a,b\n ,  \n1,2").unwrap().rows, [["1", "2"]]);
    }

    #[test]
    fn decimal_commas_in_semicolon_files() {
        let c = parse_csv("x;y;name\n3,5;-0,25;a,b\n1;,5;1,5e3\n").unwrap();
        assert_eq!(c.delimiter, ';');
        assert_eq!(c.rows, [["3.5", "-0.25", "a,b"], ["1", ".5", "1.5e3"]]);
        assert_eq!(c.decimal_commas, 4);
        assert!(c.notes()[0].starts_with("4 values written with a decimal comma"));
        // A comma-separated file keeps a quoted "1,5" as text.
        let c = parse_csv("x,y\n\"1,5\",2\n").unwrap();
        assert_eq!((c.rows[0][0].as_str(), c.decimal_commas), ("1,5", 0));
    }
}
