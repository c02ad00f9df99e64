"""Reading the dataset: the competition layout checked file by file (`ingest`), image decoding
(`imageio`) and the embedded synthetic dataset (`synth`)."""
