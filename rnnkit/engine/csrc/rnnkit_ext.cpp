// rnnkit compiled time loops (CPU). See rnnkit/engine/compiled.py for how this is built, loaded
// and called; the Python step equations in rnnkit/cells/*.py are the reference it must match.
//
// Every loop here follows the same pattern: the per-step GEMM goes straight to the BLAS that
// libtorch already carries (sgemm_/dgemm_, looked up once with dlsym; at::mm_out/addmm_ if
// absent) into preallocated buffers, and all element-wise gate math of one step is one fused
// pass over the (N, H) cells.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

namespace {

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
Blas& blas() { static Blas b; return b; }
bool g_use_packed = true;

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

// A GEMM whose right operand (the recurrent weight) is fixed for a whole loop:
// C[m,N] = A[m,K] @ op(B) + beta*C (row-major), m <= M. float: B is packed once (MKL packed
// API) and the packed copy is shared, read-only, by every thread and step.
template <typename T>
struct StepGemm {
  bool transB; int64_t M, N, K; const T* B; int64_t ldb; at::TensorOptions opt;
  at::Tensor packed;
  StepGemm(bool transB_, int64_t M_, int64_t N_, int64_t K_, const T* B_, int64_t ldb_,
           at::TensorOptions opt_)
      : transB(transB_), M(M_), N(N_), K(K_), B(B_), ldb(ldb_), opt(opt_) {
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
bool g_row_parallel = true;
constexpr int64_t kMinRows = 8;
inline int64_t row_blocks(int64_t N) {
  if (!g_row_parallel) return 1;
  int64_t P = std::min<int64_t>(at::get_num_threads(), N / kMinRows);
  return std::max<int64_t>(P, 1);
}
template <typename F>
void for_row_blocks(int64_t N, int64_t P, const F& fn) {
  if (P <= 1) { fn(int64_t(0), N); return; }
  const int64_t chunk = (N + P - 1) / P;
  at::parallel_for(0, P, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) fn(p * chunk, std::min(N, (p + 1) * chunk));
  });
}

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

// Activation codes, as rnnkit.cells.base.ACTIVATIONS: tanh, sigmoid, relu, softsign.
enum { A_TANH = 0, A_SIGMOID = 1, A_RELU = 2, A_SOFTSIGN = 3 };
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

#define DISPATCH_ACT(code, NAME, ...)                                           \
  switch (code) {                                                               \
    case A_TANH: { constexpr int NAME = A_TANH; __VA_ARGS__(); break; }        \
    case A_SIGMOID: { constexpr int NAME = A_SIGMOID; __VA_ARGS__(); break; }  \
    case A_RELU: { constexpr int NAME = A_RELU; __VA_ARGS__(); break; }        \
    case A_SOFTSIGN: { constexpr int NAME = A_SOFTSIGN; __VA_ARGS__(); break; } \
    default: TORCH_CHECK(false, "unknown activation code ", code);             \
  }

// ---------------------------------------------------------------- tensors -> pointers
using OptT = c10::optional<at::Tensor>;
inline bool has(const OptT& t) { return t.has_value() && t->defined(); }
template <typename T> T* ptr(const OptT& t) { return has(t) ? t->data_ptr<T>() : nullptr; }
template <typename T> T* ptr(const at::Tensor& t) { return t.defined() ? t.data_ptr<T>() : nullptr; }

void check(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}
void check(const OptT& t, const char* name) { if (has(t)) check(*t, name); }

// A state update fraction u (s_t = u s̃_t + (1 − u) s_{t−1}), broadcastable to (T, N, H); it
// arrives in the scalar dtype (booleans converted by the caller); size-1 dims read with stride 0.
template <typename T> struct Upd {
  const T* p = nullptr;
  int64_t st = 0, sn = 0, sj = 0;
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

// Layer norm over a row, as rnnkit.cells.base.layer_norm: returns rstd, writes n = (x − μ) rstd.
template <typename T>
RK_INLINE T ln_row(const T* __restrict x, T* __restrict n, int64_t W) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < W; ++j) s += x[j];
  const T mean = s / T(W);
  T v = 0;
#pragma omp simd reduction(+ : v)
  for (int64_t j = 0; j < W; ++j) { T c = x[j] - mean; v += c * c; }
  const T rstd = T(1) / std::sqrt(v / T(W) + T(1e-5));
  for (int64_t j = 0; j < W; ++j) n[j] = (x[j] - mean) * rstd;
  return rstd;
}
// ∂L/∂x = rstd (dn − mean(dn) − n mean(dn n)), as rnnkit.cells.base.layer_norm_backward;
// dn = d ∘ gamma; result into out (may alias d).
template <typename T>
RK_INLINE void ln_back_row(const T* d, const T* __restrict gamma, const T* __restrict n, T rstd,
                           T* out, int64_t W) {
  T s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t j = 0; j < W; ++j) { T dn = d[j] * gamma[j]; s1 += dn; s2 += dn * n[j]; }
  const T m1 = s1 / T(W), m2 = s2 / T(W);
  for (int64_t j = 0; j < W; ++j) out[j] = rstd * (d[j] * gamma[j] - m1 - n[j] * m2);
}

// The h a step's recurrent GEMM reads: h ∘ m under recurrent dropout (m = null: h itself).
template <typename T>
RK_INLINE void mask_row(const T* __restrict h, const T* __restrict m, T* __restrict out, int64_t H) {
  for (int64_t j = 0; j < H; ++j) out[j] = h[j] * m[j];
}

