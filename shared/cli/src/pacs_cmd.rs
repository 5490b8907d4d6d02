//! PACS in and FHIR out on the command line: `upload --dicomweb URL (--study UID | --modality
//! XA --study-date A-B) --labels CSV` and `predict ... --fhir FILE`.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use more_data_owner::data::{self, Split, Task};
use more_data_owner::dicomweb::{self, Labels, Pacs, PacsAuth, StudyQuery};
use more_data_owner::fhir::{self, FhirOptions, Subject};
use more_data_owner::{CliError, Result};

/// The environment variable of the PACS password (basic authentication with --pacs-user).
pub const PACS_PASSWORD_ENV: &str = "MORE_PACS_PASSWORD";

/// Where the studies come from: a DICOMweb service (QIDO-RS search, WADO-RS retrieve).
#[derive(Args)]
pub struct PacsArgs {
    /// A DICOMweb service root (e.g. http://127.0.0.1:8042/dicom-web), with --labels
    /// (`study,label` or `instance,label`: Study or SOP Instance UIDs); the studies are
    /// retrieved here, decoded as a DICOM folder, encrypted and uploaded. The node never talks
    /// to the PACS, and no patient attribute is sent to it.
    #[arg(long, value_name = "URL", conflicts_with_all = ["csv", "idx", "images"], requires = "labels")]
    pub dicomweb: Option<String>,
    /// A Study Instance UID to retrieve (repeat for several).
    #[arg(long = "study", value_name = "UID", requires = "dicomweb")]
    pub studies: Vec<String>,
    /// QIDO-RS filter: Modalities in Study (e.g. XA, CT).
    #[arg(long, requires = "dicomweb")]
    pub modality: Option<String>,
    /// QIDO-RS filter: Study Date, YYYYMMDD or a range YYYYMMDD-YYYYMMDD.
    #[arg(long, requires = "dicomweb")]
    pub study_date: Option<String>,
    /// QIDO-RS filter: Patient ID (a query filter on the PACS only).
    #[arg(long, requires = "dicomweb")]
    pub patient_id: Option<String>,
    /// PACS user (HTTP basic authentication; the password is read from MORE_PACS_PASSWORD).
    #[arg(long, requires = "dicomweb")]
    pub pacs_user: Option<String>,
    /// PACS bearer token (or MORE_PACS_TOKEN).
    #[arg(long, env = "MORE_PACS_TOKEN", hide_env_values = true)]
    pub pacs_token: Option<String>,
}

impl PacsArgs {
    fn auth(&self) -> Result<PacsAuth> {
        if let Some(t) = &self.pacs_token {
            return Ok(PacsAuth::Bearer(t.clone()));
        }
        match &self.pacs_user {
            None => Ok(PacsAuth::None),
            Some(user) => match std::env::var(PACS_PASSWORD_ENV) {
                Ok(password) => Ok(PacsAuth::Basic {
                    user: user.clone(),
                    password,
                }),
                Err(_) => Err(CliError::Pacs(format!(
                    "--pacs-user needs the password in {PACS_PASSWORD_ENV}"
                ))),
            },
        }
    }

    fn has_query(&self) -> bool {
        self.modality.is_some() || self.study_date.is_some() || self.patient_id.is_some()
    }
}

/// Reads the studies of `a` (given UIDs, plus those the query finds) from the PACS with the
/// folder rules; prints the notes on stderr.
pub fn read_pacs(url: &str, a: &PacsArgs, labels: &Path, size: usize) -> Result<Split> {
    let name = labels
        .file_name()
        .map_or_else(|| "labels".into(), |n| n.to_string_lossy().to_string());
    let table = Labels::from_csv(&data::read_text_file(labels)?, &name)?;
    let pacs = Pacs::new(url, a.auth()?)?;
    let mut studies = a.studies.clone();
    if a.has_query() {
        let q = StudyQuery {
            modality: a.modality.clone(),
            study_date: a.study_date.clone(),
            patient_id: a.patient_id.clone(),
            limit: None,
        };
        let found = pacs.search_studies(&q)?;
        eprintln!("the PACS search found {} studies", found.len());
        studies.extend(found.into_iter().map(|s| s.study_instance_uid));
    }
    let set = dicomweb::load_studies(&pacs, &studies, &table, size, &name)?;
    for note in &set.notes {
        eprintln!("note: {note}");
    }
    Ok(set.split)
}

/// What the decrypted outputs are, for FHIR.
#[derive(Clone, Copy, ValueEnum)]
pub enum FhirTask {
    /// RiskAssessment per sample (softmax of the logits) when there is more than one output,
    /// else an Observation.
    Auto,
    /// RiskAssessment per sample with each class's probability (softmax of the logits).
    Classification,
    /// Observation per sample and output (valueQuantity with --fhir-unit).
    Regression,
}

/// FHIR R4 output of `predict`.
#[derive(Args)]
pub struct FhirArgs {
    /// Also write the decrypted predictions as a FHIR R4 Bundle (JSON) to this file.
    #[arg(long, value_name = "FILE")]
    pub fhir: Option<PathBuf>,
    /// What the outputs are.
    #[arg(long, value_enum, default_value = "auto", requires = "fhir")]
    pub fhir_task: FhirTask,
    /// UCUM unit of regression outputs (e.g. mg/dL).
    #[arg(long, requires = "fhir")]
    pub fhir_unit: Option<String>,
    /// Subject reference template, `{row}` the input row from 0 (e.g. Patient/{row}); default:
    /// an identifier naming the input row.
    #[arg(long, requires = "fhir")]
    pub fhir_subject: Option<String>,
}

/// The `target:*` column names of a predict input CSV (class or target names), if any.
fn target_names(input: &Path) -> Option<Vec<String>> {
    let csv = data::parse_csv(&data::read_text_file(input).ok()?).ok()?;
    let names: Vec<String> = csv
        .header
        .iter()
        .filter_map(|h| crate::target_name(h).map(str::to_string))
        .collect();
    (!names.is_empty()).then_some(names)
}

/// Writes the Bundle of `values` (`outputs` per sample) when `--fhir` is given.
pub fn write_fhir(
    a: &FhirArgs,
    model: &str,
    input: &Path,
    values: &[f32],
    outputs: usize,
) -> Result<()> {
    let Some(path) = &a.fhir else { return Ok(()) };
    let task = match a.fhir_task {
        FhirTask::Classification => Task::Classification,
        FhirTask::Regression => Task::Regression,
        FhirTask::Auto if outputs > 1 => Task::Classification,
        FhirTask::Auto => Task::Regression,
    };
    let o = FhirOptions {
        task,
        names: target_names(input),
        unit: a.fhir_unit.clone(),
        model: model.to_string(),
        subject: a
            .fhir_subject
            .clone()
            .map_or(Subject::InputRow, Subject::Template),
    };
    let rows: Vec<Vec<f32>> = values.chunks(outputs.max(1)).map(<[f32]>::to_vec).collect();
    let text = serde_json::to_string_pretty(&fhir::bundle(&rows, &o))
        .map_err(|e| CliError::Io(format!("FHIR JSON: {e}")))?;
    std::fs::write(path, text)
        .map_err(|e| CliError::Io(format!("cannot write {}: {e}", path.display())))?;
    eprintln!(
        "wrote the FHIR Bundle of {} predictions to {}",
        rows.len(),
        path.display()
    );
    Ok(())
}
