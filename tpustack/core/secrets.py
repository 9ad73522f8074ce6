"""Recognizing credentials in places they must not be: config values other than the secret fields, Kubernetes
object fields other than a Secret's data. Stdlib only (the policy pack uses it too).

A value is refused when it carries a token in a known format (Hugging Face, Google API key and OAuth token,
GitHub, OpenAI-style, a PEM private key) or sets a flag or variable that takes a credential (``--hf-token``,
``HF_TOKEN=``...). Formats: huggingface.co/docs/hub/security-tokens (``hf_`` + 34 characters), Google API keys
(``AIza`` + 35), OAuth access tokens (``ya29.``), GitHub tokens (``ghp_``/``github_pat_``).
"""

from __future__ import annotations

import re

TOKEN_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{20,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{30,}")),
    ("a Google OAuth access token", re.compile(r"\bya29\.[0-9A-Za-z_-]{20,}")),
    ("a GitHub token", re.compile(r"\b(ghp|gho|ghs|ghu)_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}")),
    ("an API secret key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
]
# Flags and variables whose value is a credential (vLLM, huggingface_hub, OpenAI-compatible servers).
CREDENTIAL_FLAGS = re.compile(r"^--?(hf[-_]token|api[-_]key|token|access[-_]token|password|secret)(=|$)", re.I)
CREDENTIAL_VARS = re.compile(
    r"^(HF_TOKEN|HUGGING_FACE_HUB_TOKEN|HUGGINGFACE_TOKEN|OPENAI_API_KEY|VLLM_API_KEY|"
    r"GOOGLE_API_KEY|GITHUB_TOKEN)=",
    re.I,
)


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
    """``text`` with every token in a known format replaced by ``[redacted]``: what an error message may show of a
    value the user gave (a token pasted into the wrong key must never be printed back)."""
    for _, pattern in TOKEN_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text
