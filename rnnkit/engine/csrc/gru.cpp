// GRU time loops, as rnnkit.cells.gru.GRUCell (forward_step / backward_step): gate blocks r, z,
// n; h_t = n + z ∘ (h_{t−1} − n). reset_after (n = tanh(x_n + r ∘ (U_n h + b_hn)), cuDNN's form)
// or reset_before (n = tanh(x_n + (r ∘ h) U_nᵀ)) is a template parameter: one loop for both.
#include "common.h"

namespace rnnkit {
namespace {

// What gru_forward saves for gru_backward (and GRUCell.recurrent_grads reads).
template <typename B> struct GruSaved {
  B gates;  // (T, N, G) r, z, n after their nonlinearities
  B rec;    // (T, N, H) U_n h_{t−1} + b_hn (reset_after) or r ∘ h_{t−1} (reset_before)
  template <typename F, typename... S> static void each(const F& f, S&... s) {
    f("gates", s.gates...); f("rec", s.rec...);
  }
  static GruSaved allocate(const at::Tensor& xp, int64_t H) {
    return {at::empty_like(xp), at::empty({xp.size(0), xp.size(1), H}, xp.options())};
  }
};

// What gru_backward fills for GRUCell.recurrent_grads.
template <typename B> struct GruGrads {
  B dxp;   // (T, N, G) ∂L/∂(gate pre-activations)
  B dh_n;  // (T, N, H) ∂L/∂(U_n h_{t−1} + b_hn) (reset_after only)
  template <typename F, typename... S> static void each(const F& f, S&... s) {
    f("dxp", s.dxp...); f("dh_n", s.dh_n...);
  }
  static GruGrads allocate(const at::Tensor& gates, int64_t H, bool reset_after) {
    GruGrads g;
    g.dxp = at::empty_like(gates);
    if (reset_after) g.dh_n = at::empty({gates.size(0), gates.size(1), H}, gates.options());
    return g;
  }
};

// The loops' view of one call (forward or backward).
template <typename T> struct GruArgs {
  Recurrence<T> r;
  const T* xp;    // (T, N, G) input projections (forward only)
  GruSaved<T*> s;
  const T* b_hn;  // (H) or null (forward only)
};

template <typename F>
void dispatch_gru(const at::Tensor& like, bool reset_after, const F& fn) {
  AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "gru", [&] {
    using T_ = scalar_t;
    with_flag(reset_after, [&](auto RA) { fn(T_(0), RA); });
  });
}

// ---------------------------------------------------------------- forward
template <typename T, bool RA>
void gru_forward_loop(const GruArgs<T>& a) {
  const Recurrence<T>& rc = a.r;
  const Dims& d = rc.d;
  const int64_t H = d.H, G = d.G, N = d.N, NH = d.NH;
  const RowBlocks rb(N);
  // reset_after: U h for all three blocks at once; reset_before: U_rz h, then (r ∘ h) U_nᵀ
  StepGemm<T> mm_all(true, rb.chunk, RA ? G : 2 * H, H, rc.U, H);
  std::optional<StepGemm<T>> mm_n;
  if constexpr (!RA) mm_n.emplace(true, rb.chunk, H, H, rc.U + 2 * H * H, H);
  rb.run([&](int64_t r0, int64_t r1) {
    rc.mask_initial(r0, r1);
    for (int64_t t = 0; t < d.T; ++t) {
      T* gt = a.s.gates + t * N * G;
      mm_all.run(r1 - r0, rc.h_in(t, r0), H, T(0), gt + r0 * G, G);
      for (int64_t n = r0; n < r1; ++n) {
        const T* x = a.xp + (t * N + n) * G;
        T* g = gt + n * G;
        T* rec = a.s.rec + t * NH + n * H;
#pragma omp simd
        for (int64_t j = 0; j < 2 * H; ++j) g[j] = rk_sigmoid(x[j] + g[j]);
        if constexpr (RA) {
          const T* gr = g;
          T* gn = g + 2 * H;
          if (a.b_hn) for (int64_t j = 0; j < H; ++j) rec[j] = gn[j] + a.b_hn[j];
          else std::memcpy(rec, gn, sizeof(T) * H);
          for (int64_t j = 0; j < H; ++j) gn[j] = x[2 * H + j] + gr[j] * rec[j];
        } else {
          const T* hin = rc.h_in(t, n);
          for (int64_t j = 0; j < H; ++j) rec[j] = g[j] * hin[j];
        }
      }
      if constexpr (!RA)  // n pre-activation, less x_n: (r ∘ h_in) U_nᵀ
        mm_n->run(r1 - r0, a.s.rec + t * NH + r0 * H, H, T(0), gt + r0 * G + 2 * H, G);
      for (int64_t n = r0; n < r1; ++n) {
        const T* x = a.xp + (t * N + n) * G;
        T* g = gt + n * G;
        const T* z = g + H;
        T* gn = g + 2 * H;
        const T* hp = rc.hs + t * NH + n * H;
        T* hn = rc.hs + (t + 1) * NH + n * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          T pre;
          if constexpr (RA) pre = gn[j]; else pre = gn[j] + x[2 * H + j];
          const T nv = rk_tanh(pre);
          gn[j] = nv;
          hn[j] = nv + z[j] * (hp[j] - nv);
        }
        rc.finish_row(t, n);
      }
    }
  });
}

