// Elman RNN time loops, as rnnkit.cells.rnn.RNNCell: h̃_t = φ(x_t + U h_{t−1}), φ any of the
// four activations (a template parameter).
#include "common.h"

namespace rnnkit {
namespace {

// What rnn_forward saves for rnn_backward.
template <typename B> struct RnnSaved {
  B h;  // (T, N, H) h̃_t; a view of the states h[1:] when every update is 0/1 (it is then read
        //   only where it equals the state)
  template <typename F, typename... S> static void each(const F& f, S&... s) { f("h", s.h...); }
  static RnnSaved allocate(const at::Tensor& xp, const at::Tensor& hs, bool binary_updates) {
    return {binary_updates ? hs.slice(0, 1) : at::empty_like(xp)};
  }
};

// What rnn_backward fills for RNNCell.recurrent_grads.
template <typename B> struct RnnGrads {
  B dxp;  // (T, N, H) ∂L/∂(pre-activations)
  template <typename F, typename... S> static void each(const F& f, S&... s) { f("dxp", s.dxp...); }
};

template <typename F>
void dispatch_rnn(const at::Tensor& like, const std::string& activation, const F& fn) {
  AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "rnn", [&] {
    using T_ = scalar_t;
    with_activation<A_TANH, A_SIGMOID, A_RELU, A_SOFTSIGN>(activation,
                                                           [&](auto A) { fn(T_(0), A); });
  });
}

// ---------------------------------------------------------------- loops
template <typename T, int A>
void rnn_forward_loop(const Recurrence<T>& rc, const T* xp, const RnnSaved<T*>& s) {
  const Dims& d = rc.d;
  const int64_t H = d.H, N = d.N, NH = d.NH;
  const RowBlocks rb(N);
  StepGemm<T> mm(true, rb.chunk, H, H, rc.U, H);
  rb.run([&](int64_t r0, int64_t r1) {
    rc.mask_initial(r0, r1);
    for (int64_t t = 0; t < d.T; ++t) {
      T* ht = s.h + t * NH;  // h̃_t (may alias hs[t + 1])
      mm.run(r1 - r0, rc.h_in(t, r0), H, T(0), ht + r0 * H, H);
      for (int64_t n = r0; n < r1; ++n) {
        const T* x = xp + t * NH + n * H;
        T* h = ht + n * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) h[j] = act<A>(x[j] + h[j]);
        T* hn = rc.hs + (t + 1) * NH + n * H;
        if (hn != h) std::memcpy(hn, h, sizeof(T) * H);
        rc.finish_row(t, n);
      }
    }
  });
}

template <typename T, int A>
void rnn_backward_loop(const Recurrence<T>& rc, const RnnSaved<T*>& s, const T* dout, T* dxp,
                       T* dsh, T* dnh, T* direct, T* gemm) {
  const Dims& d = rc.d;
  const int64_t H = d.H, N = d.N, NH = d.NH;
  const RowBlocks rb(N);
  StepGemm<T> mm(false, rb.chunk, H, H, rc.U, H);
  rb.run([&](int64_t r0, int64_t r1) {
    for (int64_t t = d.T - 1; t >= 0; --t) {
      for (int64_t n = r0; n < r1; ++n) {
        const int64_t r = n * H;
        assemble_dh(dsh + r, direct ? direct + r : nullptr, gemm + r,
                    rc.hmask ? rc.hmask + r : nullptr, dout ? dout + t * NH + r : nullptr, H);
        const T* dh = dsh + r;
        if (rc.uh) { split_row(dsh + r, dnh + r, direct + r, rc.uh, t, n, H); dh = dnh + r; }
        else if (direct) std::memset(direct + r, 0, sizeof(T) * H);
        const T* h = s.h + t * NH + r;
        T* dx = dxp + t * NH + r;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) dx[j] = dh[j] * act_grad<A>(h[j]);
      }
      mm.run(r1 - r0, dxp + t * NH + r0 * H, H, T(0), gemm + r0 * H, H);
    }
  });
}

