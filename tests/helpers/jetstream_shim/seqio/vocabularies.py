"""The two names jetstream.engine.token_utils / mock_utils import from seqio.vocabularies."""


class Vocabulary:
    pass


class SentencePieceVocabulary(Vocabulary):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("tests/helpers/jetstream_shim: SentencePiece needs the real seqio")
