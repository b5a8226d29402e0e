#include "nn/layer_norm_bf16.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace lumen::nn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

inline float toFloat(c10::BFloat16 v) { return static_cast<float>(v); }

// Rows of C values; float math throughout, bf16 only at the edges (see the header).
class LayerNormBf16Function : public torch::autograd::Function<LayerNormBf16Function> {
public:
    static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input, const torch::Tensor& weight,
                                 const torch::Tensor& bias, double eps) {
        const torch::Tensor x = input.contiguous();
        const std::int64_t c = x.size(-1);
        const std::int64_t rows = x.numel() / c;
        torch::Tensor y = torch::empty_like(x);
        torch::Tensor mean = torch::empty({rows}, torch::kFloat);
        torch::Tensor rstd = torch::empty({rows}, torch::kFloat);
        const torch::Tensor w = weight.to(torch::kFloat).contiguous();
        const torch::Tensor b = bias.to(torch::kFloat).contiguous();
        const auto* xp = x.data_ptr<c10::BFloat16>();
        auto* yp = y.data_ptr<c10::BFloat16>();
        const float* wp = w.data_ptr<float>();
        const float* bp = b.data_ptr<float>();
        float* mp = mean.data_ptr<float>();
        float* rp = rstd.data_ptr<float>();
        at::parallel_for(0, rows, 16, [&](std::int64_t begin, std::int64_t end) {
            std::vector<float> row(static_cast<std::size_t>(c));
            for (std::int64_t r = begin; r < end; ++r) {
                const c10::BFloat16* xr = xp + r * c;
                float sum = 0;
                for (std::int64_t i = 0; i < c; ++i) sum += (row[i] = toFloat(xr[i]));
                const float mu = sum / static_cast<float>(c);
                float var = 0;
                for (std::int64_t i = 0; i < c; ++i) var += (row[i] - mu) * (row[i] - mu);
                const float rs = 1.0f / std::sqrt(var / static_cast<float>(c) + static_cast<float>(eps));
                c10::BFloat16* yr = yp + r * c;
                for (std::int64_t i = 0; i < c; ++i) yr[i] = c10::BFloat16((row[i] - mu) * rs * wp[i] + bp[i]);
                mp[r] = mu;
                rp[r] = rs;
            }
        });
        ctx->save_for_backward({x, w, mean, rstd});
        ctx->saved_data["weight_dtype"] = static_cast<std::int64_t>(weight.scalar_type());
        return y;
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads) {
        const auto saved = ctx->get_saved_variables();
        const torch::Tensor& x = saved[0];
        const torch::Tensor& w = saved[1];
        const torch::Tensor& mean = saved[2];
        const torch::Tensor& rstd = saved[3];
        const torch::Tensor gy = grads[0].to(torch::kBFloat16).contiguous();
        const std::int64_t c = x.size(-1);
        const std::int64_t rows = x.numel() / c;
        torch::Tensor gx = torch::empty_like(x);
        // Per-chunk partial sums for the weight and bias gradients (deterministic: fixed chunks).
        const std::int64_t chunks = std::min<std::int64_t>(rows, 64);
        torch::Tensor partial = torch::zeros({chunks, 2, c}, torch::kFloat);
        const auto* xp = x.data_ptr<c10::BFloat16>();
        const auto* gp = gy.data_ptr<c10::BFloat16>();
        auto* gxp = gx.data_ptr<c10::BFloat16>();
        const float* wp = w.data_ptr<float>();
        const float* mp = mean.data_ptr<float>();
        const float* rp = rstd.data_ptr<float>();
        float* pp = partial.data_ptr<float>();
        at::parallel_for(0, chunks, 1, [&](std::int64_t cb, std::int64_t ce) {
            std::vector<float> xhat(static_cast<std::size_t>(c)), g(static_cast<std::size_t>(c));
            for (std::int64_t k = cb; k < ce; ++k) {
                float* dw = pp + k * 2 * c;
                float* db = dw + c;
                const std::int64_t r0 = rows * k / chunks, r1 = rows * (k + 1) / chunks;
                for (std::int64_t r = r0; r < r1; ++r) {
                    const c10::BFloat16* xr = xp + r * c;
                    const c10::BFloat16* gr = gp + r * c;
                    const float mu = mp[r], rs = rp[r];
                    float sumG = 0, sumGX = 0;
                    for (std::int64_t i = 0; i < c; ++i) {
                        const float gyv = toFloat(gr[i]);
                        xhat[i] = (toFloat(xr[i]) - mu) * rs;
                        g[i] = gyv * wp[i];
                        sumG += g[i];
                        sumGX += g[i] * xhat[i];
                        dw[i] += gyv * xhat[i];
                        db[i] += gyv;
                    }
                    const float meanG = sumG / static_cast<float>(c), meanGX = sumGX / static_cast<float>(c);
                    c10::BFloat16* gxr = gxp + r * c;
                    for (std::int64_t i = 0; i < c; ++i) gxr[i] = c10::BFloat16(rs * (g[i] - meanG - xhat[i] * meanGX));
                }
            }
        });
        const torch::Tensor sums = partial.sum(0);
        const auto wdtype = static_cast<c10::ScalarType>(ctx->saved_data["weight_dtype"].toInt());
        return {gx, sums[0].to(wdtype), sums[1].to(wdtype), torch::Tensor()};
    }
};

}  // namespace

torch::Tensor layerNormBf16(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias,
                            double eps) {
    TORCH_CHECK(input.scalar_type() == torch::kBFloat16, "layerNormBf16 expects bfloat16 input");
    TORCH_CHECK(weight.dim() == 1 && weight.size(0) == input.size(-1), "layerNormBf16: weight must be (C)");
    return LayerNormBf16Function::apply(input, weight, bias, eps);
}

}  // namespace lumen::nn
