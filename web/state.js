// @ts-check
// The page state: one object, declared here. No key material: the key stays in the worker.

/**
 * One part (training or test) of the loaded data, as formats.js reads it: a classification part has its labels
 * and class names, a regression part its target names and scale (the code relies on it).
 * @typedef {DataPartFields & ({ task: 'classification', labels: number[], classNames: string[] }
 *   | { task: 'regression', targetNames: string[], targetScale: { mean: number[], std: number[] } })} DataPart
 */

/**
 * What every part has (and the lists only some have).
 * @typedef {object} DataPartFields
 * @property {string} name the data's name (file or sample name)
 * @property {Float32Array} x features, row-major (rows × featureShape)
 * @property {Float32Array} y targets, row-major (rows × targetDim): one-hot for classification,
 *   standardized for regression
 * @property {number} rows samples
 * @property {number[]} featureShape the shape of one sample's features
 * @property {number} targetDim classes (classification) or outputs (regression)
 * @property {'classification' | 'regression'} task
 * @property {number[]} [labels] class index per row (classification)
 * @property {string[]} [classNames] the classes' names (classification)
 * @property {string[]} [targetNames] the target columns' names (regression)
 * @property {{ mean: number[], std: number[] }} [targetScale] per output (regression)
 * @property {string[]} [featureNames] the feature columns (tables)
 * @property {string[]} [sampleNames] per row: the file it came from (images, DICOM)
 * @property {string[]} [notes] what the reader did (dropped columns, missing values…)
 * @property {TableFacts} [table] the table's facts (tables)
 * @property {{ files: DicomFile[] } | null} [dicom] the DICOM files' facts (image folders; null: no DICOM file)
 */

/** A classification part (labels and class names). @typedef {DataPart & { task: 'classification' }} ClassificationPart */
/** A regression part (target names and scale). @typedef {DataPart & { task: 'regression' }} RegressionPart */

/**
 * How a table was read (formats.js `loadTable`): kept so that new cases are encoded as it was (score.js).
 * @typedef {object} TableFacts
 * @property {string[]} notes what the reader did
 * @property {'classification' | 'regression'} guessedTask the task the target column suggests
 * @property {string[]} targets the target columns asked for
 * @property {number} rowsRead data rows in the file
 * @property {number} rowsUsed rows used (the others dropped, see `notes`)
 * @property {File} file the table's file
 */

/**
 * One DICOM file of an image folder: its image facts only (no patient attribute is read).
 * @typedef {object} DicomFile
 * @property {string} name the file's name
 * @property {string} label its class (the labels CSV's)
 * @property {number} frames
 * @property {number} rows height, pixels
 * @property {number} columns width, pixels
 * @property {string} modality e.g. "XA"; empty when absent
 * @property {string} photometric the photometric interpretation
 * @property {number} bitsAllocated bits per sample
 * @property {string} transferSyntax UID and name
 * @property {[number, number]} rescale slope and intercept applied
 * @property {[number, number] | null} window centre and width used (null: min–max)
 * @property {number | null} primaryAngle positioner primary angle, degrees, LAO > 0
 * @property {number | null} secondaryAngle positioner secondary angle, degrees, cranial > 0
 * @property {string | null} view the C-arm view ("LAO 30 CRA 20"; null without both angles)
 */

/**
 * The signed-in caller (GET /v1/whoami), or tenant `local` on a node without sign-in.
 * @typedef {object} Who
 * @property {string} tenant whose datasets, models and jobs the page sees
 * @property {string} subject `apikey:{key id}`, `oidc:{sub}` or `anonymous`
 * @property {'viewer' | 'trainer' | 'admin'} role what it may do
 * @property {'api_key' | 'oidc' | 'anonymous'} method how it signed in
 */

/**
 * @typedef {object} PageState
 * @property {string | null} fingerprint the active key's fingerprint (null: no key)
 * @property {number | null} generation the active key's generation (1: made before 2026-12-01)
 * @property {number[] | undefined} basis the active key's public compact basis C0, row-major 2×2:
 *   the node's datasets with this basis are this key's
 * @property {{ train: DataPart, test: DataPart } | null} data the loaded data (plaintext, in the page)
 * @property {string | null} datasetId the uploaded dataset of the loaded data
 * @property {string | null} modelId the model that "Predict" and "Download" use
 * @property {boolean | undefined} modelTrained the model in `modelId` is trained and usable
 * @property {string | null} jobId the training job this page started last
 * @property {number[]} losses that job's decrypted mean loss per epoch
 * @property {string | null} localModelId the model decrypted into the worker ("predict here")
 * @property {{ where: string, outputs: number[][], ms: number } | null} lastPrediction the last
 *   test-set prediction: where it ran, the decrypted outputs (rows of logits), milliseconds
 * @property {number | null | undefined} accuracy the last test-set accuracy (classification), 0..1
 * @property {any} report the last test-set report (without its table element)
 * @property {number[] | undefined} padInput the 28×28 input last made from the drawing pad
 * @property {boolean} keySaved the active key is saved somewhere (exported to a key file, imported from
 *   one, or remembered in this browser): replacing it loses nothing, so the page does not ask first
 * @property {string | null} tenant the signed-in tenant
 * @property {string | undefined} role the signed-in role: `viewer`, `trainer` or `admin`
 * @property {boolean | undefined} training a job this page started or resumed is being followed
 * @property {string | undefined} jobLabel the name of that job for people (its model's name)
 * @property {{ modelId: string, model: string, learningRate: number, epochs: number, maxEpochs: number, validationLosses: number[],
 *   trials: { label: string, learningRate: number, validationLosses: number[], diverged: boolean }[] } | undefined} tuning
 *   the last automatic run (train-auto.js): its model, the kept model kind, the chosen learning rate, the epochs it trained
 *   (early stopping) of at most `maxEpochs`, its decrypted validation losses, and every learning rate tried
 * @property {{ file: string, csv: string, rows: number } | null | undefined} scored the last new cases scored
 *   (score.js): their file's name, the predictions CSV (ids, classes or target values), the number of cases
 * @property {{ datasets: string[], models: string[], jobs: [string, string][] } | null | undefined} work
 *   the ids of this key's objects on the node (jobs: [id, state]) at the last refresh
 */

/** What the page holds. Exported for the tests, which read it with `import('/app.js')` in the
 * page; the page reads no URL parameters.
 * @type {PageState} */
export const state = {
  fingerprint: null,
  generation: null,
  basis: undefined,
  data: null,
  datasetId: null,
  modelId: null,
  modelTrained: undefined,
  jobId: null,
  losses: [],
  localModelId: null,
  lastPrediction: null,
  accuracy: undefined,
  report: undefined,
  padInput: undefined,
  keySaved: false,
  tenant: null,
  role: undefined,
  training: undefined,
  jobLabel: undefined,
  tuning: undefined,
  work: undefined,
  scored: undefined,
};
