"""The model table: every registered model with its provenance, size and cost, as data then text."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from squeezekit.models import registry
from squeezekit.models.accounting import model_stats


@dataclass
class TableRow:
    name: str
    paper_name: str
    convention: str
    provenance: str
    trainable_params: int
    macs_224: int
    float32_bytes: int
    int8_bytes: int


def table_rows(pattern: str | None = None, all_conventions: bool = False, progress=None) -> list[TableRow]:
    """Build each model at 224x224 and account for it."""
    rows = []
    for name in registry.list_models(pattern):
        names = registry.conventions(name) if all_conventions else registry.conventions(name)[:1]
        for convention in names:
            spec = registry.get_spec(name, convention)
            if progress:
                progress(f"{name} ({convention})")
            stats = model_stats(registry.build(name, convention=convention, input_shape=(224, 224, 3)))
            rows.append(TableRow(name, spec.paper_name, convention, spec.provenance, stats.trainable_params,
                                 stats.macs, stats.float32_weight_bytes, stats.int8_weight_bytes))
    return rows


_HEADERS = ("name", "paper name", "convention", "provenance", "params", "MACs @224", "float32 MB", "int8 MB (est.)")


def _cells(row: TableRow) -> tuple[str, ...]:
    return (row.name, row.paper_name, row.convention, row.provenance, f"{row.trainable_params:,}",
            f"{row.macs_224 / 1e6:,.1f}M", f"{row.float32_bytes / 1e6:.2f}", f"{row.int8_bytes / 1e6:.2f}")


def to_markdown(rows: list[TableRow]) -> str:
    lines = ["| " + " | ".join(_HEADERS) + " |", "|" + "---|" * 4 + "---:|" * 4]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_text(rows: list[TableRow]) -> str:
    cells = [_HEADERS] + [_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(_HEADERS))]
    fmt = lambda c: "  ".join(v.ljust(w) if i < 4 else v.rjust(w) for i, (v, w) in enumerate(zip(c, widths)))
    return "\n".join([fmt(cells[0]), "  ".join("-" * w for w in widths)] + [fmt(c) for c in cells[1:]]) + "\n"


def to_json_rows(rows: list[TableRow]) -> list[dict]:
    return [asdict(r) for r in rows]
