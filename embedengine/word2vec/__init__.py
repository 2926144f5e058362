"""Word2vec in NumPy: train (skip-gram softmax / negative sampling, CBOW), query, evaluate, save.

Public API (used by the desktop tabs and the CLI)::

    summary = scan_corpus(paths)                     # preview: tokens, vocabulary, warnings
    result = train(paths, TrainConfig(), progress, cancel, checkpoint_path, resume)
    result.vectors.most_similar("king")              # WordVectors, gensim KeyedVectors-like
    library.save_model(result.vectors, "my model")   # the user's saved models
"""

from .evaluate import AnalogyEvaluation, PairsEvaluation, spearman
from .library import (ModelInfo, delete_model, export_model, import_vectors, list_models, load_model,
                      open_vectors, rename_model, save_model, shipped_eval_file)
from .train import TrainConfig, TrainResult, scan_corpus, train
from .vectors import UnknownWordError, WordVectors
from .vocab import CorpusSummary

__all__ = [
    "AnalogyEvaluation", "CorpusSummary", "ModelInfo", "PairsEvaluation", "TrainConfig", "TrainResult",
    "UnknownWordError", "WordVectors", "delete_model", "export_model", "import_vectors", "list_models",
    "load_model", "open_vectors", "rename_model", "save_model", "scan_corpus", "shipped_eval_file", "spearman",
    "train",
]
