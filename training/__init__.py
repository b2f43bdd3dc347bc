"""Training and evaluation scripts for the project's ONNX models (need the ``train`` extra).

Not part of the installed package: run them from a checkout, e.g.
``python -m training.synthetic train``. Every number in a model card comes from these scripts.
"""
