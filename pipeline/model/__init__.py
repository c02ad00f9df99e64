"""The classifier: timm models and losses (`factory`), its configuration (`config`), the training
loop and checkpoints (`train`), out-of-fold networks (`oof`), DDP (`distributed`), `predict` and
`evaluate`."""
