// rnnkit compiled time loops (CPU): what the three cells share. See rnnkit/engine/compiled.py for
// how they are built, loaded and called; the Python step equations in rnnkit/cells/*.py are the
// reference they must match. One file per cell (lstm.cpp, gru.cpp, rnn.cpp), each with its own
// pybind registration; bindings.cpp makes the module.
//
// Every loop follows the same pattern: the per-step GEMM goes straight to the BLAS that libtorch
// already carries (sgemm_/dgemm_, looked up once with dlsym; at::mm_out/addmm_ if absent) into
// preallocated buffers, and all element-wise gate math of one step is one fused pass per row.
//
// Shape letters, as in rnnkit.cells.base: T time steps, N batch rows, H hidden units, G gate
// pre-activations of one step (4H LSTM, 3H LSTM with CIFG and GRU, H RNN). Each cell declares
// next to its loops the buffers its forward saves for its backward (and those its backward fills
// for the cell's recurrent_grads), with their shapes in these letters; Python sees them as dicts
// under the same names as rnnkit.cells.*.new_saved / new_grad_buffers.
#pragma once

#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace rnnkit {

// ---------------------------------------------------------------- BLAS
using sgemm_fn = void (*)(const char*, const char*, const int*, const int*, const int*,
                          const float*, const float*, const int*, const float*, const int*,
                          const float*, float*, const int*);
using dgemm_fn = void (*)(const char*, const char*, const int*, const int*, const int*,
                          const double*, const double*, const int*, const double*, const int*,
                          const double*, double*, const int*);

// MKL's packed-GEMM API (CBLAS enums as ints): the recurrent weight is packed once per loop
// and reused by every step, instead of being re-packed inside each small GEMM.
using pack_size_fn = size_t (*)(int, int, int, int);
using pack_fn = void (*)(int, int, int, int, int, int, float, const float*, int, float*);
using compute_fn = void (*)(int, int, int, int, int, int, const float*, int, const float*, int,
                            float, float*, int);
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112, kPacked = 151, kBMatrix = 162;

struct Blas {
  sgemm_fn s = nullptr;
  dgemm_fn d = nullptr;
  pack_size_fn pack_size = nullptr;
  pack_fn pack = nullptr;
  compute_fn compute = nullptr;
  Blas() {
    if (std::getenv("RNNKIT_NO_DIRECT_BLAS")) return;
    s = reinterpret_cast<sgemm_fn>(dlsym(RTLD_DEFAULT, "sgemm_"));
    d = reinterpret_cast<dgemm_fn>(dlsym(RTLD_DEFAULT, "dgemm_"));
    if (std::getenv("RNNKIT_NO_PACKED_GEMM")) return;
    pack_size = reinterpret_cast<pack_size_fn>(dlsym(RTLD_DEFAULT, "cblas_sgemm_pack_get_size"));
    pack = reinterpret_cast<pack_fn>(dlsym(RTLD_DEFAULT, "cblas_sgemm_pack"));
    compute = reinterpret_cast<compute_fn>(dlsym(RTLD_DEFAULT, "cblas_sgemm_compute"));
    if (!pack_size || !pack || !compute) pack_size = nullptr, pack = nullptr, compute = nullptr;
  }
};
inline Blas& blas() { static Blas b; return b; }
// Switches shared by every cell's loops (one definition across the files: C++17 inline).
inline bool g_use_packed = true;   // packed GEMM for float32 (set_packed_gemm)
inline bool g_row_parallel = true;  // per-thread row blocks (set_row_parallel)

