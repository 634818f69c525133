#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <vector>

namespace pidshim_bench {

struct summary {
    std::size_t n = 0;
    double median = 0;
    double p99 = 0;
    double max = 0;
};

// Nearest-rank percentiles: every figure printed is a value that was actually measured.
inline std::optional<summary> summarize(std::vector<double> samples) {
    if (samples.empty()) {
        return std::nullopt;
    }
    std::sort(samples.begin(), samples.end());
    auto rank = [&](double p) {
        auto r = static_cast<std::size_t>(std::ceil(p * static_cast<double>(samples.size())));
        return samples[std::clamp<std::size_t>(r, 1, samples.size()) - 1];
    };
    return summary{samples.size(), rank(0.5), rank(0.99), samples.back()};
}

} // namespace pidshim_bench
