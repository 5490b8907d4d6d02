//! Synthetic X-ray coronary angiograms and real-format loaders. Plaintext science code: it never sees ciphertexts.
//!
//! * [`generate`] / [`generate_with`]: balanced, seeded, parallel synthetic data sets for
//!   [`Task::ArteryTree`] (LCA vs RCA) and [`Task::View`] (9 tree+view classes); see [`anatomy`],
//!   [`geometry`], [`projection`], [`background`], [`noise`], [`render`].
//! * [`load_dicom`]: single- and multi-frame DICOM (XA included) to [0, 1] frames, with a choice of
//!   normalisation; it checks the files [`write_dicom_folder`] writes. Folders of images or DICOM
//!   files for training are read by the data owner's library (`more_data_owner::data`, one DICOM
//!   pipeline: `more-dicom`), not here.
//! * [`write_dicom_folder`]: a data set as a folder of XA DICOM files + `labels.csv`.
#![deny(missing_docs)]

pub mod anatomy;
pub mod background;
pub mod contact_sheet;
pub mod data_card;
pub mod dataset;
pub mod dicom;
pub mod dicom_writer;
pub mod error;
pub mod geometry;
pub mod noise;
pub mod projection;
pub mod render;
pub mod vec3;

pub use anatomy::{ArteryTree, CoronaryTree, Dominance};
pub use contact_sheet::{contact_sheet, write_contact_sheet};
pub use data_card::data_card;
pub use dataset::{generate, generate_with, to_u8, Dataset, ImageMeta, Task};
pub use dicom::{load_dicom, DicomImage, DicomMeta, Normalization};
pub use dicom_writer::write_dicom_folder;
pub use error::{AngioError, Result};
pub use geometry::{CArm, StandardView, ViewAngles, STANDARD_VIEWS};
pub use render::{render_angiogram, GeneratorConfig, SyntheticMeta};
