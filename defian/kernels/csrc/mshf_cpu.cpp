// Fused multi-scale Hessian filtering on CPU: forward maps and input gradient in one pass each.
//
// Same computation as the Python path of defian/mshf.py (see its docstring for the maths):
// for every scale k with dilations (delta_k, eps_k), per pixel p and channel c,
//   d = (x[p-(0,delta)] + x[p+(0,delta)] - x[p-(delta,0)] - x[p+(delta,0)]) / 2 + bd[k,c]
//   e = x[p+(-eps,-eps)] - x[p+(-eps,+eps)] - x[p+(+eps,-eps)] + x[p+(+eps,+eps)] + bc[k,c]
//   out[k,p] = mean_c (Laplacian_delta x)[p,c] / 2 + mean_c sqrt(d^2 + e^2) + lin_bias[k]
// with zero padding. The input is channels-last (B, H, W, C), so the inner loop runs over
// contiguous channels and the channel mean is a vector reduction. The backward gathers the
// adjoint of each stencil (each is its own adjoint under a half turn) from zero-bordered rows
// of t*d and t*e, t = g / (C * sqrt(max(d^2 + e^2, tiny))), kept in a ring of 2P + 1 rows.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace {

struct Geometry {
  int64_t B, H, W, C, K, P, Hp, Wp;
};

Geometry geometry(const torch::Tensor& x, const std::vector<int64_t>& dl, const std::vector<int64_t>& ep) {
  TORCH_CHECK(x.dim() == 4, "mshf_cpu: x must be (B, H, W, C), got ", x.dim(), " dimensions");
  TORCH_CHECK(dl.size() == ep.size() && !dl.empty(), "mshf_cpu: need one (delta, eps) pair per scale");
  int64_t P = 0;
  for (size_t k = 0; k < dl.size(); ++k) P = std::max({P, dl[k], ep[k]});
  Geometry g{x.size(0), x.size(1), x.size(2), x.size(3), (int64_t)dl.size(), P, 0, 0};
  g.Hp = g.H + 2 * P;
  g.Wp = g.W + 2 * P;
  return g;
}

// Image row h of one sample xb (H, W, C) into the interior columns of a zero-bordered padded
// row dst (Wp, C); zeros there when h is outside the image (zero padding). The P border
// columns on each side are never written, so a buffer zeroed once keeps them zero.
template <typename T>
void load_row(const T* xb, T* dst, const Geometry& g, int64_t h) {
  T* interior = dst + g.P * g.C;
  if (h < 0 || h >= g.H) {
    std::fill(interior, interior + g.W * g.C, T(0));
  } else {
    std::copy(xb + h * g.W * g.C, xb + (h + 1) * g.W * g.C, interior);
  }
}

// Rows of output per work item of the forward: small enough that a thread's zero-bordered band
// of input rows stays in its core's cache, and that one sample still splits across threads.
constexpr int64_t kBandRows = 8;

template <typename T>
void forward_impl(const T* x, T* out, const T* bd, const T* bc, const T* lin_bias, const Geometry g,
                  const std::vector<int64_t>& dl, const std::vector<int64_t>& ep) {
  const int64_t C = g.C, row = g.Wp * C, bands = (g.H + kBandRows - 1) / kBandRows;
  const T inv_c = T(1) / T(C);
  at::parallel_for(0, g.B * bands, 1, [&](int64_t j0, int64_t j1) {
    std::vector<T> buf((size_t)((kBandRows + 2 * g.P) * row), T(0));  // padded rows h0 - P .. h1 + P
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t b = j / bands, h0 = (j % bands) * kBandRows, h1 = std::min(g.H, h0 + kBandRows);
      const T* xb = x + b * g.H * g.W * C;
      for (int64_t i = 0; i < h1 - h0 + 2 * g.P; ++i) load_row(xb, buf.data() + i * row, g, h0 - g.P + i);
      for (int64_t h = h0; h < h1; ++h) {
        for (int64_t w = 0; w < g.W; ++w) {
          const T* pc = buf.data() + (h - h0 + g.P) * row + (w + g.P) * C;
          for (int64_t k = 0; k < g.K; ++k) {
            const int64_t oh = dl[k] * C, ov = dl[k] * row, eh = ep[k] * C, ev = ep[k] * row;
            const T* bdk = bd + k * C;
            const T* bck = bc + k * C;
            T s_root = 0, s_lin = 0;
#pragma omp simd reduction(+ : s_root, s_lin)
            for (int64_t c = 0; c < C; ++c) {
              const T l = pc[c - oh], rr = pc[c + oh], u = pc[c - ov], dn = pc[c + ov];
              const T d = T(0.5) * (l + rr - u - dn) + bdk[c];
              const T e = pc[c - ev - eh] - pc[c - ev + eh] - pc[c + ev - eh] + pc[c + ev + eh] + bck[c];
              s_root += std::sqrt(d * d + e * e);
              s_lin += l + rr + u + dn - T(4) * pc[c];
            }
            out[((b * g.K + k) * g.H + h) * g.W + w] = (T(0.5) * s_lin + s_root) * inv_c + lin_bias[k];
          }
        }
      }
    }
  });
}

