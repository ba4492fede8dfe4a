// Fused gated residuals on CPU: one pass forward, one pass backward (defian/gate.py).
//
// Same computations as the PyTorch expressions of defian/gate.py, per sample b, pixel p and
// channel c of channels-last (B, P, C) tensors x, f and y, P = H * W:
//   spatial (a DeFiAM, Eqs. 22 and 6):  z = n[b,p] * s[b,c] + m[b,c],  y = x + f * sigmoid(z)
//   channel (an RCAB, Eq. 7):           z = m[b,c],                    y = x + f * sigmoid(z)
// The backward recomputes the sigmoid a instead of storing it and returns
//   grad_f = g * a,  gz = g * f * a * (1 - a),
//   grad_m[b,c] = sum_p gz  and, spatial only,  grad_n[b,p] = sum_c gz * s[b,c],  grad_s[b,c] = sum_p gz * n[b,p];
// grad_x = g is the caller's. The DAC's statistics of its referenced feature x (Eq. 21's
// inputs) come from the same file: per sample and channel, mean = sum_p x / P and
// std = sqrt(sum_p (x - mean)^2 / (P - 1) + eps) (two passes, double accumulators), and
//   grad_x = grad_mean / P + grad_std * (x - mean) / ((P - 1) * std).
// The sums over p are taken per block of pixels and then added in a fixed order, so the
// results do not depend on the number of threads.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr int64_t kBlock = 64;  // pixels per partial sum of the backward

// Work items per thread of at::parallel_for: about 32768 elements, the grain of PyTorch's own
// element-wise kernels (at::internal::GRAIN_SIZE), so that small tensors run on one thread.
inline int64_t grain(int64_t elements_per_item) {
  return std::max<int64_t>(1, int64_t(32768) / std::max<int64_t>(1, elements_per_item));
}

// exp for float in a form the compiler vectorises: exp(x) = 2^k exp(r), k = round(x / ln 2),
// |r| <= ln(2) / 2, exp(r) by the minimax polynomial of Cephes' expf (about 1 ulp). The clamp
// keeps 2^k a normal float: exp(88.3) = 2.0e38 stands for anything larger (a sigmoid of
// z < -88.3 returns 5e-39 instead of a smaller subnormal) and exp(-87.3) = 1.2e-38 for anything
// smaller (a sigmoid of z > 87.3 is 1 in float either way). A NaN stays NaN. Rounding by adding
// 1.5 * 2^23 and the bit cast for 2^k keep the loop vectorisable (floor and std::memcpy do not).
inline float exp_approx(float x) {
  x = std::min(std::max(x, -87.3f), 88.3f);  // NaN passes through
  const float kx = (x == x) ? x : 0.0f;      // NaN-free, so that the conversion to int is defined
  const float k = (kx * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - k * 0.693359375f) - k * -2.12194440e-4f;  // ln 2 split in two (Cephes)
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const uint32_t bits = uint32_t(static_cast<int32_t>(k) + 127) << 23;
  return p * __builtin_bit_cast(float, bits);
}

inline double exp_approx(double x) { return std::exp(x); }  // float64: the reference precision

template <typename T>
inline T sigmoid(T z) {
  return T(1) / (T(1) + exp_approx(-z));
}

struct Shape {
  int64_t B, P, C;
};

// t as (B, H*W, C) rows: a contiguous float32 or float64 CPU tensor.
Shape check_rows(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 3 && t.is_contiguous() && t.device().is_cpu(),
              "gate_cpu: ", name, " must be a contiguous (B, H*W, C) CPU tensor, got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble,
              "gate_cpu: float32 or float64 only, got ", t.scalar_type());
  return Shape{t.size(0), t.size(1), t.size(2)};
}

Shape check_channel(const torch::Tensor& f, const torch::Tensor& m, const char* fname = "f",
                    const char* mname = "m") {
  const Shape sh = check_rows(f, fname);
  TORCH_CHECK(m.sizes() == torch::IntArrayRef({sh.B, sh.C}) && m.is_contiguous() && m.scalar_type() == f.scalar_type(),
              "gate_cpu: ", mname, " must be a contiguous (B, C) tensor of ", fname, "'s dtype, got ", m.sizes());
  return sh;
}

// x (or the gradient g) must match f.
void check_like(const torch::Tensor& t, const torch::Tensor& f, const char* name) {
  TORCH_CHECK(t.sizes() == f.sizes() && t.is_contiguous() && t.scalar_type() == f.scalar_type(),
              "gate_cpu: ", name, " must be a contiguous tensor of f's shape and dtype, got ", t.sizes());
}

