"""Beyond wrong labels: duplicated persons, outlier images and unusable photos, person-aware.

One module per issue type, like cleanlab's issue managers, over shared evidence:
- `evidence`: what is compared (crop embeddings, colour grids, photo statistics);
- `duplicates`: two person ids whose photos show the same person (person level);
- `outliers`: a photo unlike the rest of its person's photos (image level);
- `quality`: too dark, overexposed or blurred; face boxes unlike the person's others (image level);
- `find`: the issue rows of all three (`detect`, the stage's work).

Scores are probabilities: each evidence is a robust z-score, and a two-component mixture
(`pipeline.curation.mixture.TailMixture`) turns it into P(issue is real)."""

from pipeline.curation.issues.find import METADATA, detect, find_type_issues

__all__ = ["METADATA", "detect", "find_type_issues"]
