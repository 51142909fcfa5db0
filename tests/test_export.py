"""fgclass.export: ONNX/TorchScript/torch.export files that compute what the PyTorch model computes,
for torchvision and timm backbones; the README's onnxruntime-only snippet gives predict's labels."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from fgclass.config import CONF_DIR, compose_config
from fgclass.export import export_checkpoint
from fgclass.inference.exporters import ExportError, export
from fgclass.models import Classifier
from fgclass.predict import predict

from .test_predict import predict_config, read_csv

REPO = CONF_DIR.parent


def export_config(tmp_path: Path, *overrides: str) -> DictConfig:
    return compose_config("export", list(overrides), tmp_path)


@pytest.fixture(scope="module")
def onnx_export(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained run's best checkpoint exported to ONNX with a dynamic batch (parity on its test split)."""
    tmp = tmp_path_factory.mktemp("export")
    ckpt = next((trained_run / "checkpoints").glob("epoch*.ckpt"))
    export_checkpoint(export_config(tmp, f"ckpt_path={ckpt}", "batch_size=8"))
    return tmp / "run"


def test_onnx_export_passes_its_parity_check_and_describes_itself(
    onnx_export: Path, trained_run: Path
) -> None:
    info = json.loads((onnx_export / "model.json").read_text())
    parity = info["parity"]
    assert parity["passed"] and parity["images"] == 8 and parity["batch_sizes"] == [1, 8]
    assert parity["top1_agreement"] == 1.0 and parity["max_abs_diff"] <= 1e-3
    assert info["input"] == {
        "name": "images",
        "dtype": "uint8",
        "layout": "NCHW, RGB",
        "shape": ["batch", 3, 32, 32],
    }
    assert info["preprocessing"]["resize_shorter_side"] == 36 and info["preprocessing"]["center_crop"] == 32
    assert len(info["class_names"]) == 9 and info["opset"] == 18 and info["torch"] == torch.__version__
    session = onnxruntime.InferenceSession(str(onnx_export / "model.onnx"))
    for batch in (1, 3, 10):  # any batch size; the OOD score beside the logits
        logits, score = session.run(None, {"images": np.zeros((batch, 3, 32, 32), np.uint8)})
        assert logits.shape == (batch, 9) and score.shape == (batch,)
    ckpt = next((trained_run / "checkpoints").glob("epoch*.ckpt"))
    rule = torch.load(ckpt, weights_only=True)["hyper_parameters"]["rejection"]
    assert info["score"]["kind"] == rule["score"] and info["score"]["unknown_below"] == rule["threshold"]


