"""ONNX: export a model once, check it, and run it without torch (embedders and cross-encoders).

One path serves both kinds: ``export`` (the one ``ExportSpec``: wrapper module, probes,
tolerance, traced by torch), ``check`` (the probes, the tolerance per ``Kind`` and the check
every load repeats), ``store`` (staging then rename, the folders and the one policy for
keeping them), ``runtime`` (onnxruntime and the Rust tokenizer, batched by length) and
``fallback`` (ONNX first, torch when it cannot be used; ``TASKSIFT_FAST_PATH=0`` skips it).
``embedder`` and ``cross_encoder`` say only what differs: what is exported, where, and keyed
by what.
"""
