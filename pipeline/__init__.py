"""curate: a data-centric curation pipeline for mask x gender x age photo classification."""

__version__ = "0.1.0"
