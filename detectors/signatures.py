"""Names of AI generators and image editors, shared by the metadata detectors.

One list, so that EXIF ``Software``, XMP ``CreatorTool``, PNG text chunks and video encoder tags
recognise the same tools. Matching is by word, case-insensitive; a name here is a claim made by
the file about itself, which the detectors weigh as such.
"""

from __future__ import annotations

import re

#: Tools that generate images or video from a model. A file naming one of these as the software
#: that made it is the generator's own claim of synthesis.
GENERATORS = re.compile(
    r"stable[ _-]?diffusion|\bsdxl\b|automatic1111|\bforge\b.*\bwebui\b|comfyui|novelai|"
    r"invokeai|fooocus|midjourney|dall[ ·-]?e|\bimagen\b|adobe firefly|\bfirefly\b|"
    r"leonardo\.ai|ideogram|\bflux(?:\.1)?\b|playground ?v[0-9]|dreamstudio|nightcafe|"
    r"\bsora\b|runway ?(?:gen|ml)|\bpika\b|\bkling\b|\bveo\b|gemini|chatgpt|gpt-4o|"
    r"bing image creator|copilot designer|craiyon|deepai|artbreeder|dreamshaper|"
    r"generative fill|generative expand",
    re.IGNORECASE,
)

#: Image editors: their name in the file means it was saved by editing software after capture
#: (the edit may be harmless: a crop, a colour fix, an export).
EDITORS = re.compile(
    r"photoshop|gimp|lightroom|snapseed|picsart|canva|affinity|pixelmator|paint\.net|"
    r"facetune|luminar|photopea|capture one|darktable|rawtherapee|krita|fotor|meitu|"
    r"photoscape|acdsee|corel|inpixio|remini|lensa|picmonkey|photo gallery|photos? editor|"
    r"faceapp|airbrush|vsco|polarr|lightx|youcam|befunky|fireworks",
    re.IGNORECASE,
)


def generator_in(text: str | None) -> str | None:
    """The generator named in ``text``, as written there, or None."""
    if not text:
        return None
    m = GENERATORS.search(text)
    return m.group(0) if m else None


def editor_in(text: str | None) -> str | None:
    if not text:
        return None
    m = EDITORS.search(text)
    return m.group(0) if m else None
