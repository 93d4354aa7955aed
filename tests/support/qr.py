"""Reading QR codes back, as a phone would: from an SVG, a PNG file or a PDF page."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import cairosvg
import zxingcpp
from PIL import Image

QR_SVG = re.compile(r'<svg class="qr".*?</svg>', re.DOTALL)


def decode_image(image: Image.Image) -> list[str]:
    """The texts of every QR code in the image."""
    found = zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    return [barcode.text for barcode in found]


def decode_svg(svg: str, width: int = 600) -> list[str]:
    """Render an SVG on white (cairosvg) and read its QR codes (zxing-cpp)."""
    png = cairosvg.svg2png(
        bytestring=svg.encode("utf-8"), output_width=width, background_color="white"
    )
    return decode_image(Image.open(io.BytesIO(png)))


def decode_html(html: str) -> list[str]:
    """Read every letter's QR code in a page (the print view)."""
    return [text for svg in QR_SVG.findall(html) for text in decode_svg(svg)]


def pdf_page_png(pdf: Path, page: int, out_prefix: Path, dpi: int = 150) -> Path:
    """One page of a PDF as a PNG file (poppler's pdftoppm), as a scan or print would see it."""
    subprocess.run(  # noqa: S603 - a fixed program with our own arguments
        [  # noqa: S607 - Debian's poppler-utils, installed by scripts/system-packages.sh
            "pdftoppm",
            "-r",
            str(dpi),
            "-png",
            "-singlefile",
            "-f",
            str(page),
            "-l",
            str(page),
            str(pdf),
            str(out_prefix),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out_prefix.with_suffix(".png")
