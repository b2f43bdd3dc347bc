from detectors.xmp_iptc.detector import XmpIptc

__all__ = ["XmpIptc"]
