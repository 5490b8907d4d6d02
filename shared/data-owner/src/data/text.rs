//! Bytes to text. A table file may be gzipped (detected by the signature `1f 8b`); it must not be
//! an image, archive, PDF, DICOM or other binary file (a clear error names what it is). The text
//! encoding is detected, in this order: a byte-order mark (UTF-8, UTF-16 LE/BE; dropped), valid
//! UTF-8, otherwise Windows-1252 (the superset of Latin-1 that Excel writes on Western
//! systems), with a note saying so.

use super::{err, DataError};

/// Decoded text and what was noticed on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct Text {
    /// The text, without a byte-order mark.
    pub text: String,
    /// Plain sentences (e.g. the encoding that was assumed); empty for UTF-8.
    pub notes: Vec<String>,
}

/// Whether `b` starts with the gzip signature.
pub fn is_gzip(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] == 0x1f && b[1] == 0x8b
}

/// Whether `b` carries the DICOM marker `DICM` after the 128-byte preamble (PS3.10 §7.1).
pub fn is_dicom(b: &[u8]) -> bool {
    b.len() >= 132 && &b[128..132] == b"DICM"
}

/// Decompresses gzip data.
///
/// # Errors
/// Damaged or truncated gzip data.
pub fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).map_err(
        |_| {
            DataError(
                "the gzip data is damaged or cut short (it does not decompress to the end)".into(),
            )
        },
    )?;
    Ok(out)
}

/// What the first bytes say a file is, for files that should be text but are not (the page's
/// `binaryKind`). UTF-16 text (with its byte-order mark) is text.
fn binary_kind(b: &[u8]) -> Option<&'static str> {
    let starts = |sig: &[u8]| b.starts_with(sig);
    if starts(&[0xff, 0xfe]) && !starts(&[0xff, 0xfe, 0x00, 0x00]) || starts(&[0xfe, 0xff]) {
        None
    } else if starts(&[0x89, 0x50, 0x4e, 0x47]) {
        Some("a PNG image")
    } else if starts(&[0xff, 0xd8, 0xff]) {
        Some("a JPEG image")
    } else if starts(&[0x47, 0x49, 0x46, 0x38]) {
        Some("a GIF image")
    } else if starts(&[0x50, 0x4b, 0x03, 0x04]) {
        Some("a ZIP archive (an Excel .xlsx file is one: save it as CSV)")
    } else if starts(&[0x25, 0x50, 0x44, 0x46]) {
        Some("a PDF document")
    } else if b.len() > 132 && is_dicom(b) {
        Some("a DICOM file")
    } else if b[..b.len().min(4096)].contains(&0) {
        Some("binary data (it contains zero bytes)")
    } else {
        None
    }
}

/// The text of a table file named `name` (for messages): gunzipped, checked not to be binary,
/// decoded as described in the module documentation.
///
/// # Errors
/// A `.gz` name without gzip data, damaged gzip, binary content.
pub fn decode_text(bytes: &[u8], name: &str) -> Result<Text, DataError> {
    let gz = is_gzip(bytes);
    if name.to_lowercase().ends_with(".gz") && !gz {
        return err(format!(
            "{name} is not gzip data (it does not start with the gzip signature 1f 8b)."
        ));
    }
    let owned;
    let bytes = if gz {
        owned = gunzip(bytes)
            .map_err(|e| DataError(format!("{name}: {e}; nothing was read from it.")))?;
        &owned[..]
    } else {
        bytes
    };
    if let Some(kind) = binary_kind(bytes) {
        return err(format!("{name} is not a CSV text file: it is {kind}."));
    }
    Ok(decode_encoding(bytes, name))
}

fn decode_encoding(bytes: &[u8], name: &str) -> Text {
    let mut notes = Vec::new();
    let text = if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        if enc != encoding_rs::UTF_8 {
            notes.push(format!("{name} was read as {} text.", enc.name()));
        }
        enc.decode_without_bom_handling(&bytes[bom..])
            .0
            .into_owned()
    } else if let Ok(t) = std::str::from_utf8(bytes) {
        t.to_string()
    } else {
        notes.push(format!(
            "{name} is not UTF-8: it was read as Windows-1252 (Latin-1) text, the encoding \
             Excel uses on Western systems."
        ));
        encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned()
    };
    Text { text, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_detected() {
        let utf8 = decode_text("a,b\nß,1\n".as_bytes(), "t.csv").unwrap();
        assert_eq!((utf8.text.as_str(), utf8.notes.len()), ("a,b\nß,1\n", 0));
        let bom = decode_text(b"\xef\xbb\xbfa,b\n", "t.csv").unwrap();
        assert_eq!((bom.text.as_str(), bom.notes.len()), ("a,b\n", 0));
        // "Müller;Größe" in Latin-1 (an Excel CSV).
        let latin = decode_text(b"M\xfcller;Gr\xf6\xdfe\n", "t.csv").unwrap();
        assert_eq!(latin.text, "Müller;Größe\n");
        assert!(latin.notes[0].contains("Windows-1252"), "{:?}", latin.notes);
        // 0x80 is the euro sign in Windows-1252 (not a C1 control as in ISO 8859-1).
        assert_eq!(decode_text(b"\x80\n", "t").unwrap().text, "€\n");
        let utf16 = decode_text(b"\xff\xfea\x00,\x00b\x00", "t.csv").unwrap();
        assert_eq!(utf16.text, "a,b");
    }

    #[test]
    fn binary_and_gzip_errors() {
        let png = decode_text(b"\x89PNG\r\n\x1a\n", "x.csv").unwrap_err();
        assert!(png.0.contains("PNG image"), "{png}");
        assert!(decode_text(b"a,b", "x.csv.gz")
            .unwrap_err()
            .0
            .contains("not gzip"));
        assert!(decode_text(b"a\0b", "x.csv")
            .unwrap_err()
            .0
            .contains("zero bytes"));
    }
}