// Common state of a scan: sizes, the row blocks, the recurrent-dropout scratch.
struct Dims {
  int64_t T, N, H, G, NH;
};

// At the start of a backward step: ∂L/∂h_t = direct + m ∘ gemm + dout_t (each optional but gemm).
template <typename T>
RK_INLINE void assemble_dh(T* __restrict dsh, const T* __restrict direct, const T* __restrict gemm,
                           const T* __restrict m, const T* __restrict dout, int64_t H) {
  if (m) for (int64_t j = 0; j < H; ++j) dsh[j] = gemm[j] * m[j];
  else for (int64_t j = 0; j < H; ++j) dsh[j] = gemm[j];
  if (direct) for (int64_t j = 0; j < H; ++j) dsh[j] += direct[j];
  if (dout) for (int64_t j = 0; j < H; ++j) dsh[j] += dout[j];
}

// ================================================================ LSTM
// Gate blocks: i, f, g, o (CIFG: i, g, o). Peephole vectors p_i, p_f, p_o point at a zero row
// when absent, so one loop serves both.
template <typename T> struct LstmArgs {
  Dims d;
  const T* xp; const T* U; T* hs; T* cs; T* gates;
  T* act_c;   // saved act(c_read), or null: recomputed in backward
  T* c_new;   // saved c̃_t (peephole), or null
  T* hh_norm; T* hh_rstd; T* c_norm; T* c_rstd;  // layer norm, or null
  const T* p_i; const T* p_f; const T* p_o;
  const T* ln_hh_w; const T* ln_c_w; const T* ln_c_b;
  Upd<T> uh, uc; const T* hmask;
  T* hm;      // (N, H) scratch: masked h for the next GEMM
  T* row;     // (N, H) scratch
};

template <typename T, bool CIFG, int A>
RK_INLINE void lstm_fwd_row(const LstmArgs<T>& a, int64_t t, int64_t n) {
  const int64_t H = a.d.H, G = a.d.G, NH = a.d.NH;
  const T* x = a.xp + (t * a.d.N + n) * G;
  T* g = a.gates + (t * a.d.N + n) * G;  // holds U h on entry
  const T* cp = a.cs + t * NH + n * H;
  T* cn = a.cs + (t + 1) * NH + n * H;
  T* hn = a.hs + (t + 1) * NH + n * H;
  if (a.hh_norm) {
    T* hnorm = a.hh_norm + (t * a.d.N + n) * G;
    a.hh_rstd[t * a.d.N + n] = ln_row(g, hnorm, G);
    for (int64_t j = 0; j < G; ++j) g[j] = x[j] + a.ln_hh_w[j] * hnorm[j];
  } else {
    for (int64_t j = 0; j < G; ++j) g[j] += x[j];
  }
  T* gi = g;
  T* gf = g + H;
  T* gg = g + (CIFG ? 1 : 2) * H;
  T* go = g + (CIFG ? 2 : 3) * H;
  const T *pi = a.p_i, *pf = a.p_f, *po = a.p_o;
  if (!a.c_norm) {
    T* ac = a.act_c ? a.act_c + t * NH + n * H : a.row + n * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T c0 = cp[j];
      const T i = rk_sigmoid(gi[j] + pi[j] * c0);
      T f;
      if constexpr (CIFG) f = T(1) - i; else f = rk_sigmoid(gf[j] + pf[j] * c0);
      const T gv = act<A>(gg[j]);
      const T c = f * c0 + i * gv;
      const T o = rk_sigmoid(go[j] + po[j] * c);
      gi[j] = i;
      if constexpr (!CIFG) gf[j] = f;
      gg[j] = gv; go[j] = o;
      cn[j] = c;
      const T acv = act<A>(c);
      ac[j] = acv;
      hn[j] = o * acv;
    }
  } else {
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T c0 = cp[j];
      const T i = rk_sigmoid(gi[j] + pi[j] * c0);
      T f;
      if constexpr (CIFG) f = T(1) - i; else f = rk_sigmoid(gf[j] + pf[j] * c0);
      const T gv = act<A>(gg[j]);
      const T c = f * c0 + i * gv;
      gi[j] = i;
      if constexpr (!CIFG) gf[j] = f;
      gg[j] = gv;
      go[j] = rk_sigmoid(go[j] + po[j] * c);
      cn[j] = c;
    }
    T* cnorm = a.c_norm + t * NH + n * H;
    a.c_rstd[t * a.d.N + n] = ln_row(cn, cnorm, H);
    T* ac = a.act_c ? a.act_c + t * NH + n * H : a.row + n * H;
    for (int64_t j = 0; j < H; ++j) {
      const T acv = act<A>(a.ln_c_w[j] * cnorm[j] + a.ln_c_b[j]);
      ac[j] = acv;
      hn[j] = go[j] * acv;
    }
  }
  if (a.c_new) std::memcpy(a.c_new + t * NH + n * H, cn, sizeof(T) * H);
  if (a.uh) blend_row(hn, a.hs + t * NH + n * H, a.uh, t, n, H);
  if (a.uc) blend_row(cn, cp, a.uc, t, n, H);
  if (a.hmask) mask_row(hn, a.hmask + n * H, a.hm + n * H, H);
}

