//! `more-node data inspect`: a data file read as the lab reads the data owner's files (through
//! the data owner's library, `more_data_owner::data`, as `experiment angio --folder` does), printed
//! as the library's description (`more_data_owner::describe`). The conformance suite
//! (`web/tests/conformance.test.mjs`) requires it to equal the page's, the CLI's and Python's.

use std::path::PathBuf;

use more_data_owner::data::{self, DataSource, Task};
use more_data_owner::describe::describe;

/// The data to read: exactly one of --csv, --idx, --images (the flags of `more-client data
/// inspect`).
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["csv", "idx", "images"])))]
pub struct InspectArgs {
    /// A CSV table (with --target).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Target column(s) of the CSV, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "csv")]
    pub target: Vec<String>,
    /// `auto` (guess from the target), `classification` or `regression`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "classification", "regression"])]
    pub task: String,
    /// IDX files (images and labels, optionally gzipped).
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub idx: Vec<PathBuf>,
    /// A folder of PNG/JPEG/DICOM images (with --labels).
    #[arg(long, requires = "labels")]
    pub images: Option<PathBuf>,
    /// The labels CSV of --images (`filename,label`).
    #[arg(long, requires = "images")]
    pub labels: Option<PathBuf>,
    /// Side of the square images (--images).
    #[arg(long, default_value_t = 28)]
    pub size: usize,
    /// At most this many IDX training images.
    #[arg(long, default_value_t = 2000)]
    pub max_samples: usize,
}

/// Reads the data and prints the description as JSON on standard output.
///
/// # Errors
/// An unreadable or unusable file (the library's message).
pub fn inspect(a: &InspectArgs) -> anyhow::Result<()> {
    let source = if let Some(path) = &a.csv {
        let task = match a.task.as_str() {
            "classification" => Some(Task::Classification),
            "regression" => Some(Task::Regression),
            _ => None,
        };
        DataSource::Table {
            path,
            targets: &a.target,
            task,
        }
    } else if let (Some(dir), Some(labels)) = (&a.images, &a.labels) {
        DataSource::ImageFolder {
            dir,
            labels,
            size: a.size,
        }
    } else {
        DataSource::Idx {
            files: &a.idx,
            max_samples: a.max_samples,
        }
    };
    let set = data::load(source)?;
    println!("{}", describe(&set.split, &set.notes).to_json());
    Ok(())
}