template <typename T> struct Gemm;
template <> struct Gemm<float> {
  static bool call(char ta, char tb, int m, int n, int k, float alpha, const float* a, int lda,
                   const float* b, int ldb, float beta, float* c, int ldc) {
    if (!blas().s) return false;
    blas().s(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
    return true;
  }
};
template <> struct Gemm<double> {
  static bool call(char ta, char tb, int m, int n, int k, double alpha, const double* a, int lda,
                   const double* b, int ldb, double beta, double* c, int ldc) {
    if (!blas().d) return false;
    blas().d(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
    return true;
  }
};

// Row-major C[M,N] = A[M,K] @ op(B) + beta * C, with op(B) = B^T (B is [N,K]) if transB,
// else B ([K,N]). Leading dimensions in elements.
template <typename T>
void gemm_rm(bool transB, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
             int64_t ldb, T beta, T* C, int64_t ldc, const at::TensorOptions& opt) {
  if (M == 0 || N == 0) return;
  // Column-major view: C^T = op(B)^T @ A^T.
  if (Gemm<T>::call(transB ? 'T' : 'N', 'N', (int)N, (int)M, (int)K, T(1), B, (int)ldb, A,
                    (int)lda, beta, C, (int)ldc))
    return;
  auto a = at::from_blob(const_cast<T*>(A), {M, K}, {lda, 1}, opt);
  auto b = transB ? at::from_blob(const_cast<T*>(B), {N, K}, {ldb, 1}, opt).t()
                  : at::from_blob(const_cast<T*>(B), {K, N}, {ldb, 1}, opt);
  auto c = at::from_blob(C, {M, N}, {ldc, 1}, opt);
  if (beta == T(0)) at::mm_out(c, a, b);
  else c.addmm_(a, b, beta, 1);
}

template <typename T> at::TensorOptions options_of() {
  return at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
}

// A GEMM whose right operand (the recurrent weight) is fixed for a whole loop:
// C[m,N] = A[m,K] @ op(B) + beta*C (row-major), m <= M. float: B is packed once (MKL packed
// API) and the packed copy is shared, read-only, by every thread and step.
template <typename T>
struct StepGemm {
  bool transB; int64_t M, N, K; const T* B; int64_t ldb; at::TensorOptions opt;
  at::Tensor packed;
  StepGemm(bool transB_, int64_t M_, int64_t N_, int64_t K_, const T* B_, int64_t ldb_)
      : transB(transB_), M(M_), N(N_), K(K_), B(B_), ldb(ldb_), opt(options_of<T>()) {
    if constexpr (std::is_same_v<T, float>) {
      const Blas& b = blas();
      if (g_use_packed && b.pack && M > 1 && M * N * K >= 4096) {
        size_t bytes = b.pack_size(kBMatrix, (int)M, (int)N, (int)K);
        packed = at::empty({(int64_t)((bytes + 3) / 4)}, opt);
        b.pack(kRowMajor, kBMatrix, transB ? kTrans : kNoTrans, (int)M, (int)N, (int)K, 1.f, B,
               (int)ldb, packed.data_ptr<float>());
      }
    }
  }
  void run(int64_t m, const T* A, int64_t lda, T beta, T* C, int64_t ldc) const {
    if (m <= 0) return;
    if constexpr (std::is_same_v<T, float>) {
      if (packed.defined()) {
        blas().compute(kRowMajor, kNoTrans, kPacked, (int)m, (int)N, (int)K, A, (int)lda,
                       packed.data_ptr<float>(), (int)ldb, beta, C, (int)ldc);
        return;
      }
    }
    gemm_rm<T>(transB, m, N, K, A, lda, B, ldb, beta, C, ldc, opt);
  }
};

// Batch rows never interact inside a recurrence, so with P threads each thread runs the whole
// time loop on its own block of rows (its own small GEMMs, its own element-wise pass): no
// barrier per step. Below kMinRows rows per thread, one thread runs the loop and the BLAS
// call itself may use every thread.
constexpr int64_t kMinRows = 8;
struct RowBlocks {
  int64_t N, P, chunk;  // N rows in P blocks of at most `chunk` rows
  explicit RowBlocks(int64_t N_) : N(N_) {
    const int64_t most = std::min<int64_t>(at::get_num_threads(), N / kMinRows);
    P = g_row_parallel ? std::max<int64_t>(most, 1) : 1;
    chunk = (N + P - 1) / P;
  }
  // fn(r0, r1) on every block [r0, r1) of the rows, one thread each.
  template <typename F> void run(const F& fn) const {
    if (P <= 1) { fn(int64_t(0), N); return; }
    at::parallel_for(0, P, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) fn(p * chunk, std::min(N, (p + 1) * chunk));
    });
  }
};

