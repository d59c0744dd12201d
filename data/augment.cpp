#include "data/augment.hpp"

#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"

namespace aimc::data {

void validate_augment(const AugmentParams& p, Shape s, const std::string& where) {
  if (p.kind != "none" && p.kind != "shift-flip")
    throw Error(where + ": augment: unknown kind '" + p.kind + "' (none or shift-flip)");
  if (p.kind == "none") return;
  if (s.h < 2 || s.w < 2)
    throw Error(where + ": augment: " + p.kind + " needs image samples, the data set has shape " + s.str());
  if (p.shift < 0 || p.shift >= std::min(s.h, s.w))
    throw Error(where + ": augment_shift: " + std::to_string(p.shift) + " px must be in [0, " +
                std::to_string(std::min(s.h, s.w) - 1) + "] for samples of shape " + s.str());
}

void augment(Matrix& x, Shape s, std::span<const std::int64_t> ids, const AugmentParams& p, std::uint64_t seed,
             int epoch) {
  if (p.kind == "none") return;
  validate_augment(p, s, "augment");
  if (std::size_t(x.rows()) != ids.size() || x.cols() != s.size())
    throw Error("augment: " + std::to_string(x.rows()) + " x " + std::to_string(x.cols()) + " batch, " +
                std::to_string(ids.size()) + " sample ids, samples of shape " + s.str());
  const int c = s.c, h = s.h, w = s.w;
  const auto span = std::uint64_t(2 * p.shift + 1);
  std::vector<float> src(std::size_t(s.size()));
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    Stream r(seed, "augment", {std::uint64_t(epoch), std::uint64_t(ids[std::size_t(i)])});
    const int dy = int(r.below(span)) - p.shift;
    const int dx = int(r.below(span)) - p.shift;
    const bool flip = r.bernoulli(0.5);
    if (dy == 0 && dx == 0 && !flip) continue;
    float* row = x.row(i).data();
    std::copy(row, row + s.size(), src.begin());
    for (int yy = 0; yy < h; ++yy) {
      const int sy = yy - dy;
      for (int xx = 0; xx < w; ++xx) {
        // output column xx shows the shifted image's column (flip ? w-1-xx : xx)
        const int sx = (flip ? w - 1 - xx : xx) - dx;
        float* out = row + (std::size_t(yy) * w + xx) * c;
        if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
          std::fill(out, out + c, 0.f);
        } else {
          const float* in = src.data() + (std::size_t(sy) * w + sx) * c;
          std::copy(in, in + c, out);
        }
      }
    }
  }
}

}  // namespace aimc::data
