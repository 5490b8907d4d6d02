//! The Slurm script and the Kubeflow MPIJob manifest in compute-node/deploy: no cluster runs here,
//! so they are checked by parsing: the required fields, the launch line, and the
//! `train-distributed` arguments they pass, parsed by the command's own argument parser.

use std::path::PathBuf;

use clap::{Args, FromArgMatches};
use more_core::nn::TrainConfig;
use more_distributed::TrainDistributedArgs;
use serde_json::Value;

fn deploy(path: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The arguments after `train-distributed`, parsed as the command parses them.
fn parse_command_args(tokens: &[String]) -> TrainDistributedArgs {
    let at = tokens
        .iter()
        .position(|t| t == "train-distributed")
        .expect("a train-distributed command");
    assert_eq!(tokens[at - 1], "more-node", "{tokens:?}");
    let cmd = TrainDistributedArgs::augment_args(clap::Command::new("train-distributed"));
    let matches = cmd
        .try_get_matches_from(&tokens[at..])
        .unwrap_or_else(|e| panic!("{e}"));
    let args = TrainDistributedArgs::from_arg_matches(&matches).expect("arguments");
    if !args.config.starts_with('$') {
        serde_json::from_str::<TrainConfig>(&args.config).expect("--config is a TrainConfig");
    }
    args
}

/// Shell words of a line, `"$VAR"` kept as one word and `${VAR:+...}` expansions dropped.
fn shell_words(line: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut depth = 0usize;
    for w in line.split_whitespace() {
        let opens = w.matches("${").count();
        let closes = w.matches('}').count();
        if depth == 0 && opens == 0 {
            out.push(w.trim_matches('"').to_string());
        }
        depth = (depth + opens).saturating_sub(closes);
    }
    out
}

#[test]
fn slurm_script_has_the_allocation_and_an_srun_pmix_launch() {
    let text = deploy("slurm/train-distributed.sbatch");
    assert!(text.starts_with("#!/bin/bash\n"));
    let sbatch: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#SBATCH "))
        .map(|o| {
            let (k, v) = o.split_once('=').expect("--option=value");
            (k.to_string(), v.to_string())
        })
        .collect();
    let get = |k: &str| sbatch.iter().find(|(o, _)| o == k).map(|(_, v)| v.as_str());
    let nodes: usize = get("--nodes")
        .expect("#SBATCH --nodes")
        .parse()
        .expect("nodes");
    let per_node: usize = get("--ntasks-per-node")
        .expect("--ntasks-per-node")
        .parse()
        .unwrap();
    assert!(nodes >= 2 && per_node >= 1);
    assert!(get("--time").is_some() && get("--job-name").is_some());
    // #SBATCH lines are read only before the first command.
    let lines: Vec<&str> = text.lines().collect();
    let first_command = lines
        .iter()
        .position(|l| !l.starts_with('#') && !l.trim().is_empty())
        .expect("commands");
    let last_sbatch = lines
        .iter()
        .rposition(|l| l.starts_with("#SBATCH"))
        .unwrap();
    assert!(last_sbatch < first_command);
    let srun: Vec<&str> = text.lines().filter(|l| l.starts_with("srun ")).collect();
    assert_eq!(srun.len(), 1, "one srun launch");
    let words = shell_words(srun[0]);
    assert_eq!(words[..2], ["srun", "--mpi=pmix"]);
    let args = parse_command_args(&words);
    assert_eq!(args.store, "$MORE_STORE");
    assert_eq!(args.config, "$CONFIG");
    // The default configuration the script passes is a valid TrainConfig.
    let default = text
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG=${CONFIG:-'"))
        .and_then(|l| l.strip_suffix("'}"))
        .expect("CONFIG default");
    serde_json::from_str::<TrainConfig>(default).expect("default CONFIG");
}

#[test]
fn mpijob_manifest_has_launcher_workers_and_the_command() {
    let job: Value = serde_norway::from_str(&deploy("kubernetes/mpijob.yaml")).expect("YAML");
    assert_eq!(job["apiVersion"], "kubeflow.org/v2beta1");
    assert_eq!(job["kind"], "MPIJob");
    assert!(job["metadata"]["name"].is_string());
    let spec = &job["spec"];
    assert_eq!(spec["mpiImplementation"], "OpenMPI");
    let replicas = &spec["mpiReplicaSpecs"];
    assert_eq!(replicas["Launcher"]["replicas"], 1);
    let workers = replicas["Worker"]["replicas"]
        .as_u64()
        .expect("Worker.replicas");
    let slots = spec["slotsPerWorker"].as_u64().expect("slotsPerWorker");
    for role in ["Launcher", "Worker"] {
        let c = &replicas[role]["template"]["spec"]["containers"][0];
        assert!(
            c["name"].is_string() && c["image"].is_string(),
            "{role}: {c}"
        );
    }
    let command: Vec<String> = replicas["Launcher"]["template"]["spec"]["containers"][0]["command"]
        .as_array()
        .expect("launcher command")
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect();
    assert_eq!(command[0], "mpirun");
    let np = command.iter().position(|t| t == "-np").expect("-np");
    assert_eq!(command[np + 1].parse::<u64>().unwrap(), workers * slots);
    let args = parse_command_args(&command);
    assert!(args.store.starts_with("s3://"));
}
