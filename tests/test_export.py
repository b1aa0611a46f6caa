"""Export: torch twins of the layers, ONNX (checked with onnxruntime) and TorchScript, clear refusals."""

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.export import export, torch_twin


class Tagger(nn.Module):
    """Embedding → recurrent layer → linear, returning (logits, None, state) like rnnkit's tasks."""

    def __init__(self, rnn: nn.Module, lengths: bool = False):
        super().__init__()
        width = rnn.hidden_size * (2 if rnn.bidirectional else 1)
        self.embed, self.rnn, self.head, self.lengths = nn.Embedding(10, 3), rnn, nn.Linear(width, 4), lengths

    def forward(self, ids):
        x = self.embed(ids)
        out, state = self.rnn(x, lengths=(ids > 0).sum(1)) if self.lengths else self.rnn(x)
        return self.head(out), None, state


@pytest.mark.parametrize(
    "rnn",
    [rnnkit.LSTM(3, 5, 2, batch_first=True), rnnkit.GRU(3, 5, batch_first=True, bidirectional=True),
     rnnkit.RNN(3, 5, batch_first=True, nonlinearity="relu")],
    ids=["lstm", "gru-bi", "rnn-relu"],
)
def test_onnx_runtime_output_equals_ours(rnn, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = Tagger(rnn).eval()
    path = export(model, (torch.randint(1, 10, (1, 4)),), tmp_path / "m.onnx", "onnx", ["ids"],
                  {"ids": {0: "batch", 1: "time"}})
    ids = torch.randint(1, 10, (3, 7))  # other batch and time sizes than the example
    (theirs,) = ort.InferenceSession(str(path)).run(None, {"ids": ids.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(theirs), model(ids)[0], atol=1e-5, rtol=1e-5)


def test_torchscript_output_equals_ours(tmp_path):
    model = Tagger(rnnkit.LSTM(3, 5, batch_first=True)).eval()
    ids = torch.randint(1, 10, (2, 6))
    path = export(model, (ids,), tmp_path / "m.pt", "torchscript", ["ids"], {})
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(str(path))(ids), model(ids)[0])


def test_twin_keeps_weights_and_outputs():
    layer = rnnkit.GRU(4, 6, num_layers=2, bidirectional=True).eval()
    x = torch.randn(5, 3, 4)
    with torch.no_grad():
        torch.testing.assert_close(torch_twin(layer)(x)[0], layer(x)[0], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "rnn, message",
    [
        (rnnkit.LSTM(3, 5, batch_first=True, peephole=True), "peephole"),
        (rnnkit.LSTM(3, 5, batch_first=True, layer_norm=True), "layer_norm"),
        (rnnkit.GRU(3, 5, batch_first=True, reset_after=False), "reset_after"),
        (rnnkit.RNN(3, 5, batch_first=True, nonlinearity="softsign"), "softsign"),
        (rnnkit.LSTM(3, 5, batch_first=True, zoneout=0.1), "zoneout"),
    ],
)
def test_configurations_torch_lacks_are_refused_by_name(rnn, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        export(Tagger(rnn), (torch.randint(1, 10, (1, 4)),), tmp_path / "m.onnx", "onnx", ["ids"], {})


def test_variable_length_models_are_refused(tmp_path):
    with pytest.raises(ValueError, match="lengths="):
        export(Tagger(rnnkit.LSTM(3, 5, batch_first=True), lengths=True), (torch.randint(1, 10, (1, 4)),),
               tmp_path / "m.onnx", "onnx", ["ids"], {})


def test_export_command_on_a_trained_language_model(tiny_lm_run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from typer.testing import CliRunner

    from rnnkit.cli import app
    from rnnkit.tasks.lm import LanguageModel

    out = tmp_path / "lm.onnx"
    args = ["export", "--checkpoint", str(tiny_lm_run), "--format", "onnx", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lm = LanguageModel.load(tiny_lm_run)
    model, vocab = lm.model, lm.vocab
    ids = vocab.encode("to be, or not")[None].repeat(2, 1)
    (theirs,) = ort.InferenceSession(str(out)).run(None, {"ids": ids.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(theirs), model.eval()(ids)[0], atol=1e-5, rtol=1e-5)


def test_export_command_with_a_missing_checkpoint_is_one_error_line(tmp_path):
    from typer.testing import CliRunner

    from rnnkit.cli import app

    args = ["export", "--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "error:" in result.output
