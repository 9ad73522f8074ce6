"""The real benchmark clients, installed for the tests in their own virtualenvs under .cache/clients/ (ignored;
reused across runs, rebuilt when their lock file changes). `make clients` (or `python tests/helpers/clients.py`) builds
them; the `clients` tests (tests/integration/test_clients.py, `make test-clients`) run them.

  vllm            `vllm bench serve` of vllm 0.32.0 (the version of the pinned engine images), installed with
                  --no-deps plus the packages its benchmark imports (.ci/lock/client-vllm.txt) and the CPU
                  torch, on this Python
  inference-perf  inference-perf 0.7.0 on Python 3.12 (it needs >= 3.12; .ci/lock/client-inference-perf.txt)
  tokenizer       a word-level tokenizer over the loopback server's vocabulary, built offline (no hub access)
  jetstream       the Python deps of JetStream's benchmarks/benchmark_serving.py (.ci/lock/client-jetstream.txt);
                  JetStream itself at the pinned commit is not on PyPI: it is taken from a checkout named by
                  TPUSTACK_SOURCES (<dir>/JetStream-<commit>), put on PYTHONPATH with tests/helpers/jetstream_shim
"""

from __future__ import annotations

import glob
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # tests/helpers/ -> the checkout
CACHE = ROOT / ".cache" / "clients"
LOCKS = ROOT / ".ci" / "lock"

VLLM_VERSION = "0.32.0"  # tpustack.core.engines pins the engine images at this version
VLLM_NO_DEPS = [f"vllm=={VLLM_VERSION}", "xgrammar==0.2.8", "apache-tvm-ffi==0.1.11"]
INFERENCE_PERF_VERSION = "0.7.0"


def _run(cmd: list, **kw) -> None:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
        )


def _stamp(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _venv(name: str, python: str, key: str, install) -> Path:
    """A venv at .cache/clients/<name>, (re)built by ``install(pip)`` when ``key`` changes."""
    d = CACHE / name
    stamp = d / f".built-{key}"
    if not stamp.exists():
        shutil.rmtree(d, ignore_errors=True)
        _run([python, "-m", "venv", d])
        pip = [d / "bin" / "python", "-m", "pip", "--disable-pip-version-check", "-q"]
        install(pip)
        stamp.touch()
    return d


def python312() -> str:
    """Python 3.12 for inference-perf: on PATH, or pyenv's."""
    found = shutil.which("python3.12")
    if (
        found
        and subprocess.run(
            [found, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"], capture_output=True
        ).returncode
        == 0
    ):
        return found
    for candidate in sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / "3.12*" / "bin" / "python3.12"))):
        return candidate
    raise RuntimeError("inference-perf needs Python 3.12 (`python3.12` or a pyenv 3.12); none found")


def vllm() -> Path:
    lock = LOCKS / "client-vllm.txt"

    def install(pip: list) -> None:
        _run([*pip, "install", "-r", lock])
        _run([*pip, "install", "--no-deps", *VLLM_NO_DEPS])

    return _venv("vllm", sys.executable, _stamp(lock.read_text(), *VLLM_NO_DEPS), install) / "bin" / "vllm"


def inference_perf() -> Path:
    lock = LOCKS / "client-inference-perf.txt"

    def install(pip: list) -> None:
        _run([*pip, "install", "-r", lock])

    venv = _venv("inference-perf", python312(), _stamp(lock.read_text(), INFERENCE_PERF_VERSION), install)
    return venv / "bin" / "inference-perf"


TOKENIZER_SCRIPT = r"""
import json, sys
from pathlib import Path
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
out = Path(sys.argv[1])
vocab = {"[UNK]": 0, "[BOS]": 1, "[EOS]": 2, **{f"w{i}": i + 3 for i in range(2000)}}
tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tok.decoder = decoders.WordPiece(prefix="##")
fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", bos_token="[BOS]", eos_token="[EOS]",
                               model_max_length=100000)
fast.save_pretrained(out)
cfg = json.loads((out / "tokenizer_config.json").read_text())
cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
(out / "tokenizer_config.json").write_text(json.dumps(cfg))
(out / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
"""


def tokenizer() -> Path:
    """A word-level tokenizer over w0..w1999 (the loopback server's words), saved as a Hugging Face tokenizer."""
    out = CACHE / "tokenizer"
    if not (out / "tokenizer.json").exists():
        python = vllm().parent / "python"
        _run([python, "-c", TOKENIZER_SCRIPT, out])
    return out


def jetstream() -> Path:
    """The Python of the JetStream client's venv (run it with PYTHONPATH=shim:checkout)."""
    lock = LOCKS / "client-jetstream.txt"

    def install(pip: list) -> None:
        _run([*pip, "install", "-r", lock])

    return _venv("jetstream", sys.executable, _stamp(lock.read_text()), install) / "bin" / "python"


TIKTOKEN_BYTES = "".join(f"{__import__('base64').b64encode(bytes([b])).decode()} {b}\n" for b in range(256))


if __name__ == "__main__":
    print(vllm(), inference_perf(), tokenizer(), sep="\n")
