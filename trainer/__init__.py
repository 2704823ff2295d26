"""Train, evaluate and publish the spam model to the S3 registry.

The command line is ``python -m trainer`` (:mod:`trainer.cli`); one training run is
:func:`trainer.train.train`, the registry's writer :mod:`trainer.registry`, a model folder
:mod:`trainer.artifacts`. Nothing is imported here, so ``import trainer.registry`` stays
light.
"""
