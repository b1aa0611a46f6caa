// The extension module: each cell's loops (registered by lstm.cpp, gru.cpp, rnn.cpp with named
// arguments) and the BLAS switches the tests and benchmarks use.
#include "common.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  using namespace rnnkit;
  init_lstm(m);
  init_gru(m);
  init_rnn(m);
  m.def("direct_blas", [] { return blas().s != nullptr && blas().d != nullptr; },
        "whether sgemm_/dgemm_ were found in the loaded BLAS");
  m.def("packed_gemm", [] { return blas().pack != nullptr && g_use_packed; },
        "whether MKL packed GEMM serves float32 step GEMMs");
  m.def("set_packed_gemm", [](bool on) { g_use_packed = on; }, "switch packed GEMM (benchmarking)",
        py::arg("on"));
  m.def("set_row_parallel", [](bool on) { g_row_parallel = on; },
        "switch per-thread row blocks (benchmarking)", py::arg("on"));
}
