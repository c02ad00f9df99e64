"""curate: a data-centric curation pipeline for mask x gender x age photo classification."""
