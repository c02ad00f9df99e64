import re

import numpy as np
import pandas as pd

from pipeline import labels as L
from pipeline.review.gallery import png_data_uri, write_gallery


def make(persons=("000001", "000002", "000003")):
    rows = [{"image_id": f"{p}_male_Asian_40/{stem}", "person_id": p} for p in persons for stem in L.MASK_FILES]
    labels = pd.DataFrame(rows)
    crops = np.random.default_rng(0).integers(0, 255, (len(labels), 16, 16, 3), dtype=np.uint8)
    crop_index = {image_id: i for i, image_id in enumerate(labels["image_id"])}
    return labels, crops, crop_index


def test_gallery_is_self_contained_and_shows_flagged_persons(tmp_path):
    labels, crops, crop_index = make()
    issues = pd.DataFrame([
        ("gender:000001", "000001", "*", "gender", "male", "female", 0.91, "gender"),
        ("mask:000002_male_Asian_40/normal", "000002", "000002_male_Asian_40/normal", "mask", "incorrect", "normal", 0.97, "swap"),
        ("mask:000002_male_Asian_40/incorrect_mask", "000002", "000002_male_Asian_40/incorrect_mask", "mask", "normal",
         "incorrect", 0.97, "swap"),
    ], columns=["issue_id", "person_id", "image_id", "field", "given", "suggested", "score", "kind"])
    path = write_gallery(issues, labels, crops, crop_index, tmp_path / "g" / "gallery.html")
    page = path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", page)
    assert page.count("src='data:image/png;base64,") == 14  # 2 flagged persons x 7 crops, not person 3
    assert "000003" not in page
    for issue_id in issues["issue_id"]:
        assert issue_id in page
    assert page.count("class='flagged'") == 2
    # the person with the highest score comes first; crops in competition file order
    assert page.index("person 000002") < page.index("person 000001")
    first = page[page.index("person 000001"):]
    assert first.index(">mask1<") < first.index(">incorrect_mask<") < first.index(">normal<")


def test_a_duplicate_shows_the_other_persons_crops_under_the_copys(tmp_path):
    labels, crops, crop_index = make()
    issues = pd.DataFrame([("duplicate:000003", "000003", "*", "duplicate", "000003", "000001", 0.99, "duplicate")],
                          columns=["issue_id", "person_id", "image_id", "field", "given", "suggested", "score", "kind"])
    page = write_gallery(issues, labels, crops, crop_index, tmp_path / "gallery.html").read_text()
    assert page.count("src='data:image/png;base64,") == 14  # the copy's 7 and the other person's 7
    copy = page[page.index("person 000003"):]
    assert "same person? 000001" in copy and copy.index("same person? 000001") > copy.index(">normal<")
    assert png_data_uri(crops[crop_index["000001_male_Asian_40/mask1"]]) in copy
