//! The data rules in the page: the JS-facing face of `more_data_owner::data` (tables, IDX, image
//! and DICOM folders), so the page reads a file exactly as `more-client`, Python and the lab do.
//! The page's Worker calls these with the bytes of the opened files; a data set comes back as a
//! plain object `{train, test, notes, rowsRead, rowsUsed, targetScale}` whose parts carry
//! `x`/`y` as `Float32Array`s (`part_js`). Errors are the library's `DataError` messages.

use js_sys::{Array, Float32Array, Function, Object, Reflect, Uint8Array};
use more_data_owner::data::{self, DataSet, Part, Standardizer, Task};
use wasm_bindgen::prelude::*;

fn set(o: &Object, key: &str, value: impl Into<JsValue>) {
    // Reflect::set fails only on a frozen object or a throwing setter: neither on a fresh Object.
    let _ = Reflect::set(o, &JsValue::from_str(key), &value.into());
}

fn strings(v: &[String]) -> JsValue {
    v.iter()
        .map(|s| JsValue::from_str(s))
        .collect::<Array>()
        .into()
}

fn numbers<T: Copy + Into<f64>>(v: &[T]) -> JsValue {
    v.iter()
        .map(|&n| JsValue::from_f64(n.into()))
        .collect::<Array>()
        .into()
}

fn usizes(v: &[usize]) -> JsValue {
    v.iter()
        .map(|&n| JsValue::from_f64(n as f64))
        .collect::<Array>()
        .into()
}

fn option(v: Option<JsValue>) -> JsValue {
    v.unwrap_or(JsValue::NULL)
}

/// One part as the page holds it: `{name, task, featureShape, x, y, targetDim, rows, labels,
/// classNames, featureNames, targetNames, sampleNames}` (absent lists are `null`).
fn part_js(p: &Part) -> Object {
    let o = Object::new();
    set(&o, "name", p.name.as_str());
    set(&o, "task", p.task.as_str());
    set(&o, "featureShape", usizes(&p.feature_shape));
    set(&o, "x", Float32Array::from(&p.x[..]));
    set(&o, "y", Float32Array::from(&p.y[..]));
    set(&o, "targetDim", p.target_dim as f64);
    set(&o, "rows", p.rows() as f64);
    set(&o, "labels", option(p.labels.as_deref().map(usizes)));
    set(
        &o,
        "classNames",
        option(p.class_names.as_deref().map(strings)),
    );
    set(
        &o,
        "featureNames",
        option(p.feature_names.as_deref().map(strings)),
    );
    set(
        &o,
        "targetNames",
        option(p.target_names.as_deref().map(strings)),
    );
    set(
        &o,
        "sampleNames",
        option(p.sample_names.as_deref().map(strings)),
    );
    o
}

fn scale_js(s: &Standardizer) -> JsValue {
    let o = Object::new();
    set(&o, "mean", numbers(&s.mean));
    set(&o, "std", numbers(&s.std));
    o.into()
}

fn dataset_js(ds: &DataSet) -> JsValue {
    let o = Object::new();
    set(&o, "train", part_js(&ds.split.train));
    set(&o, "test", part_js(&ds.split.test));
    set(&o, "notes", strings(&ds.notes));
    set(&o, "rowsRead", ds.rows_read as f64);
    set(&o, "rowsUsed", ds.rows_used as f64);
    set(
        &o,
        "targetScale",
        option(ds.target_scale.as_ref().map(scale_js)),
    );
    o.into()
}

/// `"auto"` (guess), `"classification"` or `"regression"`.
pub(crate) fn task_arg(task: &str) -> Result<Option<Task>, JsError> {
    match task {
        "" | "auto" => Ok(None),
        "classification" => Ok(Some(Task::Classification)),
        "regression" => Ok(Some(Task::Regression)),
        other => Err(JsError::new(&format!("unknown task {other:?}"))),
    }
}

/// Reads a table file (CSV, optionally gzipped, any of the library's encodings) with
/// `more_data_owner::data::read_table`: `targets` are column names, `task` `"auto"`,
/// `"classification"` or `"regression"`. Adds `guessedTask`, the task the target suggests.
#[wasm_bindgen(js_name = readTable)]
pub fn read_table(
    bytes: &[u8],
    file_name: &str,
    targets: Vec<String>,
    task: &str,
) -> Result<JsValue, JsError> {
    let ds = data::read_table(bytes, file_name, &targets, task_arg(task)?)?;
    let out = dataset_js(&ds);
    let csv = data::parse_csv(&data::decode_text(bytes, file_name)?.text)?;
    let guessed = data::guess_task(&data::column_profile(&csv), &targets);
    Reflect::set(&out, &"guessedTask".into(), &guessed.as_str().into())
        .map_err(|_| JsError::new("cannot set guessedTask"))?;
    Ok(out)
}

