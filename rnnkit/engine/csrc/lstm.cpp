// LSTM time loops, as rnnkit.cells.lstm.LSTMCell (forward_step / backward_step): gate blocks
// i, f, g, o (CIFG: i, g, o, with f = 1 − i); optional peepholes p_i, [p_f,] p_o; optional layer
// norm of W x_t (x_proj holds W x_t), of U h_{t−1} and of c_t. CIFG, the activation and layer
// norm are template parameters: one loop, instantiated per variant.
#include "common.h"

namespace rnnkit {
namespace {

// What lstm_forward saves for lstm_backward (and LSTMCell.recurrent_grads reads).
template <typename B> struct LstmSaved {
  B gates;    // (T, N, G) i, [f,] g, o after their nonlinearities
  B act_c;    // (T, N, H) act(c_read), h_t = o ∘ act_c; only when some state update is
              //   fractional (eval-mode zoneout): else the backward recomputes it from the states
  B c_new;    // (T, N, H) c̃_t, which the output gate's peephole reads (peephole only)
  B x_proj;   // (T, N, G) W x_t: the forward's input itself, not a copy (layer norm only)
  B ih_mean;  // (T, N, 1) the mean of W x_t (layer norm only): LN(W x_t) is recomputed from them
  B ih_rstd;  // (T, N, 1) its 1/σ
  B hh_norm;  // (T, N, G) LN(U h_{t−1}) before its gain (layer norm only)
  B hh_rstd;  // (T, N, 1) its 1/σ
  B c_norm;   // (T, N, H) LN(c̃_t) before its gain and bias (layer norm; only when act_c is
              //   saved: else the backward recomputes it from the states, the mean and 1/σ)
  B c_mean;   // (T, N, 1) the mean of c̃_t (layer norm only)
  B c_rstd;   // (T, N, 1) its 1/σ
  template <typename F, typename... S> static void each(const F& f, S&... s) {
    f("gates", s.gates...); f("act_c", s.act_c...); f("c_new", s.c_new...);
    f("x_proj", s.x_proj...); f("ih_mean", s.ih_mean...); f("ih_rstd", s.ih_rstd...);
    f("hh_norm", s.hh_norm...); f("hh_rstd", s.hh_rstd...);
    f("c_norm", s.c_norm...); f("c_mean", s.c_mean...); f("c_rstd", s.c_rstd...);
  }
  static LstmSaved allocate(const at::Tensor& xp, int64_t H, bool peephole, bool layer_norm,
                            bool binary_updates) {
    const int64_t T = xp.size(0), N = xp.size(1);
    const auto o = xp.options();
    LstmSaved s;
    s.gates = at::empty_like(xp);
    if (!binary_updates) s.act_c = at::empty({T, N, H}, o);
    if (peephole) s.c_new = at::empty({T, N, H}, o);
    if (layer_norm) {
      s.x_proj = xp;
      s.ih_mean = at::empty({T, N, 1}, o);
      s.ih_rstd = at::empty({T, N, 1}, o);
      s.hh_norm = at::empty_like(xp);
      s.hh_rstd = at::empty({T, N, 1}, o);
      if (!binary_updates) s.c_norm = at::empty({T, N, H}, o);
      s.c_mean = at::empty({T, N, 1}, o);
      s.c_rstd = at::empty({T, N, 1}, o);
    }
    return s;
  }
};

// What lstm_backward fills for LSTMCell.recurrent_grads; dpre is ∂L/∂(gate pre-activations).
// The 1-D ones are summed over steps and rows by the loop (BlockSums).
template <typename B> struct LstmGrads {
  B dxp;              // (T, N, G) ∂L/∂x_proj: dpre, or with layer norm dpre through LN(W x)
  B dhp;              // (T, N, G) ∂L/∂(U h_{t−1}), dpre through its layer norm (layer norm only)
  B weight_peephole;  // (G − H) ∂L/∂p = Σ_t,n dpre_i ∘ c_{t−1}, [dpre_f ∘ c_{t−1},] dpre_o ∘ c̃_t
  B ln_ih_weight;     // (G) ∂L/∂γ_x = Σ_t,n dpre ∘ LN(W x_t) (layer norm only)
  B ln_ih_bias;       // (G) ∂L/∂b = Σ_t,n dpre (layer norm only)
  B ln_hh_weight;     // (G) ∂L/∂γ_h = Σ_t,n dpre ∘ LN(U h_{t−1}) (layer norm only)
  B ln_cell_weight;   // (H) ∂L/∂γ_c = Σ_t,n ∂L/∂c_read ∘ LN(c̃_t) (layer norm only)
  B ln_cell_bias;     // (H) ∂L/∂β_c = Σ_t,n ∂L/∂c_read (layer norm only)
  template <typename F, typename... S> static void each(const F& f, S&... s) {
    f("dxp", s.dxp...); f("dhp", s.dhp...); f("weight_peephole", s.weight_peephole...);
    f("ln_ih_weight", s.ln_ih_weight...); f("ln_ih_bias", s.ln_ih_bias...);
    f("ln_hh_weight", s.ln_hh_weight...);
    f("ln_cell_weight", s.ln_cell_weight...); f("ln_cell_bias", s.ln_cell_bias...);
  }
  // dhp_buffer: where to put dhp (the caller's reusable scratch), else allocated here.
  static LstmGrads allocate(const at::Tensor& gates, int64_t H, bool peephole, bool layer_norm,
                            const OptT& dhp_buffer) {
    const int64_t G = gates.size(2);
    const auto o = gates.options();
    LstmGrads g;
    g.dxp = at::empty_like(gates);
    if (peephole) g.weight_peephole = at::empty({G - H}, o);
    if (layer_norm) {
      g.dhp = has(dhp_buffer) ? *dhp_buffer : at::empty_like(gates);
      TORCH_CHECK(g.dhp.sizes() == gates.sizes(), "lstm_backward: dhp must be shaped as the gates");
      g.ln_ih_weight = at::empty({G}, o);
      g.ln_ih_bias = at::empty({G}, o);
      g.ln_hh_weight = at::empty({G}, o);
      g.ln_cell_weight = at::empty({H}, o);
      g.ln_cell_bias = at::empty({H}, o);
    }
    return g;
  }
};

// The recurrent parameters, by their names in LSTMCell.recurrent_names.
struct LstmWeights {
  at::Tensor weight_hh;                             // (G, H)
  OptT weight_peephole;                             // (G − H) p_i, [p_f,] p_o
  OptT ln_ih_weight, ln_ih_bias, ln_hh_weight;      // (G) each
  OptT ln_cell_weight, ln_cell_bias;                // (H) each
  bool layer_norm() const { return has(ln_hh_weight); }
  void check_all() const {
    check(weight_hh, "weight_hh");
    check(weight_peephole, "weight_peephole");
    for (const OptT* t : {&ln_ih_weight, &ln_ih_bias, &ln_hh_weight, &ln_cell_weight, &ln_cell_bias}) {
      check(*t, "layer norm weight");
      TORCH_CHECK(has(*t) == layer_norm(), "layer norm weights must come together");
    }
  }
};

// The loops' view of one call: forward (x_proj given) or backward (x_proj None).
template <typename T> struct LstmArgs {
  Recurrence<T> r;
  const T* xp;  // (T, N, G) input projections (forward only)
  T* cs;        // (T+1, N, H) c_t, [0] = initial state
  LstmSaved<T*> s;
  const T *p_i, *p_f, *p_o;  // peephole rows, or a zero row when absent: one loop serves both
  const T *ln_ih_w, *ln_ih_b, *ln_hh_w, *ln_c_w, *ln_c_b;
  Upd<T> uc;
  T* row;  // (N, H) scratch
};

template <typename T>
LstmArgs<T> lstm_args(const OptT& x_proj, const at::Tensor& h, const at::Tensor& c,
                      LstmSaved<at::Tensor>& saved, const LstmWeights& w, const OptT& u_h,
                      const OptT& u_c, const OptT& h_mask, bool cifg,
                      std::vector<at::Tensor>& keep) {
  const int64_t N = h.size(1), H = h.size(2);
  TORCH_CHECK(w.weight_hh.size(0) == (cifg ? 3 : 4) * H, "lstm: weight_hh must be (G, H)");
  auto scratch = [&](int64_t size) {
    keep.push_back(at::zeros({size}, h.options()));
    return keep.back().data_ptr<T>();
  };
  LstmArgs<T> a{};
  at::Tensor hm;
  a.r = Recurrence<T>::make(h, w.weight_hh, u_h, h_mask, has(x_proj) ? &hm : nullptr);
  keep.push_back(hm);
  a.s = pointers<T>(saved);
  a.xp = has(x_proj) ? ptr<T>(x_proj) : a.s.x_proj;
  a.cs = c.data_ptr<T>();
  const T* zero = scratch(H);
  const T* p = ptr<T>(w.weight_peephole);
  a.p_i = p ? p : zero;
  a.p_f = p && !cifg ? p + H : zero;
  a.p_o = p ? p + (cifg ? 1 : 2) * H : zero;
  a.ln_ih_w = ptr<T>(w.ln_ih_weight);
  a.ln_ih_b = ptr<T>(w.ln_ih_bias);
  a.ln_hh_w = ptr<T>(w.ln_hh_weight);
  a.ln_c_w = ptr<T>(w.ln_cell_weight);
  a.ln_c_b = ptr<T>(w.ln_cell_bias);
  a.uc = Upd<T>(u_c);
  a.row = scratch(N * H);
  return a;
}

// Runs fn(T-tag, CIFG-tag, A-tag, LN-tag) for the dtype of `like` and the cell's switches.
template <typename F>
void dispatch_lstm(const at::Tensor& like, bool cifg, const std::string& activation,
                   bool layer_norm, const F& fn) {
  AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "lstm", [&] {
    using T_ = scalar_t;
    with_flag(cifg, [&](auto CIFG) {
      with_activation<A_TANH, A_SOFTSIGN>(activation, [&](auto A) {
        with_flag(layer_norm, [&](auto LN) { fn(T_(0), CIFG, A, LN); });
      });
    });
  });
}

// ---------------------------------------------------------------- forward
template <typename T, bool CIFG, int A, bool LN>
RK_INLINE void lstm_fwd_row(const LstmArgs<T>& a, int64_t t, int64_t n) {
  const Dims& d = a.r.d;
  const int64_t H = d.H, G = d.G, NH = d.NH, tn = t * d.N + n;
  const T* x = a.xp + tn * G;  // W x_t (+ b without layer norm)
  T* g = a.s.gates + tn * G;  // holds U h on entry
  const T* cp = a.cs + t * NH + n * H;
  T* cn = a.cs + (t + 1) * NH + n * H;
  T* hn = a.r.hs + (t + 1) * NH + n * H;
  T* ac = a.s.act_c ? a.s.act_c + t * NH + n * H : a.row + n * H;
  if constexpr (LN) {  // pre = γ_x ∘ LN(W x) + b + γ_h ∘ LN(U h)
    T* hnorm = a.s.hh_norm + tn * G;
    T mx, mh;
    const T rx = a.s.ih_rstd[tn] = ln_stats(x, G, mx);
    const T rh = a.s.hh_rstd[tn] = ln_stats(g, G, mh);
    a.s.ih_mean[tn] = mx;
#pragma omp simd
    for (int64_t j = 0; j < G; ++j) {
      const T nh = (g[j] - mh) * rh;
      hnorm[j] = nh;
      g[j] = a.ln_ih_w[j] * ((x[j] - mx) * rx) + a.ln_ih_b[j] + a.ln_hh_w[j] * nh;
    }
  } else {
#pragma omp simd
    for (int64_t j = 0; j < G; ++j) g[j] += x[j];
  }
  T* gi = g;
  T* gf = g + H;
  T* gg = g + (CIFG ? 1 : 2) * H;
  T* go = g + (CIFG ? 2 : 3) * H;
  const T *pi = a.p_i, *pf = a.p_f, *po = a.p_o;
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
    if constexpr (!LN) {  // c_read = c̃_t
      const T acv = act<A>(c);
      ac[j] = acv;
      hn[j] = o * acv;
    }
  }
  if constexpr (LN) {  // c_read = γ_c ∘ LN(c̃_t) + β_c, over the whole row
    T mc;
    const T rc = a.s.c_rstd[tn] = ln_stats(cn, H, mc);
    a.s.c_mean[tn] = mc;
    T* cnorm = a.s.c_norm ? a.s.c_norm + t * NH + n * H : nullptr;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T nv = (cn[j] - mc) * rc;
      if (cnorm) cnorm[j] = nv;
      const T acv = act<A>(a.ln_c_w[j] * nv + a.ln_c_b[j]);
      ac[j] = acv;
      hn[j] = go[j] * acv;
    }
  }
  if (a.s.c_new) std::memcpy(a.s.c_new + t * NH + n * H, cn, sizeof(T) * H);
  if (a.uc) blend_row(cn, cp, a.uc, t, n, H);
  a.r.finish_row(t, n);
}

