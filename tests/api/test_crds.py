"""The committed CRDs are exactly what the models generate."""

from api import crds


def test_committed_crds_match_models() -> None:
    for filename, text in crds.render_all().items():
        committed = (crds.CRD_DIR / filename).read_text()
        assert committed == text, f"chart/crds/{filename} drifted from api/models.py: run `make crds`"


def test_every_kind_has_status_subresource_and_category() -> None:
    for kind in crds.KINDS:
        spec = crds.crd(kind)["spec"]
        assert spec["names"]["categories"] == ["hodegos"]
        assert spec["versions"][0]["subresources"] == {"status": {}}
        assert "$ref" not in str(spec)
