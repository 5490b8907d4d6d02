//! Issue #27, finding 1, as a property: for random model specs that reach the dangerous corners
//! (paddings of 1e9 and more, input axes past 65,536, dense widths and filter counts up to 2^62,
//! polynomial coefficients up to 1e40, windows and strides of any size), `POST /v1/models` either
//! refuses with 400 or every route on the model answers without the node aborting: `GET weights`,
//! a predict with a small body, and a one-epoch job on a tiny dataset. The node is the `more-node`
//! binary under `prlimit --as` (its idle mapping plus [`HEADROOM`]), so an allocation it cannot make aborts it
//! and fails the test, however much memory the machine has; every request must be answered
//! within [`REQUEST_LIMIT`].
//!
//! Bounded: [`CASES`] cases from a fixed seed (reproducible in CI), no shrinking (a crashed node
//! answers nothing more), each job waited for at most [`JOB_WAIT`].

use crate::server_common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::server_common::Api;
use more_core::tensor::PlanarTensor;
use more_core::wire;
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{ArrayD, Dimension};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Cases per run.
const CASES: u32 = 64;
/// The node's address-space limit above what it maps when idle. An idle node maps about 1.9 GiB
/// on a 2-core machine (mimalloc's reserved arenas, the stacks of the actix, tokio and rayon
/// threads: more on more cores, hence a margin above the measured idle size rather than one
/// number), and the models this generator accepts took its mapping up by at most ~0.2 GiB (peak
/// RSS under 100 MiB); 1 GiB more is ample for them and far below what the specs asked for
/// (64 GB for the padding of 1e9; 1 GiB cannot even hold the columns of a 1x1 convolution over a
/// 8192x8192 image in matrix form).
const HEADROOM: u64 = 1 << 30;
/// Longest time for one request: a request on a tiny model that takes longer was a CPU bomb
/// before the fix (geometry loops of padding² per request, hours for an axis of 100,000).
const REQUEST_LIMIT: Duration = Duration::from_secs(20);
/// Longest wait for one job to end (it is then cancelled; the node must still answer).
const JOB_WAIT: Duration = Duration::from_secs(20);
/// Inputs up to this many values per sample get a predict body and a dataset of their shape;
/// larger ones get a small body of the wrong shape (refused, after the model was built).
const DATA_VALUES: u64 = 4096;

/// Mostly `small`, sometimes past the bounds (2^16 to 2^24), sometimes absurd (2^30 to 2^62).
fn size(small: std::ops::RangeInclusive<u64>) -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => small,
        1 => (1u64 << 16)..(1u64 << 24),
        1 => (1u64 << 30)..(1u64 << 62),
    ]
}

/// Mostly sane coefficients, sometimes ±1e3 to ±1e40.
fn coefficient() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => -2.0f64..2.0,
        1 => (3.0f64..40.0).prop_map(|e| 10f64.powf(e)),
        1 => (3.0f64..40.0).prop_map(|e| -(10f64.powf(e))),
    ]
}

/// A padding: mostly below the kernel, sometimes around the 20,000 (a CPU cost of
/// seconds per request before the fix), past the bounds, or the 1e9 and beyond.
fn padding() -> impl Strategy<Value = u64> {
    prop_oneof![
        5 => 0u64..=2,
        1 => (1u64 << 8)..(1u64 << 16),
        1 => (1u64 << 16)..(1u64 << 24),
        1 => (1u64 << 30)..(1u64 << 62),
    ]
}

fn conv() -> impl Strategy<Value = Value> {
    (size(1..=8), size(1..=5), size(1..=3), padding()).prop_map(|(f, k, s, p)| {
        json!({"type": "conv2d", "filters": f, "kernel": k, "stride": s, "padding": p})
    })
}

