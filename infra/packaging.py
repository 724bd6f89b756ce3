"""Build what the Lambda functions ship, without Docker, cached by content hash.

Everything lands under ``layers/build/`` (git-ignored) and is rebuilt only when its inputs
change, so a warm ``cdk synth`` copies nothing and installs nothing:

- ``runtime_layer_dir(arch)``: the third-party runtime dependencies (requirements/runtime.txt
  only) as manylinux wheels for the functions' architecture and Python 3.12, slimmed, with
  ``.pyc`` compiled by Python 3.12.
- ``domain_layer_dir()``: the ``propensity`` library alone, with ``.pyc``.
- ``model_bundle_dir(config, api)``: the pinned model bundle (``models.lock.json``, else the
  stage's cdk.json pin), fetched from the registry (an ``s3://`` registry through its local
  mirror, ``propensity registry pull``), checked against its sealed registration record and the
  lock's manifest SHA-256; refused when the stage requires an approval record it does not have.
- ``function_code_dir(name)`` and ``prediction_code_dir(api, bundle)``: a function's folder,
  and the prediction function's asset (handler folder + ``model/``), so that a new model
  version is a new asset hash and therefore a new Lambda version.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from infra.config import StageConfig
from propensity.bundle.io import REGISTRATION_FILE, BundleError, file_sha256, read_manifest, verify_files
from propensity.bundle.manifest import MANIFEST_FILE
from propensity.constants import ALIASES, ApiVersion
from propensity.promotion.approvals import approvals
from propensity.promotion.lock import Pin, read_lock
from propensity.registry.factory import open_registry
from propensity.registry.manifests import shipped_manifest_name
from propensity.registry.registry import Registry, RegistryError

ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = ROOT / "layers" / "build"
FUNCTIONS_DIR = ROOT / "functions"
DOMAIN_PACKAGE_DIR = ROOT / "layers" / "domain" / "propensity"
RUNTIME_REQUIREMENTS = ROOT / "requirements" / "runtime.txt"

# Where the prediction function finds its bundle inside its own asset (MODEL_DIR_V1/V2).
MODEL_SUBDIR = "model"
# The prediction function's fixed environment (infra/constructs/prediction.py adds the per-stage
# variables); the benchmarks start the handler with the same one.
PREDICTION_ENVIRONMENT: Mapping[str, str] = {
    # No AWS calls on the serving path: skip patching botocore.
    "TRACE_AWS_SDK": "false",
    # No pydantic plugin is installed: the first model would otherwise scan the metadata of every
    # distribution on the path (the runtime's own included) for plugin entry points at cold start.
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
}
LAMBDA_PYTHON = "3.12"
COMPLETE_MARKER = ".complete.json"

# Packages the Lambda Python runtime already provides: botocore and what only it needs.
# Powertools' tracer extra pulls botocore in through aws-xray-sdk; shipping a second copy would
# add about 25 MiB and shadow the runtime's patched one. jmespath stays: Powertools imports it.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore", "s3transfer", "python-dateutil", "six", "urllib3"})
# Folders that are never imported at run time (shared libraries are kept: stripping or
# removing them breaks numpy's OpenBLAS).
SLIM_DIR_NAMES = frozenset({"tests", "test", "__pycache__"})
SLIM_SUFFIXES = (".pyi", ".pyx", ".pxd", ".c", ".h")
ARCHITECTURES = {"arm64": "aarch64", "x86_64": "x86_64"}


class PackagingError(RuntimeError):
    """A layer, bundle or function asset could not be built; the message says why and what to do."""


# Content hashing -------------------------------------------------------------------------------


def _digest(parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _tree_files(root: Path) -> list[Path]:
    """Files under ``root`` that belong in an asset (no caches, no build leftovers), sorted."""
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and not any(
            part in SLIM_DIR_NAMES or part.endswith(".egg-info") for part in path.relative_to(root).parts
        )
        and path.suffix != ".pyc"
    )


def _tree_hash(root: Path) -> list[bytes]:
    return [
        f"{path.relative_to(root).as_posix()}\0".encode() + path.read_bytes() for path in _tree_files(root)
    ]


def _source_of(*functions: Callable[..., object]) -> list[bytes]:
    """The build recipe itself is part of the key: changing how a layer is built rebuilds it."""
    return [inspect.getsource(function).encode() for function in functions]


# Cached build folders ----------------------------------------------------------------------------


def _cached_build(kind: str, key: str, build: Callable[[Path], dict[str, object]]) -> Path:
    """``layers/build/<kind>-<key>``, built by ``build(staging)`` unless already complete.

    The build happens in a staging folder that is renamed into place only when it succeeded,
    so an interrupted build never leaves a folder that looks complete. Older builds of the same
    kind are removed.
    """
    target = BUILD_DIR / f"{kind}-{key[:16]}"
    if (target / COMPLETE_MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        details = build(staging)
        (staging / COMPLETE_MARKER).write_text(json.dumps({"key": key, **details}, indent=2, sort_keys=True))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for stale in BUILD_DIR.glob(f"{kind}-*"):
        if stale != target and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    return target


def build_details(layer_dir: Path) -> dict[str, object]:
    """What a build recorded: its key, the interpreter and pip used, resolved versions."""
    marker = layer_dir / COMPLETE_MARKER
    if not marker.is_file():
        raise PackagingError(f"{layer_dir} is not a finished build")
    details: dict[str, object] = json.loads(marker.read_text())
    return details


# Python 3.12 tooling -----------------------------------------------------------------------------


def python312() -> list[str] | None:
    """A command that runs Python 3.12 (the Lambda runtime's), or ``None`` when there is none.

    ``$LAMBDA_PYTHON`` wins; then pyenv's 3.12 (present on the project's machines), then any
    ``python3.12`` on the PATH.
    """
    candidates: list[tuple[list[str], dict[str, str]]] = []
    if os.environ.get("LAMBDA_PYTHON"):
        candidates.append(([os.environ["LAMBDA_PYTHON"]], {}))
    for version in ("3.12.1", ""):
        candidates.append((["python3.12"], {"PYENV_VERSION": version} if version else {}))
    for command, extra in candidates:
        if shutil.which(command[0]) is None:
            continue
        env = {**os.environ, **extra}
        try:
            probe = subprocess.run(  # noqa: S603 (a fixed interpreter probe, no outside input)
                [*command, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and probe.stdout.strip() == LAMBDA_PYTHON:
            return ["env", *(f"{k}={v}" for k, v in extra.items()), *command]
    return None


def _pip_command() -> tuple[list[str], str]:
    """pip run by Python 3.12 when available (it checks Requires-Python against 3.12 itself);
    otherwise this interpreter's pip, which must be 26 or newer to honour ``--python-version``
    when resolving (older ones silently resolve for the running interpreter)."""
    interpreter = python312()
    if interpreter is not None:
        return [*interpreter, "-m", "pip"], "python3.12"
    import pip

    major = int(pip.__version__.split(".")[0])
    if major < 26:
        raise PackagingError(
            f"no Python {LAMBDA_PYTHON} found and this pip is {pip.__version__}: install Python "
            f"{LAMBDA_PYTHON} (or set $LAMBDA_PYTHON) or upgrade pip to 26+ (`make setup` does)"
        )
    return [sys.executable, "-m", "pip"], f"python{sys.version_info.major}.{sys.version_info.minor}"


def _compile_pyc(directory: Path) -> bool:
    """Compile ``.pyc`` with Python 3.12 so Lambda's read-only code folder never recompiles.

    ``unchecked-hash`` pycs are used because CDK zips assets with fixed timestamps: a
    timestamp-checked pyc would never match its source there and be ignored. Returns False
    (and ships sources only) when no Python 3.12 is available.
    """
    interpreter = python312()
    if interpreter is None:
        return False
    subprocess.run(  # noqa: S603 (arguments built here from fixed values and our own paths)
        [
            *interpreter,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(directory),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return True


# Runtime dependencies layer ----------------------------------------------------------------------


def _pip_install_args(architecture: str, target: Path) -> list[str]:
    machine = ARCHITECTURES[architecture]
    return [
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        # Both tags: with only manylinux_2_28, pip backtracks to pydantic 1 and an old FastAPI.
        "--platform",
        f"manylinux2014_{machine}",
        "--platform",
        f"manylinux_2_28_{machine}",
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON,
        "--only-binary=:all:",
        "--upgrade",
        "--target",
        str(target),
        "-r",
        str(RUNTIME_REQUIREMENTS),
    ]


def _remove_distribution(site: Path, dist_info: Path) -> None:
    """Delete an installed distribution by its RECORD (every file it installed)."""
    record = dist_info / "RECORD"
    if record.is_file():
        for line in record.read_text().splitlines():
            relative = line.split(",")[0]
            if relative:
                (site / relative).unlink(missing_ok=True)
    shutil.rmtree(dist_info, ignore_errors=True)
    # Deepest first, so a package's folders disappear once the files inside them are gone.
    for folder in sorted(
        (p for p in site.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
    ):
        if not any(folder.iterdir()):
            folder.rmdir()


def _slim(site: Path) -> None:
    """Drop tests, caches and build-only sources; shared libraries stay untouched."""
    for folder in sorted(site.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and folder.name in SLIM_DIR_NAMES:
            shutil.rmtree(folder, ignore_errors=True)
    for file in site.rglob("*"):
        if file.is_file() and file.suffix in SLIM_SUFFIXES:
            file.unlink()


def _installed_versions(site: Path) -> dict[str, str]:
    versions = {}
    for dist_info in site.glob("*.dist-info"):
        name, _, version = dist_info.name.removesuffix(".dist-info").partition("-")
        versions[name.lower().replace("_", "-")] = version
    return dict(sorted(versions.items()))


def _build_runtime_layer(staging: Path, architecture: str) -> dict[str, object]:
    site = staging / "python"
    pip, pip_python = _pip_command()
    result = subprocess.run(  # noqa: S603 (arguments built here from fixed values and our own paths)
        [*pip, *_pip_install_args(architecture, site)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise PackagingError(
            f"building the runtime layer for {architecture} failed (pip needs the package index the "
            f"first time; later builds are cached):\n{result.stderr[-4000:]}"
        )
    for dist_info in list(site.glob("*.dist-info")):
        name = dist_info.name.removesuffix(".dist-info").rpartition("-")[0].lower().replace("_", "-")
        if name in PROVIDED_BY_RUNTIME:
            _remove_distribution(site, dist_info)
    shutil.rmtree(site / "bin", ignore_errors=True)
    _slim(site)
    compiled = _compile_pyc(site)
    return {
        "architecture": architecture,
        "pip_python": pip_python,
        "pyc": compiled,
        "versions": _installed_versions(site),
    }


def runtime_layer_dir(architecture: str = "arm64") -> Path:
    """The third-party runtime layer for ``architecture`` (``arm64`` or ``x86_64``).

    Installed from requirements/runtime.txt only, as manylinux wheels for CPython 3.12, under
    ``python/`` (the layer layout Lambda expects). Cached by the hash of the requirements and of
    this recipe; the first build needs the package index, later ones are offline.
    """
    if architecture not in ARCHITECTURES:
        raise PackagingError(
            f"unknown architecture {architecture!r}; expected one of {sorted(ARCHITECTURES)}"
        )
    key = _digest(
        [
            architecture.encode(),
            RUNTIME_REQUIREMENTS.read_bytes(),
            json.dumps(sorted(PROVIDED_BY_RUNTIME)).encode(),
            *_source_of(_build_runtime_layer, _pip_install_args, _slim, _compile_pyc, _remove_distribution),
        ]
    )
    return _cached_build(
        f"runtime-{architecture}", key, lambda staging: _build_runtime_layer(staging, architecture)
    )


# Domain library layer ----------------------------------------------------------------------------


def _build_domain_layer(staging: Path) -> dict[str, object]:
    target = staging / "python" / DOMAIN_PACKAGE_DIR.name
    for file in _tree_files(DOMAIN_PACKAGE_DIR):
        destination = target / file.relative_to(DOMAIN_PACKAGE_DIR)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, destination)
    return {"pyc": _compile_pyc(staging / "python"), "files": len(_tree_files(target))}


def domain_layer_dir() -> Path:
    """The ``propensity`` library as a layer (``python/propensity``), rebuilt when any file changes."""
    key = _digest([*_tree_hash(DOMAIN_PACKAGE_DIR), *_source_of(_build_domain_layer, _compile_pyc)])
    return _cached_build("domain", key, _build_domain_layer)


# Model bundles -----------------------------------------------------------------------------------


def _registry_for(location: str) -> Registry:
    """Relative registry folders are relative to the repository root (where cdk.json lives)."""
    if location.startswith("s3://") or Path(location).is_absolute():
        return open_registry(location)
    return open_registry(str(ROOT / location))


def lock_path(config: StageConfig) -> Path:
    """The stage's lock file (relative paths from the repository root)."""
    path = Path(config.lock_file)
    return path if path.is_absolute() else ROOT / path


