// GENERATED from shared/data-owner/src/rest/routes.rs by
// `cargo run -p more-data-owner --example write_api_routes`; do not edit (a test fails
// when this file differs from the table).
// Every route of the compute node the page calls: `body` none | json | bytes | large
// (streamed from a Blob), `answer` json | bytes | empty, `public` served without a token.
export const ROUTES = [
  { name: 'health', method: 'GET', path: '/health', body: 'none', answer: 'json', public: true },
  { name: 'auth', method: 'GET', path: '/auth', body: 'none', answer: 'json', public: true },
  { name: 'whoami', method: 'GET', path: '/whoami', body: 'none', answer: 'json', public: false },
  { name: 'datasets', method: 'GET', path: '/datasets', body: 'none', answer: 'json', public: false },
  { name: 'createDataset', method: 'POST', path: '/datasets', body: 'json', answer: 'json', public: false },
  { name: 'dataset', method: 'GET', path: '/datasets/{id}', body: 'none', answer: 'json', public: false },
  { name: 'putFeatures', method: 'PUT', path: '/datasets/{id}/features', body: 'bytes', answer: 'json', public: false },
  { name: 'putTargets', method: 'PUT', path: '/datasets/{id}/targets', body: 'bytes', answer: 'json', public: false },
  { name: 'appendShard', method: 'POST', path: '/datasets/{id}/shards?index={index}', body: 'bytes', answer: 'json', public: false },
  { name: 'deleteDataset', method: 'DELETE', path: '/datasets/{id}', body: 'none', answer: 'empty', public: false },
  { name: 'models', method: 'GET', path: '/models', body: 'none', answer: 'json', public: false },
  { name: 'createModel', method: 'POST', path: '/models', body: 'json', answer: 'json', public: false },
  { name: 'model', method: 'GET', path: '/models/{id}', body: 'none', answer: 'json', public: false },
  { name: 'weights', method: 'GET', path: '/models/{id}/weights', body: 'none', answer: 'bytes', public: false },
  { name: 'predict', method: 'POST', path: '/models/{id}/predict', body: 'bytes', answer: 'bytes', public: false },
  { name: 'predictDataset', method: 'POST', path: '/models/{id}/predict/{dataset_id}', body: 'none', answer: 'bytes', public: false },
  { name: 'deleteModel', method: 'DELETE', path: '/models/{id}', body: 'none', answer: 'empty', public: false },
  { name: 'jobs', method: 'GET', path: '/jobs', body: 'none', answer: 'json', public: false },
  { name: 'startJob', method: 'POST', path: '/jobs', body: 'json', answer: 'json', public: false },
  { name: 'job', method: 'GET', path: '/jobs/{id}', body: 'none', answer: 'json', public: false },
  { name: 'losses', method: 'GET', path: '/jobs/{id}/losses', body: 'none', answer: 'bytes', public: false },
  { name: 'cancel', method: 'POST', path: '/jobs/{id}/cancel', body: 'none', answer: 'json', public: false },
  { name: 'resume', method: 'POST', path: '/jobs/{id}/resume', body: 'none', answer: 'json', public: false },
  { name: 'validationLosses', method: 'GET', path: '/jobs/{id}/validation_losses', body: 'none', answer: 'bytes', public: false },
  { name: 'keepJob', method: 'POST', path: '/jobs/{id}/keep', body: 'none', answer: 'json', public: false },
  { name: 'secureModels', method: 'GET', path: '/secure/models', body: 'none', answer: 'json', public: false },
  { name: 'securePublish', method: 'POST', path: '/secure/models', body: 'json', answer: 'json', public: false },
  { name: 'secureModel', method: 'GET', path: '/secure/models/{id}', body: 'none', answer: 'json', public: false },
  { name: 'secureSetGrants', method: 'PUT', path: '/secure/models/{id}/grants', body: 'json', answer: 'json', public: false },
  { name: 'secureDelete', method: 'DELETE', path: '/secure/models/{id}', body: 'none', answer: 'empty', public: false },
  { name: 'uploadEvaluationKey', method: 'POST', path: '/secure/evaluation-keys', body: 'bytes', answer: 'json', public: false },
  { name: 'securePredict', method: 'POST', path: '/secure/models/{id}/predict?evaluation_key={evaluation_key}', body: 'large', answer: 'bytes', public: false },
];