template <typename T, bool CIFG, int A>
void lstm_forward_impl(const LstmArgs<T>& a) {
  const Dims& d = a.d;
  const int64_t P = row_blocks(d.N), chunk = (d.N + P - 1) / P;
  auto opt = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  StepGemm<T> mm(true, chunk, d.G, d.H, a.U, d.H, opt);
  for_row_blocks(d.N, P, [&](int64_t r0, int64_t r1) {
    if (a.hmask)
      for (int64_t n = r0; n < r1; ++n) mask_row(a.hs + n * d.H, a.hmask + n * d.H, a.hm + n * d.H, d.H);
    for (int64_t t = 0; t < d.T; ++t) {
      const T* hin = a.hmask ? a.hm : a.hs + t * d.NH;
      mm.run(r1 - r0, hin + r0 * d.H, d.H, T(0), a.gates + (t * d.N + r0) * d.G, d.G);
      for (int64_t n = r0; n < r1; ++n) lstm_fwd_row<T, CIFG, A>(a, t, n);
    }
  });
}

template <typename T> struct LstmBack {
  LstmArgs<T> f;
  const T* dout;   // (T, N, H) already masked, or null
  T* dxp; T* dhp; T* dc_read;  // grads (dhp, dc_read: layer norm)
  T* dsh;      // (N, H) scratch: ∂L/∂h_t assembled
  T* dnh;      // (N, H) scratch: ∂L/∂h̃_t (after the update split)
  T* dsc;      // (N, H) ∂L/∂c_t, in place over steps
  T* direct;   // (N, H) part of ∂L/∂h_{t−1} not through the GEMM, or null
  T* gemm;     // (N, H) GEMM part of ∂L/∂h_{t−1} (before the recurrent-dropout mask)
  T* dcn;      // (N, H) scratch
};

template <typename T, bool CIFG, int A>
RK_INLINE void lstm_bwd_row(const LstmBack<T>& b, int64_t t, int64_t n) {
  const LstmArgs<T>& a = b.f;
  const int64_t H = a.d.H, G = a.d.G, NH = a.d.NH, N = a.d.N;
  const int64_t r = n * H;
  T* dsh = b.dsh + r;
  assemble_dh(dsh, b.direct ? b.direct + r : nullptr, b.gemm + r, a.hmask ? a.hmask + r : nullptr,
              b.dout ? b.dout + t * NH + r : nullptr, H);
  // ∂L/∂(new h), ∂L/∂(new c); the rest goes straight to the previous state
  const T* dh = dsh;
  T* dc = b.dsc + r;
  if (a.uh) { split_row(dsh, b.dnh + r, b.direct + r, a.uh, t, n, H); dh = b.dnh + r; }
  else if (b.direct) std::memset(b.direct + r, 0, sizeof(T) * H);
  T* dcn = b.dcn + r;
  T* dcdir = nullptr;  // (1 − u_c) ∂L/∂c_t, added to ∂L/∂c_{t−1}
  if (a.uc) { split_row(dc, dcn, dc, a.uc, t, n, H); dcdir = dc; }
  else std::memcpy(dcn, dc, sizeof(T) * H);
  const T* g = a.gates + (t * N + n) * G;
  const T* gi = g;
  const T* gf = g + H;
  const T* gg = g + (CIFG ? 1 : 2) * H;
  const T* go = g + (CIFG ? 2 : 3) * H;
  T* dx = b.dxp + (t * N + n) * G;
  T* di_ = dx;
  T* df_ = dx + H;
  T* dg_ = dx + (CIFG ? 1 : 2) * H;
  T* do_ = dx + (CIFG ? 2 : 3) * H;
  const T* cp = a.cs + t * NH + r;
  // act(c_read): saved, or recomputed (from LN(c) or from c̃_t)
  const T* ac;
  T* acbuf = a.row + r;
  if (a.act_c) ac = a.act_c + t * NH + r;
  else if (a.c_norm) {
    const T* cnorm = a.c_norm + t * NH + r;
    for (int64_t j = 0; j < H; ++j) acbuf[j] = act<A>(a.ln_c_w[j] * cnorm[j] + a.ln_c_b[j]);
    ac = acbuf;
  } else {
    const T* cnew = a.c_new ? a.c_new + t * NH + r : a.cs + (t + 1) * NH + r;
    for (int64_t j = 0; j < H; ++j) acbuf[j] = act<A>(cnew[j]);
    ac = acbuf;
  }
  // d_read = dh o act'(act_c), into dcn's partner: we add it into dcn
  if (a.c_norm) {
    T* dread = b.dc_read + t * NH + r;
    for (int64_t j = 0; j < H; ++j) {
      const T o = go[j];
      do_[j] = dh[j] * ac[j] * o * (T(1) - o);
      dread[j] = dh[j] * o * act_grad<A>(ac[j]);
    }
    T* tmp = acbuf;  // ac no longer needed past this point
    ln_back_row(dread, a.ln_c_w, a.c_norm + t * NH + r, a.c_rstd[t * N + n], tmp, H);
    for (int64_t j = 0; j < H; ++j) dcn[j] += tmp[j];
  } else {
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T o = go[j];
      do_[j] = dh[j] * ac[j] * o * (T(1) - o);
      dcn[j] += dh[j] * o * act_grad<A>(ac[j]);
    }
  }
  const T *pi = a.p_i, *pf = a.p_f, *po = a.p_o;
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const T dcv = dcn[j] + do_[j] * po[j];
    const T i = gi[j], gv = gg[j], c0 = cp[j];
    T f, dcp;
    if constexpr (CIFG) {
      f = T(1) - i;
      const T dI = dcv * (gv - c0) * i * (T(1) - i);
      di_[j] = dI;
      dcp = dcv * f + dI * pi[j];
    } else {
      f = gf[j];
      const T dI = dcv * gv * i * (T(1) - i);
      const T dF = dcv * c0 * f * (T(1) - f);
      di_[j] = dI;
      df_[j] = dF;
      dcp = dcv * f + dI * pi[j] + dF * pf[j];
    }
    dg_[j] = dcv * i * act_grad<A>(gv);
    dc[j] = dcp + (dcdir ? dcdir[j] : T(0));
  }
  if (a.hh_norm) {
    T* dhp = b.dhp + (t * N + n) * G;
    ln_back_row(dx, a.ln_hh_w, a.hh_norm + (t * N + n) * G, a.hh_rstd[t * N + n], dhp, G);
  }
}

