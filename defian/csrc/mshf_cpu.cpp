// Fused multi-scale Hessian filtering on CPU: forward maps and input gradient in one pass each.
//
// Same computation as the Python path of defian/mshf.py (see its docstring for the maths):
// for every scale k with dilations (delta_k, eps_k), per pixel p and channel c,
//   d = (x[p-(0,delta)] + x[p+(0,delta)] - x[p-(delta,0)] - x[p+(delta,0)]) / 2 + bd[k,c]
//   e = x[p+(-eps,-eps)] - x[p+(-eps,+eps)] - x[p+(+eps,-eps)] + x[p+(+eps,+eps)] + bc[k,c]
//   out[k,p] = mean_c (Laplacian_delta x)[p,c] / 2 + mean_c sqrt(d^2 + e^2) + lin_bias[k]
// with zero padding. The input is channels-last (B, H, W, C), so the inner loop runs over
// contiguous channels and the channel mean is a vector reduction. The backward gathers the
// adjoint of each stencil (each is its own adjoint under a half turn) from zero-bordered
// per-sample buffers of t*d and t*e, t = g / (C * sqrt(max(d^2 + e^2, tiny))).
#include <torch/extension.h>

#include <ATen/Parallel.h>

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

// Copy sample b of x (H, W, C) into the interior of a zero-bordered (Hp, Wp, C) buffer.
template <typename T>
void load(const T* x, T* xp, const Geometry& g) {
  for (int64_t h = 0; h < g.H; ++h) {
    std::copy(x + h * g.W * g.C, x + (h + 1) * g.W * g.C, xp + ((h + g.P) * g.Wp + g.P) * g.C);
  }
}

template <typename T>
void forward_impl(const T* x, T* out, const T* bd, const T* bc, const T* lin_bias, const Geometry g,
                  const std::vector<int64_t>& dl, const std::vector<int64_t>& ep) {
  const int64_t C = g.C, plane = g.Hp * g.Wp * C;
  std::vector<T> xp((size_t)(g.B * plane), T(0));  // zero borders = zero padding
  at::parallel_for(0, g.B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) load(x + b * g.H * g.W * C, xp.data() + b * plane, g);
  });
  const T inv_c = T(1) / T(C);
  at::parallel_for(0, g.B * g.H, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.H, h = r % g.H;
      for (int64_t w = 0; w < g.W; ++w) {
        const T* pc = xp.data() + b * plane + ((h + g.P) * g.Wp + (w + g.P)) * C;
        for (int64_t k = 0; k < g.K; ++k) {
          const int64_t oh = dl[k] * C, ov = dl[k] * g.Wp * C, eh = ep[k] * C, ev = ep[k] * g.Wp * C;
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
  });
}

template <typename T>
void backward_impl(const T* x, const T* grad, T* gx, const T* bd, const T* bc, const Geometry g,
                   const std::vector<int64_t>& dl, const std::vector<int64_t>& ep) {
  const int64_t C = g.C, plane = g.Hp * g.Wp * C, mplane = g.Hp * g.Wp;
  const T inv_c = T(1) / T(C), tiny = std::numeric_limits<T>::min();
  at::parallel_for(0, g.B, 1, [&](int64_t b0, int64_t b1) {
    // per-thread, zero-bordered: the padded input, [t d, t e] per scale, and 0.5 g / C per scale
    std::vector<T> xp((size_t)plane, T(0)), dq((size_t)(2 * g.K * plane), T(0)), gm((size_t)(g.K * mplane), T(0));
    for (int64_t b = b0; b < b1; ++b) {
      load(x + b * g.H * g.W * C, xp.data(), g);
      const T* gb = grad + b * g.K * g.H * g.W;
      for (int64_t k = 0; k < g.K; ++k) {
        for (int64_t h = 0; h < g.H; ++h) {
          for (int64_t w = 0; w < g.W; ++w) {
            gm[k * mplane + (h + g.P) * g.Wp + (w + g.P)] = T(0.5) * inv_c * gb[(k * g.H + h) * g.W + w];
          }
        }
      }
      for (int64_t h = 0; h < g.H; ++h) {
        for (int64_t w = 0; w < g.W; ++w) {
          const int64_t at = ((h + g.P) * g.Wp + (w + g.P)) * C;
          const T* pc = xp.data() + at;
          for (int64_t k = 0; k < g.K; ++k) {
            const int64_t oh = dl[k] * C, ov = dl[k] * g.Wp * C, eh = ep[k] * C, ev = ep[k] * g.Wp * C;
            const T* bdk = bd + k * C;
            const T* bck = bc + k * C;
            const T gk = gb[(k * g.H + h) * g.W + w] * inv_c;
            T* dk = dq.data() + (2 * k) * plane + at;
            T* qk = dq.data() + (2 * k + 1) * plane + at;
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) {
              const T d = T(0.5) * (pc[c - oh] + pc[c + oh] - pc[c - ov] - pc[c + ov]) + bdk[c];
              const T e = pc[c - ev - eh] - pc[c - ev + eh] - pc[c + ev - eh] + pc[c + ev + eh] + bck[c];
              const T q = d * d + e * e;  // max(q, tiny) as a select: std::max's branch stops vectorisation
              const T t = gk / std::sqrt(q < tiny ? tiny : q);
              dk[c] = t * d;
              qk[c] = t * e;
            }
          }
        }
      }
      T* gxb = gx + b * g.H * g.W * C;
      for (int64_t h = 0; h < g.H; ++h) {
        for (int64_t w = 0; w < g.W; ++w) {
          const int64_t at = ((h + g.P) * g.Wp + (w + g.P)) * C, m = (h + g.P) * g.Wp + (w + g.P);
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
            const int64_t oh = dl[k] * C, ov = dl[k] * g.Wp * C, eh = ep[k] * C, ev = ep[k] * g.Wp * C;
            const T* dk = dq.data() + (2 * k) * plane + at;
            const T* qk = dq.data() + (2 * k + 1) * plane + at;
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) {
              o[c] += T(0.5) * (dk[c - oh] + dk[c + oh] - dk[c - ov] - dk[c + ov]) + qk[c + ev + eh] -
                      qk[c + ev - eh] - qk[c - ev + eh] + qk[c - ev - eh];
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