template <typename T, bool CIFG, int A, bool LN>
void lstm_forward_loop(const LstmArgs<T>& a) {
  const Dims& d = a.r.d;
  const RowBlocks rb(d.N);
  StepGemm<T> mm(true, rb.chunk, d.G, d.H, a.r.U, d.H);
  rb.run([&](int64_t r0, int64_t r1) {
    a.r.mask_initial(r0, r1);
    for (int64_t t = 0; t < d.T; ++t) {
      mm.run(r1 - r0, a.r.h_in(t, r0), d.H, T(0), a.s.gates + (t * d.N + r0) * d.G, d.G);
      for (int64_t n = r0; n < r1; ++n) lstm_fwd_row<T, CIFG, A, LN>(a, t, n);
    }
  });
}

// ---------------------------------------------------------------- backward
template <typename T> struct LstmBack {
  LstmArgs<T> f;
  const T* dout;  // (T, N, H) already masked, or null
  T* dsh; T* dnh; T* direct; T* gemm;  // as BackBufs
  T* dsc;    // (N, H) ∂L/∂c_t, in place over steps
  T* dcn;    // (N, H) scratch: ∂L/∂c̃_t
  T* dread;  // (N, H) scratch: ∂L/∂c_read (layer norm only)
};

// acc += a ∘ b over a row.
template <typename T>
RK_INLINE void add_product(T* __restrict acc, const T* __restrict a, const T* __restrict b,
                           int64_t W) {
#pragma omp simd
  for (int64_t j = 0; j < W; ++j) acc[j] += a[j] * b[j];
}

