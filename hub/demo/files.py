"""The demo's documents: evidence a clue carries and the processing reports (处理报告) closures
carry, made on the spot from the script, with invented contents and no real person in them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.core.files import private_dir


def evidence(folder: Path, ref: str, names: list[str]) -> list[Path]:
    """The evidence files a step sends (a scanned complaint as PDF, a claims table as CSV)."""
    out = []
    where = private_dir(folder / ref)
    for name in names:
        path = where / name
        if name.endswith(".pdf"):
            path.write_bytes(_pdf(f"Complaint scan for {ref} (demo)"))
        else:
            rows = ["结算单号,就诊日期,金额(元)"]
            rows += [
                f"JS-{ref[-6:]}-{i:03d},2024-06-{10 + i:02d},{215 + 37 * i}.00" for i in range(12)
            ]
            path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        out.append(path)
    return out


def processing_report(folder: Path, ref: str, args: dict[str, Any]) -> Path:
    """处理报告 of one case as UTF-8 text: what was found and done, as the closure says."""
    path = private_dir(folder / ref) / "处理报告.txt"
    sanctions = "、".join(f"{k}×{n}" for k, n in (args.get("sanctions") or {}).items()) or "无"
    path.write_text(
        "\n".join(
            [
                "关于上级转办线索的处理报告",
                f"线索: {ref}",
                f"核查结论: {args.get('result')}",
                f"追回金额: {args.get('recovered_fen', 0) / 100:.2f} 元",
                f"罚款: {args.get('penalties_fen', 0) / 100:.2f} 元",
                f"处理措施: {sanctions}",
                "（演示数据）",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def _pdf(text: str) -> bytes:
    """A one-page PDF saying ``text`` (ASCII), valid enough for any reader."""
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