template <typename T, bool CIFG, int A>
void lstm_backward_impl(const LstmBack<T>& b) {
  const Dims& d = b.f.d;
  const int64_t P = row_blocks(d.N), chunk = (d.N + P - 1) / P;
  auto opt = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  StepGemm<T> mm(false, chunk, d.H, d.G, b.f.U, d.H, opt);
  const T* src = b.f.hh_norm ? b.dhp : b.dxp;
  for_row_blocks(d.N, P, [&](int64_t r0, int64_t r1) {
    for (int64_t t = d.T - 1; t >= 0; --t) {
      for (int64_t n = r0; n < r1; ++n) lstm_bwd_row<T, CIFG, A>(b, t, n);
      mm.run(r1 - r0, src + (t * d.N + r0) * d.G, d.G, T(0), b.gemm + r0 * d.H, d.H);
    }
  });
}

// ================================================================ GRU
// Gate blocks r, z, n. rec: U_n h + b_hn (reset_after) or r ∘ h_in (reset_before).
template <typename T> struct GruArgs {
  Dims d;
  const T* xp; const T* U; T* hs; T* gates; T* rec; const T* b_hn;
  Upd<T> uh; const T* hmask; T* hm;
};

template <typename T>
void gru_forward_impl(const GruArgs<T>& a, bool reset_after) {
  const Dims& d = a.d;
  const int64_t H = d.H, G = d.G, N = d.N, NH = d.NH;
  const int64_t P = row_blocks(N), chunk = (N + P - 1) / P;
  auto opt = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  StepGemm<T> mm_all(true, chunk, reset_after ? G : 2 * H, H, a.U, H, opt);
  std::unique_ptr<StepGemm<T>> mm_n;
  if (!reset_after) mm_n = std::make_unique<StepGemm<T>>(true, chunk, H, H, a.U + 2 * H * H, H, opt);
  for_row_blocks(N, P, [&](int64_t r0, int64_t r1) {
    if (a.hmask)
      for (int64_t n = r0; n < r1; ++n) mask_row(a.hs + n * H, a.hmask + n * H, a.hm + n * H, H);
    for (int64_t t = 0; t < d.T; ++t) {
      const T* hin = a.hmask ? a.hm : a.hs + t * NH;
      T* gt = a.gates + t * N * G;
      mm_all.run(r1 - r0, hin + r0 * H, H, T(0), gt + r0 * G, G);
      for (int64_t n = r0; n < r1; ++n) {
        const T* x = a.xp + (t * N + n) * G;
        T* g = gt + n * G;
        T* rec = a.rec + t * NH + n * H;
        const T* hin_r = hin + n * H;
#pragma omp simd
        for (int64_t j = 0; j < 2 * H; ++j) g[j] = rk_sigmoid(x[j] + g[j]);
        if (reset_after) {
          const T* gr = g;
          T* gn = g + 2 * H;
          if (a.b_hn) for (int64_t j = 0; j < H; ++j) rec[j] = gn[j] + a.b_hn[j];
          else std::memcpy(rec, gn, sizeof(T) * H);
          for (int64_t j = 0; j < H; ++j) gn[j] = x[2 * H + j] + gr[j] * rec[j];
        } else {
          for (int64_t j = 0; j < H; ++j) rec[j] = g[j] * hin_r[j];
        }
      }
      if (!reset_after)  // n pre-activation: (r ∘ h_in) U_nᵀ
        mm_n->run(r1 - r0, a.rec + t * NH + r0 * H, H, T(0), gt + r0 * G + 2 * H, G);
      for (int64_t n = r0; n < r1; ++n) {
        const T* x = a.xp + (t * N + n) * G;
        T* g = gt + n * G;
        const T* z = g + H;
        T* gn = g + 2 * H;
        const T* hp = a.hs + t * NH + n * H;
        T* hn = a.hs + (t + 1) * NH + n * H;
        const T xoff = reset_after ? T(0) : T(1);
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const T nv = rk_tanh(gn[j] + xoff * x[2 * H + j]);
          gn[j] = nv;
          hn[j] = nv + z[j] * (hp[j] - nv);
        }
        if (a.uh) blend_row(hn, hp, a.uh, t, n, H);
        if (a.hmask) mask_row(hn, a.hmask + n * H, a.hm + n * H, H);
      }
    }
  });
}

template <typename T> struct GruBack {
  GruArgs<T> f;
  const T* dout; T* dxp; T* dh_n;
  T* dsh; T* dnh; T* direct; T* gemm; T* scratch;  // scratch: (N, G)
};