// Back through pre = γ_x ∘ LN(x) + b + γ_h ∘ n_h over one row of G, from dpre = ∂L/∂pre, in two
// passes: LN(x) recomputed from x, its mean mx and 1/σ rx; n_h = LN(U h_{t−1}) saved, 1/σ rh.
// Writes ∂L/∂x into dx and ∂L/∂(U h_{t−1}) into dy (as ln_back_row), and adds dpre ∘ LN(x),
// dpre and dpre ∘ n_h to the sums of γ_x, b and γ_h.
template <typename T>
RK_INLINE void ln2_back_row(const T* __restrict dpre, const T* __restrict x, T mx, T rx,
                            const T* __restrict gx, const T* __restrict nh, T rh,
                            const T* __restrict gh, T* __restrict dx, T* __restrict dy,
                            T* __restrict acc_gx, T* __restrict acc_b, T* __restrict acc_gh,
                            int64_t G) {
  T sx1 = 0, sx2 = 0, sh1 = 0, sh2 = 0;
#pragma omp simd reduction(+ : sx1, sx2, sh1, sh2)
  for (int64_t j = 0; j < G; ++j) {
    const T d = dpre[j], nx = (x[j] - mx) * rx, dnx = d * gx[j], dnh = d * gh[j];
    sx1 += dnx; sx2 += dnx * nx; sh1 += dnh; sh2 += dnh * nh[j];
    acc_gx[j] += d * nx; acc_b[j] += d; acc_gh[j] += d * nh[j];
  }
  const T mx1 = sx1 / T(G), mx2 = sx2 / T(G), mh1 = sh1 / T(G), mh2 = sh2 / T(G);
#pragma omp simd
  for (int64_t j = 0; j < G; ++j) {
    const T d = dpre[j], nx = (x[j] - mx) * rx;
    dx[j] = rx * (d * gx[j] - mx1 - nx * mx2);
    dy[j] = rh * (d * gh[j] - mh1 - nh[j] * mh2);
  }
}

