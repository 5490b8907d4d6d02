//! PACS in, on the data owner's side: studies found by DICOMweb QIDO-RS (modality, study date,
//! patient id filters) and retrieved by WADO-RS (`multipart/related; type="application/dicom"`),
//! then decoded by the same rules as a DICOM folder ([`read_image_folder`] over the bytes:
//! `more-dicom`'s window, centre crop and area resize), so that the [`DataSet`] is the one a folder
//! of the same files gives. The caller encrypts and uploads it exactly as a folder's.
//!
//! Only the data owner's machine talks to the PACS: the compute node never does (it would see
//! plaintext). Nothing read from a DICOM header but the pixels, the image facts and the study and
//! instance UIDs (to match labels) is kept: no patient attribute leaves this module, and the
//! samples are named by their SOP Instance UID.
//!
//! The HTTP client is the `dicom-web` crate (dicom-rs 0.10, reqwest 0.13), driven by a
//! current-thread tokio runtime per [`Pacs`]; every request is bounded by [`Pacs::timeout`].

mod client;
mod labels;

pub use client::{Instance, Pacs, PacsAuth, StudyQuery, StudySummary};
pub use labels::{LabelKey, Labels};

use std::collections::HashMap;

use crate::data::{read_image_folder, DataError, DataSet};
use crate::CliError;

/// Retrieves every instance of `studies` (deduplicated, in Study Instance UID order, instances in
/// SOP Instance UID order), keeps those `labels` names (a note for each study or instance without
/// a label), and decodes them into square `size`×`size` frames with the folder pipeline.
/// `source` names the data set (the labels file name), as a folder upload names it.
///
/// Returns the data set (one sample per frame; train/test by instance, as a folder splits by
/// file), its notes first those of the retrieval.
///
/// # Errors
/// [`CliError::Pacs`] when the PACS cannot be reached or refuses, [`CliError::Data`] when fewer
/// than two instances or two classes remain, or no study was given.
pub fn load_studies(
    pacs: &Pacs,
    studies: &[String],
    labels: &Labels,
    size: usize,
    source: &str,
) -> Result<DataSet, CliError> {
    let mut uids: Vec<&String> = studies.iter().collect();
    uids.sort();
    uids.dedup();
    if uids.is_empty() {
        return Err(
            crate::DataError("no study to retrieve: give study UIDs or a query".into()).into(),
        );
    }
    let mut notes = Vec::new();
    let mut buffers = Vec::new();
    for study in uids {
        let mut instances = pacs.retrieve_study(study)?;
        instances.sort_by(|a, b| a.sop_instance_uid.cmp(&b.sop_instance_uid));
        if instances.is_empty() {
            notes.push(format!("Study {study} has no instances."));
        }
        for inst in instances {
            match labels.label_of(study, &inst.sop_instance_uid) {
                Some(label) => buffers.push(DicomBuffer {
                    name: inst.sop_instance_uid,
                    label: label.to_string(),
                    bytes: inst.bytes,
                }),
                None => notes.push(format!(
                    "Skipped instance {} of study {study}: no label.",
                    inst.sop_instance_uid
                )),
            }
        }
    }
    let mut set = decode_buffers(buffers, size, source)?;
    notes.append(&mut set.notes);
    set.notes = notes;
    Ok(set)
}

/// One retrieved DICOM file with its label, named by its SOP Instance UID.
struct DicomBuffer {
    name: String,
    label: String,
    bytes: Vec<u8>,
}

/// The folder rules over retrieved files ([`read_image_folder`]): a labels CSV made in memory
/// (`<SOP Instance UID>.dcm,label`, in the order given) named `source`, and the files read from
/// `buffers`; nothing touches the disk.
fn decode_buffers(
    buffers: Vec<DicomBuffer>,
    size: usize,
    source: &str,
) -> Result<DataSet, DataError> {
    let mut csv = String::from("filename,label\n");
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    for b in buffers {
        let file = format!("{}.dcm", b.name);
        csv.push_str(&format!("{file},\"{}\"\n", b.label.replace('"', "\"\"")));
        files.insert(file, b.bytes);
    }
    let opened: Vec<String> = files.keys().cloned().collect();
    let mut read = |name: &str| files.remove(name);
    read_image_folder(source, csv.as_bytes(), &opened, &mut read, size)
}