// ---------------------------------------------------------------- activations
// float: branch-free polynomial exp (Cephes expf, ~1 ulp) so the loops auto-vectorise.
// double: libm, as torch computes in float64 (gradcheck runs there).
#define RK_INLINE inline __attribute__((always_inline))

RK_INLINE float rk_exp(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  float fx = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - fx * 0.693359375f;
  r = r + fx * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  int32_t bits = ((int32_t)fx + 127) << 23;
  float p;
  std::memcpy(&p, &bits, sizeof(p));
  return y * p;
}
RK_INLINE double rk_exp(double x) { return std::exp(x); }
RK_INLINE float rk_tanh(float x) {
  float ax = x < 0.f ? -x : x;
  float e = rk_exp(-2.f * ax);
  float t = (1.f - e) / (1.f + e);
  return x < 0.f ? -t : t;
}
RK_INLINE double rk_tanh(double x) { return std::tanh(x); }
template <typename T> RK_INLINE T rk_sigmoid(T x) { return T(1) / (T(1) + rk_exp(-x)); }

// Activations, in the order of rnnkit.cells.base.ACTIVATIONS.
enum Activation { A_TANH = 0, A_SIGMOID = 1, A_RELU = 2, A_SOFTSIGN = 3 };
inline Activation activation_code(const std::string& name) {
  if (name == "tanh") return A_TANH;
  if (name == "sigmoid") return A_SIGMOID;
  if (name == "relu") return A_RELU;
  TORCH_CHECK(name == "softsign", "unknown activation '", name, "'");
  return A_SOFTSIGN;
}
template <int A, typename T> RK_INLINE T act(T x) {
  if constexpr (A == A_TANH) return rk_tanh(x);
  else if constexpr (A == A_SIGMOID) return rk_sigmoid(x);
  else if constexpr (A == A_RELU) return x > T(0) ? x : T(0);
  else return x / (T(1) + (x < T(0) ? -x : x));
}
// φ'(x) from y = φ(x), as rnnkit.cells.base.activation_grad.
template <int A, typename T> RK_INLINE T act_grad(T y) {
  if constexpr (A == A_TANH) return T(1) - y * y;
  else if constexpr (A == A_SIGMOID) return y * (T(1) - y);
  else if constexpr (A == A_RELU) return y > T(0) ? T(1) : T(0);
  else { T a = T(1) - (y < T(0) ? -y : y); return a * a; }
}

// ---------------------------------------------------------------- run-time switches -> templates
// fn(std::integral_constant<bool, b>{}): a run-time flag as a compile-time one (CIFG, layer
// norm, reset_after), read in fn as decltype(flag)::value.
template <typename F> void with_flag(bool b, const F& fn) {
  if (b) fn(std::true_type{});
  else fn(std::false_type{});
}
// fn(std::integral_constant<int, A>{}) for the activation named `name`, which must be one of
// Allowed (a cell instantiates its loops only for the activations it offers).
template <int... Allowed, typename F> void with_activation(const std::string& name, const F& fn) {
  const int code = activation_code(name);
  bool done = false;
  ((code == Allowed ? (fn(std::integral_constant<int, Allowed>{}), done = true) : false), ...);
  TORCH_CHECK(done, "activation '", name, "' is not offered by this cell");
}