// One backward step of row n. gr: the block's gradient pointers (BlockSums); work: the block's
// scratch row with layer norm, G + H wide (dpre, LN(c̃_t)).
template <typename T, bool CIFG, int A, bool LN>
RK_INLINE void lstm_bwd_row(const LstmBack<T>& b, const LstmGrads<T*>& gr, T* work, int64_t t,
                            int64_t n) {
  const LstmArgs<T>& a = b.f;
  const Dims& d = a.r.d;
  const int64_t H = d.H, G = d.G, NH = d.NH, tn = t * d.N + n;
  const int64_t r = n * H;
  T* dsh = b.dsh + r;
  assemble_dh(dsh, b.direct ? b.direct + r : nullptr, b.gemm + r,
              a.r.hmask ? a.r.hmask + r : nullptr, b.dout ? b.dout + t * NH + r : nullptr, H);
  // ∂L/∂(new h), ∂L/∂(new c); the rest goes straight to the previous state
  const T* dh = dsh;
  T* dc = b.dsc + r;
  if (a.r.uh) { split_row(dsh, b.dnh + r, b.direct + r, a.r.uh, t, n, H); dh = b.dnh + r; }
  else if (b.direct) std::memset(b.direct + r, 0, sizeof(T) * H);
  T* dcn = b.dcn + r;
  T* dcdir = nullptr;  // (1 − u_c) ∂L/∂c_t, added to ∂L/∂c_{t−1}
  if (a.uc) { split_row(dc, dcn, dc, a.uc, t, n, H); dcdir = dc; }
  else std::memcpy(dcn, dc, sizeof(T) * H);
  const T* g = a.s.gates + tn * G;
  const T* gi = g;
  const T* gf = g + H;
  const T* gg = g + (CIFG ? 1 : 2) * H;
  const T* go = g + (CIFG ? 2 : 3) * H;
  T* dx = LN ? work : gr.dxp + tn * G;  // dpre
  T* di_ = dx;
  T* df_ = dx + H;
  T* dg_ = dx + (CIFG ? 1 : 2) * H;
  T* do_ = dx + (CIFG ? 2 : 3) * H;
  const T* cp = a.cs + t * NH + r;
  // c̃_t, where it gets gradient, when every update is 0/1 (else act_c and c_norm are saved)
  const T* cnew = a.s.c_new ? a.s.c_new + t * NH + r : a.cs + (t + 1) * NH + r;
  const T* cnorm = nullptr;  // LN(c̃_t): saved, or recomputed into work
  if constexpr (LN) {
    if (a.s.c_norm) {
      cnorm = a.s.c_norm + t * NH + r;
    } else {
      T* w = work + G;
      const T mc = a.s.c_mean[tn], rc = a.s.c_rstd[tn];
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) w[j] = (cnew[j] - mc) * rc;
      cnorm = w;
    }
  }
  // act(c_read): saved, or recomputed from LN(c̃_t) or from c̃_t
  const T* ac;
  T* acbuf = a.row + r;
  if (a.s.act_c) {
    ac = a.s.act_c + t * NH + r;
  } else {
    if constexpr (LN) {
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) acbuf[j] = act<A>(a.ln_c_w[j] * cnorm[j] + a.ln_c_b[j]);
    } else {
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) acbuf[j] = act<A>(cnew[j]);
    }
    ac = acbuf;
  }
  // h_t = o ∘ act(c_read): ∂L/∂o, and ∂L/∂c_read (into dread, or straight into ∂L/∂c̃_t)
  T* dread = LN ? b.dread + r : nullptr;
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const T o = go[j];
    do_[j] = dh[j] * ac[j] * o * (T(1) - o);
    if constexpr (LN) dread[j] = dh[j] * o * act_grad<A>(ac[j]);
    else dcn[j] += dh[j] * o * act_grad<A>(ac[j]);
  }
  if constexpr (LN) {  // c_read = γ_c ∘ LN(c̃_t) + β_c
    T* tmp = acbuf;  // ac no longer needed past this point
    ln_back_row(dread, a.ln_c_w, cnorm, a.s.c_rstd[tn], tmp, gr.ln_cell_weight, gr.ln_cell_bias,
                H);
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) dcn[j] += tmp[j];
  }
  // c̃_t = f ∘ c_{t−1} + i ∘ g
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
  if (T* dp = gr.weight_peephole) {  // p_i, [p_f,] p_o
    add_product(dp, di_, cp, H);
    if constexpr (!CIFG) add_product(dp + H, df_, cp, H);
    add_product(dp + (CIFG ? 1 : 2) * H, do_, a.s.c_new + t * NH + r, H);
  }
  if constexpr (LN)  // pre = γ_x ∘ LN(W x_t) + b + γ_h ∘ LN(U h_{t−1})
    ln2_back_row(dx, a.xp + tn * G, a.s.ih_mean[tn], a.s.ih_rstd[tn], a.ln_ih_w,
                 a.s.hh_norm + tn * G, a.s.hh_rstd[tn], a.ln_hh_w, gr.dxp + tn * G,
                 gr.dhp + tn * G, gr.ln_ih_weight, gr.ln_ih_bias, gr.ln_hh_weight, G);
}

