"""Stand-in for seqio in the JetStream client's test venv: jetstream.engine.token_utils imports it at module load,
but only SentencePiece tokenizers use it (the tests use tiktoken). seqio would pull in tensorflow (1.9 GB)."""

from . import vocabularies  # noqa: F401