def locked_pin(config: StageConfig, api: ApiVersion) -> Pin | None:
    """The lock file's pin of ``api`` for the stage, if any."""
    try:
        return read_lock(lock_path(config)).pin(config.stage, api)
    except ValueError as error:
        raise PackagingError(str(error)) from error


def source_registry(config: StageConfig, api: ApiVersion) -> Registry:
    """Where synth reads the bundle: the pin's folder registry, or the mirror of its ``s3://`` one.

    Synth needs no AWS credentials: an S3 registry is read through its local mirror
    (``propensity registry pull --remote s3://... --registry <mirror>``, which verifies every
    record's KMS signature before copying), and the lock file's manifest SHA-256 ties what is
    packaged to what was promoted.
    """
    pin = config.models.get(api)
    if pin is None:
        raise PackagingError(
            f"stage {config.stage}: no model pinned for {api} (context stages.{config.stage}.models)"
        )
    return _registry_for(config.synth_mirror if pin.registry.startswith("s3://") else pin.registry)


def resolve_model_version(config: StageConfig, api: ApiVersion) -> str:
    """The model version a stage ships for ``api``: the lock file's pin, else cdk.json's (or its alias)."""
    locked = locked_pin(config, api)
    if locked is not None:
        return locked.model_version
    if config.require_lock:
        raise PackagingError(
            f"stage {config.stage} ships only models pinned in {lock_path(config).name}, and it pins no "
            f"{api} model; `propensity promote <version> --api {api} --stage {config.stage} --reason ...` "
            "writes the pin (see docs/promotion.md)"
        )
    pin = config.models.get(api)
    if pin is None:
        raise PackagingError(
            f"stage {config.stage}: no model pinned for {api} (context stages.{config.stage}.models)"
        )
    registry = source_registry(config, api)
    if pin.version in ALIASES:
        try:
            version = registry.alias(api, pin.version)  # type: ignore[arg-type]
        except RegistryError as error:
            raise PackagingError(f"stage {config.stage}: {error}") from error
        if version is None:
            raise PackagingError(
                f"stage {config.stage}: {api} ships the {pin.version!r} alias, but it points at no model in "
                f"{registry.store.location}; train and register one first "
                f"(`propensity train --api {api} --champion-if-none`, or `make models`)"
            )
        return version
    return pin.version


