//! A folder of images with a labels CSV (`filename,label`; formerly the page's `loadImageFolder` and
//! `loadDicomFolder`, now one rule): every listed file is decoded by what it is
//! ([`decode_image`]: DICOM through the one DICOM pipeline, PNG/JPEG otherwise), so a folder may
//! mix them; every frame is a sample with its file's label. A listed file that is missing or
//! cannot be decoded is skipped with a note naming it, as is an opened file the CSV does not
//! list. Classes are the sorted labels of the decoded files ([`sort_names`]); train and test are
//! split by file ([`split_by_group`]), so the frames of one run never fall on both sides.

use super::columns::sort_names;
use super::csv::parse_csv;
use super::image::decode_image;
use super::part::{plural, DataSet, Part, Split};
use super::split::split_by_group;
use super::targets::one_hot;
use super::text::decode_text;
use super::{err, DataError, Task};

/// One decoded frame.
struct Sample {
    file: usize,
    frame: usize,
    label: String,
    x: Vec<f32>,
}

/// One labelled image file given as bytes (e.g. from a PACS): decoded like a folder's file.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledImage {
    /// The file's name (or an instance UID), for notes and sample names.
    pub name: String,
    /// Its label.
    pub label: String,
    /// Its bytes (DICOM, PNG or JPEG).
    pub bytes: Vec<u8>,
}

/// What decoding the listed files gave.
#[derive(Default)]
struct Decoded {
    samples: Vec<Sample>,
    files: Vec<String>,
    missing: Vec<String>,
    skipped: Vec<String>,
}

