#include "core/hdf5io.hpp"

#include "core/error.hpp"

namespace aimc::h5 {
namespace {

struct Quiet {
  Quiet() { H5::Exception::dontPrint(); }
};
void quiet() { static Quiet q; }

std::string name_of(const H5::H5Object& o) {
  try {
    return o.getObjName();
  } catch (...) {
    return "?";
  }
}

template <class F>
auto guarded(const std::string& what, F&& f) {
  quiet();
  try {
    return f();
  } catch (const H5::Exception& e) {
    throw Error(what + ": HDF5 error: " + e.getDetailMsg());
  }
}

const H5::PredType& type_of(float) { return H5::PredType::NATIVE_FLOAT; }
const H5::PredType& type_of(double) { return H5::PredType::NATIVE_DOUBLE; }
const H5::PredType& type_of(std::int64_t) { return H5::PredType::NATIVE_INT64; }

template <class T>
void write_raw(H5::Group& g, const std::string& name, const T* data, std::vector<hsize_t> shape,
               const std::string& units, const std::string& description) {
  guarded(name_of(g) + "/" + name, [&] {
    if (g.nameExists(name)) g.unlink(name);
    H5::DataSpace space(static_cast<int>(shape.size()), shape.data());
    H5::DataSet ds = g.createDataSet(name, type_of(T{}), space);
    bool empty = false;
    for (auto s : shape) empty = empty || s == 0;
    if (!empty) ds.write(data, type_of(T{}));
    if (!units.empty()) set_attr(ds, "units", units);
    if (!description.empty()) set_attr(ds, "description", description);
    return 0;
  });
}

/// Elements of a dataspace, rejecting counts whose memory (`elem_bytes` each) exceeds max_read_bytes:
/// the extent comes from the file, so a damaged or hostile file must not choose our allocation size.
hsize_t checked_count(const H5::DataSpace& sp, std::size_t elem_bytes, const std::string& file, const std::string& name) {
  if (sp.getSimpleExtentType() == H5S_NULL) return 0;
  std::vector<hsize_t> d(static_cast<std::size_t>(sp.getSimpleExtentNdims()));
  sp.getSimpleExtentDims(d.data());
  for (auto x : d)
    if (x == 0) return 0;
  const hsize_t cap = max_read_bytes / elem_bytes;
  hsize_t n = 1;
  for (auto x : d) {
    if (n > cap / x) {
      std::string shape;
      for (auto y : d) shape += (shape.empty() ? "" : "x") + std::to_string(y);
      throw Error(file + ": dataset '" + name + "' declares shape " + shape + ", more than the " +
                  std::to_string(max_read_bytes >> 20) + " MiB aimc reads");
    }
    n *= x;
  }
  return n;
}

template <class T>
std::vector<T> read_raw(const H5::Group& g, const std::string& name, const std::string& file, std::vector<hsize_t>& shape) {
  if (!exists(g, name)) throw Error(file + ": missing dataset '" + name_of(g) + "/" + name + "'");
  return guarded(file + ": " + name, [&] {
    H5::DataSet ds = g.openDataSet(name);
    H5::DataSpace sp = ds.getSpace();
    int nd = sp.getSimpleExtentNdims();
    shape.assign(static_cast<std::size_t>(nd), 0);
    sp.getSimpleExtentDims(shape.data());
    const hsize_t n = checked_count(sp, sizeof(T), file, name);
    const H5T_class_t cls = ds.getTypeClass();
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
      throw Error(file + ": dataset '" + name + "' does not hold numbers (HDF5 type class " + std::to_string(int(cls)) + ")");
    std::vector<T> v(n);
    if (n) ds.read(v.data(), type_of(T{}));
    return v;
  });
}

/// Opens attribute `name` and checks that it holds exactly one value, so that reading it into one
/// variable cannot write past it.
H5::Attribute open_single(const H5::H5Object& o, const std::string& name, const std::string& file) {
  H5::Attribute a = o.openAttribute(name);
  const hssize_t n = a.getSpace().getSimpleExtentNpoints();
  if (n != 1)
    throw Error(file + ": attribute '" + name + "' holds " + std::to_string(n) + " values, expected a single value");
  return a;
}

}  // namespace

H5::H5File create(const std::string& path) {
  return guarded(path, [&] { return H5::H5File(path, H5F_ACC_TRUNC); });
}
H5::H5File open_read(const std::string& path) {
  quiet();
  try {
    return H5::H5File(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception&) {
    throw Error(path + ": cannot open as an HDF5 file (missing, unreadable or not HDF5)");
  }
}
H5::H5File open_rw(const std::string& path) {
  quiet();
  try {
    return H5::H5File(path, H5F_ACC_RDWR);
  } catch (const H5::Exception&) {
    throw Error(path + ": cannot open as an HDF5 file for writing");
  }
}

bool exists(const H5::Group& g, const std::string& name) {
  return guarded(name, [&] { return g.nameExists(name); });
}

H5::Group group(H5::Group& g, const std::string& name) {
  return guarded(name, [&] {
    H5::Group cur = g.openGroup(".");  // never slice: an H5File copied into a Group loses its id
    std::size_t start = 0;
    while (start <= name.size()) {
      std::size_t end = name.find('/', start);
      if (end == std::string::npos) end = name.size();
      std::string part = name.substr(start, end - start);
      if (!part.empty()) cur = cur.nameExists(part) ? cur.openGroup(part) : cur.createGroup(part);
      start = end + 1;
    }
    return cur;
  });
}

std::vector<std::string> names(const H5::Group& g, const std::string& file) {
  return guarded(file + ": " + name_of(g), [&] {
    std::vector<std::string> out;
    const hsize_t n = g.getNumObjs();
    for (hsize_t i = 0; i < n; ++i) out.push_back(g.getObjnameByIdx(i));
    return out;
  });
}

std::vector<std::string> attr_names(const H5::H5Object& o, const std::string& file) {
  return guarded(file + ": " + name_of(o), [&] {
    // H5Aiterate2 hands out names without opening each attribute.
    std::vector<std::string> out;
    auto add = [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
      static_cast<std::vector<std::string>*>(data)->push_back(name);
      return 0;
    };
    if (H5Aiterate2(o.getId(), H5_INDEX_NAME, H5_ITER_INC, nullptr, add, &out) < 0)
      throw Error(file + ": cannot list the attributes of '" + name_of(o) + "'");
    return out;
  });
}

H5::Group open_group(const H5::Group& g, const std::string& name, const std::string& file) {
  if (!exists(g, name)) throw Error(file + ": missing group '" + name + "'");
  return guarded(file + ": " + name, [&] { return g.openGroup(name); });
}

void set_attr(H5::H5Object& o, const std::string& name, const std::string& value) {
  guarded(name, [&] {
    if (o.attrExists(name)) o.removeAttr(name);
    H5::StrType t(H5::PredType::C_S1, value.empty() ? 1 : value.size());
    H5::Attribute a = o.createAttribute(name, t, H5::DataSpace(H5S_SCALAR));
    a.write(t, value.empty() ? std::string(1, '\0') : value);
    return 0;
  });
}
void set_attr(H5::H5Object& o, const std::string& name, const char* value) { set_attr(o, name, std::string(value)); }

template <class T>
static void set_num_attr(H5::H5Object& o, const std::string& name, T value) {
  guarded(name, [&] {
    if (o.attrExists(name)) o.removeAttr(name);
    H5::Attribute a = o.createAttribute(name, type_of(value), H5::DataSpace(H5S_SCALAR));
    a.write(type_of(value), &value);
    return 0;
  });
}
void set_attr(H5::H5Object& o, const std::string& name, double value) { set_num_attr(o, name, value); }
void set_attr(H5::H5Object& o, const std::string& name, std::int64_t value) { set_num_attr(o, name, value); }
void set_attr(H5::H5Object& o, const std::string& name, int value) {
  set_num_attr(o, name, static_cast<std::int64_t>(value));
}

bool has_attr(const H5::H5Object& o, const std::string& name) {
  return guarded(name, [&] { return o.attrExists(name); });
}

std::string attr_string(const H5::H5Object& o, const std::string& name, const std::string& file) {
  if (!has_attr(o, name)) throw Error(file + ": missing attribute '" + name + "'");
  return guarded(file + ": attribute " + name, [&] {
    H5::Attribute a = open_single(o, name, file);
    if (a.getTypeClass() != H5T_STRING) throw Error(file + ": attribute '" + name + "' is not a string");
    if (!a.getStrType().isVariableStr() && a.getStrType().getSize() > max_read_bytes)
      throw Error(file + ": attribute '" + name + "' declares a string of " + std::to_string(a.getStrType().getSize()) +
                  " bytes");
    std::string s;
    a.read(a.getStrType(), s);
    while (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
  });
}

double attr_double(const H5::H5Object& o, const std::string& name, const std::string& file) {
  if (!has_attr(o, name)) throw Error(file + ": missing attribute '" + name + "'");
  return guarded(file + ": attribute " + name, [&] {
    H5::Attribute a = open_single(o, name, file);
    if (a.getTypeClass() != H5T_FLOAT && a.getTypeClass() != H5T_INTEGER)
      throw Error(file + ": attribute '" + name + "' is not a number");
    double v = 0;
    a.read(H5::PredType::NATIVE_DOUBLE, &v);
    return v;
  });
}

std::int64_t attr_int(const H5::H5Object& o, const std::string& name, const std::string& file) {
  if (!has_attr(o, name)) throw Error(file + ": missing attribute '" + name + "'");
  return guarded(file + ": attribute " + name, [&] {
    H5::Attribute a = open_single(o, name, file);
    if (a.getTypeClass() != H5T_INTEGER) throw Error(file + ": attribute '" + name + "' is not an integer");
    std::int64_t v = 0;
    a.read(H5::PredType::NATIVE_INT64, &v);
    return v;
  });
}

char attr_kind(const H5::H5Object& o, const std::string& name, const std::string& file) {
  if (!has_attr(o, name)) throw Error(file + ": missing attribute '" + name + "'");
  return guarded(file + ": attribute " + name, [&] {
    H5::Attribute a = open_single(o, name, file);
    switch (a.getTypeClass()) {
      case H5T_INTEGER: return 'i';
      case H5T_FLOAT: return 'f';
      case H5T_STRING: return 's';
      default: return '?';
    }
  });
}

void write(H5::Group& g, const std::string& name, const Matrix& m, const std::string& units, const std::string& d) {
  write_raw(g, name, m.data(), {hsize_t(m.rows()), hsize_t(m.cols())}, units, d);
}
void write(H5::Group& g, const std::string& name, const MatrixD& m, const std::string& units, const std::string& d) {
  write_raw(g, name, m.data(), {hsize_t(m.rows()), hsize_t(m.cols())}, units, d);
}
void write(H5::Group& g, const std::string& name, const std::vector<double>& v, const std::string& units,
           const std::string& d) {
  write_raw(g, name, v.data(), {hsize_t(v.size())}, units, d);
}
void write(H5::Group& g, const std::string& name, const std::vector<std::int64_t>& v, const std::string& units,
           const std::string& d) {
  write_raw(g, name, v.data(), {hsize_t(v.size())}, units, d);
}

void write_strings(H5::Group& g, const std::string& name, const std::vector<std::string>& v, const std::string& d) {
  guarded(name, [&] {
    if (g.nameExists(name)) g.unlink(name);
    H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
    hsize_t n = v.size();
    H5::DataSet ds = g.createDataSet(name, t, H5::DataSpace(1, &n));
    std::vector<const char*> p;
    for (const auto& s : v) p.push_back(s.c_str());
    if (n) ds.write(p.data(), t);
    if (!d.empty()) set_attr(ds, "description", d);
    return 0;
  });
}

std::vector<hsize_t> dims(const H5::Group& g, const std::string& name, const std::string& file) {
  if (!exists(g, name)) throw Error(file + ": missing dataset '" + name + "'");
  return guarded(file + ": " + name, [&] {
    H5::DataSpace sp = g.openDataSet(name).getSpace();
    std::vector<hsize_t> s(static_cast<std::size_t>(sp.getSimpleExtentNdims()));
    sp.getSimpleExtentDims(s.data());
    return s;
  });
}

template <class M>
static M read_mat(const H5::Group& g, const std::string& name, const std::string& file) {
  std::vector<hsize_t> shape;
  auto v = read_raw<typename M::Scalar>(g, name, file, shape);
  if (shape.size() > 2) throw Error(file + ": dataset '" + name + "' has " + std::to_string(shape.size()) + " dimensions, expected 1 or 2");
  Eigen::Index r = shape.size() == 2 ? Eigen::Index(shape[0]) : 1;
  Eigen::Index c = shape.empty() ? 1 : Eigen::Index(shape.back());
  if (std::size_t(r * c) != v.size()) throw Error(file + ": dataset '" + name + "' holds no values");
  M m(r, c);
  std::copy(v.begin(), v.end(), m.data());
  return m;
}
Matrix read_matrix(const H5::Group& g, const std::string& name, const std::string& file) {
  return read_mat<Matrix>(g, name, file);
}
MatrixD read_matrixd(const H5::Group& g, const std::string& name, const std::string& file) {
  return read_mat<MatrixD>(g, name, file);
}
std::vector<double> read_doubles(const H5::Group& g, const std::string& name, const std::string& file) {
  std::vector<hsize_t> shape;
  return read_raw<double>(g, name, file, shape);
}
std::vector<std::int64_t> read_ints(const H5::Group& g, const std::string& name, const std::string& file) {
  std::vector<hsize_t> shape;
  return read_raw<std::int64_t>(g, name, file, shape);
}

std::vector<std::string> read_strings(const H5::Group& g, const std::string& name, const std::string& file) {
  if (!exists(g, name)) throw Error(file + ": missing dataset '" + name + "'");
  return guarded(file + ": " + name, [&] {
    H5::DataSet ds = g.openDataSet(name);
    H5::DataSpace sp = ds.getSpace();
    if (sp.getSimpleExtentNdims() != 1)
      throw Error(file + ": dataset '" + name + "' has " + std::to_string(sp.getSimpleExtentNdims()) +
                  " dimensions, expected a 1-D list of strings");
    if (ds.getTypeClass() != H5T_STRING) throw Error(file + ": dataset '" + name + "' does not hold strings");
    const hsize_t n = checked_count(sp, sizeof(char*), file, name);
    H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
    std::vector<char*> p(n, nullptr);
    if (n) ds.read(p.data(), t);
    std::vector<std::string> out;
    for (auto* s : p) out.emplace_back(s ? s : "");
    if (n) H5::DataSet::vlenReclaim(p.data(), t, sp);
    return out;
  });
}

}  // namespace aimc::h5
