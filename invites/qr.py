"""QR codes as SVG (the ``qrcode`` library's path image: one <path>, no raster dependency)."""

from __future__ import annotations

import qrcode
import qrcode.image.svg


def qr_svg(text: str) -> bytes:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    return qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).to_string(encoding="unicode").encode()
