#pragma once
/// One parameter table per struct: name, member, unit, description, source and allowed range.
/// The table is the single place a parameter is described; it drives TOML parsing (`from_toml`),
/// validation (`validate`), sweeps by name (`set_param`), HDF5 attributes (`param_values`) and the
/// README's parameter lists (`markdown_table`), so these cannot drift apart.
///
/// A struct opts in with a static member function
///   static std::span<const aimc::Param<S>> params();
/// and may add cross-parameter checks in `void check() const` (called by validate()).
/// Default values are the struct's default member initializers.
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.hpp"

namespace aimc {

/// Allowed range of a numeric parameter; open ends exclude the bound.
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  bool contains(double v) const {
    if (std::isnan(v)) return false;
    if (lo_open ? !(v > lo) : !(v >= lo)) return false;
    if (hi_open ? !(v < hi) : !(v <= hi)) return false;
    return true;
  }
  std::string str() const;
};
inline constexpr Range any_real{};
inline Range positive() { return {0.0, std::numeric_limits<double>::infinity(), true, false}; }
inline Range nonnegative() { return {0.0, std::numeric_limits<double>::infinity(), false, false}; }
inline Range between(double lo, double hi) { return {lo, hi, false, false}; }
inline Range probability() { return {0.0, 1.0, false, false}; }
/// `r` narrowed to the values an `int` member can hold (closed ends at INT_MIN and INT_MAX).
inline Range int_range(Range r) {
  constexpr double lo = std::numeric_limits<int>::min(), hi = std::numeric_limits<int>::max();
  if (r.lo < lo) r = {lo, r.hi, false, r.hi_open};
  if (r.hi > hi) r = {r.lo, hi, r.lo_open, false};
  return r;
}

/// Type of the member a pointer-to-member points at.
template <class M>
struct member_type;
template <class C, class T>
struct member_type<T C::*> {
  using type = T;
};
template <class M>
using member_t = typename member_type<M>::type;

template <class S>
struct Param {
  using Member = std::variant<double S::*, int S::*, bool S::*, std::string S::*>;
  std::string_view name;         ///< key in TOML and HDF5; carries the unit suffix where it has one
  Member member;
  std::string_view unit;         ///< SI unit, "1" for dimensionless, "" for flags and names
  std::string_view description;  ///< one line
  std::string_view source;       ///< paper and equation, or a public tool's documented default
  Range range = {};              ///< numeric parameters
  std::vector<std::string_view> choices = {};  ///< string parameters: allowed values
};

template <class S>
concept HasParams = requires { { S::params() } -> std::convertible_to<std::span<const Param<S>>>; };

template <class S>
concept HasCheck = requires(const S& s) { s.check(); };

/// Value of a parameter as text (for messages, tables and HDF5 attributes).
template <class S>
std::string param_text(const S& s, const Param<S>& p) {
  return std::visit(
      [&](auto m) -> std::string {
        const auto& v = s.*m;
        using T = member_t<decltype(m)>;
        if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>) return v;
        else return to_str(v);
      },
      p.member);
}

/// Checks every parameter's range/choices, then the struct's own check(). Numbers must be finite
/// whatever their range (no parameter means anything by NaN or infinity).
/// Throws Error("parameter '<context>.<name>' = <value>: must be in <range> [<unit>]").
template <HasParams S>
void validate(const S& s, std::string_view context = "") {
  std::string prefix = context.empty() ? "" : std::string(context) + ".";
  for (const auto& p : S::params()) {
    std::visit(
        [&](auto m) {
          const auto& v = s.*m;
          using T = member_t<decltype(m)>;
          if constexpr (std::is_same_v<T, std::string>) {
            if (p.choices.empty()) return;
            for (auto c : p.choices)
              if (v == c) return;
            std::string allowed;
            for (auto c : p.choices) allowed += (allowed.empty() ? "" : "|") + std::string(c);
            throw Error("parameter '" + prefix + std::string(p.name) + "' = \"" + v + "\": must be one of " + allowed);
          } else if constexpr (!std::is_same_v<T, bool>) {
            if (!std::isfinite(static_cast<double>(v)))
              throw Error("parameter '" + prefix + std::string(p.name) + "' = " + to_str(v) +
                          ": must be a finite number");
            if (!p.range.contains(static_cast<double>(v)))
              throw Error("parameter '" + prefix + std::string(p.name) + "' = " + to_str(v) + ": must be in " +
                          p.range.str() + (p.unit.empty() || p.unit == "1" ? "" : " " + std::string(p.unit)));
          }
        },
        p.member);
  }
  if constexpr (HasCheck<S>) s.check();
}

