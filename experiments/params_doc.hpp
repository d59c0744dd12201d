#pragma once
/// The parameter reference (docs/parameters.md, `aimc params`): every config section's table with
/// defaults, units, allowed ranges and sources, generated from the parameter tables themselves.
#include <string>

namespace aimc::experiments {

std::string parameter_reference();

}  // namespace aimc::experiments