// The backward of one sample runs down its rows once. Padded row r of [t d, t e] (all scales) is
// computed into slot r mod (2P + 1) of a ring just before the first output row that needs it
// (h = r - 2P), from padded input rows r - P .. r + P held in a second ring; the gather of output
// row h then finds rows h .. h + 2P in the first. Both rings stay in the core's L2 cache (about
// 0.37 MB at C = 32, 48 x 48), where per-sample planes of t d and t e would spill to L3.
template <typename T>
void backward_impl(const T* x, const T* grad, T* gx, const T* bd, const T* bc, const Geometry g,
                   const std::vector<int64_t>& dl, const std::vector<int64_t>& ep) {
  const int64_t C = g.C, P = g.P, R = 2 * P + 1, row = g.Wp * C, mplane = g.Hp * g.Wp;
  const int64_t slot = 2 * g.K * row;  // one padded row of [t d, t e] per scale
  const T inv_c = T(1) / T(C), tiny = std::numeric_limits<T>::min();
  at::parallel_for(0, g.B, 1, [&](int64_t b0, int64_t b1) {
    // per-thread, zero-bordered: the two rings and 0.5 g / C per scale (padded planes)
    std::vector<T> xr((size_t)(R * row), T(0)), ring((size_t)(R * slot), T(0)), gm((size_t)(g.K * mplane), T(0));
    auto x_row = [&](int64_t r) { return xr.data() + (r % R) * row; };  // padded input row r
    auto q_row = [&](int64_t r) { return ring.data() + (r % R) * slot; };  // padded row r of [t d, t e]
    for (int64_t b = b0; b < b1; ++b) {
      const T* xb = x + b * g.H * g.W * C;
      const T* gb = grad + b * g.K * g.H * g.W;
      for (int64_t k = 0; k < g.K; ++k) {
        for (int64_t h = 0; h < g.H; ++h) {
          for (int64_t w = 0; w < g.W; ++w) {
            gm[k * mplane + (h + P) * g.Wp + (w + P)] = T(0.5) * inv_c * gb[(k * g.H + h) * g.W + w];
          }
        }
      }
      auto load = [&](int64_t r) { load_row(xb, x_row(r), g, r - P); };  // padded input row r into its slot
      auto fill = [&](int64_t r) {  // padded row r of [t d, t e]; zero outside the image
        if (r + P < g.Hp) load(r + P);  // overwrites input row r - P - 1, which no row from r on needs
        T* s = q_row(r);
        if (r < P || r >= P + g.H) {
          std::fill(s, s + slot, T(0));
          return;
        }
        const int64_t h = r - P;
        for (int64_t k = 0; k < g.K; ++k) {
          const int64_t oh = dl[k] * C, eh = ep[k] * C;
          const T *xm = x_row(r), *xu = x_row(r - dl[k]), *xd = x_row(r + dl[k]);
          const T *eu = x_row(r - ep[k]), *ed = x_row(r + ep[k]);
          const T* bdk = bd + k * C;
          const T* bck = bc + k * C;
          for (int64_t w = 0; w < g.W; ++w) {
            const int64_t col = (w + P) * C;
            const T gk = gb[(k * g.H + h) * g.W + w] * inv_c;
            const T *pm = xm + col, *pu = xu + col, *pd = xd + col, *qu = eu + col, *qd = ed + col;
            T* dk = s + (2 * k) * row + col;
            T* qk = s + (2 * k + 1) * row + col;
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) {
              const T d = T(0.5) * (pm[c - oh] + pm[c + oh] - pu[c] - pd[c]) + bdk[c];
              const T e = qu[c - eh] - qu[c + eh] - qd[c - eh] + qd[c + eh] + bck[c];
              const T q = d * d + e * e;  // max(q, tiny) as a select: std::max's branch stops vectorisation
              const T t = gk / std::sqrt(q < tiny ? tiny : q);
              dk[c] = t * d;
              qk[c] = t * e;
            }
          }
        }
      };
      for (int64_t r = 0; r < P; ++r) load(r);
      for (int64_t r = 0; r < 2 * P; ++r) fill(r);
      T* gxb = gx + b * g.H * g.W * C;
      for (int64_t h = 0; h < g.H; ++h) {
        fill(h + 2 * P);  // overwrites row h - 1, which no output row from h on needs
        const int64_t r0 = h + P;
        for (int64_t w = 0; w < g.W; ++w) {
          const int64_t col = (w + P) * C, m = r0 * g.Wp + (w + P);
          T lin = 0;  // adjoint of the channel-averaged Laplacian: the same for every channel
          for (int64_t k = 0; k < g.K; ++k) {
            const T* gk = gm.data() + k * mplane + m;
            const int64_t s = dl[k], sv = dl[k] * g.Wp;
            lin += gk[-s] + gk[s] + gk[-sv] + gk[sv] - T(4) * gk[0];
          }
          T* o = gxb + (h * g.W + w) * C;
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) o[c] = lin;
          for (int64_t k = 0; k < g.K; ++k) {
            const int64_t oh = dl[k] * C, eh = ep[k] * C, dpl = (2 * k) * row + col, qpl = (2 * k + 1) * row + col;
            const T* dm = q_row(r0) + dpl;  // t d: this row, the rows delta above and below
            const T* du = q_row(r0 - dl[k]) + dpl;
            const T* dd = q_row(r0 + dl[k]) + dpl;
            const T* qu = q_row(r0 - ep[k]) + qpl;  // t e: the rows eps above and below
            const T* qd = q_row(r0 + ep[k]) + qpl;
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) {
              o[c] += T(0.5) * (dm[c - oh] + dm[c + oh] - du[c] - dd[c]) + qd[c + eh] - qd[c - eh] - qu[c + eh] +
                      qu[c - eh];
            }
          }
        }
      }
    }
  });
}

