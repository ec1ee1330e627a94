"""Model registry: atomic ``.joblib`` artifacts checked by sha256, and their ``models`` rows."""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.pipeline import Pipeline
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping

from stockdb.errors import Conflict, DataIntegrityError, InvalidInput, NotFound, StorageError
from stockdb.lake.atomic import fsync_dir
from stockdb.state import tables
from stockdb.state.store import StateStore, as_utc
from stockdb.training.models import task_of

__all__ = [
    "ARTIFACT_FORMAT",
    "LoadedModel",
    "ModelDraft",
    "ModelRecord",
    "ModelRegistry",
    "check_model_id",
    "library_versions",
]

ARTIFACT_FORMAT = 1
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class ModelDraft:
    """What the trainer knows about a fitted model before the registry stores it."""

    kind: str
    task: str
    tickers: tuple[str, ...]
    target: str
    horizon: int
    features: tuple[str, ...]
    feature_set_hash: str
    params: Mapping[str, Any]
    windows: Mapping[str, Any]
    metrics: Mapping[str, Any]
    class_balance: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ModelRecord:
    """A registered model: its ``models`` row as a value."""

    id: str
    created_at: datetime
    kind: str
    task: str
    tickers: tuple[str, ...]
    target: str
    horizon: int
    features: tuple[str, ...]
    feature_set_hash: str
    params: dict[str, Any]
    windows: dict[str, Any]
    metrics: dict[str, Any]
    class_balance: dict[str, Any] | None
    library_versions: dict[str, str]
    sha256: str
    path: str
    stale: bool = False


@dataclass(frozen=True)
class LoadedModel:
    """A registered model's record and its fitted pipeline, integrity-checked."""

    record: ModelRecord
    pipeline: Pipeline


def library_versions() -> dict[str, str]:
    """Versions of the libraries a pickled pipeline depends on."""
    return {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
    }


def check_model_id(model_id: str) -> str:
    """``model_id`` if it is a safe id (letters, digits, ``-``, ``_``); else InvalidInput."""
    if not _ID_PATTERN.fullmatch(model_id):
        raise InvalidInput(f"invalid model id {model_id[:70]!r}")
    return model_id


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _record(row: RowMapping) -> ModelRecord:
    created = as_utc(row["created_at"])
    assert created is not None
    return ModelRecord(
        id=row["id"],
        created_at=created,
        kind=row["kind"],
        task=task_of(row["kind"]),
        tickers=tuple(row["tickers"]),
        target=row["target"],
        horizon=int(row["horizon"]),
        features=tuple(row["features"]),
        feature_set_hash=row["feature_set_hash"],
        params=dict(row["params"] or {}),
        windows=dict(row["windows"] or {}),
        metrics=dict(row["metrics"] or {}),
        class_balance=dict(row["class_balance"]) if row["class_balance"] is not None else None,
        library_versions=dict(row["library_versions"] or {}),
        sha256=row["sha256"],
        path=row["path"],
        stale=bool(row["stale"]),
    )


