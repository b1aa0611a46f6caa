"""rnnkit imports and trains where the fcntl module does not exist (Windows): the build lock of the
compiled loops then leaves the locking to torch's own lock file, which it must not remove."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CODE = """if True:
    import sys
    sys.modules["fcntl"] = None  # `import fcntl` now raises ImportError, as on Windows
    from pathlib import Path
    import torch
    import rnnkit
    from rnnkit.engine import compiled

    assert compiled.fcntl is None
    build = Path(sys.argv[1])
    (build / "lock").write_text("")  # torch's lock file, maybe held by another process's build
    with compiled.build_lock(build):
        pass
    assert (build / "lock").exists() and not (build / ".rnnkit.lock").exists()
    layer = rnnkit.LSTM(3, 4)
    layer(torch.randn(5, 2, 3))[0].sum().backward()
    assert layer.weight_hh_l0.grad is not None
    print("ok")
"""


def test_rnnkit_works_without_fcntl(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "RNNKIT_COMPILED": "0", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", CODE, str(tmp_path)], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_with_fcntl_the_lock_removes_a_stale_torch_lock(tmp_path):
    from rnnkit.engine import compiled

    assert compiled.fcntl is not None
    (tmp_path / "lock").write_text("")  # left by a killed build: only the holder of our flock may see it
    with compiled.build_lock(tmp_path):
        assert not (tmp_path / "lock").exists() and (tmp_path / ".rnnkit.lock").exists()
