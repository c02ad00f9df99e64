"""Frozen image features: ImageNet embeddings of the crops (`embed`), weights from a local file or
a package (`weights`) and from timm's hub (`hub`)."""