/// Per-column statistics of a table file, shown before it is read into a data set:
/// `{header, rows, notes, guessedTask, profile: [{name, numeric, missing, nonNumeric, examples,
/// distinct, integer, min, mean, max}]}` (`min`/`mean`/`max` over the numeric cells, `NaN` when
/// there are none). `guessedTask` is for `targets` (`null` when one of them is not a column).
#[wasm_bindgen(js_name = profileTable)]
pub fn profile_table(
    bytes: &[u8],
    file_name: &str,
    targets: Vec<String>,
) -> Result<JsValue, JsError> {
    let text = data::decode_text(bytes, file_name)?;
    let csv = data::parse_csv(&text.text)?;
    let profile = data::column_profile(&csv);
    let o = Object::new();
    set(&o, "header", strings(&csv.header));
    set(&o, "rows", csv.rows.len() as f64);
    set(&o, "notes", strings(&text.notes));
    let known = targets.iter().all(|t| csv.header.contains(t));
    let guessed = known.then(|| JsValue::from_str(data::guess_task(&profile, &targets).as_str()));
    set(&o, "guessedTask", option(guessed));
    let columns: Array = profile
        .iter()
        .enumerate()
        .map(|(j, c)| column_js(c, &csv.rows, j))
        .collect();
    set(&o, "profile", columns);
    Ok(o.into())
}

fn column_js(c: &data::ColumnProfile, rows: &[Vec<String>], j: usize) -> JsValue {
    let values: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.get(j).and_then(|v| data::number(v)))
        .collect();
    let n = values.len() as f64;
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let o = Object::new();
    set(&o, "name", c.name.as_str());
    set(&o, "numeric", c.numeric as f64);
    set(&o, "missing", c.missing as f64);
    set(&o, "nonNumeric", c.non_numeric as f64);
    set(&o, "examples", strings(&c.examples));
    set(&o, "distinct", c.distinct as f64);
    set(&o, "integer", c.integer);
    let some = !values.is_empty();
    set(&o, "min", if some { min } else { f64::NAN });
    set(
        &o,
        "mean",
        if some {
            values.iter().sum::<f64>() / n
        } else {
            f64::NAN
        },
    );
    set(&o, "max", if some { max } else { f64::NAN });
    o.into()
}

/// Reads IDX image and label files (optionally gzipped) with
/// `more_data_owner::data::read_idx_files`: `names[i]` is the name of `files[i]` (a
/// `Uint8Array`); at most `max_samples` training images.
#[wasm_bindgen(js_name = readIdx)]
pub fn read_idx(names: Vec<String>, files: Array, max_samples: usize) -> Result<JsValue, JsError> {
    let bytes: Vec<Vec<u8>> = files
        .iter()
        .map(|f| f.dyn_into::<Uint8Array>().map(|a| a.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| JsError::new("IDX files must be Uint8Arrays"))?;
    let named: Vec<(&str, &[u8])> = names
        .iter()
        .map(String::as_str)
        .zip(bytes.iter().map(Vec::as_slice))
        .collect();
    Ok(dataset_js(&data::read_idx_files(&named, max_samples)?))
}

/// Reads a folder of images (PNG, JPEG, DICOM, mixed) listed in a labels CSV with
/// `more_data_owner::data::read_image_folder`: `opened` are the names of the other opened files,
/// `read(name)` returns a listed file's bytes as a `Uint8Array` (or `undefined` when it was not
/// opened), called once per listed file so the Worker reads one file at a time. Samples are
/// `[1, size, size]`.
#[wasm_bindgen(js_name = readImageFolder)]
pub fn read_image_folder(
    labels_name: &str,
    labels_csv: &[u8],
    opened: Vec<String>,
    read: &Function,
    size: usize,
) -> Result<JsValue, JsError> {
    let mut fetch = |name: &str| -> Option<Vec<u8>> {
        let v = read.call1(&JsValue::NULL, &JsValue::from_str(name)).ok()?;
        v.dyn_into::<Uint8Array>().ok().map(|a| a.to_vec())
    };
    let ds = data::read_image_folder(labels_name, labels_csv, &opened, &mut fetch, size)?;
    Ok(dataset_js(&ds))
}