Shape check(const torch::Tensor& f, const torch::Tensor& n, const torch::Tensor& s, const torch::Tensor& m) {
  const Shape sh = check_channel(f, m);
  TORCH_CHECK(n.sizes() == torch::IntArrayRef({sh.B, sh.P}) && n.is_contiguous(),
              "gate_cpu: n must be a contiguous (B, H*W) tensor, got ", n.sizes());
  TORCH_CHECK(s.sizes() == torch::IntArrayRef({sh.B, sh.C}) && s.is_contiguous() && m.sizes() == s.sizes() &&
                  m.is_contiguous(),
              "gate_cpu: s and m must be contiguous (B, C) tensors, got ", s.sizes(), " and ", m.sizes());
  for (const auto* t : {&n, &s, &m}) {
    TORCH_CHECK(t->scalar_type() == f.scalar_type(), "gate_cpu: all inputs need f's dtype ", f.scalar_type());
  }
  return sh;
}

int64_t n_blocks(const Shape sh) { return (sh.P + kBlock - 1) / kBlock; }

// fn(j, b, i0, i1) for every block j of up to kBlock pixels, rows i0..i1 of sample b, in parallel;
// block j of sample b is j = b * n_blocks + k, the index of its partial sums.
template <typename Fn>
void for_blocks(const Shape sh, Fn fn) {
  const int64_t nblk = n_blocks(sh);
  at::parallel_for(0, sh.B * nblk, grain(kBlock * sh.C), [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t b = j / nblk, p0 = (j % nblk) * kBlock;
      fn(j, b, b * sh.P + p0, b * sh.P + std::min(sh.P, p0 + kBlock));
    }
  });
}

// out[b, c] = the sum over k of part[b, k, c], in the order of k (double accumulators).
template <typename P, typename T>
void reduce_blocks(const std::vector<P>& part, T* out, int64_t B, int64_t nblk, int64_t C) {
  for (int64_t b = 0; b < B; ++b) {  // B * nblk * C additions: not worth a parallel region
    for (int64_t c = 0; c < C; ++c) {
      double acc = 0;
      for (int64_t k = 0; k < nblk; ++k) acc += part[(b * nblk + k) * C + c];
      out[b * C + c] = T(acc);
    }
  }
}

template <typename T>
void forward_impl(const T* x, const T* f, const T* n, const T* s, const T* m, T* y, const Shape sh) {
  const int64_t C = sh.C;
  at::parallel_for(0, sh.B * sh.P, grain(C), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / sh.P;
      const T nv = n[i];
      const T *sb = s + b * C, *mb = m + b * C, *xi = x + i * C, *fi = f + i * C;
      T* yi = y + i * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) yi[c] = xi[c] + fi[c] * sigmoid(nv * sb[c] + mb[c]);
    }
  });
}

template <typename T>
void backward_impl(const T* g, const T* f, const T* n, const T* s, const T* m, T* gf, T* gn, T* gs, T* gm,
                   const Shape sh) {
  const int64_t C = sh.C, nblk = n_blocks(sh);
  std::vector<T> part_s((size_t)(sh.B * nblk * C), T(0)), part_m(part_s.size(), T(0));
  for_blocks(sh, [&](int64_t j, int64_t b, int64_t i0, int64_t i1) {
    const T *sb = s + b * C, *mb = m + b * C;
    T *ps = part_s.data() + j * C, *pm = part_m.data() + j * C;
    for (int64_t i = i0; i < i1; ++i) {
      const T nv = n[i];
      const T *gi = g + i * C, *fi = f + i * C;
      T* gfi = gf + i * C;
      T acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t c = 0; c < C; ++c) {
        const T a = sigmoid(nv * sb[c] + mb[c]);
        gfi[c] = gi[c] * a;
        const T gz = gi[c] * fi[c] * a * (T(1) - a);
        acc += gz * sb[c];
        ps[c] += gz * nv;
        pm[c] += gz;
      }
      gn[i] = acc;
    }
  });
  reduce_blocks(part_s, gs, sh.B, nblk, C);
  reduce_blocks(part_m, gm, sh.B, nblk, C);
}

template <typename T>
void channel_forward_impl(const T* x, const T* f, const T* m, T* y, const Shape sh) {
  const int64_t C = sh.C;
  at::parallel_for(0, sh.B, grain(sh.P * C), [&](int64_t b0, int64_t b1) {
    std::vector<T> a((size_t)C);
    for (int64_t b = b0; b < b1; ++b) {
      for (int64_t c = 0; c < C; ++c) a[c] = sigmoid(m[b * C + c]);
      for (int64_t i = b * sh.P; i < (b + 1) * sh.P; ++i) {
        const T *xi = x + i * C, *fi = f + i * C;
        T* yi = y + i * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) yi[c] = xi[c] + fi[c] * a[c];
      }
    }
  });
}