template <typename T>
void gru_backward_impl(const GruBack<T>& b, bool reset_after) {
  const GruArgs<T>& a = b.f;
  const Dims& d = a.d;
  const int64_t H = d.H, G = d.G, N = d.N, NH = d.NH;
  const int64_t P = row_blocks(N), chunk = (N + P - 1) / P;
  auto opt = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  // reset_after: [d_r, d_z, dh_n] @ U (one GEMM). reset_before: d_n @ U_n, then [d_r, d_z] @ U_rz.
  StepGemm<T> mm_a(false, chunk, H, reset_after ? G : H, reset_after ? a.U : a.U + 2 * H * H, H, opt);
  std::unique_ptr<StepGemm<T>> mm_rz;
  if (!reset_after) mm_rz = std::make_unique<StepGemm<T>>(false, chunk, H, 2 * H, a.U, H, opt);
  for_row_blocks(N, P, [&](int64_t r0, int64_t r1) {
    for (int64_t t = d.T - 1; t >= 0; --t) {
      for (int64_t n = r0; n < r1; ++n) {
        const int64_t r = n * H;
        T* dsh = b.dsh + r;
        assemble_dh(dsh, b.direct + r, b.gemm + r, a.hmask ? a.hmask + r : nullptr,
                    b.dout ? b.dout + t * NH + r : nullptr, H);
        const T* dh = dsh;
        T* dir = b.direct + r;
        if (a.uh) { split_row(dsh, b.dnh + r, dir, a.uh, t, n, H); dh = b.dnh + r; }
        else std::memset(dir, 0, sizeof(T) * H);
        const T* g = a.gates + (t * N + n) * G;
        const T *gr = g, *gz = g + H, *gn = g + 2 * H;
        const T* hp = a.hs + t * NH + r;
        T* dx = b.dxp + (t * N + n) * G;
        T* s = b.scratch + n * G;
        const T* rec = a.rec + t * NH + r;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const T z = gz[j], nv = gn[j];
          const T dz = dh[j] * (hp[j] - nv) * z * (T(1) - z);
          const T dn = dh[j] * (T(1) - z) * (T(1) - nv * nv);
          dx[H + j] = dz;
          dx[2 * H + j] = dn;
          dir[j] += dh[j] * z;
          if (reset_after) {
            const T rr = gr[j];
            const T dr = dn * rec[j] * rr * (T(1) - rr);
            dx[j] = dr;
            s[j] = dr;
            s[H + j] = dz;
            s[2 * H + j] = dn * rr;
          }
        }
        if (reset_after) std::memcpy(b.dh_n + t * NH + r, s + 2 * H, sizeof(T) * H);
      }
      if (reset_after) {
        mm_a.run(r1 - r0, b.scratch + r0 * G, G, T(0), b.gemm + r0 * H, H);
      } else {
        // d_rh = d_n U_n (into scratch[:, :H], ld G)
        mm_a.run(r1 - r0, b.dxp + (t * N + r0) * G + 2 * H, G, T(0), b.scratch + r0 * G, G);
        for (int64_t n = r0; n < r1; ++n) {
          const int64_t r = n * H;
          const T* g = a.gates + (t * N + n) * G;
          const T* drh = b.scratch + n * G;
          const T* hp = a.hs + t * NH + r;
          const T* m = a.hmask ? a.hmask + r : nullptr;
          T* dx = b.dxp + (t * N + n) * G;
          T* gm = b.gemm + r;
          for (int64_t j = 0; j < H; ++j) {
            const T rr = g[j];
            const T hin = m ? hp[j] * m[j] : hp[j];
            dx[j] = drh[j] * hin * rr * (T(1) - rr);
            gm[j] = drh[j] * rr;
          }
        }
        mm_rz->run(r1 - r0, b.dxp + (t * N + r0) * G, G, T(1), b.gemm + r0 * H, H);
      }
    }
  });
}

// ================================================================ Elman RNN
template <typename T, int A>
void rnn_forward_impl(const Dims& d, const T* xp, const T* U, T* hs, T* hsave, const Upd<T>& uh,
                      const T* hmask, T* hm) {
  const int64_t H = d.H, N = d.N, NH = d.NH;
  const int64_t P = row_blocks(N), chunk = (N + P - 1) / P;
  auto opt = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  StepGemm<T> mm(true, chunk, H, H, U, H, opt);
  for_row_blocks(N, P, [&](int64_t r0, int64_t r1) {
    if (hmask) for (int64_t n = r0; n < r1; ++n) mask_row(hs + n * H, hmask + n * H, hm + n * H, H);
    for (int64_t t = 0; t < d.T; ++t) {
      const T* hin = hmask ? hm : hs + t * NH;
      T* ht = hsave + t * NH;  // h̃_t (may alias hs[t + 1])
      mm.run(r1 - r0, hin + r0 * H, H, T(0), ht + r0 * H, H);
      for (int64_t n = r0; n < r1; ++n) {
        const T* x = xp + t * NH + n * H;
        T* h = ht + n * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) h[j] = act<A>(x[j] + h[j]);
        T* hn = hs + (t + 1) * NH + n * H;
        if (hn != h) std::memcpy(hn, h, sizeof(T) * H);
        if (uh) blend_row(hn, hs + t * NH + n * H, uh, t, n, H);
        if (hmask) mask_row(hn, hmask + n * H, hm + n * H, H);
      }
    }
  });
}

