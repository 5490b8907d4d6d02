//! The DICOMweb client: QIDO-RS study search and WADO-RS study retrieve, blocking, over the
//! `dicom-web` crate.

use std::future::Future;
use std::time::Duration;

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_web::{DicomWebClient, DicomWebError};
use futures_util::StreamExt;

use crate::CliError;

/// How the client authenticates to the PACS (sent on every request).
#[derive(Clone, Debug, Default)]
pub enum PacsAuth {
    /// No credentials.
    #[default]
    None,
    /// HTTP basic authentication (Orthanc's registered users).
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// `Authorization: Bearer <token>` (a hospital's reverse proxy or OIDC gateway).
    Bearer(String),
}

/// QIDO-RS filters of a study search (`GET {base}/studies?...`); `None` leaves a filter out.
#[derive(Clone, Debug, Default)]
pub struct StudyQuery {
    /// Modalities in Study (0008,0061), e.g. `XA`, `CT`.
    pub modality: Option<String>,
    /// Study Date (0008,0020): `YYYYMMDD` or a range `YYYYMMDD-YYYYMMDD` (either end may be empty).
    pub study_date: Option<String>,
    /// Patient ID (0010,0020), given by the user to select a cohort; a query filter only, never
    /// read back or sent anywhere else.
    pub patient_id: Option<String>,
    /// At most this many studies.
    pub limit: Option<u32>,
}

/// One study a search found: its UID and image facts, no patient attribute.
#[derive(Clone, Debug, PartialEq)]
pub struct StudySummary {
    /// Study Instance UID (0020,000D).
    pub study_instance_uid: String,
    /// Modalities in Study (0008,0061), e.g. `["XA"]`.
    pub modalities: Vec<String>,
    /// Study Date (0008,0020), `YYYYMMDD`, empty when absent.
    pub study_date: String,
}

/// One retrieved instance: its SOP Instance UID and the DICOM file (Part 10 bytes, with preamble).
#[derive(Clone, Debug)]
pub struct Instance {
    /// SOP Instance UID (0008,0018).
    pub sop_instance_uid: String,
    /// The DICOM file as retrieved (re-encoded by dicom-rs in its own transfer syntax).
    pub bytes: Vec<u8>,
}

/// A DICOMweb endpoint (e.g. Orthanc's `http://127.0.0.1:8042/dicom-web`) and the runtime that
/// drives its requests.
pub struct Pacs {
    client: DicomWebClient,
    runtime: tokio::runtime::Runtime,
    url: String,
    /// Limit of each request (search, or one study's retrieve), default 120 s.
    pub timeout: Duration,
}

fn pacs_error(url: &str, e: &DicomWebError) -> CliError {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    CliError::Pacs(format!("{url}: {msg}"))
}

fn text(obj: &InMemDicomObject, tag: dicom_object::Tag) -> Vec<String> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_multi_str().ok().map(|v| v.to_vec()))
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .collect()
}

impl Pacs {
    /// A client of the DICOMweb service at `url` (its root: `{url}/studies` is the QIDO-RS
    /// search).
    ///
    /// # Errors
    /// [`CliError::Pacs`] for a URL that is not http(s), or when no runtime can be made.
    pub fn new(url: &str, auth: PacsAuth) -> Result<Self, CliError> {
        let url = url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(CliError::Pacs(format!(
                "the DICOMweb URL must start with http:// or https:// (got {url})"
            )));
        }
        let mut client = DicomWebClient::with_single_url(&url);
        match &auth {
            PacsAuth::None => {}
            PacsAuth::Basic { user, password } => {
                client.set_basic_auth(user, password);
            }
            PacsAuth::Bearer(token) => {
                client.set_bearer_token(token);
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::Pacs(format!("no async runtime for the PACS client: {e}")))?;
        Ok(Pacs {
            client,
            runtime,
            url,
            timeout: Duration::from_secs(120),
        })
    }

    /// The service root.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn run<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, DicomWebError>>,
    ) -> Result<T, CliError> {
        match self
            .runtime
            .block_on(async { tokio::time::timeout(self.timeout, fut).await })
        {
            Ok(r) => r.map_err(|e| pacs_error(&self.url, &e)),
            Err(_) => Err(CliError::Pacs(format!(
                "{}: {what} took longer than {} s",
                self.url,
                self.timeout.as_secs()
            ))),
        }
    }

    /// QIDO-RS study search with the filters of `q`; studies in Study Instance UID order.
    ///
    /// # Errors
    /// [`CliError::Pacs`]: the PACS is unreachable, refuses (its HTTP status), or answers
    /// something that is not DICOM JSON.
    pub fn search_studies(&self, q: &StudyQuery) -> Result<Vec<StudySummary>, CliError> {
        let mut req = self.client.query_studies().with_includefields(vec![
            tags::STUDY_INSTANCE_UID,
            tags::MODALITIES_IN_STUDY,
            tags::STUDY_DATE,
        ]);
        let filters = [
            (tags::MODALITIES_IN_STUDY, &q.modality),
            (tags::STUDY_DATE, &q.study_date),
            (tags::PATIENT_ID, &q.patient_id),
        ];
        for (tag, value) in filters {
            if let Some(v) = value {
                req = req.with_filter(tag.into(), v.clone());
            }
        }
        if let Some(n) = q.limit {
            req = req.with_limit(n);
        }
        let found = self.run("the study search", req.run())?;
        let mut studies: Vec<StudySummary> = found
            .iter()
            .filter_map(|o| {
                let uid = text(o, tags::STUDY_INSTANCE_UID).into_iter().next()?;
                Some(StudySummary {
                    study_instance_uid: uid,
                    modalities: text(o, tags::MODALITIES_IN_STUDY),
                    study_date: text(o, tags::STUDY_DATE).join(""),
                })
            })
            .collect();
        studies.sort_by(|a, b| a.study_instance_uid.cmp(&b.study_instance_uid));
        Ok(studies)
    }

    /// WADO-RS retrieve of every instance of a study (`GET {base}/studies/{uid}`), in the order
    /// the PACS sends them.
    ///
    /// # Errors
    /// [`CliError::Pacs`]: unreachable, refused (404 for an unknown study), a part that is not
    /// a DICOM file, or a response that is not `multipart/related`.
    pub fn retrieve_study(&self, study_instance_uid: &str) -> Result<Vec<Instance>, CliError> {
        if study_instance_uid.is_empty()
            || !study_instance_uid
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
        {
            return Err(CliError::Pacs(format!(
                "\"{study_instance_uid}\" is not a DICOM UID (digits and dots)"
            )));
        }
        let req = self.client.retrieve_study(study_instance_uid);
        let what = format!("retrieving study {study_instance_uid}");
        self.run(&what, async move {
            let mut stream = Box::pin(req.run().await?);
            let mut out = Vec::new();
            while let Some(obj) = stream.next().await {
                let obj = obj?;
                let sop = obj
                    .meta()
                    .media_storage_sop_instance_uid()
                    .trim_end_matches(['\0', ' '])
                    .to_string();
                let mut bytes = Vec::new();
                obj.write_all(&mut bytes)
                    .map_err(|e| DicomWebError::Other {
                        message: format!("instance {sop} could not be re-encoded: {e}"),
                    })?;
                out.push(Instance {
                    sop_instance_uid: sop,
                    bytes,
                });
            }
            Ok(out)
        })
    }
}