template <typename T, bool CIFG, int A, bool LN>
void lstm_backward_loop(const LstmBack<T>& b, LstmGrads<at::Tensor>& grads) {
  const Dims& d = b.f.r.d;
  const RowBlocks rb(d.N);
  StepGemm<T> mm(false, rb.chunk, d.H, d.G, b.f.r.U, d.H);
  const BlockSums<T, LstmGrads> sums(grads, rb.P);
  const int64_t W = d.G + d.H;  // one work row per block of rows (layer norm)
  const at::Tensor work = LN ? at::empty({rb.P, W}, options_of<T>()) : at::Tensor();
  rb.run([&](int64_t r0, int64_t r1) {
    const int64_t p = r0 / rb.chunk;
    const LstmGrads<T*> gr = sums.block(p);
    T* w = LN ? work.data_ptr<T>() + p * W : nullptr;
    const T* dhp = LN ? gr.dhp : gr.dxp;  // ∂L/∂(U h_{t−1})
    for (int64_t t = d.T - 1; t >= 0; --t) {
      for (int64_t n = r0; n < r1; ++n) lstm_bwd_row<T, CIFG, A, LN>(b, gr, w, t, n);
      mm.run(r1 - r0, dhp + (t * d.N + r0) * d.G, d.G, T(0), b.gemm + r0 * d.H, d.H);
    }
  });
  sums.finish();
}