// ---------------------------------------------------------------- backward
template <typename T> struct GruBack {
  GruArgs<T> f;
  GruGrads<T*> g;
  const T* dout;  // (T, N, H) already masked, or null
  T* dsh; T* dnh; T* direct; T* gemm;  // as BackBufs
  T* scratch;  // (N, G)
};

template <typename T, bool RA>
void gru_backward_loop(const GruBack<T>& b) {
  const GruArgs<T>& a = b.f;
  const Recurrence<T>& rc = a.r;
  const Dims& d = rc.d;
  const int64_t H = d.H, G = d.G, N = d.N, NH = d.NH;
  const RowBlocks rb(N);
  // reset_after: [d_r, d_z, dh_n] @ U (one GEMM). reset_before: d_n @ U_n, then [d_r, d_z] @ U_rz.
  StepGemm<T> mm_a(false, rb.chunk, H, RA ? G : H, RA ? rc.U : rc.U + 2 * H * H, H);
  std::optional<StepGemm<T>> mm_rz;
  if constexpr (!RA) mm_rz.emplace(false, rb.chunk, H, 2 * H, rc.U, H);
  rb.run([&](int64_t r0, int64_t r1) {
    for (int64_t t = d.T - 1; t >= 0; --t) {
      for (int64_t n = r0; n < r1; ++n) {
        const int64_t r = n * H;
        T* dsh = b.dsh + r;
        assemble_dh(dsh, b.direct + r, b.gemm + r, rc.hmask ? rc.hmask + r : nullptr,
                    b.dout ? b.dout + t * NH + r : nullptr, H);
        const T* dh = dsh;
        T* dir = b.direct + r;
        if (rc.uh) { split_row(dsh, b.dnh + r, dir, rc.uh, t, n, H); dh = b.dnh + r; }
        else std::memset(dir, 0, sizeof(T) * H);
        const T* g = a.s.gates + (t * N + n) * G;
        const T *gr = g, *gz = g + H, *gn = g + 2 * H;
        const T* hp = rc.hs + t * NH + r;
        T* dx = b.g.dxp + (t * N + n) * G;
        T* s = b.scratch + n * G;
        const T* rec = a.s.rec + t * NH + r;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const T z = gz[j], nv = gn[j];
          const T dz = dh[j] * (hp[j] - nv) * z * (T(1) - z);
          const T dn = dh[j] * (T(1) - z) * (T(1) - nv * nv);
          dx[H + j] = dz;
          dx[2 * H + j] = dn;
          dir[j] += dh[j] * z;
          if constexpr (RA) {
            const T rr = gr[j];
            const T dr = dn * rec[j] * rr * (T(1) - rr);
            dx[j] = dr;
            s[j] = dr;
            s[H + j] = dz;
            s[2 * H + j] = dn * rr;
          }
        }
        if constexpr (RA) std::memcpy(b.g.dh_n + t * NH + r, s + 2 * H, sizeof(T) * H);
      }
      if constexpr (RA) {
        mm_a.run(r1 - r0, b.scratch + r0 * G, G, T(0), b.gemm + r0 * H, H);
      } else {
        // d_rh = d_n U_n (into scratch[:, :H], ld G)
        mm_a.run(r1 - r0, b.g.dxp + (t * N + r0) * G + 2 * H, G, T(0), b.scratch + r0 * G, G);
        for (int64_t n = r0; n < r1; ++n) {
          const int64_t r = n * H;
          const T* g = a.s.gates + (t * N + n) * G;
          const T* drh = b.scratch + n * G;
          const T* hp = rc.hs + t * NH + r;
          const T* m = rc.hmask ? rc.hmask + r : nullptr;
          T* dx = b.g.dxp + (t * N + n) * G;
          T* gm = b.gemm + r;
          for (int64_t j = 0; j < H; ++j) {
            const T rr = g[j];
            const T hin = m ? hp[j] * m[j] : hp[j];
            dx[j] = drh[j] * hin * rr * (T(1) - rr);
            gm[j] = drh[j] * rr;
          }
        }
        mm_rz->run(r1 - r0, b.g.dxp + (t * N + r0) * G, G, T(1), b.gemm + r0 * H, H);
      }
    }
  });
}