template <typename T, int A>
void rnn_backward_impl(const Dims& d, const T* U, const T* hsave, const Upd<T>& uh,
                       const T* hmask, const T* dout, T* dxp, T* dsh, T* dnh, T* direct, T* gemm) {
  const int64_t H = d.H, N = d.N, NH = d.NH;
  const int64_t P = row_blocks(N), chunk = (N + P - 1) / P;
  auto opt = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  StepGemm<T> mm(false, chunk, H, H, U, H, opt);
  for_row_blocks(N, P, [&](int64_t r0, int64_t r1) {
    for (int64_t t = d.T - 1; t >= 0; --t) {
      for (int64_t n = r0; n < r1; ++n) {
        const int64_t r = n * H;
        assemble_dh(dsh + r, direct ? direct + r : nullptr, gemm + r, hmask ? hmask + r : nullptr,
                    dout ? dout + t * NH + r : nullptr, H);
        const T* dh = dsh + r;
        if (uh) { split_row(dsh + r, dnh + r, direct + r, uh, t, n, H); dh = dnh + r; }
        else if (direct) std::memset(direct + r, 0, sizeof(T) * H);
        const T* h = hsave + t * NH + r;
        T* dx = dxp + t * NH + r;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) dx[j] = dh[j] * act_grad<A>(h[j]);
      }
      mm.run(r1 - r0, dxp + t * NH + r0 * H, H, T(0), gemm + r0 * H, H);
    }
  });
}

// ================================================================ shared set-up
template <typename T> T* zeros_row(std::vector<at::Tensor>& keep, int64_t H, at::TensorOptions o) {
  keep.push_back(at::zeros({H}, o));
  return keep.back().data_ptr<T>();
}

// The state gradient buffers of a backward loop. dh0 = direct + m ∘ gemm at the end.
struct BackBufs {
  at::Tensor dsh, dnh, direct, gemm;
  BackBufs(const at::Tensor& dhT, int64_t N, int64_t H, at::TensorOptions o, bool need_direct,
           bool need_dnh) {
    dsh = at::empty({N, H}, o);
    if (need_dnh) dnh = at::empty({N, H}, o);
    if (need_direct) {
      direct = dhT.clone();
      gemm = at::zeros({N, H}, o);
    } else {
      gemm = dhT.clone();
    }
  }
  at::Tensor dh0(const OptT& hmask) const {
    at::Tensor g = has(hmask) ? gemm * *hmask : gemm;
    return direct.defined() ? g + direct : g;
  }
};

}  // namespace

// ---------------------------------------------------------------- entry points
// Buffers come allocated from Python (rnnkit.engine.compiled): the loops only fill them.
// Forward: states hs, cs (T+1, N, H) with [0] set; fills the states, gates and saved activations.

void lstm_forward(const at::Tensor& xp, const at::Tensor& U, const at::Tensor& hs,
                  const at::Tensor& cs, const at::Tensor& gates, const OptT& act_c,
                  const OptT& c_new, const OptT& hh_norm, const OptT& hh_rstd, const OptT& c_norm,
                  const OptT& c_rstd, const OptT& peephole, const OptT& ln_hh_w,
                  const OptT& ln_c_w, const OptT& ln_c_b, const OptT& u_h, const OptT& u_c,
                  const OptT& h_mask, bool cifg, int64_t activation) {
  for (auto* t : {&xp, &U, &hs, &cs, &gates}) check(*t, "lstm tensor");
  for (auto* t : {&act_c, &c_new, &hh_norm, &hh_rstd, &c_norm, &c_rstd, &peephole, &ln_hh_w,
                  &ln_c_w, &ln_c_b, &u_h, &u_c, &h_mask})
    check(*t, "lstm tensor");
  const int64_t T = xp.size(0), N = xp.size(1), H = U.size(1), G = U.size(0);
  TORCH_CHECK(G == (cifg ? 3 : 4) * H && xp.size(2) == G, "lstm_forward: shape mismatch");
  TORCH_CHECK(has(hh_norm) == has(c_norm), "layer norm buffers must come together");
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "lstm_forward", [&] {
    using T_ = scalar_t;
    std::vector<at::Tensor> keep;
    LstmArgs<T_> a{Dims{T, N, H, G, N * H}, xp.data_ptr<T_>(), U.data_ptr<T_>(), hs.data_ptr<T_>(),
                   cs.data_ptr<T_>(), gates.data_ptr<T_>(), ptr<T_>(act_c), ptr<T_>(c_new),
                   ptr<T_>(hh_norm), ptr<T_>(hh_rstd), ptr<T_>(c_norm), ptr<T_>(c_rstd),
                   nullptr, nullptr, nullptr, ptr<T_>(ln_hh_w), ptr<T_>(ln_c_w), ptr<T_>(ln_c_b),
                   Upd<T_>(u_h), Upd<T_>(u_c), ptr<T_>(h_mask), nullptr, nullptr};
    const T_* zero = zeros_row<T_>(keep, H, xp.options());
    const T_* p = ptr<T_>(peephole);
    a.p_i = p ? p : zero;
    a.p_f = p && !cifg ? p + H : zero;
    a.p_o = p ? p + (cifg ? 1 : 2) * H : zero;
    keep.push_back(at::empty({N, H}, xp.options()));
    a.row = keep.back().data_ptr<T_>();
    if (a.hmask) { keep.push_back(at::empty({N, H}, xp.options())); a.hm = keep.back().data_ptr<T_>(); }
    TORCH_CHECK(activation == A_TANH || activation == A_SOFTSIGN, "LSTM activation: tanh or softsign");
    if (cifg) {
      if (activation == A_TANH) lstm_forward_impl<T_, true, A_TANH>(a);
      else lstm_forward_impl<T_, true, A_SOFTSIGN>(a);
    } else {
      if (activation == A_TANH) lstm_forward_impl<T_, false, A_TANH>(a);
      else lstm_forward_impl<T_, false, A_SOFTSIGN>(a);
    }
  });
}