// ---------------------------------------------------------------- entry points
// Forward: fills h, c (T+1, N, H; [0] set by the caller) and returns the saved buffers.
Buffers lstm_forward(const at::Tensor& x_proj, const at::Tensor& h, const at::Tensor& c,
                     const at::Tensor& weight_hh, const OptT& weight_peephole,
                     const OptT& ln_ih_weight, const OptT& ln_ih_bias, const OptT& ln_hh_weight,
                     const OptT& ln_cell_weight, const OptT& ln_cell_bias, const OptT& u_h,
                     const OptT& u_c, const OptT& h_mask, bool cifg,
                     const std::string& activation, bool binary_updates) {
  LstmWeights w{weight_hh,    weight_peephole, ln_ih_weight, ln_ih_bias,
                ln_hh_weight, ln_cell_weight,  ln_cell_bias};
  w.check_all();
  for (auto* t : {&x_proj, &h, &c}) check(*t, "lstm tensor");
  for (auto* t : {&u_h, &u_c, &h_mask}) check(*t, "lstm mask");
  TORCH_CHECK(x_proj.size(2) == weight_hh.size(0) && h.size(0) == x_proj.size(0) + 1,
              "lstm_forward: shape mismatch");
  auto saved = LstmSaved<at::Tensor>::allocate(x_proj, h.size(2), has(weight_peephole),
                                               w.layer_norm(), binary_updates);
  dispatch_lstm(x_proj, cifg, activation, w.layer_norm(), [&](auto t, auto C, auto A, auto L) {
    using T = decltype(t);
    std::vector<at::Tensor> keep;
    LstmArgs<T> a = lstm_args<T>(x_proj, h, c, saved, w, u_h, u_c, h_mask, cifg, keep);
    lstm_forward_loop<T, decltype(C)::value, decltype(A)::value, decltype(L)::value>(a);
  });
  return to_dict(saved);
}

