// Semantic HDF5 mutations through the HDF5 C API: the file stays a valid HDF5 file, so the mutation
// reaches aimc's readers instead of stopping in libhdf5's superblock checks.
#include <hdf5.h>

#include <cmath>
#include <cstring>

#include "tests/fuzz/fuzz.hpp"

namespace aimc::fuzz {
namespace {

struct Objects {
  std::vector<std::string> groups{"/"}, datasets;
  std::vector<std::pair<std::string, std::string>> attrs;  // object path, attribute name
};

herr_t visit_link(hid_t g, const char* name, const H5L_info_t* info, void* data) {
  auto& o = *static_cast<Objects*>(data);
  if (info->type != H5L_TYPE_HARD) return 0;
  const hid_t id = H5Oopen(g, name, H5P_DEFAULT);
  if (id < 0) return 0;
  const std::string path = "/" + std::string(name);
  if (H5Iget_type(id) == H5I_GROUP) o.groups.push_back(path);
  if (H5Iget_type(id) == H5I_DATASET) o.datasets.push_back(path);
  H5Oclose(id);
  return 0;
}

herr_t visit_attr(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}

Objects collect(hid_t f) {
  Objects o;
  H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, visit_link, &o);
  std::vector<std::string> all = o.groups;
  all.insert(all.end(), o.datasets.begin(), o.datasets.end());
  for (const auto& p : all) {
    const hid_t id = H5Oopen(f, p.c_str(), H5P_DEFAULT);
    if (id < 0) continue;
    std::vector<std::string> names;
    H5Aiterate2(id, H5_INDEX_NAME, H5_ITER_INC, nullptr, visit_attr, &names);
    for (const auto& n : names) o.attrs.emplace_back(p, n);
    H5Oclose(id);
  }
  return o;
}

std::string parent_of(const std::string& p) {
  const auto s = p.rfind('/');
  return s == 0 ? "/" : p.substr(0, s);
}

hid_t string_type(std::size_t size) {
  const hid_t t = H5Tcopy(H5T_C_S1);
  if (size == 0) H5Tset_size(t, H5T_VARIABLE);
  else H5Tset_size(t, size);
  return t;
}

/// Writes attribute `name` of object `obj` as one of several type and shape variants; returns what.
std::string write_attr(Rng& rng, hid_t obj, const std::string& name, const std::vector<std::string>& words) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  const std::size_t kind = rng.below(10);
  hsize_t n = 1;
  hid_t space = H5Screate(H5S_SCALAR), type = -1;
  std::string what;
  std::vector<char> buf;
  auto scalar_of = [&](hid_t t, const void* v, std::size_t size) {
    type = H5Tcopy(t);
    buf.assign(static_cast<const char*>(v), static_cast<const char*>(v) + size);
  };
  switch (kind) {
    case 0:
    case 1: {
      const std::int64_t v = rng.pick(nasty_ints());
      scalar_of(H5T_NATIVE_INT64, &v, sizeof v);
      what = "int64 " + std::to_string(v);
      break;
    }
    case 2: {
      const double v = rng.pick(nasty_doubles());
      scalar_of(H5T_NATIVE_DOUBLE, &v, sizeof v);
      what = "double " + std::to_string(v);
      break;
    }
    case 3:
    case 4: {
      const std::string s = rng.chance(0.5) ? rng.pick(words) : rng.pick(nasty_strings(words));
      type = string_type(std::max<std::size_t>(1, s.size()));
      buf.assign(s.begin(), s.end());
      if (buf.empty()) buf.push_back('\0');
      what = "fixed string of " + std::to_string(s.size());
      break;
    }
    case 5: {
      static thread_local std::string s;
      s = rng.pick(nasty_strings(words));
      type = string_type(0);
      const char* p = s.c_str();
      buf.assign(reinterpret_cast<const char*>(&p), reinterpret_cast<const char*>(&p) + sizeof p);
      what = "vlen string";
      break;
    }
    case 6: {  // a 1-D array where a scalar is expected
      n = hsize_t(rng.pick(std::vector<int>{0, 2, 3, 17}));
      H5Sclose(space);
      space = H5Screate_simple(1, &n, nullptr);
      type = H5Tcopy(rng.chance(0.5) ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE);
      buf.assign(std::max<std::size_t>(1, std::size_t(n)) * 8, '\x01');
      what = "array of " + std::to_string(n);
      break;
    }
    case 7: {
      H5Sclose(space);
      space = H5Screate(H5S_NULL);
      type = H5Tcopy(H5T_NATIVE_INT64);
      buf.assign(8, '\0');
      what = "null dataspace";
      break;
    }
    case 8: {  // a fixed-length string array (several strings where one is expected)
      n = 2 + rng.below(3);
      H5Sclose(space);
      space = H5Screate_simple(1, &n, nullptr);
      type = string_type(8);
      buf.assign(std::size_t(n) * 8, 'x');
      what = "string array";
      break;
    }
    default: {
      const hid_t t = rng.pick(std::vector<hid_t>{H5T_NATIVE_FLOAT, H5T_NATIVE_UINT8, H5T_NATIVE_INT8, H5T_STD_I64BE});
      std::int64_t v = rng.pick(nasty_ints());
      type = H5Tcopy(t);
      buf.assign(16, '\0');
      std::memcpy(buf.data(), &v, sizeof v);
      what = "small type";
    }
  }
  const hid_t a = H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    if (H5Sget_simple_extent_type(space) != H5S_NULL && n > 0) H5Awrite(a, type, buf.data());
    H5Aclose(a);
  }
  H5Tclose(type);
  H5Sclose(space);
  return "attribute " + name + " := " + what;
}

