"""Audit a dataset before trusting its scores.

    python -m fgclass.audit data=fish data.root=/path/to/fish
    python -m fgclass.audit data=butterfly data.root=/path/to/butterfly data.split.group_near_duplicates=false
    python -m fgclass.audit data=fish data.root=... audit.splits_file=outputs/runs/.../splits.csv
    python -m fgclass.audit data=butterfly data.root=... audit.label_issues=true

Finds the images with the data config, scans them (cached, like training), audits the split the
config would make (or the given ``splits.csv``), prints the report and writes ``audit.md`` and
``audit.csv`` into the run folder. ``audit.label_issues=true`` adds suspected label errors
(:mod:`fgclass.inference.label_issues`): ``label_issues.csv``, ``label_issues.png`` and their count
in the report.
"""

from __future__ import annotations

import logging
from dataclasses import fields

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

import fgclass.config  # noqa: F401  (registers the fgclass.* config resolvers)
from fgclass.app import run_task
from fgclass.data.audit_findings import AuditOptions, DatasetAudit, audit_dataset
from fgclass.data.audit_report import to_markdown, write_audit
from fgclass.data.split_pipeline import scan_dataset
from fgclass.data.splits import SplitTable
from fgclass.files import atomic_write
from fgclass.inference.label_issues import LabelIssueOptions, suspected_label_errors, write_label_issues
from fgclass.setting_checks import check_settings
from fgclass.settings import AUDIT

log = logging.getLogger(__name__)


def audit(cfg: DictConfig) -> DatasetAudit:
    """Audit the dataset of ``cfg.data``; writes the report into ``cfg.paths.output_dir``."""
    check_settings(cfg, AUDIT)
    datamodule = instantiate(cfg.data)  # its layout, split settings, cache and feature extractor
    images = datamodule.layout.find()
    scan = scan_dataset(images, datamodule.cache_dir)
    table = SplitTable.read(cfg.audit.splits_file) if cfg.audit.splits_file else None
    options = AuditOptions(cfg.audit.threshold, cfg.audit.min_size, cfg.audit.imbalance_ratio)
    result = audit_dataset(
        images,
        scan,
        options,
        datamodule.split,
        datamodule.train_fraction,
        table,
        datamodule.cache_dir,
        datamodule.embedder,
    )
    print(to_markdown(result))
    md, table_csv = write_audit(result, cfg.paths.output_dir)
    log.info("Wrote %s and %s", md, table_csv)
    if cfg.audit.label_issues:
        settings = LabelIssueOptions(**{f.name: cfg.audit[f.name] for f in fields(LabelIssueOptions)})
        issues = suspected_label_errors(result, datamodule, instantiate(cfg.audit.features), settings)
        section = issues.markdown()
        print(section)
        atomic_write(md, md.read_text() + section)
        written = write_label_issues(issues, cfg.paths.output_dir, cfg.audit.sheet_size)
        log.info("Wrote %s", " and ".join(map(str, written)))
    return result


@hydra.main(version_base="1.3", config_path="../conf", config_name="audit")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the % of val/test images with a near-duplicate in train."""
    return run_task(lambda c: float(audit(c).class_rows()[-1]["leaked_pct"]), cfg, cfg.paths.output_dir)


if __name__ == "__main__":
    main()