// Backward: dout (T, N, H) already masked (or None), dhT, dcT (N, H). Fills dxp (and dhp,
// dc_read with layer norm); returns (dh0, dc0).
std::vector<at::Tensor> lstm_backward(
    const OptT& dout, const at::Tensor& dhT, const at::Tensor& dcT, const at::Tensor& U,
    const at::Tensor& hs, const at::Tensor& cs, const at::Tensor& gates, const OptT& act_c,
    const OptT& c_new, const OptT& hh_norm, const OptT& hh_rstd, const OptT& c_norm,
    const OptT& c_rstd, const OptT& peephole, const OptT& ln_hh_w, const OptT& ln_c_w,
    const OptT& ln_c_b, const OptT& u_h, const OptT& u_c, const OptT& h_mask,
    const at::Tensor& dxp, const OptT& dhp, const OptT& dc_read, bool cifg, int64_t activation) {
  for (auto* t : {&dhT, &dcT, &U, &hs, &cs, &gates, &dxp}) check(*t, "lstm tensor");
  for (auto* t : {&dout, &act_c, &c_new, &hh_norm, &hh_rstd, &c_norm, &c_rstd, &peephole,
                  &ln_hh_w, &ln_c_w, &ln_c_b, &u_h, &u_c, &h_mask, &dhp, &dc_read})
    check(*t, "lstm tensor");
  const int64_t T = gates.size(0), N = gates.size(1), H = U.size(1), G = U.size(0);
  auto o = gates.options();
  BackBufs bb(dhT, N, H, o, has(u_h) || has(h_mask), has(u_h));
  at::Tensor dc = dcT.clone();
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward", [&] {
    using T_ = scalar_t;
    std::vector<at::Tensor> keep;
    LstmArgs<T_> a{Dims{T, N, H, G, N * H}, nullptr, U.data_ptr<T_>(), hs.data_ptr<T_>(),
                   cs.data_ptr<T_>(), gates.data_ptr<T_>(), ptr<T_>(act_c), ptr<T_>(c_new),
                   ptr<T_>(hh_norm), ptr<T_>(hh_rstd), ptr<T_>(c_norm), ptr<T_>(c_rstd),
                   nullptr, nullptr, nullptr, ptr<T_>(ln_hh_w), ptr<T_>(ln_c_w), ptr<T_>(ln_c_b),
                   Upd<T_>(u_h), Upd<T_>(u_c), ptr<T_>(h_mask), nullptr, nullptr};
    const T_* zero = zeros_row<T_>(keep, H, o);
    const T_* p = ptr<T_>(peephole);
    a.p_i = p ? p : zero;
    a.p_f = p && !cifg ? p + H : zero;
    a.p_o = p ? p + (cifg ? 1 : 2) * H : zero;
    keep.push_back(at::empty({N, H}, o));
    a.row = keep.back().data_ptr<T_>();
    keep.push_back(at::empty({N, H}, o));
    LstmBack<T_> b{a, ptr<T_>(dout), dxp.data_ptr<T_>(), ptr<T_>(dhp), ptr<T_>(dc_read),
                   bb.dsh.data_ptr<T_>(), ptr<T_>(bb.dnh), dc.data_ptr<T_>(), ptr<T_>(bb.direct),
                   bb.gemm.data_ptr<T_>(), keep.back().data_ptr<T_>()};
    if (cifg) {
      if (activation == A_TANH) lstm_backward_impl<T_, true, A_TANH>(b);
      else lstm_backward_impl<T_, true, A_SOFTSIGN>(b);
    } else {
      if (activation == A_TANH) lstm_backward_impl<T_, false, A_TANH>(b);
      else lstm_backward_impl<T_, false, A_SOFTSIGN>(b);
    }
  });
  return {bb.dh0(h_mask), dc};
}

void gru_forward(const at::Tensor& xp, const at::Tensor& U, const at::Tensor& hs,
                 const at::Tensor& gates, const at::Tensor& rec, const OptT& b_hn,
                 const OptT& u_h, const OptT& h_mask, bool reset_after) {
  for (auto* t : {&xp, &U, &hs, &gates, &rec}) check(*t, "gru tensor");
  for (auto* t : {&b_hn, &u_h, &h_mask}) check(*t, "gru tensor");
  const int64_t T = xp.size(0), N = xp.size(1), H = U.size(1), G = U.size(0);
  TORCH_CHECK(G == 3 * H && xp.size(2) == G, "gru_forward: shape mismatch");
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "gru_forward", [&] {
    using T_ = scalar_t;
    at::Tensor hm = has(h_mask) ? at::empty({N, H}, xp.options()) : at::Tensor();
    GruArgs<T_> a{Dims{T, N, H, G, N * H}, xp.data_ptr<T_>(), U.data_ptr<T_>(), hs.data_ptr<T_>(),
                  gates.data_ptr<T_>(), rec.data_ptr<T_>(), ptr<T_>(b_hn), Upd<T_>(u_h),
                  ptr<T_>(h_mask), ptr<T_>(hm)};
    gru_forward_impl(a, reset_after);
  });
}

