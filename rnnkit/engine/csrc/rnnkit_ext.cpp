// rnnkit compiled time loops (CPU). See rnnkit/engine/_ext.py for how this is built and loaded.
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
// float: branch-free polynomial exp (Cephes expf, ~1 ulp) so loops auto-vectorise.
// double: libm, exact to what torch computes in float64 (gradcheck runs there).
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

template <typename T> RK_INLINE T rk_sigmoid(T x) { return T(1) / (T(1) + rk_exp(-x)); }
RK_INLINE float rk_tanh(float x) {
  float ax = x < 0.f ? -x : x;
  float e = rk_exp(-2.f * ax);
  float t = (1.f - e) / (1.f + e);
  return x < 0.f ? -t : t;
}
RK_INLINE double rk_tanh(double x) { return std::tanh(x); }

// ---------------------------------------------------------------- LSTM kernels
// gates rows: [i | f | g | o], each H wide; in: pre-activations, out: activations.
template <typename T>
RK_INLINE void lstm_fwd_row(T* __restrict g, const T* __restrict cp, T* __restrict c,
                            T* __restrict h, int64_t H) {
  T* gi = g;
  T* gf = g + H;
  T* gg = g + 2 * H;
  T* go = g + 3 * H;
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    T i = rk_sigmoid(gi[j]);
    T f = rk_sigmoid(gf[j]);
    T gv = rk_tanh(gg[j]);
    T o = rk_sigmoid(go[j]);
    T cn = f * cp[j] + i * gv;
    gi[j] = i; gf[j] = f; gg[j] = gv; go[j] = o;
    c[j] = cn;
    h[j] = o * rk_tanh(cn);
  }
}

template <typename T>
RK_INLINE void lstm_bwd_row(const T* __restrict g, const T* __restrict cp, const T* __restrict c,
                            const T* __restrict dout, const T* __restrict dhn, T* __restrict dc,
                            T* __restrict dp, int64_t H) {
  const T* gi = g;
  const T* gf = g + H;
  const T* gg = g + 2 * H;
  const T* go = g + 3 * H;
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    T dh = dhn[j] + (dout ? dout[j] : T(0));
    T tc = rk_tanh(c[j]);
    T i = gi[j], f = gf[j], gv = gg[j], o = go[j];
    T dct = dc[j] + dh * o * (T(1) - tc * tc);
    dp[j] = dct * gv * i * (T(1) - i);
    dp[H + j] = dct * cp[j] * f * (T(1) - f);
    dp[2 * H + j] = dct * i * (T(1) - gv * gv);
    dp[3 * H + j] = dh * tc * o * (T(1) - o);
    dc[j] = dct * f;
  }
}

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#define RK_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RK_CLONES
#endif

RK_CLONES void lstm_fwd_rows_f(float* g, const float* cp, float* c, float* h, int64_t r0,
                               int64_t r1, int64_t H) {
  for (int64_t n = r0; n < r1; ++n)
    lstm_fwd_row(g + n * 4 * H, cp + n * H, c + n * H, h + n * H, H);
}
void lstm_fwd_rows_d(double* g, const double* cp, double* c, double* h, int64_t r0, int64_t r1,
                     int64_t H) {
  for (int64_t n = r0; n < r1; ++n)
    lstm_fwd_row(g + n * 4 * H, cp + n * H, c + n * H, h + n * H, H);
}
RK_CLONES void lstm_bwd_rows_f(const float* g, const float* cp, const float* c, const float* dout,
                               const float* dhn, float* dc, float* dp, int64_t r0, int64_t r1,
                               int64_t H) {
  for (int64_t n = r0; n < r1; ++n)
    lstm_bwd_row(g + n * 4 * H, cp + n * H, c + n * H, dout ? dout + n * H : nullptr,
                 dhn + n * H, dc + n * H, dp + n * 4 * H, H);
}
void lstm_bwd_rows_d(const double* g, const double* cp, const double* c, const double* dout,
                     const double* dhn, double* dc, double* dp, int64_t r0, int64_t r1,
                     int64_t H) {
  for (int64_t n = r0; n < r1; ++n)
    lstm_bwd_row(g + n * 4 * H, cp + n * H, c + n * H, dout ? dout + n * H : nullptr,
                 dhn + n * H, dc + n * H, dp + n * 4 * H, H);
}
inline void fwd_rows(float* g, const float* cp, float* c, float* h, int64_t a, int64_t b, int64_t H) { lstm_fwd_rows_f(g, cp, c, h, a, b, H); }
inline void fwd_rows(double* g, const double* cp, double* c, double* h, int64_t a, int64_t b, int64_t H) { lstm_fwd_rows_d(g, cp, c, h, a, b, H); }
inline void bwd_rows(const float* g, const float* cp, const float* c, const float* dout, const float* dhn, float* dc, float* dp, int64_t a, int64_t b, int64_t H) { lstm_bwd_rows_f(g, cp, c, dout, dhn, dc, dp, a, b, H); }
inline void bwd_rows(const double* g, const double* cp, const double* c, const double* dout, const double* dhn, double* dc, double* dp, int64_t a, int64_t b, int64_t H) { lstm_bwd_rows_d(g, cp, c, dout, dhn, dc, dp, a, b, H); }


void check_cpu(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

}  // namespace

