"""Image files as users have them: phone photos stored sideways with an EXIF orientation, images too
large to decode, symbolic links (loops, outside the data root, broken), and names with spaces and
non-ASCII characters; through the one decoder, the scan, the data module and predict."""

from __future__ import annotations

import csv
import functools
import os
import shutil
import struct
import warnings
import zlib
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import pytest
from albumentations.pytorch import ToTensorV2
from omegaconf import OmegaConf
from PIL import Image

from fgclass.config import compose_config
from fgclass.data import ButterflyLayout, ImageClassificationDataModule, ImageFolderLayout
from fgclass.data.dataset import ImageDataset
from fgclass.data.images import MAX_PIXELS, ImageError, decode_fully, load_rgb, read_file
from fgclass.data.scan import scan_file
from fgclass.data.synthetic import draw_image, write_butterfly_dataset
from fgclass.errors import DataError
from fgclass.predict import predict

T = Image.Transpose
# how to store the upright pixels so that a viewer applying EXIF orientation N shows them upright
STORE = {2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE, 6: T.ROTATE_90}
STORE |= {7: T.TRANSVERSE, 8: T.ROTATE_270}
FORMATS = {"png": {}, "tif": {}, "jpg": {"quality": 95}, "webp": {"quality": 95}}


def upright_photo(height: int = 48, width: int = 80) -> np.ndarray:
    """A landscape picture whose every flip and rotation differs: colour blocks, smooth enough
    for lossy formats to keep them within a few levels."""
    blocks = np.random.default_rng(0).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    return cv2.resize(blocks, (width, height), interpolation=cv2.INTER_NEAREST)