/// Layers that keep values elementwise (any input shape).
fn elementwise() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => prop::collection::vec(coefficient(), 1..=12)
            .prop_map(|c| json!({"type": "polynomial", "coefficients": c})),
        1 => (0.0f64..1.2).prop_map(|r| json!({"type": "dropout", "rate": r})),
        2 => prop_oneof![Just("relu"), Just("sigmoid"), Just("tanh"), Just("square")]
            .prop_map(|t| json!({"type": t})),
    ]
}

/// Layers over `(channels, height, width)`.
fn image_layer() -> impl Strategy<Value = Value> {
    let window = || prop_oneof![4 => 1u64..=2, 1 => 3u64..=64, 1 => (1u64 << 16)..(1u64 << 62)];
    prop_oneof![
        4 => conv(),
        1 => window().prop_map(|s| json!({"type": "max_pool2d", "size": s})),
        1 => window().prop_map(|s| json!({"type": "avg_pool2d", "size": s})),
        2 => elementwise(),
    ]
}

/// Layers over flat inputs: dense widths mostly small, sometimes 2^16 to 2^62.
fn flat_layer() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => size(1..=64).prop_map(|u| json!({"type": "dense", "units": u})),
        2 => elementwise(),
    ]
}

/// Any layer, for specs without structure (mostly refused).
fn layer() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => image_layer(),
        2 => flat_layer(),
        1 => Just(json!({"type": "flatten"})),
    ]
}

/// An image input; sometimes with axes past 65,536 (the issue's [1, 100000, 100000]).
fn image_input() -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![
        4 => (1u64..=3, 1u64..=24, 1u64..=24).prop_map(|(c, h, w)| vec![c, h, w]),
        1 => (size(1..=3), size(1..=24), size(1..=24)).prop_map(|(c, h, w)| vec![c, h, w]),
    ]
}

/// Three shapes of specs: image layers, then (half the time) flatten, flat layers and a dense
/// head; flat layers and a dense head; anything (rank 0 to 4 inputs, layers in any order).
fn spec() -> impl Strategy<Value = Value> {
    let image = (
        image_input(),
        prop::collection::vec(image_layer(), 0..=4),
        prop::bool::weighted(0.5),
        prop::collection::vec(flat_layer(), 0..=2),
        1u64..=3,
    )
        .prop_map(|(shape, mut layers, head, flat, k)| {
            if head {
                layers.push(json!({"type": "flatten"}));
                layers.extend(flat);
                layers.push(json!({"type": "dense", "units": k}));
            }
            json!({"input_shape": shape, "layers": layers})
        });
    let flat = (
        size(1..=16),
        prop::collection::vec(flat_layer(), 0..=4),
        1u64..=3,
    )
        .prop_map(|(n, mut layers, k)| {
            layers.push(json!({"type": "dense", "units": k}));
            json!({"input_shape": [n], "layers": layers})
        });
    let any = (
        prop::collection::vec(size(0..=3), 0..=4),
        prop::collection::vec(layer(), 0..=5),
    )
        .prop_map(|(shape, layers)| json!({"input_shape": shape, "layers": layers}));
    prop_oneof![5 => image, 2 => flat, 1 => any]
}

/// What the run saw, counted by outcome.
#[derive(Default, Debug)]
struct Tally(BTreeMap<String, usize>);

impl Tally {
    fn add(&mut self, what: impl Into<String>) {
        *self.0.entry(what.into()).or_default() += 1;
    }
    fn get(&self, what: &str) -> usize {
        self.0.get(what).copied().unwrap_or(0)
    }
}

/// `key` of `/proc/{pid}/status` in kB (`VmPeak`, `VmHWM`, ...).
fn proc_kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

/// The node process is alive (not exited, not a zombie waiting to be reaped).
fn alive(node: &NodeProcess) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", node.pid()))
        .ok()
        .and_then(|s| Some(s.rsplit_once(')')?.1.trim_start().starts_with(|c| c != 'Z')))
        .unwrap_or(false)
}

