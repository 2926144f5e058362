"""Builds Embed Studio's ONNX models from registry packages (numpy + onnx only, no torch)."""