// Backward: d_output (T, N, H) already masked (or None), dh_final, dc_final (N, H). Returns the
// gradient buffers and [∂L/∂h_0, ∂L/∂c_0].
std::tuple<Buffers, std::vector<at::Tensor>> lstm_backward(
    const Buffers& saved_dict, const OptT& d_output, const at::Tensor& dh_final,
    const at::Tensor& dc_final, const at::Tensor& h, const at::Tensor& c,
    const at::Tensor& weight_hh, const OptT& weight_peephole, const OptT& ln_ih_weight,
    const OptT& ln_ih_bias, const OptT& ln_hh_weight, const OptT& ln_cell_weight,
    const OptT& ln_cell_bias, const OptT& u_h, const OptT& u_c, const OptT& h_mask, bool cifg,
    const std::string& activation, const OptT& dhp) {
  LstmWeights w{weight_hh,    weight_peephole, ln_ih_weight, ln_ih_bias,
                ln_hh_weight, ln_cell_weight,  ln_cell_bias};
  w.check_all();
  for (auto* t : {&dh_final, &dc_final, &h, &c}) check(*t, "lstm tensor");
  for (auto* t : {&d_output, &u_h, &u_c, &h_mask, &dhp}) check(*t, "lstm tensor");
  auto saved = from_dict<LstmSaved>(saved_dict);
  TORCH_CHECK(saved.gates.defined() && (!has(weight_peephole) || saved.c_new.defined()) &&
                  (!w.layer_norm() || (saved.c_mean.defined() && saved.x_proj.defined())),
              "lstm_backward: saved buffers missing");
  auto grads = LstmGrads<at::Tensor>::allocate(saved.gates, h.size(2), has(weight_peephole),
                                               w.layer_norm(), dhp);
  BackBufs bb(dh_final, has(u_h) || has(h_mask), has(u_h));
  at::Tensor dc = dc_final.clone(), dcn = at::empty_like(dc_final);
  at::Tensor dread = w.layer_norm() ? at::empty_like(dc_final) : at::Tensor();
  dispatch_lstm(saved.gates, cifg, activation, w.layer_norm(), [&](auto t, auto C, auto A, auto L) {
    using T = decltype(t);
    std::vector<at::Tensor> keep;
    LstmArgs<T> a = lstm_args<T>(c10::nullopt, h, c, saved, w, u_h, u_c, h_mask, cifg, keep);
    LstmBack<T> b{a, ptr<T>(d_output), bb.dsh.data_ptr<T>(), ptr<T>(bb.dnh), ptr<T>(bb.direct),
                  bb.gemm.data_ptr<T>(), dc.data_ptr<T>(), dcn.data_ptr<T>(), ptr<T>(dread)};
    lstm_backward_loop<T, decltype(C)::value, decltype(A)::value, decltype(L)::value>(b, grads);
  });
  return {to_dict(grads), {bb.dh0(h_mask), dc}};
}

}  // namespace

void init_lstm(py::module_& m) {
  m.def("lstm_forward", &lstm_forward,
        "LSTM forward loop: fills h, c (T+1, N, H) from their [0]; returns the saved buffers",
        py::arg("x_proj"), py::arg("h"), py::arg("c"), py::arg("weight_hh"),
        py::arg("weight_peephole") = py::none(), py::arg("ln_ih_weight") = py::none(),
        py::arg("ln_ih_bias") = py::none(), py::arg("ln_hh_weight") = py::none(),
        py::arg("ln_cell_weight") = py::none(), py::arg("ln_cell_bias") = py::none(),
        py::arg("u_h") = py::none(), py::arg("u_c") = py::none(), py::arg("h_mask") = py::none(),
        py::arg("cifg") = false, py::arg("activation") = "tanh", py::arg("binary_updates") = false);
  m.def("lstm_backward", &lstm_backward,
        "LSTM backward loop: returns the gradient buffers and [dh0, dc0]",
        py::arg("saved"), py::arg("d_output"), py::arg("dh_final"), py::arg("dc_final"),
        py::arg("h"), py::arg("c"), py::arg("weight_hh"),
        py::arg("weight_peephole") = py::none(), py::arg("ln_ih_weight") = py::none(),
        py::arg("ln_ih_bias") = py::none(), py::arg("ln_hh_weight") = py::none(),
        py::arg("ln_cell_weight") = py::none(), py::arg("ln_cell_bias") = py::none(),
        py::arg("u_h") = py::none(), py::arg("u_c") = py::none(), py::arg("h_mask") = py::none(),
        py::arg("cifg") = false, py::arg("activation") = "tanh", py::arg("dhp") = py::none());
}

}  // namespace rnnkit
