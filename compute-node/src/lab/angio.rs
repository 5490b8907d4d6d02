//! `experiment angio`: synthetic coronary angiograms (more-angiography; the study's Bucharest
//! data are not public), balanced classes, `image_cnn`, pixels in `[0, 1]`. Defaults: artery tree
//! (LCA vs RCA), 4,000 images of 64x64, seeded 80/20 split, SGD momentum 0.9, learning rate 0.02,
//! batch 32, 4 epochs. `--quick`: 240 images of 32x32, 1 epoch.
//!
//! `--folder DIR --labels CSV` reads a folder with the page's rules (`more_data_owner::data`, as
//! `more-client upload --images` does): a DICOM folder through the page's decoder, centre crop and
//! area resize, PNG/JPEG through the same crop and resize (a folder mixing both with the native
//! loader, DICOM scaled min-max), and the page's split by file (seeded
//! shuffle of the files, seed 42, the last 20 % test), so a run here sees the samples, pixels and
//! split the page uploads. `--write-dicom DIR` writes the generated angiograms as such a folder.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use ndarray::Array2;

use more_angiography::{
    data_card, generate_with, write_contact_sheet, write_dicom_folder, GeneratorConfig,
    Task as AngioGenTask,
};

use super::args::{AngioArgs, AngioTask, OptimizerChoice};
use super::experiment::{execute, Defaults, Prepared};
use super::progress;
use super::report::{self, ExperimentReport};
use crate::data::{seeded_split, Dataset, Split};

/// `more-node experiment angio`.
///
/// # Errors
/// Generation, engine or file errors.
pub fn run(args: AngioArgs) -> anyhow::Result<ExperimentReport> {
    let started = Instant::now();
    let common = &args.common;
    let (n, size) = sample_count_and_size(&args)?;
    let t = Instant::now();
    let (split, source, files) = match (&args.folder, &args.labels) {
        (Some(folder), Some(labels)) => {
            let split = folder_split(folder, labels, size)?;
            (split, format!("folder {}", folder.display()), Vec::new())
        }
        _ => {
            let config = GeneratorConfig::default();
            let gen = generate(&args, &config, n, size)?;
            let mut files = Vec::new();
            if let Some(dir) = report::data_dir(args.data_dir.as_deref(), common.json.as_deref())? {
                // Named by task too: the two tasks draw different images.
                let stem = format!("angio-{}-{n}-{size}", task_name(args.task));
                let card = dir.join(format!("{stem}-data-card.md"));
                report::write(&card, &data_card(&gen, &config, common.seed))?;
                files.push(card.display().to_string());
                let sheet = dir.join(format!("{stem}-contact-sheet.png"));
                write_contact_sheet(&gen, 4, &sheet).context("contact sheet")?;
                files.push(sheet.display().to_string());
            }
            let features =
                Array2::from_shape_vec((gen.labels.len(), size * size), gen.images.clone())
                    .context("image buffer")?;
            let ds = Dataset::classification(
                format!("angio ({n} synthetic {size}x{size} angiograms, more-angiography)"),
                features,
                vec![1, size, size],
                gen.labels.iter().map(|&l| l as usize).collect(),
                gen.class_names.clone(),
            );
            let split = seeded_split(&ds, 0.2, common.seed)?;
            (
                split,
                format!("{n} synthetic {size}x{size} angiograms"),
                files,
            )
        }
    };
    let generation_seconds = t.elapsed().as_secs_f64();
    let dataset = serde_json::json!({
        "name": split.train.name,
        "source": source,
        "task": task_name(args.task),
        "classes": split.train.class_names,
        "class_counts": {"train": split.train.class_counts(), "test": split.test.class_counts()},
        "train_samples": split.train.len(),
        "test_samples": split.test.len(),
        "size": size,
        "split": split.rule,
        "preprocessing": "pixels in [0, 1] as rendered or as the page reads them, no standardization",
        "generation_seconds": generation_seconds,
    });
    let prepared = Prepared {
        experiment: "angio",
        train: split.train,
        test: split.test,
        target_scaler: None,
        dataset,
        files,
    };
    let defaults = Defaults {
        archs: vec!["image_cnn".into()],
        epochs: |_| 4,
        train_limit: |_| None,
        batch_size: 32,
        learning_rate: 0.02,
        optimizer: OptimizerChoice::Sgd,
        quick: (usize::MAX, usize::MAX),
    };
    execute(prepared, common, &defaults, started)
}