def _cached_copy_is_good(target: Path, manifest_sha256: str) -> bool:
    try:
        if (
            not (target / REGISTRATION_FILE).is_file()
            or file_sha256(target / MANIFEST_FILE) != manifest_sha256
        ):
            return False
        verify_files(target, read_manifest(target))
    except (BundleError, OSError):
        return False
    return True


def model_bundle_dir(config: StageConfig, api: ApiVersion) -> Path:
    """The verified bundle a stage ships for ``api``, under ``layers/build/models/<api>/<version>/``.

    Refuses (``PackagingError``, which fails synth) when the version is unknown, when its
    registration record, manifest or any file does not verify (the message names the file),
    when the manifest is not the one the lock file pins, or when the stage requires an approval
    and the registry holds no approval record for the version.
    """
    version = resolve_model_version(config, api)
    registry = source_registry(config, api)
    try:
        registration = registry.registration(api, version)
        manifest = registry.verify(api, version)
        approvers = [a.approver for a in approvals(registry, api, version)]
    except KeyError:
        mirror = config.models[api].registry if config.models[api].registry.startswith("s3://") else None
        hint = (
            f"; mirror the stage's registry first: `propensity registry pull --remote {mirror} --registry "
            f"{config.synth_mirror}`"
            if mirror
            else ""
        )
        raise PackagingError(
            f"stage {config.stage}: {api} model {version} is not registered in "
            f"{registry.store.location}{hint}"
        ) from None
    except RegistryError as error:
        raise PackagingError(f"stage {config.stage}: {error}") from error
    locked = locked_pin(config, api)
    if locked is not None and locked.manifest_sha256 != registration.manifest_sha256:
        raise PackagingError(
            f"stage {config.stage}: {lock_path(config).name} pins {api} model {version} with manifest "
            f"SHA-256 {locked.manifest_sha256[:12]}…, but {registry.store.location} registered "
            f"{registration.manifest_sha256[:12]}…; refusing to package another model under the pinned name"
        )
    if config.require_approval and not approvers:
        raise PackagingError(
            f"stage {config.stage} requires an approved model, and {api} model {version} has no approval "
            f"record; approve it in the registry first (refusing to package an unapproved model)"
        )
    if manifest.api_version != api:
        raise PackagingError(f"{api} model {version} was built for another API version")
    target = BUILD_DIR / "models" / api / version
    if target.is_dir() and _cached_copy_is_good(target, registration.manifest_sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
    try:
        try:
            fetched = registry.fetch(api, version, staging / "bundle")
        except RegistryError as error:
            raise PackagingError(f"stage {config.stage}: {error}") from error
        shutil.rmtree(target, ignore_errors=True)
        fetched.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# Function code -----------------------------------------------------------------------------------


def function_code_dir(name: str) -> Path:
    """``functions/<name>/``, checked to exist (each handler is ``<name>_handler.lambda_handler``)."""
    path = FUNCTIONS_DIR / name
    if not (path / f"{name}_handler.py").is_file():
        raise PackagingError(f"{path} has no {name}_handler.py")
    return path


def bundled_code_dir(name: str, extra: dict[str, Path], label: str) -> Path:
    """A function's folder with extra folders or files copied in (``extra``: name inside -> source).

    Cached under ``layers/build/assets/<name>-<label>-<hash>``; the hash covers the code and every
    extra file, so a different bundle is a different asset (and a different Lambda version).
    """
    code = function_code_dir(name)
    parts = _tree_hash(code)
    for inside, source in sorted(extra.items()):
        parts.append(inside.encode())
        parts.extend(_tree_hash(source) if source.is_dir() else [source.read_bytes()])
    key = _digest(parts)

    def build(staging: Path) -> dict[str, object]:
        for file in _tree_files(code):
            destination = staging / file.relative_to(code)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, destination)
        for inside, source in extra.items():
            if source.is_dir():
                shutil.copytree(source, staging / inside, ignore=shutil.ignore_patterns("__pycache__", ".*"))
            else:
                shutil.copy2(source, staging / inside)
        return {"function": name, "extra": sorted(extra)}

    return _cached_build(f"assets/{name}-{label}", key, build)


