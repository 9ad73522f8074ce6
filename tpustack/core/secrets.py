"""Recognizing credentials in places they must not be: config values other than the secret fields, Kubernetes
object fields other than a Secret's data. Stdlib only (the policy pack uses it too).

A value is refused when it carries a token in a known format (Hugging Face, Google API key and OAuth token,
GitHub, OpenAI-style, a PEM private key) or sets a flag or variable that takes a credential (``--hf-token``,
``HF_TOKEN=``...). Formats: huggingface.co/docs/hub/security-tokens (``hf_`` + 34 characters), Google API keys
(``AIza`` + 35), OAuth access tokens (``ya29.``), GitHub tokens (``ghp_``/``github_pat_``).
"""

from __future__ import annotations

import re

# The distinctive prefixes match inside a word too (``xhf_...``, ``my_ghp_...``: a token pasted after other text is
# still the whole token); ``sk-`` only where no letter or digit precedes it (``task-...`` is a word).
TOKEN_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("a Hugging Face token", re.compile(r"hf_[A-Za-z0-9]{20,}")),
    ("a Google API key", re.compile(r"AIza[0-9A-Za-z_-]{30,}")),
    ("a Google OAuth access token", re.compile(r"ya29\.[0-9A-Za-z_-]{20,}")),
    ("a GitHub token", re.compile(r"(ghp|gho|ghs|ghu)_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}")),
    ("an API secret key", re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{20,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
]
# Flags and variables whose value is a credential (vLLM, huggingface_hub, OpenAI-compatible servers).
CREDENTIAL_FLAGS = re.compile(r"^--?(hf[-_]token|api[-_]key|token|access[-_]token|password|secret)(=|$)", re.I)
CREDENTIAL_VARS = re.compile(
    r"^(HF_TOKEN|HUGGING_FACE_HUB_TOKEN|HUGGINGFACE_TOKEN|OPENAI_API_KEY|VLLM_API_KEY|"
    r"GOOGLE_API_KEY|GITHUB_TOKEN)=",
    re.I,
)
# The value of a credential flag or variable wherever it stands in a text (``--hf-token=abc``, ``HF_TOKEN=abc``, or
# ``'--api-key', 'abc'`` in a list's repr): whatever follows, up to a quote, space or bracket.
_FLAG_NAMES = r"hf[-_]token|api[-_]key|access[-_]token|token|password|secret"
_VAR_NAMES = (
    r"HF_TOKEN|HUGGING_FACE_HUB_TOKEN|HUGGINGFACE_TOKEN|OPENAI_API_KEY|VLLM_API_KEY|GOOGLE_API_KEY|GITHUB_TOKEN"
)
_VALUE = r"[^\s'\"`,\]\)}]+"
CREDENTIAL_VALUES = [
    re.compile(rf"(?i)((?<![\w-])--?(?:{_FLAG_NAMES})(?:=|['\"],\s*['\"]))(?!\[redacted\]){_VALUE}"),
    re.compile(rf"(?i)((?<!\w)(?:{_VAR_NAMES})=)(?!\[redacted\]){_VALUE}"),
]
REDACTED = "[redacted]"


def secret_in(text: str) -> str | None:
    """What kind of credential ``text`` carries (for the error message), or None. Never returns the value."""
    for what, pattern in TOKEN_PATTERNS:
        if pattern.search(text):
            return what
    if CREDENTIAL_FLAGS.match(text):
        return f"a credential flag ({text.split('=', 1)[0]})"
    if CREDENTIAL_VARS.match(text):
        return f"a credential variable ({text.split('=', 1)[0]})"
    return None


def redact(text: str) -> str:
    """``text`` with every token in a known format, and the value of every credential flag or variable, replaced by
    ``[redacted]``: what an error message may show of a value the user gave (a token pasted into the wrong key must
    never be printed back). tpustack.core.errors applies it to every problem and error it makes."""
    for _, pattern in TOKEN_PATTERNS:
        text = pattern.sub(REDACTED, text)
    for pattern in CREDENTIAL_VALUES:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text
