#pragma once
/// Thin helpers over the HDF5 C++ API, used by model files and results files: files, groups,
/// scalar and string attributes, 1-D/2-D datasets with `units` and `description` attributes.
/// Every HDF5 failure becomes an aimc::Error naming the file and object.
#include <H5Cpp.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace aimc::h5 {

/// Creates (truncates) a file. Callers that must not damage results write to a temporary path and rename.
H5::H5File create(const std::string& path);
H5::H5File open_read(const std::string& path);
H5::H5File open_rw(const std::string& path);

/// Largest dataset (bytes in memory) or fixed-length string attribute the read functions accept; a
/// larger extent in a file is an Error, not an allocation (results and model files hold megabytes).
inline constexpr hsize_t max_read_bytes = hsize_t{1} << 30;

bool exists(const H5::Group& g, const std::string& name);
/// Names of the links in g, in index order.
std::vector<std::string> names(const H5::Group& g, const std::string& file);
/// Names of the attributes of o.
std::vector<std::string> attr_names(const H5::H5Object& o, const std::string& file);
/// Opens `name` below g, creating missing groups along a '/'-separated path.
H5::Group group(H5::Group& g, const std::string& name);
H5::Group open_group(const H5::Group& g, const std::string& name, const std::string& file);

void set_attr(H5::H5Object& o, const std::string& name, const std::string& value);
void set_attr(H5::H5Object& o, const std::string& name, const char* value);
void set_attr(H5::H5Object& o, const std::string& name, double value);
void set_attr(H5::H5Object& o, const std::string& name, std::int64_t value);
void set_attr(H5::H5Object& o, const std::string& name, int value);
bool has_attr(const H5::H5Object& o, const std::string& name);
std::string attr_string(const H5::H5Object& o, const std::string& name, const std::string& file);
double attr_double(const H5::H5Object& o, const std::string& name, const std::string& file);
std::int64_t attr_int(const H5::H5Object& o, const std::string& name, const std::string& file);
/// The type of an attribute: 'i' integer, 'f' float, 's' string, '?' anything else.
char attr_kind(const H5::H5Object& o, const std::string& name, const std::string& file);

/// Writes a 2-D dataset (rows x cols) with units and description attributes.
void write(H5::Group& g, const std::string& name, const Matrix& m, const std::string& units = "",
           const std::string& description = "");
void write(H5::Group& g, const std::string& name, const MatrixD& m, const std::string& units = "",
           const std::string& description = "");
/// Writes a 1-D dataset.
void write(H5::Group& g, const std::string& name, const std::vector<double>& v, const std::string& units = "",
           const std::string& description = "");
void write(H5::Group& g, const std::string& name, const std::vector<std::int64_t>& v, const std::string& units = "",
           const std::string& description = "");
void write_strings(H5::Group& g, const std::string& name, const std::vector<std::string>& v,
                   const std::string& description = "");

/// The read functions below check the file before they allocate: a dataset must hold numbers (or
/// strings for read_strings, 1-D) and at most max_read_bytes; a scalar attribute exactly one value.
/// Dimensions of a dataset.
std::vector<hsize_t> dims(const H5::Group& g, const std::string& name, const std::string& file);
/// Reads a 1-D or 2-D float dataset (1-D becomes one row).
Matrix read_matrix(const H5::Group& g, const std::string& name, const std::string& file);
MatrixD read_matrixd(const H5::Group& g, const std::string& name, const std::string& file);
std::vector<double> read_doubles(const H5::Group& g, const std::string& name, const std::string& file);
std::vector<std::int64_t> read_ints(const H5::Group& g, const std::string& name, const std::string& file);
std::vector<std::string> read_strings(const H5::Group& g, const std::string& name, const std::string& file);

}  // namespace aimc::h5