void check(const torch::Tensor& x, const torch::Tensor& bd, const torch::Tensor& bc, const Geometry& g) {
  TORCH_CHECK(x.device().is_cpu() && x.is_contiguous(), "mshf_cpu: x must be a contiguous CPU tensor");
  TORCH_CHECK(x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble,
              "mshf_cpu: x must be float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(bd.sizes() == torch::IntArrayRef({g.K, g.C}) && bc.sizes() == bd.sizes() && bd.is_contiguous() &&
                  bc.is_contiguous() && bd.scalar_type() == x.scalar_type() && bc.scalar_type() == x.scalar_type(),
              "mshf_cpu: bd and bc must be contiguous (K, C) tensors of x's dtype");
}

}  // namespace

torch::Tensor forward(const torch::Tensor& x, std::vector<int64_t> dl, std::vector<int64_t> ep,
                      const torch::Tensor& bd, const torch::Tensor& bc, const torch::Tensor& lin_bias) {
  const Geometry g = geometry(x, dl, ep);
  check(x, bd, bc, g);
  TORCH_CHECK(lin_bias.numel() == g.K && lin_bias.is_contiguous() && lin_bias.scalar_type() == x.scalar_type(),
              "mshf_cpu: lin_bias must be a contiguous (K,) tensor of x's dtype");
  auto out = torch::empty({g.B, g.K, g.H, g.W}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mshf_cpu_forward", [&] {
    forward_impl<scalar_t>(x.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), bd.data_ptr<scalar_t>(),
                           bc.data_ptr<scalar_t>(), lin_bias.data_ptr<scalar_t>(), g, dl, ep);
  });
  return out;
}

torch::Tensor backward(const torch::Tensor& x, const torch::Tensor& grad, std::vector<int64_t> dl,
                       std::vector<int64_t> ep, const torch::Tensor& bd, const torch::Tensor& bc) {
  const Geometry g = geometry(x, dl, ep);
  check(x, bd, bc, g);
  TORCH_CHECK(grad.is_contiguous() && grad.scalar_type() == x.scalar_type() &&
                  grad.sizes() == torch::IntArrayRef({g.B, g.K, g.H, g.W}),
              "mshf_cpu: grad must be a contiguous (B, K, H, W) tensor of x's dtype");
  auto gx = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mshf_cpu_backward", [&] {
    backward_impl<scalar_t>(x.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(), gx.data_ptr<scalar_t>(),
                            bd.data_ptr<scalar_t>(), bc.data_ptr<scalar_t>(), g, dl, ep);
  });
  return gx;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "channel-averaged Hessian maps of a (B, H, W, C) input");
  m.def("backward", &backward, "their input gradient, (B, H, W, C)");
}