/// The rows of the labels CSV: `(file base name, trimmed label)`.
fn listed(labels_name: &str, labels_csv: &[u8]) -> Result<Vec<(String, String)>, DataError> {
    let csv = parse_csv(&decode_text(labels_csv, labels_name)?.text)?;
    let find = |names: &[&str]| {
        csv.header
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let (Some(fi), Some(li)) = (
        find(&["file", "filename", "image", "path"]),
        find(&["label", "class", "target"]),
    ) else {
        return err(format!(
            "{labels_name} needs columns \"filename\" and \"label\"; it has {}.",
            csv.header.join(", ")
        ));
    };
    Ok(csv
        .rows
        .iter()
        .map(|r| (base_name(&r[fi]).to_string(), r[li].trim().to_string()))
        .collect())
}

fn base_name(v: &str) -> &str {
    v.trim().rsplit('/').next().unwrap_or("")
}

fn decode_listed(
    rows: &[(String, String)],
    read: &mut dyn FnMut(usize) -> Option<Vec<u8>>,
    size: usize,
) -> Decoded {
    let mut d = Decoded::default();
    for (i, (name, label)) in rows.iter().enumerate() {
        let Some(bytes) = read(i) else {
            d.missing.push(name.clone());
            continue;
        };
        match decode_image(name, &bytes, size) {
            Ok(frames) => {
                let file = d.files.len();
                d.files.push(name.clone());
                d.samples
                    .extend(frames.into_iter().enumerate().map(|(frame, x)| Sample {
                        file,
                        frame,
                        label: label.clone(),
                        x,
                    }));
            }
            Err(e) => d.skipped.push(format!("{name}: {e}")),
        }
    }
    d
}

/// The page's notes on missing, unlisted and skipped files.
fn folder_notes(labels_name: &str, d: &Decoded, unlisted: &[&String]) -> Vec<String> {
    let first5 = |v: &[&String]| {
        let mut s = v
            .iter()
            .take(5)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if v.len() > 5 {
            s += ", …";
        }
        s
    };
    let mut notes = Vec::new();
    if !d.missing.is_empty() {
        notes.push(format!(
            "{} named in {labels_name} {} not opened: {}.",
            plural(d.missing.len(), "file"),
            if d.missing.len() == 1 { "was" } else { "were" },
            first5(&d.missing.iter().collect::<Vec<_>>())
        ));
    }
    if !unlisted.is_empty() {
        notes.push(format!(
            "{} not in {labels_name}, left out: {}.",
            plural(unlisted.len(), "opened file"),
            first5(unlisted)
        ));
    }
    notes.extend(d.skipped.iter().map(|s| format!("Skipped {s}")));
    notes
}

/// Reads an image folder (module documentation) from the labels CSV's bytes, the names of the
/// other files that were opened (for the note on files the CSV does not list; names starting
/// with `.` are ignored) and `read`, which returns a listed file's bytes (`None`: not there).
/// Features `[1, size, size]`, one-hot targets, sample names `file#frame`.
///
/// # Errors
/// A labels CSV without file and label columns (or unreadable), fewer than two usable files or
/// two classes.
pub fn read_image_folder(
    labels_name: &str,
    labels_csv: &[u8],
    opened: &[String],
    read: &mut dyn FnMut(&str) -> Option<Vec<u8>>,
    size: usize,
) -> Result<DataSet, DataError> {
    let rows = listed(labels_name, labels_csv)?;
    let unlisted: Vec<&String> = opened
        .iter()
        .filter(|n| !n.starts_with('.') && !rows.iter().any(|r| &r.0 == *n))
        .collect();
    let mut by_row = |i: usize| read(&rows[i].0);
    let d = decode_listed(&rows, &mut by_row, size);
    let notes = folder_notes(labels_name, &d, &unlisted);
    labelled_data_set(labels_name, d, notes, rows.len(), size)
}

/// Labelled image files given as bytes (in the order given; `source` names the data set in
/// notes and parts), decoded and split as a folder's ([`read_image_folder`]).
///
/// # Errors
/// Fewer than two usable files or two classes.
pub fn read_labelled_images(
    files: &[LabelledImage],
    size: usize,
    source: &str,
) -> Result<DataSet, DataError> {
    let rows: Vec<(String, String)> = files
        .iter()
        .map(|f| (f.name.clone(), f.label.clone()))
        .collect();
    let d = decode_listed(&rows, &mut |i| Some(files[i].bytes.clone()), size);
    let notes = folder_notes(source, &d, &[]);
    labelled_data_set(source, d, notes, rows.len(), size)
}

fn labelled_data_set(
    name: &str,
    d: Decoded,
    notes: Vec<String>,
    rows_read: usize,
    size: usize,
) -> Result<DataSet, DataError> {
    if d.files.len() < 2 {
        let why = format!(
            "Fewer than two image files could be used. {}",
            d.skipped.join(" ")
        );
        return err(why.trim_end());
    }
    let mut class_names: Vec<String> = d.samples.iter().map(|s| s.label.clone()).collect();
    sort_names(&mut class_names);
    class_names.dedup();
    if class_names.len() < 2 {
        return err("The labels CSV has fewer than two classes among the decoded files.");
    }
    let group: Vec<usize> = d.samples.iter().map(|s| s.file).collect();
    let (train, test) = split_by_group(&group, d.files.len());
    let part = |idx: &[usize]| folder_part(name, &d, idx, &class_names, size);
    let split = Split {
        train: part(&train),
        test: part(&test),
    };
    Ok(DataSet::new(split, notes, rows_read, d.files.len()))
}

fn folder_part(
    name: &str,
    d: &Decoded,
    idx: &[usize],
    class_names: &[String],
    size: usize,
) -> Part {
    let samples = &d.samples;
    let labels: Vec<usize> = idx
        .iter()
        .map(|&i| {
            class_names
                .iter()
                .position(|c| *c == samples[i].label)
                .unwrap_or(0)
        })
        .collect();
    let sample_names = idx
        .iter()
        .map(|&i| format!("{}#{}", d.files[samples[i].file], samples[i].frame + 1))
        .collect();
    Part {
        name: name.to_string(),
        task: Task::Classification,
        feature_shape: vec![1, size, size],
        x: idx
            .iter()
            .flat_map(|&i| samples[i].x.iter().copied())
            .collect(),
        y: one_hot(&labels, class_names.len()),
        target_dim: class_names.len(),
        labels: Some(labels),
        class_names: Some(class_names.to_vec()),
        feature_names: None,
        target_names: None,
        sample_names: Some(sample_names),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(value: u8) -> Vec<u8> {
        let img = image::GrayImage::from_pixel(4, 4, image::Luma([value]));
        let mut out = Vec::new();
        image::DynamicImage::ImageLuma8(img)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    /// A real DICOM file shipped by pydicom (the angiography crate's test data, see its README).
    fn pydicom(name: &str) -> Vec<u8> {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../compute-node/crates/angiography/tests/data/"
        );
        std::fs::read(format!("{dir}{name}")).unwrap()
    }

    fn ct_small() -> Vec<u8> {
        pydicom("CT_small.dcm")
    }

    #[test]
    fn mixed_folders_decode_each_file_by_what_it_is() {
        let mut files = std::collections::HashMap::new();
        files.insert("a.png", png(0));
        files.insert("b.png", png(255));
        // A DICOM file named .png: the DICM marker decides, and more-dicom decodes it.
        files.insert("ct.png", ct_small());
        files.insert("c.png", png(128));
        files.insert("broken.dcm", b"not a dicom file".to_vec());
        // Two RGB frames, RLE, no extension: one sample per frame.
        files.insert("cine", pydicom("SC_rgb_rle_2frame.dcm"));
        let csv = b"filename,label\na.png,LCA\nb.png,RCA\nct.png,RCA\nc.png,LCA\nbroken.dcm,LCA\n\
                    gone.png,RCA\ncine,RCA\n";
        let opened: Vec<String> = [
            "a.png",
            "b.png",
            "ct.png",
            "c.png",
            "broken.dcm",
            "notes.txt",
            "cine",
        ]
        .map(String::from)
        .to_vec();
        let mut read = |n: &str| files.get(n).cloned();
        let d = read_image_folder("labels.csv", csv, &opened, &mut read, 8).unwrap();
        assert_eq!((d.rows_read, d.rows_used), (7, 5));
        assert_eq!(
            d.notes[0],
            "1 file named in labels.csv was not opened: gone.png."
        );
        assert_eq!(
            d.notes[1],
            "1 opened file not in labels.csv, left out: notes.txt."
        );
        assert!(
            d.notes[2].starts_with("Skipped broken.dcm: "),
            "{:?}",
            d.notes
        );
        let all: Vec<&String> = d
            .split
            .train
            .sample_names
            .iter()
            .chain(&d.split.test.sample_names)
            .flatten()
            .collect();
        assert_eq!(all.len(), 6);
        assert!(all.contains(&&"cine#2".to_string()), "{all:?}");
        let both = [&d.split.train, &d.split.test];
        let ct = both
            .iter()
            .find_map(|p| {
                let names = p.sample_names.as_ref()?;
                let i = names.iter().position(|n| n == "ct.png#1")?;
                Some(p.x[i * 64..(i + 1) * 64].to_vec())
            })
            .unwrap();
        let expected = crate::data::decode_image("ct.dcm", &ct_small(), 8).unwrap();
        assert_eq!(ct, expected[0]);
        assert_eq!(
            d.split.train.class_names.as_deref(),
            Some(&["LCA".into(), "RCA".into()][..])
        );
    }
}
