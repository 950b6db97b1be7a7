"""The homework presets: configs, descriptions and the report's reference curves."""

from __future__ import annotations

from fastapi.testclient import TestClient

from worker.schema.presets import all_presets
from worker.schema.runconfig import RunConfig

REPORT_ORDER = ["1", "2", "3a", "3b", "3c", "4a", "4b", "4c", "5a", "5b", "6", "free"]


def test_presets_are_listed_in_the_reports_order_with_valid_configs_and_references(
    client: TestClient,
) -> None:
    response = client.get("/api/presets")

    assert response.status_code == 200
    presets = response.json()
    assert [preset["id"] for preset in presets] == REPORT_ORDER
    for preset in presets:
        assert set(preset) == {"id", "title", "description", "config", "reference"}
        assert preset["title"] and preset["description"]
        RunConfig.model_validate(preset["config"])  # each is a config the API accepts
        assert preset == all_presets()[preset["id"]].to_dict()
        reference = preset["reference"]
        for curve in ("loss", "accuracy"):
            assert reference[curve] is None or len(reference[curve]) == preset["config"]["epochs"]
    by_id = {preset["id"]: preset for preset in presets}
    assert by_id["1"]["config"]["architecture"] == "mlp"
    assert by_id["6"]["config"]["pretrained"] is True
    assert by_id["4a"]["config"]["batch_norm"] is True
    assert by_id["3b"]["reference"]["loss"] is None  # the report kept only final figures
    assert by_id["2"]["reference"]["final_accuracy"] == 29


def test_one_preset_is_read_by_id_and_an_unknown_id_is_404(client: TestClient) -> None:
    wide = client.get("/api/presets/3a")
    unknown = client.get("/api/presets/3d")

    assert wide.status_code == 200
    assert wide.json()["config"]["widths"] == [128, 128, 128, 256]
    assert wide.json() == all_presets()["3a"].to_dict()
    assert unknown.status_code == 404
    assert "3d" in unknown.json()["detail"] and "3a" in unknown.json()["detail"]