fn plain(shape: &[usize], v: f32) -> Vec<u8> {
    wire::encode(&PlanarTensor::plain(ArrayD::from_elem(shape.to_vec(), v)))
}

struct Case<'a> {
    node: &'a NodeProcess,
    /// The node's API with [`REQUEST_LIMIT`] as its timeout.
    api: Api,
    key: SecretKey,
    tally: RefCell<Tally>,
    /// A dataset of shape (2, 1) → (2, 1), for models whose inputs are too large for the test
    /// to upload (the job is then refused by its shape).
    tiny: String,
    jobs: RefCell<Vec<String>>,
}

impl Case<'_> {
    /// Every route on one spec; panics (fails the case) on a status no client should see.
    fn run(&self, spec: &Value) {
        let api = &self.api;
        let (s, m) = api.post_json("/v1/models", &json!({"name": "p", "spec": spec}));
        assert!(s == 201 || s == 400, "create: {s} {m} for {spec}");
        if s == 400 {
            assert_eq!(m["error"], "bad_request", "{m}");
            let message = m["message"].as_str().unwrap_or("");
            let rule = [
                "padding",
                "input_shape",
                "coefficient",
                "parameters",
                "limit",
                "window",
            ]
            .into_iter()
            .find(|r| message.contains(r))
            .unwrap_or("other");
            let mut tally = self.tally.borrow_mut();
            tally.add("refused");
            tally.add(format!("refused: {rule}"));
            return;
        }
        self.tally.borrow_mut().add("accepted");
        let id = m["id"].as_str().expect("id");
        let (s, w) = api.get(&format!("/v1/models/{id}/weights"));
        assert_eq!(s, 200, "weights of {spec}: {}", String::from_utf8_lossy(&w));

        let shape: Vec<usize> = serde_json::from_value(spec["input_shape"].clone()).unwrap();
        let values: u64 = shape.iter().map(|&d| d as u64).product();
        let small = values <= DATA_VALUES;
        let body = if small {
            plain(&[&[1][..], &shape].concat(), 0.5)
        } else {
            plain(&[1, 1], 0.5)
        };
        let (s, out) = api.post_bytes(&format!("/v1/models/{id}/predict"), &body);
        assert!(
            s == 200 || s == 400,
            "predict on {spec}: {s} {}",
            String::from_utf8_lossy(&out)
        );
        self.tally.borrow_mut().add(format!("predict {s}"));

        let outputs: Vec<usize> = serde_json::from_value(m["output_shape"].clone()).unwrap();
        let dataset = if small {
            self.dataset(&shape, outputs.iter().product())
        } else {
            self.tiny.clone()
        };
        let (s, job) = api.post_json(
            "/v1/jobs",
            &json!({"model_id": id, "dataset_id": dataset, "epochs": 1, "batch_size": 2,
                "optimizer": {"type": "sgd", "learning_rate": 0.01}, "loss": "mse"}),
        );
        assert!(s == 202 || s == 400, "job on {spec}: {s} {job}");
        if s == 202 {
            let id = job["id"].as_str().expect("job id").to_string();
            let state = self.wait(&id, JOB_WAIT);
            self.tally.borrow_mut().add(format!("job {state}"));
            self.jobs.borrow_mut().push(id);
        } else {
            self.tally.borrow_mut().add("job refused");
        }
        assert!(alive(self.node), "the node died on {spec}");
    }

    /// A regression dataset of 2 samples of `shape` with `outputs` targets each.
    fn dataset(&self, shape: &[usize], outputs: usize) -> String {
        let mut rng = ChaCha8Rng::seed_from_u64(shape.iter().sum::<usize>() as u64);
        let enc = |a: ArrayD<f32>, rng: &mut ChaCha8Rng| {
            wire::encode(
                &self
                    .key
                    .encrypt_compact(&a, &ShadowDistribution::default(), rng)
                    .expect("encrypt"),
            )
        };
        let x = ArrayD::from_shape_fn([&[2][..], shape].concat(), |i| {
            (i.slice().iter().sum::<usize>() % 7) as f32 * 0.1
        });
        let y = ArrayD::from_shape_fn(vec![2, outputs], |i| i[1] as f32 * 0.1);
        let (x, y) = (enc(x, &mut rng), enc(y, &mut rng));
        server_common::upload_dataset(&self.api, "regression", None, &x, &y)
    }

    /// Waits for a job to end; cancels it after `limit`. Returns its state.
    fn wait(&self, id: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let (s, job) = self.api.get_json(&format!("/v1/jobs/{id}"));
            assert_eq!(s, 200, "{job}");
            let state = job["state"].as_str().unwrap_or("?").to_string();
            if !matches!(state.as_str(), "queued" | "running") {
                if state == "failed" {
                    let error = job["error"].as_str().unwrap_or("");
                    assert!(!error.is_empty(), "a failed job says why: {job}");
                }
                return state;
            }
            if start.elapsed() > limit {
                self.api.post_empty(&format!("/v1/jobs/{id}/cancel"));
                return "cancelled after the wait".into();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn random_specs_are_refused_or_served_under_an_address_space_limit() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(&NodeConfig::new(dir.path()));
    let idle_kb = proc_kb(node.pid(), "VmSize");
    assert!(idle_kb > 0, "/proc/{}/status has no VmSize", node.pid());
    let address_space = (idle_kb << 10) + HEADROOM;
    let status = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(node.pid().to_string())
        .arg(format!("--as={address_space}"))
        .status()
        .expect("prlimit (util-linux)");
    assert!(status.success(), "prlimit failed");

    let key = SecretKey::from_seed(3);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let one = ArrayD::from_elem(vec![2, 1], 0.5f32);
    let enc = |rng: &mut ChaCha8Rng| {
        wire::encode(
            &key.encrypt_compact(&one, &ShadowDistribution::default(), rng)
                .unwrap(),
        )
    };
    let (x, y) = (enc(&mut rng), enc(&mut rng));
    let tiny = server_common::upload_dataset(&node.api, "regression", None, &x, &y);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(REQUEST_LIMIT))
        .build()
        .into();
    let case = Case {
        node: &node,
        api: Api {
            agent,
            ..node.api.clone()
        },
        key,
        tally: RefCell::default(),
        tiny,
        jobs: RefCell::default(),
    };

    let config = Config {
        cases: CASES,
        max_shrink_iters: 0,
        failure_persistence: None,
        ..Config::default()
    };
    let seed = [27u8; 32];
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let result = runner.run(&spec(), |spec| {
        case.run(&spec);
        Ok(())
    });
    let log = node.log_text();
    let tail: String = log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
    result.unwrap_or_else(|e| panic!("{e}\nlast lines of the node's log (newest first):\n{tail}"));

    // Jobs cancelled after the wait have ended too, without the node dying.
    for id in case.jobs.borrow().iter() {
        case.wait(id, Duration::from_secs(60));
    }
    assert!(alive(&node), "the node died:\n{tail}");
    node.healthy();
    let tally = case.tally.into_inner();
    let (peak_kb, hwm_kb) = (proc_kb(node.pid(), "VmPeak"), proc_kb(node.pid(), "VmHWM"));
    eprintln!(
        "{CASES} cases in {:.1} s: {:?}; node address space idle {} MiB, peak {} MiB (limit {} \
         MiB), peak RSS {} MiB",
        started.elapsed().as_secs_f64(),
        tally.0,
        idle_kb >> 10,
        peak_kb >> 10,
        address_space >> 20,
        hwm_kb >> 10,
    );
    // The generator reaches both sides of the bounds.
    assert!(tally.get("refused") >= 4, "{tally:?}");
    assert!(tally.get("accepted") >= 4, "{tally:?}");
    assert!(tally.get("job completed") >= 1, "{tally:?}");
}