// ---------------------------------------------------------------- entry points
// Forward: fills h (T+1, N, H; [0] set by the caller) and returns the saved buffers.
Buffers rnn_forward(const at::Tensor& x_proj, const at::Tensor& h, const at::Tensor& weight_hh,
                    const OptT& u_h, const OptT& h_mask, const std::string& activation,
                    bool binary_updates) {
  for (auto* t : {&x_proj, &h, &weight_hh}) check(*t, "rnn tensor");
  for (auto* t : {&u_h, &h_mask}) check(*t, "rnn tensor");
  TORCH_CHECK(weight_hh.size(0) == h.size(2) && x_proj.size(2) == h.size(2) &&
              h.size(0) == x_proj.size(0) + 1, "rnn_forward: shape mismatch");
  auto saved = RnnSaved<at::Tensor>::allocate(x_proj, h, binary_updates);
  dispatch_rnn(x_proj, activation, [&](auto t, auto A) {
    using T = decltype(t);
    at::Tensor hm;
    const auto rc = Recurrence<T>::make(h, weight_hh, u_h, h_mask, &hm);
    rnn_forward_loop<T, decltype(A)::value>(rc, x_proj.data_ptr<T>(), pointers<T>(saved));
  });
  return to_dict(saved);
}

// Backward: d_output (T, N, H) already masked (or None), dh_final (N, H). Returns the gradient
// buffers and [∂L/∂h_0]. h is read for its shape only: the saved h̃ carries what backward needs.
std::tuple<Buffers, std::vector<at::Tensor>> rnn_backward(
    const Buffers& saved_dict, const OptT& d_output, const at::Tensor& dh_final,
    const at::Tensor& h, const at::Tensor& weight_hh, const OptT& u_h, const OptT& h_mask,
    const std::string& activation) {
  for (auto* t : {&dh_final, &h, &weight_hh}) check(*t, "rnn tensor");
  for (auto* t : {&d_output, &u_h, &h_mask}) check(*t, "rnn tensor");
  auto saved = from_dict<RnnSaved>(saved_dict);
  TORCH_CHECK(saved.h.defined(), "rnn_backward: saved buffers missing");
  TORCH_CHECK(weight_hh.size(0) == h.size(2), "rnn_backward: weight_hh must be (H, H)");
  RnnGrads<at::Tensor> grads{at::empty_like(saved.h)};
  BackBufs bb(dh_final, has(u_h) || has(h_mask), has(u_h));
  dispatch_rnn(saved.h, activation, [&](auto t, auto A) {
    using T = decltype(t);
    const auto rc = Recurrence<T>::make(h, weight_hh, u_h, h_mask, nullptr);
    rnn_backward_loop<T, decltype(A)::value>(
        rc, pointers<T>(saved), ptr<T>(d_output), grads.dxp.data_ptr<T>(), bb.dsh.data_ptr<T>(),
        ptr<T>(bb.dnh), ptr<T>(bb.direct), bb.gemm.data_ptr<T>());
  });
  return {to_dict(grads), {bb.dh0(h_mask)}};
}

}  // namespace

void init_rnn(py::module_& m) {
  m.def("rnn_forward", &rnn_forward,
        "Elman RNN forward loop: fills h (T+1, N, H) from its [0]; returns the saved buffers",
        py::arg("x_proj"), py::arg("h"), py::arg("weight_hh"), py::arg("u_h") = py::none(),
        py::arg("h_mask") = py::none(), py::arg("activation") = "tanh",
        py::arg("binary_updates") = false);
  m.def("rnn_backward", &rnn_backward,
        "Elman RNN backward loop: returns the gradient buffers and [dh0]",
        py::arg("saved"), py::arg("d_output"), py::arg("dh_final"), py::arg("h"),
        py::arg("weight_hh"), py::arg("u_h") = py::none(), py::arg("h_mask") = py::none(),
        py::arg("activation") = "tanh");
}

}  // namespace rnnkit