// ---------------------------------------------------------------- entry points
// Forward: fills h (T+1, N, H; [0] set by the caller) and returns the saved buffers.
// binary_updates is accepted for a call uniform across cells: a GRU saves nothing that the
// states could stand in for.
Buffers gru_forward(const at::Tensor& x_proj, const at::Tensor& h, const at::Tensor& weight_hh,
                    const OptT& bias_hn, const OptT& u_h, const OptT& h_mask, bool reset_after,
                    bool /*binary_updates*/) {
  for (auto* t : {&x_proj, &h, &weight_hh}) check(*t, "gru tensor");
  for (auto* t : {&bias_hn, &u_h, &h_mask}) check(*t, "gru tensor");
  TORCH_CHECK(weight_hh.size(0) == 3 * h.size(2) && x_proj.size(2) == weight_hh.size(0) &&
              h.size(0) == x_proj.size(0) + 1, "gru_forward: shape mismatch");
  auto saved = GruSaved<at::Tensor>::allocate(x_proj, h.size(2));
  dispatch_gru(x_proj, reset_after, [&](auto t, auto RA) {
    using T = decltype(t);
    at::Tensor hm;
    GruArgs<T> a{Recurrence<T>::make(h, weight_hh, u_h, h_mask, &hm), x_proj.data_ptr<T>(),
                 pointers<T>(saved), ptr<T>(bias_hn)};
    gru_forward_loop<T, decltype(RA)::value>(a);
  });
  return to_dict(saved);
}

// Backward: d_output (T, N, H) already masked (or None), dh_final (N, H). Returns the gradient
// buffers and [∂L/∂h_0]. bias_hn is accepted for a call uniform with the forward: its effect is
// in the saved rec.
std::tuple<Buffers, std::vector<at::Tensor>> gru_backward(
    const Buffers& saved_dict, const OptT& d_output, const at::Tensor& dh_final,
    const at::Tensor& h, const at::Tensor& weight_hh, const OptT& /*bias_hn*/, const OptT& u_h,
    const OptT& h_mask, bool reset_after) {
  for (auto* t : {&dh_final, &h, &weight_hh}) check(*t, "gru tensor");
  for (auto* t : {&d_output, &u_h, &h_mask}) check(*t, "gru tensor");
  auto saved = from_dict<GruSaved>(saved_dict);
  TORCH_CHECK(saved.gates.defined() && saved.rec.defined(), "gru_backward: saved buffers missing");
  TORCH_CHECK(weight_hh.size(0) == 3 * h.size(2), "gru_backward: weight_hh must be (3H, H)");
  auto grads = GruGrads<at::Tensor>::allocate(saved.gates, h.size(2), reset_after);
  BackBufs bb(dh_final, true, has(u_h));
  at::Tensor scratch = at::empty({h.size(1), weight_hh.size(0)}, h.options());
  dispatch_gru(saved.gates, reset_after, [&](auto t, auto RA) {
    using T = decltype(t);
    GruArgs<T> a{Recurrence<T>::make(h, weight_hh, u_h, h_mask, nullptr), nullptr,
                 pointers<T>(saved), nullptr};
    GruBack<T> b{a, pointers<T>(grads),
                 ptr<T>(d_output), bb.dsh.data_ptr<T>(), ptr<T>(bb.dnh), bb.direct.data_ptr<T>(),
                 bb.gemm.data_ptr<T>(), scratch.data_ptr<T>()};
    gru_backward_loop<T, decltype(RA)::value>(b);
  });
  return {to_dict(grads), {bb.dh0(h_mask)}};
}

}  // namespace

void init_gru(py::module_& m) {
  m.def("gru_forward", &gru_forward,
        "GRU forward loop: fills h (T+1, N, H) from its [0]; returns the saved buffers",
        py::arg("x_proj"), py::arg("h"), py::arg("weight_hh"), py::arg("bias_hn") = py::none(),
        py::arg("u_h") = py::none(), py::arg("h_mask") = py::none(),
        py::arg("reset_after") = true, py::arg("binary_updates") = false);
  m.def("gru_backward", &gru_backward,
        "GRU backward loop: returns the gradient buffers and [dh0]",
        py::arg("saved"), py::arg("d_output"), py::arg("dh_final"), py::arg("h"),
        py::arg("weight_hh"), py::arg("bias_hn") = py::none(), py::arg("u_h") = py::none(),
        py::arg("h_mask") = py::none(), py::arg("reset_after") = true);
}

}  // namespace rnnkit
