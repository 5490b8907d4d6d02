//! Synthetic generator: determinism, balance, range, vessels present, baseline separability.
use more_angiography::{data_card, generate, generate_with, AngioError, GeneratorConfig, Task};

#[test]
fn deterministic_and_thread_independent() {
    let a = generate(10, 32, Task::ArteryTree, 5).unwrap();
    let b = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| generate(10, 32, Task::ArteryTree, 5).unwrap());
    assert_eq!(a, b);
    let c = generate(10, 32, Task::ArteryTree, 6).unwrap();
    assert_ne!(a.images, c.images);
}

#[test]
fn balanced_in_range_with_progress() {
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let cb = |_k: usize| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let ds = generate_with(
        &GeneratorConfig::default(),
        18,
        24,
        Task::View,
        1,
        Some(&cb),
    )
    .unwrap();
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 18);
    assert_eq!(ds.class_names.len(), 9);
    assert_eq!(ds.class_counts(), vec![2; 9]);
    assert_eq!(ds.images.len(), 18 * 24 * 24);
    assert!(ds.images.iter().all(|v| (0.0..=1.0).contains(v)));
    let t = generate(7, 16, Task::ArteryTree, 1).unwrap();
    assert_eq!(t.class_counts(), vec![4, 3]);
    assert_eq!(t.to_u8().len(), 7 * 256);
    let card = data_card(&t, &GeneratorConfig::default(), 1);
    assert!(card.contains("| 0 | LCA | 4 |") && card.contains("seed: 1"));
}

#[test]
fn vessels_darken_the_image() {
    // Same seeds, same random draws; only the contrast attenuation differs.
    let with = generate(8, 64, Task::ArteryTree, 3).unwrap();
    let cfg = GeneratorConfig {
        contrast_mu_per_mm: 1e-7..2e-7,
        ..GeneratorConfig::default()
    };
    let without = generate_with(&cfg, 8, 64, Task::ArteryTree, 3, None).unwrap();
    for i in 0..8 {
        let (a, b) = (with.image(i).unwrap(), without.image(i).unwrap());
        // Pixels clearly darker with contrast: the vessel tree (≥ 1 % of the image).
        let darker = a.iter().zip(b).filter(|(x, y)| **x < **y - 0.1).count();
        assert!(
            darker > 64 * 64 / 100,
            "image {i}: only {darker} vessel pixels"
        );
        let mut s: Vec<f32> = a.to_vec();
        s.sort_by(|x, y| x.total_cmp(y));
        assert!(
            s[s.len() / 2] - s[s.len() / 100] > 0.25,
            "darkest percentile vs median"
        );
    }
}

#[test]
fn bad_parameters_are_errors() {
    assert!(matches!(
        generate(0, 64, Task::View, 1),
        Err(AngioError::InvalidParameter(_))
    ));
    assert!(matches!(
        generate(2, 4, Task::View, 1),
        Err(AngioError::InvalidParameter(_))
    ));
    let cfg = GeneratorConfig {
        sod_mm: 1300.0..1400.0,
        ..GeneratorConfig::default()
    };
    assert!(generate_with(&cfg, 2, 32, Task::View, 1, None).is_err());
}

/// Nearest-class-mean on raw pixels, trained on 240 and tested on 120 fresh 64×64 images.
fn ncm_accuracy(task: Task, n_train: usize, n_test: usize) -> f64 {
    let tr = generate(n_train, 64, task, 11).unwrap();
    let te = generate(n_test, 64, task, 12).unwrap();
    let k = tr.class_names.len();
    let d = 64 * 64;
    let mut means = vec![vec![0.0f64; d]; k];
    let counts = tr.class_counts();
    for i in 0..tr.len() {
        let c = tr.labels[i] as usize;
        for (m, &v) in means[c].iter_mut().zip(tr.image(i).unwrap()) {
            *m += v as f64 / counts[c] as f64;
        }
    }
    let correct = (0..te.len())
        .filter(|&i| {
            let x = te.image(i).unwrap();
            let best = (0..k)
                .min_by(|&a, &b| {
                    let da: f64 = means[a]
                        .iter()
                        .zip(x)
                        .map(|(m, &v)| (m - v as f64).powi(2))
                        .sum();
                    let db: f64 = means[b]
                        .iter()
                        .zip(x)
                        .map(|(m, &v)| (m - v as f64).powi(2))
                        .sum();
                    da.total_cmp(&db)
                })
                .unwrap();
            best == te.labels[i] as usize
        })
        .count();
    correct as f64 / te.len() as f64
}

#[test]
fn baseline_separable_but_not_trivial() {
    let acc = ncm_accuracy(Task::ArteryTree, 240, 120);
    println!("nearest-class-mean LCA vs RCA accuracy (64x64, 240 train / 120 test): {acc:.3}");
    assert!(acc > 0.6, "classes should be separable above chance: {acc}");
    assert!(
        acc < 0.97,
        "a trivial baseline should not solve the task: {acc}"
    );
}