class ModelRegistry:
    """Stores fitted pipelines under ``models_dir`` and describes them in the ``models`` table."""

    def __init__(self, models_dir: Path, state: StateStore) -> None:
        self.models_dir = models_dir
        self.state = state

    def artifact_path(self, model_id: str) -> Path:
        return self.models_dir / f"{check_model_id(model_id)}.joblib"

    def _write_artifact(self, payload: dict[str, Any], dest: Path) -> str:
        """Write ``payload`` atomically (temp, fsync, ``os.replace``); returns its sha256."""
        tmp = dest.parent / f".tmp-{uuid.uuid4().hex}-{dest.name}"
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as fh:
                joblib.dump(payload, fh)
                fh.flush()
                os.fsync(fh.fileno())
            digest = _sha256(tmp)
            tmp.replace(dest)
            fsync_dir(dest.parent)
        except BaseException as exc:  # also a job ended mid-write: leave no temp file
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise StorageError(f"cannot write model artifact {dest}: {exc.strerror}") from exc
            raise
        return digest

    def save(self, pipeline: Pipeline, draft: ModelDraft) -> ModelRecord:
        """Write the artifact and its row; returns the record. Raises StorageError on disk errors.

        The artifact is removed again if the row cannot be stored.
        """
        created_at = self.state.clock.now()
        model_id = f"{created_at:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:12]}"
        dest = self.artifact_path(model_id)
        payload = {
            "format": ARTIFACT_FORMAT,
            "pipeline": pipeline,
            "features": list(draft.features),
            "feature_set_hash": draft.feature_set_hash,
            "tickers": list(draft.tickers),
            "target": draft.target,
            "horizon": draft.horizon,
            "task": draft.task,
        }
        digest = self._write_artifact(payload, dest)
        record = ModelRecord(
            id=model_id,
            created_at=created_at,
            kind=draft.kind,
            task=draft.task,
            tickers=tuple(draft.tickers),
            target=draft.target,
            horizon=draft.horizon,
            features=tuple(draft.features),
            feature_set_hash=draft.feature_set_hash,
            params=dict(draft.params),
            windows=dict(draft.windows),
            metrics=dict(draft.metrics),
            class_balance=dict(draft.class_balance) if draft.class_balance is not None else None,
            library_versions=library_versions(),
            sha256=digest,
            path=str(dest),
        )
        row = {
            "id": record.id,
            "created_at": record.created_at,
            "kind": record.kind,
            "tickers": list(record.tickers),
            "target": record.target,
            "horizon": record.horizon,
            "features": list(record.features),
            "feature_set_hash": record.feature_set_hash,
            "params": record.params,
            "windows": record.windows,
            "metrics": record.metrics,
            "class_balance": record.class_balance,
            "library_versions": record.library_versions,
            "sha256": record.sha256,
            "path": record.path,
            "stale": False,
        }
        try:
            with self.state.engine.begin() as conn:
                conn.execute(insert(tables.models).values(**row))
        except BaseException:
            with contextlib.suppress(OSError):
                dest.unlink(missing_ok=True)
            raise
        return record

    def get(self, model_id: str) -> ModelRecord:
        """The record of ``model_id``; NotFound if there is none, InvalidInput for a bad id."""
        check_model_id(model_id)
        with self.state.engine.connect() as conn:
            row = (
                conn.execute(select(tables.models).where(tables.models.c.id == model_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no model {model_id!r}")
        return _record(row)

    def list(self) -> list[ModelRecord]:
        """Every registered model, newest first."""
        with self.state.engine.connect() as conn:
            rows = (
                conn.execute(select(tables.models).order_by(tables.models.c.created_at.desc()))
                .mappings()
                .all()
            )
        return [_record(row) for row in rows]

    def load(self, model_id: str, feature_set_hash: str | None = None) -> LoadedModel:
        """The record and pipeline of ``model_id`` after checking the artifact's integrity.

        Raises NotFound for an unknown id, DataIntegrityError when the artifact is missing,
        its sha256 differs from the registry's or its contents disagree with the row, and
        Conflict when ``feature_set_hash`` is given and differs from the model's.
        """
        record = self.get(model_id)
        path = self.artifact_path(model_id)
        if not path.is_file():
            raise DataIntegrityError(f"artifact of model {model_id} is missing: {path}")
        actual = _sha256(path)
        if actual != record.sha256:
            raise DataIntegrityError(
                f"artifact of model {model_id} has sha256 {actual}, the registry expects "
                f"{record.sha256}; the file was altered or replaced, refusing to load it"
            )
        if feature_set_hash is not None and feature_set_hash != record.feature_set_hash:
            raise Conflict(
                f"model {model_id} was trained on feature set {record.feature_set_hash}, the "
                f"features now come from {feature_set_hash}; retrain it on the current features"
            )
        payload = joblib.load(path)
        if (
            not isinstance(payload, dict)
            or payload.get("format") != ARTIFACT_FORMAT
            or not isinstance(payload.get("pipeline"), Pipeline)
            or payload.get("feature_set_hash") != record.feature_set_hash
            or tuple(payload.get("features", ())) != record.features
        ):
            raise DataIntegrityError(f"artifact of model {model_id} does not match its record")
        return LoadedModel(record=record, pipeline=payload["pipeline"])

    def delete(self, model_id: str) -> None:
        """Remove the row and artifact of ``model_id`` and mark its simulations stale.

        Raises NotFound for an unknown id.
        """
        self.get(model_id)
        with self.state.engine.begin() as conn:
            conn.execute(delete(tables.models).where(tables.models.c.id == model_id))
            conn.execute(
                update(tables.simulations)
                .where(tables.simulations.c.model_id == model_id)
                .values(stale=True)
            )
        with contextlib.suppress(FileNotFoundError):
            self.artifact_path(model_id).unlink()
