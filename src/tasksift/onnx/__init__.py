"""ONNX: export a model once, check it, and run it without torch (embedders and cross-encoders)."""