def save_oriented(path: Path, upright: np.ndarray, orientation: int) -> Path:
    """Write ``upright`` stored turned as a camera held at ``orientation`` stores it, with the tag."""
    stored = Image.fromarray(upright)
    if orientation in STORE:
        stored = stored.transpose(STORE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    stored.save(path, exif=exif, **FORMATS[path.suffix[1:]])
    return path


def assert_same_picture(decoded: np.ndarray, upright: np.ndarray, lossy: bool) -> None:
    assert decoded.shape == upright.shape
    difference = np.abs(decoded.astype(int) - upright.astype(int)).mean()
    assert difference <= (6 if lossy else 0), difference  # a wrong turn differs by ~100


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_both_decodes_turn_an_exif_oriented_photo_upright(
    tmp_path: Path, suffix: str, orientation: int
) -> None:
    upright = upright_photo()
    path = save_oriented(tmp_path / f"photo.{suffix}", upright, orientation)
    lossy = suffix in ("jpg", "webp")
    assert_same_picture(load_rgb(path), upright, lossy)  # training, evaluation, embeddings
    assert_same_picture(load_rgb(path, verify=True), upright, lossy)  # predict
    pil = np.asarray(decode_fully(path, read_file(path)).convert("RGB"))  # the scan
    assert_same_picture(pil, upright, lossy)


def test_the_scan_and_the_dataset_see_the_upright_photo(tmp_path: Path) -> None:
    upright = upright_photo()
    Image.fromarray(upright).save(tmp_path / "upright.png")
    for orientation in (6, 8, 3):
        save_oriented(tmp_path / f"turned{orientation}.png", upright, orientation)
    plain = scan_file(tmp_path / "upright.png")
    for orientation in (6, 8, 3):
        turned = scan_file(tmp_path / f"turned{orientation}.png")
        assert (turned.width, turned.height, turned.hashes) == (plain.width, plain.height, plain.hashes)
        assert turned.digest != plain.digest  # different bytes, the same picture
    save_oriented(tmp_path / "turned6.jpg", upright, 6)
    assert (scan_file(tmp_path / "turned6.jpg").width, scan_file(tmp_path / "turned6.jpg").height) == (80, 48)
    dataset = ImageDataset(tmp_path, ["turned6.png", "turned8.png"], [0, 1], A.Compose([ToTensorV2()]))
    for index in range(2):
        image, _, _ = dataset[index]
        assert_same_picture(image.permute(1, 2, 0).numpy(), upright, lossy=False)


# --- images too large to decode ------------------------------------------------------------------
def claim_size(png: bytes, width: int, height: int) -> bytes:
    """``png`` with a header that claims ``width`` x ``height`` (its pixel data left as it is)."""
    body = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:12] + body + struct.pack(">I", zlib.crc32(body)) + png[33:]


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 12,000 x 12,000 PNG (144 Mpx) of one colour: 40 KB on disk, 144 MB to write once."""
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    Image.new("1", (12_000, 12_000), 1).save(path)
    assert path.stat().st_size < 100_000
    return path


def test_an_image_over_the_pixel_limit_is_refused_by_name_with_its_size_and_the_fix(
    tmp_path: Path, huge_png: Path
) -> None:
    big = Path(shutil.copy(huge_png, tmp_path / "scan 12k.png"))
    small = tmp_path / "small.png"
    Image.fromarray(upright_photo()).save(small)
    bomb = tmp_path / "bomb.png"  # a header claiming 400 Mpx, beyond PIL's own hard limit
    bomb.write_bytes(claim_size(small.read_bytes(), 20_000, 20_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either
        for verify in (False, True):  # the data module's decode, predict's
            with pytest.raises(
                ImageError, match=r"scan 12k\.png': 12000 x 12000 pixels \(144\.0 Mpx\) in PNG"
            ):
                load_rgb(big, verify=verify)
        record = scan_file(big)
        assert "more than the 89.5 Mpx that fgclass decodes; save a copy of at most" in record.error
        for read in (
            load_rgb,
            functools.partial(load_rgb, verify=True),
            lambda path: decode_fully(path, read_file(path)),
        ):
            with pytest.raises(ImageError, match=r"more than 179 Mpx, too large to decode; save a copy"):
                read(bomb)
    assert MAX_PIXELS == Image.MAX_IMAGE_PIXELS  # the limit is PIL's


def test_a_dataset_with_an_oversized_image_stops_with_the_file_named(tmp_path: Path, huge_png: Path) -> None:
    root = write_folder(tmp_path / "data", ("cat", "dog"))
    shutil.copy(huge_png, root / "cat" / "huge.png")
    module = ImageClassificationDataModule(root, ImageFolderLayout, tmp_path / "run", **SMALL)
    with pytest.raises(DataError, match=r"1 image files cannot be decoded") as error:
        module.prepare_data()
    assert f"{root / 'cat' / 'huge.png'}: 12000 x 12000 pixels" in str(error.value)


@pytest.mark.slow  # writes and decodes a 144 Mpx JPEG: ~10 s and ~0.5 GB
def test_a_jpeg_over_the_pixel_limit_is_read_at_half_size_by_both_decodes(tmp_path: Path) -> None:
    path = tmp_path / "camera.jpg"
    Image.new("L", (12_000, 12_000), 128).save(path, quality=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_rgb(path).shape == load_rgb(path, verify=True).shape == (6_000, 6_000, 3)
        record = scan_file(path)
    assert (record.width, record.height, record.error) == (6_000, 6_000, None)


# --- names, links and loops ----------------------------------------------------------------------
SMALL = {"image_size": 32, "resize_size": 36, "batch_size": 4, "num_workers": 0}


def write_folder(root: Path, classes: tuple[str, ...], per_class: int = 6) -> Path:
    """``<root>/<class>/<name>.jpg`` pictures, named with spaces and non-ASCII characters."""
    rng = np.random.default_rng(1)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            _, data = cv2.imencode(".jpg", draw_image(k, len(classes), 32, rng))
            (root / name / f"ä b {i:02d} – Größe.jpg").write_bytes(data.tobytes())
    return root


def test_non_ascii_names_and_symbolic_link_loops_through_the_data_module(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "Schmetterlinge Ü", ("Größe Falter", "Kleiner Fuchs", "Zitronen falter"))
    (root / "Größe Falter" / "loop").symlink_to("..")  # a folder that contains itself
    (root / "Kleiner Fuchs" / "unten").mkdir()
    (root / "Kleiner Fuchs" / "unten" / "zurück").symlink_to("../..")
    outside = tmp_path / "elsewhere" / "ein Foto.jpg"
    outside.parent.mkdir()
    shutil.copy(root / "Kleiner Fuchs" / "ä b 00 – Größe.jpg", outside)
    (root / "Kleiner Fuchs" / "verlinkt.jpg").symlink_to(outside)  # followed, wherever it points
    module = ImageClassificationDataModule(root, ImageFolderLayout, tmp_path / "run", **SMALL)
    module.setup("fit")
    with (tmp_path / "run" / "splits.csv").open(newline="", encoding="utf-8") as handle:
        paths = sorted(row["path"] for row in csv.DictReader(handle))
    assert len(paths) == 19 and "Größe Falter/ä b 00 – Größe.jpg" in paths  # loops not followed
    assert "Kleiner Fuchs/verlinkt.jpg" in paths
    assert module.class_names == ["Größe Falter", "Kleiner Fuchs", "Zitronen falter"]
    images, labels, _ = next(iter(module.train_dataloader()))
    assert images.shape[1:] == (3, 32, 32) and len(labels) == 4


def test_links_in_the_butterfly_folder_say_what_they_are(tmp_path: Path) -> None:
    root = write_butterfly_dataset(tmp_path / "butterfly", images_per_class=4, image_size=32)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.move(root / "train" / "Image_2.jpg", outside / "Image_2.jpg")
    (root / "train" / "Image_2.jpg").symlink_to(outside / "Image_2.jpg")  # an image: followed
    (outside / "notes.txt").write_text("not a photo")
    (root / "train" / "Image_3.jpg").unlink()
    (root / "train" / "Image_3.jpg").symlink_to(outside / "notes.txt")
    module = ImageClassificationDataModule(root, ButterflyLayout, tmp_path / "run", **SMALL)
    with pytest.raises(DataError, match=r"1 image files cannot be decoded") as error:
        module.prepare_data()
    message = str(error.value)
    assert (
        f"{root / 'train' / 'Image_3.jpg'}: not an image (no image format recognised); "
        f"it is a symbolic link to '{outside / 'notes.txt'}'"
    ) in message
    assert "corrupt" not in message and "Image_2.jpg" not in message

    (root / "train" / "Image_3.jpg").unlink()
    (root / "train" / "Image_3.jpg").symlink_to(outside / "deleted.jpg")
    with pytest.raises(DataError, match=r"listed files are missing") as error:
        module.prepare_data()
    assert f"'Image_3.jpg': a broken symbolic link to '{outside / 'deleted.jpg'}'" in str(error.value)


# --- predict -------------------------------------------------------------------------------------
def test_predict_reads_turned_linked_and_oddly_named_photos_and_names_what_it_cannot(
    trained_run: Path, tmp_path: Path, huge_png: Path
) -> None:
    ckpt = next((trained_run / "checkpoints").glob("epoch*.ckpt"))
    data_root = Path(OmegaConf.load(trained_run / "run_config.yaml").data.root) / "Fish_Dataset"
    upright = load_rgb(next(data_root.glob("*/*/*.png")))
    folder = tmp_path / "Fotos vom Markt"
    (folder / "Größe Fische").mkdir(parents=True)
    Image.fromarray(upright).save(folder / "upright.png")
    save_oriented(folder / "Größe Fische" / "ä b gedreht.png", upright, 6)
    save_oriented(folder / "Größe Fische" / "ä b gespiegelt.png", upright, 7)
    outside = tmp_path / "outside.png"
    shutil.copy(folder / "upright.png", outside)
    (folder / "verlinkt.png").symlink_to(outside)
    (folder / "weg.png").symlink_to(tmp_path / "deleted.png")
    (folder / "kreis.png").symlink_to("kreis.png")
    (folder / "Größe Fische" / "loop").symlink_to("..")
    shutil.copy(huge_png, folder / "riesig.png")
    cfg = compose_config(
        "predict",
        ["trainer.accelerator=cpu", "num_workers=0", f"ckpt_path={ckpt}", f"inputs={folder}", "reject=false"],
        tmp_path,
    )
    assert predict(cfg) == {"predicted": 4, "skipped": 3}
    with (tmp_path / "run" / "predictions.csv").open(newline="", encoding="utf-8") as handle:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(handle)}
    assert sorted(rows) == ["upright.png", "verlinkt.png", "ä b gedreht.png", "ä b gespiegelt.png"]
    same = {name: (r["predicted_label"], r["top1_prob"]) for name, r in rows.items()}
    assert len(set(same.values())) == 1, same  # the same pixels, however stored
    with (tmp_path / "run" / "skipped.csv").open(newline="", encoding="utf-8") as handle:
        skipped = {Path(r["path"]).name: r["reason"] for r in csv.DictReader(handle)}
    assert skipped["weg.png"] == f"a broken symbolic link to '{tmp_path / 'deleted.png'}'"
    assert skipped["kreis.png"] == "a symbolic link loop (it points to 'kreis.png')"
    assert skipped["riesig.png"].startswith("12000 x 12000 pixels (144.0 Mpx) in PNG, more than the 89.5 Mpx")
    assert os.path.islink(folder / "verlinkt.png")
