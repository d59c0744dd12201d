#include "nets/mitigation.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "nets/compensation.hpp"
#include "nets/hwa.hpp"

namespace aimc::nets {

namespace {
bool keeps_error(const std::string& kind) {
  return kind == "batchnorm" || kind == "relu" || kind == "clip" || kind == "maxpool2d" || kind == "avgpool2d";
}
/// Nodes that read node i.
std::vector<std::size_t> readers(const Network& net, std::size_t i) {
  std::vector<std::size_t> r;
  for (std::size_t j = i + 1; j < net.size(); ++j)
    for (int in : net.inputs(j))
      if (in == int(i)) {
        r.push_back(j);
        break;
      }
  return r;
}
}  // namespace

std::vector<BlockSite> block_sites(const Network& net) {
  const auto mm = matmul_layers(net);
  std::vector<BlockSite> sites;
  for (std::size_t k = 0; k + 1 < mm.size(); ++k) {
    std::size_t end = mm[k];
    for (;;) {
      const auto r = readers(net, end);
      if (r.size() != 1 || !keeps_error(net.layer(r[0]).spec().kind) || net.inputs(r[0]).size() != 1) break;
      end = r[0];
    }
    sites.push_back({mm[k], net.name(end), net.layer(end).output_shape()});
  }
  return sites;
}

long long compensation_params(const Shape& s, int rank) {
  const long long c = s.c;
  return (rank > 0 && rank < c ? 2 * c * rank : c * c) + c;
}

long long compensation_macs(const Shape& s, int rank) {
  const long long c = s.c, pos = (long long)s.h * s.w;
  return rank > 0 && rank < c ? pos * 2 * c * rank : pos * c * c;
}

std::vector<std::size_t> insert_compensation(Network& net, const std::vector<BlockSite>& sites,
                                             const std::vector<int>& placement, const std::vector<int>& ranks,
                                             std::uint64_t seed) {
  if (placement.size() != sites.size())
    throw Error("insert_compensation: placement has " + std::to_string(placement.size()) + " entries for " +
                std::to_string(sites.size()) + " sites");
  std::vector<std::string> names;
  for (std::size_t s = 0; s < sites.size(); ++s) {
    const int a = placement[s];
    if (a < 0 || a > int(ranks.size()))
      throw Error("insert_compensation: action " + std::to_string(a) + " at site " + std::to_string(s) +
                  " is outside [0, " + std::to_string(ranks.size()) + "]");
    if (a == 0) continue;
    const Shape& sh = sites[s].shape;
    auto block = std::make_unique<Compensation>(sh.c, sh.h, sh.w, ranks[std::size_t(a - 1)]);
    Stream st(seed, "compensation.init", {std::uint64_t(s)});
    block->init(st);
    const std::string name = "comp_" + sites[s].after;
    net.insert_after(sites[s].after, std::move(block), name);
    names.push_back(name);
  }
  std::vector<std::size_t> idx;
  for (const auto& n : names) idx.push_back(net.find(n));
  return idx;
}

void freeze_except(Network& net, const std::vector<std::size_t>& trainable) {
  for (std::size_t i = 0; i < net.size(); ++i) {
    const bool on = std::find(trainable.begin(), trainable.end(), i) != trainable.end();
    for (auto* p : net.layer(i).parameters()) p->trainable = on;
  }
  // A tensor shared by a trainable block and a backbone node stays trainable (set last wins above
  // only per node): re-enable the blocks' tensors.
  for (std::size_t i : trainable)
    for (auto* p : net.layer(i).parameters()) p->trainable = true;
}

long long parameter_count(const Network& net) {
  long long n = 0;
  for (const auto& p : net.parameter_store()) n += p->value.size();
  return n;
}

long long mac_count(const Network& net) {
  long long n = 0;
  for (std::size_t i = 0; i < net.size(); ++i) n += net.layer(i).macs();
  return n;
}

}  // namespace aimc::nets