/// Replaces dataset `path` by one of another shape, type or content; returns what.
std::string replace_dataset(Rng& rng, hid_t f, const std::string& path, const std::vector<std::string>& words) {
  std::vector<hsize_t> dims;
  if (const hid_t d = H5Dopen2(f, path.c_str(), H5P_DEFAULT); d >= 0) {
    const hid_t s = H5Dget_space(d);
    const int nd = H5Sget_simple_extent_ndims(s);
    dims.assign(std::size_t(std::max(nd, 0)), 0);
    if (nd > 0) H5Sget_simple_extent_dims(s, dims.data(), nullptr);
    H5Sclose(s);
    H5Dclose(d);
  }
  H5Ldelete(f, path.c_str(), H5P_DEFAULT);
  if (dims.empty()) dims = {3};
  std::string what;
  bool huge = false;
  switch (rng.below(9)) {
    case 0:
      if (dims.size() == 2) std::swap(dims[0], dims[1]);
      what = "transposed";
      break;
    case 1:
      dims[rng.below(dims.size())] += 1;
      what = "one longer";
      break;
    case 2:
      dims.push_back(2);
      what = "one more dimension";
      break;
    case 3: {
      hsize_t n = 1;
      for (auto x : dims) n *= x;
      dims = {n};
      what = "flattened";
      break;
    }
    case 4:
      dims[rng.below(dims.size())] = 0;
      what = "empty";
      break;
    case 5:
      dims.clear();
      what = "scalar";
      break;
    case 6:
    case 7:
      dims[rng.below(dims.size())] = rng.pick(std::vector<hsize_t>{hsize_t(1) << 31, hsize_t(1) << 33, hsize_t(1) << 40,
                                                                   hsize_t(1) << 62});
      huge = true;
      what = "huge declared size (unallocated chunks)";
      break;
    default:
      what = "same shape";
  }
  const hid_t space = dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(int(dims.size()), dims.data(), nullptr);
  const std::size_t tk = rng.below(8);
  hid_t type = tk == 0 ? H5Tcopy(H5T_NATIVE_INT32)
               : tk == 1 ? H5Tcopy(H5T_NATIVE_INT64)
               : tk == 2 ? H5Tcopy(H5T_NATIVE_DOUBLE)
               : tk == 3 ? H5Tcopy(H5T_IEEE_F32BE)
               : tk == 4 ? string_type(0)
               : tk == 5 ? string_type(6)
                         : H5Tcopy(H5T_NATIVE_FLOAT);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (huge) {
    std::vector<hsize_t> chunk(dims.size(), 1);
    H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
  }
  const hid_t d = H5Dcreate2(f, path.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  hsize_t n = 1;
  for (auto x : dims) n *= x;
  if (d >= 0 && !huge && n > 0 && n <= 100000) {
    const H5T_class_t cls = H5Tget_class(type);
    if (cls == H5T_STRING && H5Tis_variable_str(type) > 0) {
      std::vector<std::string> s(n);
      std::vector<const char*> p(n);
      for (std::size_t i = 0; i < n; ++i) {
        s[i] = rng.pick(nasty_strings(words));
        p[i] = s[i].c_str();
      }
      H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data());
    } else if (cls == H5T_STRING) {
      std::vector<char> b(n * 6, 'z');
      H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, b.data());
    } else if (cls == H5T_INTEGER) {
      std::vector<std::int64_t> v(n);
      for (auto& x : v) x = rng.chance(0.5) ? std::int64_t(rng.below(3)) : rng.pick(nasty_ints());
      H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    } else {
      std::vector<double> v(n);
      for (auto& x : v) x = rng.chance(0.7) ? double(rng.below(100)) / 50.0 - 1.0 : rng.pick(nasty_doubles());
      H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    }
  }
  if (d >= 0) H5Dclose(d);
  H5Pclose(dcpl);
  H5Tclose(type);
  H5Sclose(space);
  return "dataset " + path + " replaced: " + what;
}