def manifests_code_dir(name: str, bundle_dirs: Mapping[ApiVersion, Path] | None) -> Path:
    """A monitoring job's asset: ``functions/<name>/`` plus the deployed models' manifests.

    The drift and evaluation jobs read them (``propensity.registry.manifests.ShippedManifests``)
    when the stage's registry is a folder on the deploying machine, unreachable from AWS.
    """
    if not bundle_dirs:
        return function_code_dir(name)
    shipped = {shipped_manifest_name(api): path / MANIFEST_FILE for api, path in sorted(bundle_dirs.items())}
    return bundled_code_dir(name, shipped, "-".join(sorted(path.name for path in bundle_dirs.values())))


def prediction_code_dir(api: ApiVersion, bundle_dir: Path) -> Path:
    """The prediction function's asset: ``functions/predict/`` plus the bundle as ``model/``."""
    return bundled_code_dir("predict", {MODEL_SUBDIR: bundle_dir}, f"{api}-{bundle_dir.name}")


def unzipped_size(*directories: Path) -> int:
    """Bytes of every file under the given folders (what Lambda counts against its 250 MB limit)."""
    return sum(
        path.stat().st_size
        for directory in directories
        for path in directory.rglob("*")
        if path.is_file() and path.name != COMPLETE_MARKER
    )