/// Number of images to generate and their side, after `--quick`; the side must be a positive
/// multiple of 4 (two 2x2 poolings in `image_cnn`).
fn sample_count_and_size(args: &AngioArgs) -> anyhow::Result<(usize, usize)> {
    let (n, size) = if args.common.quick {
        (args.images.min(240), args.size.min(32))
    } else {
        (args.images, args.size)
    };
    if size == 0 || size % 4 != 0 {
        anyhow::bail!("--size must be a positive multiple of 4, got {size}");
    }
    Ok((n, size))
}

/// The task's name in reports and file names (`tree`, `view`).
fn task_name(task: AngioTask) -> &'static str {
    match task {
        AngioTask::Tree => "tree",
        AngioTask::View => "view",
    }
}

/// `n` synthetic angiograms of `size × size` for `--task`, seeded by `--seed`.
fn generate(
    args: &AngioArgs,
    config: &GeneratorConfig,
    n: usize,
    size: usize,
) -> anyhow::Result<more_angiography::Dataset> {
    let task = match args.task {
        AngioTask::Tree => AngioGenTask::ArteryTree,
        AngioTask::View => AngioGenTask::View,
    };
    let bar = progress::bar(n as u64, "render angiograms", args.common.quiet);
    let inc = |_: usize| bar.inc(1);
    let ds = generate_with(config, n, size, task, args.common.seed, Some(&inc))
        .context("generating angiograms")?;
    bar.finish_and_clear();
    Ok(ds)
}

/// A labelled folder read with the data owner's rules (`more_data_owner::data::load_image_folder`:
/// every file decoded by what it is, DICOM through `more-dicom`, PNG/JPEG as the page), split by
/// file as the page splits it.
fn folder_split(folder: &Path, labels: &Path, size: usize) -> anyhow::Result<Split> {
    let set = more_data_owner::data::load_image_folder(folder, labels, size)
        .with_context(|| format!("loading {}", folder.display()))?;
    for note in &set.notes {
        eprintln!("note: {note}");
    }
    Ok(Split {
        train: part_dataset(&set.split.train)?,
        test: part_dataset(&set.split.test)?,
        rule: "the page's: files shuffled with the page's seeded permutation (seed 42), \
               the last 20 % of the files test (all frames of a file on one side)"
            .into(),
    })
}

/// One part of the page's split as the lab's [`Dataset`].
fn part_dataset(part: &more_data_owner::data::Part) -> anyhow::Result<Dataset> {
    let features = Array2::from_shape_vec((part.rows(), part.width()), part.x.clone())
        .context("image buffer")?;
    Ok(Dataset::classification(
        format!("angio ({})", part.name),
        features,
        part.feature_shape.clone(),
        part.labels.clone().unwrap_or_default(),
        part.class_names.clone().unwrap_or_default(),
    ))
}

/// `more-node experiment angio --write-dicom DIR`: generates the angiograms as `run` would and
/// writes them as a DICOM folder with `labels.csv`; trains nothing. Prints the folder.
///
/// # Errors
/// Generation or file errors.
pub fn write_dicom(args: &AngioArgs, dir: &Path) -> anyhow::Result<()> {
    let (n, size) = sample_count_and_size(args)?;
    let gen = generate(args, &GeneratorConfig::default(), n, size)?;
    let files = write_dicom_folder(&gen, dir)
        .with_context(|| format!("writing DICOM files into {}", dir.display()))?;
    println!("{}", dir.display());
    if !args.common.quiet {
        eprintln!(
            "{} XA DICOM files ({size}x{size}, classes {}) and labels.csv in {}",
            files.len(),
            gen.class_names.join(", "),
            dir.display()
        );
    }
    Ok(())
}