template <typename T>
void channel_backward_impl(const T* g, const T* f, const T* m, T* gf, T* gm, const Shape sh) {
  const int64_t C = sh.C, nblk = n_blocks(sh);
  std::vector<T> a((size_t)(sh.B * C)), part((size_t)(sh.B * nblk * C), T(0));
  for (int64_t j = 0; j < sh.B * C; ++j) a[j] = sigmoid(m[j]);
  for_blocks(sh, [&](int64_t j, int64_t b, int64_t i0, int64_t i1) {
    const T* ab = a.data() + b * C;
    T* pg = part.data() + j * C;
    for (int64_t i = i0; i < i1; ++i) {
      const T *gi = g + i * C, *fi = f + i * C;
      T* gfi = gf + i * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        gfi[c] = gi[c] * ab[c];
        pg[c] += gi[c] * fi[c];
      }
    }
  });
  reduce_blocks(part, gm, sh.B, nblk, C);
  for (int64_t j = 0; j < sh.B * C; ++j) gm[j] *= a[j] * (T(1) - a[j]);  // through the sigmoid
}

// part[j, c] = sum over the pixels of block j of fn(x[b, p, c], c), in double.
template <typename T, typename Fn>
std::vector<double> block_sums(const T* x, const Shape sh, Fn fn) {
  const int64_t C = sh.C;
  std::vector<double> part((size_t)(sh.B * n_blocks(sh) * C), 0.0);
  for_blocks(sh, [&](int64_t j, int64_t b, int64_t i0, int64_t i1) {
    double* pj = part.data() + j * C;
    for (int64_t i = i0; i < i1; ++i) {
      const T* xi = x + i * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) pj[c] += fn(xi[c], b * C + c);
    }
  });
  return part;
}

template <typename T>
void moments_forward_impl(const T* x, T* mean, T* sd, double eps, const Shape sh) {
  const int64_t nblk = n_blocks(sh);
  std::vector<double> mu((size_t)(sh.B * sh.C));
  auto sums = block_sums(x, sh, [](T v, int64_t) { return double(v); });
  reduce_blocks(sums, mu.data(), sh.B, nblk, sh.C);
  for (auto& m : mu) m /= double(sh.P);
  const double* mp = mu.data();
  auto squares = block_sums(x, sh, [mp](T v, int64_t k) {
    const double d = double(v) - mp[k];
    return d * d;
  });
  std::vector<double> var(mu.size());
  reduce_blocks(squares, var.data(), sh.B, nblk, sh.C);
  for (size_t k = 0; k < mu.size(); ++k) {
    mean[k] = T(mu[k]);
    sd[k] = T(std::sqrt(var[k] / double(sh.P - 1) + eps));
  }
}

template <typename T>
void moments_backward_impl(const T* x, const T* mean, const T* sd, const T* gmean, const T* gsd, T* gx,
                           const Shape sh) {
  const int64_t C = sh.C;
  std::vector<T> alpha((size_t)(sh.B * C)), beta(alpha.size());
  for (int64_t k = 0; k < sh.B * C; ++k) {
    alpha[k] = gmean[k] / T(sh.P);
    beta[k] = gsd[k] / (T(sh.P - 1) * sd[k]);
  }
  at::parallel_for(0, sh.B * sh.P, grain(C), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / sh.P;
      const T *xi = x + i * C, *ab = alpha.data() + b * C, *bb = beta.data() + b * C, *mb = mean + b * C;
      T* gi = gx + i * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) gi[c] = ab[c] + bb[c] * (xi[c] - mb[c]);
    }
  });
}

torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& f, const torch::Tensor& n,
                      const torch::Tensor& s, const torch::Tensor& m) {
  const Shape sh = check(f, n, s, m);
  check_like(x, f, "x");
  auto y = torch::empty_like(f);
  AT_DISPATCH_FLOATING_TYPES(f.scalar_type(), "gate_cpu_forward", [&] {
    forward_impl<scalar_t>(x.data_ptr<scalar_t>(), f.data_ptr<scalar_t>(), n.data_ptr<scalar_t>(),
                           s.data_ptr<scalar_t>(), m.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), sh);
  });
  return y;
}