// ---------------------------------------------------------------- tensors -> pointers
using OptT = c10::optional<at::Tensor>;
inline bool has(const OptT& t) { return t.has_value() && t->defined(); }
template <typename T> T* ptr(const OptT& t) { return has(t) ? t->data_ptr<T>() : nullptr; }
template <typename T> T* ptr(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

inline void check(const at::Tensor& t, const char* name) {
  if (!t.defined()) return;
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}
inline void check(const OptT& t, const char* name) { if (has(t)) check(*t, name); }

// Named buffers, as Python sees them: a dict name -> tensor.
using Buffers = std::map<std::string, at::Tensor>;

// A cell's buffer layout is a struct template L<B> of fields of type B (at::Tensor to allocate
// and to hand to Python, T* for the loops) with a static each(fn, s...) that calls fn(name,
// s.field...) once per field. These turn one into the other; absent buffers stay undefined /
// null and are left out of the dict.
template <template <typename> class L> Buffers to_dict(L<at::Tensor>& s) {
  Buffers d;
  L<at::Tensor>::each([&](const char* name, at::Tensor& t) {
    if (t.defined()) d.emplace(name, t);
  }, s);
  return d;
}
template <template <typename> class L> L<at::Tensor> from_dict(const Buffers& d) {
  L<at::Tensor> s;
  L<at::Tensor>::each([&](const char* name, at::Tensor& t) {
    auto it = d.find(name);
    if (it != d.end()) { check(it->second, name); t = it->second; }
  }, s);
  return s;
}
template <typename T, template <typename> class L> L<T*> pointers(L<at::Tensor>& s) {
  L<T*> p{};
  L<at::Tensor>::each([](const char*, at::Tensor& t, T*& q) { q = ptr<T>(t); }, s, p);
  return p;
}

// The gradients a backward loop sums over steps (a gradient layout's 1-D buffers: peepholes,
// layer-norm gains and biases), one zeroed copy per block of rows, which each block adds to while
// its rows are in cache; `finish` writes the sum of the copies into the layout's own buffers.
// The other buffers are shared by every block.
template <typename T, template <typename> class L> struct BlockSums {
  L<at::Tensor>& out;
  int64_t W = 0;      // the summed buffers' total width
  at::Tensor copies;  // (P, W) one row per block, the summed buffers end to end
  static bool summed(const at::Tensor& t) { return t.defined() && t.dim() == 1; }
  BlockSums(L<at::Tensor>& out_, int64_t P) : out(out_) {
    L<at::Tensor>::each([&](const char*, at::Tensor& t) { if (summed(t)) W += t.numel(); }, out);
    copies = at::zeros({P, W}, options_of<T>());
  }
  // Block p's pointers: its own copy of the summed buffers, the shared others.
  L<T*> block(int64_t p) const {
    L<T*> b = pointers<T>(out);
    T* q = copies.data_ptr<T>() + p * W;
    L<at::Tensor>::each([&](const char*, at::Tensor& t, T*& b_t) {
      if (summed(t)) { b_t = q; q += t.numel(); }
    }, out, b);
    return b;
  }
  void finish() const {
    const at::Tensor total = copies.sum(0);
    int64_t offset = 0;
    L<at::Tensor>::each([&](const char*, at::Tensor& t) {
      if (summed(t)) { t.copy_(total.narrow(0, offset, t.numel())); offset += t.numel(); }
    }, out);
  }
};

// ---------------------------------------------------------------- row helpers
// A state update fraction u (s_t = u s̃_t + (1 − u) s_{t−1}), broadcastable to (T, N, H); it
// arrives in the scalar dtype (booleans converted by the caller); size-1 dims read with stride 0.
template <typename T> struct Upd {
  const T* p = nullptr;
  int64_t st = 0, sn = 0, sj = 0;
  Upd() = default;
  explicit Upd(const OptT& u) {
    if (!has(u)) return;
    TORCH_CHECK(u->dim() == 3, "update masks must be 3-D");
    p = u->data_ptr<T>();
    st = u->size(0) > 1 ? u->stride(0) : 0;
    sn = u->size(1) > 1 ? u->stride(1) : 0;
    sj = u->size(2) > 1 ? u->stride(2) : 0;
  }
  explicit operator bool() const { return p != nullptr; }
  const T* row(int64_t t, int64_t n) const { return p + t * st + n * sn; }
};

// out = u out + (1 − u) prev, in place.
template <typename T>
RK_INLINE void blend_row(T* __restrict out, const T* __restrict prev, const Upd<T>& u, int64_t t,
                         int64_t n, int64_t H) {
  const T* ur = u.row(t, n);
  if (u.sj == 0) {
    const T w = ur[0];
    for (int64_t j = 0; j < H; ++j) out[j] = w * out[j] + (T(1) - w) * prev[j];
  } else {
    for (int64_t j = 0; j < H; ++j) out[j] = ur[j] * out[j] + (T(1) - ur[j]) * prev[j];
  }
}
// d_new = u d (into dnew), direct = (1 − u) d (into direct, if not null).
template <typename T>
RK_INLINE void split_row(const T* d, T* __restrict dnew, T* direct,
                         const Upd<T>& u, int64_t t, int64_t n, int64_t H) {
  const T* ur = u.row(t, n);
  if (u.sj == 0) {
    const T w = ur[0];
    for (int64_t j = 0; j < H; ++j) dnew[j] = w * d[j];
    if (direct) for (int64_t j = 0; j < H; ++j) direct[j] = (T(1) - w) * d[j];
  } else {
    for (int64_t j = 0; j < H; ++j) dnew[j] = ur[j] * d[j];
    if (direct) for (int64_t j = 0; j < H; ++j) direct[j] = (T(1) - ur[j]) * d[j];
  }
}

// The mean μ (into `mean`) and 1/σ of a row, σ² = mean((x − μ)²) + ε, as
// rnnkit.cells.base.layer_norm; returns 1/σ.
template <typename T>
RK_INLINE T ln_stats(const T* __restrict x, int64_t W, T& mean) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < W; ++j) s += x[j];
  mean = s / T(W);
  const T m = mean;
  T v = 0;