def test_readme_snippet_needs_only_onnxruntime_and_gives_predicts_labels(
    onnx_export: Path, trained_run: Path, tmp_path: Path
) -> None:
    readme = (REPO / "README.md").read_text()
    snippet = re.search(r"<!-- onnx-snippet.*?-->\n```python\n(.*?)```", readme, re.S).group(1)
    imports = set(re.findall(r"^(?:import|from) (\w+)", snippet, re.M))
    assert imports <= {"json", "sys", "numpy", "onnxruntime", "PIL"}
    (onnx_export / "predict_onnx.py").write_text(snippet)
    ckpt = next((trained_run / "checkpoints").glob("epoch*.ckpt"))
    # at the resize size already, so PIL's and OpenCV's resizes (which differ by a grey level here and
    # there, enough to flip this barely trained model's near-ties) leave them alone; the crop, channel
    # order, normalisation and class order are what is compared
    (tmp_path / "inputs").mkdir()
    images = []
    for i, source in enumerate(sorted(_run_test_images(trained_run))):
        images.append(tmp_path / "inputs" / f"{i:02d} {Path(source).stem}.png")  # a space in the path too
        Image.open(source).convert("RGB").resize((44, 36), Image.BILINEAR).save(images[-1])
    # in fp32, as onnxruntime runs the file (bf16 autocast, the default on AMX CPUs, flips near-ties)
    predict(
        predict_config(
            tmp_path,
            f"ckpt_path={ckpt}",
            f"inputs={_as_csv(images, tmp_path)}",
            "trainer.precision=32-true",
            "reject=false",  # the snippet always names a class
        )
    )
    predicted = read_csv(tmp_path / "run" / "predictions.csv")
    expected = {r["path"]: r["predicted_label"] for r in predicted}
    # run as written, then make sure neither torch nor fgclass was needed
    check = "import runpy, sys; runpy.run_path('predict_onnx.py', run_name='__main__'); "
    check += "assert not {'torch', 'fgclass'} & set(sys.modules), 'snippet imported torch'"
    result = subprocess.run(
        [sys.executable, "-c", check, *map(str, images)],
        cwd=onnx_export,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()  # "<path> <label>", in argument order; both may hold spaces
    assert len(lines) == len(images) and all(line.startswith(f"{p} ") for p, line in zip(images, lines))
    assert {str(p): line[len(str(p)) + 1 :] for p, line in zip(images, lines)} == expected
    # the temperature is part of the graph: its softmax is predict's calibrated probability
    temperature = json.loads((onnx_export / "model.json").read_text())["temperature"]
    assert temperature == torch.load(ckpt, weights_only=True)["hyper_parameters"]["temperature"] != 1.0
    session = onnxruntime.InferenceSession(str(onnx_export / "model.onnx"))
    pixels = np.stack(
        [np.asarray(Image.open(p).convert("RGB"))[2:34, 6:38].transpose(2, 0, 1) for p in images]
    )
    probs = torch.from_numpy(session.run(None, {"images": pixels})[0]).softmax(1).max(1).values
    by_path = {r["path"]: float(r["top1_prob"]) for r in predicted}
    assert [by_path[str(p)] for p in images] == pytest.approx(probs.tolist(), abs=1e-4)


def _run_test_images(run: Path) -> list[str]:
    root = Path(OmegaConf.load(run / "run_config.yaml").data.root) / "Fish_Dataset"
    return [str(root / r["path"]) for r in read_csv(run / "splits.csv") if r["split"] == "test"]


def _as_csv(images: list[Path], tmp_path: Path) -> Path:
    listing = tmp_path / "images.csv"
    listing.write_text("path\n" + "".join(f"{p}\n" for p in images))
    return listing


@pytest.mark.parametrize("fmt", ["torchscript", "exported_program"])
def test_torch_formats_pass_parity_with_a_fixed_batch(trained_run: Path, tmp_path: Path, fmt: str) -> None:
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    result = export_checkpoint(
        export_config(tmp_path, f"ckpt_path={ckpt}", f"format={fmt}", "dynamic_batch=false", "batch_size=4")
    )
    assert result["top1_agreement"] == 1.0 and result["max_abs_diff"] <= 1e-3
    info = json.loads((tmp_path / "run" / "model.json").read_text())
    assert info["parity"]["batch_sizes"] == [4] and info["input"]["shape"][0] == 4


def test_timm_backbone_exports_to_onnx_with_a_fixed_batch(tmp_path: Path) -> None:
    model = Classifier(
        5, [f"c{i}" for i in range(5)], backbone="timm/resnet10t", image_size=48, resize_size=56
    ).eval()
    images = torch.randint(0, 256, (6, 3, 48, 48), dtype=torch.uint8)
    path, parity = export(model, images, tmp_path, "onnx", dynamic_batch=False)
    assert parity.passed and parity.batch_sizes == [6]
    session = onnxruntime.InferenceSession(str(path))
    assert session.get_inputs()[0].shape == [6, 3, 48, 48]
    with torch.no_grad():
        np.testing.assert_allclose(
            session.run(None, {"images": images.numpy()})[0], model(images).numpy(), atol=1e-4
        )


def test_export_fails_and_removes_the_file_when_parity_fails(trained_run: Path, tmp_path: Path) -> None:
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    # ONNX Runtime's kernels differ from PyTorch's in the last bits: no tolerance this small holds
    with pytest.raises(ExportError, match=r"disagrees with the PyTorch model .*\(tolerance 1e-30\)"):
        export_checkpoint(export_config(tmp_path, f"ckpt_path={ckpt}", "format=onnx", "tolerance=1e-30"))
    assert not (tmp_path / "run" / "model.onnx").exists()
    assert json.loads((tmp_path / "run" / "model.json").read_text())["parity"]["passed"] is False


def test_unknown_format_is_a_clear_error(trained_run: Path, tmp_path: Path) -> None:
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    with pytest.raises(ExportError, match="format='tflite' is not supported: use one of onnx, torchscript"):
        export_checkpoint(
            export_config(tmp_path, f"ckpt_path={ckpt}", "format=tflite", f"images={REPO / 'tests' / 'data'}")
        )