template <HasParams S>
const Param<S>* find_param(std::string_view name) {
  for (const auto& p : S::params())
    if (p.name == name) return &p;
  return nullptr;
}

/// Names of all parameters of S.
template <HasParams S>
std::vector<std::string> param_names() {
  std::vector<std::string> n;
  for (const auto& p : S::params()) n.emplace_back(p.name);
  return n;
}

/// Set a numeric parameter by name (sweeps). Returns false if S has no numeric parameter of that name.
/// A value the member cannot hold is an Error naming the parameter: NaN or infinity, a fraction or a
/// value beyond INT_MIN..INT_MAX for an `int`, anything but 0 or 1 for a flag. (The parameter's own
/// range is checked by validate(), which names the section.)
template <HasParams S>
bool set_param(S& s, std::string_view name, double value) {
  const Param<S>* p = find_param<S>(name);
  if (!p) return false;
  return std::visit(
      [&](auto m) -> bool {
        using T = member_t<decltype(m)>;
        if constexpr (std::is_same_v<T, std::string>) return false;
        else {
          if (!std::isfinite(value)) fail_param(name, value, "must be a finite number");
          if constexpr (std::is_same_v<T, double>) {
            s.*m = value;
          } else if constexpr (std::is_same_v<T, int>) {
            if (value != std::floor(value)) fail_param(name, value, "must be a whole number");
            const Range r = int_range(any_real);  // the parameter's own range: validate()
            if (!r.contains(value)) fail_param(name, value, "must be in " + r.str());
            s.*m = static_cast<int>(value);
          } else {
            if (value != 0.0 && value != 1.0) fail_param(name, value, "must be 0 or 1 (a flag)");
            s.*m = value != 0.0;
          }
          return true;
        }
      },
      p->member);
}

/// Numeric value of a parameter (NaN for strings).
template <HasParams S>
double get_param(const S& s, const Param<S>& p) {
  return std::visit(
      [&](auto m) -> double {
        using T = member_t<decltype(m)>;
        if constexpr (std::is_same_v<T, std::string>) return std::numeric_limits<double>::quiet_NaN();
        else return static_cast<double>(s.*m);
      },
      p.member);
}

/// Markdown table of S's parameters with defaults: | name | default | unit | description | source |
template <HasParams S>
std::string markdown_table() {
  S def{};
  std::string t = "| parameter | default | unit | allowed | description | source |\n|---|---|---|---|---|---|\n";
  for (const auto& p : S::params()) {
    std::string allowed;
    if (std::holds_alternative<std::string S::*>(p.member)) {
      for (auto c : p.choices) allowed += (allowed.empty() ? "" : ", ") + std::string(c);
    } else if (!std::holds_alternative<bool S::*>(p.member)) {
      allowed = p.range.str();
    }
    t += "| `" + std::string(p.name) + "` | " + param_text(def, p) + " | " + std::string(p.unit) + " | " + allowed +
         " | " + std::string(p.description) + " | " + std::string(p.source) + " |\n";
  }
  return t;
}

/// Levenshtein distance, used to suggest the nearest valid key.
std::size_t edit_distance(std::string_view a, std::string_view b);
/// The candidate nearest to `key`, or "" if none is reasonably close.
std::string nearest(std::string_view key, const std::vector<std::string>& candidates);

}  // namespace aimc
