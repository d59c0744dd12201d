#pragma once
/// Fisher's Iris data (Fisher 1936, "The use of multiple measurements in taxonomic problems",
/// Annals of Eugenics 7:179, Table I): 150 flowers, 50 of each of 3 species, 4 measurements in cm.
/// Read from the CSV file that Debian's python3-sklearn package ships; nothing is downloaded.
#include <array>
#include <string>
#include <string_view>

#include "data/dataset.hpp"

namespace aimc::data {

/// The CSV installed by Debian's python3-sklearn (scikit-learn's copy, with the two UCI
/// transcription errors corrected to Fisher's table).
inline constexpr std::string_view iris_debian_csv = "/usr/lib/python3/dist-packages/sklearn/datasets/data/iris.csv";
/// Environment variable that overrides the file.
inline constexpr std::string_view iris_env = "AIMC_IRIS_CSV";

/// Species by label.
inline constexpr std::array<std::string_view, 3> iris_class_names = {"setosa", "versicolor", "virginica"};
/// Feature order in each row of x (all in cm).
inline constexpr std::array<std::string_view, 4> iris_feature_names = {"sepal length", "sepal width",
                                                                        "petal length", "petal width"};

/// The file the loader reads: `path` if non-empty, else $AIMC_IRIS_CSV if set and non-empty, else
/// iris_debian_csv.
std::string iris_csv_path(const std::string& path = "");

/// Loads Iris: x (150, 4) in cm, y in {0, 1, 2}, shape (4, 1, 1), 3 classes, name "iris".
///
/// Accepted layout: comma-separated rows "sepal length, sepal width, petal length, petal width,
/// species", where species is a label 0..2 or a name (setosa, versicolor, virginica, with or
/// without the "Iris-" prefix of the UCI file). An optional first line is either scikit-learn's
/// "150,4,setosa,versicolor,virginica" (its counts are checked) or a header of column names.
/// Blank lines, spaces around fields and CRLF line ends are accepted. Any other deviation (field
/// count, non-number, non-positive length, unknown species, row count other than 150 or classes not
/// 50 each) throws aimc::Error "<file>: line <n>: <problem>".
Dataset load_iris(const std::string& path = "");

}  // namespace aimc::data
