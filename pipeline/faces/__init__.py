"""Face crops: BlazeFace detection with its fallback chain (`detect`) and background removal
(`background`: selfie segmentation, rembg, or none)."""
