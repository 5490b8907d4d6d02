//! `experiment angio`: synthetic coronary angiograms (more-angiography; the study's Bucharest
//! data are not public), balanced classes, `image_cnn`, pixels in `[0, 1]`. Defaults: artery tree
//! (LCA vs RCA), 4,000 images of 64x64, seeded 80/20 split, SGD momentum 0.9, learning rate 0.02,
//! batch 32, 4 epochs. `--quick`: 240 images of 32x32, 1 epoch.

use std::time::Instant;

use anyhow::Context as _;
use ndarray::Array2;

use more_angiography::{
    data_card, generate_with, load_image_folder, write_contact_sheet, GeneratorConfig,
    Task as AngioGenTask,
};

use super::args::{AngioArgs, AngioTask, OptimizerChoice};
use super::experiment::{execute, Defaults, Prepared};
use super::progress;
use super::report::{self, ExperimentReport};
use crate::data::{seeded_split, Dataset};

/// `more-node experiment angio`.
///
/// # Errors
/// Generation, engine or file errors.
pub fn run(args: AngioArgs) -> anyhow::Result<ExperimentReport> {
    let started = Instant::now();
    let common = &args.common;
    let (n, size) = if common.quick {
        (args.images.min(240), args.size.min(32))
    } else {
        (args.images, args.size)
    };
    if size == 0 || size % 4 != 0 {
        anyhow::bail!("--size must be a positive multiple of 4, got {size}");
    }
    let task = match args.task {
        AngioTask::Tree => AngioGenTask::ArteryTree,
        AngioTask::View => AngioGenTask::View,
    };
    let config = GeneratorConfig::default();
    let t = Instant::now();
    let (gen, source) = match (&args.folder, &args.labels) {
        (Some(folder), Some(labels)) => {
            let ds = load_image_folder(folder, labels, size, None)
                .with_context(|| format!("loading {}", folder.display()))?;
            (ds, format!("folder {}", folder.display()))
        }
        _ => {
            let bar = progress::bar(n as u64, "render angiograms", common.quiet);
            let inc = |_: usize| bar.inc(1);
            let ds = generate_with(&config, n, size, task, common.seed, Some(&inc))
                .context("generating angiograms")?;
            bar.finish_and_clear();
            (
                ds,
                format!("{n} synthetic {size}x{size} angiograms, more-angiography"),
            )
        }
    };
    let n = gen.labels.len();
    let generation_seconds = t.elapsed().as_secs_f64();
    let mut files = Vec::new();
    let data_dir = report::data_dir(args.data_dir.as_deref(), common.json.as_deref())?;
    if let Some(dir) = &data_dir {
        let card = dir.join(format!("angio-{n}-{size}-data-card.md"));
        if args.folder.is_none() {
            report::write(&card, &data_card(&gen, &config, common.seed))?;
            files.push(card.display().to_string());
        }
        let sheet = dir.join(format!("angio-{n}-{size}-contact-sheet.png"));
        write_contact_sheet(&gen, 4, &sheet).context("contact sheet")?;
        files.push(sheet.display().to_string());
    }
    let features = Array2::from_shape_vec((gen.labels.len(), size * size), gen.images.clone())
        .context("image buffer")?;
    let ds = Dataset::classification(
        format!("angio ({source})"),
        features,
        vec![1, size, size],
        gen.labels.iter().map(|&l| l as usize).collect(),
        gen.class_names.clone(),
    );
    let split = seeded_split(&ds, 0.2, common.seed)?;
    let dataset = serde_json::json!({
        "name": ds.name,
        "task": format!("{:?}", args.task).to_lowercase(),
        "classes": ds.class_names,
        "class_counts": ds.class_counts(),
        "train_samples": split.train.len(),
        "test_samples": split.test.len(),
        "size": size,
        "split": split.rule,
        "preprocessing": "pixels in [0, 1] as rendered, no standardization",
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
