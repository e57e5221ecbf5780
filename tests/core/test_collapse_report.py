"""Rendering of experiment tables, plots and headline numbers."""

import pandas as pd
import pytest

from synth_assets.core import collapse
from synth_assets.core.collapse import headline_numbers, line_plot_png, markdown_image, markdown_table

FRAME = pd.DataFrame(
    {
        "generation": [0, 1, 0, 1],
        "regime": ["replace", "replace", "accumulate", "accumulate"],
        "support_size": [100.0, 40.0, 100.0, 100.0],
        "cross_entropy": [5.0, 6.5, 5.0, 5.01],
    }
)


def test_markdown_table_has_a_row_per_generation_and_a_column_per_metric_and_regime():
    table = markdown_table(FRAME, ["support_size", "cross_entropy"]).splitlines()
    assert table[0] == (
        "| generation | support_size (replace) | support_size (accumulate)"
        " | cross_entropy (replace) | cross_entropy (accumulate) |"
    )
    assert table[2] == "| 0 | 100 | 100 | 5.000 | 5.000 |"
    assert table[3] == "| 1 | 40 | 100 | 6.500 | 5.010 |"


def test_line_plot_is_a_png_and_embeds_as_a_data_uri():
    png = line_plot_png(FRAME, ["support_size", "cross_entropy"], "test", log_metrics=["support_size"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert markdown_image(png).startswith("![plot](data:image/png;base64,iVBORw0KGgo")


def test_headline_numbers_give_final_values_and_ratios_to_generation_zero():
    numbers = headline_numbers(FRAME, ["support_size"])
    assert numbers["support_size_replace_final"] == 40.0
    assert numbers["support_size_replace_ratio"] == pytest.approx(0.4)
    assert numbers["support_size_accumulate_ratio"] == 1.0


def test_exported_names_exist():
    assert all(hasattr(collapse, name) for name in collapse.__all__)
