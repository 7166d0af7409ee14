"""``realtime bench`` end to end on a tiny run: every stage is timed and reported."""

from __future__ import annotations

import json

import pytest

from realtime.cli.main import main


@pytest.mark.slow
def test_bench_reports_every_stage(style_onnx, tmp_path, capsys) -> None:
    report = tmp_path / "bench.md"
    args = ["bench", "--style", str(style_onnx), "--resolutions", "360p", "--frames", "3"]
    assert main([*args, "--device", "cpu", "--no-baseline", "--markdown", str(report)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| CPUExecutionProvider |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")][1:]  # after the engine
    assert len(cells) == 13 and cells[0] == "360p" and cells[1] == "3"
    timings = [float(cell) for cell in cells[2:8]]  # ms per stage, model-only fps
    assert all(value > 0 for value in timings)
    assert float(cells[10]) > 0 and float(cells[11]) > 0  # frames at once, end to end
    assert cells[8] == cells[9] == "n/a"  # no baseline asked for
    assert report.read_text().strip().endswith(row.strip())


@pytest.mark.slow
def test_bench_compares_every_engine_in_one_run(capsys) -> None:
    """--device auto: ONNX Runtime and OpenVINO (fp32, and bf16 where the CPU has it) side by
    side, model-only and end to end, as JSON."""
    pytest.importorskip("openvino")
    from realtime.runtime.openvino_engine import has_native_bf16

    args = ["bench", "--style", "mosaic-lite", "--resolutions", "360p", "--frames", "3"]
    assert main([*args, "--no-baseline", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    engines = [row["engine"] for row in report["rows"] if "CUDA" not in row["engine"]]
    expected = ["OpenVINO CPU (fp32)", *(["OpenVINO CPU (bf16)"] if has_native_bf16() else []),
                "CPUExecutionProvider"]  # fmt: skip
    assert engines == expected
    assert all(row["stylizer_fps"] > 0 and row["end_to_end_fps"] > 0 for row in report["rows"])


@pytest.mark.slow
def test_bench_encode_options_reach_the_encoder(style_onnx, capsys) -> None:
    args = ["bench", "--style", str(style_onnx), "--resolutions", "360p", "--frames", "3"]
    assert main([*args, "--device", "cpu", "--no-baseline", "--crf", "30", "--preset",
                 "ultrafast"]) == 0  # fmt: skip
    assert "x264 preset ultrafast crf 30" in capsys.readouterr().out


def test_bench_rejects_unknown_resolution(style_onnx, capsys) -> None:
    code = main(["bench", "--style", str(style_onnx), "--resolutions", "4k", "--no-baseline"])
    assert code == 2 and "unknown resolution 4k" in capsys.readouterr().err