std::vector<torch::Tensor> backward(const torch::Tensor& g, const torch::Tensor& f, const torch::Tensor& n,
                                    const torch::Tensor& s, const torch::Tensor& m) {
  const Shape sh = check(f, n, s, m);
  check_like(g, f, "the gradient");
  auto gf = torch::empty_like(f), gn = torch::empty_like(n), gs = torch::empty_like(s), gm = torch::empty_like(m);
  AT_DISPATCH_FLOATING_TYPES(f.scalar_type(), "gate_cpu_backward", [&] {
    backward_impl<scalar_t>(g.data_ptr<scalar_t>(), f.data_ptr<scalar_t>(), n.data_ptr<scalar_t>(),
                            s.data_ptr<scalar_t>(), m.data_ptr<scalar_t>(), gf.data_ptr<scalar_t>(),
                            gn.data_ptr<scalar_t>(), gs.data_ptr<scalar_t>(), gm.data_ptr<scalar_t>(), sh);
  });
  return {gf, gn, gs, gm};
}

torch::Tensor channel_forward(const torch::Tensor& x, const torch::Tensor& f, const torch::Tensor& m) {
  const Shape sh = check_channel(f, m);
  check_like(x, f, "x");
  auto y = torch::empty_like(f);
  AT_DISPATCH_FLOATING_TYPES(f.scalar_type(), "gate_cpu_channel_forward", [&] {
    channel_forward_impl<scalar_t>(x.data_ptr<scalar_t>(), f.data_ptr<scalar_t>(), m.data_ptr<scalar_t>(),
                                   y.data_ptr<scalar_t>(), sh);
  });
  return y;
}

std::vector<torch::Tensor> channel_backward(const torch::Tensor& g, const torch::Tensor& f, const torch::Tensor& m) {
  const Shape sh = check_channel(f, m);
  check_like(g, f, "the gradient");
  auto gf = torch::empty_like(f), gm = torch::empty_like(m);
  AT_DISPATCH_FLOATING_TYPES(f.scalar_type(), "gate_cpu_channel_backward", [&] {
    channel_backward_impl<scalar_t>(g.data_ptr<scalar_t>(), f.data_ptr<scalar_t>(), m.data_ptr<scalar_t>(),
                                    gf.data_ptr<scalar_t>(), gm.data_ptr<scalar_t>(), sh);
  });
  return {gf, gm};
}

std::vector<torch::Tensor> moments_forward(const torch::Tensor& x, double eps) {
  const Shape sh = check_rows(x, "x");
  TORCH_CHECK(sh.P >= 2, "gate_cpu: need at least 2 pixels for a variance, got ", sh.P);
  auto mean = torch::empty({sh.B, sh.C}, x.options()), sd = torch::empty({sh.B, sh.C}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gate_cpu_moments_forward", [&] {
    moments_forward_impl<scalar_t>(x.data_ptr<scalar_t>(), mean.data_ptr<scalar_t>(), sd.data_ptr<scalar_t>(), eps, sh);
  });
  return {mean, sd};
}

torch::Tensor moments_backward(const torch::Tensor& x, const torch::Tensor& mean, const torch::Tensor& sd,
                               const torch::Tensor& gmean, const torch::Tensor& gsd) {
  const Shape sh = check_channel(x, mean, "x", "mean");
  for (const auto* t : {&sd, &gmean, &gsd}) {
    TORCH_CHECK(t->sizes() == mean.sizes() && t->is_contiguous() && t->scalar_type() == x.scalar_type(),
                "gate_cpu: the statistics and their gradients must be contiguous (B, C) tensors of x's dtype");
  }
  auto gx = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gate_cpu_moments_backward", [&] {
    moments_backward_impl<scalar_t>(x.data_ptr<scalar_t>(), mean.data_ptr<scalar_t>(), sd.data_ptr<scalar_t>(),
                                    gmean.data_ptr<scalar_t>(), gsd.data_ptr<scalar_t>(), gx.data_ptr<scalar_t>(), sh);
  });
  return gx;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "y = x + f * sigmoid(n * s + m) on (B, H*W, C) tensors");
  m.def("backward", &backward, "the gradients of f, n, s and m");
  m.def("channel_forward", &channel_forward, "y = x + f * sigmoid(m) on (B, H*W, C) tensors, m (B, C)");
  m.def("channel_backward", &channel_backward, "the gradients of f and m");
  m.def("moments_forward", &moments_forward, "per-sample, per-channel mean and sqrt(unbiased var + eps)");
  m.def("moments_backward", &moments_backward, "their gradient with respect to x");
}
