//! PACS in and FHIR out for Python (`more_client.dicomweb`, `more_client.fhir`): DICOMweb search
//! and retrieve decoded with the folder pipeline, and decrypted predictions as a FHIR R4 Bundle,
//! over `more_data_owner::{dicomweb, fhir}`. The GIL is released while talking to the PACS.

use more_data_owner::data::{Part, Task};
use more_data_owner::dicomweb::{self, Labels, Pacs, PacsAuth, StudyQuery};
use more_data_owner::fhir::{self, FhirOptions, Subject};
use more_data_owner::{data, CliError};
use ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArray2};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

create_exception!(
    more_client,
    PacsError,
    crate::MoreError,
    "The PACS (DICOMweb) could not be reached, refused, or answered something else than DICOM."
);

fn connect(
    url: &str,
    user: Option<String>,
    password: Option<String>,
    token: Option<String>,
) -> Result<Pacs, CliError> {
    let auth = match (user, password, token) {
        (_, _, Some(t)) => PacsAuth::Bearer(t),
        (Some(user), Some(password), None) => PacsAuth::Basic { user, password },
        _ => PacsAuth::None,
    };
    Pacs::new(url, auth)
}

fn query(
    modality: Option<String>,
    study_date: Option<String>,
    patient_id: Option<String>,
) -> StudyQuery {
    StudyQuery {
        modality,
        study_date,
        patient_id,
        limit: None,
    }
}

/// QIDO-RS study search: `[(study_instance_uid, modalities, study_date)]` in UID order.
#[pyfunction]
#[pyo3(signature = (url, modality = None, study_date = None, patient_id = None, user = None,
                    password = None, token = None))]
#[allow(clippy::too_many_arguments)]
pub fn dicomweb_studies(
    py: Python<'_>,
    url: &str,
    modality: Option<String>,
    study_date: Option<String>,
    patient_id: Option<String>,
    user: Option<String>,
    password: Option<String>,
    token: Option<String>,
) -> PyResult<Vec<(String, Vec<String>, String)>> {
    let q = query(modality, study_date, patient_id);
    let found = py
        .allow_threads(|| connect(url, user, password, token)?.search_studies(&q))
        .map_err(|e| crate::to_py(py, e))?;
    Ok(found
        .into_iter()
        .map(|s| (s.study_instance_uid, s.modalities, s.study_date))
        .collect())
}

type PartArrays = (Py<PyArrayDyn<f32>>, Py<PyArrayDyn<f32>>);

fn arrays(py: Python<'_>, p: &Part) -> PyResult<PartArrays> {
    let mut shape = vec![p.rows()];
    shape.extend(&p.feature_shape);
    let x = ArrayD::from_shape_vec(IxDyn(&shape), p.x.clone())
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let y = ArrayD::from_shape_vec(IxDyn(&[p.rows(), p.target_dim]), p.y.clone())
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((x.into_pyarray(py).unbind(), y.into_pyarray(py).unbind()))
}

/// Retrieves `studies` (and those the query finds) by WADO-RS, keeps the instances `labels` (a
/// CSV path: `study,label` or `instance,label`) names, decodes them as a DICOM folder is decoded
/// (`size`×`size`). Returns `(x_train, y_train, x_test, y_test, class_names, notes, name)`.
#[pyfunction]
#[pyo3(signature = (url, labels, studies = Vec::new(), modality = None, study_date = None,
                    patient_id = None, size = 28, user = None, password = None, token = None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn dicomweb_load(
    py: Python<'_>,
    url: &str,
    labels: std::path::PathBuf,
    studies: Vec<String>,
    modality: Option<String>,
    study_date: Option<String>,
    patient_id: Option<String>,
    size: usize,
    user: Option<String>,
    password: Option<String>,
    token: Option<String>,
) -> PyResult<(PartArrays, PartArrays, Vec<String>, Vec<String>, String)> {
    let q = query(modality, study_date, patient_id);
    let any_filter = q.modality.is_some() || q.study_date.is_some() || q.patient_id.is_some();
    let (set, name) = py
        .allow_threads(|| -> Result<_, CliError> {
            let name = labels
                .file_name()
                .map_or_else(|| "labels".to_string(), |n| n.to_string_lossy().to_string());
            let table = Labels::from_csv(&data::read_text_file(&labels)?, &name)?;
            let pacs = connect(url, user, password, token)?;
            let mut uids = studies;
            if any_filter {
                uids.extend(
                    pacs.search_studies(&q)?
                        .into_iter()
                        .map(|s| s.study_instance_uid),
                );
            }
            let set = dicomweb::load_studies(&pacs, &uids, &table, size, &name)?;
            Ok((set, name))
        })
        .map_err(|e| crate::to_py(py, e))?;
    let split = &set.split;
    let classes = split.train.class_names.clone().unwrap_or_default();
    Ok((
        arrays(py, &split.train)?,
        arrays(py, &split.test)?,
        classes,
        set.notes,
        name,
    ))
}

/// A FHIR R4 Bundle (JSON text) of decrypted predictions `outputs` (samples × outputs):
/// `RiskAssessment`s for `task="classification"` (softmax of the logits), `Observation`s for
/// `"regression"` (with the UCUM `unit`). `subject`: a reference template (`Patient/{row}`), or
/// the input row as an identifier when `None`.
#[pyfunction]
#[pyo3(signature = (outputs, task, model, names = None, unit = None, subject = None))]
pub fn fhir_bundle(
    outputs: PyReadonlyArray2<'_, f32>,
    task: &str,
    model: String,
    names: Option<Vec<String>>,
    unit: Option<String>,
    subject: Option<String>,
) -> PyResult<String> {
    let task = match task {
        "classification" => Task::Classification,
        "regression" => Task::Regression,
        t => {
            return Err(PyValueError::new_err(format!(
                "task must be \"classification\" or \"regression\", not {t:?}"
            )))
        }
    };
    let rows: Vec<Vec<f32>> = outputs
        .as_array()
        .outer_iter()
        .map(|r| r.to_vec())
        .collect();
    let o = FhirOptions {
        task,
        names,
        unit,
        model,
        subject: subject.map_or(Subject::InputRow, Subject::Template),
    };
    Ok(fhir::bundle(&rows, &o).to_string())
}