// Returns dh0; fills dxp and (reset_after) dh_n.
at::Tensor gru_backward(const OptT& dout, const at::Tensor& dhT, const at::Tensor& U,
                        const at::Tensor& hs, const at::Tensor& gates, const at::Tensor& rec,
                        const OptT& u_h, const OptT& h_mask, const at::Tensor& dxp,
                        const OptT& dh_n, bool reset_after) {
  for (auto* t : {&dhT, &U, &hs, &gates, &rec, &dxp}) check(*t, "gru tensor");
  for (auto* t : {&dout, &u_h, &h_mask, &dh_n}) check(*t, "gru tensor");
  TORCH_CHECK(!reset_after || has(dh_n), "gru_backward: reset_after needs dh_n");
  const int64_t T = gates.size(0), N = gates.size(1), H = U.size(1), G = U.size(0);
  auto o = gates.options();
  BackBufs bb(dhT, N, H, o, true, has(u_h));
  at::Tensor scratch = at::empty({N, G}, o);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_backward", [&] {
    using T_ = scalar_t;
    GruArgs<T_> a{Dims{T, N, H, G, N * H}, nullptr, U.data_ptr<T_>(), hs.data_ptr<T_>(),
                  gates.data_ptr<T_>(), rec.data_ptr<T_>(), nullptr, Upd<T_>(u_h),
                  ptr<T_>(h_mask), nullptr};
    GruBack<T_> b{a, ptr<T_>(dout), dxp.data_ptr<T_>(), ptr<T_>(dh_n), bb.dsh.data_ptr<T_>(),
                  ptr<T_>(bb.dnh), bb.direct.data_ptr<T_>(), bb.gemm.data_ptr<T_>(),
                  scratch.data_ptr<T_>()};
    gru_backward_impl(b, reset_after);
  });
  return bb.dh0(h_mask);
}

// hsave: (T, N, H) h̃_t, may be a view of hs[1:] (when every update is 0/1).
void rnn_forward(const at::Tensor& xp, const at::Tensor& U, const at::Tensor& hs,
                 const at::Tensor& hsave, const OptT& u_h, const OptT& h_mask, int64_t activation) {
  for (auto* t : {&xp, &U, &hs, &hsave}) check(*t, "rnn tensor");
  for (auto* t : {&u_h, &h_mask}) check(*t, "rnn tensor");
  const int64_t T = xp.size(0), N = xp.size(1), H = U.size(1);
  TORCH_CHECK(U.size(0) == H && xp.size(2) == H, "rnn_forward: shape mismatch");
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnn_forward", [&] {
    using T_ = scalar_t;
    at::Tensor hm = has(h_mask) ? at::empty({N, H}, xp.options()) : at::Tensor();
    DISPATCH_ACT(activation, A, [&] {
      rnn_forward_impl<T_, A>(Dims{T, N, H, H, N * H}, xp.data_ptr<T_>(), U.data_ptr<T_>(),
                              hs.data_ptr<T_>(), hsave.data_ptr<T_>(), Upd<T_>(u_h),
                              ptr<T_>(h_mask), ptr<T_>(hm));
    });
  });
}

at::Tensor rnn_backward(const OptT& dout, const at::Tensor& dhT, const at::Tensor& U,
                        const at::Tensor& hsave, const OptT& u_h, const OptT& h_mask,
                        const at::Tensor& dxp, int64_t activation) {
  for (auto* t : {&dhT, &U, &hsave, &dxp}) check(*t, "rnn tensor");
  for (auto* t : {&dout, &u_h, &h_mask}) check(*t, "rnn tensor");
  const int64_t T = dxp.size(0), N = dxp.size(1), H = U.size(1);
  auto o = dxp.options();
  BackBufs bb(dhT, N, H, o, has(u_h) || has(h_mask), has(u_h));
  AT_DISPATCH_FLOATING_TYPES(dxp.scalar_type(), "rnn_backward", [&] {
    using T_ = scalar_t;
    DISPATCH_ACT(activation, A, [&] {
      rnn_backward_impl<T_, A>(Dims{T, N, H, H, N * H}, U.data_ptr<T_>(), hsave.data_ptr<T_>(),
                               Upd<T_>(u_h), ptr<T_>(h_mask), ptr<T_>(dout), dxp.data_ptr<T_>(),
                               bb.dsh.data_ptr<T_>(), ptr<T_>(bb.dnh), ptr<T_>(bb.direct),
                               bb.gemm.data_ptr<T_>());
    });
  });
  return bb.dh0(h_mask);
}

bool direct_blas() { return blas().s != nullptr && blas().d != nullptr; }
bool packed_gemm() { return blas().pack != nullptr && g_use_packed; }
void set_packed_gemm(bool on) { g_use_packed = on; }
void set_row_parallel(bool on) { g_row_parallel = on; }

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward", &lstm_forward);
  m.def("lstm_backward", &lstm_backward);
  m.def("gru_forward", &gru_forward);
  m.def("gru_backward", &gru_backward);
  m.def("rnn_forward", &rnn_forward);
  m.def("rnn_backward", &rnn_backward);
  m.def("direct_blas", &direct_blas, "whether sgemm_/dgemm_ were found in the loaded BLAS");
  m.def("packed_gemm", &packed_gemm, "whether MKL packed GEMM serves float32 step GEMMs");
  m.def("set_packed_gemm", &set_packed_gemm, "switch packed GEMM (benchmarking)");
  m.def("set_row_parallel", &set_row_parallel, "switch per-thread row blocks (benchmarking)");
}
