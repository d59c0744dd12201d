#pragma once
/// Dataset transforms that any reader or generator's output can go through: a deterministic,
/// stratified train/test split and z-score standardization with training-set statistics.
#include "core/random.hpp"
#include "data/dataset.hpp"

namespace aimc::data {

struct TrainTest {
  Dataset train, test;
};

/// Stratified random split: in each class, round(test_fraction * class size) samples, chosen by
/// shuffling that class's indices with `stream`, go to the test set, the rest to the training set.
/// Both sets are then shuffled with `stream`, so neither is ordered by class. The result depends
/// only on the data and the stream's state. Names get "/train" and "/test" appended.
/// Requires 0 < test_fraction < 1 and labels in [0, classes).
TrainTest train_test_split(const Dataset& d, double test_fraction, Stream& stream);

/// Per-feature mean and standard deviation (population, 1/n, as in scikit-learn's StandardScaler),
/// in the data's units.
struct Standardization {
  RowVector mean;
  RowVector sd;
};

/// Feature statistics of `train` (accumulated in double). A feature with zero spread gets sd = 1,
/// so standardizing only centres it.
Standardization fit_standardization(const Dataset& train);

/// x <- (x - mean) / sd, column by column, in place. Throws when the feature count differs.
void standardize(Dataset& d, const Standardization& s);

}  // namespace aimc::data