#pragma omp simd reduction(+ : v)
  for (int64_t j = 0; j < W; ++j) { T c = x[j] - m; v += c * c; }
  return T(1) / std::sqrt(v / T(W) + T(1e-5));
}
// Back through y = γ ∘ n + β, n = layer_norm(x), from d = ∂L/∂y: ∂L/∂x = rstd (dn − mean(dn) −
// n mean(dn n)) with dn = d ∘ γ, as rnnkit.cells.base.layer_norm_backward, into out (may alias
// d); and the gain's and bias's gradients d ∘ n and d added to acc_gamma and acc_beta.
template <typename T>
RK_INLINE void ln_back_row(const T* d, const T* __restrict gamma, const T* __restrict n, T rstd,
                           T* out, T* __restrict acc_gamma, T* __restrict acc_beta, int64_t W) {
  T s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t j = 0; j < W; ++j) {
    const T dn = d[j] * gamma[j];
    s1 += dn;
    s2 += dn * n[j];
    acc_gamma[j] += d[j] * n[j];
    acc_beta[j] += d[j];
  }
  const T m1 = s1 / T(W), m2 = s2 / T(W);
#pragma omp simd
  for (int64_t j = 0; j < W; ++j) out[j] = rstd * (d[j] * gamma[j] - m1 - n[j] * m2);
}

// The h a step's recurrent GEMM reads: h ∘ m under recurrent dropout.
template <typename T>
RK_INLINE void mask_row(const T* __restrict h, const T* __restrict m, T* __restrict out,
                        int64_t H) {
  for (int64_t j = 0; j < H; ++j) out[j] = h[j] * m[j];
}

// At the start of a backward step: ∂L/∂h_t = direct + m ∘ gemm + dout_t (each optional but gemm).
template <typename T>
RK_INLINE void assemble_dh(T* __restrict dsh, const T* __restrict direct, const T* __restrict gemm,
                           const T* __restrict m, const T* __restrict dout, int64_t H) {
  if (m) for (int64_t j = 0; j < H; ++j) dsh[j] = gemm[j] * m[j];
  else for (int64_t j = 0; j < H; ++j) dsh[j] = gemm[j];
  if (direct) for (int64_t j = 0; j < H; ++j) dsh[j] += direct[j];
  if (dout) for (int64_t j = 0; j < H; ++j) dsh[j] += dout[j];
}