/// Rewrites some values of a numeric dataset in place (shape and type kept): NaN, inf, -1, huge.
std::string poke_dataset(Rng& rng, hid_t f, const std::string& path) {
  const hid_t d = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  if (d < 0) return "poke failed";
  const hid_t s = H5Dget_space(d), t = H5Dget_type(d);
  const hssize_t n = H5Sget_simple_extent_npoints(s);
  const H5T_class_t cls = H5Tget_class(t);
  std::string what = "no change";
  if (n > 0 && n <= 1000000 && (cls == H5T_INTEGER || cls == H5T_FLOAT)) {
    if (cls == H5T_INTEGER) {
      std::vector<std::int64_t> v(static_cast<std::size_t>(n));
      H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
      for (int k = 0; k < 3; ++k) v[rng.below(v.size())] = rng.pick(nasty_ints());
      H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    } else {
      std::vector<double> v(static_cast<std::size_t>(n));
      H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
      for (int k = 0; k < 3; ++k) v[rng.below(v.size())] = rng.pick(nasty_doubles());
      H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    }
    what = "nasty values";
  }
  H5Tclose(t);
  H5Sclose(s);
  H5Dclose(d);
  return "dataset " + path + ": " + what;
}

std::string mutate_once(Rng& rng, hid_t f, const std::vector<std::string>& words) {
  const Objects o = collect(f);
  std::vector<std::string> objects = o.groups;
  objects.insert(objects.end(), o.datasets.begin(), o.datasets.end());
  const std::size_t op = rng.below(12);
  if (op <= 2 && !o.attrs.empty()) {
    const auto& [path, name] = rng.pick(o.attrs);
    const hid_t obj = H5Oopen(f, path.c_str(), H5P_DEFAULT);
    const std::string w = write_attr(rng, obj, name, words);
    H5Oclose(obj);
    return path + ": " + w;
  }
  if (op == 3 && !o.attrs.empty()) {
    const auto& [path, name] = rng.pick(o.attrs);
    H5Adelete_by_name(f, path.c_str(), name.c_str(), H5P_DEFAULT);
    return path + ": attribute " + name + " deleted";
  }
  if (op == 4) {
    const std::string path = rng.pick(objects);
    const hid_t obj = H5Oopen(f, path.c_str(), H5P_DEFAULT);
    const std::string w = write_attr(rng, obj, rng.pick(words), words);
    H5Oclose(obj);
    return path + ": extra " + w;
  }
  if (op == 5 && objects.size() > 1) {
    const std::string path = objects[1 + rng.below(objects.size() - 1)];
    H5Ldelete(f, path.c_str(), H5P_DEFAULT);
    return path + " deleted";
  }
  if ((op == 6 || op == 7) && !o.datasets.empty()) return replace_dataset(rng, f, rng.pick(o.datasets), words);
  if (op == 8 && !o.datasets.empty()) return poke_dataset(rng, f, rng.pick(o.datasets));
  if (op == 9 && objects.size() > 1) {
    const std::string path = objects[1 + rng.below(objects.size() - 1)];
    H5Ldelete(f, path.c_str(), H5P_DEFAULT);
    switch (rng.below(3)) {
      case 0:
        H5Lcreate_soft(parent_of(path).c_str(), f, path.c_str(), H5P_DEFAULT, H5P_DEFAULT);
        return path + " := soft link to its parent (a cycle)";
      case 1:
        H5Lcreate_soft("/no/such/object", f, path.c_str(), H5P_DEFAULT, H5P_DEFAULT);
        return path + " := dangling soft link";
      default:
        H5Lcreate_external("/nonexistent/file.h5", "/x", f, path.c_str(), H5P_DEFAULT, H5P_DEFAULT);
        return path + " := external link to a missing file";
    }
  }
  if (op == 10 && objects.size() > 1) {
    const std::string path = objects[1 + rng.below(objects.size() - 1)];
    std::string to = parent_of(path) + (parent_of(path) == "/" ? "" : "/") +
                     rng.pick(std::vector<std::string>{"0009", "0001", "p0003", "p0000", "x", "0000", "-1"});
    H5Lmove(f, path.c_str(), f, to.c_str(), H5P_DEFAULT, H5P_DEFAULT);
    return path + " moved to " + to;
  }
  if (op == 11 && objects.size() > 1) {  // a group where a dataset is expected, or the other way round
    const std::string path = objects[1 + rng.below(objects.size() - 1)];
    const bool was_group = std::find(o.groups.begin(), o.groups.end(), path) != o.groups.end();
    H5Ldelete(f, path.c_str(), H5P_DEFAULT);
    if (was_group) {
      hsize_t n = 2;
      const hid_t s = H5Screate_simple(1, &n, nullptr);
      const hid_t d = H5Dcreate2(f, path.c_str(), H5T_NATIVE_INT64, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      if (d >= 0) H5Dclose(d);
      H5Sclose(s);
      return path + " := dataset in place of a group";
    }
    const hid_t g = H5Gcreate2(f, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g >= 0) H5Gclose(g);
    return path + " := group in place of a dataset";
  }
  if (!o.datasets.empty()) return replace_dataset(rng, f, rng.pick(o.datasets), words);
  return "nothing";
}

}  // namespace

std::string mutate_hdf5(Rng& rng, const fs::path& file, const std::vector<std::string>& words) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) return "cannot open";
  std::string what;
  const int ops = 1 + (rng.chance(0.3) ? int(rng.below(3)) : 0);
  for (int k = 0; k < ops; ++k) what += (what.empty() ? "" : "; ") + mutate_once(rng, f, words);
  H5Fclose(f);
  return what;
}

}  // namespace aimc::fuzz