// xp: (T, N, 4H) = x @ W^T + b, CONSUMED IN PLACE: on return it holds the activated gates.
// Returns (gates (T,N,4H) [same storage as xp], c (T+1,N,H), h (T+1,N,H)); c[0]=c0, h[0]=h0.
std::vector<at::Tensor> lstm_forward(at::Tensor xp, const at::Tensor& U, const at::Tensor& h0,
                                     const at::Tensor& c0) {
  check_cpu(xp, "xp"); check_cpu(U, "U"); check_cpu(h0, "h0"); check_cpu(c0, "c0");
  const int64_t T = xp.size(0), N = xp.size(1), H = U.size(1);
  TORCH_CHECK(xp.size(2) == 4 * H && U.size(0) == 4 * H, "shape mismatch");
  auto hs = at::empty({T + 1, N, H}, xp.options());
  auto cs = at::empty({T + 1, N, H}, xp.options());
  hs[0].copy_(h0);
  cs[0].copy_(c0);
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "lstm_forward", [&] {
    scalar_t* g = xp.data_ptr<scalar_t>();
    scalar_t* hp = hs.data_ptr<scalar_t>();
    scalar_t* cp = cs.data_ptr<scalar_t>();
    const scalar_t* u = U.data_ptr<scalar_t>();
    const int64_t G = 4 * H, NH = N * H;
    const int64_t P = row_blocks(N), chunk = (N + P - 1) / P;
    StepGemm<scalar_t> mm(true, chunk, G, H, u, H, xp.options());
    for_row_blocks(N, P, [&](int64_t r0, int64_t r1) {
      for (int64_t t = 0; t < T; ++t) {
        scalar_t* gt = g + t * N * G;
        mm.run(r1 - r0, hp + t * NH + r0 * H, H, scalar_t(1), gt + r0 * G, G);
        fwd_rows(gt, cp + t * NH, cp + (t + 1) * NH, hp + (t + 1) * NH, r0, r1, H);
      }
    });
  });
  return {xp, cs, hs};
}

// dout: (T,N,H) or undefined; dhT, dcT: (N,H). Returns (dpre (T,N,4H), dh0, dc0).
std::vector<at::Tensor> lstm_backward(const c10::optional<at::Tensor>& dout_,
                                      const c10::optional<at::Tensor>& dhT,
                                      const c10::optional<at::Tensor>& dcT, const at::Tensor& U,
                                      const at::Tensor& gates, const at::Tensor& cs) {
  check_cpu(U, "U"); check_cpu(gates, "gates"); check_cpu(cs, "cs");
  const int64_t T = gates.size(0), N = gates.size(1), H = U.size(1);
  at::Tensor dout_c;
  if (dout_.has_value() && dout_->defined()) dout_c = dout_->contiguous();
  auto dpre = at::empty_like(gates);
  auto dh = (dhT.has_value() && dhT->defined()) ? dhT->contiguous().clone()
                                                : at::zeros({N, H}, gates.options());
  auto dc = (dcT.has_value() && dcT->defined()) ? dcT->contiguous().clone()
                                                : at::zeros({N, H}, gates.options());
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward", [&] {
    const scalar_t* g = gates.data_ptr<scalar_t>();
    const scalar_t* c = cs.data_ptr<scalar_t>();
    const scalar_t* u = U.data_ptr<scalar_t>();
    const scalar_t* d = dout_c.defined() ? dout_c.data_ptr<scalar_t>() : nullptr;
    scalar_t* dhp = dh.data_ptr<scalar_t>();
    scalar_t* dcp = dc.data_ptr<scalar_t>();
    scalar_t* dp = dpre.data_ptr<scalar_t>();
    const int64_t G = 4 * H, NH = N * H;
    const int64_t P = row_blocks(N), chunk = (N + P - 1) / P;
    StepGemm<scalar_t> mm(false, chunk, H, G, u, H, gates.options());
    for_row_blocks(N, P, [&](int64_t r0, int64_t r1) {
      for (int64_t t = T - 1; t >= 0; --t) {
        scalar_t* dpt = dp + t * N * G;
        bwd_rows(g + t * N * G, c + t * NH, c + (t + 1) * NH, d ? d + t * NH : nullptr, dhp, dcp,
                 dpt, r0, r1, H);
        // dh_{t-1} = dpre_t @ U  (rows r0..r1)
        mm.run(r1 - r0, dpt + r0 * G, G, scalar_t(0), dhp + r0 * H, H);
      }
    });
  });
  return {dpre, dh, dc};
}

bool direct_blas() { return blas().s != nullptr && blas().d != nullptr; }
bool packed_gemm() { return blas().pack != nullptr && g_use_packed; }
void set_packed_gemm(bool on) { g_use_packed = on; }
void set_row_parallel(bool on) { g_row_parallel = on; }

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward", &lstm_forward, "LSTM forward time loop");
  m.def("lstm_backward", &lstm_backward, "LSTM backward time loop");
  m.def("direct_blas", &direct_blas, "whether sgemm_/dgemm_ were found");
  m.def("packed_gemm", &packed_gemm, "whether MKL packed GEMM is used for float32 step GEMMs");
  m.def("set_packed_gemm", &set_packed_gemm, "enable/disable packed GEMM (benchmarking)");
  m.def("set_row_parallel", &set_row_parallel, "enable/disable per-thread row blocks (benchmarking)");
}