// Sizes of a scan.
struct Dims {
  int64_t T, N, H, G, NH;
};

// The hidden-state side of a scan, common to the three cells: the recurrent weight, the
// sequence of h, its update fraction and the recurrent-dropout mask, with the (N, H) scratch
// that holds the masked h the next step's GEMM reads.
template <typename T> struct Recurrence {
  Dims d;
  const T* U;      // (G, H) recurrent weight
  T* hs;           // (T+1, N, H) h_t, [0] = initial state
  Upd<T> uh;       // update fraction of h, or none
  const T* hmask;  // (N, H) recurrent-dropout mask, or null
  T* hm;           // (N, H) scratch: h ∘ hmask (forward with a mask only)
  // hm_keep: where a forward keeps the masked h (allocated here under a mask); null in backward.
  static Recurrence make(const at::Tensor& h, const at::Tensor& weight_hh, const OptT& u_h,
                         const OptT& h_mask, at::Tensor* hm_keep) {
    const int64_t N = h.size(1), H = h.size(2);
    TORCH_CHECK(weight_hh.size(1) == H, "weight_hh must be (G, H)");
    if (hm_keep && has(h_mask)) *hm_keep = at::empty({N, H}, h.options());
    return {Dims{h.size(0) - 1, N, H, weight_hh.size(0), N * H}, weight_hh.data_ptr<T>(),
            h.data_ptr<T>(), Upd<T>(u_h), ptr<T>(h_mask), hm_keep ? ptr<T>(*hm_keep) : nullptr};
  }
  // The h step t's GEMM reads for rows from r0 on: hs[t] or the masked copy.
  const T* h_in(int64_t t, int64_t r0) const { return (hmask ? hm : hs + t * d.NH) + r0 * d.H; }
  void mask_initial(int64_t r0, int64_t r1) const {
    if (!hmask) return;
    for (int64_t n = r0; n < r1; ++n) mask_row(hs + n * d.H, hmask + n * d.H, hm + n * d.H, d.H);
  }
  // After writing h̃_t into hs[t+1] row n: blend with h_{t−1} under u, then mask for step t+1.
  RK_INLINE void finish_row(int64_t t, int64_t n) const {
    T* hn = hs + (t + 1) * d.NH + n * d.H;
    if (uh) blend_row(hn, hs + t * d.NH + n * d.H, uh, t, n, d.H);
    if (hmask) mask_row(hn, hmask + n * d.H, hm + n * d.H, d.H);
  }
};

// The state-gradient buffers of a backward loop, (N, H) each, carried from step to step:
// dsh holds ∂L/∂h_t as assembled, dnh ∂L/∂h̃_t after the update split (with an update
// fraction), direct the part of ∂L/∂h_{t−1} not through the GEMM (with an update fraction or a
// mask, else folded into gemm), gemm the GEMM part before the recurrent-dropout mask.
// ∂L/∂h_0 = direct + m ∘ gemm at the end.
struct BackBufs {
  at::Tensor dsh, dnh, direct, gemm;
  BackBufs(const at::Tensor& dhT, bool need_direct, bool need_dnh) {
    dsh = at::empty_like(dhT);
    if (need_dnh) dnh = at::empty_like(dhT);
    if (need_direct) {
      direct = dhT.clone();
      gemm = at::zeros_like(dhT);
    } else {
      gemm = dhT.clone();
    }
  }
  at::Tensor dh0(const OptT& hmask) const {
    at::Tensor g = has(hmask) ? gemm * *hmask : gemm;
    return direct.defined() ? g + direct : g;
  }
};

// Each cell file registers its functions (with named arguments) on the module.
void init_lstm(py::module_& m);
void init_gru(py::module_& m);
void init_rnn(py::module_& m);

}  // namespace rnnkit
